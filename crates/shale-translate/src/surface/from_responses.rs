//! Responses answers → chat, for chat clients of a Responses-only model: a `response` object
//! becomes one `chat.completion` ([`responses_to_completion`]: `output_text` parts → content,
//! `reasoning` items → `reasoning_content`, `function_call` items → `tool_calls`, status →
//! finish reason, usage with cached and reasoning tokens), and the typed Responses stream becomes
//! `chat.completion.chunk`s ([`ResponsesChunks`], a state machine: text and reasoning deltas,
//! tool calls with running indexes, the finish chunk and usage at `response.completed`). Also
//! [`usage_of`], the usage of a Responses answer, for relays.
//!
//! Must not: keep a response (the gateway's store is the server's), or hold the request
//! direction ([`super::to_responses`]).

use serde::Deserialize;
use serde_json::Value;

use crate::chat::EventTranslator;
use crate::completion::{
    AssistantAnswer, ChatChunk, ChatCompletion, ChunkStamp, CompletionTokensDetails, Delta,
    FunctionOut, PromptTokensDetails, ToolCallOut, Usage,
};
use crate::context::ResponseContext;
use crate::error::TranslateError;

#[derive(Deserialize, Default)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize, Default)]
struct OutputDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

/// A Responses `usage` object.
#[derive(Deserialize, Default)]
pub struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

impl ResponsesUsage {
    /// In chat terms (`prompt_tokens` includes the cached tokens, as Responses' `input_tokens`).
    pub fn to_chat(&self) -> Usage {
        let cached = self
            .input_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens);
        let reasoning = self
            .output_tokens_details
            .as_ref()
            .map_or(0, |d| d.reasoning_tokens);
        Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self
                .total_tokens
                .unwrap_or(self.input_tokens + self.output_tokens),
            prompt_tokens_details: (cached > 0).then_some(PromptTokensDetails {
                cached_tokens: cached,
                cache_creation_tokens: 0,
            }),
            completion_tokens_details: (reasoning > 0).then_some(CompletionTokensDetails {
                reasoning_tokens: reasoning,
            }),
            cache_read_input_tokens: (cached > 0).then_some(cached),
            cache_creation_input_tokens: None,
        }
    }
}

/// The usage of a Responses `response` object (in chat terms).
pub fn usage_of(response: &Value) -> Option<Usage> {
    ResponsesUsage::deserialize(response.get("usage")?)
        .ok()
        .map(|u| u.to_chat())
}

/// The text of a `reasoning` item: its summary parts, else its `reasoning_text` content.
fn reasoning_text(item: &Value) -> String {
    let parts = |key: &str| -> Vec<&str> {
        item.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect()
    };
    let summary = parts("summary");
    if summary.is_empty() {
        parts("content").join("")
    } else {
        summary.join("\n\n")
    }
}

/// The chat finish reason of a finished response.
fn finish_reason(response: &Value, has_tool_calls: bool) -> &'static str {
    match response.get("status").and_then(Value::as_str) {
        Some("incomplete") => match response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
        {
            Some("content_filter") => "content_filter",
            _ => "length",
        },
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

fn upstream(e: impl std::fmt::Display) -> TranslateError {
    TranslateError::InvalidUpstream(format!("Responses answer: {e}"))
}

/// A `response` object → `chat.completion` (id, created and model from `ctx`).
pub fn responses_to_completion(
    body: &[u8],
    ctx: &ResponseContext<'_>,
) -> Result<ChatCompletion, TranslateError> {
    let r: Value = serde_json::from_slice(body).map_err(upstream)?;
    if r.get("status").and_then(Value::as_str) == Some("failed") {
        return Err(failed(&r));
    }
    Ok(ChatCompletion::single_choice(ctx, answer_of(&r)))
}

fn failed(r: &Value) -> TranslateError {
    let code = r
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("failed");
    let message = r
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("the model failed");
    TranslateError::InvalidUpstream(format!("the response failed ({code}): {message}"))
}

fn answer_of(r: &Value) -> AssistantAnswer {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    let mut refusal = false;
    for item in r
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match part.get("type").and_then(Value::as_str) {
                        Some("output_text") => {
                            content.push_str(part.get("text").and_then(Value::as_str).unwrap_or(""))
                        }
                        Some("refusal") => {
                            refusal = true;
                            content
                                .push_str(part.get("refusal").and_then(Value::as_str).unwrap_or(""))
                        }
                        _ => {}
                    }
                }
            }
            Some("reasoning") => reasoning.push_str(&reasoning_text(item)),
            Some("function_call") => tool_calls.push(ToolCallOut {
                id: item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                kind: "function".into(),
                function: FunctionOut {
                    name: item
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    arguments: item
                        .get("arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}")
                        .to_owned(),
                },
            }),
            _ => {}
        }
    }
    let finish = if refusal {
        "content_filter"
    } else {
        finish_reason(r, !tool_calls.is_empty())
    };
    AssistantAnswer {
        content: (!content.is_empty()).then_some(content),
        reasoning: (!reasoning.is_empty()).then_some(reasoning),
        thinking_blocks: Vec::new(),
        tool_calls,
        finish_reason: finish.to_owned(),
        usage: usage_of(r),
    }
}

