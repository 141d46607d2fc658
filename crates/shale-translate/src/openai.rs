//! OpenAI `/chat/completions` request wire types. Every struct keeps unknown fields in `extra`
//! so new OpenAI or provider-specific fields pass through without code changes.
//!
//! The request itself, its messages and `stream_options` — parsed for every chat request — are
//! declared with `open_struct!` (`openai/de.rs`), which parses them in one pass (unknown members
//! straight into `extra`) with the results and error texts of serde's derive (one exception, a
//! serde_json-private marker key: see `tests/chat_request_parse.rs`, which pins the results);
//! `MessageContent` reads a string straight from the parser there too. The other structs still
//! derive `Deserialize` with `#[serde(flatten)]`. Serialisation is derived for all of them (field
//! order, then `extra`).
//!
//! Must not: translate (that is [`crate::converse`] and friends), validate beyond types, or
//! spell error texts of its own for malformed input: refusals are serde's.

mod de;

use de::open_struct;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object.
pub type JsonMap = Map<String, Value>;

/// Request fields OpenAI defines that Bedrock Converse cannot honour. They are dropped (LiteLLM's
/// `drop_params` semantics) instead of landing in `additionalModelRequestFields`, where Bedrock
/// would reject them:
/// `user` (end-user id, logging only), `seed`, `logprobs`, `top_logprobs`, `frequency_penalty`,
/// `presence_penalty`, `logit_bias`, `store`, `metadata` (OpenAI stored-completion tags; LiteLLM
/// uses it for its own logging), `modalities`, `audio`, `prediction`, `web_search_options`,
/// `verbosity`, `prompt_cache_key`, `safety_identifier`, `stream_options`, `stream`; and the
/// gateway's own members ([`GATEWAY_PARAMS`]). Keys starting with `aws_` (credentials and routing)
/// are never forwarded either.
pub const DROPPED_PARAMS: &[&str] = &[
    "user",
    "seed",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "store",
    "metadata",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
    "stream",
    "stream_options",
];

/// LiteLLM proxy / router controls and deployment settings: request or default members that
/// steer the gateway and are never model parameters (on any Bedrock API or surface).
pub const GATEWAY_PARAMS: &[&str] = &[
    "litellm_metadata",
    "tags",
    "num_retries",
    "max_retries",
    "fallbacks",
    "disable_fallbacks",
    "context_window_fallbacks",
    "timeout",
    "stream_timeout",
    "request_timeout",
    "mock_response",
    "caching",
    "cache",
    "drop_params",
    "modify_params",
    "user_continue_message",
    "api_key",
    "api_base",
    "api_version",
    "api",
    "model_id",
    "guardrails",
    "extra_headers",
    "rpm",
    "tpm",
    "weight",
    "order",
    "model_info",
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
];

/// Whether a member steers the gateway (an `aws_*` key or one of [`GATEWAY_PARAMS`]).
pub fn is_gateway_control(key: &str) -> bool {
    key.starts_with("aws_") || GATEWAY_PARAMS.contains(&key)
}

/// Whether an extra request/default field must not be forwarded to Bedrock.
pub fn is_dropped_param(key: &str) -> bool {
    is_gateway_control(key) || DROPPED_PARAMS.contains(&key)
}

open_struct! {
    /// An OpenAI chat completion request.
    #[derive(Debug, Clone, Default, PartialEq, Serialize)]
    pub struct ChatRequest {
        pub model: String,
        pub messages: Vec<ChatMessage>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub stream: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub stream_options: Option<StreamOptions>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_tokens: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_completion_tokens: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub temperature: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub top_p: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub top_k: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub n: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub stop: Option<Stop>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tools: Option<Vec<Tool>>,
        /// `"auto" | "required" | "none" | {"type":"function","function":{"name"}}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tool_choice: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub parallel_tool_calls: Option<bool>,
        /// Legacy `functions` (mapped to `tools` when `tools` is absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub functions: Option<Vec<FunctionDef>>,
        /// Legacy `function_call` (mapped to `tool_choice` when `tool_choice` is absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub function_call: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub response_format: Option<ResponseFormat>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reasoning_effort: Option<String>,
        /// Anthropic-style `{"type":"enabled","budget_tokens":N}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub thinking: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_tier: Option<String>,
    }
    /// Every other field: provider-specific parameters (→ `additionalModelRequestFields`, or top
    /// level for `guardrailConfig`, `performanceConfig`, `serviceTier`, `requestMetadata`) and the
    /// dropped ones listed in [`DROPPED_PARAMS`].
    #[serde(flatten)]
    pub extra: JsonMap;
}

open_struct! {
    /// `stream_options`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize)]
    pub struct StreamOptions {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub include_usage: Option<bool>,
    }
    #[serde(flatten)]
    pub extra: JsonMap;
}

/// `stop`: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// A message author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// Treated exactly like `system`.
    Developer,
    User,
    Assistant,
    Tool,
    /// Legacy function result; treated like `tool` with `name` as the call id.
    Function,
}

