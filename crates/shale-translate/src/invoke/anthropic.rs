//! Claude on the invoke route: OpenAI chat → Anthropic Messages body
//! (`anthropic_version: bedrock-2023-05-31`, no `model` / `stream`), and the Messages response →
//! the neutral response parts. The stream events are handled in [`super::stream`].

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::common::{
    json_request, max_tokens, pass_through, put, stop_sequences, Choice, Prepared,
};
use super::response::Parts;
use crate::caps::ModelCaps;
use crate::completion::{FunctionOut, ThinkingBlock, ToolCallOut};
use crate::context::{ChatContext, JsonMode, ResponseContext};
use crate::converse::{BedrockUsage, JSON_TOOL_NAME, PLACEHOLDER_TOOL_NAME};
use crate::error::TranslateError;
use crate::media::MediaKind;
use crate::names::ToolNameMap;
use crate::normalize::{Block, Media, MediaSource, SystemBlock, Turn, TurnRole};
use crate::openai::JsonMap;
use crate::schema::object_schema;

/// The Bedrock Anthropic Messages version string.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// Anthropic accepts at most this many `cache_control` breakpoints per request.
const MAX_CACHE_BREAKPOINTS: u32 = 4;

/// The default `max_tokens` when the client sets none: 4096 for Claude 3 (Haiku, Sonnet, Opus)
/// and the legacy models, 8192 for Claude 3.5 and later.
pub fn default_max_tokens(base_id: &str) -> u64 {
    const OLD: &[&str] = &[
        "claude-3-haiku",
        "claude-3-sonnet",
        "claude-3-opus",
        "claude-v2",
        "claude-instant",
        "claude-v1",
    ];
    if OLD.iter().any(|o| base_id.contains(o)) {
        4096
    } else {
        8192
    }
}

/// A tool-use id valid for Anthropic (`[a-zA-Z0-9_-]+`): unchanged when valid, otherwise the
/// invalid characters replaced and a hash of the original appended (deterministic, so a
/// `tool_use` and its `tool_result` still match).
pub fn anthropic_tool_id(id: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.len() <= 64 && id.chars().all(valid) {
        return id.to_owned();
    }
    let mut s: String = id
        .chars()
        .map(|c| if valid(c) { c } else { '_' })
        .take(47)
        .collect();
    if s.is_empty() {
        s.push_str("call");
    }
    s.push('_');
    s.push_str(&hex::encode(&Sha256::digest(id.as_bytes())[..8]));
    s
}

/// Counts `cache_control` breakpoints so no more than Anthropic's limit are sent.
struct CacheBudget(u32);

impl CacheBudget {
    fn mark(&mut self, block: Option<&mut Value>) {
        let Some(Value::Object(o)) = block else {
            return;
        };
        let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
        if self.0 == 0 || matches!(kind, "thinking" | "redacted_thinking") {
            return;
        }
        if o.contains_key("cache_control") {
            return;
        }
        self.0 -= 1;
        o.insert("cache_control".into(), json!({"type": "ephemeral"}));
    }
}

/// `thinking` for the body and its budget: an explicit `thinking` object passes through (budget
/// clamped to ≥ 1024, `disabled` removes it); `reasoning_effort` maps to a budget (minimal/low
/// 1024, medium 2048, high 4096, none → off) on models with extended thinking.
fn resolve_thinking(
    effort: Option<String>,
    thinking: Option<Value>,
    caps: &ModelCaps,
) -> Result<Option<(Value, Option<u64>)>, TranslateError> {
    let budget = match effort.as_deref() {
        None | Some("none") => None,
        Some("minimal" | "low") => Some(1024),
        Some("medium") => Some(2048),
        Some("high") => Some(4096),
        Some(e) => {
            return Err(TranslateError::invalid(
                "reasoning_effort",
                format!("invalid reasoning_effort '{e}' (use none, minimal, low, medium or high)"),
            ))
        }
    };
    if let Some(t) = thinking {
        let Value::Object(mut t) = t else {
            return Err(TranslateError::invalid(
                "thinking",
                "thinking must be an object like {\"type\":\"enabled\",\"budget_tokens\":2048}",
            ));
        };
        return Ok(match t.get("type").and_then(Value::as_str) {
            Some("disabled") => None,
            Some("enabled") => {
                let b = crate::converse::clamp_thinking_budget(&mut t);
                Some((Value::Object(t), Some(b)))
            }
            _ => Some((Value::Object(t), None)),
        });
    }
    Ok(match budget {
        Some(b) if caps.supports_thinking => {
            Some((json!({"type": "enabled", "budget_tokens": b}), Some(b)))
        }
        _ => None,
    })
}

