//! `application/vnd.amazon.eventstream` decoding: a `tokio_util` codec that cuts whole frames out
//! of the read buffer (with a frame-size cap) and decodes each with `aws-smithy-eventstream`'s
//! `read_message_from` (prelude, header and message CRCs checked there), and the typed event
//! stream built frame by frame over a response body. A frame is handed to the decoder as one
//! contiguous `Bytes`, so its checksums run over whole slices.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::io::StreamReader;

use crate::error::{BedrockError, ErrorKind, StreamDecodeError};

/// One decoded event: `event_type` is the `:event-type` header (`contentBlockDelta`, `chunk`,
/// `metadata`...), `payload` the frame's JSON payload, untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEvent {
    /// The `:event-type` header.
    pub event_type: String,
    /// The payload bytes (JSON for Bedrock).
    pub payload: Bytes,
}

/// Decoded events of one Bedrock stream; ends after the first error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, BedrockError>> + Send>>;

/// Smallest valid frame: prelude + message CRC.
const MIN_FRAME_LEN: usize = 16;

/// Errors of [`FrameCodec`].
#[derive(Debug)]
pub enum FrameError {
    /// Reading the body failed (connection lost, idle timeout).
    Io(io::Error),
    /// The bytes are not a valid event stream.
    Decode(StreamDecodeError),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// `tokio_util` decoder yielding one [`Message`] per event-stream frame.
#[derive(Debug)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// A codec refusing frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self { max_frame }
    }
}

impl Decoder for FrameCodec {
    type Item = Message;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::Decode(StreamDecodeError::FrameTooLarge {
                len,
                max: self.max_frame,
            }));
        }
        if len < MIN_FRAME_LEN {
            return Err(FrameError::Decode(StreamDecodeError::Malformed(format!(
                "frame length {len} is shorter than the {MIN_FRAME_LEN} byte minimum"
            ))));
        }
        if src.len() < len {
            // Room for the rest of the frame, so it arrives in as few reads as possible.
            src.reserve(len - src.len());
            return Ok(None);
        }
        let frame = src.split_to(len).freeze();
        read_message_from(frame)
            .map(Some)
            .map_err(|e| FrameError::Decode(StreamDecodeError::Malformed(e.to_string())))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        if let Some(message) = self.decode(src)? {
            return Ok(Some(message));
        }
        if src.is_empty() {
            return Ok(None);
        }
        Err(FrameError::Decode(StreamDecodeError::Truncated {
            buffered: src.remaining(),
        }))
    }
}

fn header_str<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// Turns one frame into an event, or into the error an exception / error frame carries.
pub fn message_to_event(
    message: Message,
    request_id: Option<&str>,
) -> Result<StreamEvent, BedrockError> {
    match header_str(&message, ":message-type").unwrap_or("event") {
        "event" => {
            let event_type = header_str(&message, ":event-type").ok_or_else(|| {
                StreamDecodeError::Unexpected("event frame without :event-type".into())
            })?;
            Ok(StreamEvent {
                event_type: event_type.to_owned(),
                payload: message.payload().clone(),
            })
        }
        "exception" => {
            let code = header_str(&message, ":exception-type").unwrap_or("unknownException");
            let message_text = payload_message(message.payload())
                .unwrap_or_else(|| format!("Bedrock sent {code} in the stream"));
            Err(stream_exception(code, message_text, request_id))
        }
        "error" => {
            let code = header_str(&message, ":error-code").unwrap_or("UnknownError");
            let text = header_str(&message, ":error-message")
                .map(str::to_owned)
                .or_else(|| payload_message(message.payload()))
                .unwrap_or_else(|| format!("Bedrock sent error {code} in the stream"));
            Err(stream_exception(code, text, request_id))
        }
        other => {
            Err(StreamDecodeError::Unexpected(format!("unknown :message-type {other:?}")).into())
        }
    }
}

/// The error an in-stream exception (or error) frame carries: its code (`throttlingException`)
/// normalised, with the status Bedrock documents for it.
pub fn stream_exception(code: &str, message: String, request_id: Option<&str>) -> BedrockError {
    let kind = ErrorKind::from_code(code);
    BedrockError::Upstream {
        status: kind.bedrock_status(),
        kind,
        message,
        request_id: request_id.map(str::to_owned),
        retry_after: None,
    }
}

fn payload_message(payload: &Bytes) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Payload {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    match serde_json::from_slice::<Payload>(payload) {
        Ok(p) => p.message,
        Err(_) => (!payload.is_empty()).then(|| String::from_utf8_lossy(payload).into_owned()),
    }
}

/// Where an event stream came from, for error messages.
#[derive(Clone, Debug)]
pub struct StreamContext {
    /// The deployment's name.
    pub deployment: Arc<str>,
    /// `x-amzn-RequestId` of the response.
    pub request_id: Option<Arc<str>>,
    /// Longest silence accepted between two body chunks.
    pub idle_timeout: Duration,
    /// Frame-size cap.
    pub max_frame: usize,
}

