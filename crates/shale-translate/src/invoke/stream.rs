//! InvokeModelWithResponseStream `chunk` events → `chat.completion.chunk`s through an explicit
//! state machine: base64 payload decoding, per-family event reading (Anthropic native events,
//! OpenAI-format chunks, prompt-family text events), `<think>` splitting across chunk
//! boundaries, running tool-call indexes, finish reason and usage (from the events or
//! `amazon-bedrock-invocationMetrics`). Also [`completion_to_chunks`] for families that cannot
//! stream.

use base64::Engine as _;
use serde::Deserialize;
use std::borrow::Cow;

use serde_json::Value;

use super::anthropic::{self, AnthropicUsage};
use super::native;
use super::openai_format::{self, ToolCallIn, UsageIn};
use super::InvokeFamily;
use crate::completion::{
    ChatChunk, ChatCompletion, ChunkChoice, ChunkStamp, Delta, FunctionDelta, ThinkingBlock,
    ToolCallDelta, Usage,
};
use crate::context::{JsonMode, ResponseContext};
use crate::converse::{usage_from_bedrock, BedrockUsage, JSON_TOOL_NAME};
use crate::error::TranslateError;
use crate::names::ToolNameMap;
use crate::think::{Split, ThinkSplitter};

/// What an Anthropic content block index turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    /// A client tool call with running index `k`.
    Tool(u32),
    /// The JSON-mode tool: its input deltas become `content`.
    JsonTool,
}

#[derive(Deserialize)]
struct ChunkPayload {
    bytes: String,
}

/// `amazon-bedrock-invocationMetrics`: the token counts the last chunk of an
/// InvokeModelWithResponseStream answer carries (read as a [`BedrockUsage`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationMetrics {
    #[serde(default)]
    pub input_token_count: u64,
    #[serde(default)]
    pub output_token_count: u64,
    #[serde(default)]
    pub cache_read_input_token_count: u64,
    #[serde(default)]
    pub cache_write_input_token_count: u64,
}

impl From<InvocationMetrics> for BedrockUsage {
    fn from(m: InvocationMetrics) -> BedrockUsage {
        BedrockUsage {
            input_tokens: m.input_token_count,
            output_tokens: m.output_token_count,
            cache_read_input_tokens: m.cache_read_input_token_count,
            cache_write_input_tokens: m.cache_write_input_token_count,
        }
    }
}

/// The per-stream state machine. Feed every event with [`Self::on_event`], then call
/// [`Self::finish`] when the upstream ends cleanly; serialise each chunk as an SSE `data:` line.
#[derive(Debug)]
pub struct InvokeStreamTranslator {
    family: InvokeFamily,
    stamp: ChunkStamp,
    tool_names: ToolNameMap,
    json_mode: JsonMode,
    include_usage: bool,
    think: ThinkSplitter,
    /// Client tool calls seen so far (the next `tool_calls[].index`).
    tool_count: u32,
    json_tool_used: bool,
    blocks: Vec<(u64, BlockKind)>,
    /// Anthropic `message_start` usage, `output_tokens` updated by `message_delta`.
    anthropic_usage: Option<AnthropicUsage>,
    /// Usage read from the events themselves (OpenAI-format and prompt families).
    event_usage: Option<BedrockUsage>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    metrics: Option<BedrockUsage>,
    reasoning_tokens: Option<u64>,
    finish_sent: bool,
    usage_sent: bool,
}

impl InvokeStreamTranslator {
    /// A translator for one stream of `family`; `include_usage` is
    /// `stream_options.include_usage` (see [`crate::ChatCall::include_usage`]).
    pub fn new(family: InvokeFamily, ctx: &ResponseContext<'_>, include_usage: bool) -> Self {
        InvokeStreamTranslator {
            family,
            stamp: ChunkStamp::new(ctx.id.clone(), ctx.created, ctx.model_name.to_owned()),
            tool_names: ctx.tool_names.clone(),
            json_mode: ctx.json_mode,
            include_usage,
            think: ThinkSplitter::new(native::think_mode(family)),
            tool_count: 0,
            json_tool_used: false,
            blocks: Vec::new(),
            anthropic_usage: None,
            event_usage: None,
            input_tokens: None,
            output_tokens: None,
            metrics: None,
            reasoning_tokens: None,
            finish_sent: false,
            usage_sent: false,
        }
    }