fn image_mime(format: &str) -> String {
    format!("image/{format}")
}

fn unsupported(what: &str) -> TranslateError {
    TranslateError::invalid(
        "messages",
        format!("{what} is not supported by Claude on the invoke route; use the Converse route (bedrock/converse/<model>)"),
    )
}

fn media_block(m: Media) -> Result<Value, TranslateError> {
    let title = m.filename;
    let mut v = match (m.kind, m.source) {
        (MediaKind::Image, MediaSource::Base64(data)) => json!({"type": "image", "source": {
            "type": "base64", "media_type": image_mime(m.format), "data": data}}),
        (MediaKind::Image, _) => return Err(unsupported("an image from S3")),
        (MediaKind::Document, MediaSource::Base64(data)) if m.format == "pdf" => {
            json!({"type": "document", "source": {
                "type": "base64", "media_type": "application/pdf", "data": data}})
        }
        (MediaKind::Document, MediaSource::Base64(data))
            if matches!(m.format, "txt" | "md" | "csv" | "html") =>
        {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .map_err(|_| {
                    TranslateError::invalid("messages", "document data is not valid base64")
                })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                TranslateError::invalid("messages", "a text document is not valid UTF-8")
            })?;
            json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}})
        }
        (MediaKind::Document, MediaSource::Text(text)) => {
            json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}})
        }
        (MediaKind::Document, MediaSource::S3 { .. }) => {
            return Err(unsupported("a document from S3"))
        }
        (MediaKind::Document, _) => return Err(unsupported(&format!("a {} document", m.format))),
        (MediaKind::Video, _) => return Err(unsupported("video input")),
    };
    if let (Some(t), "document") = (title, v["type"].as_str().unwrap_or("")) {
        v["title"] = t.into();
    }
    Ok(v)
}

fn render_blocks(
    blocks: Vec<Block>,
    names: &mut ToolNameMap,
    cache: &mut CacheBudget,
) -> Result<Vec<Value>, TranslateError> {
    let mut out: Vec<Value> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let v = match b {
            Block::Text(t) | Block::GuardedText(t) => json!({"type": "text", "text": t}),
            Block::Media(m) => media_block(m)?,
            Block::ToolUse { id, name, input } => json!({"type": "tool_use",
                "id": anthropic_tool_id(&id), "name": names.sanitize(&name), "input": input}),
            Block::ToolResult { id, content } => {
                let content = render_blocks(
                    content
                        .into_iter()
                        .filter(|b| !matches!(b, Block::Text(t) if t.trim().is_empty()))
                        .collect(),
                    names,
                    cache,
                )?;
                let mut r = json!({"type": "tool_result", "tool_use_id": anthropic_tool_id(&id)});
                if !content.is_empty() {
                    r["content"] = Value::Array(content);
                }
                r
            }
            Block::Reasoning { text, signature } => {
                let mut r = json!({"type": "thinking", "thinking": text});
                if let Some(s) = signature {
                    r["signature"] = s.into();
                }
                r
            }
            Block::RedactedReasoning(d) => json!({"type": "redacted_thinking", "data": d}),
            Block::CachePoint => {
                cache.mark(out.last_mut());
                continue;
            }
        };
        out.push(v);
    }
    Ok(out)
}

fn render_turn(
    turn: Turn,
    names: &mut ToolNameMap,
    cache: &mut CacheBudget,
) -> Result<Value, TranslateError> {
    let mut content = render_blocks(turn.blocks, names, cache)?;
    let role = match turn.role {
        TurnRole::User => {
            // tool results must open a user turn
            let (mut results, rest): (Vec<Value>, Vec<Value>) = content
                .into_iter()
                .partition(|b| b["type"] == "tool_result");
            results.extend(rest);
            content = results;
            "user"
        }
        TurnRole::Assistant => "assistant",
    };
    Ok(json!({"role": role, "content": content}))
}

