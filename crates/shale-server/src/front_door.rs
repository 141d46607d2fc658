//! The front door: the one tower layer every request passes before routing. In one service (and
//! one unboxed, pin-projected response future) it does what four layers did:
//!
//! 1. keeps the caller's `x-request-id` (any header value) or mints a UUID v4 and puts it on the
//!    request, where handlers, `observe` and the access log read it;
//! 2. marks the `authorization`, `x-api-key` and `x-litellm-api-key` request header values
//!    sensitive, so no `Debug` of the headers prints them;
//! 3. catches a panic while the inner service is called or its future is polled, and answers it
//!    with `panic.rs`'s OpenAI-shaped 500 (logged once, with the request id);
//! 4. echoes the request id on every response — the panic 500, the 404/405 fallbacks and auth
//!    refusals included — unless the response already carries an `x-request-id`
//!    (tower-http's `PropagateRequestId` rule).
//!
//! Unlike tower-http's request-id layers it does not also store the id as a `RequestId` request or
//! response extension: nothing here reads one, and each would cost an extensions map.
//!
//! Must not: box, allocate beyond a minted id, read the body, or change any response other than
//! adding the id (and replacing a panic with the 500).

use crate::headers::REQUEST_ID;
use crate::panic::panic_response;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Request headers whose values are secrets (the gateway key).
const SENSITIVE: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("x-litellm-api-key"),
];

/// Wraps a service (the whole router) in [`FrontDoor`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FrontDoorLayer;

impl<S> Layer<S> for FrontDoorLayer {
    type Service = FrontDoor<S>;

    fn layer(&self, inner: S) -> FrontDoor<S> {
        FrontDoor { inner }
    }
}

/// See the module doc.
#[derive(Debug, Clone)]
pub struct FrontDoor<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for FrontDoor<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = FrontDoorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let request_id = request_id(request.headers_mut());
        mark_sensitive(request.headers_mut());
        let state = match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => State::Running { future },
            Err(payload) => State::Answered {
                response: Some(panic_response(Some(&request_id), payload.as_ref())),
            },
        };
        FrontDoorFuture {
            state,
            request_id: Some(request_id),
        }
    }
}

/// The caller's request id, or a new UUID v4 set on the request.
fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(REQUEST_ID) {
        return id.clone();
    }
    let id = mint();
    headers.insert(REQUEST_ID, id.clone());
    id
}

/// A UUID v4 in its hyphenated lower-case form (36 bytes), written without a `String`.
fn mint() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("hex digits and hyphens are a valid header value")
}

