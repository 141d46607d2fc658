//! The HTTP application: routes, and thin handlers that authenticate, record, apply the script
//! queue, then hand the body to the pure per-operation modules.
//!
//! Routes: `GET /` info; `POST /` STS; `POST /model/{id}/{operation}` bedrock-runtime; the
//! bedrock-mantle and `/openai/v1` surfaces (`mantle.rs`);
//! `POST /guardrail/{id}/version/{v}/apply`; `POST /rerank` agent-runtime;
//! `/_emulator/script`, `/_emulator/requests`, `/_emulator/reset`, `/_emulator/guardrails` (no
//! auth; the guardrail policies themselves are `guardrail.rs`).

use crate::answer::compose;
use crate::auth::{authenticate, AuthFailure, AuthInfo, Surface};
use crate::error::BedrockException;
use crate::eventstream;
use crate::invoke::{self, Rendered};
use crate::model::{decode_model_id, family_of};
use crate::record::Recorded;
use crate::script::{parse_script, ScriptAction, ScriptBody, ScriptFrame};
use crate::server::ConnectionControl;
use crate::state::AppState;
use crate::{converse, rerank, stream, sts, validate};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest accepted request body (Bedrock accepts large multimodal requests).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

type AppStateRef = Arc<AppState>;

/// Builds the router around shared state.
pub fn build(state: AppStateRef) -> Router {
    Router::new()
        .route("/", get(info).post(sts_handler))
        .route(
            "/_emulator/script",
            post(script_post).delete(script_delete).get(script_get),
        )
        .route(
            "/_emulator/requests",
            get(requests_get).delete(requests_delete),
        )
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/streams", get(streams_get))
        .route(
            "/_emulator/guardrails",
            get(guardrails_get)
                .post(guardrails_post)
                .delete(guardrails_delete),
        )
        .route("/rerank", post(rerank_handler))
        .merge(crate::mantle::routes())
        .fallback(bedrock_handler)
        .with_state(state)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("JSON serializes");
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-amzn-RequestId", crate::error::request_id())
        .body(Body::from(bytes))
        .expect("valid response")
}

async fn info(State(state): State<AppStateRef>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "service": "shale-emulator",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Amazon Bedrock emulator (bedrock-runtime, bedrock-agent-runtime rerank, STS)",
            "access_key_id": state.config.access_key_id,
            "operations": ["converse","converse-stream","invoke","invoke-with-response-stream","count-tokens","apply-guardrail","rerank","sts"],
            "emulator_routes": ["/_emulator/script","/_emulator/requests","/_emulator/reset","/_emulator/streams","/_emulator/guardrails"],
            "script_pending": state.script_pending(),
        }),
    )
}

pub(crate) async fn read_body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        BedrockException::new(
            "ValidationException",
            "Request body is too large or unreadable.",
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        .into_response()
    })
}

async fn script_post(State(state): State<AppStateRef>, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("invalid JSON: {e}")}),
            )
        }
    };
    match parse_script(&parsed) {
        Ok(items) => {
            let n = items.len();
            state.push_script(items);
            json_response(
                StatusCode::OK,
                &json!({"queued": n, "pending": state.script_pending()}),
            )
        }
        Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
    }
}

async fn script_delete(State(state): State<AppStateRef>) -> Response {
    state.clear_script();
    json_response(StatusCode::OK, &json!({"pending": 0}))
}

async fn script_get(State(state): State<AppStateRef>) -> Response {
    json_response(StatusCode::OK, &json!({"pending": state.script_pending()}))
}

async fn requests_get(State(state): State<AppStateRef>) -> Response {
    json_response(StatusCode::OK, &Value::Array(state.recorded_json()))
}

async fn requests_delete(State(state): State<AppStateRef>) -> Response {
    state.clear_requests();
    json_response(StatusCode::OK, &json!({"cleared": true}))
}

async fn streams_get(State(state): State<AppStateRef>) -> Response {
    json_response(StatusCode::OK, &state.streams.to_json())
}

async fn guardrails_get(State(state): State<AppStateRef>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"guardrails": state.guardrails.list()}),
    )
}