/// The Responses stream of one answer → chat chunks.
#[derive(Debug)]
pub struct ResponsesChunks {
    stamp: ChunkStamp,
    include_usage: bool,
    /// `output_index` of each function call → its running tool-call index.
    tools: Vec<(u64, u32)>,
    usage: Option<Usage>,
    finished: bool,
}

impl ResponsesChunks {
    pub fn new(ctx: &ResponseContext<'_>, include_usage: bool) -> Self {
        ResponsesChunks {
            stamp: ChunkStamp::new(ctx.id.clone(), ctx.created, ctx.model_name.to_owned()),
            include_usage,
            tools: Vec::new(),
            usage: None,
            finished: false,
        }
    }

    fn tool_index(&self, output_index: u64) -> Option<u32> {
        self.tools
            .iter()
            .find(|(o, _)| *o == output_index)
            .map(|(_, k)| *k)
    }

    fn end(&mut self, reason: &str, out: &mut Vec<ChatChunk>) {
        if self.finished {
            return;
        }
        self.finished = true;
        out.extend(self.stamp.role_chunk());
        out.push(self.stamp.chunk(Delta::default(), Some(reason)));
        if let (true, Some(u)) = (self.include_usage, &self.usage) {
            out.push(self.stamp.usage_chunk(u.clone()));
        }
    }
}

impl EventTranslator for ResponsesChunks {
    fn on_event(&mut self, event: &str, payload: &[u8]) -> Result<Vec<ChatChunk>, TranslateError> {
        let mut out = Vec::new();
        if self.finished {
            return Ok(out);
        }
        let v: Value = serde_json::from_slice(payload).map_err(upstream)?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(event);
        let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        match kind {
            "response.created" | "response.in_progress" => out.extend(self.stamp.role_chunk()),
            "response.output_text.delta" | "response.refusal.delta" => {
                out.extend(self.stamp.text_chunk(None, text("delta")));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                out.extend(self.stamp.text_chunk(text("delta"), None));
            }
            "response.output_item.added"
                if v.pointer("/item/type").and_then(Value::as_str) == Some("function_call") =>
            {
                let output_index = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                let k = self.tools.len() as u32;
                self.tools.push((output_index, k));
                let item = &v["item"];
                let field = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
                let delta = Delta::tool_call(
                    k,
                    field("call_id"),
                    field("name"),
                    field("arguments").unwrap_or_default(),
                );
                out.push(self.stamp.chunk(delta, None));
            }
            "response.function_call_arguments.delta" => {
                let output_index = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(k) = self.tool_index(output_index) {
                    let delta = Delta::tool_call(k, None, None, text("delta").unwrap_or_default());
                    out.push(self.stamp.chunk(delta, None));
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = v.get("response").unwrap_or(&Value::Null);
                self.usage = usage_of(response);
                let reason = finish_reason(response, !self.tools.is_empty());
                self.end(reason, &mut out);
            }
            "response.failed" => return Err(failed(v.get("response").unwrap_or(&Value::Null))),
            _ => {}
        }
        Ok(out)
    }

    fn finish(&mut self) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        let reason = if self.tools.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        self.end(reason, &mut out);
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.clone()
    }
}
