//! What the request path reports about the current request: the deployment chosen, fallbacks
//! taken, usage, finish reasons, an upstream (Bedrock) error, request parameters on the span —
//! written into the request's telemetry record (a task-local opened by `observe.rs`) — and the
//! [`FinishAtBodyEnd`] marker a handler puts on its response.
//!
//! This is the hook through which handlers, routing, the SSE writers and `error.rs` tell telemetry
//! what happened without importing the observe middleware: it imports no other module of this
//! crate, so every module may call it and no import circle can form through it.
//!
//! Must not: block, allocate when nothing is recorded (no request scope, span disabled), or
//! decide anything about the answer.

use shale_telemetry::otel;
use shale_telemetry::record::{self, RequestCell};
use shale_telemetry::TokenUsage;

/// Response extension: the request's usage is only known when its body has been sent (a relayed
/// non-streaming answer), so the request is finished at the body's end, not when it returns.
#[derive(Debug, Clone, Copy)]
pub struct FinishAtBodyEnd;

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

/// Adds a streamed chunk's finish reasons to `reasons` (each choice's, once it has one).
pub fn chunk_finish_reasons(reasons: &mut Vec<String>, chunk: &shale_translate::ChatChunk) {
    for reason in chunk
        .choices
        .iter()
        .filter_map(|c| c.finish_reason.as_ref())
    {
        reasons.push(reason.clone());
    }
}

/// Records the finish reasons of a stream that ended, into the request it belongs to.
pub fn stream_finish_reasons(cell: &RequestCell, reasons: &mut Vec<String>) {
    if !reasons.is_empty() {
        cell.lock().finish_reasons = std::mem::take(reasons);
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

/// Records that a Bedrock call could not be made for want of AWS credentials (`source`: the
/// kind of credential source that failed), counted in `shale_aws_credential_failures_total`.
pub fn credential_failure(source: &'static str) {
    record::with_current(|r| r.credential_failure = Some(source));
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

/// Reports the built-in tools dropped from the current request (see
/// `shale_translate::hosted_tools`): one log line with the request id and the tool names (never
/// request text), `shale_dropped_tools_total{tool}`, and the value of the client's
/// `x-shale-dropped-tools` header. Nothing (and no allocation) when nothing was dropped.
pub fn dropped_tools(
    telemetry: &shale_telemetry::Telemetry,
    dropped: &[&'static str],
) -> Option<axum::http::HeaderValue> {
    if dropped.is_empty() {
        return None;
    }
    let names = dropped.join(",");
    let mut request_id = String::new();
    record::with_current(|r| request_id.clone_from(&r.request_id));
    tracing::info!(
        request_id = %request_id,
        dropped_tools = %names,
        "dropped built-in tools Bedrock cannot run (general_settings.drop_hosted_tools)"
    );
    if let Some(m) = telemetry.metrics() {
        for tool in dropped {
            m.dropped_tool(tool);
        }
    }
    // The names are `[a-z0-9_]` (a fixed table), so always a valid header value.
    axum::http::HeaderValue::from_str(&names).ok()
}
