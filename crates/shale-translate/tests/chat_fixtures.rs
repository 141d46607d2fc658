//! Golden fixtures for the chat ⇄ Converse translation. Each directory under
//! `tests/fixtures/chat/<case>/` may hold:
//! - `request.json` (+ optional `context.json`) → `bedrock_request.json`, or `error.json` when the
//!   request must be rejected;
//! - `bedrock_response.json` → `response.json`;
//! - `events.json` (a list of `{type, payload}`, or `{type:"exception", exception_type, payload}`)
//!   → `chunks.json` (the SSE `data:` payloads in order, an error event ending the stream).
//!
//! Response and stream cases use the tool-name map, JSON mode and `include_usage` of the case's
//! request when there is one. `id` and `created` are fixed. Run with `SHALE_BLESS=1` to
//! (re)write the expected files, then review the diff.

mod common;
use common::{
    check, error_answer, read_json, run_golden, sent, stream_exception_event, CREATED, ID,
};

use std::path::Path;

use bytes::Bytes;
use serde_json::{json, Value};
use shale_translate::JsonMode;
use shale_translate::{
    chat_to_converse, converse_to_chat, ChatContext, ChatMessage, ChatRequest,
    ConverseStreamTranslator, FetchedMedia, ModelCaps, ResponseContext, ToolNameMap,
};

struct Case {
    tool_names: ToolNameMap,
    json_mode: JsonMode,
    include_usage: bool,
}

fn run_case(dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let ctx_json = read_json(&dir.join("context.json")).unwrap_or_else(|| json!({}));
    let model_id = ctx_json["model_id"]
        .as_str()
        .unwrap_or("anthropic.claude-3-haiku-20240307-v1:0");
    let model_name = ctx_json["model_name"].as_str().unwrap_or("test-model");
    let caps = ModelCaps::for_model_id(model_id);
    let defaults = ctx_json["default_params"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let ucm: Option<ChatMessage> = ctx_json
        .get("user_continue_message")
        .map(|v| serde_json::from_value(v.clone()).unwrap());
    let mut fetched = FetchedMedia::new();
    if let Some(m) = ctx_json["fetched_media"].as_object() {
        use base64::Engine as _;
        for (url, v) in m {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v["base64"].as_str().unwrap())
                .unwrap();
            fetched.insert(url, v["mime"].as_str().unwrap(), Bytes::from(bytes));
        }
    }
    let mut case = Case {
        tool_names: ToolNameMap::new(),
        json_mode: if ctx_json["json_mode"] == "tool_call" {
            JsonMode::ToolCall
        } else {
            JsonMode::None
        },
        include_usage: ctx_json["include_usage"].as_bool().unwrap_or(false),
    };
    for t in ctx_json["tool_names"].as_array().into_iter().flatten() {
        case.tool_names.sanitize(t.as_str().unwrap());
    }

    if let Some(req) = read_json(&dir.join("request.json")) {
        let req: ChatRequest = serde_json::from_value(req).unwrap();
        let ctx = ChatContext {
            caps: &caps,
            default_params: &defaults,
            modify_params: ctx_json["modify_params"].as_bool().unwrap_or(false),
            user_continue_message: ucm.as_ref(),
            anthropic_beta: ctx_json["anthropic_beta"].as_str(),
            fetched_media: &fetched,
        };
        match chat_to_converse(req, &ctx) {
            Ok(call) => {
                failures.extend(check(dir, "bedrock_request.json", &sent(&call.body)));
                case.tool_names = call.tool_names;
                case.json_mode = call.json_mode;
                case.include_usage = call.include_usage;
            }
            Err(e) => {
                let actual = error_answer(&e);
                failures.extend(check(dir, "error.json", &actual));
            }
        }
    }
    let rctx = ResponseContext {
        model_name,
        tool_names: &case.tool_names,
        json_mode: case.json_mode,
        created: CREATED,
        id: ID.to_owned(),
    };
    if let Some(body) = read_json(&dir.join("bedrock_response.json")) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let actual = match converse_to_chat(&bytes, &rctx) {
            // The bytes the server sends.
            Ok(c) => serde_json::from_slice(&c.to_json()).unwrap(),
            Err(e) => error_answer(&e),
        };
        failures.extend(check(dir, "response.json", &actual));
    }
    if let Some(Value::Array(events)) = read_json(&dir.join("events.json")) {
        let mut t = ConverseStreamTranslator::new(&rctx, case.include_usage);
        let mut chunks = Vec::new();
        let mut failed = false;
        for ev in events {
            let ty = ev["type"].as_str().unwrap();
            if ty == "exception" {
                let msg = ev["payload"]["message"].as_str().unwrap_or_default();
                chunks.push(stream_exception_event(
                    ev["exception_type"].as_str().unwrap(),
                    msg,
                ));
                failed = true;
                break;
            }
            let payload = serde_json::to_vec(&ev["payload"]).unwrap();
            for c in t.on_event(ty, &payload).unwrap() {
                chunks.push(written(&c));
            }
        }
        if !failed {
            for c in t.finish() {
                chunks.push(written(&c));
            }
        }
        failures.extend(check(dir, "chunks.json", &Value::Array(chunks)));
    }
    failures
}

/// A chunk as the server writes it (its bytes, parsed in order).
fn written(c: &shale_translate::ChatChunk) -> Value {
    let mut out = Vec::new();
    c.write_json(&mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn chat_golden_fixtures() {
    run_golden(
        "chat",
        40,
        &["request.json", "bedrock_response.json", "events.json"],
        run_case,
    );
}
