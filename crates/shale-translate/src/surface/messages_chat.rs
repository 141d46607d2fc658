//! The Anthropic Messages API in front of a model whose surface speaks OpenAI (chat or
//! Responses — gpt-oss, GPT-5.x, Qwen, … on bedrock-mantle or bedrock-runtime's `/openai/v1`):
//! - [`messages_to_chat`]: the request as a chat request (system → system message, `text` /
//!   `image` / `document` blocks → parts, `tool_use` → `tool_calls`, `tool_result` → `tool`
//!   messages, tools and `tool_choice`, `thinking` → `reasoning_effort`, `stop_sequences`);
//!   `thinking` blocks of earlier turns are left out (their signatures mean nothing to these
//!   models); server tools are refused;
//! - [`completion_to_messages`]: a chat completion as a Messages answer, and [`ChunksToMessages`]
//!   the chunks as Anthropic events — both through the Converse → Messages rules the crate already
//!   has (`crate::messages::from_converse`, `crate::messages::stream`), fed Converse-shaped JSON.
//!
//! Must not: hold Anthropic event rules of its own.

use serde_json::{json, Map, Value};

use crate::chat::EventTranslator;
use crate::completion::{ChatChunk, ChatCompletion, Usage};
use crate::error::TranslateError;
use crate::messages::{
    converse_to_messages, MessagesResponseContext, MessagesStreamTranslator, SseEvent,
};
use crate::names::ToolNameMap;
use crate::openai::{ChatRequest, JsonMap};

fn bad(param: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError::invalid(param, message)
}

/// A Messages request (`model` and `stream` plus the other members) as a chat request.
pub fn messages_to_chat(
    model: &str,
    stream: bool,
    rest: JsonMap,
) -> Result<ChatRequest, TranslateError> {
    let mut messages: Vec<Value> = Vec::new();
    let mut body = Map::new();
    let mut rest = rest;
    match rest.remove("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => messages.push(json!({"role": "system", "content": s})),
        Some(Value::Array(blocks)) => {
            let text: Vec<String> = blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str).map(str::to_owned))
                .collect();
            messages.push(json!({"role": "system", "content": text.join("\n\n")}));
        }
        Some(_) => return Err(bad("system", "system must be a string or a list of blocks")),
    }
    let input = match rest.remove("messages") {
        Some(Value::Array(m)) => m,
        _ => {
            return Err(bad(
                "messages",
                "messages: Field required (a list of {role, content} objects)",
            ))
        }
    };
    for (i, m) in input.into_iter().enumerate() {
        push_turn(m, i, &mut messages)?;
    }
    body.insert("model".into(), model.into());
    body.insert("messages".into(), Value::Array(messages));
    if let Some(Value::Array(tools)) = rest.remove("tools") {
        let mut out = Vec::with_capacity(tools.len());
        for (i, t) in tools.into_iter().enumerate() {
            if t.get("type")
                .and_then(Value::as_str)
                .is_some_and(|k| k != "custom")
            {
                return Err(bad(
                    format!("tools[{i}].type"),
                    format!(
                        "server tool '{}' is not available for this model",
                        t["type"].as_str().unwrap_or("")
                    ),
                ));
            }
            let mut f = json!({"name": t.get("name").cloned().unwrap_or(Value::Null),
                "parameters": t.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"}))});
            if let Some(d) = t.get("description") {
                f["description"] = d.clone();
            }
            out.push(json!({"type": "function", "function": f}));
        }
        if !out.is_empty() {
            body.insert("tools".into(), Value::Array(out));
        }
    }
    if let Some(choice) = rest.remove("tool_choice") {
        if choice.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
            body.insert("parallel_tool_calls".into(), false.into());
        }
        let c = match choice.get("type").and_then(Value::as_str) {
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => {
                json!({"type": "function", "function": {"name": choice.get("name").cloned().unwrap_or(Value::Null)}})
            }
            _ => json!("auto"),
        };
        if body.contains_key("tools") {
            body.insert("tool_choice".into(), c);
        }
    }
    if let Some(m) = rest.remove("max_tokens") {
        body.insert("max_completion_tokens".into(), m);
    }
    if let Some(s) = rest.remove("stop_sequences") {
        body.insert("stop".into(), s);
    }
    for key in ["temperature", "top_p", "top_k"] {
        if let Some(v) = rest.remove(key) {
            body.insert(key.into(), v);
        }
    }
    if let Some(t) = rest.remove("thinking") {
        let effort = match t.get("type").and_then(Value::as_str) {
            Some("enabled") => match t.get("budget_tokens").and_then(Value::as_u64) {
                Some(b) if b < 2048 => Some("low"),
                Some(b) if b < 8192 => Some("medium"),
                _ => Some("high"),
            },
            Some("adaptive") => Some("medium"),
            _ => None,
        };
        if let Some(e) = effort {
            body.insert("reasoning_effort".into(), e.into());
        }
    }
    if let Some(user) = rest
        .remove("metadata")
        .and_then(|m| m.get("user_id").cloned())
    {
        body.insert("user".into(), user);
    }
    if stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    serde_json::from_value(Value::Object(body)).map_err(|e| bad("messages", e.to_string()))
}