/// Build the Messages body. Returns the body, the tool-name map and the JSON mode.
pub(super) fn build(
    p: &mut Prepared,
    ctx: &ChatContext<'_>,
) -> Result<(JsonMap, ToolNameMap, JsonMode), TranslateError> {
    let caps = ctx.caps;
    let req = &mut p.req;
    let thinking = resolve_thinking(req.reasoning_effort.take(), req.thinking.take(), caps)?;
    let thinking_on = thinking.is_some();
    let mut names = ToolNameMap::new();
    let mut cache = CacheBudget(MAX_CACHE_BREAKPOINTS);

    // tools
    let mut tools: Vec<Value> = Vec::new();
    let mut declared: Vec<String> = Vec::new();
    for (t, mut tool) in req.tools.take().into_iter().flatten().enumerate() {
        let cache_control = tool.cache_control.take();
        let f = tool.into_function(t)?;
        let mut spec = Map::new();
        spec.insert("name".into(), names.sanitize(&f.name).into());
        if let Some(d) = f.description.filter(|d| !d.trim().is_empty()) {
            spec.insert("description".into(), d.into());
        }
        spec.insert("input_schema".into(), object_schema(f.parameters));
        let mut spec = Value::Object(spec);
        if cache_control.is_some() {
            cache.mark(Some(&mut spec));
        }
        tools.push(spec);
        declared.push(f.name);
    }
    let mut has_client_tools = !tools.is_empty();
    let mut choice = super::common::named_choice(
        super::common::parse_choice(req.tool_choice.take().as_ref())?,
        &declared,
        &mut names,
    )?;
    if choice == Some(Choice::None) {
        tools.clear();
        has_client_tools = false;
        choice = None;
    }
    let mut json_mode = JsonMode::None;
    if let Some(schema) = json_request(req.response_format.take())? {
        let schema = match schema {
            Some(s) => object_schema(Some(s)),
            None => json!({"type": "object"}),
        };
        tools.push(json!({"name": JSON_TOOL_NAME,
            "description": "Give the final answer as a JSON object through this tool.",
            "input_schema": schema}));
        json_mode = JsonMode::ToolCall;
        if !has_client_tools {
            choice = Some(Choice::Tool(JSON_TOOL_NAME.to_owned()));
        }
    }
    let history_has_tools = p.conv.turns.iter().any(|t| {
        t.blocks
            .iter()
            .any(|b| matches!(b, Block::ToolUse { .. } | Block::ToolResult { .. }))
    });
    if tools.is_empty() && history_has_tools {
        tools.push(json!({"name": PLACEHOLDER_TOOL_NAME,
            "description": "Placeholder: earlier turns used tools that are not offered now. Do not call it.",
            "input_schema": {"type": "object", "properties": {}}}));
        choice = None;
    }
    if thinking_on && matches!(choice, Some(Choice::Any) | Some(Choice::Tool(_))) {
        choice = Some(Choice::Auto);
    }
    let mut tool_choice = match choice {
        Some(Choice::Auto) => Some(json!({"type": "auto"})),
        Some(Choice::Any) => Some(json!({"type": "any"})),
        Some(Choice::Tool(n)) => Some(json!({"type": "tool", "name": n})),
        Some(Choice::None) | None => None,
    };
    if req.parallel_tool_calls == Some(false) && has_client_tools {
        let tc = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        tc["disable_parallel_tool_use"] = true.into();
    }

    // system and messages
    let mut system: Vec<Value> = Vec::new();
    for b in std::mem::take(&mut p.conv.system) {
        match b {
            SystemBlock::Text(t) => system.push(json!({"type": "text", "text": t})),
            SystemBlock::CachePoint => cache.mark(system.last_mut()),
        }
    }
    let mut messages = Vec::with_capacity(p.conv.turns.len());
    for turn in std::mem::take(&mut p.conv.turns) {
        messages.push(render_turn(turn, &mut names, &mut cache)?);
    }

    let budget = thinking.as_ref().and_then(|(_, b)| *b);
    let max = max_tokens(req).unwrap_or_else(|| {
        let d = default_max_tokens(&caps.base_id);
        budget.map_or(d, |b| d.max(b.saturating_add(4096)))
    });

    let mut body = Map::new();
    body.insert("anthropic_version".into(), ANTHROPIC_VERSION.into());
    body.insert("max_tokens".into(), max.into());
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    put(&mut body, "temperature", req.temperature);
    put(&mut body, "top_p", req.top_p);
    put(&mut body, "top_k", req.top_k);
    put(&mut body, "stop_sequences", stop_sequences(req));
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    put(&mut body, "tool_choice", tool_choice);
    put(&mut body, "thinking", thinking.map(|(t, _)| t));

    // anthropic_beta: request/deployment field plus the anthropic-beta header
    let mut beta: Vec<String> = match req.extra.remove("anthropic_beta") {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) => a
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    for b in ctx
        .anthropic_beta
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        if !beta.iter().any(|x| x == b) {
            beta.push(b.to_owned());
        }
    }
    if !beta.is_empty() {
        body.insert("anthropic_beta".into(), json!(beta));
    }
    pass_through(std::mem::take(&mut req.extra), &mut body);
    Ok((body, names, json_mode))
}

