//! Pieces shared by the non-streaming and streaming response translators: Bedrock wire shapes
//! for usage, the finish-reason table, the usage conversion and the response context.

use serde::Deserialize;
use serde_json::Value;

use super::tools::JsonMode;
use crate::completion::{CompletionTokensDetails, PromptTokensDetails, Usage};
use crate::names::ToolNameMap;

/// Per-request data for translating a response.
#[derive(Debug, Clone)]
pub struct ResponseContext<'a> {
    /// The `model_name` the client asked for (echoed as `model`).
    pub model_name: &'a str,
    pub tool_names: &'a ToolNameMap,
    pub json_mode: JsonMode,
    /// Unix seconds.
    pub created: u64,
    /// `chatcmpl-…` (see [`new_completion_id`]).
    pub id: String,
}

/// A fresh `chatcmpl-<uuid>` id.
pub fn new_completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4())
}

/// Bedrock `usage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BedrockUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_write_input_tokens: u64,
}

/// OpenAI `finish_reason` for a Bedrock `stopReason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

/// Reasoning tokens reported in `additionalModelResponseFields` (requested through
/// `additionalModelResponseFieldPaths: ["/usage/output_tokens_details"]`).
pub(crate) fn reasoning_tokens(amrf: Option<&Value>) -> Option<u64> {
    let a = amrf?;
    a.pointer("/usage/output_tokens_details/reasoning_tokens")
        .or_else(|| a.pointer("/output_tokens_details/reasoning_tokens"))
        .and_then(Value::as_u64)
}

/// OpenAI usage: `prompt_tokens = input + cache read + cache write`.
pub fn usage_from_bedrock(u: &BedrockUsage, reasoning_tokens: Option<u64>) -> Usage {
    let prompt = u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt + u.output_tokens,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: u.cache_read_input_tokens,
            cache_creation_tokens: u.cache_write_input_tokens,
        }),
        completion_tokens_details: reasoning_tokens
            .map(|reasoning_tokens| CompletionTokensDetails { reasoning_tokens }),
        cache_read_input_tokens: Some(u.cache_read_input_tokens),
        cache_creation_input_tokens: Some(u.cache_write_input_tokens),
    }
}
