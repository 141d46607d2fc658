//! Observing model requests: the one middleware on the model routes. It opens each request's
//! record and server span, runs the authentication step (`auth::authenticate`, which stays the
//! home of the auth logic) inside them, so refused keys are observed and counted like any other
//! answer, and finishes them once — when the answer is complete, or for a stream when its body
//! ends or the client goes away — feeding metrics, the access log and the trace. It also adds the
//! LiteLLM answer headers `x-litellm-response-cost`, `x-litellm-overhead-duration-ms` and
//! `x-litellm-applied-guardrails`.
//!
//! On a serving worker the finishing itself runs after the answer was written
//! ([`finish_after_answers`]): none of it is the client's business, so its CPU time (the access
//! line, metrics, spend, the span) is not added to the client's latency.
//!
//! It must not change what a client receives beyond those headers (and sending auth's refusal
//! instead of running the handler), and it never waits on an
//! export (metrics are atomics, spans are queued, log lines go through `tracing`).

use crate::headers::REQUEST_ID;
use crate::state::AppState;
// The recording helpers moved to `report.rs` (so errors and state reach telemetry without
// importing this middleware); re-exported so `crate::observe::…` callers keep working.
pub use crate::report::{
    body_usage, chat_request, completion, deployment_chosen, input_tokens, openai_usage, routed,
    stream_usage, unknown_model, upstream_error, usage, FinishAtBodyEnd,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use shale_telemetry::otel;
use shale_telemetry::record::{self, RequestCell, RequestRecord};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tracing::Instrument;

/// `x-shale-overhead-ms`, set by the handlers.
const SHALE_OVERHEAD: &str = "x-shale-overhead-ms";
/// LiteLLM's name for the same figure.
const LITELLM_OVERHEAD: &str = "x-litellm-overhead-duration-ms";
/// LiteLLM's cost header (USD, non-streaming answers).
const RESPONSE_COST: &str = "x-litellm-response-cost";

/// The one middleware on every model route: observation around authentication and the handler.
pub async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let telemetry = Arc::clone(&state.telemetry);
    if let Some(m) = telemetry.metrics() {
        m.request_started();
    }
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    // The route template, never the raw path (ids in paths would make the label unbounded).
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| shale_telemetry::labels::route(m.as_str()));
    let span = otel::server_span(&method, &path, &request_id);
    otel::continue_trace(&span, request.headers());
    let cell = RequestCell::new(RequestRecord {
        request_id,
        method,
        path,
        route,
        capture_content: telemetry.capture_content(),
        ..RequestRecord::default()
    });
    let keys = state.keys.is_some().then(crate::keygate::KeySlot::new);
    // Authentication runs in the request's scopes (a virtual key lands in its record and key
    // slot), as its own future: the handler's future, awaited after it, does not grow by it.
    let headers = request.headers();
    let auth = crate::auth::authenticate(&state, headers, request.uri().path());
    let mut response = match in_scopes(&cell, &keys, &span, auth).await {
        Ok(()) => in_scopes(&cell, &keys, &span, next.run(request)).await,
        // A refusal is the answer, observed like any other.
        Err(refusal) => refusal,
    };

    let handler_time = cell.started.elapsed();
    let streaming = is_event_stream(response.headers());
    // Usage only known once the body went out (a relayed Converse answer): finish then.
    let at_body_end = streaming || response.extensions().get::<FinishAtBodyEnd>().is_some();
    {
        let mut r = cell.lock();
        r.status = response.status().as_u16();
        r.stream = streaming;
        if r.status >= 400 && r.error_class.is_none() {
            r.error_class = Some(shale_telemetry::labels::exception_class(
                r.status,
                r.upstream_error,
            ));
        }
        if let Some(overhead) = header_ms(response.headers(), SHALE_OVERHEAD) {
            r.overhead = Some(overhead);
            if !streaming && r.upstream.is_none() && r.deployment.is_some() {
                r.upstream = Some(handler_time.saturating_sub(overhead));
            }
        }
        if let (Some(index), Some(usage)) = (r.deployment, r.usage) {
            r.cost = telemetry.cost(index, &usage);
        }
        set_headers(response.headers_mut(), &r, streaming);
    }
    let finisher = Finisher(Some(Finished {
        state: Arc::clone(&state),
        cell,
        span,
        tokens_pending: response.extensions_mut().remove(),
        keys,
    }));
    if at_body_end {
        if let Some(m) = telemetry.metrics().filter(|_| streaming) {
            m.stream_started();
        }
        let (parts, body) = response.into_parts();
        let body = Body::new(ObservedBody {
            inner: body,
            first_frame_seen: !streaming,
            finisher: Some(finisher),
        });
        return Response::from_parts(parts, body);
    }
    drop(finisher);
    response
}

/// `fut` inside the request's record and key-slot scopes and its server span.
fn in_scopes<F: Future>(
    cell: &Arc<RequestCell>,
    keys: &Option<Arc<crate::keygate::KeySlot>>,
    span: &tracing::Span,
    fut: F,
) -> impl Future<Output = F::Output> {
    record::scope(Arc::clone(cell), crate::keygate::scope(keys.clone(), fut))
        .instrument(span.clone())
}

