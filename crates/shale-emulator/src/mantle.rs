//! Bedrock's HTTP surfaces beside the runtime model API, as faithfully as their public record
//! allows (`../shared/reference/bedrock-openai-endpoints.md`):
//! - bedrock-mantle: `POST /v1/chat/completions`, `/v1/responses`, `/openai/v1/chat/completions`,
//!   `/openai/v1/responses`, `/anthropic/v1/messages` (+ `/count_tokens`), `GET /v1/models`;
//!   SigV4 service `bedrock-mantle` (a sent `x-amz-content-sha256` must match the body) or a
//!   Bedrock API key; bare model ids only;
//! - bedrock-runtime's `POST /openai/v1/chat/completions` and `/openai/v1/responses`: SigV4
//!   `bedrock` or a key; inference-profile or versioned ids (GPT-5 needs a profile); hosted tools
//!   and `background` refused; unknown body members refused.
//!
//! One path per model (Mantle answers a model on exactly one path prefix and 400s on the others:
//! [`routes_of`]); errors are OpenAI's `{"error": {…}}` (Anthropic's shape on `/anthropic`); streams
//! are server-sent events, and a chat stream's usage comes in its own chunk *after* the finish
//! chunk, only when `stream_options.include_usage` asks. Which host a request is for: the `Host`
//! header names it (`bedrock-mantle.*` / `bedrock-runtime.*`); on a bare address, `/v1` and
//! `/anthropic` paths are Mantle's, and on `/openai/v1` a profile or versioned id means
//! bedrock-runtime, a bare id bedrock-mantle.
//!
//! Scripts (`/_emulator/script`) apply with the operations `mantle-chat`, `mantle-responses`,
//! `mantle-messages`, `mantle-count-tokens`, `openai-chat`, `openai-responses` (runtime).
//!
//! Must not: answer Converse or InvokeModel (`app.rs`), or know anything of the gateway.

use crate::answer::{compose, Answer, PromptInfo, StopReason};
use crate::app::{read_body, record, scripted_action, scripted_body};
use crate::auth::{authenticate, AuthFailure, AuthInfo, Surface};
use crate::error::{normalize_exception_name, status_for};
use crate::invoke::{openai_chunks, openai_completion, openai_prompt, openai_tools, openai_usage};
use crate::script::ScriptAction;
use crate::state::AppState;
use crate::stream::{self, Ending, Pacing};
use crate::{anthropic, converse::text_chars, text};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use http::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

type AppStateRef = Arc<AppState>;

/// The surface routes, merged into the emulator's router.
pub fn routes() -> Router<AppStateRef> {
    Router::new()
        .route("/v1/chat/completions", on(Path::V1Chat))
        .route("/v1/responses", on(Path::V1Responses))
        .route("/openai/v1/chat/completions", on(Path::OpenAiChat))
        .route("/openai/v1/responses", on(Path::OpenAiResponses))
        .route("/anthropic/v1/messages", on(Path::Messages))
        .route("/anthropic/v1/messages/count_tokens", on(Path::CountTokens))
        .route("/v1/models", get(models))
}

/// `POST` of one of the paths, answered by [`handle`].
fn on(path: Path) -> MethodRouter<AppStateRef> {
    post(move |state: State<AppStateRef>, req: Request| handle(state, req, path))
}

/// The host a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Mantle,
    Runtime,
}

/// One of the paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    V1Chat,
    V1Responses,
    OpenAiChat,
    OpenAiResponses,
    Messages,
    CountTokens,
}

impl Path {
    fn anthropic(self) -> bool {
        matches!(self, Path::Messages | Path::CountTokens)
    }

    fn operation(self, host: Host) -> &'static str {
        match (host, self) {
            (Host::Runtime, Path::OpenAiChat | Path::V1Chat) => "openai-chat",
            (Host::Runtime, _) => "openai-responses",
            (Host::Mantle, Path::V1Chat | Path::OpenAiChat) => "mantle-chat",
            (Host::Mantle, Path::V1Responses | Path::OpenAiResponses) => "mantle-responses",
            (Host::Mantle, Path::Messages) => "mantle-messages",
            (Host::Mantle, Path::CountTokens) => "mantle-count-tokens",
        }
    }
}

