//! `text/event-stream` decoding for the surfaces that stream server-sent events instead of AWS
//! event streams (bedrock-mantle, bedrock-runtime's `/openai/v1`): a `tokio_util` codec that cuts
//! whole events out of the read buffer however the body is chunked (WHATWG SSE rules: `event:`
//! and `data:` fields, `:` comments, `\n`, `\r\n` or `\r` line ends, a blank line dispatches, a
//! size cap per event), and the typed stream built over a response body: one [`StreamEvent`] per
//! SSE event (`event_type` = the `event:` name, `message` when there is none; `payload` = the
//! data), ended by `data: [DONE]` or the end of the body. An `event: error` or a data object
//! that is an error (`{"error": …}`) becomes one [`BedrockError::Upstream`] and ends the stream.
//!
//! Must not: interpret event payloads beyond recognising errors (translation is
//! `shale-translate`'s), or buffer more than one event.

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio_util::codec::Decoder;

use crate::error::{stream_error_from_json, StreamDecodeError};
use crate::eventstream::{
    end_after_first_error, frame_error, framed, EventStream, FrameError, StreamContext, StreamEvent,
};

/// One server-sent event as read off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message` when the event had none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: Bytes,
}

/// The decoder state between two reads: the fields of the event being collected.
#[derive(Debug)]
pub struct SseCodec {
    max_event: usize,
    event: Option<String>,
    data: BytesMut,
    has_data: bool,
    /// Bytes of the buffer already known to hold no line end.
    scanned: usize,
}

