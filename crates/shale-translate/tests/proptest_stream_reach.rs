//! Property tests of the stream translators fed streams shaped like Bedrock's: random but valid
//! `application/vnd.amazon.eventstream` envelopes (built with `aws-smithy-eventstream`, the AWS
//! SDK's own frame writer) carrying well-formed ConverseStream events or native Claude `chunk`s
//! with random leaves (text of any script, tool names and JSON arguments, reasoning text, stop
//! reasons, token counts up to `u64::MAX`), split into arbitrary body chunks, decoded by
//! `shale-bedrock`'s frame decoder and fed to every translator the server runs on them:
//! ConverseStream → chat chunks, → Anthropic events (`/v1/messages` for non-Claude models), and
//! native Claude → chat chunks, → relayed Anthropic events.
//!
//! Unlike random bytes, these streams reach translation: each property counts the streams that
//! were decoded and translated to their end (a finish reason / `message_stop` out) and asserts at
//! least [`MIN_REACH`] of the cases did; the counts are printed (`--nocapture`). A stream the
//! translators refuse must be refused as Bedrock's fault (`InvalidUpstream`), never panic.
//! Case count: `PROPTEST_CASES` (default 256 per property).

mod mutate;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use mutate::{assert_upstream_error, response_ctx, tool_names};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Value};
use shale_bedrock::eventstream::{message_to_event, FrameCodec, StreamEvent};
use shale_translate::invoke::{InvokeFamily, InvokeStreamTranslator};
use shale_translate::messages::{MessagesStreamTranslator, NativeStreamRelay};
use shale_translate::ConverseStreamTranslator;
use std::cell::Cell;
use tokio_util::codec::Decoder;

const MIN_REACH: f64 = 0.8;

fn runner() -> TestRunner {
    TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[a-zA-Z0-9 .,!?'-]{0,24}",
        3 => "\\PC{0,16}",
        1 => "[\\x00-\\x1f]{1,4}",
        1 => Just("<think>".to_owned()),
    ]
    .boxed()
}

fn tokens() -> BoxedStrategy<u64> {
    prop_oneof![8 => 0..100_000u64, 1 => Just(u64::MAX), 1 => Just(0u64)].boxed()
}

fn tool_name() -> BoxedStrategy<String> {
    prop_oneof![
        Just("get_weather".to_owned()),
        Just("clock_now_v1".to_owned()),
        "[a-zA-Z_][a-zA-Z0-9_-]{0,20}",
    ]
    .boxed()
}

/// JSON arguments of a tool call, cut into 1-3 deltas at arbitrary byte positions.
fn tool_input_parts() -> BoxedStrategy<Vec<String>> {
    (
        prop::collection::btree_map("[a-z]{1,6}", text(), 0..3),
        prop::collection::vec(0..64usize, 0..3),
    )
        .prop_map(|(args, cuts)| {
            let s = serde_json::to_string(&args).unwrap();
            let mut at: Vec<usize> = cuts
                .into_iter()
                .map(|c| c % (s.len() + 1))
                .filter(|c| s.is_char_boundary(*c))
                .collect();
            at.sort_unstable();
            at.dedup();
            let mut parts = Vec::new();
            let mut from = 0;
            for c in at {
                parts.push(s[from..c].to_owned());
                from = c;
            }
            parts.push(s[from..].to_owned());
            parts
        })
        .boxed()
}

/// One content block of an answer.
#[derive(Debug, Clone)]
enum Block {
    Text(Vec<String>),
    Reasoning(Vec<String>, String),
    Tool(String, Vec<String>),
}

fn block() -> BoxedStrategy<Block> {
    prop_oneof![
        4 => prop::collection::vec(text(), 1..4).prop_map(Block::Text),
        1 => (prop::collection::vec(text(), 1..3), "[A-Za-z0-9+/]{8,40}")
            .prop_map(|(t, sig)| Block::Reasoning(t, sig)),
        2 => (tool_name(), tool_input_parts()).prop_map(|(n, p)| Block::Tool(n, p)),
    ]
    .boxed()
}