/// An error in the surface's own shape.
struct SurfaceError {
    status: StatusCode,
    /// OpenAI `code` (Anthropic bodies have none).
    code: &'static str,
    message: String,
}

fn err(status: u16, code: &'static str, message: impl Into<String>) -> SurfaceError {
    SurfaceError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
        message: message.into(),
    }
}

/// The OpenAI error `code` of a status.
fn code_for(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_exceeded",
        500..=599 => "internal_error",
        403 => "access_denied",
        404 => "model_not_found",
        _ => "validation_error",
    }
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn with_request_id(builder: http::response::Builder) -> http::response::Builder {
    builder.header("x-amzn-RequestId", crate::error::request_id())
}

impl SurfaceError {
    fn body(&self, anthropic: bool) -> Value {
        if anthropic {
            json!({"type": "error", "error": {"type": anthropic_type(self.status), "message": self.message}})
        } else {
            json!({"error": {"code": self.code, "message": self.message, "param": null,
                "type": openai_type(self.status)}})
        }
    }

    fn response(&self, anthropic: bool) -> Response {
        json_answer(self.status, &self.body(anthropic))
    }
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    with_request_id(Response::builder().status(status))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::to_vec(body).expect("JSON serialises"),
        ))
        .expect("valid response")
}

fn auth_error(f: &AuthFailure) -> SurfaceError {
    let (code, message) = f.code_and_message(false);
    let status = if code == "MissingAuthenticationTokenException"
        || code == "IncompleteSignatureException"
    {
        401
    } else {
        403
    };
    let code = if status == 401 {
        "unauthorized"
    } else {
        "invalid_signature"
    };
    err(status, code, message)
}

fn host_of(parts: &http::request::Parts, path: Path, model: &str) -> Host {
    let header = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if header.starts_with("bedrock-mantle.") {
        return Host::Mantle;
    }
    if header.starts_with("bedrock-runtime.") {
        return Host::Runtime;
    }
    match path {
        Path::OpenAiChat | Path::OpenAiResponses if is_profile_or_versioned(model) => Host::Runtime,
        _ => Host::Mantle,
    }
}

const GEO_PREFIXES: &[&str] = &[
    "us.", "eu.", "apac.", "global.", "jp.", "au.", "us-gov.", "ca.",
];

fn geo_prefixed(model: &str) -> bool {
    GEO_PREFIXES.iter().any(|p| model.starts_with(p))
}

