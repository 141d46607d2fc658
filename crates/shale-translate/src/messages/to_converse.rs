//! Messages request → Converse body, for models that do not speak the Messages API (Nova, Llama,
//! Mistral, gpt-oss, …). Rules:
//! - `system` (string or text blocks) → `system`; `messages` keep their roles and order.
//! - Blocks: `text` → `text`; `image` (base64) → `image`; `document` (base64 PDF/…, or plain
//!   text) → `document` named after its `title` (made unique); `tool_use` / `tool_result`
//!   (`is_error` → `status: error`) → `toolUse` / `toolResult` with ids and names sanitised
//!   (originals restored in the answer); `thinking` / `redacted_thinking` → `reasoningContent`
//!   (Claude-family models only, dropped elsewhere). `cache_control` → a following `cachePoint`
//!   where the model supports prompt caching. URL / file sources are refused (400).
//! - `tools` → `toolConfig.tools` (server tools are refused: only Claude runs them);
//!   `tool_choice` auto/any/tool/none → `toolChoice` (forced choices dropped where the model
//!   cannot force tools, `auto` with thinking; `none` removes the tools); a history with tool
//!   blocks but no tools gets a placeholder tool.
//! - `max_tokens`, `temperature`, `top_p`, `stop_sequences` → `inferenceConfig`; `top_k` where the
//!   family takes it; `thinking` → Claude `thinking`, gpt-oss / DeepSeek `reasoning_effort`, Nova 2
//!   `reasoningConfig`, nothing elsewhere. `metadata`, `anthropic_beta`, `service_tier` are dropped.
//! - Deployment defaults fill unset members; its config blocks become top-level members.
//!
//! Must not: do I/O; accept a content shape it cannot express (it answers 400 instead).

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::defaults;
use super::types::MessagesContext;
use crate::caps::{ModelCaps, ModelFamily, TopKPlacement};
use crate::converse::{MIN_THINKING_BUDGET, PLACEHOLDER_TOOL_NAME};
use crate::error::TranslateError;
use crate::media::{classify_mime, MediaKind};
use crate::names::{sanitize_tool_id, ToolNameMap};
use crate::openai::JsonMap;
use crate::schema::inline_refs;

/// A translated request.
#[derive(Debug, Clone)]
pub struct MessagesConverseCall {
    /// The Converse / ConverseStream body.
    pub body: Value,
    /// Sanitised tool names → the client's names, for the answer.
    pub tool_names: ToolNameMap,
}

