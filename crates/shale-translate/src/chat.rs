//! The chat translation set the server drives, one per Bedrock API a chat deployment can use:
//! [`translate_chat`] (request → body + headers), [`translate_chat_response`] (answer body →
//! `chat.completion`) and [`ChatStreamTranslator`] (stream events → chunks), dispatching to the
//! Converse ([`crate::converse`]) or invoke ([`crate::invoke`]) rules by [`ChatApi`].
//!
//! Must not: hold translation rules of its own — it only chooses between the two rule sets, so
//! the server has one pipeline instead of one per API.

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::completion::{ChatChunk, ChatCompletion, Usage};
use crate::context::{ChatContext, JsonMode, ResponseContext};
use crate::converse::{chat_to_converse, converse_to_chat, ConverseBody, ConverseStreamTranslator};
use crate::error::TranslateError;
use crate::invoke::{chat_to_invoke, invoke_to_chat, InvokeFamily, InvokeStreamTranslator};
use crate::names::ToolNameMap;
use crate::openai::ChatRequest;

/// Which Bedrock API (and body format) serves a chat deployment; resolved once at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatApi {
    /// Converse / ConverseStream (also `converse_like` proxies).
    Converse,
    /// InvokeModel / InvokeModelWithResponseStream with the family's native body.
    Invoke(InvokeFamily),
}

impl ChatApi {
    /// Whether Bedrock can stream this API's answers (all but AI21 Jurassic-2 on invoke).
    pub fn can_stream(self) -> bool {
        match self {
            ChatApi::Converse => true,
            ChatApi::Invoke(family) => family.supports_streaming(),
        }
    }

    /// A fresh state machine for one stream of this API.
    pub fn stream_translator(
        self,
        ctx: &ResponseContext<'_>,
        include_usage: bool,
    ) -> ChatStreamTranslator {
        match self {
            ChatApi::Converse => {
                ChatStreamTranslator::Converse(ConverseStreamTranslator::new(ctx, include_usage))
            }
            ChatApi::Invoke(family) => ChatStreamTranslator::Invoke(InvokeStreamTranslator::new(
                family,
                ctx,
                include_usage,
            )),
        }
    }
}

/// A chat request translated for its deployment, ready to send (what [`chat_to_converse`] and
/// [`chat_to_invoke`] return).
#[derive(Debug, Clone)]
pub struct ChatCall {
    pub api: ChatApi,
    /// The Bedrock body (serialise once, with [`BedrockBody::to_vec`]).
    pub body: BedrockBody,
    /// `X-Amzn-Bedrock-*` request headers (invoke config blocks); empty for Converse.
    pub headers: Vec<(&'static str, String)>,
    /// Sanitised tool names → originals, for the response.
    pub tool_names: ToolNameMap,
    pub json_mode: JsonMode,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// A chat call's Bedrock body: Converse's typed body (written without a `Value` tree), or an
/// invoke family's native JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum BedrockBody {
    Converse(Box<ConverseBody>),
    Json(Value),
}

impl BedrockBody {
    /// The bytes to send.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            BedrockBody::Converse(b) => b.to_vec(),
            BedrockBody::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    /// The body as a JSON value (tests and diagnostics; the server sends [`Self::to_vec`]).
    pub fn to_value(&self) -> Value {
        match self {
            BedrockBody::Converse(b) => serde_json::to_value(b).unwrap_or_default(),
            BedrockBody::Json(v) => v.clone(),
        }
    }
}

impl Serialize for BedrockBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BedrockBody::Converse(b) => b.serialize(s),
            BedrockBody::Json(v) => v.serialize(s),
        }
    }
}

impl ChatCall {
    /// True when the answer is read from Bedrock's streaming operation: the client asked for a
    /// stream and the API can stream (otherwise a stream is answered from the whole answer).
    pub fn streams_upstream(&self) -> bool {
        self.stream && self.api.can_stream()
    }
}

/// Translates an OpenAI chat request for `api`. Takes the request by value so large strings
/// (base64 media) move into the body instead of being copied.
pub fn translate_chat(
    request: ChatRequest,
    api: ChatApi,
    ctx: &ChatContext<'_>,
) -> Result<ChatCall, TranslateError> {
    match api {
        ChatApi::Converse => chat_to_converse(request, ctx),
        ChatApi::Invoke(family) => chat_to_invoke(request, family, ctx),
    }
}

/// Translates a complete Bedrock answer into a `chat.completion`. `header_usage` is the
/// (`X-Amzn-Bedrock-Input-Token-Count`, `-Output-Token-Count`) pair, used by invoke families
/// whose bodies report no usage.
pub fn translate_chat_response(
    api: ChatApi,
    body: &[u8],
    header_usage: Option<(u64, u64)>,
    ctx: &ResponseContext<'_>,
) -> Result<ChatCompletion, TranslateError> {
    match api {
        ChatApi::Converse => converse_to_chat(body, ctx),
        ChatApi::Invoke(family) => invoke_to_chat(family, body, header_usage, ctx),
    }
}

/// A per-stream state machine turning Bedrock events (`:event-type` + JSON payload) into
/// chat chunks.
pub trait EventTranslator: Send + 'static {
    /// Translates one event; an error means Bedrock sent something undocumented.
    fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<ChatChunk>, TranslateError>;
    /// The chunks owed when the stream ends (finish reason, usage).
    fn finish(&mut self) -> Vec<ChatChunk>;
    /// The stream's usage once it has ended, whether or not the client asked to be sent it
    /// (the gateway's metrics and cost need it).
    fn usage(&self) -> Option<Usage> {
        None
    }
}

/// The stream translator of either API.
pub enum ChatStreamTranslator {
    Converse(ConverseStreamTranslator),
    Invoke(InvokeStreamTranslator),
}

impl EventTranslator for ChatStreamTranslator {
    fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<ChatChunk>, TranslateError> {
        match self {
            ChatStreamTranslator::Converse(t) => t.on_event(event_type, payload),
            ChatStreamTranslator::Invoke(t) => t.on_event(event_type, payload),
        }
    }

    fn finish(&mut self) -> Vec<ChatChunk> {
        match self {
            ChatStreamTranslator::Converse(t) => t.finish(),
            ChatStreamTranslator::Invoke(t) => t.finish(),
        }
    }

    fn usage(&self) -> Option<Usage> {
        match self {
            ChatStreamTranslator::Converse(t) => t.usage().cloned(),
            ChatStreamTranslator::Invoke(t) => t.usage(),
        }
    }
}