/// Decodes `body` frame by frame. `body` chunks may split frames anywhere. A silence longer
/// than the idle timeout, a lost connection, a truncated or corrupt frame, or an exception
/// frame yields one error and ends the stream.
pub fn decode_stream<S, E>(body: S, ctx: StreamContext) -> EventStream
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let frames = framed(body, &ctx, FrameCodec::new(ctx.max_frame));
    let events = frames.map(move |item| match item {
        Ok(message) => message_to_event(message, ctx.request_id.as_deref()),
        Err(e) => Err(frame_error(e, &ctx)),
    });
    Box::pin(end_after_first_error(events))
}

/// `body` read through `codec` (any framing: event stream, SSE), with the stream's idle timeout
/// between two body chunks.
pub(crate) fn framed<S, E, C>(
    body: S,
    ctx: &StreamContext,
    codec: C,
) -> impl Stream<Item = Result<C::Item, FrameError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
    C: Decoder<Error = FrameError> + Send,
    C::Item: Send,
{
    let timer = crate::idle::IdleTimer::new(ctx.idle_timeout);
    let chunks = futures::stream::unfold((body, timer), |(mut body, mut timer)| async move {
        match timer.next(&mut body).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), (body, timer))),
            Ok(Some(Err(e))) => Some((Err(io::Error::other(e)), (body, timer))),
            Ok(None) => None,
            Err(crate::idle::Idle) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no data from Bedrock within the stream timeout",
                )),
                (body, timer),
            )),
        }
    });
    FramedRead::new(StreamReader::new(Box::pin(chunks)), codec)
}

/// The error a framing failure ends a stream with.
pub(crate) fn frame_error(e: FrameError, ctx: &StreamContext) -> BedrockError {
    match e {
        FrameError::Decode(e) => BedrockError::StreamDecode(e),
        FrameError::Io(e) if e.kind() == io::ErrorKind::TimedOut => BedrockError::Timeout {
            deployment: ctx.deployment.to_string(),
            after: ctx.idle_timeout,
        },
        FrameError::Io(e) => BedrockError::Connect {
            deployment: ctx.deployment.to_string(),
            message: format!("the stream from Bedrock broke off: {}", error_chain(&e)),
        },
    }
}

/// `e` and its sources joined with `: `.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

