//! The error a client receives, in OpenAI's shape `{"error":{"message","type","param","code"}}`,
//! with its HTTP status. This file is the only place OpenAI's error `type` strings are spelled:
//! every crate maps its own failures onto [`OpenAiError`] (Bedrock errors in `shale-bedrock`,
//! translation errors in `shale-translate`, gateway errors in `shale-server`), and the server and
//! the golden fixtures render them through [`OpenAiError::to_json`].
//!
//! Must not: decide *which* failure gets which type — that classification stays with the crate
//! that understands the failure.

use bytes::Bytes;
use serde::Serialize;

/// OpenAI's error `type` vocabulary (what the official SDKs map to exception classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// 400-class problems with the request (also 404 for an unknown route, 413, 405).
    InvalidRequest,
    /// 401: missing or wrong key.
    Authentication,
    /// 403: the key (or Bedrock's credentials) may not do this.
    Permission,
    /// 404 from Bedrock: model or resource not found.
    NotFound,
    /// 408 / 504: the model or Bedrock took too long.
    Timeout,
    /// 429: throttled or over a limit.
    RateLimit,
    /// 503: Bedrock is unavailable.
    ServiceUnavailable,
    /// 502: Bedrock could not be reached.
    ApiConnection,
    /// 501: the gateway does not implement this.
    NotImplemented,
    /// 500-class failures.
    Api,
}

impl ErrorType {
    /// The `type` string clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::Timeout => "timeout_error",
            Self::RateLimit => "rate_limit_error",
            Self::ServiceUnavailable => "service_unavailable",
            Self::ApiConnection => "api_connection_error",
            Self::NotImplemented => "not_implemented_error",
            Self::Api => "api_error",
        }
    }

    /// The usual type for an HTTP error status.
    pub fn for_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            403 => Self::Permission,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            429 => Self::RateLimit,
            501 => Self::NotImplemented,
            503 => Self::ServiceUnavailable,
            400..=499 => Self::InvalidRequest,
            _ => Self::Api,
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One client-facing error: HTTP status plus the fields of OpenAI's error object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiError {
    /// The HTTP status of the answer.
    pub status: u16,
    /// OpenAI's `type`.
    pub error_type: ErrorType,
    /// Human-readable message.
    pub message: String,
    /// The request field at fault, e.g. `messages[2].content`.
    pub param: Option<String>,
    /// A machine-readable code such as `context_length_exceeded`.
    pub code: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    error_type: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl OpenAiError {
    /// An error of `error_type` with no `param` or `code`.
    pub fn new(status: u16, error_type: ErrorType, message: impl Into<String>) -> Self {
        OpenAiError {
            status,
            error_type,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    /// Sets `code`.
    pub fn with_code(mut self, code: Option<&str>) -> Self {
        self.code = code.map(str::to_owned);
        self
    }

    /// Sets `param`.
    pub fn with_param(mut self, param: Option<&str>) -> Self {
        self.param = param.map(str::to_owned);
        self
    }

    /// The error JSON `{"error":{"message","type","param","code"}}` (also the `data:` of a failed
    /// stream's error event).
    pub fn to_json(&self) -> Bytes {
        let envelope = Envelope {
            error: Body {
                message: &self.message,
                error_type: self.error_type.as_str(),
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        };
        // Serialising plain strings into a Vec cannot fail.
        Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default())
    }

    /// [`Self::to_json`] parsed, for tests and fixtures.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.to_json()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = OpenAiError::new(400, ErrorType::InvalidRequest, "`messages` is required")
            .with_param(Some("messages"));
        assert_eq!(
            e.to_value(),
            serde_json::json!({"error":{"message":"`messages` is required","type":"invalid_request_error","param":"messages","code":null}})
        );
    }

    #[test]
    fn types_for_statuses() {
        let cases = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (408, "timeout_error"),
            (413, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (501, "not_implemented_error"),
            (502, "api_error"),
            (503, "service_unavailable"),
            (504, "timeout_error"),
        ];
        for (status, want) in cases {
            assert_eq!(ErrorType::for_status(status).as_str(), want, "{status}");
        }
    }
}
