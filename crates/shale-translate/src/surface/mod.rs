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
//! untouched; usage is read on the way for metrics, cost, budgets and tpm.
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

/// Request members that steer the gateway (LiteLLM proxy controls, deployment settings) and are
/// never sent to a surface, besides every `aws_*` key.
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
    // Bedrock-native blocks: Converse / InvokeModel settings, not understood by a surface.
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "serviceTier",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "anthropic_beta",
];

/// Whether a request or default member must stay in the gateway.
pub fn is_gateway_param(key: &str) -> bool {
    key.starts_with("aws_") || GATEWAY_PARAMS.contains(&key)
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