fn versioned(model: &str) -> bool {
    model
        .rsplit_once(':')
        .is_some_and(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

fn is_profile_or_versioned(model: &str) -> bool {
    geo_prefixed(model) || versioned(model) || model.starts_with("arn:")
}

/// Chat model providers Mantle serves on `/v1/chat/completions`.
const CHAT_PROVIDERS: &[&str] = &[
    "mistral.",
    "nvidia.",
    "qwen.",
    "deepseek.",
    "google.",
    "minimax.",
    "moonshot",
    "zai.",
    "writer.",
    "openai.",
];

/// The paths a model is served on, per host (the emulator's own table of what AWS documents).
fn routes_of(host: Host, model: &str) -> Result<&'static [Path], SurfaceError> {
    let not_found = || {
        err(
            404,
            "model_not_found",
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
    };
    match host {
        Host::Mantle => {
            if is_profile_or_versioned(model) {
                return Err(not_found());
            }
            Ok(if model.starts_with("anthropic.") {
                &[Path::Messages, Path::CountTokens]
            } else if model.starts_with("openai.gpt-oss-safeguard") {
                &[Path::V1Chat]
            } else if model.starts_with("openai.gpt-oss") {
                &[Path::V1Chat, Path::V1Responses]
            } else if model.starts_with("openai.gpt-5")
                || model.starts_with("openai.gpt-6")
                || model.starts_with("google.gemma-4")
                || model.starts_with("xai.")
            {
                &[Path::OpenAiResponses]
            } else if CHAT_PROVIDERS.iter().any(|p| model.starts_with(p)) {
                &[Path::V1Chat]
            } else {
                return Err(not_found());
            })
        }
        Host::Runtime => {
            let base = GEO_PREFIXES
                .iter()
                .find_map(|p| model.strip_prefix(p))
                .unwrap_or(model);
            if base.starts_with("openai.gpt-5") || base.starts_with("openai.gpt-6") {
                if !geo_prefixed(model) && !model.starts_with("arn:") {
                    return Err(err(400, "validation_error", format!(
                        "Invocation of model ID {model} with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.")));
                }
                return Ok(&[Path::OpenAiChat, Path::OpenAiResponses]);
            }
            if base.starts_with("openai.gpt-oss") {
                return Ok(&[Path::OpenAiChat, Path::OpenAiResponses]);
            }
            Err(err(
                400,
                "validation_error",
                format!("model `{model}` isn't supported on this route"),
            ))
        }
    }
}

/// Members an OpenAI chat body may carry (bedrock-runtime refuses any other; Mantle also takes
/// `top_k`).
const CHAT_KEYS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "user",
    "seed",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "metadata",
    "store",
    "service_tier",
    "modalities",
    "prediction",
    "audio",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
    "functions",
    "function_call",
];

/// Tool types bedrock-runtime's Responses path accepts.
const RUNTIME_TOOLS: &[&str] = &[
    "function",
    "mcp",
    "custom",
    "apply_patch",
    "namespace",
    "tool_search",
    "computer",
];

async fn models(State(state): State<AppStateRef>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = read_body(body).await.unwrap_or_default();
    let auth = authenticate(&state, Surface::Mantle, &parts, &body);
    record(
        &state,
        &parts,
        None,
        "mantle-models",
        &body,
        auth.clone().unwrap_or_else(|_| AuthInfo::none()),
    );
    if let Err(f) = auth {
        return auth_error(&f).response(false);
    }
    let ids = [
        "openai.gpt-oss-120b",
        "openai.gpt-oss-20b",
        "openai.gpt-oss-safeguard-120b",
        "openai.gpt-5.5",
        "google.gemma-4-27b",
        "qwen.qwen3-coder-30b-a3b-instruct",
        "mistral.magistral-small-2509",
        "anthropic.claude-opus-4-8",
        "anthropic.claude-mythos-preview",
    ];
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_767_225_600, "owned_by": "system"}))
        .collect();
    json_answer(StatusCode::OK, &json!({"object": "list", "data": data}))
}

async fn handle(State(state): State<AppStateRef>, req: Request, path: Path) -> Response {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return err(
                400,
                "invalid_json",
                "We could not parse the JSON body of your request.",
            )
            .response(path.anthropic())
        }
    };
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let host = host_of(&parts, path, &model);
    let operation = path.operation(host);
    let surface = match host {
        Host::Mantle => Surface::Mantle,
        Host::Runtime => Surface::Runtime,
    };
    let auth = authenticate(&state, surface, &parts, &body).and_then(|a| {
        content_hash_matches(&parts, &body, host)
            .then_some(a)
            .ok_or(AuthFailure::SigV4(crate::sigv4::SigV4Error::Mismatch))
    });
    record(
        &state,
        &parts,
        (!model.is_empty()).then(|| model.clone()),
        operation,
        &body,
        auth.clone().unwrap_or_else(|_| AuthInfo::none()),
    );
    if let Err(f) = auth {
        return auth_error(&f).response(path.anthropic());
    }
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let stream_script = match scripted_action(&state, operation, &parts).await {
        Err(dropped) => return dropped,
        Ok(ScriptAction::Error(e)) => {
            let status = e.status();
            return err(status, code_for(status), e.message).response(path.anthropic());
        }
        Ok(ScriptAction::Body(b)) => return scripted_body(&b),
        Ok(ScriptAction::Stream(s)) => Some(s),
        Ok(ScriptAction::Default | ScriptAction::Drop) => None,
    };
    match answer(&state, &parts, host, path, &model, &request) {
        Ok(Answered::Json(v)) => json_answer(StatusCode::OK, &v),
        Ok(Answered::Events(events)) => {
            let (frames, ending) = match &stream_script {
                Some(s) => apply_stream_script(events, s, path.anthropic()),
                None => (events, Ending::Clean),
            };
            let body = stream::body(
                frames,
                ending,
                Pacing::new(state.config.stream_delay, stream_script.as_ref()),
                &state.streams,
            );
            with_request_id(Response::builder().status(200))
                .header(http::header::CONTENT_TYPE, "text/event-stream")
                .header(http::header::CACHE_CONTROL, "no-cache")
                .body(body)
                .expect("valid stream response")
        }
        Err(e) => e.response(path.anthropic()),
    }
}

