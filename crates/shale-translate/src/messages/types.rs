//! Wire types of the Anthropic Messages API as the gateway sees them: the request envelope
//! (`model` and `stream` typed, everything else kept verbatim so new Anthropic fields pass through
//! without code changes), the per-deployment context, and one server-sent event.
//!
//! Must not: validate the Messages body beyond what routing needs — Bedrock (native route) or the
//! Converse translation does that.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::betas::BetaPolicy;
use crate::caps::ModelCaps;
use crate::openai::JsonMap;

/// `POST /v1/messages` (and `/v1/messages/count_tokens`) as received.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesRequest {
    /// The configured `model_name` to serve the request.
    pub model: String,
    /// Stream the answer as Anthropic server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Every other member, untouched (`messages`, `system`, `tools`, `thinking`, `metadata`, …).
    #[serde(flatten)]
    pub rest: JsonMap,
}

/// Per-deployment data (resolved at config load) and the request's `anthropic-beta` header.
#[derive(Debug, Clone, Copy)]
pub struct MessagesContext<'a> {
    pub caps: &'a ModelCaps,
    /// The deployment's extra `litellm_params` (defaults such as `max_tokens`, `temperature`,
    /// `guardrailConfig`, `anthropic_beta`); the request's own values win.
    pub default_params: &'a JsonMap,
    /// The `anthropic-beta` request header (a comma-separated list).
    pub beta_header: Option<&'a str>,
    /// Which beta flags may go to Bedrock.
    pub betas: BetaPolicy<'a>,
}

/// One Anthropic server-sent event: `event: <event>\ndata: <data>\n\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Cow<'static, str>,
    /// The JSON payload, serialised.
    pub data: Vec<u8>,
}

impl SseEvent {
    /// An event from a JSON value (its `type` is the caller's `event`).
    pub fn json(event: &'static str, value: &Value) -> Self {
        SseEvent {
            event: Cow::Borrowed(event),
            data: serde_json::to_vec(value).expect("JSON serialises"),
        }
    }

    /// The payload as JSON (tests and fixtures).
    pub fn data_json(&self) -> Value {
        serde_json::from_slice(&self.data).unwrap_or(Value::Null)
    }
}

/// A fresh Anthropic-style message id (`msg_bdrk_<32 hex>`).
pub fn new_message_id() -> String {
    format!("msg_bdrk_{}", uuid::Uuid::new_v4().simple())
}
