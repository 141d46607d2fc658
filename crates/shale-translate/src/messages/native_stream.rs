//! InvokeModelWithResponseStream for Claude → Anthropic server-sent events. Each Bedrock `chunk`
//! carries one Anthropic stream event as base64 JSON; it is re-emitted as `event: <type>` +
//! `data: <json>` the moment it arrives, byte for byte, except that Bedrock's
//! `amazon-bedrock-invocationMetrics` member (on the last event) is removed — the token counts
//! it carries are already in `message_start` / `message_delta` usage.
//!
//! Must not: buffer events, or re-serialise an event that needs no change.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::types::SseEvent;
use crate::error::TranslateError;

const METRICS_KEY: &str = "amazon-bedrock-invocationMetrics";

#[derive(Deserialize)]
struct ChunkPayload<'a> {
    #[serde(borrow)]
    bytes: Cow<'a, str>,
}

#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
}

/// The event names of the Anthropic Messages stream.
pub const EVENT_NAMES: &[&str] = &[
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
];

/// An event's name: one of [`EVENT_NAMES`] needs no allocation.
fn event_name(kind: &str) -> Cow<'static, str> {
    match EVENT_NAMES.iter().find(|k| **k == kind) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(kind.to_owned()),
    }
}

/// The per-stream relay (stateless apart from whether the stream stopped).
#[derive(Debug, Default)]
pub struct NativeStreamRelay {
    stopped: bool,
}

impl NativeStreamRelay {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `message_stop` went out.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// One Bedrock event (`:event-type` and payload) → the Anthropic event, if it is a `chunk`.
    pub fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Option<SseEvent>, TranslateError> {
        if event_type != "chunk" {
            return Ok(None);
        }
        let p: ChunkPayload = serde_json::from_slice(payload)
            .map_err(|e| TranslateError::InvalidUpstream(format!("chunk event: {e}")))?;
        let mut data = base64::engine::general_purpose::STANDARD
            .decode(p.bytes.as_bytes())
            .map_err(|e| TranslateError::InvalidUpstream(format!("chunk bytes: {e}")))?;
        let kind = {
            let t: EventType = serde_json::from_slice(&data)
                .map_err(|e| TranslateError::InvalidUpstream(format!("chunk JSON: {e}")))?;
            event_name(&t.kind)
        };
        if contains(&data, METRICS_KEY.as_bytes()) {
            let mut v: Value = serde_json::from_slice(&data)
                .map_err(|e| TranslateError::InvalidUpstream(format!("chunk JSON: {e}")))?;
            if let Some(o) = v.as_object_mut() {
                o.remove(METRICS_KEY);
            }
            data = serde_json::to_vec(&v).expect("JSON serialises");
        }
        if kind == "message_stop" {
            self.stopped = true;
        }
        Ok(Some(SseEvent { event: kind, data }))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
