//! `/completions` translation, through golden fixtures under `tests/fixtures/completions/<case>/`:
//! - `request.json` (a `/completions` body) → `chat_request.json` (the chat request it becomes)
//!   or `error.json`; when it translates, the chat request is also sent through the invoke
//!   translator of `context.json`'s `model_id` (default Llama 3) → `bedrock_request.json`;
//! - `bedrock_response.json` → `response.json` (the `text_completion` answer);
//! - `events.json` (decoded model-native stream events) → `chunks.json` (the `text_completion`
//!   chunks, `None`s dropped).
//!
//! Run with `SHALE_BLESS=1` to (re)write expected files, then review the diff.

mod common;
use common::{check, error_answer, plain_chat_context, read_json, run_golden, sent};

use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};
use shale_translate::caps::base_model_id;
use shale_translate::completion::{ChatChunk, ChunkChoice, Delta};
use shale_translate::invoke::{
    chat_to_invoke, invoke_to_chat, InvokeFamily, InvokeStreamTranslator,
};
use shale_translate::text_completion::{
    chat_to_text_completion, chunk_to_text_completion, completion_to_chat, CompletionRequest,
};
use shale_translate::{
    ChatRequest, FetchedMedia, JsonMode, ModelCaps, ResponseContext, ToolNameMap,
};

fn run_case(dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let cx = read_json(&dir.join("context.json")).unwrap_or_else(|| json!({}));
    let model_id = cx["model_id"]
        .as_str()
        .unwrap_or("meta.llama3-8b-instruct-v1:0");
    let family = InvokeFamily::detect(base_model_id(model_id)).unwrap();
    let caps = ModelCaps::for_model_id(model_id);
    let defaults = Default::default();
    let fetched = FetchedMedia::new();
    let mut include_usage = false;
    if let Some(req) = read_json(&dir.join("request.json")) {
        let req: CompletionRequest = serde_json::from_value(req).unwrap();
        match completion_to_chat(req) {
            Ok(chat) => {
                failures.extend(check(dir, "chat_request.json", &json!(chat)));
                let ctx = plain_chat_context(&caps, &defaults, &fetched);
                let call = chat_to_invoke(chat, family, &ctx).unwrap();
                include_usage = call.include_usage;
                failures.extend(check(dir, "bedrock_request.json", &sent(&call.body)));
            }
            Err(e) => {
                let actual = error_answer(&e);
                failures.extend(check(dir, "error.json", &actual));
            }
        }
    }
    let names = ToolNameMap::new();
    let rctx = ResponseContext {
        model_name: "text-model",
        tool_names: &names,
        json_mode: JsonMode::None,
        created: 1_700_000_000,
        id: "chatcmpl-test".into(),
    };
    if let Some(body) = read_json(&dir.join("bedrock_response.json")) {
        let c = invoke_to_chat(family, body.to_string().as_bytes(), None, &rctx).unwrap();
        failures.extend(check(dir, "response.json", &chat_to_text_completion(c)));
    }
    if let Some(Value::Array(events)) = read_json(&dir.join("events.json")) {
        let mut t = InvokeStreamTranslator::new(family, &rctx, include_usage);
        let mut chunks = Vec::new();
        for ev in events {
            let bytes = base64::engine::general_purpose::STANDARD.encode(ev.to_string());
            let payload = json!({"bytes": bytes, "p": "pad"}).to_string();
            chunks.extend(t.on_event("chunk", payload.as_bytes()).unwrap());
        }
        chunks.extend(t.finish());
        let out: Vec<Value> = chunks
            .into_iter()
            .filter_map(chunk_to_text_completion)
            .collect();
        failures.extend(check(dir, "chunks.json", &Value::Array(out)));
    }
    failures
}

#[test]
fn completions_golden_fixtures() {
    run_golden("completions", 10, &[], run_case);
}

fn req(v: Value) -> CompletionRequest {
    serde_json::from_value(v).unwrap()
}

/// Each unsupported option is rejected with a 400 whose `param` names it.
#[test]
fn unsupported_options_name_the_parameter() {
    for (field, value) in [
        ("echo", json!(true)),
        ("suffix", json!("tail")),
        ("best_of", json!(3)),
        ("logprobs", json!(2)),
        ("n", json!(2)),
    ] {
        let mut body = json!({"model": "m", "prompt": "hi"});
        body[field] = value;
        let e = completion_to_chat(req(body)).unwrap_err();
        assert_eq!(e.to_openai().status, 400, "{field}");
        assert_eq!(e.to_openai().to_value()["error"]["param"], field, "{field}");
    }
    for ok in [
        json!({"model": "m", "prompt": "hi", "echo": false, "best_of": 1, "logprobs": null, "n": 1, "suffix": ""}),
        json!({"model": "m", "prompt": "hi", "logprobs": 0}),
    ] {
        assert!(completion_to_chat(req(ok)).is_ok());
    }
    for bad in [
        json!([1, 2, 3]),
        json!([[1, 2]]),
        json!(""),
        json!([]),
        json!(5),
        Value::Null,
    ] {
        let e = completion_to_chat(req(json!({"model": "m", "prompt": bad}))).unwrap_err();
        assert_eq!(
            e.to_openai().to_value()["error"]["param"],
            "prompt",
            "{bad}"
        );
    }
}

/// Typed chat fields passed as extra completion fields land in their typed slots.
#[test]
fn extra_fields_become_chat_fields() {
    let chat: ChatRequest = completion_to_chat(req(json!({
        "model": "m", "prompt": "hi", "top_k": 7, "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"}
    })))
    .unwrap();
    assert_eq!(chat.top_k, Some(7));
    assert!(chat.extra.contains_key("guardrailConfig"));
}

fn chunk(delta: Delta, finish: Option<&str>) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-x".into(),
        object: "chat.completion.chunk".into(),
        created: 1,
        model: "m".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.map(str::to_owned),
        }],
        usage: None,
    }
}

/// Role-only and reasoning-only chunks say nothing in a `text_completion` stream.
#[test]
fn silent_chunks_are_dropped() {
    let role = Delta {
        role: Some("assistant".into()),
        content: Some(String::new()),
        ..Delta::default()
    };
    assert_eq!(chunk_to_text_completion(chunk(role, None)), None);
    let reasoning = Delta {
        reasoning_content: Some("hmm".into()),
        ..Delta::default()
    };
    assert_eq!(chunk_to_text_completion(chunk(reasoning, None)), None);
    let text = Delta {
        content: Some("Hi".into()),
        ..Delta::default()
    };
    assert_eq!(
        chunk_to_text_completion(chunk(text, None)).unwrap(),
        json!({"id": "cmpl-x", "object": "text_completion", "created": 1, "model": "m",
               "choices": [{"text": "Hi", "index": 0, "logprobs": null, "finish_reason": null}]})
    );
    let end = chunk_to_text_completion(chunk(Delta::default(), Some("length"))).unwrap();
    assert_eq!(end["choices"][0]["finish_reason"], "length");
    assert_eq!(end["choices"][0]["text"], "");
}
