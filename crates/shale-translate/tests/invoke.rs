//! Golden fixtures for the chat ⇄ InvokeModel translation, one directory per family case under
//! `tests/fixtures/invoke/<case>/`:
//! - `context.json` (optional): `model_id` (default Claude 3 Haiku), `spec` (route spec such as
//!   `qwen3`), `model_name`, `default_params`, `modify_params`, `anthropic_beta`,
//!   `headers_usage` (`[input, output]` token-count headers), and for response-only cases
//!   `tool_names`, `json_mode`, `include_usage`;
//! - `request.json` → `bedrock_request.json` + `bedrock_headers.json` (the `X-Amzn-Bedrock-*`
//!   headers as `[name, value]` pairs, only when there are any), or `error.json`;
//! - `bedrock_response.json` → `response.json`;
//! - `events.json` (decoded model-native stream events; each is wrapped as a real `chunk` event
//!   payload `{"bytes": base64, "p": padding}`; `{"__exception": {"exception_type", "message"}}`
//!   ends the stream with an error event) → `chunks.json`.
//!
//! `id` and `created` are fixed. Run with `SHALE_BLESS=1` to (re)write expected files, then
//! review the diff.

mod common;
use common::{
    case_dirs, check, error_answer, invoke_family, read_json, run_golden, sent,
    stream_exception_event, CREATED, ID,
};

use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};
use shale_translate::caps::base_model_id;
use shale_translate::invoke::{
    chat_to_invoke, completion_to_chunks, invoke_to_chat, InvokeFamily, InvokeStreamTranslator,
};
use shale_translate::{
    ChatContext, ChatRequest, FetchedMedia, JsonMode, ModelCaps, ResponseContext, ToolNameMap,
};

/// A real `chunk` event payload for one native event.
fn chunk_payload(event: &Value) -> Vec<u8> {
    let bytes =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(event).unwrap());
    serde_json::to_vec(&json!({"bytes": bytes, "p": "abcdefghij"})).unwrap()
}

