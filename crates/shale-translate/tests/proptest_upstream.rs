//! Property tests for what Bedrock sends back: stream translators fed arbitrary event sequences
//! (real fixture streams with events mutated, dropped, retyped or repeated, and arbitrary payload
//! bytes), and the whole-answer translators fed mutated and arbitrary bodies. Never a panic; a
//! bad answer is a typed `InvalidUpstream` error (a 502), never a client error.
//! Case count: `PROPTEST_CASES` (default 256 per property).

mod mutate;

use base64::Engine as _;
use mutate::{assert_upstream_error, config, drive, response_ctx, stream_events, tool_names};
use proptest::prelude::*;
use serde_json::{json, Value};
use shale_translate::chat::ChatStreamTranslator;
use shale_translate::embeddings::parse_embedding_response;
use shale_translate::images::{bedrock_to_image_response, ResponseFormat};
use shale_translate::invoke::{invoke_to_chat, InvokeFamily, InvokeStreamTranslator};
use shale_translate::{converse_to_chat, ConverseStreamTranslator, TranslateError};

const FAMILIES: &[InvokeFamily] = &InvokeFamily::ALL;

const CONVERSE_EVENTS: &[&str] = &[
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
    "chunk",
    "",
];

/// A Converse stream translator fed `events` (see [`drive`]).
fn run_converse(events: &[(String, Vec<u8>)], json_mode: bool, include_usage: bool) {
    let names = tool_names();
    let t = ConverseStreamTranslator::new(&response_ctx(&names, json_mode), include_usage);
    drive(&mut ChatStreamTranslator::Converse(t), events);
}

/// An invoke stream translator of `family` fed `events` (see [`drive`]).
fn run_invoke(family: InvokeFamily, events: &[(String, Vec<u8>)], include_usage: bool) {
    let names = tool_names();
    let t = InvokeStreamTranslator::new(family, &response_ctx(&names, false), include_usage);
    drive(&mut ChatStreamTranslator::Invoke(t), events);
}

/// Converse fixture streams as `[{type, payload}]` documents.
fn converse_streams() -> Vec<Value> {
    mutate::corpus(&["chat"], "events.json")
}

/// Native invoke fixture streams (`[event]`).
fn invoke_streams() -> Vec<Value> {
    mutate::corpus(&["invoke", "completions"], "events.json")
}

/// Each native event wrapped as the `chunk` payload Bedrock sends (`{"bytes": base64}`).
fn chunk_events(doc: &Value) -> Vec<(String, Vec<u8>)> {
    doc.as_array()
        .into_iter()
        .flatten()
        .map(|ev| {
            let bytes =
                base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(ev).unwrap());
            let payload = json!({"bytes": bytes, "p": "abc"});
            ("chunk".to_owned(), serde_json::to_vec(&payload).unwrap())
        })
        .collect()
}

