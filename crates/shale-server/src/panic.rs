//! The last line of defence: a handler that panics answers an OpenAI-shaped 500 (through
//! [`ApiError::Internal`], so no new error spelling) and the panic is logged once with the request
//! id, instead of the connection being dropped with no answer.
//!
//! This only catches panics while the response is being produced (parsing, translation, the call
//! to Bedrock); a panic inside an already-started streaming body ends that stream. Panics are bugs:
//! they are fixed at their source, this layer just keeps one bug from looking like an outage.
//!
//! What it must not do: log the panic with more than a short excerpt of its message (messages can
//! quote request text), or change any response that did not come from a panic.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;

/// How much of a panic message is logged.
const MAX_LOGGED: usize = 200;

/// Middleware (for `axum::middleware::from_fn`): runs the rest of the stack and turns a panic
/// into a 500. Must sit inside `SetRequestId` so the request id is known.
pub async fn catch_panic(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(crate::app::REQUEST_ID).cloned();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(payload) => panic_response(request_id.as_ref(), payload.as_ref()),
    }
}

fn panic_response(request_id: Option<&HeaderValue>, payload: &(dyn Any + Send)) -> Response {
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
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::{middleware, Router};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route(
                "/boom",
                get(|| async {
                    let s = String::from("abcdé");
                    let n = s.len() - 1;
                    // A byte slice inside 'é': the kind of bug this layer contains.
                    s[..n].to_string()
                }),
            )
            .route("/fine", get(|| async { "ok" }))
            .layer(middleware::from_fn(catch_panic))
    }

    async fn call(path: &str, id: Option<&str>) -> (StatusCode, Vec<u8>) {
        let mut req = axum::http::Request::get(path);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        let resp = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, body)
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_an_openai_shaped_500() {
        let (status, body) = call("/boom", Some("req-42")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
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

    #[tokio::test]
    async fn other_responses_pass_untouched() {
        let (status, body) = call("/fine", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"ok");
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