/// Server-sent events, or a relayed Bedrock event stream (pass-through).
fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            let v = v.as_bytes();
            v.starts_with(b"text/event-stream")
                || v.starts_with(b"application/vnd.amazon.eventstream")
        })
}

fn header_ms(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let ms: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
}

fn set_headers(headers: &mut HeaderMap, r: &RequestRecord, streaming: bool) {
    // Names built at compile time, not parsed per request.
    const SHALE: HeaderName = HeaderName::from_static(SHALE_OVERHEAD);
    const LITELLM: HeaderName = HeaderName::from_static(LITELLM_OVERHEAD);
    const COST: HeaderName = HeaderName::from_static(RESPONSE_COST);
    if let Some(v) = headers.get(&SHALE).cloned() {
        headers.insert(LITELLM, v);
    }
    if !r.guardrails.is_empty() {
        set_applied_guardrails(headers, &r.guardrails);
    }
    if streaming {
        return;
    }
    if let Some(cost) = r.cost {
        // The formatted text becomes the header's bytes without another copy.
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(format_cost(cost))) {
            headers.insert(COST, v);
        }
    }
}

/// `x-litellm-applied-guardrails`: the names of the guardrails that ran (or check the stream),
/// once each, in order.
fn set_applied_guardrails(headers: &mut HeaderMap, runs: &[shale_telemetry::record::GuardrailRun]) {
    let mut names: Vec<&str> = Vec::with_capacity(runs.len());
    for r in runs {
        if !names.contains(&&*r.name) {
            names.push(&r.name);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&names.join(",")) {
        headers.insert(crate::headers::APPLIED_GUARDRAILS, v);
    }
}

/// USD with enough digits for per-token prices (LiteLLM sends a plain float).
pub fn format_cost(cost: f64) -> String {
    let text = format!("{cost:.10}");
    let trimmed = text.trim_end_matches('0');
    trimmed.strip_suffix('.').unwrap_or(trimmed).to_string()
}

/// Finishes the request exactly once, when dropped: metrics, access log, span outcome, the
/// router's tpm reservation settled with the real usage (streams), and a virtual key's spend.
/// On a serving worker the finishing is queued to run once the answer went out (see
/// [`finish_after_answers`]); elsewhere it runs at once.
struct Finisher(Option<Finished>);

impl Finisher {
    fn cell(&self) -> Option<&Arc<RequestCell>> {
        self.0.as_ref().map(|f| &f.cell)
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        if let Some(finished) = self.0.take() {
            after_answer(finished);
        }
    }
}

/// What finishing a request needs.
struct Finished {
    state: Arc<AppState>,
    cell: Arc<RequestCell>,
    span: tracing::Span,
    tokens_pending: Option<shale_router::TokenTicket>,
    keys: Option<Arc<crate::keygate::KeySlot>>,
}

impl Finished {
    fn finish(self) {
        let (mut record, latency) = self.cell.take();
        if let (None, Some(index), Some(usage)) = (record.cost, record.deployment, record.usage) {
            // Usage that arrived with the body (streams, relays).
            record.cost = self.state.telemetry.cost(index, &usage);
        }
        if record.stream {
            if record.upstream.is_none() && record.deployment.is_some() {
                record.upstream = Some(latency.saturating_sub(record.overhead.unwrap_or_default()));
            }
            if let Some(m) = self.state.telemetry.metrics() {
                m.stream_finished();
            }
        }
        if let (Some(ticket), Some(usage)) = (&self.tokens_pending, record.usage) {
            self.state
                .router
                .settle_tokens(ticket, usage.total_tokens());
        }
        self.state.telemetry.finish(&record, latency);
        if let Some(slot) = &self.keys {
            crate::keygate::settle(&self.state, slot, &record, latency);
        }
        otel::finish_server_span(&self.span, &record);
        if let Some(m) = self.state.telemetry.metrics() {
            m.request_finished();
        }
    }
}

/// A serving worker's requests that ended but are not finished yet.
struct Pending {
    finished: Vec<Finished>,
    /// Told when the first request lands in an empty queue.
    first: Arc<tokio::sync::Notify>,
}

thread_local! {
    /// `Some` on serving workers (see [`finish_after_answers`]).
    static PENDING: std::cell::RefCell<Option<Pending>> = const { std::cell::RefCell::new(None) };
}

/// Makes the current thread (a serving worker with a current-thread runtime) finish requests
/// after their answers were written: the returned future, spawned on this thread's runtime,
/// finishes them. It is woken from this same thread, so no other thread is involved, and it
/// runs once the connection task that ended the request yields — after hyper wrote the answer
/// in that same poll. Call [`finish_pending`] before the worker reports its requests drained.
pub fn finish_after_answers() -> impl Future<Output = ()> + Send + 'static {
    let first = Arc::new(tokio::sync::Notify::new());
    PENDING.with(|p| {
        *p.borrow_mut() = Some(Pending {
            finished: Vec::with_capacity(64),
            first: Arc::clone(&first),
        });
    });
    async move {
        loop {
            first.notified().await;
            finish_pending();
        }
    }
}

