//! Anthropic Messages → Claude on bedrock-mantle's Anthropic surface: the request is the body the
//! native Claude route builds (`crate::messages::native`: deployment defaults, beta flags filtered
//! by the policy, members Bedrock refuses removed) in the Anthropic API's form — `model` and
//! `stream` in the body, `anthropic-beta` as a header. The answer and every stream event go back
//! to the client as Mantle wrote them ([`RelayEvents`]). Also the `count_tokens` body.
//!
//! Must not: rewrite content blocks.

use serde_json::Value;

use super::anthropic::invoke_body_to_messages;
use crate::error::TranslateError;
use crate::messages::{messages_to_invoke, MessagesContext, SseEvent};
use crate::openai::JsonMap;

/// A Messages request for bedrock-mantle.
#[derive(Debug, Clone)]
pub struct MantleMessages {
    pub body: Vec<u8>,
    /// The `anthropic-beta` header value.
    pub beta: Option<String>,
    /// Beta flags not forwarded and members removed (for a debug log).
    pub dropped_betas: Vec<String>,
    pub removed_keys: Vec<String>,
}

/// The Messages body for `model_id` (the request's members but `model` / `stream`, as
/// [`crate::messages::MessagesRequest::rest`]).
pub fn messages_body(
    rest: JsonMap,
    model_id: &str,
    stream: bool,
    ctx: &MessagesContext<'_>,
) -> Result<MantleMessages, TranslateError> {
    build(rest, model_id, stream, ctx, |_| {})
}

fn build(
    rest: JsonMap,
    model_id: &str,
    stream: bool,
    ctx: &MessagesContext<'_>,
    adjust: impl FnOnce(&mut JsonMap),
) -> Result<MantleMessages, TranslateError> {
    let call = messages_to_invoke(rest, ctx)?;
    let Value::Object(mut map) = call.body else {
        return Err(TranslateError::invalid(
            "messages",
            "the request is not an object",
        ));
    };
    let beta = invoke_body_to_messages(&mut map, model_id, stream);
    adjust(&mut map);
    Ok(MantleMessages {
        body: serde_json::to_vec(&map).unwrap_or_default(),
        beta,
        dropped_betas: call.dropped_betas,
        removed_keys: call.removed_keys,
    })
}

/// Members of a Messages body `count_tokens` takes.
const COUNT_TOKENS_KEYS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
];

/// The `count_tokens` body for `model_id`: the Messages body without the sampling members.
pub fn count_tokens_body(
    rest: JsonMap,
    model_id: &str,
    ctx: &MessagesContext<'_>,
) -> Result<MantleMessages, TranslateError> {
    build(rest, model_id, false, ctx, |map| {
        map.retain(|k, _| COUNT_TOKENS_KEYS.contains(&k.as_str()))
    })
}

/// Mantle's Anthropic stream, relayed one event at a time, as it came.
#[derive(Debug, Default)]
pub struct RelayEvents;

impl RelayEvents {
    /// One server-sent event → the same event for the client (the name from the data's `type`
    /// when the event had none).
    pub fn on_event(&mut self, event: &str, payload: &[u8]) -> Vec<SseEvent> {
        let name = if event == "message" {
            #[derive(serde::Deserialize)]
            struct Type {
                #[serde(rename = "type")]
                kind: String,
            }
            match serde_json::from_slice::<Type>(payload) {
                Ok(t) => t.kind,
                Err(_) => event.to_owned(),
            }
        } else {
            event.to_owned()
        };
        vec![SseEvent {
            event: name.into(),
            data: payload.to_vec(),
        }]
    }
}
