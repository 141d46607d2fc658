//! OpenTelemetry traces over OTLP (http/protobuf or grpc, chosen by the standard
//! `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`), built on `opentelemetry_sdk` with a batch span
//! processor: spans are queued and exported from a background thread, so a request never waits
//! on an export and a dead collector only costs dropped spans.
//!
//! shale's spans are ordinary `tracing` spans with the target [`SPAN_TARGET`]; the layer from
//! [`Otel::layer`] turns exactly those into OpenTelemetry spans. When tracing is off no layer
//! wants them, so they are never built. This module owns the span names and attributes (HTTP and
//! GenAI semantic conventions); it does no HTTP routing.

use crate::record::RequestRecord;
use crate::span_filter::CallsiteFilter;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The `tracing` target of every span exported over OTLP (the log layer ignores it).
pub const SPAN_TARGET: &str = "shale::otel";

/// `gen_ai.system` (`gen_ai.provider.name`) for Bedrock.
pub const GEN_AI_SYSTEM: &str = "aws.bedrock";

/// Why tracing could not be started.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(String),
}

/// Whether traces are wanted: `callbacks: ["otel"]` in the config, or an OTLP endpoint in the
/// environment; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn them off.
pub fn wanted(by_config: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"))
    {
        return false;
    }
    by_config || set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
}

/// A running tracer provider. Call [`Otel::shutdown`] before exit to flush queued spans.
#[derive(Debug, Clone)]
pub struct Otel {
    provider: SdkTracerProvider,
}

impl Otel {
    /// Builds the exporter and the batch processor from the standard `OTEL_*` variables
    /// (endpoint, headers, protocol, timeout, compression, service name, resource attributes,
    /// sampler, `OTEL_BSP_*`). Must run inside the Tokio runtime (the grpc transport needs it).
    pub fn start() -> Result<Otel, OtelError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .build()
            .map_err(|e| OtelError::Exporter(e.to_string()))?;
        let mut resource = Resource::builder();
        let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
            || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name"));
        if !named {
            resource = resource.with_service_name("shale");
        }
        let resource = resource
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Otel { provider })
    }

    /// The `tracing` layer that exports shale's spans (and only those).
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let filter = CallsiteFilter::new(|meta| meta.target() == SPAN_TARGET);
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("shale"))
            .with_location(false)
            .with_threads(false)
            .with_level(false)
            .with_target(false)
            .with_filter(filter)
    }

    /// Exports what is queued and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::debug!(%err, "OTLP exporter shutdown");
        }
    }
}

