//! Bedrock's HTTP surfaces beside Converse / InvokeModel — bedrock-mantle's OpenAI chat and
//! Responses paths and its Anthropic Messages path, bedrock-runtime's `/openai/v1` — from every
//! client API:
//!
//! | client → surface | request | answer | stream |
//! |---|---|---|---|
//! | chat → chat | [`chat::chat_body`] (model id, `stream_options`, gateway keys dropped) | [`chat::relay_completion`] (model name, usage) | [`chat::ChunkRelay`] (frame by frame) |
//! | chat → Responses | [`to_responses::chat_to_responses`] | [`from_responses::responses_to_completion`] | [`from_responses::ResponsesChunks`] |
//! | chat → Messages (Claude) | [`anthropic::chat_to_messages`] (the Claude invoke body, adapted) | `invoke_to_chat` (Claude) | [`anthropic::MessagesChunks`] |
//! | Responses → Responses | [`responses_relay::responses_body`] | [`responses_relay::relay_response`] | [`responses_relay::ResponsesEventRelay`] |
//! | Messages → Messages | [`messages_relay::messages_body`] | relayed unchanged | relayed event by event |
//! | Messages → chat / Responses | [`messages_chat::messages_to_chat`] (then as chat) | [`messages_chat::completion_to_messages`] | [`messages_chat::ChunksToMessages`] |
//!
//! A client API the surface does not serve goes through chat (Responses → chat is
//! `crate::responses`, and chat → the surface as above). A relay parses each answer or event once,
//! at the top level only ([`json`]), so the bytes the surface wrote reach the client otherwise
//! untouched; usage is read on the way for metrics, cost, budgets and tpm. The gateway's own
//! members ([`is_gateway_param`]) never reach a surface.
//!
//! Must not: do I/O, or know hosts, paths or signing (`shale-bedrock`), or which model uses which
//! surface (`shale-config`'s model table).

pub mod anthropic;
pub mod chat;
pub mod from_responses;
pub mod json;
pub mod messages_chat;
pub mod messages_relay;
pub mod responses_relay;
pub mod to_responses;

use serde_json::Value;

use crate::openai::{ChatRequest, JsonMap};

/// Bedrock-native request blocks (Converse / InvokeModel settings) a surface does not
/// understand.
pub const BEDROCK_NATIVE_PARAMS: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "serviceTier",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "anthropic_beta",
];

/// Whether a request or default member must stay in the gateway: its own controls
/// ([`crate::openai::GATEWAY_PARAMS`], `aws_*`) and Bedrock-native blocks.
pub fn is_gateway_param(key: &str) -> bool {
    crate::openai::is_gateway_control(key) || BEDROCK_NATIVE_PARAMS.contains(&key)
}

/// The deployment's default request parameters that may reach a surface.
fn surface_defaults(defaults: &JsonMap) -> impl Iterator<Item = (&String, &Value)> {
    defaults.iter().filter(|(k, _)| !is_gateway_param(k))
}

/// A chat request with the deployment's defaults filled in (the request's own values win) and
/// the gateway's members taken out.
pub fn with_defaults(mut req: ChatRequest, defaults: &JsonMap) -> ChatRequest {
    req.extra.retain(|k, _| !is_gateway_param(k));
    if surface_defaults(defaults).next().is_none() {
        return req;
    }
    let Ok(Value::Object(mut map)) = serde_json::to_value(&req) else {
        return req;
    };
    for (k, v) in surface_defaults(defaults) {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    serde_json::from_value(Value::Object(map)).unwrap_or(req)
}
