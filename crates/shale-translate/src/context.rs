//! The per-request context every chat translator (Converse and invoke alike) borrows: what the
//! deployment contributes to a request ([`ChatContext`]), what a response needs to be shaped
//! ([`ResponseContext`], [`JsonMode`]) and the completion id.
//!
//! Must not: hold translation rules — only the data they are given.

use crate::caps::ModelCaps;
use crate::media::FetchedMedia;
use crate::names::ToolNameMap;
use crate::openai::{ChatMessage, JsonMap};

/// Per-deployment data, resolved at config load and borrowed per request.
#[derive(Debug, Clone, Copy)]
pub struct ChatContext<'a> {
    pub caps: &'a ModelCaps,
    /// Extra `litellm_params` keys of the deployment (e.g. `guardrailConfig`, `temperature`,
    /// `top_k`); request fields win. Credential and routing keys are ignored.
    pub default_params: &'a JsonMap,
    /// LiteLLM `modify_params`.
    pub modify_params: bool,
    /// LiteLLM `user_continue_message`.
    pub user_continue_message: Option<&'a ChatMessage>,
    /// The request's `anthropic-beta` header.
    pub anthropic_beta: Option<&'a str>,
    /// http(s) media URLs already downloaded by the server (see [`crate::remote_media_urls`]).
    pub fetched_media: &'a FetchedMedia,
}

/// How a JSON-mode answer comes back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JsonMode {
    /// Plain answers (native `outputConfig` JSON also arrives as text).
    #[default]
    None,
    /// The `json_tool_call` tool's input is the answer: it becomes `message.content` and the
    /// finish reason `stop`.
    ToolCall,
}

/// Per-request data for translating a response.
#[derive(Debug, Clone)]
pub struct ResponseContext<'a> {
    /// The `model_name` the client asked for (echoed as `model`).
    pub model_name: &'a str,
    pub tool_names: &'a ToolNameMap,
    pub json_mode: JsonMode,
    /// Unix seconds.
    pub created: u64,
    /// `chatcmpl-…` (see [`new_completion_id`]).
    pub id: String,
}

/// A fresh `chatcmpl-<uuid>` id.
pub fn new_completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4())
}
