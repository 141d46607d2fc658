//! Detecting the first event of a streamed answer as body bytes arrive: the first complete
//! `data:` line of server-sent events (the gateway's OpenAI stream), or the first complete
//! AWS event-stream frame (Bedrock's ConverseStream, decoded with `aws-smithy-eventstream`).

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use bytes::BytesMut;

/// Largest prefix kept while waiting for the first event (a first event is small).
const MAX_PREFIX: usize = 1 << 20;

/// What counts as the first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FirstEvent {
    /// The first complete `data: …` line of a `text/event-stream` body.
    Sse,
    /// The first complete `application/vnd.amazon.eventstream` frame.
    Frame,
    /// The first body byte.
    Byte,
}

/// Why the stream cannot be read as expected.
#[derive(Debug, thiserror::Error)]
pub enum FirstError {
    #[error("no first event within the first {MAX_PREFIX} bytes")]
    TooLong,
    #[error("invalid event-stream frame: {0}")]
    Frame(String),
}

/// Feeds body chunks in order; says when the first event is complete.
pub struct FirstDetector {
    kind: FirstEvent,
    buf: BytesMut,
    decoder: MessageFrameDecoder,
    found: bool,
}

impl FirstDetector {
    pub fn new(kind: FirstEvent) -> Self {
        Self {
            kind,
            buf: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            found: false,
        }
    }

    /// Adds one chunk; `Ok(true)` once the first event has been seen (and from then on).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<bool, FirstError> {
        if self.found {
            return Ok(true);
        }
        self.found = match self.kind {
            FirstEvent::Byte => !chunk.is_empty(),
            FirstEvent::Sse => {
                self.buf.extend_from_slice(chunk);
                has_complete_data_line(&self.buf)
            }
            FirstEvent::Frame => {
                self.buf.extend_from_slice(chunk);
                match self.decoder.decode_frame(&mut self.buf) {
                    Ok(DecodedFrame::Complete(_)) => true,
                    Ok(DecodedFrame::Incomplete) => false,
                    Err(e) => return Err(FirstError::Frame(e.to_string())),
                }
            }
        };
        if !self.found && self.buf.len() > MAX_PREFIX {
            return Err(FirstError::TooLong);
        }
        Ok(self.found)
    }
}

/// True when `text` holds a line starting with `data:` that is terminated by a newline.
fn has_complete_data_line(text: &[u8]) -> bool {
    let mut rest = text;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        if rest[..end].starts_with(b"data:") {
            return true;
        }
        rest = &rest[end + 1..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};

    #[test]
    fn sse_needs_a_complete_data_line_not_a_comment() {
        let mut d = FirstDetector::new(FirstEvent::Sse);
        assert!(!d.feed(b": keep-alive\n\n").unwrap());
        assert!(!d.feed(b"da").unwrap());
        assert!(!d.feed(b"ta: {\"id\":1}").unwrap());
        assert!(d.feed(b"\n\n").unwrap());
        assert!(d.feed(b"anything").unwrap());
    }

    #[test]
    fn frame_needs_the_whole_frame() {
        let message = Message::new(&b"{\"role\":\"assistant\"}"[..])
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String("messageStart".into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ));
        let mut bytes = Vec::new();
        write_message_to(&message, &mut bytes).unwrap();
        let mut d = FirstDetector::new(FirstEvent::Frame);
        assert!(!d.feed(&bytes[..5]).unwrap());
        assert!(!d.feed(&bytes[5..bytes.len() - 1]).unwrap());
        assert!(d.feed(&bytes[bytes.len() - 1..]).unwrap());
    }

    #[test]
    fn corrupt_frame_is_an_error() {
        let mut d = FirstDetector::new(FirstEvent::Frame);
        let mut bad = vec![0u8, 0, 0, 20, 0, 0, 0, 0, 1, 2, 3, 4];
        bad.extend_from_slice(&[0; 8]);
        assert!(d.feed(&bad).is_err());
    }

    #[test]
    fn byte_is_any_byte() {
        let mut d = FirstDetector::new(FirstEvent::Byte);
        assert!(!d.feed(b"").unwrap());
        assert!(d.feed(b"x").unwrap());
    }
}
