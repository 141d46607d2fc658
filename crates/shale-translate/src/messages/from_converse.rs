//! Converse answer → Anthropic Messages answer (`type: message`): text, `tool_use` (original tool
//! names restored), `thinking` with its signature, `redacted_thinking`, the stop-reason table of
//! [`stop_reason`], and usage with cache read / write tokens.
//!
//! Must not: invent content; a block kind it does not know is skipped.

use serde_json::{json, Value};

use crate::error::TranslateError;
use crate::names::ToolNameMap;

/// Per-request data for building the answer.
#[derive(Debug, Clone)]
pub struct MessagesResponseContext<'a> {
    /// The `model` the client asked for (echoed back).
    pub model_name: &'a str,
    pub tool_names: &'a ToolNameMap,
    /// `msg_…` (see [`super::new_message_id`]).
    pub id: String,
}

/// Anthropic `stop_reason` for a Converse `stopReason`.
pub fn stop_reason(converse: &str) -> &'static str {
    match converse {
        "end_turn" => "end_turn",
        "tool_use" => "tool_use",
        "max_tokens" => "max_tokens",
        "stop_sequence" => "stop_sequence",
        "model_context_window_exceeded" => "model_context_window_exceeded",
        "guardrail_intervened" | "content_filtered" => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic usage from a Converse `usage` object (`inputTokens` already excludes cached tokens,
/// as Anthropic's `input_tokens` does).
pub fn usage(u: Option<&Value>) -> Value {
    let n = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    json!({
        "input_tokens": n("inputTokens"),
        "output_tokens": n("outputTokens"),
        "cache_creation_input_tokens": n("cacheWriteInputTokens"),
        "cache_read_input_tokens": n("cacheReadInputTokens"),
    })
}

/// One Converse content block as an Anthropic block (`None` for kinds without a counterpart).
pub(crate) fn block(b: &Value, names: &ToolNameMap) -> Option<Value> {
    if let Some(t) = b.get("text").and_then(Value::as_str) {
        return Some(json!({"type": "text", "text": t}));
    }
    if let Some(tu) = b.get("toolUse") {
        let name = tu.get("name").and_then(Value::as_str).unwrap_or("");
        return Some(json!({"type": "tool_use",
            "id": tu.get("toolUseId").and_then(Value::as_str).unwrap_or(""),
            "name": names.original(name),
            "input": tu.get("input").cloned().unwrap_or_else(|| json!({}))}));
    }
    if let Some(rc) = b.get("reasoningContent") {
        if let Some(rt) = rc.get("reasoningText") {
            return Some(json!({"type": "thinking",
                "thinking": rt.get("text").and_then(Value::as_str).unwrap_or(""),
                "signature": rt.get("signature").and_then(Value::as_str).unwrap_or("")}));
        }
        if let Some(d) = rc.get("redactedContent").and_then(Value::as_str) {
            return Some(json!({"type": "redacted_thinking", "data": d}));
        }
    }
    if let Some(c) = b.get("citationsContent") {
        let text: String = c
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        return Some(json!({"type": "text", "text": text}));
    }
    None
}

/// Translate a Converse response body into a Messages response.
pub fn converse_to_messages(
    bedrock_body: &[u8],
    ctx: &MessagesResponseContext<'_>,
) -> Result<Value, TranslateError> {
    let r: Value = serde_json::from_slice(bedrock_body)
        .map_err(|e| TranslateError::InvalidUpstream(format!("Converse response: {e}")))?;
    let content: Vec<Value> = r
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| block(b, ctx.tool_names))
        .collect();
    let stop = r
        .get("stopReason")
        .and_then(Value::as_str)
        .map(stop_reason)
        .unwrap_or("end_turn");
    Ok(json!({
        "id": ctx.id,
        "type": "message",
        "role": "assistant",
        "model": ctx.model_name,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": r.pointer("/additionalModelResponseFields/stop_sequence").cloned().unwrap_or(Value::Null),
        "usage": usage(r.get("usage")),
    }))
}