/// Finishes the current thread's queued requests now.
pub fn finish_pending() {
    loop {
        let batch = PENDING
            .try_with(|p| {
                p.try_borrow_mut()
                    .ok()
                    .and_then(|mut p| p.as_mut().map(|p| std::mem::take(&mut p.finished)))
            })
            .ok()
            .flatten()
            .unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        for finished in batch {
            // A panic (a bug) loses that one request's figures, not the worker's queue.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finished.finish()));
        }
    }
}

/// Finishes what is queued and stops queueing on this thread (a worker whose runtime is gone).
pub fn stop_finishing_after_answers() {
    finish_pending();
    let _ = PENDING.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            *p = None;
        }
    });
}

/// Queues `finished` on a serving worker, or finishes it now elsewhere.
fn after_answer(finished: Finished) {
    let mut finished = Some(finished);
    let _ = PENDING.try_with(|p| {
        let Ok(mut p) = p.try_borrow_mut() else {
            return;
        };
        if let Some(p) = p.as_mut() {
            if let Some(f) = finished.take() {
                if p.finished.is_empty() {
                    p.first.notify_one();
                }
                p.finished.push(f);
            }
        }
    });
    if let Some(finished) = finished {
        finished.finish();
    }
}

/// A streamed body that notes the first frame (time to first token) and finishes the request
/// when it ends or is dropped (client gone).
///
/// Field order matters: `inner` drops before `finisher`, so usage read as the body ends (or is
/// dropped) is in the record when the request finishes.
struct ObservedBody {
    inner: Body,
    first_frame_seen: bool,
    finisher: Option<Finisher>,
}

impl HttpBody for ObservedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) if !self.first_frame_seen => {
                self.first_frame_seen = true;
                if let Some(cell) = self.finisher.as_ref().and_then(Finisher::cell) {
                    let elapsed = cell.started.elapsed();
                    cell.lock().ttft = Some(elapsed);
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                self.finisher = None;
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_format_is_a_plain_float() {
        assert_eq!(format_cost(0.000123), "0.000123");
        assert_eq!(format_cost(0.0), "0");
        assert_eq!(format_cost(1.5), "1.5");
    }

    /// A gateway state with Prometheus on, and how many requests it counts in flight.
    async fn counted_state() -> Arc<AppState> {
        let state = crate::routes::embeddings::test_state(
            "model_list:\n  - model_name: m\n    litellm_params: {model: bedrock/amazon.nova-lite-v1:0, \
             aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: secret, aws_region_name: us-east-1}\n\
             litellm_settings:\n  callbacks: [prometheus]\n",
        )
        .await;
        Arc::new(state)
    }

    fn in_flight(state: &AppState) -> String {
        let text = state.telemetry.metrics().expect("prometheus on").encode();
        text.lines()
            .find(|l| l.starts_with("shale_in_flight_requests "))
            .unwrap_or_default()
            .to_owned()
    }

    fn started(state: &Arc<AppState>) -> Finisher {
        state.telemetry.metrics().unwrap().request_started();
        Finisher(Some(Finished {
            state: Arc::clone(state),
            cell: RequestCell::new(RequestRecord::default()),
            span: tracing::Span::none(),
            tokens_pending: None,
            keys: None,
        }))
    }

    #[tokio::test]
    async fn off_a_serving_worker_a_request_is_finished_when_its_answer_is_done() {
        let state = counted_state().await;
        let finisher = started(&state);
        assert_eq!(in_flight(&state), "shale_in_flight_requests 1");
        drop(finisher);
        assert_eq!(in_flight(&state), "shale_in_flight_requests 0");
    }

    #[test]
    fn a_serving_worker_finishes_its_requests_once_the_answering_task_yields() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let state = counted_state().await;
            tokio::spawn(finish_after_answers());
            let (a, b) = (started(&state), started(&state));
            assert_eq!(in_flight(&state), "shale_in_flight_requests 2");
            drop(a);
            drop(b);
            // Still this task's turn: the answer is being written.
            assert_eq!(in_flight(&state), "shale_in_flight_requests 2");
            tokio::task::yield_now().await;
            assert_eq!(in_flight(&state), "shale_in_flight_requests 0");
            // A worker that stops finishes what is queued without waiting for its turn.
            drop(started(&state));
            finish_pending();
            assert_eq!(in_flight(&state), "shale_in_flight_requests 0");
            // And one whose runtime is gone finishes at once.
            stop_finishing_after_answers();
            drop(started(&state));
            assert_eq!(in_flight(&state), "shale_in_flight_requests 0");
        });
    }

    #[test]
    fn overhead_header_parses() {
        let mut h = HeaderMap::new();
        h.insert(SHALE_OVERHEAD, HeaderValue::from_static("1.500"));
        assert_eq!(
            header_ms(&h, SHALE_OVERHEAD),
            Some(Duration::from_micros(1500))
        );
    }
}