fn text_of_blocks(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// One Anthropic block of a user turn as a chat content part.
fn user_part(b: &Value, param: &str) -> Result<Option<Value>, TranslateError> {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
    let source = b.get("source").unwrap_or(&Value::Null);
    let data_url = || {
        format!(
            "data:{};base64,{}",
            source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream"),
            source.get("data").and_then(Value::as_str).unwrap_or("")
        )
    };
    Ok(match kind {
        "text" => {
            Some(json!({"type": "text", "text": b.get("text").cloned().unwrap_or(Value::Null)}))
        }
        "image" => {
            let url = match source.get("type").and_then(Value::as_str) {
                Some("url") => source
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                _ => data_url(),
            };
            Some(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        "document" => match source.get("type").and_then(Value::as_str) {
            Some("text") => Some(
                json!({"type": "text", "text": source.get("data").cloned().unwrap_or(Value::Null)}),
            ),
            _ => Some(json!({"type": "file", "file": {"file_data": data_url(),
                "filename": b.get("title").and_then(Value::as_str).unwrap_or("document.pdf")}})),
        },
        "thinking" | "redacted_thinking" => None,
        other => {
            return Err(bad(
                format!("{param}.type"),
                format!("content block type '{other}' is not supported for this model"),
            ))
        }
    })
}

fn push_turn(m: Value, i: usize, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let param = format!("messages[{i}]");
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    let content = m.get("content").cloned().unwrap_or(Value::Null);
    let blocks = match content {
        Value::String(s) => {
            out.push(json!({"role": if role == "assistant" { "assistant" } else { "user" }, "content": s}));
            return Ok(());
        }
        Value::Array(b) => b,
        _ => {
            return Err(bad(
                format!("{param}.content"),
                "content must be a string or a list of blocks",
            ))
        }
    };
    match role {
        "assistant" => {
            let mut text = String::new();
            let mut calls = Vec::new();
            for b in &blocks {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
                    Some("tool_use") => calls.push(json!({
                        "id": b.get("id").cloned().unwrap_or(Value::Null),
                        "type": "function",
                        "function": {"name": b.get("name").cloned().unwrap_or(Value::Null),
                            "arguments": b.get("input").map_or_else(|| "{}".to_owned(), Value::to_string)}})),
                    _ => {}
                }
            }
            let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { text.into() }});
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            out.push(msg);
        }
        "user" => {
            let mut parts = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                if b.get("type").and_then(Value::as_str) == Some("tool_result") {
                    out.push(json!({"role": "tool",
                        "tool_call_id": b.get("tool_use_id").cloned().unwrap_or(Value::Null),
                        "content": text_of_blocks(b.get("content").unwrap_or(&Value::Null))}));
                    continue;
                }
                parts.extend(user_part(b, &format!("{param}.content[{j}]"))?);
            }
            if !parts.is_empty() {
                out.push(json!({"role": "user", "content": parts}));
            }
        }
        other => {
            return Err(bad(
                format!("{param}.role"),
                format!("unknown role '{other}'"),
            ))
        }
    }
    Ok(())
}

/// A finish reason as Converse's `stopReason` (for the Converse → Messages rules).
fn converse_stop(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls") => "tool_use",
        Some("content_filter") => "content_filtered",
        _ => "end_turn",
    }
}

/// Chat usage in Converse terms (`inputTokens` without the cached tokens).
fn converse_usage(u: Option<&Usage>) -> Value {
    let Some(u) = u else {
        return json!({"inputTokens": 0, "outputTokens": 0});
    };
    let cached = u
        .cache_read_input_tokens
        .or(u.prompt_tokens_details.as_ref().map(|d| d.cached_tokens))
        .unwrap_or(0);
    json!({"inputTokens": u.prompt_tokens.saturating_sub(cached), "outputTokens": u.completion_tokens,
        "cacheReadInputTokens": cached, "cacheWriteInputTokens": 0})
}

