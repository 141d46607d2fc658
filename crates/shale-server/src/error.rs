//! The one place where every failure becomes an HTTP status and the OpenAI error JSON
//! `{"error":{"message","type","param","code"}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;

/// Every error a handler can return. Variants are grouped by who is at fault: the caller (4xx),
/// Bedrock (its own status), or the gateway (5xx).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<String>,
    },
    #[error("The model `{0}` does not exist or is not configured on this gateway. Call GET /v1/models to list the available models.")]
    UnknownModel(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("Request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    #[error("Method {method} is not allowed on {path}.")]
    MethodNotAllowed { method: String, path: String },
    #[error("No route for {path}.")]
    NotFound { path: String },
    #[error("{0}")]
    NotImplemented(String),
    /// An error Bedrock answered, or failing to reach it, already classified.
    #[error("{message}")]
    Upstream {
        status: StatusCode,
        kind: &'static str,
        message: String,
        code: Option<String>,
        retry_after: Option<HeaderValue>,
    },
    #[error("{0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// The `error` object of OpenAI's error JSON.
#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_string),
            code: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::UnknownModel(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Upstream { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `type` field.
    pub fn kind(&self) -> &str {
        match self {
            ApiError::InvalidRequest { .. }
            | ApiError::UnknownModel(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::MethodNotAllowed { .. }
            | ApiError::NotFound { .. } => "invalid_request_error",
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::NotImplemented(_) => "not_implemented_error",
            ApiError::Upstream { kind, .. } => kind,
            ApiError::Internal(_) => "api_error",
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { param, .. } => param.as_deref(),
            ApiError::UnknownModel(_) => Some("model"),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { code, .. } | ApiError::Upstream { code, .. } => {
                code.as_deref()
            }
            ApiError::UnknownModel(_) => Some("model_not_found"),
            ApiError::Unauthorized(_) => Some("invalid_api_key"),
            ApiError::PayloadTooLarge { .. } => Some("request_too_large"),
            ApiError::MethodNotAllowed { .. } => Some("method_not_allowed"),
            ApiError::NotFound { .. } => Some("not_found"),
            ApiError::NotImplemented(_) => Some("not_implemented"),
            ApiError::Internal(_) => None,
        }
    }

    /// The error JSON as bytes (also used for the `data: {"error":…}` event of a failed stream).
    pub fn to_json(&self) -> Bytes {
        let message = self.to_string();
        let body = ErrorBody {
            error: ErrorDetail {
                message: &message,
                kind: self.kind(),
                param: self.param(),
                code: self.code(),
            },
        };
        Bytes::from(serde_json::to_vec(&body).expect("error JSON serialises"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), error = %self, "request refused");
        }
        let mut response = (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.to_json(),
        )
            .into_response();
        if let ApiError::Upstream {
            retry_after: Some(v),
            ..
        } = &self
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v.clone());
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<shale_translate::TranslateError> for ApiError {
    fn from(err: shale_translate::TranslateError) -> Self {
        match err {
            shale_translate::TranslateError::InvalidRequest {
                message,
                param,
                code,
            } => ApiError::InvalidRequest {
                message,
                param,
                code: code.map(str::to_string),
            },
            shale_translate::TranslateError::InvalidUpstream(message) => ApiError::Upstream {
                status: StatusCode::BAD_GATEWAY,
                kind: "api_error",
                message: format!("Bedrock answered with an unexpected body: {message}"),
                code: Some("invalid_upstream_response".into()),
                retry_after: None,
            },
        }
    }
}

impl From<shale_bedrock::BedrockError> for ApiError {
    fn from(err: shale_bedrock::BedrockError) -> Self {
        let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        ApiError::Upstream {
            status,
            kind: err.openai_type(),
            code: err.openai_code().map(str::to_string),
            message: err.to_string(),
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = ApiError::invalid("`messages` is required", Some("messages"));
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"message":"`messages` is required","type":"invalid_request_error","param":"messages","code":null}})
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn unknown_model_points_at_models() {
        let e = ApiError::UnknownModel("gpt-9".into());
        assert!(e.to_string().contains("`gpt-9`"));
        assert!(e.to_string().contains("/v1/models"));
        assert_eq!(e.code(), Some("model_not_found"));
    }
}
