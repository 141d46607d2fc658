//! Pieces shared by the non-streaming and streaming response translators: Bedrock wire shapes
//! for usage, the finish-reason table and the usage conversion.

use serde::Deserialize;
use serde_json::Value;

use crate::completion::{CompletionTokensDetails, PromptTokensDetails, Usage};

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
    // Saturating: the counts come from Bedrock and must not be able to panic (or wrap).
    let prompt = u
        .input_tokens
        .saturating_add(u.cache_read_input_tokens)
        .saturating_add(u.cache_write_input_tokens);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt.saturating_add(u.output_tokens),
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
