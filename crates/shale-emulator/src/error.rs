//! Bedrock-style errors: the exception name, its HTTP status and the exact AWS wire shape
//! (`x-amzn-ErrorType`, `x-amzn-RequestId`, body `{"message": ...}`).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

/// The suffix AWS appends to the exception name in `x-amzn-ErrorType`.
const ERROR_TYPE_SUFFIX: &str = ":http://internal.amazon.com/coral/com.amazon.bedrock/";

/// An error answered to the client exactly like Bedrock would.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct BedrockException {
    /// Exception name, e.g. `ValidationException`.
    pub kind: String,
    /// Human-readable message (the body's `message`).
    pub message: String,
    /// HTTP status.
    pub status: StatusCode,
}

impl BedrockException {
    /// An error whose status comes from the Bedrock exception table.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        let kind = normalize_exception_name(kind);
        let status = status_for(&kind);
        Self {
            kind,
            message: message.into(),
            status,
        }
    }

    /// A `ValidationException` (400).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// Overrides the status (script items may ask for any).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// `throttlingException` → `ThrottlingException` (scripts may use either case).
pub fn normalize_exception_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => "InternalServerException".to_owned(),
    }
}

/// `ThrottlingException` → `throttlingException` (event-stream `:exception-type`).
pub fn stream_exception_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => "internalServerException".to_owned(),
    }
}

/// HTTP status of a Bedrock (or AWS auth) exception; unknown names are client errors (400).
pub fn status_for(kind: &str) -> StatusCode {
    match kind {
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "MissingAuthenticationTokenException" => StatusCode::FORBIDDEN,
        "ResourceNotFoundException" | "UnknownOperationException" => StatusCode::NOT_FOUND,
        "ModelTimeoutException" => StatusCode::REQUEST_TIMEOUT,
        "ModelErrorException" | "ModelStreamErrorException" => StatusCode::FAILED_DEPENDENCY,
        "ThrottlingException" | "ModelNotReadyException" | "TooManyRequestsException" => {
            StatusCode::TOO_MANY_REQUESTS
        }
        "InternalServerException" | "InternalFailure" => StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceUnavailableException" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A fresh AWS-style request id.
pub fn request_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("uuid is a valid header value")
}

impl IntoResponse for BedrockException {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&serde_json::json!({ "message": self.message }))
            .expect("a JSON object serializes");
        let error_type = HeaderValue::from_str(&format!("{}{ERROR_TYPE_SUFFIX}", self.kind))
            .unwrap_or_else(|_| HeaderValue::from_static("InternalServerException"));
        Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-amzn-RequestId", request_id())
            .header("x-amzn-ErrorType", error_type)
            .body(Body::from(body))
            .expect("static response parts are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_bedrock_table() {
        assert_eq!(status_for("ValidationException"), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_for("ThrottlingException"),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(status_for("ModelStreamErrorException").as_u16(), 424);
        assert_eq!(status_for("ModelTimeoutException").as_u16(), 408);
        assert_eq!(status_for("ServiceUnavailableException").as_u16(), 503);
        assert_eq!(status_for("InvalidSignatureException").as_u16(), 403);
    }

    #[test]
    fn names_are_normalized_both_ways() {
        assert_eq!(
            normalize_exception_name("throttlingException"),
            "ThrottlingException"
        );
        assert_eq!(
            stream_exception_name("ThrottlingException"),
            "throttlingException"
        );
    }

    #[test]
    fn error_response_has_the_aws_wire_shape() {
        let resp = BedrockException::new("throttlingException", "slow down").into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let et = resp.headers()["x-amzn-errortype"].to_str().unwrap();
        assert_eq!(
            et,
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
        );
        assert_eq!(resp.headers()["x-amzn-requestid"].len(), 36);
    }
}