/// A whole answer: its blocks, stop reason and usage.
#[derive(Debug, Clone)]
struct Answer {
    blocks: Vec<Block>,
    stop: &'static str,
    usage: (u64, u64),
    with_metadata: bool,
}

fn answer() -> BoxedStrategy<Answer> {
    (
        prop::collection::vec(block(), 0..4),
        prop::sample::select(
            &[
                "end_turn",
                "tool_use",
                "max_tokens",
                "stop_sequence",
                "guardrail_intervened",
                "content_filtered",
            ][..],
        ),
        (tokens(), tokens()),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(blocks, stop, usage, with_metadata)| Answer {
            blocks,
            stop,
            usage,
            with_metadata,
        })
        .boxed()
}

/// The ConverseStream events of an answer.
fn converse_events(a: &Answer) -> Vec<(String, Value)> {
    let mut ev = vec![("messageStart".to_owned(), json!({"role": "assistant"}))];
    for (i, b) in a.blocks.iter().enumerate() {
        match b {
            Block::Text(parts) => {
                for t in parts {
                    ev.push((
                        "contentBlockDelta".into(),
                        json!({"contentBlockIndex": i, "delta": {"text": t}}),
                    ));
                }
            }
            Block::Reasoning(parts, sig) => {
                for t in parts {
                    ev.push((
                        "contentBlockDelta".into(),
                        json!({"contentBlockIndex": i,
                        "delta": {"reasoningContent": {"text": t}}}),
                    ));
                }
                ev.push((
                    "contentBlockDelta".into(),
                    json!({"contentBlockIndex": i,
                    "delta": {"reasoningContent": {"signature": sig}}}),
                ));
            }
            Block::Tool(name, parts) => {
                ev.push((
                    "contentBlockStart".into(),
                    json!({"contentBlockIndex": i,
                    "start": {"toolUse": {"toolUseId": format!("tooluse_{i}"), "name": name}}}),
                ));
                for p in parts {
                    ev.push((
                        "contentBlockDelta".into(),
                        json!({"contentBlockIndex": i,
                        "delta": {"toolUse": {"input": p}}}),
                    ));
                }
            }
        }
        ev.push(("contentBlockStop".into(), json!({"contentBlockIndex": i})));
    }
    ev.push(("messageStop".into(), json!({"stopReason": a.stop})));
    if a.with_metadata {
        let (i, o) = a.usage;
        ev.push((
            "metadata".into(),
            json!({"usage": {"inputTokens": i, "outputTokens": o,
            "totalTokens": i.saturating_add(o)}, "metrics": {"latencyMs": 12}}),
        ));
    }
    ev
}

/// The native Claude (InvokeModelWithResponseStream) events of an answer.
fn native_events(a: &Answer) -> Vec<Value> {
    let (input, output) = a.usage;
    let mut ev = vec![
        json!({"type": "message_start", "message": {"id": "msg_bdrk_01", "type": "message",
        "role": "assistant", "model": "claude", "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": 1}}}),
    ];
    for (i, b) in a.blocks.iter().enumerate() {
        match b {
            Block::Text(parts) => {
                ev.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}));
                for t in parts {
                    ev.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": t}}));
                }
            }
            Block::Reasoning(parts, sig) => {
                ev.push(json!({"type": "content_block_start", "index": i,
                    "content_block": {"type": "thinking", "thinking": ""}}));
                for t in parts {
                    ev.push(json!({"type": "content_block_delta", "index": i,
                        "delta": {"type": "thinking_delta", "thinking": t}}));
                }
                ev.push(json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "signature_delta", "signature": sig}}));
            }
            Block::Tool(name, parts) => {
                ev.push(
                    json!({"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": format!("toolu_{i}"), "name": name, "input": {}}}),
                );
                for p in parts {
                    ev.push(json!({"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": p}}));
                }
            }
        }
        ev.push(json!({"type": "content_block_stop", "index": i}));
    }
    let stop = match a.stop {
        "guardrail_intervened" | "content_filtered" => "refusal",
        s => s,
    };
    ev.push(
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": output}}),
    );
    let mut last = json!({"type": "message_stop"});
    if a.with_metadata {
        last["amazon-bedrock-invocationMetrics"] = json!({"inputTokenCount": input,
            "outputTokenCount": output, "invocationLatency": 10, "firstByteLatency": 5});
    }
    ev.push(last);
    ev
}

