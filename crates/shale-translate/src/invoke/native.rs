//! Reading the prompt-string families' outputs (Llama `generation`, Mistral `outputs[0].text`,
//! Titan `outputText`, Cohere `generations[0].text` / `text`, AI21 `completions[0].data.text`,
//! DeepSeek R1 `choices[0].text`, Pegasus `message`, …). One tolerant reader serves response
//! bodies and stream events alike, so imported models with any of these shapes work.

use serde_json::Value;

use super::response::Parts;
use super::InvokeFamily;
use crate::converse::BedrockUsage;
use crate::error::TranslateError;
use crate::think::{split_whole, ThinkMode};

/// Where generated text may sit, most specific first.
const TEXT_PATHS: &[&str] = &[
    "/generation",
    "/outputs/0/text",
    "/results/0/outputText",
    "/outputText",
    "/generations/0/text",
    "/completions/0/data/text",
    "/choices/0/text",
    "/choices/0/message/content",
    "/choices/0/delta/content",
    "/message",
    "/text",
];

/// Where the stop reason may sit.
const FINISH_PATHS: &[&str] = &[
    "/stop_reason",
    "/outputs/0/stop_reason",
    "/results/0/completionReason",
    "/completionReason",
    "/generations/0/finish_reason",
    "/finish_reason",
    "/completions/0/finishReason/reason",
    "/choices/0/stop_reason",
    "/choices/0/finish_reason",
    "/finishReason",
];

const INPUT_TOKEN_PATHS: &[&str] = &[
    "/prompt_token_count",
    "/inputTextTokenCount",
    "/usage/prompt_tokens",
    "/usage/input_tokens",
    "/meta/billed_units/input_tokens",
];

const OUTPUT_TOKEN_PATHS: &[&str] = &[
    "/generation_token_count",
    "/results/0/tokenCount",
    "/totalOutputTextTokenCount",
    "/usage/completion_tokens",
    "/usage/output_tokens",
    "/meta/billed_units/output_tokens",
];

/// One body or stream event, read.
#[derive(Debug, Default, PartialEq)]
pub(super) struct NativeEvent<'a> {
    pub text: Option<&'a str>,
    pub finish: Option<&'a str>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

fn first_str<'a>(v: &'a Value, paths: &[&str]) -> Option<&'a str> {
    paths
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
}

fn first_u64(v: &Value, paths: &[&str]) -> Option<u64> {
    paths
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_u64))
}

/// Read text, stop reason and token counts from a native body or event.
pub(super) fn read(v: &Value) -> NativeEvent<'_> {
    // Cohere Command R stream events other than text-generation carry no new text
    let text = match v.get("event_type").and_then(Value::as_str) {
        Some(t) if t != "text-generation" => None,
        _ => first_str(v, TEXT_PATHS),
    };
    NativeEvent {
        text,
        finish: first_str(v, FINISH_PATHS),
        input_tokens: first_u64(v, INPUT_TOKEN_PATHS),
        output_tokens: first_u64(v, OUTPUT_TOKEN_PATHS),
    }
}

/// OpenAI `finish_reason` for a native stop reason (any family, any case).
pub fn finish_reason(reason: &str) -> &'static str {
    match reason.to_ascii_lowercase().as_str() {
        "length" | "max_tokens" | "model_length" | "max_length" | "max_tokens_reached" => "length",
        "content_filtered" | "content_filter" | "error_toxic" | "guardrail_intervened" => {
            "content_filter"
        }
        "tool_calls" | "tool_use" => "tool_calls",
        _ => "stop",
    }
}

/// The `<think>` mode of a family's text.
pub(super) fn think_mode(family: InvokeFamily) -> ThinkMode {
    if family == InvokeFamily::DeepSeekR1 {
        ThinkMode::Open
    } else {
        ThinkMode::Leading
    }
}

/// Parse a prompt-family response body.
pub(super) fn parse_response(family: InvokeFamily, body: &[u8]) -> Result<Parts, TranslateError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        TranslateError::InvalidUpstream(format!("{} response: {e}", family.display_name()))
    })?;
    let ev = read(&v);
    let Some(text) = ev.text else {
        return Err(TranslateError::InvalidUpstream(format!(
            "{} response has no generated text",
            family.display_name()
        )));
    };
    let (reasoning, content) = split_whole(text, think_mode(family));
    Ok(Parts {
        content: Some(content.unwrap_or_default()),
        reasoning,
        finish: ev.finish.map(finish_reason).unwrap_or("stop"),
        usage: match (ev.input_tokens, ev.output_tokens) {
            (Some(i), Some(o)) => Some(BedrockUsage {
                input_tokens: i,
                output_tokens: o,
                ..BedrockUsage::default()
            }),
            _ => None,
        },
        ..Parts::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_shape() {
        let cases = [
            (
                json!({"generation": "a", "stop_reason": "length", "prompt_token_count": 3, "generation_token_count": 4}),
                "a",
                Some("length"),
                Some(3),
                Some(4),
            ),
            (
                json!({"outputs": [{"text": "b", "stop_reason": "stop"}]}),
                "b",
                Some("stop"),
                None,
                None,
            ),
            (
                json!({"inputTextTokenCount": 5, "results": [{"tokenCount": 6, "outputText": "c", "completionReason": "FINISH"}]}),
                "c",
                Some("FINISH"),
                Some(5),
                Some(6),
            ),
            (
                json!({"generations": [{"text": "d", "finish_reason": "COMPLETE"}], "prompt": "p"}),
                "d",
                Some("COMPLETE"),
                None,
                None,
            ),
            (
                json!({"completions": [{"data": {"text": "e"}, "finishReason": {"reason": "endoftext"}}]}),
                "e",
                Some("endoftext"),
                None,
                None,
            ),
            (
                json!({"choices": [{"text": "f", "stop_reason": "stop"}]}),
                "f",
                Some("stop"),
                None,
                None,
            ),
            (
                json!({"message": "g", "finishReason": "stop"}),
                "g",
                Some("stop"),
                None,
                None,
            ),
            (
                json!({"text": "h", "finish_reason": "COMPLETE"}),
                "h",
                Some("COMPLETE"),
                None,
                None,
            ),
        ];
        for (v, text, finish, i, o) in cases {
            let e = read(&v);
            assert_eq!(e.text, Some(text), "{v}");
            assert_eq!(e.finish, finish, "{v}");
            assert_eq!((e.input_tokens, e.output_tokens), (i, o), "{v}");
        }
        let end = json!({"event_type": "stream-end", "finish_reason": "MAX_TOKENS", "response": {"text": "all"}});
        assert_eq!(read(&end).text, None);
        assert_eq!(finish_reason(read(&end).finish.unwrap()), "length");
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason("FINISH"), "stop");
        assert_eq!(finish_reason("LENGTH"), "length");
        assert_eq!(finish_reason("CONTENT_FILTERED"), "content_filter");
        assert_eq!(finish_reason("ERROR_TOXIC"), "content_filter");
        assert_eq!(finish_reason("endoftext"), "stop");
    }
}
