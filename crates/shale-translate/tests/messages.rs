//! Golden fixtures for the Anthropic Messages API translation. Each directory under
//! `tests/fixtures/messages/<case>/` may hold:
//! - `context.json`: `model_id` (default Nova Pro; a Claude id selects the native route, as the
//!   server does; `"converse": true` forces Converse as for `converse_like`), `default_params`,
//!   `beta_header`, `betas` (`{passthrough, allow, deny}`);
//! - `request.json` (the whole Messages request) → `invoke_request.json` (native: body, headers,
//!   dropped betas, removed keys) or `bedrock_request.json` (Converse body), plus
//!   `count_tokens_request.json` (the CountTokens input for the same request), or `error.json`;
//! - `bedrock_response.json` (Converse) → `response.json` (the Messages answer);
//! - `events.json` (ConverseStream `{type, payload}` events) → `sse.json` (`{event, data}` list);
//! - `chunks.json` (Anthropic events as Bedrock sends them inside `chunk` frames) → `sse.json`.
//!
//! Response and stream cases use the tool-name map of the case's request. The message id is
//! fixed. Run with `SHALE_BLESS=1` to (re)write the expected files, then review the diff.

mod common;
use common::{check, error_answer, read_json, run_golden};

use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};
use shale_translate::messages::{
    converse_to_messages, count_tokens_converse_input, count_tokens_invoke_input,
    messages_to_converse, messages_to_invoke, BetaPolicy, MessagesContext, MessagesRequest,
    MessagesResponseContext, MessagesStreamTranslator, NativeStreamRelay, SseEvent,
};
use shale_translate::{ModelCaps, ModelFamily, ToolNameMap};

const MESSAGE_ID: &str = "msg_bdrk_test";

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn sse_json(events: Vec<SseEvent>) -> Vec<Value> {
    events
        .into_iter()
        .map(|e| json!({"event": e.event, "data": e.data_json()}))
        .collect()
}

