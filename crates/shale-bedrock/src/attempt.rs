//! One trace span per Bedrock attempt (OpenTelemetry client span, HTTP client and GenAI semantic
//! conventions), so retries show as sibling spans under the request's server span. The spans are
//! plain `tracing` spans with the target `shale::otel`: when no trace exporter is installed no
//! subscriber wants them and they cost one cached interest check. Integers are recorded as `i64`
//! (the OpenTelemetry layer would turn `u64` into text). Nothing else lives here.

use crate::error::BedrockError;
use crate::target::Target;
use tracing::Span;
use url::Url;

/// The span of one attempt against `url` (its last path segment names the operation).
pub(crate) fn span(target: &Target, url: &Url) -> Span {
    let operation = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    let rpc_method = match operation {
        "converse" => "Converse",
        "converse-stream" => "ConverseStream",
        "invoke" => "InvokeModel",
        "invoke-with-response-stream" => "InvokeModelWithResponseStream",
        "count-tokens" => "CountTokens",
        "rerank" => "Rerank",
        "apply" => "ApplyGuardrail",
        _ => "Other",
    };
    let gen_ai_operation = match operation {
        o if o.starts_with("converse") => "chat",
        "apply" => "apply_guardrail",
        o => o,
    };
    tracing::info_span!(
        target: "shale::otel",
        "bedrock.attempt",
        otel.name = %format_args!("{rpc_method} {}", target.model_id()),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        gen_ai.system = "aws.bedrock",
        gen_ai.provider.name = "aws.bedrock",
        gen_ai.operation.name = gen_ai_operation,
        gen_ai.request.model = %target.model_id(),
        rpc.system = "aws-api",
        rpc.service = "BedrockRuntime",
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

/// Records an attempt that got no HTTP answer (or an error answer already classified).
pub(crate) fn failed(span: &Span, error: &BedrockError) {
    let status = error.http_status();
    span.record("http.response.status_code", i64::from(status));
    span.record("error.type", status.to_string());
    span.record("otel.status_code", "ERROR");
}
