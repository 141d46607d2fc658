//! Property tests for the surface relays and stream translators (bedrock-mantle, bedrock-runtime's
//! `/openai/v1`):
//! - a relayed chat chunk is the surface's chunk with only `model` changed (and the usage the
//!   client did not ask for taken out), whatever members it has and in whatever order;
//! - the stream translators (Responses → chat, Anthropic → chat, chat → Anthropic, chat parser)
//!   fed the fixture streams with events mutated, dropped or retyped, or arbitrary events, never
//!   panic, and report a bad stream as `InvalidUpstream` (a 502), never as the client's fault.
//!
//! The SSE decoder's own property (any chunking of the bytes, the same events) is in
//! `shale-bedrock/src/sse.rs`. Case count: `PROPTEST_CASES` (default 256 per property).

mod mutate;

use bytes::BytesMut;
use mutate::{assert_upstream_error, config, drive, stream_events};
use proptest::prelude::*;
use serde_json::{json, Value};
use shale_bedrock::sse::SseCodec;
use shale_translate::chat::EventTranslator;
use shale_translate::completion::Usage;
use shale_translate::messages::MessagesStream;
use shale_translate::surface::json::TopLevel;
use shale_translate::surface::{anthropic, chat, from_responses, messages_chat};
use shale_translate::{JsonMode, ResponseContext, ToolNameMap};
use tokio_util::codec::Decoder;

const EVENTS: &[&str] = &[
    "message",
    "response.created",
    "response.output_text.delta",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "message_delta",
    "message_stop",
    "ping",
];

/// The fixture streams (`stream.sse` of `tests/fixtures/surface/*`) as `[{type, payload}]`.
fn streams() -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/surface");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let Ok(bytes) = std::fs::read(entry.unwrap().path().join("stream.sse")) else {
            continue;
        };
        let mut codec = SseCodec::new(1 << 20);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut events = Vec::new();
        while let Some(e) = codec.decode_eof(&mut buf).unwrap() {
            if e.data.as_ref() == b"[DONE]" {
                break;
            }
            let payload: Value = serde_json::from_slice(&e.data).unwrap();
            events.push(json!({"type": e.event, "payload": payload}));
        }
        out.push(Value::Array(events));
    }
    assert!(out.len() >= 5, "the surface fixtures have streams");
    out
}

fn run_all(events: &[(String, Vec<u8>)], include_usage: bool) {
    let names = ToolNameMap::new();
    let ctx = ResponseContext {
        model_name: "m",
        tool_names: &names,
        json_mode: JsonMode::None,
        created: 1_700_000_000,
        id: "chatcmpl-test".into(),
    };
    drive(
        &mut from_responses::ResponsesChunks::new(&ctx, include_usage),
        events,
    );
    drive(
        &mut anthropic::MessagesChunks::new(&ctx, include_usage),
        events,
    );
    drive(&mut chat::ChunkParser::new("m", include_usage), events);
    for source in [
        Box::new(chat::ChunkParser::new("m", true)) as Box<dyn EventTranslator>,
        Box::new(from_responses::ResponsesChunks::new(&ctx, true)),
    ] {
        let mut s = MessagesStream::Chunks(Box::new(messages_chat::MessagesFromChunks::new(
            source,
            messages_chat::ChunksToMessages::new("msg_test".into(), "m"),
        )));
        let mut failed = false;
        for (ty, payload) in events {
            if let Err(e) = s.on_event(ty, payload) {
                assert_upstream_error(&e, ty);
                failed = true;
                break;
            }
        }
        if !failed {
            let out = s.finish();
            assert_eq!(out.last().map(|e| e.event.as_ref()), Some("message_stop"));
        }
    }
}

fn raw_event() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        prop::sample::select(EVENTS).prop_map(str::to_owned),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..48),
            mutate::json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
    )
}

/// A chat chunk-like object: arbitrary members, maybe `model`, `choices` and `usage`.
fn chunk_object() -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map("[a-z_]{1,8}", mutate::json_value(), 0..5),
        prop::option::of("[a-z.0-9-]{1,12}"),
        prop_oneof![
            Just(None),
            Just(Some(json!([]))),
            Just(Some(json!([{"index": 0, "delta": {"content": "x"}}])))
        ],
        prop_oneof![
            Just(None),
            Just(Some(
                json!({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})
            )),
            Just(Some(json!("not usage"))),
        ],
    )
        .prop_map(|(rest, model, choices, usage)| {
            let mut o = serde_json::Map::new();
            for (k, v) in rest {
                o.insert(k, v);
            }
            if let Some(m) = model {
                o.insert("model".into(), m.into());
            }
            if let Some(c) = choices {
                o.insert("choices".into(), c);
            }
            if let Some(u) = usage {
                o.insert("usage".into(), u);
            }
            Value::Object(o)
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn relayed_chunks_change_only_model_and_unasked_usage(
        chunk in chunk_object(),
        include_usage in any::<bool>(),
    ) {
        let bytes = serde_json::to_vec(&chunk).unwrap();
        let mut relay = chat::ChunkRelay::new("client-name", include_usage);
        let mut out = Vec::new();
        relay.on_data(&bytes, &mut out).unwrap();
        let usage_parses = chunk
            .get("usage")
            .is_some_and(|u| serde_json::from_value::<Usage>(u.clone()).is_ok());
        let no_choices = chunk.get("choices").is_none_or(|c| c == &json!([]));
        if usage_parses && !include_usage && no_choices {
            prop_assert!(out.is_empty());
            prop_assert!(relay.usage().is_some());
            return Ok(());
        }
        prop_assert!(out.starts_with(b"data: ") && out.ends_with(b"\n\n"));
        let got: Value = serde_json::from_slice(&out[6..out.len() - 2]).unwrap();
        // The input as it reads back from its bytes (serde_json's float parsing is not exact):
        // the relay copies the bytes of every other member, so they read back the same.
        let mut want: Value = serde_json::from_slice(&bytes).unwrap();
        want["model"] = json!("client-name");
        if usage_parses && !include_usage {
            want.as_object_mut().unwrap().remove("usage");
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(relay.usage().is_some(), usage_parses);
    }

    #[test]
    fn top_level_edits_round_trip(v in mutate::json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        match TopLevel::parse(&bytes) {
            Ok(top) => {
                let back: Value = serde_json::from_slice(&top.to_vec(&[])).unwrap();
                let want: Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(back, want);
            }
            Err(_) => prop_assert!(!v.is_object()),
        }
    }

    #[test]
    fn stream_translators_survive_mutated_surface_streams(
        doc in mutate::mutated(streams(), 6),
        include_usage in any::<bool>(),
    ) {
        run_all(&stream_events(&doc), include_usage);
    }

    #[test]
    fn stream_translators_survive_arbitrary_events(
        events in prop::collection::vec(raw_event(), 0..12),
        include_usage in any::<bool>(),
    ) {
        run_all(&events, include_usage);
    }
}
