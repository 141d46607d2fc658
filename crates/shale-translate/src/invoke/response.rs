//! The neutral result of parsing any family's response body ([`Parts`]) and its assembly into a
//! `chat.completion`, with usage taken from the body or, failing that, from Bedrock's
//! `X-Amzn-Bedrock-Input/Output-Token-Count` headers.

use crate::completion::{AssistantAnswer, ChatCompletion, ThinkingBlock, ToolCallOut};
use crate::context::ResponseContext;
use crate::converse::{usage_from_bedrock, BedrockUsage};

/// What a family's response body says.
#[derive(Debug, Default)]
pub(super) struct Parts {
    pub content: Option<String>,
    pub reasoning: Option<String>,
    pub thinking_blocks: Vec<ThinkingBlock>,
    pub tool_calls: Vec<ToolCallOut>,
    /// OpenAI `finish_reason` (empty = `stop`).
    pub finish: &'static str,
    /// Usage reported in the body.
    pub usage: Option<BedrockUsage>,
    pub reasoning_tokens: Option<u64>,
}

/// Build the `chat.completion`.
pub(super) fn assemble(
    parts: Parts,
    headers_usage: Option<(u64, u64)>,
    ctx: &ResponseContext<'_>,
) -> ChatCompletion {
    let usage = parts
        .usage
        .or_else(|| {
            headers_usage.map(|(input, output)| BedrockUsage {
                input_tokens: input,
                output_tokens: output,
                ..BedrockUsage::default()
            })
        })
        .map(|u| usage_from_bedrock(&u, parts.reasoning_tokens));
    let finish = if parts.finish.is_empty() {
        "stop"
    } else {
        parts.finish
    };
    ChatCompletion::single_choice(
        ctx,
        AssistantAnswer {
            content: parts.content,
            reasoning: parts.reasoning,
            thinking_blocks: parts.thinking_blocks,
            tool_calls: parts.tool_calls,
            finish_reason: finish.to_owned(),
            usage,
        },
    )
}
