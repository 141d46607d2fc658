//! OpenAI chat → Claude on bedrock-mantle's Anthropic surface (`/anthropic/v1/messages`): the
//! Claude body the invoke translator builds (`crate::invoke`, every rule reused: system, tool
//! calls and results, images, documents, thinking, cache points, JSON mode), moved to the
//! Anthropic API's own form — `model` (the bare Mantle id) and `stream` in the body,
//! `anthropic_version` dropped (an `anthropic-version` header instead), the `anthropic_beta`
//! list as the `anthropic-beta` header. Answers are Anthropic messages, read by the Claude
//! invoke reader; stream events are the same Anthropic events, arriving as server-sent events
//! ([`MessagesChunks`]).
//!
//! Must not: hold Claude rules of its own.

use serde_json::Value;

use crate::chat::{ChatCall, EventTranslator};
use crate::completion::{ChatChunk, Usage};
use crate::context::{ChatContext, ResponseContext};
use crate::error::TranslateError;
use crate::invoke::{chat_to_invoke, InvokeFamily, InvokeStreamTranslator};
use crate::openai::ChatRequest;

/// A chat request as a Messages call on bedrock-mantle.
#[derive(Debug, Clone)]
pub struct MantleMessagesCall {
    /// The Messages body.
    pub body: Vec<u8>,
    /// The `anthropic-beta` header, when any flag is set.
    pub beta: Option<String>,
    /// The invoke call it was built from (tool names, JSON mode, stream, include_usage).
    pub call: ChatCall,
}

/// Moves an InvokeModel Claude body to the Anthropic API's form for `model_id`; returns the
/// `anthropic-beta` header value.
pub fn invoke_body_to_messages(
    body: &mut serde_json::Map<String, Value>,
    model_id: &str,
    stream: bool,
) -> Option<String> {
    body.remove("anthropic_version");
    let beta = body.remove("anthropic_beta").and_then(|v| match v {
        Value::Array(flags) => {
            let flags: Vec<&str> = flags.iter().filter_map(Value::as_str).collect();
            (!flags.is_empty()).then(|| flags.join(","))
        }
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    });
    let rest = std::mem::take(body);
    body.insert("model".into(), model_id.into());
    body.extend(rest);
    if stream {
        body.insert("stream".into(), true.into());
    }
    beta
}

/// Translates a chat request for Claude on bedrock-mantle.
pub fn chat_to_messages(
    req: ChatRequest,
    model_id: &str,
    ctx: &ChatContext<'_>,
) -> Result<MantleMessagesCall, TranslateError> {
    let mut call = chat_to_invoke(req, InvokeFamily::Anthropic, ctx)?;
    let mut map =
        match std::mem::replace(&mut call.body, crate::chat::BedrockBody::Json(Value::Null)) {
            crate::chat::BedrockBody::Json(Value::Object(map)) => map,
            _ => return Err(TranslateError::InvalidUpstream("Claude body".into())),
        };
    let beta = invoke_body_to_messages(&mut map, model_id, call.stream);
    let body = serde_json::to_vec(&map).unwrap_or_default();
    call.body = crate::chat::BedrockBody::Json(Value::Object(map));
    // Bedrock's X-Amzn-Bedrock-* blocks (guardrails…) have no meaning on Mantle.
    call.headers.clear();
    Ok(MantleMessagesCall { body, beta, call })
}

/// The Anthropic server-sent events of one Claude answer → chat chunks (the Claude invoke stream
/// machine, fed each event's data).
#[derive(Debug)]
pub struct MessagesChunks(InvokeStreamTranslator);

impl MessagesChunks {
    pub fn new(ctx: &ResponseContext<'_>, include_usage: bool) -> Self {
        MessagesChunks(InvokeStreamTranslator::new(
            InvokeFamily::Anthropic,
            ctx,
            include_usage,
        ))
    }
}

impl EventTranslator for MessagesChunks {
    fn on_event(&mut self, event: &str, payload: &[u8]) -> Result<Vec<ChatChunk>, TranslateError> {
        if event == "ping" {
            return Ok(Vec::new());
        }
        self.0.on_native_event(payload)
    }

    fn finish(&mut self) -> Vec<ChatChunk> {
        self.0.finish()
    }

    fn usage(&self) -> Option<Usage> {
        self.0.usage()
    }
}