fn raw_event() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        prop::sample::select(CONVERSE_EVENTS).prop_map(str::to_owned),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            mutate::json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn converse_stream_survives_mutated_streams(
        doc in mutate::mutated(converse_streams(), 6),
        json_mode in any::<bool>(),
        include_usage in any::<bool>(),
    ) {
        run_converse(&stream_events(&doc), json_mode, include_usage);
    }

    #[test]
    fn converse_stream_survives_arbitrary_events(
        events in prop::collection::vec(raw_event(), 0..12),
        include_usage in any::<bool>(),
    ) {
        run_converse(&events, false, include_usage);
    }

    #[test]
    fn invoke_streams_survive_mutated_native_events(
        doc in mutate::mutated(invoke_streams(), 6),
        include_usage in any::<bool>(),
    ) {
        let events = chunk_events(&doc);
        for family in FAMILIES {
            run_invoke(*family, &events, include_usage);
        }
    }

    #[test]
    fn invoke_streams_survive_arbitrary_chunk_payloads(
        events in prop::collection::vec(raw_event(), 0..8),
    ) {
        let events: Vec<_> = events.into_iter().map(|(_, p)| ("chunk".to_owned(), p)).collect();
        for family in FAMILIES {
            run_invoke(*family, &events, true);
        }
    }

    #[test]
    fn converse_answers_translate_or_fail_typed(
        doc in mutate::mutated(mutate::corpus(&["chat"], "bedrock_response.json"), 5),
        json_mode in any::<bool>(),
    ) {
        let names = tool_names();
        if let Err(e) = converse_to_chat(&serde_json::to_vec(&doc).unwrap(), &response_ctx(&names, json_mode)) {
            assert_upstream_error(&e, "converse answer");
        }
    }

    #[test]
    fn invoke_answers_translate_or_fail_typed(
        doc in mutate::mutated(mutate::corpus(&["invoke", "completions"], "bedrock_response.json"), 5),
        header_usage in prop::option::of((any::<u64>(), any::<u64>())),
    ) {
        let names = tool_names();
        let body = serde_json::to_vec(&doc).unwrap();
        for family in FAMILIES {
            if let Err(e) = invoke_to_chat(*family, &body, header_usage, &response_ctx(&names, false)) {
                assert_upstream_error(&e, family.display_name());
            }
        }
    }

    #[test]
    fn embedding_answers_translate_or_fail_typed(
        doc in prop_oneof![
            mutate::mutated(mutate::corpus(&["embeddings"], "bedrock_responses.json"), 4)
                .prop_map(|v| v.get(0).cloned().unwrap_or(v)),
            mutate::json_value(),
        ],
        header in prop::option::of(any::<u64>()),
    ) {
        let body = serde_json::to_vec(&doc).unwrap();
        for family in mutate::EMBEDDING_FAMILIES {
            if let Err(e) = parse_embedding_response(family, &body, header) {
                assert_upstream_error(&e, "embeddings");
            }
        }
    }

    #[test]
    fn image_answers_translate_or_fail_typed(
        doc in mutate::mutated(mutate::corpus(&["images"], "bedrock_response.json"), 4),
    ) {
        let body = serde_json::to_vec(&doc).unwrap();
        for family in mutate::IMAGE_FAMILIES {
            for format in [ResponseFormat::B64Json, ResponseFormat::Url] {
                // A content-filtered image is the client's 400 by design; anything else is
                // Bedrock's fault. An answer carries images in the asked format.
                match bedrock_to_image_response(family, &body, 1_700_000_000, format) {
                    Ok(images) => {
                        for image in &images.data {
                            match format {
                                ResponseFormat::B64Json => assert!(image.b64_json.is_some() && image.url.is_none()),
                                ResponseFormat::Url => assert!(image.url.is_some() && image.b64_json.is_none()),
                            }
                        }
                    }
                    Err(TranslateError::InvalidRequest { code, .. }) => {
                        assert_eq!(code, Some("content_policy_violation"), "only a filtered image is the client's 400");
                    }
                    Err(e) => assert_upstream_error(&e, "images"),
                }
            }
        }
    }
}

/// Answers found to panic (integer overflow on Bedrock-supplied numbers), pinned.
#[test]
fn overflowing_upstream_numbers_are_handled() {
    let huge = u64::MAX;
    let tool = |index: u64| {
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "id": "t",
            "function": {"name": "get_weather", "arguments": "{}"}}]}}]})
    };
    let usage = json!({"choices": [], "usage": {"prompt_tokens": huge, "completion_tokens": huge,
        "total_tokens": huge}, "amazon-bedrock-invocationMetrics": {"inputTokenCount": huge,
        "outputTokenCount": huge, "cacheReadInputTokenCount": huge, "cacheWriteInputTokenCount": huge}});
    let doc = json!([tool(u32::MAX as u64), tool(u32::MAX as u64), usage]);
    for family in FAMILIES {
        run_invoke(*family, &chunk_events(&doc), true);
    }
    let names = tool_names();
    let answer = json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": huge, "outputTokens": huge,
        "cacheReadInputTokens": huge, "cacheWriteInputTokens": huge, "totalTokens": huge}});
    let c = converse_to_chat(
        &serde_json::to_vec(&answer).unwrap(),
        &response_ctx(&names, false),
    )
    .unwrap();
    let usage = serde_json::to_value(c.usage).unwrap();
    assert_eq!(usage["total_tokens"], json!(huge));
}