/// Mantle checks the payload hash a request sends (it is what was signed).
fn content_hash_matches(parts: &http::request::Parts, body: &[u8], host: Host) -> bool {
    if host != Host::Mantle {
        return true;
    }
    match parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(sent) => sent.eq_ignore_ascii_case(&hex::encode(Sha256::digest(body))),
    }
}

/// A scripted stream: `exception_after` events then an error event, or `cut_after` events then a
/// broken body.
fn apply_stream_script(
    mut events: Vec<Bytes>,
    s: &crate::script::StreamScript,
    anthropic: bool,
) -> (Vec<Bytes>, Ending) {
    if let Some(n) = s.exception_after {
        events.truncate(n);
        let (kind, message) = s.exception.clone().unwrap_or_else(|| {
            (
                "internalServerException".into(),
                "Scripted stream error from the shale emulator.".into(),
            )
        });
        let status = status_for(&normalize_exception_name(&kind)).as_u16();
        let e = err(status, code_for(status), message);
        let frame = if anthropic {
            sse_event(Some("error"), &e.body(true))
        } else {
            sse_event(None, &e.body(false))
        };
        events.push(frame);
        return (events, Ending::Clean);
    }
    if let Some(n) = s.cut_after {
        if n < events.len() {
            let partial = events[n].slice(..events[n].len() / 2);
            events.truncate(n);
            events.push(partial);
        }
        return (events, Ending::Abort);
    }
    (events, Ending::Clean)
}

enum Answered {
    Json(Value),
    /// Server-sent events, one `Bytes` each.
    Events(Vec<Bytes>),
}

fn sse_event(name: Option<&str>, data: &Value) -> Bytes {
    let mut out = String::new();
    if let Some(name) = name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&serde_json::to_string(data).expect("JSON serialises"));
    out.push_str("\n\n");
    Bytes::from(out)
}

/// One request to a model, as the API handlers below read it.
struct Ask<'a> {
    state: &'a AppState,
    parts: &'a http::request::Parts,
    host: Host,
    model: &'a str,
    request: &'a Value,
    stream: bool,
}