/// A chat completion as a Messages answer (`model` and `id` from `ctx`).
pub fn completion_to_messages(
    c: &ChatCompletion,
    ctx: &MessagesResponseContext<'_>,
) -> Result<Value, TranslateError> {
    let choice = c.choices.first();
    let mut content = Vec::new();
    if let Some(m) = choice.map(|c| &c.message) {
        if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
            content.push(json!({"reasoningContent": {"reasoningText": {"text": r}}}));
        }
        if let Some(t) = m.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(json!({"text": t}));
        }
        for call in m.tool_calls.iter().flatten() {
            let input: Value =
                serde_json::from_str(&call.function.arguments).unwrap_or_else(|_| json!({}));
            content.push(json!({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": input}}));
        }
    }
    let converse = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": converse_stop(choice.and_then(|c| c.finish_reason.as_deref())),
        "usage": converse_usage(c.usage.as_ref()),
    });
    converse_to_messages(&serde_json::to_vec(&converse).unwrap_or_default(), ctx)
}

/// What a block of the chunk stream is, for the Converse event indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
    Tool(u32),
}

/// Chat chunks → Anthropic events (through Converse stream events).
#[derive(Debug)]
pub struct ChunksToMessages {
    inner: MessagesStreamTranslator,
    open: Option<Open>,
    index: u64,
    started: bool,
    stop: Option<&'static str>,
    usage: Option<Usage>,
    ended: bool,
}

impl ChunksToMessages {
    pub fn new(id: String, model_name: &str) -> Self {
        ChunksToMessages {
            inner: MessagesStreamTranslator::new(id, model_name, ToolNameMap::new()),
            open: None,
            index: 0,
            started: false,
            stop: None,
            usage: None,
            ended: false,
        }
    }

    fn feed(
        &mut self,
        event: &str,
        v: Value,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), TranslateError> {
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        out.extend(self.inner.on_event(event, &bytes)?);
        Ok(())
    }

    fn index_for(&mut self, kind: Open) -> u64 {
        if self.open != Some(kind) {
            if self.open.is_some() {
                self.index += 1;
            }
            self.open = Some(kind);
        }
        self.index
    }

    /// One chat chunk → Anthropic events.
    pub fn on_chunk(
        &mut self,
        chunk: &ChatChunk,
        out: &mut Vec<SseEvent>,
    ) -> Result<(), TranslateError> {
        if !self.started {
            self.started = true;
            self.feed("messageStart", json!({"role": "assistant"}), out)?;
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let d = &choice.delta;
            if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                let i = self.index_for(Open::Reasoning);
                self.feed(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": i, "delta": {"reasoningContent": {"text": r}}}),
                    out,
                )?;
            }
            if let Some(t) = d.content.as_deref().filter(|t| !t.is_empty()) {
                let i = self.index_for(Open::Text);
                self.feed(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": i, "delta": {"text": t}}),
                    out,
                )?;
            }
            for call in d.tool_calls.iter().flatten() {
                let i = self.index_for(Open::Tool(call.index));
                if let Some(id) = &call.id {
                    let name = call.function.name.clone().unwrap_or_default();
                    self.feed("contentBlockStart", json!({"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": id, "name": name}}}), out)?;
                }
                if !call.function.arguments.is_empty() {
                    self.feed("contentBlockDelta", json!({"contentBlockIndex": i, "delta": {"toolUse": {"input": call.function.arguments}}}), out)?;
                }
            }
            if let Some(f) = choice.finish_reason.as_deref() {
                self.stop = Some(converse_stop(Some(f)));
            }
        }
        Ok(())
    }

    /// The events owed when the upstream ended: the stop reason and the usage (Mantle sends the
    /// usage after the finish chunk, so the message closes only here).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        if !self.started {
            self.started = true;
            self.feed("messageStart", json!({"role": "assistant"}), out)?;
        }
        let stop = self.stop.unwrap_or("end_turn");
        self.feed("messageStop", json!({"stopReason": stop}), out)?;
        let usage = converse_usage(self.usage.as_ref());
        self.feed("metadata", json!({"usage": usage}), out)?;
        Ok(())
    }
}

/// The chunk source of a Messages stream on an OpenAI surface, chained to [`ChunksToMessages`].
pub struct MessagesFromChunks {
    source: Box<dyn EventTranslator>,
    sink: ChunksToMessages,
}

impl std::fmt::Debug for MessagesFromChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagesFromChunks")
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

impl MessagesFromChunks {
    /// `source` turns the surface's events into chat chunks (chat or Responses events).
    pub fn new(source: Box<dyn EventTranslator>, sink: ChunksToMessages) -> Self {
        MessagesFromChunks { source, sink }
    }

    pub fn on_event(
        &mut self,
        event: &str,
        payload: &[u8],
    ) -> Result<Vec<SseEvent>, TranslateError> {
        let mut out = Vec::new();
        for chunk in self.source.on_event(event, payload)? {
            self.sink.on_chunk(&chunk, &mut out)?;
        }
        Ok(out)
    }

    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for chunk in self.source.finish() {
            let _ = self.sink.on_chunk(&chunk, &mut out);
        }
        if self.sink.usage.is_none() {
            self.sink.usage = self.source.usage();
        }
        let _ = self.sink.finish(&mut out);
        out
    }
}
