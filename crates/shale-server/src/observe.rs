//! Observing model requests: the one middleware on the model routes. It opens each request's
//! record and server span, runs the authentication step (`auth::authenticate`, which stays the
//! home of the auth logic) inside them, so refused keys are observed and counted like any other
//! answer, and finishes them once — when the answer is complete, or for a stream when its body
//! ends or the client goes away — feeding metrics, the access log and the trace. It also adds the
//! LiteLLM answer headers `x-litellm-response-cost`, `x-litellm-overhead-duration-ms` and
//! `x-litellm-applied-guardrails`.
//!
//! It must not change what a client receives beyond those headers (and sending auth's refusal
//! instead of running the handler), and it never waits on an
//! export (metrics are atomics, spans are queued, log lines go through `tracing`).

use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use shale_telemetry::record::{self, RequestCell, RequestRecord};
use shale_telemetry::{otel, KeyLabels, TokenUsage};
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
        .get(crate::front_door::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let span = otel::server_span(&method, &path, &request_id);
    otel::continue_trace(&span, request.headers());
    let cell = RequestCell::new(RequestRecord {
        request_id,
        method,
        path,
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
    let finisher = Finisher {
        state: Arc::clone(&state),
        cell,
        span,
        tokens_pending: response.extensions_mut().remove(),
        keys,
    };
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

/// Response extension: the request's usage is only known when its body has been sent (a relayed
/// non-streaming answer), so the request is finished at the body's end, not when it returns.
#[derive(Debug, Clone, Copy)]
pub struct FinishAtBodyEnd;

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
        crate::guardrail_hooks::set_applied_header(headers, &r.guardrails);
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

/// USD with enough digits for per-token prices (LiteLLM sends a plain float).
pub fn format_cost(cost: f64) -> String {
    let text = format!("{cost:.10}");
    let trimmed = text.trim_end_matches('0');
    trimmed.strip_suffix('.').unwrap_or(trimmed).to_string()
}

/// Finishes the request exactly once, when dropped: metrics, access log, span outcome, the
/// router's tpm reservation settled with the real usage (streams), and a virtual key's spend.
struct Finisher {
    state: Arc<AppState>,
    cell: Arc<RequestCell>,
    span: tracing::Span,
    tokens_pending: Option<shale_router::TokenTicket>,
    keys: Option<Arc<crate::keygate::KeySlot>>,
}

impl Drop for Finisher {
    fn drop(&mut self) {
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
                if let Some(f) = &self.finisher {
                    let elapsed = f.cell.started.elapsed();
                    f.cell.lock().ttft = Some(elapsed);
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

/// Records the deployment chosen for the current request.
pub fn deployment_chosen(requested_model: &str, index: usize, bedrock_model: &str) {
    record::with_current(|r| {
        r.requested_model = Some(requested_model.to_owned());
        r.deployment = Some(index);
        r.response_model = Some(bedrock_model.to_owned());
    });
}

/// Records the fallbacks the router took for the current request (their metrics come from the
/// router's observer, `router_metrics.rs`).
pub fn routed(attempts: &shale_router::Attempts) {
    record::with_current(|r| r.fallbacks = attempts.fallbacks);
}

/// Records the requested model of a request no deployment answers to.
pub fn unknown_model(requested_model: &str) {
    record::with_current(|r| r.requested_model = Some(requested_model.to_owned()));
}

/// Records a chat request's parameters on the request's span (and its messages, when the
/// operator asked for content capture).
pub fn chat_request(request: &shale_translate::ChatRequest) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    let params = otel::RequestParams {
        max_tokens: request.max_completion_tokens.or(request.max_tokens),
        temperature: request.temperature,
        top_p: request.top_p,
        top_k: request.top_k,
        stream: request.stream.unwrap_or(false),
    };
    otel::request_attributes(&span, &params);
    if capturing() {
        if let Ok(json) = serde_json::to_string(&request.messages) {
            otel::content_attribute(&span, "gen_ai.input.messages", json);
        }
    }
}

fn capturing() -> bool {
    let mut on = false;
    record::with_current(|r| on = r.capture_content);
    on
}

/// Records the usage and finish reasons of a complete chat answer.
pub fn completion(completion: &shale_translate::ChatCompletion) {
    let span = tracing::Span::current();
    if !span.is_disabled() && capturing() {
        let messages: Vec<_> = completion.choices.iter().map(|c| &c.message).collect();
        if let Ok(json) = serde_json::to_string(&messages) {
            otel::content_attribute(&span, "gen_ai.output.messages", json);
        }
    }
    let tokens = completion.usage.as_ref().map(openai_usage);
    let reasons: Vec<String> = completion
        .choices
        .iter()
        .filter_map(|c| c.finish_reason.clone())
        .collect();
    record::with_current(|r| {
        r.usage = tokens;
        r.finish_reasons = reasons;
    });
}

/// Records the input tokens of an answer that has no output tokens (embeddings).
pub fn input_tokens(prompt_tokens: u64) {
    record::with_current(|r| r.usage = Some(TokenUsage::from_openai(prompt_tokens, 0, 0, 0)));
}

/// Records the usage of a stream that ended, into the request the stream belongs to.
pub fn stream_usage(cell: &RequestCell, usage: &shale_translate::Usage) {
    cell.lock().usage = Some(openai_usage(usage));
}

/// Records the usage of the current request's answer (read by `crate::usage`).
pub fn usage(usage: Option<TokenUsage>) {
    if usage.is_some() {
        record::with_current(|r| r.usage = usage);
    }
}

/// Records usage into a request whose body is still being sent (streams, relays).
pub fn body_usage(cell: &RequestCell, usage: TokenUsage) {
    cell.lock().usage = Some(usage);
}

/// Records that Bedrock (not the gateway) answered the request's error.
pub fn upstream_error() {
    record::with_current(|r| r.upstream_error = true);
}

/// Bedrock usage in billing terms.
pub fn openai_usage(u: &shale_translate::Usage) -> TokenUsage {
    let cache_read = u
        .cache_read_input_tokens
        .or_else(|| u.prompt_tokens_details.as_ref().map(|d| d.cached_tokens))
        .unwrap_or(0);
    let cache_write = u
        .cache_creation_input_tokens
        .or_else(|| {
            u.prompt_tokens_details
                .as_ref()
                .map(|d| d.cache_creation_tokens)
        })
        .unwrap_or(0);
    TokenUsage::from_openai(
        u.prompt_tokens,
        u.completion_tokens,
        cache_read,
        cache_write,
    )
}

/// Telemetry for the configured deployments (indexed like `model_list`), resolved at load.
pub fn build_telemetry(
    config: &shale_config::Config,
    deployments: &[&crate::state::Deployment],
    master_key: Option<&str>,
) -> shale_telemetry::Telemetry {
    use shale_telemetry::{DeploymentInfo, DeploymentTelemetry, Prices};
    let mut all: Vec<DeploymentTelemetry> =
        vec![DeploymentTelemetry::default(); config.model_list.len()];
    for d in deployments {
        let entry = &d.entry;
        let model = entry
            .params
            .model_id
            .clone()
            .unwrap_or_else(|| entry.route.model_id.clone());
        let model_id = entry
            .model_info
            .get("id")
            .and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| {
                shale_telemetry::derived_model_id(
                    entry.index,
                    &entry.model_name,
                    &entry.params.model,
                )
            });
        let prices = Prices::resolve(
            &entry.route.base_model,
            entry.route.cross_region_prefix.as_deref(),
            &entry.params.price_overrides,
            &entry.model_info,
        );
        if let Some(slot) = all.get_mut(entry.index) {
            *slot = DeploymentTelemetry {
                info: DeploymentInfo {
                    model_name: entry.model_name.clone(),
                    model_id,
                    model,
                    api_base: d.target.runtime_endpoint().to_string(),
                    rpm: entry.params.rpm,
                    tpm: entry.params.tpm,
                },
                prices,
            };
        }
    }
    let switches = shale_telemetry::Switches {
        prometheus: config.telemetry.prometheus,
        access_log: config.telemetry.access_log,
        capture_content: otel::capture_content(config.telemetry.capture_message_content, &|name| {
            std::env::var(name).ok()
        }),
    };
    shale_telemetry::Telemetry::new(switches, all, master_key_labels(master_key))
}

/// The labels of requests made with the master key (or without a key).
pub fn master_key_labels(master_key: Option<&str>) -> KeyLabels {
    KeyLabels {
        hashed_api_key: master_key
            .map(shale_telemetry::hash_key)
            .unwrap_or_default()
            .into(),
        ..KeyLabels::default()
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