fn run_case(dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let ctx_json = read_json(&dir.join("context.json")).unwrap_or_else(|| json!({}));
    let model_id = ctx_json["model_id"]
        .as_str()
        .unwrap_or("amazon.nova-pro-v1:0");
    let caps = ModelCaps::for_model_id(model_id);
    // As the server decides: Claude goes native unless the deployment is Converse-only
    // (`converse_like`), which the context marks with `"converse": true`.
    let native =
        caps.family == ModelFamily::Anthropic && !ctx_json["converse"].as_bool().unwrap_or(false);
    let defaults = ctx_json["default_params"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let allow = strings(&ctx_json["betas"]["allow"]);
    let deny = strings(&ctx_json["betas"]["deny"]);
    let ctx = MessagesContext {
        caps: &caps,
        default_params: &defaults,
        beta_header: ctx_json["beta_header"].as_str(),
        betas: BetaPolicy {
            passthrough: ctx_json["betas"]["passthrough"].as_bool().unwrap_or(false),
            allow: &allow,
            deny: &deny,
        },
    };
    let mut tool_names = ToolNameMap::new();
    let mut model_name = "test-model".to_owned();

    if let Some(req) = read_json(&dir.join("request.json")) {
        let req: MessagesRequest = serde_json::from_value(req).unwrap();
        model_name = req.model.clone();
        if native {
            match messages_to_invoke(req.rest, &ctx) {
                Ok(call) => {
                    let headers: serde_json::Map<String, Value> = call
                        .headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
                        .collect();
                    let count = count_tokens_invoke_input(&call.body);
                    let encoded = count["input"]["invokeModel"]["body"].as_str().unwrap();
                    let decoded: Value = serde_json::from_slice(
                        &base64::engine::general_purpose::STANDARD
                            .decode(encoded)
                            .unwrap(),
                    )
                    .unwrap();
                    assert_eq!(decoded, call.body, "{}: count_tokens body", dir.display());
                    failures.extend(check(
                        dir,
                        "invoke_request.json",
                        &json!({"body": call.body, "headers": headers,
                            "dropped_betas": call.dropped_betas, "removed_keys": call.removed_keys}),
                    ));
                }
                Err(e) => failures.extend(check(dir, "error.json", &error_answer(&e))),
            }
        } else {
            match messages_to_converse(req.rest, &ctx) {
                Ok(call) => {
                    failures.extend(check(dir, "bedrock_request.json", &call.body));
                    failures.extend(check(
                        dir,
                        "count_tokens_request.json",
                        &count_tokens_converse_input(&call.body),
                    ));
                    tool_names = call.tool_names;
                }
                Err(e) => failures.extend(check(dir, "error.json", &error_answer(&e))),
            }
        }
    }
    if let Some(body) = read_json(&dir.join("bedrock_response.json")) {
        let rctx = MessagesResponseContext {
            model_name: &model_name,
            tool_names: &tool_names,
            id: MESSAGE_ID.to_owned(),
        };
        let bytes = serde_json::to_vec(&body).unwrap();
        let actual = match converse_to_messages(&bytes, &rctx) {
            Ok(v) => v,
            Err(e) => error_answer(&e),
        };
        failures.extend(check(dir, "response.json", &actual));
    }
    if let Some(Value::Array(events)) = read_json(&dir.join("events.json")) {
        let mut t = MessagesStreamTranslator::new(MESSAGE_ID.to_owned(), &model_name, tool_names);
        let mut out = Vec::new();
        for ev in events {
            let payload = serde_json::to_vec(&ev["payload"]).unwrap();
            out.extend(t.on_event(ev["type"].as_str().unwrap(), &payload).unwrap());
        }
        out.extend(t.finish());
        assert!(t.done(), "{}: stream not closed", dir.display());
        failures.extend(check(dir, "sse.json", &Value::Array(sse_json(out))));
    }
    if let Some(Value::Array(chunks)) = read_json(&dir.join("chunks.json")) {
        let mut relay = NativeStreamRelay::new();
        let mut out = Vec::new();
        for c in chunks {
            let bytes = base64::engine::general_purpose::STANDARD.encode(c.to_string());
            let payload = serde_json::to_vec(&json!({"bytes": bytes, "p": "abcdefgh"})).unwrap();
            out.extend(relay.on_event("chunk", &payload).unwrap());
        }
        failures.extend(check(dir, "sse.json", &Value::Array(sse_json(out))));
    }
    failures
}

#[test]
fn messages_golden_fixtures() {
    run_golden(
        "messages",
        25,
        &[
            "request.json",
            "bedrock_response.json",
            "events.json",
            "chunks.json",
        ],
        run_case,
    );
}

#[test]
fn native_relay_passes_unchanged_events_byte_for_byte() {
    let raw =
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#;
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    let payload = serde_json::to_vec(&json!({ "bytes": b64 })).unwrap();
    let ev = NativeStreamRelay::new()
        .on_event("chunk", &payload)
        .unwrap()
        .unwrap();
    assert_eq!(ev.event, "content_block_delta");
    assert_eq!(ev.data, raw.as_bytes());
    assert!(NativeStreamRelay::new()
        .on_event("chunk", b"{\"bytes\":\"@@@\"}")
        .is_err());
}

#[test]
fn converse_stream_emits_nothing_after_message_stop() {
    let mut t = MessagesStreamTranslator::new(MESSAGE_ID.into(), "m", ToolNameMap::new());
    t.on_event("messageStart", br#"{"role":"assistant"}"#)
        .unwrap();
    t.on_event("messageStop", br#"{"stopReason":"end_turn"}"#)
        .unwrap();
    let end = t
        .on_event(
            "metadata",
            br#"{"usage":{"inputTokens":3,"outputTokens":4}}"#,
        )
        .unwrap();
    assert_eq!(end.last().unwrap().event, "message_stop");
    assert!(t.on_event("metadata", b"{}").unwrap().is_empty());
    assert!(t.finish().is_empty());
}