fn header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

/// One event frame, as Bedrock writes it (with its `"p"` padding member).
fn frame(event_type: &str, mut payload: Value, pad: &str) -> Vec<u8> {
    if let Some(o) = payload.as_object_mut() {
        o.insert("p".into(), Value::String(pad.to_owned()));
    }
    let message = Message::new(Bytes::from(serde_json::to_vec(&payload).unwrap()))
        .add_header(header(":event-type", event_type))
        .add_header(header(":content-type", "application/json"))
        .add_header(header(":message-type", "event"));
    let mut out = Vec::new();
    write_message_to(&message, &mut out).expect("headers within limits");
    out
}

/// The stream body of `events`, split at `cuts` (positions into the body, any order).
fn body_chunks(frames: &[Vec<u8>], cuts: &[usize]) -> Vec<Bytes> {
    let body: Vec<u8> = frames.concat();
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut chunks = Vec::new();
    let mut from = 0;
    for c in at {
        chunks.push(Bytes::copy_from_slice(&body[from..c]));
        from = c;
    }
    chunks.push(Bytes::copy_from_slice(&body[from..]));
    chunks
}

/// Decodes the chunks as the server does (frame codec, then `message_to_event`).
fn decode(chunks: &[Bytes]) -> Vec<StreamEvent> {
    let mut codec = FrameCodec::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        while let Some(msg) = codec.decode(&mut buf).expect("valid frames decode") {
            out.push(message_to_event(msg, None).expect("events, not exceptions"));
        }
    }
    assert!(
        codec
            .decode_eof(&mut buf)
            .expect("no trailing bytes")
            .is_none(),
        "every frame was decoded before the end"
    );
    out
}