fn answer(
    state: &AppState,
    parts: &http::request::Parts,
    host: Host,
    path: Path,
    model: &str,
    request: &Value,
) -> Result<Answered, SurfaceError> {
    if model.is_empty() {
        return Err(err(400, "validation_error", "model: Field required"));
    }
    let served = routes_of(host, model)?;
    if !served.contains(&path) {
        let api = match path {
            Path::V1Chat | Path::OpenAiChat => "/v1/chat/completions",
            Path::V1Responses | Path::OpenAiResponses => "/v1/responses",
            Path::Messages | Path::CountTokens => "/v1/messages",
        };
        return Err(err(
            400,
            "validation_error",
            format!("The model '{model}' does not support the '{api}' API"),
        ));
    }
    let ask = Ask {
        state,
        parts,
        host,
        model,
        request,
        stream: request
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    match path {
        Path::V1Chat | Path::OpenAiChat => chat(&ask),
        Path::V1Responses | Path::OpenAiResponses => responses(&ask),
        Path::Messages => anthropic_messages(&ask),
        Path::CountTokens => {
            let info = anthropic::prompt_info(model, &as_invoke_body(request));
            Ok(Answered::Json(json!({"input_tokens": info.input_tokens})))
        }
    }
}

fn chat(ask: &Ask<'_>) -> Result<Answered, SurfaceError> {
    if let Some(obj) = ask.request.as_object() {
        for key in obj.keys() {
            let allowed =
                CHAT_KEYS.contains(&key.as_str()) || (ask.host == Host::Mantle && key == "top_k");
            if !allowed {
                return Err(err(
                    400,
                    "unknown_parameter",
                    format!("Unknown parameter: '{key}'."),
                ));
            }
        }
    }
    if ask
        .request
        .get("stream_options")
        .is_some_and(|o| !o.is_null())
        && !ask.stream
    {
        return Err(err(
            400,
            "invalid_value",
            "stream_options: only allowed when stream is true",
        ));
    }
    let (info, id) = openai_prompt(ask.model, ask.request)
        .map_err(|e| err(400, "validation_error", e.message))?;
    let answer = compose(&info, ask.state);
    if !ask.stream {
        return Ok(Answered::Json(openai_completion(
            &answer, &id, ask.model, false,
        )));
    }
    let include_usage = ask
        .request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut chunks = openai_chunks(&answer, &id, ask.model);
    // Mantle: the finish chunk carries no usage; the usage chunk follows it, when asked for.
    if let Some(last) = chunks.last_mut().and_then(Value::as_object_mut) {
        last.remove("usage");
    }
    if include_usage {
        chunks.push(
            json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": ask.model, "choices": [], "usage": openai_usage(&answer)}),
        );
    }
    let mut events: Vec<Bytes> = chunks.iter().map(|c| sse_event(None, c)).collect();
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Ok(Answered::Events(events))
}

fn responses_prompt(model: &str, request: &Value) -> Result<PromptInfo, SurfaceError> {
    let input = request.get("input").cloned().unwrap_or(Value::Null);
    let items: Vec<Value> = match &input {
        Value::String(s) => vec![json!({"role": "user", "content": s})],
        Value::Array(items) => items.clone(),
        _ => return Err(err(400, "validation_error", "input: Field required")),
    };
    let last_user = text::last_user_text(&items);
    let mut info = PromptInfo::text_only(
        model,
        &last_user,
        (text_chars(&input) + text_chars(request.get("instructions").unwrap_or(&Value::Null)))
            .div_ceil(4)
            .max(1),
    );
    info.max_tokens = request.get("max_output_tokens").and_then(Value::as_u64);
    info.thinking = request.get("reasoning").is_some_and(|r| !r.is_null());
    (info.tools, info.tool_choice) = openai_tools(request, false);
    info.tool_results = items
        .iter()
        .rev()
        .take_while(|i| i.get("type").and_then(Value::as_str) == Some("function_call_output"))
        .count();
    info.json_schema = request.pointer("/text/format/schema").cloned();
    Ok(info)
}

fn responses(ask: &Ask<'_>) -> Result<Answered, SurfaceError> {
    if ask.host == Host::Runtime {
        if ask.request.get("background").and_then(Value::as_bool) == Some(true) {
            return Err(err(
                400,
                "invalid_value",
                "The background parameter is not supported.",
            ));
        }
        for t in ask
            .request
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
            if !RUNTIME_TOOLS.contains(&kind) {
                return Err(err(400, "invalid_value", format!(
                    "Tool type '{kind}' is not supported for this request. Supported tool types: {}.",
                    RUNTIME_TOOLS.join(", "))));
            }
        }
    }
    let info = responses_prompt(ask.model, ask.request)?;
    let answer = compose(&info, ask.state);
    let seed =
        text::stable_hash(info.last_user_text.as_bytes()) ^ text::stable_hash(ask.model.as_bytes());
    let id = text::stable_id(seed, 32);
    let full = response_object(&answer, &id, ask.model, ask.request, true);
    if !ask.stream {
        return Ok(Answered::Json(full));
    }
    Ok(Answered::Events(response_events(
        &answer,
        &id,
        ask.model,
        ask.request,
        full,
    )))
}

fn usage_json(answer: &Answer) -> Value {
    let cached = answer.usage.cache_read.unwrap_or(0);
    let input = answer.usage.input + cached + answer.usage.cache_write.unwrap_or(0);
    let reasoning = answer
        .reasoning
        .as_ref()
        .map_or(0, |r| text::word_tokens(&r.text));
    json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": answer.usage.output, "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input + answer.usage.output})
}