/// The server span of one request (HTTP server semantic conventions). A disabled span (tracing
/// off) costs one cached interest check.
pub fn server_span(method: &str, path: &str, request_id: &str) -> Span {
    tracing::info_span!(
        target: SPAN_TARGET,
        "http.server",
        otel.name = %format_args!("{method} {path}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        shale.request_id = %request_id,
    )
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` continue the caller's W3C trace (`traceparent`, `tracestate`), if any.
pub fn continue_trace(span: &Span, headers: &http::HeaderMap) {
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(cx);
}

/// `gen_ai.operation.name` for a request path.
pub fn operation_name(path: &str) -> &'static str {
    let p = path.trim_end_matches('/');
    if p.ends_with("/embeddings") {
        "embeddings"
    } else if p.ends_with("/images/generations") {
        "generate_content"
    } else if p.ends_with("/completions") && !p.ends_with("/chat/completions") {
        "text_completion"
    } else if p.ends_with("/rerank") {
        "rerank"
    } else {
        "chat"
    }
}

/// Sets the outcome of a finished request on its server span: status, GenAI attributes (system,
/// operation, models, usage, finish reasons), cost, retries; and the answer's GenAI attributes on
/// the span of the Bedrock attempt that answered, where GenAI tools look for them.
pub fn finish_server_span(span: &Span, record: &RequestRecord) {
    if let Some(attempt) = &record.attempt_span {
        answer_attributes(attempt, record);
    }
    if span.is_disabled() {
        return;
    }
    span.set_attribute("http.response.status_code", i64::from(record.status));
    if record.status >= 500 || record.error_class.is_some() && record.status >= 400 {
        span.set_attribute("error.type", record.error_class.unwrap_or("error"));
        if record.status >= 500 {
            span.set_attribute("otel.status_code", "ERROR");
        }
    }
    let Some(model) = &record.requested_model else {
        return;
    };
    span.set_attribute("gen_ai.system", GEN_AI_SYSTEM);
    span.set_attribute("gen_ai.provider.name", GEN_AI_SYSTEM);
    span.set_attribute("gen_ai.operation.name", operation_name(&record.path));
    span.set_attribute("gen_ai.request.model", model.clone());
    answer_attributes(span, record);
    if let Some(c) = record.cost {
        span.set_attribute("gen_ai.usage.cost", c);
    }
    span.set_attribute("shale.stream", record.stream);
    span.set_attribute(
        "shale.retries",
        i64::from(record.attempts.saturating_sub(1)),
    );
}

/// The answer's GenAI attributes: `gen_ai.response.model`, `gen_ai.usage.input_tokens` /
/// `output_tokens`, `gen_ai.response.finish_reasons`.
fn answer_attributes(span: &Span, record: &RequestRecord) {
    if span.is_disabled() {
        return;
    }
    if let Some(m) = &record.response_model {
        span.set_attribute("gen_ai.response.model", m.clone());
    }
    if let Some(u) = record.usage {
        span.set_attribute("gen_ai.usage.input_tokens", u.prompt_tokens() as i64);
        span.set_attribute("gen_ai.usage.output_tokens", u.output as i64);
    }
    if !record.finish_reasons.is_empty() {
        let reasons: Vec<StringValue> = record
            .finish_reasons
            .iter()
            .map(|r| StringValue::from(r.clone()))
            .collect();
        span.set_attribute(
            "gen_ai.response.finish_reasons",
            Value::Array(Array::String(reasons)),
        );
    }
    if let Some(cache) = &record.cache {
        // LiteLLM's spend log calls it `cache_hit`; `shale.cache` also tells misses and bypasses.
        span.set_attribute("shale.cache", cache.status());
        span.set_attribute("litellm.cache_hit", cache.hit);
        if let Some(key) = &cache.key {
            span.set_attribute("litellm.cache_key", key.clone());
        }
    }
}

/// The request parameters recorded on a span (`gen_ai.request.*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParams {
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stream: bool,
}

/// Request parameters as GenAI attributes on `span`.
pub fn request_attributes(span: &Span, p: &RequestParams) {
    if span.is_disabled() {
        return;
    }
    if let Some(v) = p.max_tokens {
        span.set_attribute("gen_ai.request.max_tokens", v.min(i64::MAX as u64) as i64);
    }
    if let Some(v) = p.temperature {
        span.set_attribute("gen_ai.request.temperature", v);
    }
    if let Some(v) = p.top_p {
        span.set_attribute("gen_ai.request.top_p", v);
    }
    if let Some(v) = p.top_k {
        span.set_attribute("gen_ai.request.top_k", v.min(i64::MAX as u64) as i64);
    }
    span.set_attribute("gen_ai.request.stream", p.stream);
}

/// Whether prompts and completions may go on spans: the config's
/// `general_settings.telemetry.otel_capture_message_content`, or the GenAI convention's
/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`.
pub fn capture_content(by_config: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    by_config
        || env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Prompt or completion text as a span attribute (`gen_ai.input.messages`,
/// `gen_ai.output.messages`); only called when [`capture_content`] said yes.
pub fn content_attribute(span: &Span, key: &'static str, json: String) {
    if !span.is_disabled() {
        span.set_attribute(key, json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn enabled_by_config_or_endpoint_and_disabled_by_sdk_switch() {
        assert!(!wanted(false, &env(&[])));
        assert!(wanted(true, &env(&[])));
        assert!(wanted(
            false,
            &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")])
        ));
        assert!(wanted(
            false,
            &env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://x/v1/traces")])
        ));
        assert!(!wanted(true, &env(&[("OTEL_SDK_DISABLED", "true")])));
        assert!(!wanted(true, &env(&[("OTEL_TRACES_EXPORTER", "none")])));
    }

    #[test]
    fn operation_names() {
        assert_eq!(operation_name("/v1/chat/completions"), "chat");
        assert_eq!(operation_name("/completions"), "text_completion");
        assert_eq!(operation_name("/v1/embeddings"), "embeddings");
        assert_eq!(operation_name("/v1/messages"), "chat");
    }
}