#[derive(Deserialize)]
struct Request {
    messages: Vec<Message>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<u64>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    tools: Option<Vec<ToolDef>>,
    #[serde(default)]
    tool_choice: Option<ToolChoice>,
    #[serde(default)]
    thinking: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    role: Role,
    content: Content,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Role {
    User,
    Assistant,
}

/// A string or a list of content blocks (parsed by hand so a bad block names its index and the
/// problem, which an untagged enum would hide).
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Content::Text(s)),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(j, v)| {
                    Block::deserialize(v).map_err(|e| D::Error::custom(format!("block {j}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Content::Blocks),
            _ => Err(D::Error::custom(
                "expected a string or a list of content blocks",
            )),
        }
    }
}

impl Content {
    fn into_blocks(self) -> Vec<Block> {
        match self {
            Content::Text(text) => vec![Block::Text {
                text,
                cache_control: None,
            }],
            Content::Blocks(b) => b,
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    Image {
        source: Source,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    Document {
        source: Source,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        is_error: Option<bool>,
        #[serde(default)]
        cache_control: Option<Value>,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source {
    Base64 { media_type: String, data: String },
    Text { data: String },
    Url {},
    File {},
    Content {},
}

#[derive(Deserialize)]
struct ToolDef {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    cache_control: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToolChoice {
    Auto {},
    Any {},
    Tool { name: String },
    None {},
}

/// Per-request rendering state.
struct Render<'a> {
    caps: &'a ModelCaps,
    names: ToolNameMap,
    doc_names: HashSet<String>,
}

fn bad(param: String, message: impl Into<String>) -> TranslateError {
    TranslateError::invalid(param, message)
}

fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

/// A document name Bedrock accepts (letters, digits, single spaces, hyphens, parentheses,
/// brackets; at most 200 characters), unique within the request.
fn document_name(title: Option<&str>, used: &mut HashSet<String>) -> String {
    let mut base = String::new();
    for c in title.unwrap_or("").chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else {
            ' '
        };
        if c == ' ' && (base.is_empty() || base.ends_with(' ')) {
            continue;
        }
        base.push(c);
    }
    let mut base: String = base.trim_end().chars().take(180).collect();
    if base.is_empty() {
        base = "Document".to_owned();
    }
    crate::converse::unique_document_name(base, used)
}

impl Render<'_> {
    fn media(
        &mut self,
        source: Source,
        title: Option<&str>,
        param: &str,
    ) -> Result<Value, TranslateError> {
        match source {
            Source::Base64 { media_type, data } => {
                let f = classify_mime(&media_type).ok_or_else(|| {
                    bad(
                        format!("{param}.source.media_type"),
                        format!("unsupported media_type '{media_type}'"),
                    )
                })?;
                let source = json!({ "bytes": data });
                Ok(match f.kind {
                    MediaKind::Image => json!({"image": {"format": f.format, "source": source}}),
                    MediaKind::Video => json!({"video": {"format": f.format, "source": source}}),
                    MediaKind::Document => json!({"document": {"format": f.format,
                        "name": document_name(title, &mut self.doc_names), "source": source}}),
                })
            }
            Source::Text { data } => Ok(json!({"document": {"format": "txt",
                "name": document_name(title, &mut self.doc_names), "source": {"text": data}}})),
            Source::Url { .. } | Source::File { .. } | Source::Content { .. } => Err(bad(
                format!("{param}.source"),
                "only base64 and text sources are supported for this model; send the data base64-encoded",
            )),
        }
    }

    /// Render one block; `out` also receives a `cachePoint` after a block with `cache_control`.
    fn block(&mut self, b: Block, param: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
        let (v, cache) = match b {
            Block::Text {
                text,
                cache_control,
            } => (json!({ "text": text }), cache_control),
            Block::Image {
                source,
                cache_control,
            } => (self.media(source, None, param)?, cache_control),
            Block::Document {
                source,
                title,
                cache_control,
            } => (self.media(source, title.as_deref(), param)?, cache_control),
            Block::ToolUse {
                id,
                name,
                input,
                cache_control,
            } => {
                let input = if input.is_null() { json!({}) } else { input };
                (
                    json!({"toolUse": {"toolUseId": sanitize_tool_id(&id),
                        "name": self.names.sanitize(&name), "input": input}}),
                    cache_control,
                )
            }
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
                cache_control,
            } => {
                let mut inner = Vec::new();
                for (k, b) in content
                    .map(Content::into_blocks)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let p = format!("{param}.content[{k}]");
                    match b {
                        Block::Text { text, .. } if text.trim().is_empty() => {}
                        b @ (Block::Text { .. } | Block::Image { .. } | Block::Document { .. }) => {
                            let mut tmp = Vec::new();
                            self.block(b, &p, &mut tmp)?;
                            inner.extend(tmp.into_iter().filter(|v| v.get("cachePoint").is_none()));
                        }
                        _ => {
                            return Err(bad(
                                p,
                                "a tool_result may hold text, image and document blocks only",
                            ))
                        }
                    }
                }
                if inner.is_empty() {
                    inner.push(json!({"text": "."}));
                }
                let mut r = json!({"toolUseId": sanitize_tool_id(&tool_use_id), "content": inner});
                if is_error == Some(true) {
                    r["status"] = "error".into();
                }
                (json!({ "toolResult": r }), cache_control)
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                if self.caps.family != ModelFamily::Anthropic {
                    return Ok(());
                }
                let mut rt = Map::new();
                rt.insert("text".into(), thinking.into());
                if let Some(s) = signature.filter(|s| !s.is_empty()) {
                    rt.insert("signature".into(), s.into());
                }
                (json!({"reasoningContent": {"reasoningText": rt}}), None)
            }
            Block::RedactedThinking { data } => {
                if self.caps.family != ModelFamily::Anthropic {
                    return Ok(());
                }
                (json!({"reasoningContent": {"redactedContent": data}}), None)
            }
        };
        out.push(v);
        if cache.is_some() && self.caps.supports_cache_point {
            out.push(cache_point());
        }
        Ok(())
    }
}

/// Where the reasoning settings of `thinking` go for the model family.
fn reasoning_fields(thinking: Option<Value>, caps: &ModelCaps, amrf: &mut JsonMap) -> bool {
    let Some(Value::Object(mut t)) = thinking else {
        return false;
    };
    let kind = t
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if kind == "disabled" {
        return false;
    }
    let budget = t.get("budget_tokens").and_then(Value::as_u64);
    let effort = match budget {
        Some(0..=1024) => "low",
        Some(1025..=4096) | None => "medium",
        Some(_) => "high",
    };
    if caps.supports_thinking || caps.family == ModelFamily::Other {
        if kind == "enabled" {
            let b = budget
                .unwrap_or(MIN_THINKING_BUDGET)
                .max(MIN_THINKING_BUDGET);
            t.insert("budget_tokens".into(), b.into());
        }
        amrf.insert("thinking".into(), Value::Object(t));
        return true;
    }
    if caps.supports_reasoning_effort_field {
        amrf.insert("reasoning_effort".into(), effort.into());
    } else if caps.supports_reasoning_config {
        amrf.insert(
            "reasoningConfig".into(),
            json!({"type": "enabled", "maxReasoningEffort": effort}),
        );
    }
    false
}

fn tool_config(
    tools: Option<Vec<ToolDef>>,
    choice: Option<ToolChoice>,
    thinking_on: bool,
    history_has_tools: bool,
    r: &mut Render<'_>,
) -> Result<Option<Value>, TranslateError> {
    let mut specs = Vec::new();
    let mut declared = Vec::new();
    for (i, t) in tools.into_iter().flatten().enumerate() {
        if let Some(kind) = t.kind.as_deref().filter(|k| *k != "custom") {
            return Err(bad(
                format!("tools[{i}].type"),
                format!("the server tool '{kind}' runs only on Claude models"),
            ));
        }
        let name = r.names.sanitize(&t.name);
        let description = t
            .description
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| t.name.clone());
        let schema = match t.input_schema {
            Some(Value::Object(mut o)) => {
                o.entry("type").or_insert_with(|| "object".into());
                inline_refs(Value::Object(o))
            }
            _ => json!({"type": "object", "properties": {}}),
        };
        specs.push(
            json!({"toolSpec": {"name": name, "description": description,
            "inputSchema": {"json": schema}}}),
        );
        if t.cache_control.is_some() && r.caps.supports_cache_point {
            specs.push(cache_point());
        }
        declared.push(t.name);
    }
    let mut choice = match choice {
        Some(ToolChoice::None {}) => {
            specs.clear();
            None
        }
        Some(ToolChoice::Tool { name }) => {
            if !declared.contains(&name) {
                return Err(bad(
                    "tool_choice.name".into(),
                    format!("tool_choice names the tool '{name}', which is not in tools"),
                ));
            }
            Some(json!({"tool": {"name": r.names.sanitize(&name)}}))
        }
        Some(ToolChoice::Any {}) => Some(json!({"any": {}})),
        Some(ToolChoice::Auto {}) => Some(json!({"auto": {}})),
        None => None,
    };
    if specs.is_empty() {
        if !history_has_tools {
            return Ok(None);
        }
        specs.push(json!({"toolSpec": {"name": PLACEHOLDER_TOOL_NAME,
            "description": "Placeholder: earlier turns used tools that are not offered now. Do not call it.",
            "inputSchema": {"json": {"type": "object", "properties": {}}}}}));
        choice = None;
    }
    let forced = choice
        .as_ref()
        .is_some_and(|c| c.get("any").is_some() || c.get("tool").is_some());
    if forced && thinking_on {
        choice = Some(json!({"auto": {}}));
    } else if forced && !r.caps.supports_forced_tool_choice {
        choice = None;
    }
    let mut tc = Map::new();
    tc.insert("tools".into(), Value::Array(specs));
    if let Some(c) = choice {
        tc.insert("toolChoice".into(), c);
    }
    Ok(Some(Value::Object(tc)))
}

/// Translate a Messages request (its members other than `model` / `stream`) into a Converse body.
pub fn messages_to_converse(
    mut members: JsonMap,
    ctx: &MessagesContext<'_>,
) -> Result<MessagesConverseCall, TranslateError> {
    let applied = defaults::apply(&mut members, ctx.default_params);
    let req: Request = parse(members)?;
    let mut r = Render {
        caps: ctx.caps,
        names: ToolNameMap::new(),
        doc_names: HashSet::new(),
    };

    let mut system = Vec::new();
    if let Some(s) = req.system {
        for (i, b) in s.into_blocks().into_iter().enumerate() {
            match b {
                Block::Text {
                    text,
                    cache_control,
                } => {
                    if text.trim().is_empty() {
                        continue;
                    }
                    system.push(json!({ "text": text }));
                    if cache_control.is_some() && ctx.caps.supports_cache_point {
                        system.push(cache_point());
                    }
                }
                _ => return Err(bad(format!("system[{i}]"), "system blocks must be text")),
            }
        }
    }

    let mut history_has_tools = false;
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.into_iter().enumerate() {
        let mut content = Vec::new();
        for (j, b) in m.content.into_blocks().into_iter().enumerate() {
            history_has_tools |= matches!(b, Block::ToolUse { .. } | Block::ToolResult { .. });
            if matches!(&b, Block::Text { text, .. } if text.is_empty()) {
                continue;
            }
            r.block(b, &format!("messages[{i}].content[{j}]"), &mut content)?;
        }
        if m.role == Role::User {
            // Converse wants tool results first in a user turn, like Anthropic.
            content.sort_by_key(|b| b.get("toolResult").is_none());
        }
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({"role": role, "content": content}));
    }

    let mut amrf = Map::new();
    let thinking_on = reasoning_fields(req.thinking, ctx.caps, &mut amrf);
    if let Some(k) = req.top_k {
        match ctx.caps.top_k {
            TopKPlacement::TopK => {
                amrf.insert("top_k".into(), k.into());
            }
            TopKPlacement::NovaInferenceConfig => {
                amrf.insert("inferenceConfig".into(), json!({ "topK": k }));
            }
        }
    }
    let tool_config = tool_config(
        req.tools,
        req.tool_choice,
        thinking_on,
        history_has_tools,
        &mut r,
    )?;

    let mut ic = Map::new();
    if let Some(m) = req.max_tokens {
        ic.insert("maxTokens".into(), m.into());
    }
    if let Some(t) = req.temperature {
        ic.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        ic.insert("topP".into(), json!(p));
    }
    if let Some(s) = req.stop_sequences.filter(|s| !s.is_empty()) {
        ic.insert("stopSequences".into(), json!(s));
    }

    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert("inferenceConfig".into(), Value::Object(ic));
    if let Some(tc) = tool_config {
        body.insert("toolConfig".into(), tc);
    }
    if !amrf.is_empty() {
        body.insert("additionalModelRequestFields".into(), Value::Object(amrf));
    }
    for (k, v) in applied.blocks {
        body.insert(k, v);
    }
    Ok(MessagesConverseCall {
        body: Value::Object(body),
        tool_names: r.names,
    })
}

/// The CountTokens request for a Converse body: `{"input":{"converse":{messages, system}}}`.
pub fn count_tokens_converse_input(converse_body: &Value) -> Value {
    let mut c = Map::new();
    for key in ["messages", "system"] {
        if let Some(v) = converse_body.get(key) {
            c.insert(key.into(), v.clone());
        }
    }
    json!({"input": {"converse": c}})
}

/// Deserialise the request members, naming the offending field on failure.
fn parse(members: JsonMap) -> Result<Request, TranslateError> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(Value::Object(members), &mut track);
    Request::deserialize(de).map_err(|e| {
        let path = track.path().to_string();
        let param = if path.is_empty() || path == "." {
            "messages".to_owned()
        } else {
            path
        };
        TranslateError::invalid(
            param.clone(),
            format!("Invalid request field `{param}`: {e}"),
        )
    })
}
