//! Behaviour of the chat translation API beyond the golden fixtures: media URL collection,
//! stream state-machine edge cases, error shapes and tool-name round trips.

mod common;

use bytes::Bytes;
use common::{plain_chat_context, sent};
use serde_json::{json, Value};
use shale_translate::JsonMode;
use shale_translate::{
    chat_to_converse, converse_to_chat, remote_media_urls, ChatRequest, ConverseStreamTranslator,
    FetchedMedia, ModelCaps, ResponseContext, ToolNameMap, TranslateError,
};

fn request(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn translate(req: Value, model_id: &str, fetched: &FetchedMedia) -> Result<Value, TranslateError> {
    let caps = ModelCaps::for_model_id(model_id);
    let defaults = serde_json::Map::new();
    let ctx = plain_chat_context(&caps, &defaults, fetched);
    chat_to_converse(request(req), &ctx).map(|c| sent(&c.body))
}

fn rctx(names: &ToolNameMap) -> ResponseContext<'_> {
    ResponseContext {
        model_name: "m",
        tool_names: names,
        json_mode: JsonMode::None,
        created: 1,
        id: "chatcmpl-x".into(),
    }
}

#[test]
fn remote_media_urls_collects_http_only_once() {
    let req = request(json!({"model": "m", "messages": [
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://a.example/x.png"}},
            {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
            {"type": "file", "file": {"file_data": "http://b.example/doc.pdf"}},
            {"type": "video_url", "video_url": {"url": "s3://bucket/v.mp4"}},
        ]},
        {"role": "user", "content": [{"type": "image_url", "image_url": "https://a.example/x.png"}]},
        {"role": "user", "content": "plain"}
    ]}));
    assert_eq!(
        remote_media_urls(&req),
        vec!["https://a.example/x.png", "http://b.example/doc.pdf"]
    );
}

#[test]
fn fetched_media_with_generic_mime_is_sniffed() {
    let mut f = FetchedMedia::new();
    f.insert(
        "https://a.example/img",
        "application/octet-stream",
        Bytes::from_static(b"GIF89a\x01\x00"),
    );
    let body = translate(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what"},
            {"type": "image_url", "image_url": "https://a.example/img"}]}]}),
        "anthropic.claude-3-haiku-20240307-v1:0",
        &f,
    )
    .unwrap();
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"image": {"format": "gif", "source": {"bytes": "R0lGODlhAQA="}}})
    );
}

#[test]
fn bad_input_names_the_field() {
    let f = FetchedMedia::new();
    let err = translate(
        json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "t", "content": [{"type": "guarded_text", "text": "x"}]}
        ]}),
        "anthropic.claude-3-haiku-20240307-v1:0",
        &f,
    )
    .unwrap_err();
    match &err {
        TranslateError::InvalidRequest { param, .. } => {
            assert_eq!(param.as_deref(), Some("messages[1].content[0].type"))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.to_openai().status, 400);
    assert_eq!(
        err.to_openai().to_value()["error"]["type"],
        "invalid_request_error"
    );
}

#[test]
fn colliding_tool_names_round_trip() {
    let f = FetchedMedia::new();
    let caps = ModelCaps::for_model_id("anthropic.claude-3-haiku-20240307-v1:0");
    let defaults = serde_json::Map::new();
    let ctx = plain_chat_context(&caps, &defaults, &f);
    let call = chat_to_converse(
        request(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [
                {"type": "function", "function": {"name": "a.b"}},
                {"type": "function", "function": {"name": "a/b"}}
            ]}),
        ),
        &ctx,
    )
    .unwrap();
    let body = sent(&call.body);
    let tools = body["toolConfig"]["tools"].as_array().unwrap();
    let n0 = tools[0]["toolSpec"]["name"].as_str().unwrap();
    let n1 = tools[1]["toolSpec"]["name"].as_str().unwrap();
    assert_ne!(n0, n1);
    let resp = json!({"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "1", "name": n0, "input": {}}},
        {"toolUse": {"toolUseId": "2", "name": n1, "input": {}}}
    ]}}, "stopReason": "tool_use"});
    let c = converse_to_chat(&serde_json::to_vec(&resp).unwrap(), &rctx(&call.tool_names)).unwrap();
    let calls = c.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].function.name, "a.b");
    assert_eq!(calls[1].function.name, "a/b");
}

#[test]
fn stream_tool_delta_without_start_gets_next_index() {
    let names = ToolNameMap::new();
    let mut t = ConverseStreamTranslator::new(&rctx(&names), false);
    let c = t
        .on_event(
            "contentBlockDelta",
            br#"{"contentBlockIndex":3,"delta":{"toolUse":{"input":"{}"}},"p":"x"}"#,
        )
        .unwrap();
    let v = serde_json::to_value(&c[0]).unwrap();
    assert_eq!(v["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(v["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
}

#[test]
fn stream_rejects_malformed_payload() {
    let names = ToolNameMap::new();
    let mut t = ConverseStreamTranslator::new(&rctx(&names), false);
    let err = t.on_event("contentBlockDelta", b"{not json").unwrap_err();
    assert!(matches!(err, TranslateError::InvalidUpstream(_)));
    assert_eq!(err.to_openai().status, 502);
}

#[test]
fn stream_finish_sends_usage_once() {
    let names = ToolNameMap::new();
    let mut t = ConverseStreamTranslator::new(&rctx(&names), true);
    t.on_event("messageStop", br#"{"stopReason":"end_turn"}"#)
        .unwrap();
    assert!(t.finished());
    let end = t.finish();
    assert_eq!(end.len(), 1);
    assert!(end[0].choices.is_empty());
    assert!(t.finish().is_empty());

    let mut t = ConverseStreamTranslator::new(&rctx(&names), true);
    let m = t
        .on_event(
            "metadata",
            br#"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3},"p":"x"}"#,
        )
        .unwrap();
    assert_eq!(m[0].usage.as_ref().unwrap().total_tokens, 3);
    assert!(t.finish().is_empty());
}

#[test]
fn chunk_serialises_to_openai_shape() {
    let names = ToolNameMap::new();
    let mut t = ConverseStreamTranslator::new(&rctx(&names), false);
    let c = t
        .on_event("messageStart", br#"{"role":"assistant","p":"abc"}"#)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&c[0]).unwrap(),
        json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]})
    );
}

#[test]
fn completion_ids_are_unique() {
    let a = shale_translate::new_completion_id();
    assert!(a.starts_with("chatcmpl-"));
    assert_ne!(a, shale_translate::new_completion_id());
}