    /// The usage known so far (complete once the stream has ended).
    pub fn usage(&self) -> Option<Usage> {
        let from_events = match (&self.anthropic_usage, &self.event_usage) {
            // a stream without message_start knows only the output count: use the metrics
            (Some(a), _) if a.input_tokens.is_some() || self.metrics.is_none() => {
                Some(a.to_bedrock())
            }
            (Some(_), _) => None,
            (None, Some(u)) => Some(u.clone()),
            (None, None) => match (self.input_tokens, self.output_tokens) {
                (Some(i), Some(o)) => Some(BedrockUsage {
                    input_tokens: i,
                    output_tokens: o,
                    ..BedrockUsage::default()
                }),
                _ => None,
            },
        };
        // prompt families: Bedrock's own metrics are authoritative; others carry cache detail
        let prefer_metrics = !matches!(
            self.family,
            InvokeFamily::Anthropic | InvokeFamily::OpenAiFormat | InvokeFamily::Ai21Jamba
        );
        let u = if prefer_metrics {
            self.metrics.clone().or(from_events)
        } else {
            from_events.or_else(|| self.metrics.clone())
        };
        u.map(|u| usage_from_bedrock(&u, self.reasoning_tokens))
    }

    /// Whether a chunk with a `finish_reason` was produced.
    pub fn finished(&self) -> bool {
        self.finish_sent
    }

    fn chunk(&mut self, delta: Delta, finish_reason: Option<&str>) -> ChatChunk {
        self.stamp.chunk(delta, finish_reason)
    }

    fn role_chunk(&mut self, out: &mut Vec<ChatChunk>) {
        out.extend(self.stamp.role_chunk());
    }

    fn split_chunk(&mut self, (reasoning, content): Split, out: &mut Vec<ChatChunk>) {
        out.extend(self.stamp.text_chunk(reasoning, content));
    }

    fn text(&mut self, text: &str, out: &mut Vec<ChatChunk>) {
        if !text.is_empty() {
            let split = self.think.push(text);
            self.split_chunk(split, out);
        }
    }

    fn finish_chunk(&mut self, finish: &str, out: &mut Vec<ChatChunk>) {
        let split = self.think.flush();
        self.split_chunk(split, out);
        if self.finish_sent {
            return;
        }
        let finish = if self.json_tool_used && self.tool_count == 0 && finish == "tool_calls" {
            "stop"
        } else {
            finish
        };
        self.finish_sent = true;
        out.push(self.chunk(Delta::default(), Some(finish)));
    }

    fn usage_chunk(&mut self, out: &mut Vec<ChatChunk>) {
        if !self.include_usage || self.usage_sent {
            return;
        }
        self.usage_sent = true;
        out.push(self.stamp.usage_chunk(self.usage().unwrap_or_default()));
    }