fn output_items(answer: &Answer, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(r) = &answer.reasoning {
        out.push(json!({"id": format!("rs_{id}"), "type": "reasoning",
            "summary": [{"type": "summary_text", "text": r.text}]}));
    }
    if let Some(t) = &answer.text {
        out.push(json!({"id": format!("msg_{id}"), "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": t, "annotations": []}]}));
    }
    if let Some(t) = &answer.tool_use {
        out.push(json!({"id": format!("fc_{id}"), "type": "function_call", "status": "completed",
            "call_id": format!("call_{}", t.id_suffix), "name": t.name, "arguments": t.input.to_string()}));
    }
    out
}

fn response_object(answer: &Answer, id: &str, model: &str, request: &Value, done: bool) -> Value {
    let incomplete = answer.stop_reason == StopReason::MaxTokens;
    let status = match (done, incomplete) {
        (false, _) => "in_progress",
        (true, true) => "incomplete",
        (true, false) => "completed",
    };
    let field = |k: &str| request.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": format!("resp_{id}"), "object": "response", "created_at": 1_767_225_600,
        "status": status, "background": false, "error": null,
        "incomplete_details": if done && incomplete { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "instructions": field("instructions"), "max_output_tokens": field("max_output_tokens"),
        "model": model, "output": if done { json!(output_items(answer, id)) } else { json!([]) },
        "parallel_tool_calls": request.get("parallel_tool_calls").cloned().unwrap_or(json!(true)),
        "previous_response_id": null, "reasoning": field("reasoning"),
        "store": request.get("store").cloned().unwrap_or(json!(true)),
        "temperature": request.get("temperature").cloned().unwrap_or(json!(1.0)),
        "text": request.get("text").cloned().unwrap_or(json!({"format": {"type": "text"}})),
        "tool_choice": request.get("tool_choice").cloned().unwrap_or(json!("auto")),
        "tools": request.get("tools").cloned().unwrap_or(json!([])),
        "top_p": request.get("top_p").cloned().unwrap_or(json!(1.0)),
        "truncation": "disabled",
        "usage": if done { usage_json(answer) } else { Value::Null },
        "metadata": request.get("metadata").cloned().unwrap_or(json!({})),
    })
}

fn response_events(
    answer: &Answer,
    id: &str,
    model: &str,
    request: &Value,
    full: Value,
) -> Vec<Bytes> {
    let mut seq = 0u64;
    let mut events = Vec::new();
    let mut push = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        events.push(sse_event(Some(name), &data));
    };
    let start = response_object(answer, id, model, request, false);
    push("response.created", json!({"response": start.clone()}));
    push("response.in_progress", json!({"response": start}));
    for (index, item) in output_items(answer, id).into_iter().enumerate() {
        let item_id = item["id"].clone();
        match item["type"].as_str().unwrap_or("") {
            "reasoning" => {
                let text_full = item["summary"][0]["text"].as_str().unwrap_or("").to_owned();
                push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": {"id": item_id, "type": "reasoning", "summary": []}}),
                );
                push_text_part(&mut push, &item_id, index, TextPart::Summary, &text_full);
            }
            "message" => {
                let text_full = item["content"][0]["text"].as_str().unwrap_or("").to_owned();
                push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}}),
                );
                push_text_part(&mut push, &item_id, index, TextPart::Output, &text_full);
            }
            _ => {
                let arguments = item["arguments"].as_str().unwrap_or("").to_owned();
                let mut added = item.clone();
                added["arguments"] = json!("");
                added["status"] = json!("in_progress");
                push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": added}),
                );
                for fragment in text::split_chars(&arguments, 2) {
                    push(
                        "response.function_call_arguments.delta",
                        json!({"item_id": item_id, "output_index": index, "delta": fragment}),
                    );
                }
                push(
                    "response.function_call_arguments.done",
                    json!({"item_id": item_id, "output_index": index, "arguments": arguments}),
                );
            }
        }
        push(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }
    let name = if full["status"] == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    push(name, json!({"response": full}));
    events
}

/// The text part of a streamed output item: a reasoning summary or a message's text.
#[derive(Clone, Copy)]
enum TextPart {
    Summary,
    Output,
}

