//! OpenAI-format invoke bodies: `openai/<arn>` imported models, Moonshot Kimi, gpt-oss, Qwen and
//! DeepSeek v3 foundation models on the invoke route, and AI21 Jamba (the same shape with
//! string-only content). Request: the normalised conversation written back as OpenAI messages
//! (no `model` / `stream`); response: an OpenAI `chat.completion` body.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::common::{max_tokens, pass_through, put, stop_sequences, system_text, Prepared};
use super::response::Parts;
use super::InvokeFamily;
use crate::completion::{FunctionOut, ToolCallOut};
use crate::converse::BedrockUsage;
use crate::error::TranslateError;
use crate::media::MediaKind;
use crate::normalize::{Block, MediaSource, TurnRole};
use crate::openai::JsonMap;
use crate::think::{split_whole, ThinkMode};

fn unsupported(what: &str, family: InvokeFamily) -> TranslateError {
    TranslateError::invalid(
        "messages",
        format!(
            "{what} is not supported by {} on the invoke route",
            family.display_name()
        ),
    )
}

/// Content parts of user blocks; `strings_only` flattens to one string (Jamba).
fn user_content(
    blocks: Vec<Block>,
    family: InvokeFamily,
    strings_only: bool,
) -> Result<Option<Value>, TranslateError> {
    let mut parts: Vec<Value> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut only_text = true;
    for b in blocks {
        match b {
            Block::Text(t) | Block::GuardedText(t) => {
                parts.push(json!({"type": "text", "text": t}));
                texts.push(t);
            }
            Block::Media(m) if m.kind == MediaKind::Image && !strings_only => {
                let MediaSource::Base64(data) = m.source else {
                    return Err(unsupported("an image from S3", family));
                };
                only_text = false;
                let url = format!("data:image/{};base64,{data}", m.format);
                parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
            Block::Media(m) => {
                return Err(unsupported(&format!("{} input", m.format), family));
            }
            _ => {}
        }
    }
    Ok(if parts.is_empty() {
        None
    } else if only_text {
        Some(Value::String(texts.join("\n")))
    } else {
        Some(Value::Array(parts))
    })
}

fn tool_result_text(content: Vec<Block>) -> String {
    content
        .into_iter()
        .filter_map(|b| match b {
            Block::Text(t) | Block::GuardedText(t) => Some(t),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Build the body.
pub(super) fn build(family: InvokeFamily, p: &mut Prepared) -> Result<JsonMap, TranslateError> {
    let jamba = family == InvokeFamily::Ai21Jamba;
    let mut messages: Vec<Value> = Vec::new();
    if let Some(s) = system_text(&p.conv.system) {
        messages.push(json!({"role": "system", "content": s}));
    }
    for turn in std::mem::take(&mut p.conv.turns) {
        match turn.role {
            TurnRole::User => {
                let mut rest = Vec::new();
                for b in turn.blocks {
                    match b {
                        Block::ToolResult { id, content } => messages.push(json!({
                            "role": "tool", "tool_call_id": id, "content": tool_result_text(content)})),
                        other => rest.push(other),
                    }
                }
                if let Some(c) = user_content(rest, family, jamba)? {
                    messages.push(json!({"role": "user", "content": c}));
                }
            }
            TurnRole::Assistant => {
                let mut text: Vec<String> = Vec::new();
                let mut calls: Vec<Value> = Vec::new();
                for b in turn.blocks {
                    match b {
                        Block::Text(t) | Block::GuardedText(t) => text.push(t),
                        Block::ToolUse { id, name, input } => calls.push(json!({"id": id,
                            "type": "function", "function": {"name": name, "arguments": input.to_string()}})),
                        _ => {}
                    }
                }
                let mut m = Map::new();
                m.insert("role".into(), "assistant".into());
                m.insert(
                    "content".into(),
                    if text.is_empty() {
                        Value::Null
                    } else {
                        Value::String(text.join("\n"))
                    },
                );
                if !calls.is_empty() {
                    m.insert("tool_calls".into(), Value::Array(calls));
                }
                messages.push(Value::Object(m));
            }
        }
    }
    let req = &mut p.req;
    let mut b = Map::new();
    b.insert("messages".into(), Value::Array(messages));
    if let (Some(m), false) = (req.max_completion_tokens, jamba) {
        b.insert("max_completion_tokens".into(), m.into());
    } else {
        put(&mut b, "max_tokens", max_tokens(req));
    }
    put(&mut b, "temperature", req.temperature);
    put(&mut b, "top_p", req.top_p);
    put(&mut b, "stop", stop_sequences(req));
    if let Some(tools) = req.tools.take().filter(|t| !t.is_empty()) {
        b.insert(
            "tools".into(),
            serde_json::to_value(tools).unwrap_or(Value::Null),
        );
    }
    put(&mut b, "tool_choice", req.tool_choice.take());
    put(&mut b, "parallel_tool_calls", req.parallel_tool_calls);
    if let Some(rf) = req.response_format.take() {
        if rf.kind != "text" {
            b.insert(
                "response_format".into(),
                serde_json::to_value(rf).unwrap_or(Value::Null),
            );
        }
    }
    if !jamba {
        put(&mut b, "reasoning_effort", req.reasoning_effort.take());
    }
    pass_through(std::mem::take(&mut req.extra), &mut b);
    Ok(b)
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<ChoiceIn>,
    #[serde(default)]
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct ChoiceIn {
    #[serde(default)]
    message: Option<MessageIn>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct MessageIn {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallIn>,
}

#[derive(Deserialize)]
pub(super) struct ToolCallIn {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionIn>,
}

#[derive(Deserialize)]
pub(super) struct FunctionIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// `usage` of an OpenAI-format body or chunk.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct UsageIn {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<Value>,
    #[serde(default)]
    pub completion_tokens_details: Option<Value>,
}

impl UsageIn {
    /// As Bedrock usage (`input` excludes cached prompt tokens) and the reasoning tokens.
    pub fn split(&self) -> (BedrockUsage, Option<u64>) {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(self.prompt_tokens);
        let reasoning = self
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.get("reasoning_tokens"))
            .and_then(Value::as_u64);
        (
            BedrockUsage {
                input_tokens: self.prompt_tokens - cached,
                output_tokens: self.completion_tokens,
                cache_read_input_tokens: cached,
                cache_write_input_tokens: 0,
            },
            reasoning,
        )
    }
}

/// An OpenAI `finish_reason` as given, or mapped when the model used its own word.
pub(super) fn finish(reason: &str) -> &'static str {
    match reason {
        "stop" => "stop",
        "length" => "length",
        "tool_calls" | "function_call" => "tool_calls",
        "content_filter" => "content_filter",
        other => super::native::finish_reason(other),
    }
}

/// Function arguments as a JSON string (an object is serialised).
pub(super) fn arguments_string(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Parse an OpenAI-format response body.
pub(super) fn parse_response(family: InvokeFamily, body: &[u8]) -> Result<Parts, TranslateError> {
    let c: Completion = serde_json::from_slice(body).map_err(|e| {
        TranslateError::InvalidUpstream(format!("{} response: {e}", family.display_name()))
    })?;
    let mut parts = Parts::default();
    let choice = c.choices.into_iter().next().ok_or_else(|| {
        TranslateError::InvalidUpstream(format!(
            "{} response has no choices",
            family.display_name()
        ))
    })?;
    if let Some(m) = choice.message {
        let text = match m.content {
            Some(Value::String(s)) => Some(s),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<String>(),
            ),
            _ => None,
        };
        parts.reasoning = m.reasoning_content.or(m.reasoning);
        parts.content = match text {
            Some(t) if parts.reasoning.is_none() => {
                let (r, c) = split_whole(&t, ThinkMode::Leading);
                parts.reasoning = r;
                c
            }
            other => other,
        };
        for tc in m.tool_calls {
            let f = tc.function.unwrap_or(FunctionIn {
                name: None,
                arguments: None,
            });
            parts.tool_calls.push(ToolCallOut {
                id: tc.id.unwrap_or_default(),
                kind: "function".into(),
                function: FunctionOut {
                    name: f.name.unwrap_or_default(),
                    arguments: arguments_string(f.arguments),
                },
            });
        }
    }
    parts.finish = choice
        .finish_reason
        .as_deref()
        .map(finish)
        .unwrap_or("stop");
    if let Some(u) = c.usage {
        let (u, r) = u.split();
        parts.usage = Some(u);
        parts.reasoning_tokens = r;
    }
    Ok(parts)
}
