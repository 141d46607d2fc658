//! Golden fixtures for the Responses API layer. Each directory under
//! `tests/fixtures/responses/<case>/` may hold:
//! - `request.json` (+ optional `history.json`, the stored conversation of
//!   `previous_response_id`, and `context.json` with `drop_builtin_tools` / `drop_hosted_tools`)
//!   → `chat_request.json`
//!   (the chat request the server runs) and `bedrock_request.json` (that chat request through
//!   the Converse translator for a Claude model), plus `input_items.json` and, when tools were
//!   dropped, `dropped_tools.json`; or `error.json` when the request must be rejected;
//! - `completion.json` (a chat completion) → `response.json`;
//! - `chunks.json` (chat chunks, optionally ending with `{"error": {"code", "message"}}`) →
//!   `events.json` (`{event, data}` in order).
//!
//! Response and stream cases echo the case's request (or a minimal one). The response id is
//! `resp_test` and `created_at` is fixed. Run with `SHALE_BLESS=1` to (re)write the expected
//! files, then review the diff.

mod common;
use common::{check, error_answer, plain_chat_context, read_json, run_golden, sent, CREATED};

use std::path::Path;

use serde_json::{json, Value};
use shale_translate::completion::{ChatChunk, ChatCompletion};
use shale_translate::responses::{
    chat_to_response, responses_to_chat, ResponsesOptions, ResponsesRequest, ResponsesStream,
};
use shale_translate::{chat_to_converse, FetchedMedia, ModelCaps};

const RESP_ID: &str = "resp_test";

fn run_case(dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    let ctx = read_json(&dir.join("context.json")).unwrap_or_else(|| json!({}));
    let opts = ResponsesOptions {
        drop_builtin_tools: ctx["drop_builtin_tools"].as_bool().unwrap_or(false),
        drop_hosted_tools: ctx["drop_hosted_tools"].as_bool().unwrap_or(false),
    };
    let history: Vec<Value> = read_json(&dir.join("history.json"))
        .map(|v| serde_json::from_value(v).unwrap())
        .unwrap_or_default();
    let request_json = read_json(&dir.join("request.json"));
    let request: ResponsesRequest = serde_json::from_value(
        request_json
            .clone()
            .unwrap_or_else(|| json!({"model": "test-model", "input": "hi"})),
    )
    .unwrap();
    let translated = responses_to_chat(request.clone(), &history, RESP_ID.into(), CREATED, &opts);

    if request_json.is_some() {
        match &translated {
            Ok(t) => {
                let chat = serde_json::to_value(&t.chat).unwrap();
                failures.extend(check(dir, "chat_request.json", &chat));
                failures.extend(check(dir, "input_items.json", &json!(t.input_items)));
                if !t.dropped_tools.is_empty() || dir.join("dropped_tools.json").exists() {
                    failures.extend(check(dir, "dropped_tools.json", &json!(t.dropped_tools)));
                }
                let caps = ModelCaps::for_model_id("anthropic.claude-3-7-sonnet-20250219-v1:0");
                let fetched = FetchedMedia::new();
                let defaults = serde_json::Map::new();
                let chat_ctx = plain_chat_context(&caps, &defaults, &fetched);
                match chat_to_converse(t.chat.clone(), &chat_ctx) {
                    Ok(call) => {
                        failures.extend(check(dir, "bedrock_request.json", &sent(&call.body)))
                    }
                    Err(e) => failures.push(format!(
                        "{}: the chat request is refused by the Converse translator: {e}",
                        dir.display()
                    )),
                }
            }
            Err(e) => failures.extend(check(dir, "error.json", &error_answer(e))),
        }
    }

    let meta = match &translated {
        Ok(t) => t.meta.clone(),
        Err(_) => return failures,
    };
    if let Some(c) = read_json(&dir.join("completion.json")) {
        let completion: ChatCompletion = serde_json::from_value(c).unwrap();
        failures.extend(check(
            dir,
            "response.json",
            &chat_to_response(completion, &meta),
        ));
    }
    if let Some(Value::Array(chunks)) = read_json(&dir.join("chunks.json")) {
        let mut stream = ResponsesStream::new(meta);
        let mut events = stream.start();
        for c in chunks {
            if let Some(err) = c.get("error") {
                events.extend(stream.fail(
                    err["code"].as_str().unwrap_or(""),
                    err["message"].as_str().unwrap_or(""),
                ));
            } else {
                let chunk: ChatChunk = serde_json::from_value(c).unwrap();
                events.extend(stream.on_chunk(chunk));
            }
        }
        if stream.final_response().is_none() {
            events.extend(stream.finish());
        }
        let out: Vec<Value> = events
            .into_iter()
            .map(|e| json!({"event": e.name, "data": e.data}))
            .collect();
        for (i, e) in out.iter().enumerate() {
            assert_eq!(e["data"]["sequence_number"], json!(i), "{}", dir.display());
            assert_eq!(e["data"]["type"], e["event"], "{}", dir.display());
        }
        failures.extend(check(dir, "events.json", &Value::Array(out)));
    }
    failures
}

#[test]
fn responses_fixtures() {
    run_golden("responses", 10, &[], run_case);
}

/// The final event carries the same response the non-streaming path builds from the same answer.
#[test]
fn stream_final_response_matches_non_streaming() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/responses/tools_round_trip");
    let request: ResponsesRequest =
        serde_json::from_value(read_json(&dir.join("request.json")).unwrap()).unwrap();
    let t = responses_to_chat(request, &[], RESP_ID.into(), CREATED, &Default::default()).unwrap();
    let mut stream = ResponsesStream::new(t.meta.clone());
    stream.start();
    for c in read_json(&dir.join("chunks.json"))
        .unwrap()
        .as_array()
        .unwrap()
    {
        stream.on_chunk(serde_json::from_value(c.clone()).unwrap());
    }
    stream.finish();
    let completion: ChatCompletion =
        serde_json::from_value(read_json(&dir.join("completion.json")).unwrap()).unwrap();
    let streamed = stream.final_response().unwrap().clone();
    assert_eq!(streamed, chat_to_response(completion, &t.meta));
}
