//! The Anthropic stream translator of either route, so the server drives one type: the native
//! relay for Claude (InvokeModelWithResponseStream chunks) or the Converse state machine.
//!
//! Must not: hold any translation rule itself (see [`super::native_stream`], [`super::stream`]).

use super::native_stream::NativeStreamRelay;
use super::stream::MessagesStreamTranslator;
use super::types::SseEvent;
use crate::error::TranslateError;
use crate::surface::messages_chat::MessagesFromChunks;
use crate::surface::messages_relay::RelayEvents;

/// Bedrock events → Anthropic server-sent events, for one stream.
#[derive(Debug)]
pub enum MessagesStream {
    Native(NativeStreamRelay),
    Converse(MessagesStreamTranslator),
    /// Claude on bedrock-mantle: its Anthropic events, relayed.
    Relay(RelayEvents),
    /// A model on an OpenAI surface: chat or Responses events through chat chunks.
    Chunks(Box<MessagesFromChunks>),
}

impl MessagesStream {
    /// Translates one Bedrock event; an error means Bedrock sent something undocumented.
    pub fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<SseEvent>, TranslateError> {
        match self {
            MessagesStream::Native(r) => Ok(r.on_event(event_type, payload)?.into_iter().collect()),
            MessagesStream::Converse(t) => t.on_event(event_type, payload),
            MessagesStream::Relay(r) => Ok(r.on_event(event_type, payload)),
            MessagesStream::Chunks(c) => c.on_event(event_type, payload),
        }
    }

    /// The events owed when the upstream ends cleanly (the Converse route closes the message).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        match self {
            MessagesStream::Native(_) | MessagesStream::Relay(_) => Vec::new(),
            MessagesStream::Converse(t) => t.finish(),
            MessagesStream::Chunks(c) => c.finish(),
        }
    }
}
