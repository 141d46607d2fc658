//! The neutral result of parsing any family's response body ([`Parts`]) and its assembly into a
//! `chat.completion`, with usage taken from the body or, failing that, from Bedrock's
//! `X-Amzn-Bedrock-Input/Output-Token-Count` headers.

use crate::completion::{ChatCompletion, Choice, ResponseMessage, ThinkingBlock, ToolCallOut};
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
    ChatCompletion {
        id: ctx.id.clone(),
        object: "chat.completion".into(),
        created: ctx.created,
        model: ctx.model_name.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: parts.content,
                reasoning_content: parts.reasoning.filter(|r| !r.is_empty()),
                thinking_blocks: (!parts.thinking_blocks.is_empty())
                    .then_some(parts.thinking_blocks),
                tool_calls: (!parts.tool_calls.is_empty()).then_some(parts.tool_calls),
            },
            finish_reason: Some(finish.to_owned()),
            logprobs: None,
        }],
        usage,
        service_tier: None,
        trace: None,
    }
}
