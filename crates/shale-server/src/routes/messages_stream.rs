//! Anthropic server-sent events for `/v1/messages` streams: a body → body transform that pulls
//! Bedrock events one at a time, turns each into Anthropic events as it arrives (never buffering
//! the stream), writes `event: <type>\ndata: <json>\n\n`, sends `event: ping` during long
//! silences, and reports a mid-stream failure as one Anthropic `event: error`. Dropping the body
//! (client gone) drops the upstream stream, which cancels the Bedrock request. The usage in the
//! `message_start` / `message_delta` events goes on the request's record as it passes.
//!
//! Must not: decide anything about translation (see `shale_translate::messages`).

use crate::anthropic_error::anthropic_error_json;
use crate::error::ApiError;
use crate::sse::KEEP_ALIVE;
use crate::usage::AnthropicUsage;
use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use shale_bedrock::idle::IdleTimer;
use shale_bedrock::EventStream;
use shale_telemetry::RequestCell;
use shale_translate::messages::MessagesStream;
use std::convert::Infallible;
use std::sync::Arc;

struct State {
    upstream: EventStream,
    translator: MessagesStream,
    keep_alive: IdleTimer,
    done: bool,
    /// The request this stream answers, and its usage so far (telemetry).
    observed: Option<Arc<RequestCell>>,
    usage: AnthropicUsage,
}

impl State {
    fn write(&mut self, out: &mut BytesMut, event: &str, data: &[u8]) {
        write_observed(&self.observed, &mut self.usage, out, event, data);
    }
}

/// Writes one event, noting the usage it carries on the request's record (shared with the
/// guarded streams of `guardrail_hooks::stream`).
pub(crate) fn write_observed(
    observed: &Option<Arc<RequestCell>>,
    usage: &mut AnthropicUsage,
    out: &mut BytesMut,
    event: &str,
    data: &[u8],
) {
    if let Some(cell) = observed {
        if usage.on_event(event, data) {
            if let Some(u) = usage.usage() {
                crate::report::body_usage(cell, u);
            }
        }
    }
    write_event(out, event, data);
}

/// `event: <type>\ndata: <json>\n\n`.
pub(crate) fn write_event(out: &mut BytesMut, event: &str, data: &[u8]) {
    out.put_slice(b"event: ");
    out.put_slice(event.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
}

fn write_error(out: &mut BytesMut, err: &ApiError) {
    tracing::warn!(error = %err, "messages stream failed after it started");
    write_event(out, "error", &anthropic_error_json(err));
}

/// The streaming response for one Bedrock event stream.
pub fn anthropic_sse_response(upstream: EventStream, translator: MessagesStream) -> Response {
    let state = State {
        upstream,
        translator,
        keep_alive: IdleTimer::new(KEEP_ALIVE),
        done: false,
        observed: shale_telemetry::record::current(),
        usage: AnthropicUsage::default(),
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = BytesMut::new();
        match s.keep_alive.next(&mut s.upstream).await {
            Err(_) => write_event(&mut out, "ping", br#"{"type": "ping"}"#),
            Ok(Some(Ok(event))) => match s.translator.on_event(&event.event_type, &event.payload) {
                Ok(events) => {
                    for e in events {
                        s.write(&mut out, &e.event, &e.data);
                    }
                }
                Err(err) => {
                    write_error(&mut out, &ApiError::from(err));
                    s.done = true;
                }
            },
            Ok(Some(Err(err))) => {
                write_error(&mut out, &ApiError::from(err));
                s.done = true;
            }
            Ok(None) => {
                for e in s.translator.finish() {
                    s.write(&mut out, &e.event, &e.data);
                }
                s.done = true;
            }
        }
        Some((Ok::<Bytes, Infallible>(out.freeze()), s))
    })
    // Events that produce nothing (e.g. a Converse contentBlockStop) yield empty frames: skip them.
    .filter(|frame| futures::future::ready(frame.as_ref().map(|b| !b.is_empty()).unwrap_or(true)));

    crate::sse::event_stream_response(Body::from_stream(body))
}
