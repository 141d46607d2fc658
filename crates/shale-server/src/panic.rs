//! The last line of defence's answer: a handler that panics answers an OpenAI-shaped 500 (through
//! [`ApiError::Internal`], so no new error spelling) and the panic is logged once with the request
//! id, instead of the connection being dropped with no answer. The panic itself is caught by the
//! front door (`front_door.rs`), which knows the request id and echoes it on this 500.
//!
//! This only covers panics while the response is being produced (parsing, translation, the call
//! to Bedrock); a panic inside an already-started streaming body ends that stream. Panics are bugs:
//! they are fixed at their source, this answer just keeps one bug from looking like an outage.
//!
//! What it must not do: log the panic with more than a short excerpt of its message (messages can
//! quote request text), or be used for anything but a caught panic.

use crate::error::ApiError;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use std::any::Any;

/// How much of a panic message is logged.
const MAX_LOGGED: usize = 200;

/// The answer to a request whose handling panicked (caught by `front_door.rs`, which knows the
/// request id): the panic is logged once, with a short excerpt, and the client gets a 500.
pub(crate) fn panic_response(
    request_id: Option<&HeaderValue>,
    payload: &(dyn Any + Send),
) -> Response {
    let id = request_id.and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::error!(
        request_id = %id,
        panic = %excerpt(panic_message(payload)),
        "request handler panicked: answered 500"
    );
    ApiError::Internal(format!(
        "The gateway hit an internal error while handling this request (request id {id})."
    ))
    .into_response()
}

/// The text of a panic payload (`panic!("…")` gives `&str` or `String`).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-text panic payload"
    }
}

fn excerpt(s: &str) -> &str {
    if s.len() <= MAX_LOGGED {
        return s;
    }
    let mut end = MAX_LOGGED;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_panic_answers_an_openai_shaped_500_naming_the_request_id() {
        let payload: Box<dyn Any + Send> = Box::new("boom");
        let id = HeaderValue::from_static("req-42");
        let resp = panic_response(Some(&id), payload.as_ref());
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let expected = ApiError::Internal(
            "The gateway hit an internal error while handling this request (request id req-42)."
                .into(),
        );
        assert_eq!(
            v,
            serde_json::from_slice::<serde_json::Value>(&expected.to_json()).unwrap()
        );
        assert_eq!(v["error"]["type"], "api_error");
    }

    #[test]
    fn payload_text_and_excerpt() {
        let owned: Box<dyn Any + Send> = Box::new(String::from("owned"));
        let static_str: Box<dyn Any + Send> = Box::new("static");
        let other: Box<dyn Any + Send> = Box::new(7u8);
        assert_eq!(panic_message(owned.as_ref()), "owned");
        assert_eq!(panic_message(static_str.as_ref()), "static");
        assert_eq!(panic_message(other.as_ref()), "non-text panic payload");
        let long = "é".repeat(150);
        let cut = excerpt(&long);
        assert!(cut.len() <= MAX_LOGGED && long.starts_with(cut));
    }
}