impl TextPart {
    /// The part's event prefix, its text's event prefix, the part's index key, and into how many
    /// deltas the text is split.
    fn names(self) -> (&'static str, &'static str, &'static str, usize) {
        match self {
            TextPart::Summary => (
                "response.reasoning_summary_part",
                "response.reasoning_summary_text",
                "summary_index",
                2,
            ),
            TextPart::Output => (
                "response.content_part",
                "response.output_text",
                "content_index",
                3,
            ),
        }
    }

    /// The part object holding `text`.
    fn part(self, text: &str) -> Value {
        match self {
            TextPart::Summary => json!({"type": "summary_text", "text": text}),
            TextPart::Output => json!({"type": "output_text", "text": text, "annotations": []}),
        }
    }
}

/// The events of one text part (the first) of output item `index`: the part added, its text in
/// deltas, the text done, the part done.
fn push_text_part(
    push: &mut impl FnMut(&str, Value),
    item_id: &Value,
    index: usize,
    kind: TextPart,
    text_full: &str,
) {
    let (part_event, text_event, index_key, deltas) = kind.names();
    let event = |key: &str, value: Value| {
        let mut data = json!({"item_id": item_id, "output_index": index});
        data[index_key] = json!(0);
        data[key] = value;
        data
    };
    push(&format!("{part_event}.added"), event("part", kind.part("")));
    for piece in text::split_for_stream(text_full, deltas) {
        push(&format!("{text_event}.delta"), event("delta", json!(piece)));
    }
    push(
        &format!("{text_event}.done"),
        event("text", json!(text_full)),
    );
    push(
        &format!("{part_event}.done"),
        event("part", kind.part(text_full)),
    );
}

/// A Messages API body as the Claude invoke body the emulator's Claude rules read.
fn as_invoke_body(request: &Value) -> Value {
    let mut body = request.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("model");
        o.remove("stream");
        o.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
    }
    body
}

fn anthropic_messages(ask: &Ask<'_>) -> Result<Answered, SurfaceError> {
    if ask.parts.headers.get("anthropic-version").is_none() {
        return Err(err(
            400,
            "validation_error",
            "anthropic-version: header is required",
        ));
    }
    if ask.request.get("anthropic_version").is_some() {
        return Err(err(
            400,
            "validation_error",
            "anthropic_version: Extra inputs are not permitted",
        ));
    }
    let body = as_invoke_body(ask.request);
    anthropic::validate(&body).map_err(|e| err(400, "validation_error", e.message))?;
    let info = anthropic::prompt_info(ask.model, &body);
    let answer = compose(&info, ask.state);
    if !ask.stream {
        let mut message = anthropic::response_body(&answer, ask.model);
        message["model"] = json!(ask.model);
        return Ok(Answered::Json(message));
    }
    let events = anthropic::stream_events(&answer, ask.model)
        .into_iter()
        .map(|mut e| {
            if let Some(m) = e.get_mut("message") {
                m["model"] = json!(ask.model);
            }
            let name = e["type"].as_str().unwrap_or("message").to_owned();
            sse_event(Some(&name), &e)
        })
        .collect();
    Ok(Answered::Events(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_path_per_model() {
        assert_eq!(
            routes_of(Host::Mantle, "openai.gpt-oss-120b").ok(),
            Some(&[Path::V1Chat, Path::V1Responses][..])
        );
        assert_eq!(
            routes_of(Host::Mantle, "openai.gpt-5.5").ok(),
            Some(&[Path::OpenAiResponses][..])
        );
        assert_eq!(
            routes_of(Host::Mantle, "anthropic.claude-opus-4-8").ok(),
            Some(&[Path::Messages, Path::CountTokens][..])
        );
        assert_eq!(
            routes_of(Host::Mantle, "us.anthropic.claude-opus-4-8")
                .err()
                .map(|e| e.status.as_u16()),
            Some(404)
        );
        assert_eq!(
            routes_of(Host::Runtime, "openai.gpt-5.5")
                .err()
                .map(|e| e.status.as_u16()),
            Some(400)
        );
        assert!(routes_of(Host::Runtime, "us.openai.gpt-5.5").is_ok());
        assert!(routes_of(Host::Runtime, "openai.gpt-oss-20b-1:0").is_ok());
    }
}