/// Adds or replaces guardrails: `{"guardrails": [Policy…]}` (all or none).
async fn guardrails_post(State(state): State<AppStateRef>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Posted {
        guardrails: Vec<crate::guardrail::Policy>,
    }
    let added = serde_json::from_slice::<Posted>(&body)
        .map_err(|e| format!("invalid guardrails: {e}"))
        .and_then(|p| state.guardrails.add(p.guardrails));
    match added {
        Ok(n) => json_response(StatusCode::OK, &json!({"added": n})),
        Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
    }
}

/// Back to the built-in guardrails (`/_emulator/reset` keeps them as they are).
async fn guardrails_delete(State(state): State<AppStateRef>) -> Response {
    state.guardrails.reset();
    json_response(StatusCode::OK, &json!({"reset": true}))
}

async fn reset(State(state): State<AppStateRef>) -> Response {
    state.clear_requests();
    state.clear_script();
    state.streams.reset();
    json_response(StatusCode::OK, &json!({"reset": true}))
}

pub(crate) fn record(
    state: &AppState,
    parts: &Parts,
    model_id: Option<String>,
    operation: &'static str,
    body: &Bytes,
    auth: AuthInfo,
) {
    state.record(Recorded {
        method: parts.method.clone(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        model_id,
        operation,
        headers: parts.headers.clone(),
        body: body.clone(),
        auth,
    });
}

/// The next scripted action for `operation`, once its delay has passed (`Default` when nothing
/// is scripted); `Err` with the broken response when the script drops the connection.
pub(crate) async fn scripted_action(
    state: &AppState,
    operation: &str,
    parts: &Parts,
) -> Result<ScriptAction, Response> {
    let Some(item) = state.take_script(operation) else {
        return Ok(ScriptAction::Default);
    };
    if let Some(d) = item.delay {
        tokio::time::sleep(d).await;
    }
    match item.action {
        ScriptAction::Drop => Err(drop_connection(parts).await),
        action => Ok(action),
    }
}

/// A scripted body as the response: JSON content type, a request id, the script's headers.
pub(crate) fn scripted_body(scripted: &ScriptBody) -> Response {
    let mut builder = Response::builder()
        .status(scripted.status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-amzn-RequestId", crate::error::request_id());
    for (k, v) in &scripted.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(Body::from(scripted.bytes()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Closes the connection without a response (or breaks the body when served without
/// [`crate::spawn`]'s connection control).
async fn drop_connection(parts: &Parts) -> Response {
    if let Some(control) = parts.extensions.get::<ConnectionControl>() {
        control.kill();
        std::future::pending::<()>().await;
    }
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from_stream(futures::stream::once(async {
            Err::<Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "scripted drop",
            ))
        })))
        .expect("valid response")
}

async fn sts_handler(State(state): State<AppStateRef>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form = sts::parse_form(&body);
    let action = form.get("Action").map(String::as_str).unwrap_or("");
    let auth = if sts::needs_signature(action) {
        authenticate(&state, Surface::Sts, &parts, &body)
    } else {
        Ok(AuthInfo::none())
    };
    record(
        &state,
        &parts,
        None,
        "sts",
        &body,
        auth.clone().unwrap_or_else(|_| AuthInfo::none()),
    );
    let auth = match auth {
        Ok(a) => a,
        Err(e) => {
            let (code, message) = e.code_and_message(true);
            let status = if code == "IncompleteSignatureException" {
                400
            } else {
                403
            };
            return sts::error_response(status, code, &message);
        }
    };
    match scripted_action(&state, "sts", &parts).await {
        Err(dropped) => return dropped,
        Ok(ScriptAction::Error(e)) => return sts::error_response(e.status(), &e.kind, &e.message),
        Ok(ScriptAction::Body(b)) => {
            let text = String::from_utf8_lossy(&b.bytes()).into_owned();
            return sts::xml_response(b.status, text);
        }
        // `Drop` was answered by `scripted_action`.
        Ok(ScriptAction::Default | ScriptAction::Drop | ScriptAction::Stream(_)) => {}
    }
    sts::handle(&state, &form, auth.access_key_id.as_deref())
}

async fn rerank_handler(State(state): State<AppStateRef>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let auth = authenticate(&state, Surface::AgentRuntime, &parts, &body);
    finish(state, parts, body, auth, None, "rerank").await
}

/// The `{guardrailVersion}` of `/guardrail/{id}/version/{v}/apply`.
fn guardrail_version(path: &str) -> &str {
    path.rsplit_once("/version/")
        .map_or("", |(_, tail)| tail.trim_end_matches("/apply"))
}

/// Splits `/model/{id}/{operation}` (the id may contain unencoded `/` in ARNs).
fn parse_model_path(path: &str) -> Option<(&str, &'static str)> {
    if let Some(rest) = path.strip_prefix("/model/") {
        let (model, op) = rest.rsplit_once('/')?;
        let op = match op {
            "converse" => "converse",
            "converse-stream" => "converse-stream",
            "invoke" => "invoke",
            "invoke-with-response-stream" => "invoke-with-response-stream",
            "count-tokens" => "count-tokens",
            _ => return None,
        };
        return (!model.is_empty()).then_some((model, op));
    }
    let rest = path.strip_prefix("/guardrail/")?;
    let (id, tail) = rest.split_once("/version/")?;
    tail.ends_with("/apply").then_some((id, "apply-guardrail"))
}

async fn bedrock_handler(State(state): State<AppStateRef>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some((raw_id, operation)) =
        parse_model_path(parts.uri.path()).filter(|_| parts.method == Method::POST)
    else {
        record(&state, &parts, None, "unknown", &body, AuthInfo::none());
        return BedrockException::new("UnknownOperationException", "Unknown operation")
            .into_response();
    };
    let model_id = decode_model_id(raw_id);
    let auth = authenticate(&state, Surface::Runtime, &parts, &body);
    finish(state, parts, body, auth, Some(model_id), operation).await
}

/// Records, checks auth, applies latency and script, then answers by default.
async fn finish(
    state: AppStateRef,
    parts: Parts,
    body: Bytes,
    auth: Result<AuthInfo, AuthFailure>,
    model_id: Option<String>,
    operation: &'static str,
) -> Response {
    record(
        &state,
        &parts,
        model_id.clone(),
        operation,
        &body,
        auth.clone().unwrap_or_else(|_| AuthInfo::none()),
    );
    if let Err(e) = auth {
        return e.to_api_error().into_response();
    }
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let model_id = model_id.unwrap_or_default();
    match scripted_action(&state, operation, &parts).await {
        Err(dropped) => return dropped,
        Ok(ScriptAction::Error(e)) => return e.exception().into_response(),
        Ok(ScriptAction::Body(b)) => return scripted_body(&b),
        Ok(ScriptAction::Stream(script)) => {
            let frames = match &script.frames {
                Some(frames) => frames
                    .iter()
                    .map(|f| match f {
                        ScriptFrame::Event {
                            event_type,
                            payload,
                        } => eventstream::padded_event(
                            event_type,
                            &serde_json::to_vec(payload).expect("JSON serializes"),
                        ),
                        ScriptFrame::Chunk(native) => eventstream::encode_chunk(
                            &serde_json::to_vec(native).expect("JSON serializes"),
                        ),
                    })
                    .collect(),
                None => match default_answer(&state, operation, &model_id, &body, true) {
                    Ok(Answered::Frames(frames, _)) => frames,
                    Ok(Answered::Json(resp)) => return resp,
                    Err(e) => return e.into_response(),
                },
            };
            let (frames, ending) = stream::apply_script(frames, &script);
            return stream::response(
                frames,
                ending,
                stream::Pacing::new(state.config.stream_delay, Some(&script)),
                &stream_headers(operation),
                &state.streams,
            );
        }
        // `Drop` was answered by `scripted_action`.
        Ok(ScriptAction::Default | ScriptAction::Drop) => {}
    }
    if operation == "apply-guardrail" {
        let latency_ms = state.config.latency.as_millis() as u64 + 3;
        let answer = parse_json(&body).and_then(|request| {
            crate::guardrail::apply(
                &state.guardrails,
                &model_id,
                guardrail_version(parts.uri.path()),
                &request,
                latency_ms,
            )
        });
        return match answer {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(e) => e.into_response(),
        };
    }
    let streaming = matches!(operation, "converse-stream" | "invoke-with-response-stream");
    match default_answer(&state, operation, &model_id, &body, streaming) {
        Ok(Answered::Json(resp)) => resp,
        Ok(Answered::Frames(frames, headers)) => stream::response(
            frames,
            stream::Ending::Clean,
            stream::Pacing::new(state.config.stream_delay, None),
            &headers,
            &state.streams,
        ),
        Err(e) => e.into_response(),
    }
}

fn stream_headers(operation: &str) -> Vec<(&'static str, String)> {
    if operation == "invoke-with-response-stream" {
        vec![("x-amzn-bedrock-content-type", "application/json".to_owned())]
    } else {
        Vec::new()
    }
}

enum Answered {
    Json(Response),
    Frames(Vec<Bytes>, Vec<(&'static str, String)>),
}

fn parse_json(body: &[u8]) -> Result<Value, BedrockException> {
    serde_json::from_slice(body).map_err(|_| {
        BedrockException::validation(
            "Malformed input request, please reformat your input and try again.",
        )
    })
}

/// The default (unscripted) answer for an operation.
fn default_answer(
    state: &AppState,
    operation: &str,
    model_id: &str,
    body: &[u8],
    stream: bool,
) -> Result<Answered, BedrockException> {
    let latency_ms = state.config.latency.as_millis() as u64 + 12;
    let request = parse_json(body)?;
    match operation {
        "converse" | "converse-stream" => {
            let family = family_of(model_id)?;
            if !family.supports_converse() {
                return Err(BedrockException::validation("This action doesn't support the model that you provided. Try again with a supported text or chat model."));
            }
            validate::converse(family, &request)?;
            let info = converse::prompt_info(model_id, family, &request);
            let answer = compose(&info, state);
            if stream {
                Ok(Answered::Frames(
                    converse::stream_frames(&answer, latency_ms),
                    Vec::new(),
                ))
            } else {
                Ok(Answered::Json(json_response(
                    StatusCode::OK,
                    &converse::response_body(&answer, &request, latency_ms),
                )))
            }
        }
        "invoke" | "invoke-with-response-stream" => {
            let outcome = invoke::invoke(state, model_id, &request, stream)?;
            match outcome.rendered {
                Rendered::Body(b) => {
                    let mut resp = json_response(StatusCode::OK, &b);
                    let h = resp.headers_mut();
                    h.insert(
                        "x-amzn-bedrock-invocation-latency",
                        HeaderValue::from(latency_ms),
                    );
                    h.insert(
                        "x-amzn-bedrock-input-token-count",
                        HeaderValue::from(outcome.input_tokens),
                    );
                    h.insert(
                        "x-amzn-bedrock-output-token-count",
                        HeaderValue::from(outcome.output_tokens),
                    );
                    Ok(Answered::Json(resp))
                }
                Rendered::Chunks(mut chunks) => {
                    if let Some(Value::Object(last)) = chunks.last_mut() {
                        last.insert(
                            "amazon-bedrock-invocationMetrics".into(),
                            json!({"inputTokenCount": outcome.input_tokens, "outputTokenCount": outcome.output_tokens,
                                "invocationLatency": latency_ms, "firstByteLatency": latency_ms / 2 + 1}),
                        );
                    }
                    let frames = chunks
                        .iter()
                        .map(|c| {
                            eventstream::encode_chunk(
                                &serde_json::to_vec(c).expect("JSON serializes"),
                            )
                        })
                        .collect();
                    Ok(Answered::Frames(frames, stream_headers(operation)))
                }
            }
        }
        "count-tokens" => Ok(Answered::Json(json_response(
            StatusCode::OK,
            &invoke::count_tokens(model_id, &request)?,
        ))),
        "rerank" => Ok(Answered::Json(json_response(
            StatusCode::OK,
            &rerank::agent_rerank(&request)?,
        ))),
        _ => Err(BedrockException::new(
            "UnknownOperationException",
            "Unknown operation",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths() {
        assert_eq!(
            parse_model_path("/model/a.b-v1%3A0/converse"),
            Some(("a.b-v1%3A0", "converse"))
        );
        assert_eq!(
            parse_model_path(
                "/model/arn:aws:bedrock:us-east-1:1:application-inference-profile/abc/invoke"
            ),
            Some((
                "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc",
                "invoke"
            ))
        );
        assert_eq!(parse_model_path("/model/x/explode"), None);
        assert_eq!(
            parse_model_path("/guardrail/g1/version/1/apply"),
            Some(("g1", "apply-guardrail"))
        );
        assert_eq!(
            guardrail_version("/guardrail/g1/version/DRAFT/apply"),
            "DRAFT"
        );
    }
}
