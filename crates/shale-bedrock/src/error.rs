//! Errors of the Bedrock client: classification of Bedrock answers (HTTP and in-stream exception
//! frames) and the single table mapping them to the client's status / error type / code
//! ([`BedrockError::to_openai`]; the type strings themselves live in `shale_core::error`).

use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use shale_core::{ErrorType, OpenAiError};

/// The Bedrock exception behind an error, normalised from either spelling
/// (`ThrottlingException` in HTTP answers, `throttlingException` in stream frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `ValidationException` (400).
    Validation,
    /// `ThrottlingException` (429).
    Throttling,
    /// `AccessDeniedException` (403).
    AccessDenied,
    /// `ResourceNotFoundException` (404).
    ResourceNotFound,
    /// `ModelTimeoutException` (408).
    ModelTimeout,
    /// `ModelNotReadyException` (429).
    ModelNotReady,
    /// `ModelErrorException` (424).
    ModelError,
    /// `ModelStreamErrorException` (424, in streams).
    ModelStreamError,
    /// `ServiceQuotaExceededException` (400).
    ServiceQuotaExceeded,
    /// `ServiceUnavailableException` (503).
    ServiceUnavailable,
    /// `InternalServerException` (500).
    InternalServer,
    /// `ConflictException` (400).
    Conflict,
    /// `UnrecognizedClientException`: bad access key / token (403).
    UnrecognizedClient,
    /// `InvalidSignatureException` (403).
    InvalidSignature,
    /// `ExpiredTokenException`: temporary credentials expired (403).
    ExpiredToken,
    /// Anything else, with the code as Bedrock sent it (or `HTTP <status>` when there was none).
    Other(String),
}

impl ErrorKind {
    /// Normalises an error code from `x-amzn-ErrorType`, a body `__type`/`code`, or an
    /// `:exception-type` header: strips `:...` / `...#` decorations, ignores case and the
    /// `Exception` suffix.
    pub fn from_code(code: &str) -> Self {
        let code = code.split(':').next().unwrap_or(code);
        let code = code.rsplit('#').next().unwrap_or(code).trim();
        let lower = code.to_ascii_lowercase();
        let base = lower.strip_suffix("exception").unwrap_or(&lower);
        match base {
            "validation" => Self::Validation,
            "throttling" | "toomanyrequests" => Self::Throttling,
            "accessdenied" => Self::AccessDenied,
            "resourcenotfound" => Self::ResourceNotFound,
            "modeltimeout" => Self::ModelTimeout,
            "modelnotready" => Self::ModelNotReady,
            "modelerror" => Self::ModelError,
            "modelstreamerror" => Self::ModelStreamError,
            "servicequotaexceeded" => Self::ServiceQuotaExceeded,
            "serviceunavailable" => Self::ServiceUnavailable,
            "internalserver" | "internalfailure" | "internalservererror" => Self::InternalServer,
            "conflict" => Self::Conflict,
            "unrecognizedclient" => Self::UnrecognizedClient,
            "invalidsignature" => Self::InvalidSignature,
            "expiredtoken" => Self::ExpiredToken,
            // OpenAI / Anthropic error `type`s and `code`s (bedrock-mantle, /openai/v1 bodies).
            _ => match base.strip_suffix("_error").unwrap_or(base) {
                "validation" | "invalid_request" | "request_too_large" | "invalid_value" => {
                    Self::Validation
                }
                "rate_limit" | "rate_limit_exceeded" | "too_many_requests" => Self::Throttling,
                "authentication" | "invalid_api_key" => Self::UnrecognizedClient,
                "permission" | "permission_denied" => Self::AccessDenied,
                "not_found" | "model_not_found" => Self::ResourceNotFound,
                "overloaded" | "service_unavailable" => Self::ServiceUnavailable,
                "api" | "internal" | "server" | "internal_server" => Self::InternalServer,
                "timeout" => Self::ModelTimeout,
                _ => Self::Other(code.to_owned()),
            },
        }
    }

