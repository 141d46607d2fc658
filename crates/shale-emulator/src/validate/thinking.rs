//! Claude's extended-thinking rules as Bedrock enforces them: budgets, a thinking block first in
//! every assistant turn of a thinking conversation, and signatures that must verify.

use super::{v, BedrockException};
use crate::answer::reasoning_signature;
use serde_json::Value;

/// Claude's extended-thinking parameter rules; returns whether thinking is enabled.
pub fn check_thinking(
    thinking: Option<&Value>,
    max_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    forced_tool: bool,
) -> Result<bool, BedrockException> {
    let Some(thinking) = thinking.filter(|t| !t.is_null()) else {
        return Ok(false);
    };
    let kind = thinking.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "disabled" => return Ok(false),
        "enabled" => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| v("The model returned the following errors: thinking.enabled.budget_tokens: Field required"))?;
            if budget < 1024 {
                return Err(v("The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"));
            }
            if let Some(max) = max_tokens {
                if max <= budget {
                    return Err(v(format!("The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size (max_tokens={max}, budget_tokens={budget})")));
                }
            }
        }
        "adaptive" => {}
        other => {
            return Err(v(format!("The model returned the following errors: thinking: Input tag '{other}' found using 'type' does not match any of the expected tags: 'disabled', 'enabled', 'adaptive'")));
        }
    }
    if temperature.is_some_and(|t| (t - 1.0).abs() > f64::EPSILON) {
        return Err(v("The model returned the following errors: `temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"));
    }
    if top_p.is_some_and(|p| p < 0.95) {
        return Err(v("The model returned the following errors: `top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"));
    }
    if forced_tool {
        return Err(v("The model returned the following errors: Thinking may not be enabled when tool_choice forces tool use."));
    }
    Ok(true)
}

fn thinking_first_error(i: usize, found: &str) -> BedrockException {
    v(format!("The model returned the following errors: messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"))
}

fn invalid_signature(i: usize, j: usize) -> BedrockException {
    v(format!("The model returned the following errors: messages.{i}.content.{j}: Invalid `signature` in `thinking` block"))
}

/// With thinking on: reasoning signatures must verify, and the assistant turn answered by the
/// final tool results must start with a reasoning block (Converse shapes).
pub(super) fn check_converse_thinking_history(messages: &[Value]) -> Result<(), BedrockException> {
    for (i, m) in messages.iter().enumerate() {
        for (j, block) in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(rt) = block
                .get("reasoningContent")
                .and_then(|r| r.get("reasoningText"))
            {
                let text = rt.get("text").and_then(Value::as_str).unwrap_or("");
                let sig = rt.get("signature").and_then(Value::as_str);
                if sig != Some(reasoning_signature(text).as_str()) {
                    return Err(invalid_signature(i, j));
                }
            }
        }
    }
    check_final_assistant_starts_with_reasoning(
        messages,
        |block| {
            let obj = block.as_object()?;
            obj.keys().next().map(|k| match k.as_str() {
                "reasoningContent" => None,
                "toolUse" => Some("tool_use"),
                _ => Some("text"),
            })?
        },
        |m| {
            m.get("content")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|b| b.get("toolResult").is_some()))
        },
    )
}

/// Shared rule: if the last message is a user turn answering tool calls, the assistant turn
/// before it must start with a reasoning block. `kind` returns `None` for reasoning blocks,
/// else the Anthropic type name of the block.
pub fn check_final_assistant_starts_with_reasoning(
    messages: &[Value],
    kind: impl Fn(&Value) -> Option<&'static str>,
    has_tool_results: impl Fn(&Value) -> bool,
) -> Result<(), BedrockException> {
    let n = messages.len();
    if n < 2 || !has_tool_results(&messages[n - 1]) {
        return Ok(());
    }
    let assistant = &messages[n - 2];
    let first = match assistant.get("content") {
        Some(Value::Array(c)) => c.first(),
        _ => None,
    };
    match first.and_then(&kind) {
        Some(found) => Err(thinking_first_error(n - 2, found)),
        None => Ok(()),
    }
}
