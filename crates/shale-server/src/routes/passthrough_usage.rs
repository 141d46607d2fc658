//! Token usage of pass-through answers (`/bedrock/model/{model}/{op}`), read from the relayed
//! bytes as they go by: InvokeModel's token-count headers at once; a Converse answer's `usage` when
//! its body has been relayed; for the event streams, the last frame — a ConverseStream's
//! `metadata` event, or the InvokeModelWithResponseStream `chunk` carrying
//! `amazon-bedrock-invocationMetrics` — decoded when the stream ends.
//!
//! Cheap on the relay path: chunks are kept by reference (`Bytes` clones, no copy) and only frame
//! lengths are read while relaying; one frame is decoded at the end. Must not: hold back, alter or
//! reorder a single byte the client receives; an answer it cannot read is simply not counted.

use crate::usage;
use axum::http::HeaderMap;
use bytes::{Bytes, BytesMut};
use shale_bedrock::eventstream::{message_to_event, FrameCodec};
use shale_bedrock::Operation;
use shale_telemetry::{record, RequestCell, TokenUsage};
use std::sync::Arc;
use tokio_util::codec::Decoder;

/// Largest Converse answer (or event-stream frame) kept to read its usage.
const MAX_KEPT: usize = 16 * 1024 * 1024;
/// Event-stream frame prelude: total length (4 bytes, big endian) …; a frame is at least 16 bytes.
const MIN_FRAME: usize = 16;

/// The chunks of a Converse answer, by reference.
#[derive(Default)]
struct Body {
    chunks: Vec<Bytes>,
    len: usize,
}

/// Frame boundaries of an event stream, and the last complete frame (by reference).
#[derive(Default)]
struct LastFrame {
    current: Vec<Bytes>,
    have: usize,
    /// Length of the frame being read, once its 4 length bytes were seen.
    len: Option<usize>,
    head: [u8; 4],
    head_len: usize,
    last: Vec<Bytes>,
}

impl LastFrame {
    /// Follows the frames of `bytes`; `None` when the stream is not an event stream.
    fn feed(&mut self, bytes: &Bytes) -> Option<()> {
        let mut pos = 0;
        while pos < bytes.len() {
            let take = match self.len {
                None => {
                    let take = (4 - self.head_len).min(bytes.len() - pos);
                    self.head[self.head_len..self.head_len + take]
                        .copy_from_slice(&bytes[pos..pos + take]);
                    self.head_len += take;
                    take
                }
                Some(len) => (len - self.have).min(bytes.len() - pos),
            };
            self.current.push(bytes.slice(pos..pos + take));
            self.have += take;
            pos += take;
            if self.len.is_none() && self.head_len == 4 {
                let len = u32::from_be_bytes(self.head) as usize;
                if !(MIN_FRAME..=MAX_KEPT).contains(&len) {
                    return None;
                }
                self.len = Some(len);
            }
            if self.len == Some(self.have) {
                self.last = std::mem::take(&mut self.current);
                self.have = 0;
                self.len = None;
                self.head_len = 0;
            }
        }
        Some(())
    }
}

enum Watch {
    Body(Body),
    Frames {
        frames: LastFrame,
        invoke: bool,
    },
    /// Done, or given up (too large, not an event stream).
    Off,
}

/// Watches one relayed answer and records its usage into the request when it ends (or is
/// dropped: with a `content-length` the server may stop polling after the last byte).
pub struct UsageTap {
    watch: Watch,
    cell: Arc<RequestCell>,
}

/// What the caller must do about an answer's usage.
pub enum Usage {
    /// Known from the headers (recorded already), or never known: nothing to watch.
    Done,
    /// Known once the body has been relayed (the request finishes at the body's end).
    AtBodyEnd(UsageTap),
    /// Known when the stream ends.
    InStream(UsageTap),
}

impl UsageTap {
    /// Starts reading the usage of a successful answer to `op`, inside the request's scope.
    pub fn start(op: Operation, headers: &HeaderMap) -> Usage {
        let Some(cell) = record::current() else {
            return Usage::Done;
        };
        let tap = |watch| UsageTap { watch, cell };
        let frames = |invoke| Watch::Frames {
            frames: LastFrame::default(),
            invoke,
        };
        match op {
            Operation::Invoke => {
                crate::report::usage(usage::invoke_headers(headers));
                Usage::Done
            }
            Operation::CountTokens => Usage::Done,
            Operation::Converse => Usage::AtBodyEnd(tap(Watch::Body(Body::default()))),
            Operation::ConverseStream => Usage::InStream(tap(frames(false))),
            Operation::InvokeStream => Usage::InStream(tap(frames(true))),
        }
    }

    /// Bytes relayed to the client.
    pub fn on_bytes(&mut self, bytes: &Bytes) {
        let keep = match &mut self.watch {
            Watch::Body(body) => {
                body.len += bytes.len();
                body.chunks.push(bytes.clone());
                body.len <= MAX_KEPT
            }
            Watch::Frames { frames, .. } => frames.feed(bytes).is_some(),
            Watch::Off => true,
        };
        if !keep {
            self.watch = Watch::Off;
        }
    }

    /// The answer was relayed completely (also run on drop).
    pub fn on_end(&mut self) {
        let found = match std::mem::replace(&mut self.watch, Watch::Off) {
            Watch::Body(body) => usage::converse_json(&concat(&body.chunks)),
            Watch::Frames { frames, invoke } => last_event_usage(&frames.last, invoke),
            Watch::Off => None,
        };
        if let Some(u) = found {
            crate::report::body_usage(&self.cell, u);
        }
    }
}

impl Drop for UsageTap {
    fn drop(&mut self) {
        self.on_end();
    }
}

fn concat(chunks: &[Bytes]) -> BytesMut {
    let mut out = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
    for c in chunks {
        out.extend_from_slice(c);
    }
    out
}

/// The usage in the stream's last frame: a `metadata` event (Converse) or a `chunk` with the
/// invocation metrics (invoke).
fn last_event_usage(frame: &[Bytes], invoke: bool) -> Option<TokenUsage> {
    let mut bytes = concat(frame);
    let message = FrameCodec::new(MAX_KEPT).decode(&mut bytes).ok()??;
    let event = message_to_event(message, None).ok()?;
    match (invoke, event.event_type.as_str()) {
        (false, "metadata") => usage::converse_json(&event.payload),
        (true, "chunk") => usage::invocation_metrics(&event.payload),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of the given lengths (only the length prefix matters to `LastFrame`).
    fn frames(lens: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            out.extend_from_slice(&(len as u32).to_be_bytes());
            out.extend(std::iter::repeat_n(i as u8, len - 4));
        }
        out
    }

    #[test]
    fn the_last_complete_frame_is_kept_whatever_the_chunking() {
        let wire = frames(&[20, 33, 17]);
        for chunk in [1, 3, 5, 16, 40, wire.len()] {
            let mut lf = LastFrame::default();
            for piece in wire.chunks(chunk) {
                lf.feed(&Bytes::copy_from_slice(piece)).unwrap();
            }
            let last = concat(&lf.last);
            assert_eq!(&last[..], &wire[53..], "chunks of {chunk}");
            assert!(lf.current.is_empty() && lf.len.is_none());
        }
        // A half frame at the end leaves the previous complete one as the last.
        let mut lf = LastFrame::default();
        lf.feed(&Bytes::copy_from_slice(&wire[..60])).unwrap();
        assert_eq!(&concat(&lf.last)[..], &wire[20..53]);
        // Not an event stream.
        let mut lf = LastFrame::default();
        assert!(lf.feed(&Bytes::from_static(b"{\"json\": true}")).is_none());
    }
}
