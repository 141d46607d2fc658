//! Errors in the Anthropic shape for the Messages API routes:
//! `{"type":"error","error":{"type":"…","message":"…"}}`. Every failure is still an [`ApiError`]
//! (the one classification); this module only renders it, deriving the Anthropic `type` from the
//! HTTP status — 400 `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`,
//! 404 `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`, 500 `api_error`,
//! 503/529 `overloaded_error` — with one exception: an unknown model is 404 `not_found_error`
//! here (Anthropic's answer), where the OpenAI routes say 400.
//!
//! Must not: classify errors itself or spell OpenAI error types.

use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

/// Whether a request path belongs to the Messages API (its errors are rendered here).
pub fn is_messages_path(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path.ends_with("/messages") || path.ends_with("/messages/count_tokens")
}

/// The status and Anthropic error `type` for an error.
pub fn anthropic_status_and_type(err: &ApiError) -> (StatusCode, &'static str) {
    if matches!(err, ApiError::UnknownModel(_)) {
        return (StatusCode::NOT_FOUND, "not_found_error");
    }
    let status = err.status();
    let kind = match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        424 => "api_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    (status, kind)
}

/// The error JSON (also the `data:` of a stream's `event: error`).
pub fn anthropic_error_json(err: &ApiError) -> Bytes {
    let (_, kind) = anthropic_status_and_type(err);
    let mut body = json!({"type": "error", "error": {"type": kind, "message": err.to_string()}});
    if let Some(details) = err.guardrail_details() {
        body["error"]["provider_specific_fields"] = details;
    }
    Bytes::from(serde_json::to_vec(&body).expect("error JSON serialises"))
}

/// The complete error response (status, JSON, `retry-after` when Bedrock sent one).
pub fn anthropic_error_response(err: ApiError) -> Response {
    let (status, _) = anthropic_status_and_type(&err);
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), error = %err, "messages request failed");
    } else {
        tracing::debug!(status = status.as_u16(), error = %err, "messages request refused");
    }
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        anthropic_error_json(&err),
    )
        .into_response();
    if let Some(v) = err.retry_after_header() {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(err: ApiError) -> (u16, String) {
        let (s, _) = anthropic_status_and_type(&err);
        let v: serde_json::Value = serde_json::from_slice(&anthropic_error_json(&err)).unwrap();
        assert_eq!(v["type"], "error");
        (s.as_u16(), v["error"]["type"].as_str().unwrap().to_owned())
    }

    fn upstream(status: u16) -> ApiError {
        ApiError::Classified {
            error: shale_core::OpenAiError::new(
                status,
                shale_core::ErrorType::for_status(status),
                "m",
            ),
            retry_after: None,
        }
    }

    #[test]
    fn status_table() {
        assert_eq!(
            kind(ApiError::Unauthorized("no")),
            (401, "authentication_error".into())
        );
        assert_eq!(
            kind(ApiError::invalid(None, "bad")),
            (400, "invalid_request_error".into())
        );
        assert_eq!(
            kind(ApiError::UnknownModel("m".into())),
            (404, "not_found_error".into())
        );
        assert_eq!(
            kind(ApiError::PayloadTooLarge { limit: 1 }),
            (413, "request_too_large".into())
        );
        assert_eq!(kind(upstream(403)), (403, "permission_error".into()));
        assert_eq!(kind(upstream(429)), (429, "rate_limit_error".into()));
        assert_eq!(kind(upstream(503)), (503, "overloaded_error".into()));
        assert_eq!(kind(upstream(529)), (529, "overloaded_error".into()));
        assert_eq!(kind(upstream(500)), (500, "api_error".into()));
        assert_eq!(kind(upstream(424)), (424, "api_error".into()));
        assert_eq!(
            kind(ApiError::Internal("x".into())),
            (500, "api_error".into())
        );
    }

    #[test]
    fn guardrail_blocks_keep_their_details() {
        let err = ApiError::from(shale_guardrails::GuardrailError::Blocked(Box::new(
            shale_guardrails::Blocked {
                guardrail_name: "pii".into(),
                hook: shale_guardrails::Hook::PreCall,
                guardrail_identifier: "gr1".into(),
                guardrail_version: "DRAFT".into(),
                message: "No.".into(),
                action_reason: None,
                assessments: json!([]),
            },
        )));
        let v: serde_json::Value = serde_json::from_slice(&anthropic_error_json(&err)).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(
            v["error"]["provider_specific_fields"]["guardrail_name"],
            "pii"
        );
    }

    #[test]
    fn paths() {
        assert!(is_messages_path("/v1/messages"));
        assert!(is_messages_path("/anthropic/v1/messages/count_tokens"));
        assert!(is_messages_path("/messages/"));
        assert!(!is_messages_path("/v1/chat/completions"));
    }
}
