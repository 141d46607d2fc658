//! Golden fixtures for Bedrock's OpenAI-compatible and Anthropic surfaces (bedrock-mantle,
//! bedrock-runtime's `/openai/v1`), one directory per case under `tests/fixtures/surface/`, each
//! with a `case.json`: `{"direction", "model_id", "model_name", "defaults"?, "runtime"?,
//! "keep"?}`. Directions and files:
//! - `chat->chat`, `chat->responses`, `chat->messages`, `responses->responses`,
//!   `messages->messages`, `messages->chat`, `messages->responses`;
//! - `request.json` (+ `history.json` for Responses) → `upstream_request.json` (the bytes sent,
//!   parsed in order; `messages->*` also `chat_request.json`, `messages->messages`
//!   `count_tokens_request.json`; the `anthropic-beta` header in `upstream_headers.json`);
//! - `answer.json` (the surface's answer) → `client_answer.json` (what the client gets, plus
//!   `usage` / `finish_reasons` the gateway records for relays, in `recorded.json`);
//! - `stream.sse` (the surface's server-sent events, verbatim) → `client_stream.json` (the
//!   client's events as `{event, data}`) and the usage recorded in `recorded.json`.
//!
//! Streams are decoded with shale-bedrock's SSE decoder, as the gateway does. The completion id
//! is `chatcmpl-test`, the message id `msg_test`, `created` fixed. `SHALE_BLESS=1` rewrites the
//! expected files.

mod common;
use common::{check, error_answer, plain_chat_context, read_json, run_golden, CREATED, ID};

use std::path::Path;

use bytes::BytesMut;
use serde_json::{json, Map, Value};
use shale_bedrock::sse::SseCodec;
use shale_translate::chat::EventTranslator;
use shale_translate::completion::ChatChunk;
use shale_translate::invoke::{invoke_to_chat, InvokeFamily};
use shale_translate::messages::{
    BetaPolicy, MessagesContext, MessagesRequest, MessagesResponseContext, MessagesStream,
};
use shale_translate::responses::{input_items, ResponsesRequest};
use shale_translate::surface::{
    anthropic, chat, from_responses, messages_chat, messages_relay, responses_relay, to_responses,
};
use shale_translate::{
    ChatRequest, FetchedMedia, JsonMode, ModelCaps, ResponseContext, ToolNameMap,
};
use tokio_util::codec::Decoder;

fn sse_events(dir: &Path) -> Option<Vec<(String, Vec<u8>)>> {
    let text = std::fs::read(dir.join("stream.sse")).ok()?;
    Some(decode(&text))
}

fn decode(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut codec = SseCodec::new(1 << 20);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(e) = codec.decode_eof(&mut buf).expect("valid SSE") {
        if e.data.as_ref() == b"[DONE]" {
            break;
        }
        out.push((e.event, e.data.to_vec()));
    }
    out
}

/// `{event, data}` of written SSE bytes (data parsed as JSON when it is).
fn events_json(bytes: &[u8]) -> Value {
    let mut codec = SseCodec::new(1 << 20);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(e) = codec.decode_eof(&mut buf).expect("valid SSE") {
        let data = serde_json::from_slice::<Value>(&e.data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&e.data).into_owned()));
        out.push(json!({"event": e.event, "data": data}));
    }
    Value::Array(out)
}

fn chunks_json(chunks: &[ChatChunk]) -> Value {
    Value::Array(
        chunks
            .iter()
            .map(|c| json!({"event": "message", "data": c}))
            .collect(),
    )
}

fn parsed(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the body is JSON")
}

fn run_translator(t: &mut dyn EventTranslator, events: &[(String, Vec<u8>)]) -> Value {
    let mut chunks = Vec::new();
    for (e, d) in events {
        match t.on_event(e, d) {
            Ok(c) => chunks.extend(c),
            Err(err) => {
                let mut v = chunks_json(&chunks);
                v.as_array_mut()
                    .unwrap()
                    .push(json!({"error": error_answer(&err)}));
                return v;
            }
        }
    }
    chunks.extend(t.finish());
    chunks_json(&chunks)
}

/// The client stream a translator makes of the case's events, checked against
/// `client_stream.json`; its usage goes into the recorded values.
fn check_stream(
    dir: &Path,
    t: &mut dyn EventTranslator,
    events: &[(String, Vec<u8>)],
    recorded: &mut Map<String, Value>,
) -> Option<String> {
    let failure = check(dir, "client_stream.json", &run_translator(t, events));
    recorded.insert("stream_usage".into(), json!(t.usage()));
    failure
}

/// The Anthropic events a Messages stream makes of the case's events, as `{event, data}` JSON.
fn run_messages_stream(s: &mut MessagesStream, events: &[(String, Vec<u8>)]) -> Value {
    let mut out = Vec::new();
    for (e, d) in events {
        out.extend(s.on_event(e, d).unwrap());
    }
    out.extend(s.finish());
    out.iter()
        .map(|e| json!({"event": e.event, "data": e.data_json()}))
        .collect()
}