impl SseCodec {
    /// A codec refusing events (or lines) longer than `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        SseCodec {
            max_event,
            event: None,
            data: BytesMut::new(),
            has_data: false,
            scanned: 0,
        }
    }

    fn too_large(&self, len: usize) -> FrameError {
        FrameError::Decode(StreamDecodeError::FrameTooLarge {
            len,
            max: self.max_event,
        })
    }

    /// Processes one line; returns an event when the line was the blank one ending it.
    fn line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, FrameError> {
        if line.is_empty() {
            let event = self.event.take();
            if !std::mem::take(&mut self.has_data) {
                return Ok(None);
            }
            let mut data = std::mem::take(&mut self.data);
            data.truncate(data.len().saturating_sub(1)); // the last line's `\n`
            return Ok(Some(SseEvent {
                event: event.unwrap_or_else(|| "message".to_owned()),
                data: data.freeze(),
            }));
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max_event {
                    return Err(self.too_large(self.data.len() + value.len() + 1));
                }
                self.data.extend_from_slice(value);
                self.data.extend_from_slice(b"\n");
                self.has_data = true;
            }
            _ => {} // id, retry and unknown fields
        }
        Ok(None)
    }

    fn next_line(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<Bytes>, FrameError> {
        let Some(pos) = src[self.scanned..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
            .map(|p| p + self.scanned)
        else {
            if src.len() > self.max_event {
                return Err(self.too_large(src.len()));
            }
            self.scanned = src.len();
            return Ok(None);
        };
        let terminator = match (src[pos], src.get(pos + 1)) {
            (b'\r', Some(b'\n')) => 2,
            // A `\r` at the end of what arrived may be the first half of `\r\n`.
            (b'\r', None) if !eof => {
                self.scanned = pos;
                return Ok(None);
            }
            _ => 1,
        };
        let line = src.split_to(pos).freeze();
        src.advance(terminator);
        self.scanned = 0;
        Ok(Some(line))
    }
}

impl Decoder for SseCodec {
    type Item = SseEvent;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<SseEvent>, FrameError> {
        while let Some(line) = self.next_line(src, false)? {
            if let Some(event) = self.line(&line)? {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<SseEvent>, FrameError> {
        while let Some(line) = self.next_line(src, true)? {
            if let Some(event) = self.line(&line)? {
                return Ok(Some(event));
            }
        }
        if src.is_empty() && !self.has_data {
            return Ok(None);
        }
        Err(FrameError::Decode(StreamDecodeError::Truncated {
            buffered: src.len() + self.data.len(),
        }))
    }
}

/// Whether an event carries an error instead of a result: `event: error`, or a data object whose
/// first member is `error` (OpenAI's in-stream error).
pub fn is_error_event(event: &SseEvent) -> bool {
    if event.event == "error" {
        return true;
    }
    let data = event.data.as_ref();
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    let rest = &data[start..];
    rest.starts_with(b"{") && {
        let inner = &rest[1..];
        let key = inner
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(&b""[..], |i| &inner[i..]);
        key.starts_with(b"\"error\"")
    }
}

/// Decodes a server-sent-event body into events; the stream ends at `data: [DONE]`, at the end
/// of the body, or after its first error (an error event, a silence longer than the idle
/// timeout, a broken connection, an event over the size cap, a body cut mid-event).
pub fn decode_sse<S, E>(body: S, ctx: StreamContext) -> EventStream
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let events = framed(body, &ctx, SseCodec::new(ctx.max_frame))
        .take_while(|item| {
            let done = matches!(item, Ok(e) if e.data.as_ref() == b"[DONE]");
            futures::future::ready(!done)
        })
        .map(move |item| match item {
            Ok(event) if is_error_event(&event) => Err(stream_error_from_json(
                &event.data,
                ctx.request_id.as_deref(),
            )),
            Ok(event) => Ok(StreamEvent {
                event_type: event.event,
                payload: event.data,
            }),
            Err(e) => Err(frame_error(e, &ctx)),
        });
    Box::pin(end_after_first_error(Box::pin(events)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{BedrockError, ErrorKind};
    use proptest::prelude::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn decode_all(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, String> {
        let mut codec = SseCodec::new(1 << 16);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(e) = codec.decode(&mut buf).map_err(|e| format!("{e:?}"))? {
                out.push(e);
            }
        }
        while let Some(e) = codec.decode_eof(&mut buf).map_err(|e| format!("{e:?}"))? {
            out.push(e);
        }
        Ok(out)
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    #[test]
    fn fields_comments_and_line_ends() {
        let body = b": keep-alive\r\n\r\nevent: response.created\r\ndata: {\"a\":1}\r\n\r\ndata: line one\ndata:line two\nid: 7\nretry: 10\n\nevent: x\r\r\ndata: {}\n\n";
        assert_eq!(
            decode_all(&[body]).unwrap(),
            vec![
                ev("response.created", "{\"a\":1}"),
                ev("message", "line one\nline two"),
                ev("message", "{}"),
            ]
        );
    }

    #[test]
    fn a_body_cut_mid_event_is_truncated() {
        let err = decode_all(&[b"data: {\"a\":1}\n"]).unwrap_err();
        assert!(err.contains("Truncated"), "{err}");
        let err = decode_all(&[b"data: {\"a\""]).unwrap_err();
        assert!(err.contains("Truncated"), "{err}");
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut codec = SseCodec::new(16);
        let mut buf = BytesMut::from(&b"data: 0123456789abcdefghij\n\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::Decode(StreamDecodeError::FrameTooLarge { .. }))
        ));
        let mut codec = SseCodec::new(16);
        let mut buf = BytesMut::from(&b"data: 0123456789abcdefghij"[..]);
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn error_events_are_recognised() {
        assert!(is_error_event(&ev(
            "message",
            " {\"error\":{\"message\":\"x\"}}"
        )));
        assert!(is_error_event(&ev("error", "{\"type\":\"error\"}")));
        assert!(!is_error_event(&ev(
            "message",
            "{\"id\":\"x\",\"error\":null}"
        )));
        assert!(!is_error_event(&ev("message", "[DONE]")));
    }

    fn ctx() -> StreamContext {
        StreamContext {
            deployment: Arc::from("d"),
            request_id: Some(Arc::from("req-1")),
            idle_timeout: Duration::from_secs(5),
            max_frame: 1 << 16,
        }
    }

    #[tokio::test]
    async fn the_stream_ends_at_done_and_after_an_error() {
        let body = futures::stream::iter(
            [
                &b"data: {\"id\":1}\n\n"[..],
                b"data: {\"id\":2,\"usage\":{}}\n\ndata: [DONE]\n\n",
                b"data: {\"never\":true}\n\n",
            ]
            .map(|b| Ok::<_, std::io::Error>(Bytes::from_static(b))),
        );
        let events: Vec<_> = decode_sse(body, ctx()).collect().await;
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1].as_ref().unwrap().payload.as_ref(),
            b"{\"id\":2,\"usage\":{}}"
        );

        let body = futures::stream::iter(
            [
                &b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n"[..],
                b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
                b"event: ping\ndata: {}\n\n",
            ]
            .map(|b| Ok::<_, std::io::Error>(Bytes::from_static(b))),
        );
        let events: Vec<_> = decode_sse(body, ctx()).collect().await;
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].as_ref().unwrap().event_type, "message_start");
        match &events[1] {
            Err(BedrockError::Upstream {
                kind,
                message,
                request_id,
                ..
            }) => {
                assert_eq!(kind, &ErrorKind::ServiceUnavailable);
                assert_eq!(message, "Overloaded");
                assert_eq!(request_id.as_deref(), Some("req-1"));
            }
            other => panic!("{other:?}"),
        }
    }

    fn sample_body() -> impl Strategy<Value = Vec<u8>> {
        let field = prop_oneof![
            "[a-z{}\":, 0-9é]{0,12}".prop_map(|v| format!("data: {v}")),
            "[a-z_.]{1,10}".prop_map(|v| format!("event: {v}")),
            "[a-z ]{0,8}".prop_map(|v| format!(": {v}")),
            Just("id: 3".to_owned()),
            Just(String::new()),
        ];
        let end = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        prop::collection::vec((field, end), 0..24).prop_map(|lines| {
            let mut out = String::new();
            for (l, e) in lines {
                out.push_str(&l);
                out.push_str(e);
            }
            out.push_str("\n\n");
            out.into_bytes()
        })
    }

    proptest! {
        /// However the body is cut into chunks, the same events come out.
        #[test]
        fn any_chunking_gives_the_same_events(
            body in sample_body(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let whole = decode_all(&[&body]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&body[last..p]);
                last = p;
            }
            chunks.push(&body[last..]);
            prop_assert_eq!(decode_all(&chunks), whole);
        }
    }
}