/// OpenAI `finish_reason` for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "end_turn" | "stop_sequence" | "pause_turn" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Anthropic `usage` (also the `message.usage` of `message_start`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    pub fn to_bedrock(&self) -> BedrockUsage {
        BedrockUsage {
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_read_input_tokens: self.cache_read_input_tokens.unwrap_or(0),
            cache_write_input_tokens: self.cache_creation_input_tokens.unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default)]
    content: Vec<ContentBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

/// Parse a Messages response body.
pub(super) fn parse_response(
    body: &[u8],
    ctx: &ResponseContext<'_>,
) -> Result<Parts, TranslateError> {
    let r: MessagesResponse = serde_json::from_slice(body).map_err(|e| {
        TranslateError::InvalidUpstream(format!("Anthropic Messages response: {e}"))
    })?;
    let mut parts = Parts::default();
    let mut text: Option<String> = None;
    let mut reasoning = String::new();
    let mut json_answer = None;
    for b in r.content {
        match b.kind.as_str() {
            "text" => text
                .get_or_insert_with(String::new)
                .push_str(&b.text.unwrap_or_default()),
            "thinking" => {
                let t = b.thinking.unwrap_or_default();
                reasoning.push_str(&t);
                parts
                    .thinking_blocks
                    .push(ThinkingBlock::thinking(t, b.signature));
            }
            "redacted_thinking" => {
                if let Some(d) = b.data {
                    parts.thinking_blocks.push(ThinkingBlock::redacted(d));
                }
            }
            "tool_use" => {
                let name = b.name.unwrap_or_default();
                let input = b.input.unwrap_or_else(|| json!({}));
                if ctx.json_mode == JsonMode::ToolCall && name == JSON_TOOL_NAME {
                    json_answer = Some(input.to_string());
                    continue;
                }
                parts.tool_calls.push(ToolCallOut {
                    id: b.id.unwrap_or_default(),
                    kind: "function".into(),
                    function: FunctionOut {
                        name: ctx.tool_names.original(&name).to_owned(),
                        arguments: input.to_string(),
                    },
                });
            }
            _ => {}
        }
    }
    parts.reasoning = (!reasoning.is_empty()).then_some(reasoning);
    parts.content = text;
    parts.finish = r
        .stop_reason
        .as_deref()
        .map(finish_reason)
        .unwrap_or("stop");
    if let Some(j) = json_answer {
        parts.content = Some(j);
        if parts.tool_calls.is_empty() && parts.finish == "tool_calls" {
            parts.finish = "stop";
        }
    }
    parts.usage = r.usage.map(|u| u.to_bedrock());
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_ids_and_defaults() {
        assert_eq!(anthropic_tool_id("toolu_01-x"), "toolu_01-x");
        let a = anthropic_tool_id("call.1:2");
        assert!(
            a.starts_with("call_1_2_") && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
        assert_eq!(a, anthropic_tool_id("call.1:2"));
        assert_ne!(a, anthropic_tool_id("call:1.2"));
        assert_eq!(
            default_max_tokens("anthropic.claude-3-haiku-20240307-v1:0"),
            4096
        );
        assert_eq!(
            default_max_tokens("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            8192
        );
        assert_eq!(
            default_max_tokens("anthropic.claude-sonnet-4-20250514-v1:0"),
            8192
        );
    }

    #[test]
    fn cache_budget_stops_at_four() {
        let mut c = CacheBudget(MAX_CACHE_BREAKPOINTS);
        let mut blocks: Vec<Value> = (0..6)
            .map(|_| json!({"type": "text", "text": "x"}))
            .collect();
        for b in blocks.iter_mut() {
            c.mark(Some(b));
        }
        assert_eq!(
            blocks
                .iter()
                .filter(|b| b.get("cache_control").is_some())
                .count(),
            4
        );
    }
}