fn claude_caps() -> ModelCaps {
    ModelCaps::for_model_id("anthropic.claude-sonnet-4-5-20250929-v1:0")
}

fn messages_ctx<'a>(caps: &'a ModelCaps, defaults: &'a Map<String, Value>) -> MessagesContext<'a> {
    MessagesContext {
        caps,
        default_params: defaults,
        beta_header: None,
        betas: BetaPolicy {
            passthrough: false,
            allow: &[],
            deny: &[],
        },
    }
}

fn run_case(dir: &Path) -> Vec<String> {
    let mut f = Vec::new();
    let case = read_json(&dir.join("case.json")).expect("case.json");
    let direction = case["direction"].as_str().unwrap().to_owned();
    let model_id = case["model_id"].as_str().unwrap();
    let model_name = case["model_name"].as_str().unwrap_or("my-model");
    let defaults = case["defaults"].as_object().cloned().unwrap_or_default();
    let runtime = case["runtime"].as_bool().unwrap_or(false);
    let keep = case["keep"].as_bool().unwrap_or(false);
    let request = read_json(&dir.join("request.json"));
    let answer = read_json(&dir.join("answer.json")).map(|v| serde_json::to_vec(&v).unwrap());
    let events = sse_events(dir);
    let tool_names = ToolNameMap::new();
    let rctx = ResponseContext {
        model_name,
        tool_names: &tool_names,
        json_mode: JsonMode::None,
        created: CREATED,
        id: ID.into(),
    };
    let fetched = FetchedMedia::new();
    let mut recorded = Map::new();
    match direction.as_str() {
        "chat->chat" => {
            let mut include_usage = false;
            if let Some(r) = request {
                let req: ChatRequest = serde_json::from_value(r).unwrap();
                let b = chat::chat_body(req, model_id, &defaults);
                include_usage = b.include_usage;
                f.extend(check(dir, "upstream_request.json", &parsed(&b.body)));
            }
            if let Some(a) = &answer {
                let relayed = chat::relay_completion(a, model_name).unwrap();
                f.extend(check(dir, "client_answer.json", &parsed(&relayed.body)));
                recorded.insert("usage".into(), json!(relayed.usage));
                recorded.insert("finish_reasons".into(), json!(relayed.finish_reasons));
                let typed = chat::parse_completion(a, model_name).unwrap();
                f.extend(check(dir, "typed_answer.json", &json!(typed)));
            }
            if let Some(ev) = &events {
                let mut relay = chat::ChunkRelay::new(model_name, include_usage);
                let mut out = Vec::new();
                for (_, d) in ev {
                    relay.on_data(d, &mut out).unwrap();
                }
                f.extend(check(dir, "client_stream.json", &events_json(&out)));
                recorded.insert("stream_usage".into(), json!(relay.usage()));
                let mut parser = chat::ChunkParser::new(model_name, include_usage);
                f.extend(check(
                    dir,
                    "typed_stream.json",
                    &run_translator(&mut parser, ev),
                ));
            }
        }
        "chat->responses" => {
            let mut include_usage = true;
            if let Some(r) = request {
                let req: ChatRequest = serde_json::from_value(r).unwrap();
                include_usage = req
                    .stream_options
                    .as_ref()
                    .and_then(|o| o.include_usage)
                    .unwrap_or(false);
                match to_responses::chat_to_responses(req, model_id, &defaults) {
                    Ok(b) => f.extend(check(dir, "upstream_request.json", &parsed(&b))),
                    Err(e) => f.extend(check(dir, "error.json", &error_answer(&e))),
                }
            }
            if let Some(a) = &answer {
                let c = from_responses::responses_to_completion(a, &rctx);
                let v = match c {
                    Ok(c) => json!(c),
                    Err(e) => error_answer(&e),
                };
                f.extend(check(dir, "client_answer.json", &v));
            }
            if let Some(ev) = &events {
                let mut t = from_responses::ResponsesChunks::new(&rctx, include_usage);
                f.extend(check_stream(dir, &mut t, ev, &mut recorded));
            }
        }
        "chat->messages" => {
            let caps = claude_caps();
            let ctx = plain_chat_context(&caps, &defaults, &fetched);
            let mut include_usage = false;
            if let Some(r) = request {
                let req: ChatRequest = serde_json::from_value(r).unwrap();
                let call = anthropic::chat_to_messages(req, model_id, &ctx).unwrap();
                include_usage = call.call.include_usage;
                f.extend(check(dir, "upstream_request.json", &parsed(&call.body)));
                f.extend(check(
                    dir,
                    "upstream_headers.json",
                    &json!({"anthropic-beta": call.beta}),
                ));
            }
            if let Some(a) = &answer {
                let c = invoke_to_chat(InvokeFamily::Anthropic, a, None, &rctx).unwrap();
                f.extend(check(dir, "client_answer.json", &json!(c)));
            }
            if let Some(ev) = &events {
                let mut t = anthropic::MessagesChunks::new(&rctx, include_usage);
                f.extend(check_stream(dir, &mut t, ev, &mut recorded));
            }
        }
        "responses->responses" => {
            if let Some(r) = request {
                let req: ResponsesRequest = serde_json::from_value(r).unwrap();
                let history: Vec<Value> = read_json(&dir.join("history.json"))
                    .map(|v| serde_json::from_value(v).unwrap())
                    .unwrap_or_default();
                let items = input_items(&req.input, "resp_test").unwrap();
                let b = responses_relay::responses_body(&req, &history, &items, model_id, runtime)
                    .unwrap();
                f.extend(check(dir, "upstream_request.json", &parsed(&b)));
            }
            if let Some(a) = &answer {
                let r = responses_relay::relay_response(a, model_name, keep).unwrap();
                f.extend(check(dir, "client_answer.json", &parsed(&r.body)));
                recorded.insert("usage".into(), json!(r.usage));
                recorded.insert("kept".into(), json!(r.response.is_some()));
            }
            if let Some(ev) = &events {
                let mut relay = responses_relay::ResponsesEventRelay::new(model_name, keep);
                let mut out = Vec::new();
                for (e, d) in ev {
                    relay.on_event(e, d, &mut out).unwrap();
                }
                f.extend(check(dir, "client_stream.json", &events_json(&out)));
                recorded.insert("stream_usage".into(), json!(relay.usage()));
                recorded.insert(
                    "kept_model".into(),
                    json!(relay.final_response().map(|r| r["model"].clone())),
                );
            }
        }
        "messages->messages" => {
            let caps = claude_caps();
            let ctx = messages_ctx(&caps, &defaults);
            if let Some(r) = request {
                let req: MessagesRequest = serde_json::from_value(r).unwrap();
                let stream = req.stream.unwrap_or(false);
                let m = messages_relay::messages_body(req.rest.clone(), model_id, stream, &ctx)
                    .unwrap();
                f.extend(check(dir, "upstream_request.json", &parsed(&m.body)));
                f.extend(check(
                    dir,
                    "upstream_headers.json",
                    &json!({"anthropic-beta": m.beta}),
                ));
                let c = messages_relay::count_tokens_body(req.rest, model_id, &ctx).unwrap();
                f.extend(check(dir, "count_tokens_request.json", &parsed(&c.body)));
            }
            if let Some(ev) = &events {
                let mut s = MessagesStream::Relay(messages_relay::RelayEvents);
                f.extend(check(
                    dir,
                    "client_stream.json",
                    &run_messages_stream(&mut s, ev),
                ));
            }
        }
        "messages->chat" | "messages->responses" => {
            let via_responses = direction == "messages->responses";
            let mut include_usage = true;
            if let Some(r) = request {
                let req: MessagesRequest = serde_json::from_value(r).unwrap();
                let chat_req = messages_chat::messages_to_chat(
                    &req.model,
                    req.stream.unwrap_or(false),
                    req.rest,
                )
                .unwrap();
                f.extend(check(dir, "chat_request.json", &json!(chat_req)));
                include_usage = chat_req.stream == Some(true);
                let body = if via_responses {
                    to_responses::chat_to_responses(chat_req, model_id, &defaults).unwrap()
                } else {
                    chat::chat_body(chat_req, model_id, &defaults).body
                };
                f.extend(check(dir, "upstream_request.json", &parsed(&body)));
            }
            let mctx = MessagesResponseContext {
                model_name,
                tool_names: &tool_names,
                id: "msg_test".into(),
            };
            if let Some(a) = &answer {
                let c = if via_responses {
                    from_responses::responses_to_completion(a, &rctx).unwrap()
                } else {
                    chat::parse_completion(a, model_name).unwrap()
                };
                let m = messages_chat::completion_to_messages(&c, &mctx).unwrap();
                f.extend(check(dir, "client_answer.json", &m));
            }
            if let Some(ev) = &events {
                let source: Box<dyn EventTranslator> = if via_responses {
                    Box::new(from_responses::ResponsesChunks::new(&rctx, include_usage))
                } else {
                    Box::new(chat::ChunkParser::new(model_name, include_usage))
                };
                let mut s =
                    MessagesStream::Chunks(Box::new(messages_chat::MessagesFromChunks::new(
                        source,
                        messages_chat::ChunksToMessages::new("msg_test".into(), model_name),
                    )));
                f.extend(check(
                    dir,
                    "client_stream.json",
                    &run_messages_stream(&mut s, ev),
                ));
            }
        }
        other => f.push(format!("{}: unknown direction {other}", dir.display())),
    }
    if !recorded.is_empty() {
        f.extend(check(dir, "recorded.json", &Value::Object(recorded)));
    }
    f
}

#[test]
fn surface_fixtures() {
    run_golden("surface", 8, &["case.json"], run_case);
}
