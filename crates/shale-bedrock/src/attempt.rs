//! One trace span per Bedrock attempt (OpenTelemetry client span, HTTP client and GenAI semantic
//! conventions), so retries show as sibling spans under the request's server span; `rpc.service`
//! (`BedrockRuntime` or `BedrockMantle`), `rpc.method` and `server.address` say which surface. The
//! caller's [`AttemptSpanHooks`] name the GenAI operation and may keep an answered attempt's span
//! to add the answer's usage, finish reasons and response model once they are known. The spans are
//! plain `tracing` spans with the target `shale::otel`: when no trace exporter is installed no
//! subscriber wants them and they cost one cached interest check. Integers are recorded as `i64`
//! (the OpenTelemetry layer would turn `u64` into text). Nothing else lives here.

use crate::error::BedrockError;
use crate::spec::AttemptSpanHooks;
use crate::target::Target;
use tracing::Span;
use url::Url;

/// The span of one attempt against `url` (its last path segment names the operation), named
/// `{gen_ai.operation.name} {gen_ai.request.model}` as the GenAI conventions say. The hooks'
/// operation is asked only when the span is enabled (the macro evaluates fields only then).
pub(crate) fn span(target: &Target, url: &Url, hooks: Option<&AttemptSpanHooks>) -> Span {
    let operation = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    let rpc_method = match operation {
        "converse" => "Converse",
        "converse-stream" => "ConverseStream",
        "invoke" => "InvokeModel",
        "invoke-with-response-stream" => "InvokeModelWithResponseStream",
        "count-tokens" | "count_tokens" => "CountTokens",
        "rerank" => "Rerank",
        "apply" => "ApplyGuardrail",
        // bedrock-mantle and bedrock-runtime's /openai/v1
        "completions" => "ChatCompletions",
        "responses" => "Responses",
        "messages" => "Messages",
        _ => "Other",
    };
    let gen_ai_operation = || {
        hooks
            .and_then(|h| (h.operation)())
            .unwrap_or(match operation {
                o if o.starts_with("converse") || o.starts_with("invoke") => "chat",
                "completions" | "messages" => "chat",
                "apply" => "apply_guardrail",
                o => o,
            })
    };
    let rpc_service = target
        .surface_host()
        .map_or("BedrockRuntime", shale_core::surface::Host::rpc_service);
    tracing::info_span!(
        target: "shale::otel",
        "bedrock.attempt",
        otel.name = %format_args!("{} {}", gen_ai_operation(), target.model_id()),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        gen_ai.system = "aws.bedrock",
        gen_ai.provider.name = "aws.bedrock",
        gen_ai.operation.name = gen_ai_operation(),
        gen_ai.request.model = %target.model_id(),
        rpc.system = "aws-api",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        cloud.region = %target.region(),
        http.request.method = "POST",
        server.address = url.host_str().unwrap_or(""),
        server.port = i64::from(url.port_or_known_default().unwrap_or(0)),
        url.full = %url,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        shale.deployment = %target.deployment(),
    )
}

/// Records the HTTP status an attempt got (4xx/5xx mark the span as failed).
pub(crate) fn status(span: &Span, status: u16) {
    span.record("http.response.status_code", i64::from(status));
    if status >= 400 {
        span.record("error.type", status.to_string());
        span.record("otel.status_code", "ERROR");
    }
}

/// Hands the span of an attempt that succeeded to the caller's hook (traces exported only).
pub(crate) fn answered(span: &Span, hooks: Option<&AttemptSpanHooks>) {
    if let Some(hooks) = hooks.filter(|_| !span.is_disabled()) {
        (hooks.answered)(span);
    }
}

/// Records an attempt that got no HTTP answer (or an error answer already classified).
pub(crate) fn failed(span: &Span, error: &BedrockError) {
    let status = error.http_status();
    span.record("http.response.status_code", i64::from(status));
    span.record("error.type", status.to_string());
    span.record("otel.status_code", "ERROR");
}
