//! Token usage of pass-through answers (`/bedrock/model/{model}/{op}`), read from the relayed
//! bytes as they go by: InvokeModel's token-count headers at once; a Converse answer's `usage` when
//! its body has been relayed; the `metadata` event of a ConverseStream and the invocation metrics
//! of an InvokeModelWithResponseStream, decoded frame by frame from a copy.
//!
//! Must not: hold back, alter or reorder a single byte the client receives (the relay stays
//! byte-for-byte and unbuffered); a stream it cannot decode is simply not counted.

use crate::usage;
use axum::http::HeaderMap;
use bytes::BytesMut;
use shale_bedrock::eventstream::{message_to_event, FrameCodec, StreamEvent};
use shale_bedrock::Operation;
use shale_telemetry::{record, RequestCell, TokenUsage};
use std::sync::Arc;
use tokio_util::codec::Decoder;

/// Largest Converse answer (or event-stream frame) copied to read its usage.
const MAX_COPY: usize = 16 * 1024 * 1024;

enum Copy {
    /// A Converse answer, gathered until it ends.
    Body(Vec<u8>),
    /// An event stream being decoded: Converse (`metadata` events) or invoke (`chunk` events).
    Frames {
        codec: FrameCodec,
        pending: BytesMut,
        invoke: bool,
    },
    /// Given up (too large, or not decodable): the client still gets every byte.
    Off,
}

/// Watches one relayed answer and records its usage into the request.
pub struct UsageTap {
    copy: Copy,
    cell: Arc<RequestCell>,
}

/// What the caller must do about an answer's usage.
pub enum Usage {
    /// Known from the headers (recorded already), or never known: nothing to watch.
    Done,
    /// Known once the body has been relayed (the request finishes at the body's end).
    AtBodyEnd(UsageTap),
    /// Known from the stream as it goes.
    InStream(UsageTap),
}

impl UsageTap {
    /// Starts reading the usage of a successful answer to `op`, inside the request's scope.
    pub fn start(op: Operation, headers: &HeaderMap) -> Usage {
        let Some(cell) = record::current() else {
            return Usage::Done;
        };
        let frames = |invoke| Copy::Frames {
            codec: FrameCodec::new(MAX_COPY),
            pending: BytesMut::new(),
            invoke,
        };
        match op {
            Operation::Invoke => {
                crate::observe::usage(usage::invoke_headers(headers));
                Usage::Done
            }
            Operation::CountTokens => Usage::Done,
            Operation::Converse => Usage::AtBodyEnd(UsageTap {
                copy: Copy::Body(Vec::new()),
                cell,
            }),
            Operation::ConverseStream => Usage::InStream(UsageTap {
                copy: frames(false),
                cell,
            }),
            Operation::InvokeStream => Usage::InStream(UsageTap {
                copy: frames(true),
                cell,
            }),
        }
    }

    /// Bytes relayed to the client.
    pub fn on_bytes(&mut self, bytes: &[u8]) {
        match &mut self.copy {
            Copy::Body(buf) => {
                if buf.len() + bytes.len() <= MAX_COPY {
                    buf.extend_from_slice(bytes);
                } else {
                    self.copy = Copy::Off;
                }
            }
            Copy::Frames {
                codec,
                pending,
                invoke,
            } => {
                pending.extend_from_slice(bytes);
                loop {
                    match codec.decode(pending) {
                        Ok(Some(message)) => {
                            let event = message_to_event(message, None).ok();
                            if let Some(u) = event.and_then(|e| read_event(&e, *invoke)) {
                                crate::observe::body_usage(&self.cell, u);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            self.copy = Copy::Off;
                            break;
                        }
                    }
                }
            }
            Copy::Off => {}
        }
    }

    /// The answer was relayed completely (also run on drop: with a `content-length` the server
    /// may stop polling the body after its last byte, before the end of the stream).
    pub fn on_end(&mut self) {
        if let Copy::Body(buf) = std::mem::replace(&mut self.copy, Copy::Off) {
            if let Some(u) = usage::converse_json(&buf) {
                crate::observe::body_usage(&self.cell, u);
            }
        }
    }
}

impl Drop for UsageTap {
    fn drop(&mut self) {
        self.on_end();
    }
}

fn read_event(event: &StreamEvent, invoke: bool) -> Option<TokenUsage> {
    match (invoke, event.event_type.as_str()) {
        (false, "metadata") => usage::converse_json(&event.payload),
        (true, "chunk") => usage::invocation_metrics(&event.payload),
        _ => None,
    }
}