/// Counts reach and checks it at the end.
struct Reach(&'static str, Cell<usize>, Cell<usize>);

impl Reach {
    fn new(name: &'static str) -> Reach {
        Reach(name, Cell::new(0), Cell::new(0))
    }
    fn count(&self, reached: bool) {
        self.1.set(self.1.get() + 1);
        self.2.set(self.2.get() + usize::from(reached));
    }
    fn check(&self) {
        let (n, r) = (self.1.get(), self.2.get());
        println!(
            "reach {}: {r} of {n} streams translated to their end",
            self.0
        );
        assert!(n > 0);
        assert!(
            r as f64 >= MIN_REACH * n as f64,
            "{}: only {r} of {n} streams reached the end of translation",
            self.0
        );
    }
}

/// Chat chunks from ConverseStream events; true when the stream ended with a finish reason.
fn converse_to_chat(events: &[StreamEvent], json_mode: bool) -> bool {
    let names = tool_names();
    let mut t = ConverseStreamTranslator::new(&response_ctx(&names, json_mode), true);
    let mut finish = None;
    for e in events {
        match t.on_event(&e.event_type, &e.payload) {
            Ok(chunks) => {
                for c in chunks {
                    serde_json::to_vec(&c).expect("chunk serialises");
                    if let Some(f) = c.choices.first().and_then(|c| c.finish_reason.clone()) {
                        finish = Some(f);
                    }
                }
            }
            Err(err) => {
                assert_upstream_error(&err, &e.event_type);
                return false;
            }
        }
    }
    for c in t.finish() {
        serde_json::to_vec(&c).expect("chunk serialises");
        if let Some(f) = c.choices.first().and_then(|c| c.finish_reason.clone()) {
            finish = Some(f);
        }
    }
    finish.is_some()
}

/// Anthropic events from ConverseStream events; true when `message_stop` went out.
fn converse_to_anthropic(events: &[StreamEvent]) -> bool {
    let mut t = MessagesStreamTranslator::new("msg_test".into(), "m", tool_names());
    let mut kinds = Vec::new();
    for e in events {
        match t.on_event(&e.event_type, &e.payload) {
            Ok(out) => kinds.extend(out.into_iter().map(|s| {
                serde_json::from_slice::<Value>(&s.data).expect("event data is JSON");
                s.event.into_owned()
            })),
            Err(err) => {
                assert_upstream_error(&err, &e.event_type);
                return false;
            }
        }
    }
    kinds.extend(t.finish().into_iter().map(|s| s.event.into_owned()));
    kinds.last().map(String::as_str) == Some("message_stop")
        && kinds.iter().filter(|k| *k == "message_stop").count() == 1
}

#[test]
fn converse_streams_reach_the_end_of_translation() {
    let chat = Reach::new("ConverseStream -> chat chunks");
    let anthropic = Reach::new("ConverseStream -> Anthropic events");
    let strategy = (
        answer(),
        prop::collection::vec(any::<usize>(), 0..6),
        any::<bool>(),
        "[a-zA-Z0-9]{1,32}",
    );
    runner()
        .run(&strategy, |(a, cuts, json_mode, pad)| {
            let frames: Vec<Vec<u8>> = converse_events(&a)
                .into_iter()
                .map(|(ty, p)| frame(&ty, p, &pad))
                .collect();
            let events = decode(&body_chunks(&frames, &cuts));
            assert_eq!(events.len(), frames.len(), "one event per frame");
            chat.count(converse_to_chat(&events, json_mode));
            anthropic.count(converse_to_anthropic(&events));
            Ok(())
        })
        .unwrap();
    chat.check();
    anthropic.check();
}

#[test]
fn native_claude_streams_reach_the_end_of_translation() {
    let chat = Reach::new("native Claude chunks -> chat chunks");
    let relay = Reach::new("native Claude chunks -> relayed Anthropic events");
    let strategy = (
        answer(),
        prop::collection::vec(any::<usize>(), 0..6),
        "[a-zA-Z0-9]{1,32}",
    );
    runner()
        .run(&strategy, |(a, cuts, pad)| {
            let frames: Vec<Vec<u8>> = native_events(&a)
                .iter()
                .map(|ev| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .encode(serde_json::to_vec(ev).unwrap());
                    frame("chunk", json!({"bytes": bytes}), &pad)
                })
                .collect();
            let events = decode(&body_chunks(&frames, &cuts));
            assert_eq!(events.len(), frames.len(), "one event per frame");

            let names = tool_names();
            let mut t = InvokeStreamTranslator::new(
                InvokeFamily::Anthropic,
                &response_ctx(&names, false),
                true,
            );
            let mut finish = None;
            let mut failed = false;
            for e in &events {
                match t.on_event(&e.event_type, &e.payload) {
                    Ok(chunks) => {
                        for c in chunks {
                            serde_json::to_vec(&c).expect("chunk serialises");
                            if let Some(f) = c.choices.first().and_then(|c| c.finish_reason.clone())
                            {
                                finish = Some(f);
                            }
                        }
                    }
                    Err(err) => {
                        assert_upstream_error(&err, "native chunk");
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                for c in t.finish() {
                    if let Some(f) = c.choices.first().and_then(|c| c.finish_reason.clone()) {
                        finish = Some(f);
                    }
                }
            }
            chat.count(!failed && finish.is_some());

            let mut r = NativeStreamRelay::new();
            let mut relayed = 0;
            let mut ok = true;
            for e in &events {
                match r.on_event(&e.event_type, &e.payload) {
                    Ok(Some(sse)) => {
                        let v: Value = serde_json::from_slice(&sse.data).expect("relayed JSON");
                        assert_eq!(v["type"], sse.event.as_ref(), "the event names its type");
                        assert!(
                            v.get("amazon-bedrock-invocationMetrics").is_none(),
                            "Bedrock's metrics are not relayed"
                        );
                        relayed += 1;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        assert_upstream_error(&err, "native relay");
                        ok = false;
                        break;
                    }
                }
            }
            relay.count(ok && r.stopped() && relayed == events.len());
            Ok(())
        })
        .unwrap();
    chat.check();
    relay.check();
}