    /// A kind for an error answer that carried no code at all, from its HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => Self::Throttling,
            500 => Self::InternalServer,
            503 => Self::ServiceUnavailable,
            _ => Self::Other(format!("HTTP {status}")),
        }
    }

    /// The canonical Bedrock name, e.g. `ThrottlingException`.
    pub fn name(&self) -> &str {
        match self {
            Self::Validation => "ValidationException",
            Self::Throttling => "ThrottlingException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ModelTimeout => "ModelTimeoutException",
            Self::ModelNotReady => "ModelNotReadyException",
            Self::ModelError => "ModelErrorException",
            Self::ModelStreamError => "ModelStreamErrorException",
            Self::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::InternalServer => "InternalServerException",
            Self::Conflict => "ConflictException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::ExpiredToken => "ExpiredTokenException",
            Self::Other(code) => code,
        }
    }

    /// The HTTP status Bedrock uses for this exception (used for in-stream exception frames,
    /// which have no HTTP status of their own).
    pub fn bedrock_status(&self) -> u16 {
        match self {
            Self::Validation | Self::ServiceQuotaExceeded | Self::Conflict => 400,
            Self::AccessDenied
            | Self::UnrecognizedClient
            | Self::InvalidSignature
            | Self::ExpiredToken => 403,
            Self::ResourceNotFound => 404,
            Self::ModelTimeout => 408,
            Self::ModelError | Self::ModelStreamError => 424,
            Self::Throttling | Self::ModelNotReady => 429,
            Self::InternalServer | Self::Other(_) => 500,
            Self::ServiceUnavailable => 503,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an event stream could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum StreamDecodeError {
    /// The body ended in the middle of a frame.
    #[error(
        "the event stream ended in the middle of a frame ({buffered} bytes of an incomplete frame)"
    )]
    Truncated {
        /// Bytes of the incomplete frame that had arrived.
        buffered: usize,
    },
    /// A frame announced a length above the configured cap.
    #[error("event stream frame of {len} bytes exceeds the {max} byte limit")]
    FrameTooLarge {
        /// Announced total frame length.
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// CRC mismatch or malformed prelude / headers (message from `aws-smithy-eventstream`).
    #[error("malformed event stream frame: {0}")]
    Malformed(String),
    /// A frame without the headers Bedrock always sends.
    #[error("unexpected event stream frame: {0}")]
    Unexpected(String),
}

/// Everything that can go wrong between the gateway and Bedrock.
#[derive(Debug, thiserror::Error)]
pub enum BedrockError {
    /// Bedrock answered with an error (HTTP error answer or an exception frame inside a stream).
    #[error("{kind}: {message}")]
    Upstream {
        /// Normalised exception.
        kind: ErrorKind,
        /// Bedrock's HTTP status (for stream frames: the exception's documented status).
        status: u16,
        /// Bedrock's own message, unchanged.
        message: String,
        /// `x-amzn-RequestId` of the answer, when present.
        request_id: Option<String>,
        /// How long the caller should wait before trying again: Bedrock's `Retry-After`, or — for
        /// a throttling error after the last retry — the backoff shale computed.
        retry_after: Option<Duration>,
    },
    /// No credentials could be obtained for a deployment: the gateway's AWS setup (a missing
    /// profile, a failing `credential_process`, STS refusing the role …), not the caller's fault
    /// and not a crash — 503 `aws_credentials_error`.
    #[error("could not get AWS credentials for deployment {deployment}: {message}")]
    Credentials {
        /// The deployment's name.
        deployment: String,
        /// The kind of source that failed (`SigV4Choice::kind`: `profile`, `assume_role`, …).
        source_kind: &'static str,
        /// What went wrong (never contains secret values). Logged, not sent to the client.
        message: String,
    },
    /// The connection to Bedrock failed (DNS, TCP, TLS, reset).
    #[error("could not reach Bedrock for deployment {deployment}: {message}")]
    Connect {
        /// The deployment's name.
        deployment: String,
        /// What went wrong.
        message: String,
    },
    /// Bedrock did not answer (or stopped sending a stream) within the timeout.
    #[error("Bedrock did not answer within {after:?} for deployment {deployment}")]
    Timeout {
        /// The deployment's name.
        deployment: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The event stream could not be decoded.
    #[error("invalid event stream from Bedrock: {0}")]
    StreamDecode(#[from] StreamDecodeError),
    /// The deployment's settings cannot work (bad endpoint URL, missing role ARN, ...).
    #[error("invalid Bedrock settings: {0}")]
    Config(String),
    /// The operation requires SigV4 but only a bearer API key is available.
    #[error("{operation} requires SigV4 (AWS access keys, a role or a profile); deployment {deployment} has only a Bedrock API key (bearer) and no AWS credentials were found: {message}")]
    BearerNotSupported {
        /// The deployment's name.
        deployment: String,
        /// The operation, e.g. `rerank`.
        operation: &'static str,
        /// Why the fallback to AWS credentials failed.
        message: String,
    },
    /// SigV4 signing failed (malformed URL or header).
    #[error("could not sign the Bedrock request: {0}")]
    Signing(String),
}

impl BedrockError {
    /// When the caller may try again (see [`BedrockError::Upstream`]'s `retry_after`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Upstream { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A final throttling error without Bedrock's hint gets `backoff`, the wait shale would have
    /// used before another retry, so the caller learns it too.
    pub fn with_backoff_hint(mut self, backoff: Duration) -> Self {
        if let Self::Upstream {
            status: 429,
            retry_after: hint @ None,
            ..
        } = &mut self
        {
            *hint = Some(backoff);
        }
        self
    }

    /// The HTTP status the gateway should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Upstream {
                kind,
                status,
                message,
                ..
            } => match kind {
                ErrorKind::Validation if is_invalid_model_message(message) => 404,
                ErrorKind::Validation | ErrorKind::ServiceQuotaExceeded | ErrorKind::Conflict => {
                    400
                }
                ErrorKind::AccessDenied
                | ErrorKind::UnrecognizedClient
                | ErrorKind::InvalidSignature
                | ErrorKind::ExpiredToken => 403,
                ErrorKind::ResourceNotFound => 404,
                ErrorKind::ModelTimeout => 408,
                ErrorKind::Throttling | ErrorKind::ModelNotReady => 429,
                ErrorKind::ModelError | ErrorKind::ModelStreamError | ErrorKind::InternalServer => {
                    500
                }
                ErrorKind::ServiceUnavailable => 503,
                ErrorKind::Other(_) => other_status(*status),
            },
            Self::Credentials { .. } => 503,
            Self::Config(_) | Self::Signing(_) => 500,
            Self::Connect { .. } | Self::StreamDecode(_) => 502,
            Self::Timeout { .. } => 504,
            Self::BearerNotSupported { .. } => 400,
        }
    }

    /// The OpenAI error `type` for this error.
    pub fn openai_type(&self) -> ErrorType {
        match self {
            Self::Upstream { .. } => ErrorType::for_status(self.http_status()),
            Self::Credentials { .. } => ErrorType::ServiceUnavailable,
            Self::Config(_) | Self::Signing(_) => ErrorType::Api,
            Self::Connect { .. } => ErrorType::ApiConnection,
            Self::StreamDecode(_) => ErrorType::Api,
            Self::Timeout { .. } => ErrorType::Timeout,
            Self::BearerNotSupported { .. } => ErrorType::InvalidRequest,
        }
    }

    /// The error the client receives: status, type, code and this error's message (for a
    /// credentials failure, without the source's details: those are the operator's, in the log).
    pub fn to_openai(&self) -> OpenAiError {
        let message = match self {
            Self::Credentials {
                deployment,
                source_kind,
                ..
            } => format!(
                "The gateway could not get AWS credentials for deployment {deployment} (credential source: {source_kind}); the gateway's log names the failure."
            ),
            other => other.to_string(),
        };
        OpenAiError::new(self.http_status(), self.openai_type(), message)
            .with_code(self.openai_code())
    }

    /// The OpenAI error `code`, when there is a well-known one.
    pub fn openai_code(&self) -> Option<&'static str> {
        match self {
            Self::Upstream { kind, message, .. } => match kind {
                ErrorKind::Validation | ErrorKind::ServiceQuotaExceeded | ErrorKind::Conflict
                    if is_context_length_message(message) =>
                {
                    Some("context_length_exceeded")
                }
                ErrorKind::Validation if is_invalid_model_message(message) => {
                    Some("model_not_found")
                }
                ErrorKind::ModelError | ErrorKind::ModelStreamError => Some("model_error"),
                _ => None,
            },
            Self::Credentials { .. } => Some("aws_credentials_error"),
            _ => None,
        }
    }

    /// True for errors worth retrying: throttling, model not ready / timed out, 5xx,
    /// connection failures and timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Upstream { kind, status, .. } => match kind {
                ErrorKind::Throttling
                | ErrorKind::ModelNotReady
                | ErrorKind::ModelTimeout
                | ErrorKind::InternalServer
                | ErrorKind::ServiceUnavailable => true,
                ErrorKind::Other(_) => *status == 429 || *status >= 500,
                _ => false,
            },
            Self::Connect { .. } | Self::Timeout { .. } => true,
            _ => false,
        }
    }

    /// The Bedrock exception kind, for upstream errors.
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            Self::Upstream { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

fn other_status(status: u16) -> u16 {
    match status {
        424 => 500,
        400..=599 => status,
        _ => 502,
    }
}

/// True when a Bedrock message says the prompt does not fit the model's context window.
pub fn is_context_length_message(message: &str) -> bool {
    const NEEDLES: &[&str] = &[
        "input is too long",
        "prompt is too long",
        "too many tokens",
        "too many input tokens",
        "context length",
        "context window",
        "input length",
        "maximum context",
        "exceeds the maximum number of tokens",
        "max_tokens + input",
    ];
    let lower = message.to_ascii_lowercase();
    NEEDLES.iter().any(|n| lower.contains(n))
}

fn is_invalid_model_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("model identifier is invalid") || lower.contains("invalid model identifier")
}