open_struct! {
    /// One chat message.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct ChatMessage {
        pub role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub content: Option<MessageContent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tool_calls: Option<Vec<ToolCall>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tool_call_id: Option<String>,
        /// Legacy assistant `function_call`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub function_call: Option<FunctionCall>,
        /// Reasoning text of an earlier assistant turn (not sent back: it has no signature).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reasoning_content: Option<String>,
        /// Signed thinking blocks of an earlier assistant turn; sent back as `reasoningContent`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub thinking_blocks: Option<Vec<ThinkingBlock>>,
        /// Message-level `cache_control` → a `cachePoint` after the message's content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cache_control: Option<Value>,
    }
    #[serde(flatten)]
    pub extra: JsonMap;
}

impl ChatMessage {
    /// A message with text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            function_call: None,
            reasoning_content: None,
            thinking_blocks: None,
            cache_control: None,
            extra: JsonMap::new(),
        }
    }
}

/// Message content: a string or a list of parts. `Deserialize` is in `openai/de.rs` (a string
/// without serde's untagged buffering).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One content part. `type` decides which of the optional members is used:
/// `text`, `guarded_text` (`text`), `image_url` (`image_url`), `file` (`file`),
/// `document` (Anthropic-style `source`), `video_url` (`video_url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<UrlRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<UrlRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileRef>,
    /// `document` parts: `{"type":"base64","media_type","data"}` or `{"type":"text","data"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DocumentSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `image_url` / `video_url`: a bare URL string or `{url, detail?, format?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UrlRef {
    Url(String),
    Object {
        url: String,
        /// A MIME type overriding the one in the URL (LiteLLM's `format`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        #[serde(flatten)]
        extra: JsonMap,
    },
}

impl UrlRef {
    /// The URL and the explicit MIME type, moved out.
    pub fn into_parts(self) -> (String, Option<String>) {
        match self {
            UrlRef::Url(u) => (u, None),
            UrlRef::Object { url, format, .. } => (url, format),
        }
    }

    /// The URL.
    pub fn url(&self) -> &str {
        match self {
            UrlRef::Url(u) => u,
            UrlRef::Object { url, .. } => url,
        }
    }
}

/// The `file` member of a `file` part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    /// A data URL (or an http(s)/s3 URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// An http(s) or `s3://` URL (OpenAI file ids are not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// A MIME type overriding the one in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// The `source` of an Anthropic-style `document` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentSource {
    /// `base64` or `text`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub data: String,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// An assistant tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub function: FunctionCall,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `{name, arguments}`; `arguments` is a JSON string (an object is tolerated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

/// A thinking block as LiteLLM returns it (in messages and deltas) and clients send it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    /// `thinking` or `redacted_thinking`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Base64 of the redacted content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl ThinkingBlock {
    /// A `thinking` block.
    pub fn thinking(text: String, signature: Option<String>) -> Self {
        ThinkingBlock {
            kind: "thinking".into(),
            thinking: Some(text),
            signature,
            data: None,
            extra: JsonMap::new(),
        }
    }

    /// A `redacted_thinking` block.
    pub fn redacted(data: String) -> Self {
        ThinkingBlock {
            kind: "redacted_thinking".into(),
            thinking: None,
            signature: None,
            data: Some(data),
            extra: JsonMap::new(),
        }
    }
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

fn function_type() -> String {
    "function".to_owned()
}

impl Tool {
    /// The function of a `{"type":"function"}` tool, checked; `index` is the tool's position in
    /// `tools`, for the error's `param`.
    pub fn into_function(self, index: usize) -> Result<FunctionDef, crate::TranslateError> {
        use crate::TranslateError;
        if self.kind != "function" {
            return Err(TranslateError::invalid(
                format!("tools[{index}].type"),
                format!(
                    "unsupported tool type '{}' (only function tools)",
                    self.kind
                ),
            ));
        }
        let Some(f) = self.function else {
            return Err(TranslateError::invalid(
                format!("tools[{index}].function"),
                "function tools need a function",
            ));
        };
        if f.name.is_empty() {
            return Err(TranslateError::invalid(
                format!("tools[{index}].function.name"),
                "tool name must not be empty",
            ));
        }
        Ok(f)
    }
}

/// A function's declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaFormat>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `response_format.json_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_kept() {
        let v = json!({
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "future": 1}], "other": true}],
            "top_k": 3,
            "new_openai_field": {"a": 1}
        });
        let req: ChatRequest = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(req.extra["new_openai_field"], json!({"a": 1}));
        assert_eq!(req.messages[0].extra["other"], json!(true));
        assert_eq!(serde_json::to_value(&req).unwrap(), v);
    }

    #[test]
    fn dropped_params() {
        assert!(is_dropped_param("aws_secret_access_key"));
        assert!(is_dropped_param("frequency_penalty"));
        assert!(!is_dropped_param("guardrailConfig"));
    }
}