fn run_case(dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let cx = read_json(&dir.join("context.json")).unwrap_or_else(|| json!({}));
    let model_id = cx["model_id"]
        .as_str()
        .unwrap_or("anthropic.claude-3-haiku-20240307-v1:0");
    let model_name = cx["model_name"].as_str().unwrap_or("test-model");
    let family = invoke_family(cx["spec"].as_str(), base_model_id(model_id))
        .unwrap_or_else(|| panic!("{}: no invoke family for {model_id}", dir.display()));
    let caps = ModelCaps::for_model_id(model_id);
    let defaults = cx["default_params"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let fetched = FetchedMedia::new();
    let mut tool_names = ToolNameMap::new();
    for t in cx["tool_names"].as_array().into_iter().flatten() {
        tool_names.sanitize(t.as_str().unwrap());
    }
    let mut json_mode = if cx["json_mode"] == "tool_call" {
        JsonMode::ToolCall
    } else {
        JsonMode::None
    };
    let mut include_usage = cx["include_usage"].as_bool().unwrap_or(false);

    if let Some(req) = read_json(&dir.join("request.json")) {
        let req: ChatRequest = serde_json::from_value(req).unwrap();
        let ctx = ChatContext {
            caps: &caps,
            default_params: &defaults,
            modify_params: cx["modify_params"].as_bool().unwrap_or(false),
            user_continue_message: None,
            anthropic_beta: cx["anthropic_beta"].as_str(),
            fetched_media: &fetched,
        };
        match chat_to_invoke(req, family, &ctx) {
            Ok(call) => {
                failures.extend(check(dir, "bedrock_request.json", &sent(&call.body)));
                let headers = json!(call.headers);
                if !call.headers.is_empty() || dir.join("bedrock_headers.json").exists() {
                    failures.extend(check(dir, "bedrock_headers.json", &headers));
                }
                tool_names = call.tool_names;
                json_mode = call.json_mode;
                include_usage = call.include_usage;
            }
            Err(e) => {
                let actual = error_answer(&e);
                failures.extend(check(dir, "error.json", &actual));
            }
        }
    }
    let rctx = ResponseContext {
        model_name,
        tool_names: &tool_names,
        json_mode,
        created: CREATED,
        id: ID.to_owned(),
    };
    if let Some(body) = read_json(&dir.join("bedrock_response.json")) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let headers_usage = cx["headers_usage"]
            .as_array()
            .map(|a| (a[0].as_u64().unwrap(), a[1].as_u64().unwrap()));
        let actual = match invoke_to_chat(family, &bytes, headers_usage, &rctx) {
            Ok(c) => serde_json::to_value(c).unwrap(),
            Err(e) => error_answer(&e),
        };
        failures.extend(check(dir, "response.json", &actual));
    }
    if let Some(Value::Array(events)) = read_json(&dir.join("events.json")) {
        let mut t = InvokeStreamTranslator::new(family, &rctx, include_usage);
        let mut chunks = Vec::new();
        let mut failed = false;
        for ev in events {
            if let Some(x) = ev.get("__exception") {
                let msg = x["message"].as_str().unwrap_or_default();
                chunks.push(stream_exception_event(
                    x["exception_type"].as_str().unwrap(),
                    msg,
                ));
                failed = true;
                break;
            }
            match t.on_event("chunk", &chunk_payload(&ev)) {
                Ok(cs) => chunks.extend(cs.into_iter().map(|c| serde_json::to_value(c).unwrap())),
                Err(e) => {
                    chunks.push(e.to_openai().to_value());
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            chunks.extend(
                t.finish()
                    .into_iter()
                    .map(|c| serde_json::to_value(c).unwrap()),
            );
        }
        failures.extend(check(dir, "chunks.json", &Value::Array(chunks)));
    }
    failures
}

#[test]
fn invoke_golden_fixtures() {
    run_golden(
        "invoke",
        30,
        &["request.json", "bedrock_response.json", "events.json"],
        run_case,
    );
}

/// Every family has request, response and stream coverage in the fixtures.
#[test]
fn every_family_has_fixtures() {
    use std::collections::HashMap;
    let mut seen: HashMap<InvokeFamily, [bool; 3]> = HashMap::new();
    for dir in case_dirs("invoke") {
        let cx = read_json(&dir.join("context.json")).unwrap_or_else(|| json!({}));
        let id = cx["model_id"]
            .as_str()
            .unwrap_or("anthropic.claude-3-haiku-20240307-v1:0");
        let f = invoke_family(cx["spec"].as_str(), base_model_id(id)).unwrap();
        let e = seen.entry(f).or_default();
        e[0] |= dir.join("bedrock_request.json").exists();
        e[1] |= dir.join("response.json").exists();
        e[2] |= dir.join("chunks.json").exists();
    }
    for f in InvokeFamily::ALL {
        let [req, resp, stream] = seen.get(&f).copied().unwrap_or_default();
        assert!(req && resp, "{f:?}: missing request or response fixtures");
        assert!(
            stream || !f.supports_streaming(),
            "{f:?}: missing stream fixtures"
        );
    }
}

fn rctx(names: &ToolNameMap) -> ResponseContext<'_> {
    ResponseContext {
        model_name: "m",
        tool_names: names,
        json_mode: JsonMode::None,
        created: CREATED,
        id: ID.to_owned(),
    }
}

/// `<think>` split across arbitrary chunk boundaries gives the same text as the whole body.
#[test]
fn deepseek_r1_think_split_is_boundary_independent() {
    let full = "<think>\nThe user greets me.\n</think>\n\nHello there!";
    let names = ToolNameMap::new();
    let whole = invoke_to_chat(
        InvokeFamily::DeepSeekR1,
        json!({"choices": [{"text": full, "stop_reason": "stop"}]})
            .to_string()
            .as_bytes(),
        None,
        &rctx(&names),
    )
    .unwrap();
    let msg = &whole.choices[0].message;
    assert_eq!(
        msg.reasoning_content.as_deref(),
        Some("The user greets me.")
    );
    assert_eq!(msg.content.as_deref(), Some("Hello there!"));
    for size in 1..=full.len() {
        let mut t = InvokeStreamTranslator::new(InvokeFamily::DeepSeekR1, &rctx(&names), false);
        let (mut reasoning, mut content) = (String::new(), String::new());
        let mut chunks = Vec::new();
        let bytes = full.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            let mut end = (start + size).min(bytes.len());
            while !full.is_char_boundary(end) {
                end += 1;
            }
            let ev = json!({"choices": [{"text": &full[start..end], "stop_reason": null}]});
            chunks.extend(t.on_event("chunk", &chunk_payload(&ev)).unwrap());
            start = end;
        }
        chunks.extend(t.finish());
        for c in &chunks {
            for ch in &c.choices {
                reasoning.push_str(ch.delta.reasoning_content.as_deref().unwrap_or(""));
                content.push_str(ch.delta.content.as_deref().unwrap_or(""));
            }
        }
        assert_eq!(reasoning.trim(), "The user greets me.", "chunk size {size}");
        assert_eq!(content, "Hello there!", "chunk size {size}");
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason.as_deref(),
            Some("stop")
        );
    }
}

/// Non-`chunk` events and padding are ignored; malformed payloads are upstream errors.
#[test]
fn stream_payload_handling() {
    let names = ToolNameMap::new();
    let mut t = InvokeStreamTranslator::new(InvokeFamily::Llama3, &rctx(&names), true);
    assert!(t.on_event("initial-response", b"{}").unwrap().is_empty());
    let e = t
        .on_event("chunk", br#"{"bytes":"!!notbase64"}"#)
        .unwrap_err();
    assert_eq!(e.to_openai().status, 502);
    let e = t
        .on_event("chunk", br#"{"bytes":"bm90IGpzb24="}"#)
        .unwrap_err();
    assert_eq!(e.to_openai().status, 502);
}

/// AI21 J2 cannot stream: a complete answer becomes role/content, finish and usage chunks.
#[test]
fn completion_as_chunks_for_non_streaming_family() {
    let names = ToolNameMap::new();
    let c = invoke_to_chat(
        InvokeFamily::Ai21J2,
        json!({"id": 1, "completions": [{"data": {"text": "Hi!"}, "finishReason": {"reason": "endoftext"}}]})
            .to_string()
            .as_bytes(),
        Some((7, 2)),
        &rctx(&names),
    )
    .unwrap();
    let chunks: Vec<Value> = completion_to_chunks(c, true)
        .into_iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(chunks.len(), 3);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "Hi!"})
    );
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[2]["choices"], json!([]));
    assert_eq!(chunks[2]["usage"]["prompt_tokens"], 7);
    assert_eq!(chunks[2]["usage"]["completion_tokens"], 2);
}
