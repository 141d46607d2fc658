//! Converse response body → OpenAI `chat.completion`.

use serde::Deserialize;
use serde_json::Value;

use super::common::{finish_reason, reasoning_tokens, usage_from_bedrock, BedrockUsage};
use super::tools::JSON_TOOL_NAME;
use crate::completion::{AssistantAnswer, ChatCompletion, FunctionOut, ThinkingBlock, ToolCallOut};
use crate::context::{JsonMode, ResponseContext};
use crate::error::TranslateError;
use crate::think::split_think;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    #[serde(default)]
    output: Option<Output>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<BedrockUsage>,
    #[serde(default)]
    additional_model_response_fields: Option<Value>,
    #[serde(default)]
    trace: Option<Value>,
    #[serde(default)]
    service_tier: Option<Value>,
}

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    message: Option<OutMessage>,
}

#[derive(Deserialize)]
struct OutMessage {
    #[serde(default)]
    content: Vec<OutBlock>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutBlock {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<OutToolUse>,
    #[serde(default)]
    reasoning_content: Option<OutReasoning>,
    #[serde(default)]
    citations_content: Option<OutCitations>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutToolUse {
    tool_use_id: String,
    name: String,
    #[serde(default)]
    input: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutReasoning {
    #[serde(default)]
    reasoning_text: Option<OutReasoningText>,
    #[serde(default)]
    redacted_content: Option<String>,
}

#[derive(Deserialize)]
struct OutReasoningText {
    #[serde(default)]
    text: String,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
struct OutCitations {
    #[serde(default)]
    content: Vec<OutCitationText>,
}

#[derive(Deserialize)]
struct OutCitationText {
    #[serde(default)]
    text: Option<String>,
}

/// Translate a Converse response body into a `chat.completion`.
pub fn converse_to_chat(
    bedrock_body: &[u8],
    ctx: &ResponseContext<'_>,
) -> Result<ChatCompletion, TranslateError> {
    let r: ConverseResponse = serde_json::from_slice(bedrock_body)
        .map_err(|e| TranslateError::InvalidUpstream(format!("Converse response: {e}")))?;
    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    let mut json_answer: Option<String> = None;
    let blocks = r.output.and_then(|o| o.message).map(|m| m.content);
    for b in blocks.into_iter().flatten() {
        if let Some(t) = b.text {
            has_text = true;
            if text.is_empty() {
                text = t; // the usual single text block: moved, not copied
            } else {
                text.push_str(&t);
            }
        }
        if let Some(c) = b.citations_content {
            for t in c.content.into_iter().filter_map(|c| c.text) {
                has_text = true;
                text.push_str(&t);
            }
        }
        if let Some(rc) = b.reasoning_content {
            if let Some(rt) = rc.reasoning_text {
                reasoning.push_str(&rt.text);
                thinking_blocks.push(ThinkingBlock::thinking(rt.text, rt.signature));
            }
            if let Some(d) = rc.redacted_content {
                thinking_blocks.push(ThinkingBlock::redacted(d));
            }
        }
        if let Some(tu) = b.tool_use {
            if ctx.json_mode == JsonMode::ToolCall && tu.name == JSON_TOOL_NAME {
                json_answer = Some(tu.input.to_string());
                continue;
            }
            tool_calls.push(ToolCallOut {
                id: tu.tool_use_id,
                kind: "function".into(),
                function: FunctionOut {
                    name: ctx.tool_names.original(&tu.name).to_owned(),
                    arguments: tu.input.to_string(),
                },
            });
        }
    }
    let mut content = has_text.then_some(text);
    if let Some(c) = &content {
        if let Some((r, rest)) = split_think(c) {
            if !reasoning.is_empty() {
                reasoning.push('\n');
            }
            reasoning.push_str(r);
            content = Some(rest.to_owned());
        }
    }
    let mut finish = r
        .stop_reason
        .as_deref()
        .map(finish_reason)
        .unwrap_or("stop");
    if let Some(j) = json_answer {
        content = Some(j);
        if tool_calls.is_empty() && finish == "tool_calls" {
            finish = "stop";
        }
    }
    let amrf = r.additional_model_response_fields.as_ref();
    let usage = r
        .usage
        .as_ref()
        .map(|u| usage_from_bedrock(u, reasoning_tokens(amrf)));
    let answer = AssistantAnswer {
        content,
        reasoning: Some(reasoning),
        thinking_blocks,
        tool_calls,
        finish_reason: finish.to_owned(),
        usage,
    };
    Ok(ChatCompletion {
        service_tier: r
            .service_tier
            .as_ref()
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        trace: r.trace,
        ..ChatCompletion::single_choice(ctx, answer)
    })
}
