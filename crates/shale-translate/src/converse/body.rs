//! The Converse request body as typed values, serialised straight into the bytes Bedrock gets:
//! `messages`, `system` and `inferenceConfig` have a fixed shape and are written without building
//! a `serde_json::Value` tree first (no map per content block, no map inserts, no tree to drop).
//! Members whose content is really open stay `Value`: tool schemas (`toolConfig`), the
//! `additionalModelRequestFields` pass-through and the top-level members a client may set.
//!
//! Must not: decide anything — which blocks, fields and members exist is `request.rs`'s job; this
//! file only fixes how they are written, in the key order the Value builder used (the differential
//! test `tests/converse_body_bytes.rs` pins the bytes).

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::media::MediaKind;
use crate::normalize::MediaSource;
use crate::openai::JsonMap;

/// A Converse / ConverseStream request body.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseBody {
    pub messages: Vec<Message>,
    /// Left out when empty.
    pub system: Vec<SystemContent>,
    pub inference_config: InferenceConfig,
    pub tool_config: Option<Value>,
    /// Left out when `None` (the builder passes `None` for an empty map).
    pub additional_model_request_fields: Option<JsonMap>,
    /// Top-level members (`guardrailConfig`, `serviceTier`, …) in the order they are written.
    pub top: Vec<(&'static str, Value)>,
}

impl ConverseBody {
    /// The body's JSON in a buffer sized for it.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_hint());
        // Writing into a Vec cannot fail and every member serialises (string keys only).
        let _ = serde_json::to_writer(&mut out, self);
        out
    }

    /// About the body's length: the message text and media plus room for the fixed keys; the
    /// open members (tool schemas) grow the buffer when they are large.
    fn size_hint(&self) -> usize {
        let blocks: usize = self
            .messages
            .iter()
            .map(|m| 32 + m.content.iter().map(ContentBlock::size_hint).sum::<usize>())
            .sum();
        let system: usize = self
            .system
            .iter()
            .map(|s| match s {
                SystemContent::Text(t) => t.len() + 16,
                SystemContent::CachePoint => 40,
            })
            .sum();
        let open = if self.tool_config.is_some() { 512 } else { 0 };
        256 + blocks + system + open
    }
}

impl Serialize for ConverseBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("messages", &self.messages)?;
        if !self.system.is_empty() {
            m.serialize_entry("system", &self.system)?;
        }
        m.serialize_entry("inferenceConfig", &self.inference_config)?;
        if let Some(tc) = &self.tool_config {
            m.serialize_entry("toolConfig", tc)?;
        }
        if let Some(amrf) = &self.additional_model_request_fields {
            m.serialize_entry("additionalModelRequestFields", amrf)?;
        }
        for (k, v) in &self.top {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One turn: `{"role", "content"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: Vec<ContentBlock>,
}

/// A `system` entry: `{"text"}` or a cache point.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemContent {
    Text(Cow<'static, str>),
    CachePoint,
}

impl Serialize for SystemContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SystemContent::Text(t) => one(s, "text", t),
            SystemContent::CachePoint => one(s, "cachePoint", &CachePointValue),
        }
    }
}

/// A message content block.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    Text(Cow<'static, str>),
    /// `{"guardContent": {"text": {"text"}}}`.
    GuardText(String),
    Media {
        kind: MediaKind,
        format: &'static str,
        /// Documents only (always set for them).
        name: Option<String>,
        source: MediaSource,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        id: String,
        content: Vec<ContentBlock>,
    },
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    RedactedReasoning(String),
    CachePoint,
}

impl ContentBlock {
    fn size_hint(&self) -> usize {
        24 + match self {
            ContentBlock::Text(t) => t.len(),
            ContentBlock::GuardText(t) => t.len() + 24,
            ContentBlock::Media { source, .. } => {
                64 + match source {
                    MediaSource::Base64(b) => b.len(),
                    MediaSource::S3 { uri } => uri.len(),
                    MediaSource::Text(t) => t.len(),
                }
            }
            ContentBlock::ToolUse { id, name, .. } => id.len() + name.len() + 96,
            ContentBlock::ToolResult { id, content } => {
                id.len() + 48 + content.iter().map(ContentBlock::size_hint).sum::<usize>()
            }
            ContentBlock::Reasoning { text, signature } => {
                text.len() + signature.as_ref().map_or(0, String::len) + 64
            }
            ContentBlock::RedactedReasoning(d) => d.len() + 48,
            ContentBlock::CachePoint => 16,
        }
    }
}

impl Serialize for ContentBlock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ContentBlock::Text(t) => one(s, "text", t),
            ContentBlock::GuardText(t) => one(s, "guardContent", &One("text", &One("text", t))),
            ContentBlock::Media {
                kind,
                format,
                name,
                source,
            } => {
                let key = match kind {
                    MediaKind::Image => "image",
                    MediaKind::Video => "video",
                    MediaKind::Document => "document",
                };
                let media = MediaOut {
                    format,
                    name: (*kind == MediaKind::Document)
                        .then(|| name.as_deref().unwrap_or_default()),
                    source: SourceOut(source),
                };
                one(s, key, &media)
            }
            ContentBlock::ToolUse { id, name, input } => one(
                s,
                "toolUse",
                &ToolUseOut {
                    tool_use_id: id,
                    name,
                    input,
                },
            ),
            ContentBlock::ToolResult { id, content } => one(
                s,
                "toolResult",
                &ToolResultOut {
                    tool_use_id: id,
                    content,
                },
            ),
            ContentBlock::Reasoning { text, signature } => one(
                s,
                "reasoningContent",
                &One(
                    "reasoningText",
                    &ReasoningTextOut {
                        text,
                        signature: signature.as_deref(),
                    },
                ),
            ),
            ContentBlock::RedactedReasoning(d) => {
                one(s, "reasoningContent", &One("redactedContent", d))
            }
            ContentBlock::CachePoint => one(s, "cachePoint", &CachePointValue),
        }
    }
}

/// `inferenceConfig` (always written, possibly `{}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Only when non-empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

/// Writes the one-member object `{key: value}`.
fn one<S: Serializer, T: Serialize + ?Sized>(
    s: S,
    key: &'static str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(1))?;
    m.serialize_entry(key, value)?;
    m.end()
}

/// A one-member object as a value.
struct One<'a, T: ?Sized>(&'static str, &'a T);

impl<T: Serialize + ?Sized> Serialize for One<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        one(s, self.0, self.1)
    }
}

/// `{"type": "default"}`.
struct CachePointValue;

impl Serialize for CachePointValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        one(s, "type", "default")
    }
}

#[derive(Serialize)]
struct MediaOut<'a> {
    format: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    source: SourceOut<'a>,
}

struct SourceOut<'a>(&'a MediaSource);

impl Serialize for SourceOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            MediaSource::Base64(b) => one(s, "bytes", b),
            MediaSource::S3 { uri } => one(s, "s3Location", &One("uri", uri)),
            MediaSource::Text(t) => one(s, "text", t),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseOut<'a> {
    tool_use_id: &'a str,
    name: &'a str,
    input: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolResultOut<'a> {
    tool_use_id: &'a str,
    content: &'a [ContentBlock],
}

#[derive(Serialize)]
struct ReasoningTextOut<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a str>,
}