fn mark_sensitive(headers: &mut HeaderMap) {
    for name in &SENSITIVE {
        // `entry` may grow the map; only look up names that are there.
        if !headers.contains_key(name) {
            continue;
        }
        if let header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

pin_project! {
    /// The response future of [`FrontDoor`]: the inner future, polled under `catch_unwind`.
    pub struct FrontDoorFuture<F> {
        #[pin]
        state: State<F>,
        request_id: Option<HeaderValue>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F },
        // The inner service panicked in `call`: the 500 is ready.
        Answered { response: Option<Response<Body>> },
    }
}

impl<F, E> Future for FrontDoorFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.state.project() {
            StateProj::Running { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => response,
                    Ok(Poll::Ready(Err(err))) => return Poll::Ready(Err(err)),
                    Err(payload) => panic_response(this.request_id.as_ref(), payload.as_ref()),
                }
            }
            StateProj::Answered { response } => response
                .take()
                .expect("FrontDoorFuture polled after completion"),
        };
        // PropagateRequestId's rule: an id the response already has is kept.
        if !response.headers().contains_key(REQUEST_ID) {
            if let Some(id) = this.request_id.take() {
                response.headers_mut().insert(REQUEST_ID, id);
            }
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use tower::ServiceExt;

    fn app() -> FrontDoor<Router> {
        let router = Router::new()
            .route("/fine", get(|| async { "ok" }))
            .route(
                "/boom",
                get(|| async {
                    let s = String::from("abcdé");
                    let n = s.len() - 1;
                    // A byte slice inside 'é': the kind of bug the front door contains.
                    s[..n].to_string()
                }),
            )
            .route(
                "/own-id",
                get(|| async { ([("x-request-id", "from-handler")], "ok") }),
            )
            .route(
                "/headers",
                get(|headers: HeaderMap| async move {
                    let sensitive: Vec<String> = headers
                        .iter()
                        .filter(|(_, v)| v.is_sensitive())
                        .map(|(k, _)| k.to_string())
                        .collect();
                    let id = headers
                        .get(REQUEST_ID)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    format!("{id}|{}", sensitive.join(","))
                }),
            );
        FrontDoorLayer.layer(router)
    }

    async fn call(path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    fn is_uuid_v4(s: &str) -> bool {
        uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
            && s.len() == 36
            && s == s.to_ascii_lowercase()
    }

    #[tokio::test]
    async fn keeps_the_callers_id_and_echoes_it() {
        let (status, headers, body) = call("/headers", &[("x-request-id", "req-abc")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[REQUEST_ID], "req-abc");
        assert!(body.starts_with("req-abc|"), "the handler sees it: {body}");
    }

    #[tokio::test]
    async fn mints_a_uuid_v4_seen_by_the_handler_and_echoed() {
        let (_, headers, body) = call("/headers", &[]).await;
        let echoed = headers[REQUEST_ID].to_str().unwrap();
        assert!(is_uuid_v4(echoed), "{echoed}");
        assert_eq!(body.split('|').next(), Some(echoed));
        let (_, again, _) = call("/headers", &[]).await;
        assert_ne!(
            again[REQUEST_ID], headers[REQUEST_ID],
            "a new id per request"
        );
    }

    #[tokio::test]
    async fn keeps_any_valid_header_value_as_the_id() {
        let odd = "spaces and \"quotes\" ~!@#$%^&*()";
        let (_, headers, _) = call("/fine", &[("x-request-id", odd)]).await;
        assert_eq!(headers[REQUEST_ID], odd);
        // Not even UTF-8: still a header value, still kept.
        let req = Request::get("/fine")
            .header("x-request-id", HeaderValue::from_bytes(b"id-\xff").unwrap())
            .body(Body::empty())
            .unwrap();
        let resp = app().oneshot(req).await.unwrap();
        assert_eq!(resp.headers()[REQUEST_ID].as_bytes(), b"id-\xff");
    }

    #[tokio::test]
    async fn marks_key_headers_sensitive_and_nothing_else() {
        let (_, _, body) = call(
            "/headers",
            &[
                ("authorization", "Bearer sk-1"),
                ("x-api-key", "sk-2"),
                ("x-litellm-api-key", "sk-3"),
                ("x-other", "visible"),
            ],
        )
        .await;
        let (_, marked) = body.split_once('|').unwrap();
        let mut marked: Vec<&str> = marked.split(',').collect();
        marked.sort_unstable();
        assert_eq!(marked, ["authorization", "x-api-key", "x-litellm-api-key"]);
    }

    #[tokio::test]
    async fn a_response_that_has_an_id_keeps_it() {
        let (_, headers, _) = call("/own-id", &[("x-request-id", "req-1")]).await;
        let all: Vec<_> = headers.get_all(REQUEST_ID).iter().collect();
        assert_eq!(all, ["from-handler"]);
    }

    #[tokio::test]
    async fn fallbacks_carry_the_id() {
        let (status, headers, _) = call("/nowhere", &[("x-request-id", "req-404")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[REQUEST_ID], "req-404");
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_id() {
        let (status, headers, body) = call("/boom", &[("x-request-id", "req-42")]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[REQUEST_ID], "req-42");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["type"], "api_error");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(request id req-42)"));

        let (status, headers, body) = call("/boom", &[]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let id = headers[REQUEST_ID].to_str().unwrap();
        assert!(is_uuid_v4(id));
        assert!(body.contains(&format!("(request id {id})")), "{body}");
    }

    /// An inner service whose `call` itself panics (not its future).
    #[derive(Clone)]
    struct PanicsInCall;

    impl Service<Request<Body>> for PanicsInCall {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            panic!("panicked in call")
        }
    }

    #[tokio::test]
    async fn a_panic_in_call_answers_500_with_the_id() {
        let req = Request::get("/")
            .header("x-request-id", "req-call")
            .body(Body::empty())
            .unwrap();
        let resp = FrontDoorLayer
            .layer(PanicsInCall)
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()[REQUEST_ID], "req-call");
    }
}