pub(crate) fn end_after_first_error<S, T, E>(stream: S) -> impl Stream<Item = Result<T, E>> + Send
where
    S: Stream<Item = Result<T, E>> + Send + Unpin,
{
    futures::stream::unfold((stream, false), |(mut stream, done)| async move {
        if done {
            return None;
        }
        let item = stream.next().await?;
        let done = item.is_err();
        Some((item, (stream, done)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;
    use std::convert::Infallible;

    fn event(event_type: &str, payload: &str) -> Vec<u8> {
        let message = Message::new(Bytes::copy_from_slice(payload.as_bytes()))
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String(event_type.to_owned().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".to_owned().into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".to_owned().into()),
            ));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    fn exception(kind: &str, payload: &str) -> Vec<u8> {
        let message = Message::new(Bytes::copy_from_slice(payload.as_bytes()))
            .add_header(Header::new(
                ":exception-type",
                HeaderValue::String(kind.to_owned().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".to_owned().into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("exception".to_owned().into()),
            ));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    fn ctx() -> StreamContext {
        StreamContext {
            deployment: "d".into(),
            request_id: Some("req-9".into()),
            idle_timeout: Duration::from_secs(5),
            max_frame: 1024,
        }
    }

    async fn collect(
        chunks: Vec<Vec<u8>>,
        ctx: StreamContext,
    ) -> Vec<Result<StreamEvent, BedrockError>> {
        let body = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, Infallible>(Bytes::from(c))),
        );
        decode_stream(body, ctx).collect().await
    }

    #[test]
    fn worked_vector_from_the_wire_protocol_notes() {
        // bedrock-wire-protocol.md §4: 159 bytes, prelude 00 00 00 9f 00 00 00 57 c3 7b ab ff,
        // message CRC f2 ac e5 ff.
        let bytes = event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcd"}"#,
        );
        assert_eq!(bytes.len(), 159);
        assert_eq!(
            &bytes[..12],
            &[0, 0, 0, 0x9f, 0, 0, 0, 0x57, 0xc3, 0x7b, 0xab, 0xff]
        );
        assert_eq!(&bytes[155..], &[0xf2, 0xac, 0xe5, 0xff]);
        let mut codec = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::from(&bytes[..]);
        let message = codec.decode(&mut buf).unwrap().unwrap();
        let ev = message_to_event(message, None).unwrap();
        assert_eq!(ev.event_type, "contentBlockDelta");
        assert_eq!(
            &ev.payload[..],
            br#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcd"}"#
        );
        assert!(buf.is_empty());
    }

    #[tokio::test]
    async fn frames_split_across_arbitrary_chunks() {
        let mut all = event("messageStart", r#"{"role":"assistant"}"#);
        all.extend(event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
        ));
        all.extend(event("messageStop", r#"{"stopReason":"end_turn"}"#));
        for chunk_size in [1, 3, 7, 16, 100, all.len()] {
            let chunks: Vec<Vec<u8>> = all.chunks(chunk_size).map(<[u8]>::to_vec).collect();
            let events: Vec<_> = collect(chunks, ctx())
                .await
                .into_iter()
                .map(|e| e.unwrap().event_type)
                .collect();
            assert_eq!(
                events,
                ["messageStart", "contentBlockDelta", "messageStop"],
                "chunk {chunk_size}"
            );
        }
    }

    #[tokio::test]
    async fn exception_frames_become_typed_errors_and_end_the_stream() {
        let mut all = event("messageStart", r#"{"role":"assistant"}"#);
        all.extend(exception(
            "throttlingException",
            r#"{"message":"slow down"}"#,
        ));
        all.extend(event("messageStop", r#"{"stopReason":"end_turn"}"#));
        let items = collect(vec![all], ctx()).await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        match &items[1] {
            Err(
                e @ BedrockError::Upstream {
                    kind,
                    status,
                    message,
                    request_id,
                    retry_after: None,
                },
            ) => {
                assert_eq!(kind, &ErrorKind::Throttling);
                assert_eq!(*status, 429);
                assert_eq!(message, "slow down");
                assert_eq!(request_id.as_deref(), Some("req-9"));
                assert_eq!(e.http_status(), 429);
                assert_eq!(e.openai_type().as_str(), "rate_limit_error");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn model_stream_error_maps_to_model_error() {
        let items = collect(
            vec![exception(
                "modelStreamErrorException",
                r#"{"message":"model crashed","originalStatusCode":500}"#,
            )],
            ctx(),
        )
        .await;
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.kind(), Some(&ErrorKind::ModelStreamError));
        assert_eq!(err.openai_code(), Some("model_error"));
    }

    #[tokio::test]
    async fn truncation_is_a_clean_error() {
        let all = event("messageStart", r#"{"role":"assistant"}"#);
        let second = event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
        );
        for cut in [2, 11, 12, 30, second.len() - 1] {
            let mut body = all.clone();
            body.extend_from_slice(&second[..cut]);
            let items = collect(vec![body], ctx()).await;
            assert_eq!(items.len(), 2, "cut {cut}");
            assert!(items[0].is_ok());
            match &items[1] {
                Err(BedrockError::StreamDecode(StreamDecodeError::Truncated { buffered })) => {
                    assert_eq!(*buffered, cut, "cut {cut}");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn crc_mismatch_is_a_clean_error() {
        let mut body = event("messageStart", r#"{"role":"assistant"}"#);
        let mut bad = event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
        );
        let n = bad.len();
        bad[n - 10] ^= 0x55; // payload byte: message CRC no longer matches
        body.extend(bad);
        let items = collect(vec![body], ctx()).await;
        assert_eq!(items.len(), 2);
        match &items[1] {
            Err(e @ BedrockError::StreamDecode(StreamDecodeError::Malformed(msg))) => {
                assert!(msg.to_lowercase().contains("checksum"), "{msg}");
                assert_eq!(e.http_status(), 502);
            }
            other => panic!("{other:?}"),
        }
        let mut bad_prelude = event("messageStart", r#"{"role":"assistant"}"#);
        bad_prelude[9] ^= 0xff;
        let items = collect(vec![bad_prelude], ctx()).await;
        assert!(matches!(
            &items[0],
            Err(BedrockError::StreamDecode(StreamDecodeError::Malformed(_)))
        ));
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_before_buffering() {
        let big = event("chunk", &format!(r#"{{"bytes":"{}"}}"#, "A".repeat(2000)));
        // Only the first 4 bytes arrive: the cap is enforced from the prelude alone.
        let items = collect(vec![big[..4].to_vec()], ctx()).await;
        match &items[0] {
            Err(BedrockError::StreamDecode(StreamDecodeError::FrameTooLarge { len, max })) => {
                assert_eq!(*len, big.len());
                assert_eq!(*max, 1024);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn idle_stream_times_out() {
        let first = event("messageStart", r#"{"role":"assistant"}"#);
        let body = futures::stream::iter(vec![Ok::<_, Infallible>(Bytes::from(first))])
            .chain(futures::stream::pending());
        let mut c = ctx();
        c.idle_timeout = Duration::from_millis(50);
        let items: Vec<_> = decode_stream(body, c).collect().await;
        assert_eq!(items.len(), 2);
        assert!(matches!(items[1], Err(BedrockError::Timeout { .. })));
    }

    #[tokio::test]
    async fn broken_connection_is_a_connect_error() {
        let first = event("messageStart", r#"{"role":"assistant"}"#);
        let body = futures::stream::iter(vec![
            Ok(Bytes::from(first)),
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "reset by peer",
            )),
        ]);
        let items: Vec<_> = decode_stream(body, ctx()).collect().await;
        assert_eq!(items.len(), 2);
        match &items[1] {
            Err(BedrockError::Connect { message, .. }) => {
                assert!(message.contains("reset by peer"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn empty_body_is_an_empty_stream() {
        assert!(collect(vec![], ctx()).await.is_empty());
    }
}