    fn tool_delta(
        &mut self,
        k: u32,
        id: Option<String>,
        name: Option<String>,
        args: String,
    ) -> Delta {
        let start = id.is_some() || name.is_some();
        Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index: k,
                id,
                kind: start.then_some(Cow::Borrowed("function")),
                function: FunctionDelta {
                    name,
                    arguments: args,
                },
            }]),
            ..Delta::default()
        }
    }

    /// Translate one event: `chunk` events (`{"bytes":"<base64>"}` payloads; unknown members
    /// such as the padding `p` are ignored) yield chunks, other event types nothing. Exception
    /// frames are the caller's to report (the server renders them as the error event).
    pub fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<ChatChunk>, TranslateError> {
        if event_type != "chunk" {
            return Ok(Vec::new());
        }
        let p: ChunkPayload = serde_json::from_slice(payload)
            .map_err(|e| TranslateError::InvalidUpstream(format!("chunk event: {e}")))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(p.bytes.as_bytes())
            .map_err(|e| TranslateError::InvalidUpstream(format!("chunk bytes: {e}")))?;
        self.on_native_event(&raw)
    }

    /// Translate one model-native stream event, already decoded (the JSON a `chunk` carries; an
    /// Anthropic server-sent event's data on bedrock-mantle's `/anthropic` surface).
    pub fn on_native_event(&mut self, raw: &[u8]) -> Result<Vec<ChatChunk>, TranslateError> {
        let mut out = Vec::new();
        let v: Value = serde_json::from_slice(raw)
            .map_err(|e| TranslateError::InvalidUpstream(format!("chunk JSON: {e}")))?;
        match self.family {
            InvokeFamily::Anthropic => self.anthropic_event(&v, &mut out)?,
            InvokeFamily::OpenAiFormat | InvokeFamily::Ai21Jamba => {
                self.openai_event(&v, &mut out)?
            }
            _ => self.native_event(&v, &mut out),
        }
        if let Some(m) = v.get("amazon-bedrock-invocationMetrics") {
            if let Ok(m) = InvocationMetrics::deserialize(m) {
                self.metrics = Some(m.into());
            }
            // the metrics ride on the last event of the stream
            if self.finish_sent {
                self.usage_chunk(&mut out);
            }
        }
        Ok(out)
    }

    fn native_event(&mut self, v: &Value, out: &mut Vec<ChatChunk>) {
        let ev = native::read(v);
        if let Some(t) = ev.text {
            self.text(t, out);
        }
        if self.input_tokens.is_none() {
            self.input_tokens = ev.input_tokens;
        }
        if ev.output_tokens.is_some() {
            self.output_tokens = ev.output_tokens;
        }
        if let Some(f) = ev.finish {
            self.finish_chunk(native::finish_reason(f), out);
        }
    }

    fn openai_event(&mut self, v: &Value, out: &mut Vec<ChatChunk>) -> Result<(), TranslateError> {
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            let u = UsageIn::deserialize(u)
                .map_err(|e| TranslateError::InvalidUpstream(format!("chunk usage: {e}")))?;
            let (u, r) = u.split();
            self.event_usage = Some(u);
            self.reasoning_tokens = r;
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return Ok(());
        };
        if let Some(d) = choice.get("delta") {
            if d.get("role").is_some() {
                self.role_chunk(out);
            }
            let reasoning = d
                .get("reasoning_content")
                .or_else(|| d.get("reasoning"))
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty());
            if let Some(r) = reasoning {
                let delta = Delta {
                    reasoning_content: Some(r.to_owned()),
                    ..Delta::default()
                };
                out.push(self.chunk(delta, None));
            }
            if let Some(t) = d.get("content").and_then(Value::as_str) {
                self.text(t, out);
            }
            if let Some(calls) = d.get("tool_calls").filter(|c| !c.is_null()) {
                let calls = Vec::<ToolCallIn>::deserialize(calls).map_err(|e| {
                    TranslateError::InvalidUpstream(format!("chunk tool_calls: {e}"))
                })?;
                for (i, tc) in calls.into_iter().enumerate() {
                    let k = tc.index.unwrap_or(i as u32);
                    self.tool_count = self.tool_count.max(k.saturating_add(1));
                    let (name, args) = match tc.function {
                        Some(f) => (f.name, openai_format::arguments_string(f.arguments)),
                        None => (None, String::new()),
                    };
                    let name = name.map(|n| self.tool_names.original(&n).to_owned());
                    let delta = self.tool_delta(k, tc.id, name, args);
                    out.push(self.chunk(delta, None));
                }
            }
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_chunk(openai_format::finish(f), out);
        }
        Ok(())
    }

    fn anthropic_event(
        &mut self,
        v: &Value,
        out: &mut Vec<ChatChunk>,
    ) -> Result<(), TranslateError> {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.anthropic_usage = AnthropicUsage::deserialize(u).ok();
                }
                self.role_chunk(out);
            }
            "content_block_start" => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                        if self.json_mode == JsonMode::ToolCall && name == JSON_TOOL_NAME {
                            self.json_tool_used = true;
                            self.blocks.push((index, BlockKind::JsonTool));
                        } else {
                            let k = self.tool_count;
                            self.tool_count = self.tool_count.saturating_add(1);
                            self.blocks.push((index, BlockKind::Tool(k)));
                            let id = block.get("id").and_then(Value::as_str).unwrap_or("");
                            let name = self.tool_names.original(name).to_owned();
                            let delta =
                                self.tool_delta(k, Some(id.to_owned()), Some(name), String::new());
                            out.push(self.chunk(delta, None));
                        }
                    }
                    Some("text") => {
                        if let Some(t) = block.get("text").and_then(Value::as_str) {
                            self.text(t, out);
                        }
                    }
                    Some("redacted_thinking") => {
                        if let Some(d) = block.get("data").and_then(Value::as_str) {
                            let delta = Delta {
                                thinking_blocks: Some(vec![ThinkingBlock::redacted(d.to_owned())]),
                                ..Delta::default()
                            };
                            out.push(self.chunk(delta, None));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => self.text(&s("text"), out),
                    Some("input_json_delta") if !s("partial_json").is_empty() => {
                        let kind = self
                            .blocks
                            .iter()
                            .find(|(i, _)| *i == index)
                            .map(|&(_, k)| k);
                        let kind = kind.unwrap_or_else(|| {
                            let k = BlockKind::Tool(self.tool_count);
                            self.tool_count = self.tool_count.saturating_add(1);
                            self.blocks.push((index, k));
                            k
                        });
                        let delta = match kind {
                            BlockKind::JsonTool => Delta {
                                content: Some(s("partial_json")),
                                ..Delta::default()
                            },
                            BlockKind::Tool(k) => self.tool_delta(k, None, None, s("partial_json")),
                        };
                        out.push(self.chunk(delta, None));
                    }
                    Some("thinking_delta") => {
                        let t = s("thinking");
                        let delta = Delta {
                            thinking_blocks: Some(vec![ThinkingBlock::thinking(t.clone(), None)]),
                            reasoning_content: Some(t),
                            ..Delta::default()
                        };
                        out.push(self.chunk(delta, None));
                    }
                    Some("signature_delta") => {
                        let delta = Delta {
                            thinking_blocks: Some(vec![ThinkingBlock::thinking(
                                String::new(),
                                Some(s("signature")),
                            )]),
                            ..Delta::default()
                        };
                        out.push(self.chunk(delta, None));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                // cumulative counts: any member present replaces the one from message_start
                if let Some(u) = v
                    .get("usage")
                    .and_then(|u| AnthropicUsage::deserialize(u).ok())
                {
                    let acc = self.anthropic_usage.get_or_insert_with(Default::default);
                    acc.input_tokens = u.input_tokens.or(acc.input_tokens);
                    acc.output_tokens = u.output_tokens.or(acc.output_tokens);
                    acc.cache_read_input_tokens =
                        u.cache_read_input_tokens.or(acc.cache_read_input_tokens);
                    acc.cache_creation_input_tokens = u
                        .cache_creation_input_tokens
                        .or(acc.cache_creation_input_tokens);
                }
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.finish_chunk(anthropic::finish_reason(r), out);
                }
            }
            "error" => {
                let msg = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("stream error");
                return Err(TranslateError::InvalidUpstream(format!(
                    "Anthropic stream error: {msg}"
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// Chunks due at the end of the stream: held-back text, a `stop` finish chunk when the
    /// model never reported one, and the usage chunk (`choices: []`) with `include_usage`.
    pub fn finish(&mut self) -> Vec<ChatChunk> {
        let mut out = Vec::new();
        self.finish_chunk("stop", &mut out);
        self.usage_chunk(&mut out);
        out
    }
}

/// A complete answer as the chunks of a stream (for families Bedrock cannot stream, see
/// [`InvokeFamily::supports_streaming`]): one chunk with the role, content, reasoning and whole
/// tool calls, one with the finish reason, and with `include_usage` a final usage chunk.
pub fn completion_to_chunks(c: ChatCompletion, include_usage: bool) -> Vec<ChatChunk> {
    let mut out = Vec::with_capacity(3);
    let chunk = |delta: Delta, finish: Option<String>| ChatChunk {
        id: c.id.clone(),
        object: "chat.completion.chunk".into(),
        created: c.created,
        model: c.model.clone(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
        }],
        usage: None,
    };
    let (message, finish) = match c.choices.first() {
        Some(ch) => (Some(ch.message.clone()), ch.finish_reason.clone()),
        None => (None, None),
    };
    let m = message.unwrap_or(crate::completion::ResponseMessage {
        role: "assistant".into(),
        content: None,
        reasoning_content: None,
        thinking_blocks: None,
        tool_calls: None,
    });
    let delta = Delta {
        role: Some("assistant".into()),
        content: Some(m.content.unwrap_or_default()),
        reasoning_content: m.reasoning_content,
        thinking_blocks: m.thinking_blocks,
        tool_calls: m.tool_calls.map(|calls| {
            calls
                .into_iter()
                .enumerate()
                .map(|(i, tc)| ToolCallDelta {
                    index: i as u32,
                    id: Some(tc.id),
                    kind: Some("function".into()),
                    function: FunctionDelta {
                        name: Some(tc.function.name),
                        arguments: tc.function.arguments,
                    },
                })
                .collect()
        }),
    };
    out.push(chunk(delta, None));
    out.push(chunk(
        Delta::default(),
        Some(finish.unwrap_or_else(|| "stop".into())),
    ));
    if include_usage {
        out.push(ChatChunk {
            id: c.id.clone(),
            object: "chat.completion.chunk".into(),
            created: c.created,
            model: c.model.clone(),
            choices: Vec::new(),
            usage: Some(c.usage.clone().unwrap_or_default()),
        });
    }
    out
}