/// Builds the error for a non-2xx Bedrock answer: the code from `x-amzn-ErrorType` (cut at `:`),
/// else the body's `__type` / `code`, else the `code` / `type` of its `error` object (the
/// OpenAI-style `{"error": {…}}` of bedrock-mantle and `/openai/v1`, Anthropic's
/// `{"type": "error", "error": {…}}`); the message from the body's (or its `error` object's)
/// `message` (any case), else the raw body text.
pub fn classify_response(status: u16, headers: &HeaderMap, body: &[u8]) -> BedrockError {
    let (code, message) = code_and_message(body);
    let code = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|c| !c.is_empty())
        .or(code);
    let kind = match code {
        Some(code) => ErrorKind::from_code(&code),
        None => ErrorKind::from_status(status),
    };
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("Bedrock answered HTTP {status} without a message")
        } else {
            truncate(text, 2000).to_owned()
        }
    });
    BedrockError::Upstream {
        kind,
        status,
        message,
        request_id: request_id(headers),
        retry_after: crate::retry::parse_retry_after(headers),
    }
}

/// The error code and message of an error body, AWS-style (`__type`, `message`) or with an
/// `error` object (OpenAI, Anthropic).
fn code_and_message(body: &[u8]) -> (Option<String>, Option<String>) {
    use serde_json::{Map, Value};
    let Ok(json) = serde_json::from_slice::<Map<String, Value>>(body) else {
        return (None, None);
    };
    let text = |map: &Map<String, Value>, keys: &[&str]| -> Option<String> {
        keys.iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(inner) = json.get("error").and_then(Value::as_object) {
        return (
            text(inner, &["code", "type", "__type"]),
            text(inner, &["message", "Message"]),
        );
    }
    (
        text(&json, &["__type", "code", "Code", "type"]),
        text(&json, &["message", "Message", "errorMessage"]),
    )
}

/// The error an in-stream error event of a server-sent-event stream carries (`{"error": {…}}`,
/// Anthropic's `event: error`, a Responses `error` event with `code` / `message`): its code
/// normalised, with the status of that kind.
pub fn stream_error_from_json(data: &[u8], request_id: Option<&str>) -> BedrockError {
    let (code, message) = code_and_message(data);
    let kind = code
        .as_deref()
        .map_or_else(|| ErrorKind::Other("error".into()), ErrorKind::from_code);
    BedrockError::Upstream {
        status: kind.bedrock_status(),
        kind,
        message: message
            .unwrap_or_else(|| truncate(String::from_utf8_lossy(data).trim(), 2000).to_owned()),
        request_id: request_id.map(str::to_owned),
        retry_after: None,
    }
}

/// The Bedrock request id of an answer (`x-amzn-RequestId`, or `x-amz-request-id`).
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-amzn-requestid")
        .or_else(|| headers.get("x-amz-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn upstream(kind: ErrorKind, status: u16, message: &str) -> BedrockError {
        BedrockError::Upstream {
            kind,
            status,
            message: message.into(),
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn codes_normalise_from_every_spelling() {
        assert_eq!(
            ErrorKind::from_code("ThrottlingException"),
            ErrorKind::Throttling
        );
        assert_eq!(
            ErrorKind::from_code("throttlingException"),
            ErrorKind::Throttling
        );
        assert_eq!(
            ErrorKind::from_code(
                "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            ),
            ErrorKind::Validation
        );
        assert_eq!(
            ErrorKind::from_code("com.amazonaws.bedrock#ModelNotReadyException"),
            ErrorKind::ModelNotReady
        );
        assert_eq!(
            ErrorKind::from_code("modelStreamErrorException"),
            ErrorKind::ModelStreamError
        );
        assert_eq!(
            ErrorKind::from_code("SomethingNewException"),
            ErrorKind::Other("SomethingNewException".into())
        );
    }

    #[test]
    fn mapping_table() {
        let cases: &[(ErrorKind, u16, u16, &str, Option<&str>)] = &[
            (
                ErrorKind::Validation,
                400,
                400,
                "invalid_request_error",
                None,
            ),
            (
                ErrorKind::ServiceQuotaExceeded,
                400,
                400,
                "invalid_request_error",
                None,
            ),
            (ErrorKind::Conflict, 400, 400, "invalid_request_error", None),
            (ErrorKind::AccessDenied, 403, 403, "permission_error", None),
            (
                ErrorKind::UnrecognizedClient,
                403,
                403,
                "permission_error",
                None,
            ),
            (
                ErrorKind::InvalidSignature,
                403,
                403,
                "permission_error",
                None,
            ),
            (
                ErrorKind::ResourceNotFound,
                404,
                404,
                "not_found_error",
                None,
            ),
            (ErrorKind::ModelTimeout, 408, 408, "timeout_error", None),
            (ErrorKind::Throttling, 429, 429, "rate_limit_error", None),
            (ErrorKind::ModelNotReady, 429, 429, "rate_limit_error", None),
            (
                ErrorKind::ModelError,
                424,
                500,
                "api_error",
                Some("model_error"),
            ),
            (
                ErrorKind::ModelStreamError,
                424,
                500,
                "api_error",
                Some("model_error"),
            ),
            (ErrorKind::InternalServer, 500, 500, "api_error", None),
            (
                ErrorKind::ServiceUnavailable,
                503,
                503,
                "service_unavailable",
                None,
            ),
            (
                ErrorKind::Other("Weird".into()),
                401,
                401,
                "authentication_error",
                None,
            ),
            (
                ErrorKind::Other("Weird".into()),
                502,
                502,
                "api_error",
                None,
            ),
        ];
        for (kind, status, want_status, want_type, want_code) in cases {
            let err = upstream(kind.clone(), *status, "boom");
            assert_eq!(err.http_status(), *want_status, "{kind}");
            assert_eq!(err.openai_type().as_str(), *want_type, "{kind}");
            assert_eq!(err.openai_code(), *want_code, "{kind}");
        }
    }

    #[test]
    fn context_length_messages_get_the_openai_code() {
        for msg in [
            "Input is too long for requested model.",
            "prompt is too long: 210000 tokens > 200000 maximum",
            "The model returned the following errors: too many tokens",
        ] {
            let err = upstream(ErrorKind::Validation, 400, msg);
            assert_eq!(err.http_status(), 400);
            assert_eq!(err.openai_code(), Some("context_length_exceeded"), "{msg}");
        }
        let err = upstream(ErrorKind::Validation, 400, "messages: field required");
        assert_eq!(err.openai_code(), None);
    }

    #[test]
    fn invalid_model_id_is_404() {
        let err = upstream(
            ErrorKind::Validation,
            400,
            "The provided model identifier is invalid.",
        );
        assert_eq!(err.http_status(), 404);
        assert_eq!(err.openai_type().as_str(), "not_found_error");
    }

    #[test]
    fn local_failures() {
        let connect = BedrockError::Connect {
            deployment: "d".into(),
            message: "connection refused".into(),
        };
        assert_eq!(
            (connect.http_status(), connect.openai_type().as_str()),
            (502, "api_connection_error")
        );
        assert!(connect.is_retryable());
        let timeout = BedrockError::Timeout {
            deployment: "d".into(),
            after: Duration::from_secs(3),
        };
        assert_eq!(
            (timeout.http_status(), timeout.openai_type().as_str()),
            (504, "timeout_error")
        );
        assert!(timeout.is_retryable());
        let creds = BedrockError::Credentials {
            deployment: "model_list[0] (claude)".into(),
            source_kind: "profile",
            message: "profile \"dev\": the credential_process exited with status 1".into(),
        };
        assert!(creds.to_string().contains("model_list[0] (claude)"));
        assert!(!creds.is_retryable());
        let client = creds.to_openai();
        assert_eq!(client.status, 503);
        assert_eq!(client.code.as_deref(), Some("aws_credentials_error"));
        assert!(
            client.message.contains("model_list[0] (claude)"),
            "{}",
            client.message
        );
        assert!(client.message.contains("profile"), "{}", client.message);
        assert!(
            !client.message.contains("credential_process"),
            "details stay in the log"
        );
    }

    #[test]
    fn retryable_kinds() {
        assert!(upstream(ErrorKind::Throttling, 429, "x").is_retryable());
        assert!(upstream(ErrorKind::ServiceUnavailable, 503, "x").is_retryable());
        assert!(upstream(ErrorKind::InternalServer, 500, "x").is_retryable());
        assert!(upstream(ErrorKind::Other("X".into()), 502, "x").is_retryable());
        assert!(!upstream(ErrorKind::Validation, 400, "x").is_retryable());
        assert!(!upstream(ErrorKind::AccessDenied, 403, "x").is_retryable());
        assert!(!upstream(ErrorKind::ModelError, 424, "x").is_retryable());
    }

    #[test]
    fn classify_prefers_the_error_type_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            ),
        );
        headers.insert("x-amzn-RequestId", HeaderValue::from_static("req-1"));
        let err = classify_response(
            429,
            &headers,
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        match &err {
            BedrockError::Upstream {
                kind,
                status,
                message,
                request_id,
                ..
            } => {
                assert_eq!(kind, &ErrorKind::Throttling);
                assert_eq!(*status, 429);
                assert_eq!(
                    message,
                    "Too many requests, please wait before trying again."
                );
                assert_eq!(request_id.as_deref(), Some("req-1"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "ThrottlingException: Too many requests, please wait before trying again."
        );
    }

    #[test]
    fn classify_falls_back_to_body_then_status() {
        let headers = HeaderMap::new();
        let err = classify_response(
            400,
            &headers,
            br#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"}"#,
        );
        assert_eq!(err.kind(), Some(&ErrorKind::Validation));
        assert!(err.to_string().ends_with(": bad"));

        let err = classify_response(503, &headers, b"<html>upstream down</html>");
        assert_eq!(err.kind(), Some(&ErrorKind::ServiceUnavailable));
        assert!(err.to_string().contains("<html>upstream down</html>"));

        let err = classify_response(418, &headers, b"");
        assert_eq!(err.kind(), Some(&ErrorKind::Other("HTTP 418".into())));
        assert_eq!(err.http_status(), 418);
        assert_eq!(err.openai_type().as_str(), "invalid_request_error");
    }

    #[test]
    fn classify_surface_error_bodies() {
        // bedrock-mantle: a model on the wrong path (LiteLLM PR #33209).
        let headers = HeaderMap::new();
        let err = classify_response(
            400,
            &headers,
            br#"{"error":{"code":"validation_error","message":"The model 'openai.gpt-5.6-luna' does not support the '/v1/chat/completions' API","param":null,"type":"invalid_request_error"}}"#,
        );
        assert_eq!(err.kind(), Some(&ErrorKind::Validation));
        assert_eq!(err.http_status(), 400);
        assert!(err
            .to_string()
            .contains("does not support the '/v1/chat/completions' API"));

        // A 429 with Retry-After: throttling, retryable, the hint kept for the router.
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let err = classify_response(
            429,
            &h,
            br#"{"error":{"message":"Too many tokens per minute","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(err.kind(), Some(&ErrorKind::Throttling));
        assert_eq!(err.http_status(), 429);
        assert!(err.is_retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));

        // Anthropic's error shape on /anthropic/v1/messages.
        let err = classify_response(
            529,
            &headers,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(err.kind(), Some(&ErrorKind::ServiceUnavailable));
        assert_eq!(err.http_status(), 503);
        assert!(err.is_retryable());
        let err = classify_response(
            404,
            &headers,
            br#"{"type":"error","error":{"type":"not_found_error","message":"model: us.anthropic.claude-opus-4-8"}}"#,
        );
        assert_eq!(err.http_status(), 404);
        let err = classify_response(
            401,
            &headers,
            br#"{"error":{"message":"Invalid API key","type":"authentication_error"}}"#,
        );
        assert_eq!(err.kind(), Some(&ErrorKind::UnrecognizedClient));

        let err = stream_error_from_json(
            br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
            None,
        );
        assert_eq!(err.http_status(), 429);
        let err = stream_error_from_json(
            br#"{"type":"error","code":"server_error","message":"boom"}"#,
            Some("r"),
        );
        assert_eq!(err.http_status(), 500);
        assert!(err.to_string().contains("boom"));
    }

    #[test]
    fn bedrock_status_for_stream_exceptions() {
        assert_eq!(
            ErrorKind::from_code("modelTimeoutException").bedrock_status(),
            408
        );
        assert_eq!(
            ErrorKind::from_code("throttlingException").bedrock_status(),
            429
        );
        assert_eq!(
            ErrorKind::from_code("internalServerException").bedrock_status(),
            500
        );
    }
}
