//! Property tests for the event-stream decoder: arbitrary bytes, and valid Bedrock frames with
//! random byte mutations (flips, cuts, insertions, forged length preludes), split into arbitrary
//! body chunks. The decoder never panics and never loops; it yields events or one typed error and
//! stops; unmutated frames always decode to exactly the events that were encoded, however the
//! body is split. Case count: `PROPTEST_CASES` (default 256 per property).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use shale_bedrock::eventstream::{
    decode_stream, message_to_event, FrameCodec, FrameError, StreamContext,
};
use shale_bedrock::{BedrockError, StreamEvent};
use shale_emulator::eventstream::{encode_chunk, encode_event, encode_exception};
use std::time::Duration;
use tokio_util::codec::Decoder;

const MAX_FRAME: usize = 64 * 1024;

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One frame to encode.
#[derive(Debug, Clone)]
enum Frame {
    Event(String, Vec<u8>),
    Chunk(Vec<u8>),
    Exception(String, Vec<u8>),
}

fn frame() -> impl Strategy<Value = Frame> {
    let ty = prop::sample::select(&["contentBlockDelta", "messageStop", "metadata", "é", ""][..])
        .prop_map(str::to_owned);
    let payload = prop_oneof![
        Just(br#"{"delta":{"text":"hi"},"contentBlockIndex":0}"#.to_vec()),
        prop::collection::vec(any::<u8>(), 0..200),
    ];
    prop_oneof![
        4 => (ty.clone(), payload.clone()).prop_map(|(t, p)| Frame::Event(t, p)),
        1 => payload.clone().prop_map(Frame::Chunk),
        1 => (
            prop::sample::select(&["throttlingException", "modelStreamErrorException", "x"][..])
                .prop_map(str::to_owned),
            payload
        )
            .prop_map(|(t, p)| Frame::Exception(t, p)),
    ]
}

fn encode(f: &Frame) -> Bytes {
    match f {
        Frame::Event(t, p) => encode_event(t, p),
        Frame::Chunk(p) => encode_chunk(p),
        Frame::Exception(t, p) => encode_exception(t, p),
    }
}

#[derive(Debug, Clone)]
enum ByteMutation {
    Flip {
        at: usize,
        mask: u8,
    },
    Cut {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Overwrite 4 bytes (e.g. a length prelude) with a chosen big-endian value.
    Length {
        at: usize,
        value: u32,
    },
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, mask)| ByteMutation::Flip { at, mask }),
        any::<usize>().prop_map(|at| ByteMutation::Cut { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| ByteMutation::Insert { at, bytes }),
        (
            any::<usize>(),
            prop_oneof![Just(0u32), Just(15), Just(16), Just(u32::MAX), any::<u32>()]
        )
            .prop_map(|(at, value)| ByteMutation::Length { at, value }),
    ]
}

fn mutate(body: &mut Vec<u8>, m: &ByteMutation) {
    if body.is_empty() {
        return;
    }
    let n = body.len();
    match m {
        ByteMutation::Flip { at, mask } => body[at % n] ^= mask,
        ByteMutation::Cut { at } => body.truncate(at % n),
        ByteMutation::Insert { at, bytes } => {
            let at = at % n;
            body.splice(at..at, bytes.iter().copied());
        }
        ByteMutation::Length { at, value } => {
            let at = (at % n).min(n.saturating_sub(4));
            for (i, b) in value.to_be_bytes().into_iter().enumerate() {
                if let Some(slot) = body.get_mut(at + i) {
                    *slot = b;
                }
            }
        }
    }
}

/// Splits `body` at the given cut points.
fn split(body: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&body[w[0]..w[1]]))
        .collect()
}

/// Drives the codec the way `FramedRead` does: each chunk is appended, frames are decoded until
/// the codec needs more, and the end of the body calls `decode_eof`. Returns the events and the
/// error that ended decoding, if any.
fn decode_chunks(chunks: &[Bytes]) -> (Vec<StreamEvent>, Option<String>) {
    let mut codec = FrameCodec::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let take = |msg, events: &mut Vec<StreamEvent>| match message_to_event(msg, None) {
        Ok(ev) => {
            events.push(ev);
            None
        }
        Err(e) => Some(typed(e)),
    };
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        // Each decoded frame consumes at least the 16-byte minimum: bounded by the body length.
        for _ in 0..=buf.len() {
            match codec.decode(&mut buf) {
                Ok(Some(msg)) => {
                    if let Some(e) = take(msg, &mut events) {
                        return (events, Some(e));
                    }
                }
                Ok(None) => break,
                Err(e) => return (events, Some(frame_error(e))),
            }
        }
    }
    for _ in 0..=buf.len() + 1 {
        match codec.decode_eof(&mut buf) {
            Ok(Some(msg)) => {
                if let Some(e) = take(msg, &mut events) {
                    return (events, Some(e));
                }
            }
            Ok(None) => return (events, None),
            Err(e) => return (events, Some(frame_error(e))),
        }
    }
    panic!("decode_eof did not finish on a {} byte buffer", buf.len());
}

fn typed(e: BedrockError) -> String {
    assert!(
        matches!(
            e,
            BedrockError::Upstream { .. } | BedrockError::StreamDecode(_)
        ),
        "unexpected error kind: {e:?}"
    );
    e.to_string()
}

fn frame_error(e: FrameError) -> String {
    match e {
        FrameError::Decode(d) => d.to_string(),
        FrameError::Io(io) => panic!("no I/O in this test: {io}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        decode_chunks(&split(&body, &cuts));
    }

    #[test]
    fn valid_frames_decode_exactly_however_split(
        frames in prop::collection::vec(frame(), 0..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let body: Vec<u8> = frames.iter().flat_map(|f| encode(f).to_vec()).collect();
        let (events, error) = decode_chunks(&split(&body, &cuts));
        let first_exception = frames.iter().position(|f| matches!(f, Frame::Exception(..)));
        let expected = first_exception.unwrap_or(frames.len());
        prop_assert_eq!(events.len(), expected);
        prop_assert_eq!(error.is_some(), first_exception.is_some());
        for (ev, f) in events.iter().zip(&frames) {
            match f {
                Frame::Event(t, p) => {
                    prop_assert_eq!(&ev.event_type, t);
                    prop_assert_eq!(&ev.payload[..], &p[..]);
                }
                Frame::Chunk(_) => prop_assert_eq!(ev.event_type.as_str(), "chunk"),
                Frame::Exception(..) => unreachable!(),
            }
        }
    }

    #[test]
    fn mutated_frames_fail_typed(
        frames in prop::collection::vec(frame(), 1..5),
        mutations in prop::collection::vec(byte_mutation(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut body: Vec<u8> = frames.iter().flat_map(|f| encode(f).to_vec()).collect();
        for m in &mutations {
            mutate(&mut body, m);
        }
        let (events, _) = decode_chunks(&split(&body, &cuts));
        prop_assert!(events.len() <= frames.len() + 1);
    }

    #[test]
    fn the_async_stream_ends_after_one_error(
        frames in prop::collection::vec(frame(), 1..5),
        mutations in prop::collection::vec(byte_mutation(), 0..3),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut body: Vec<u8> = frames.iter().flat_map(|f| encode(f).to_vec()).collect();
        for m in &mutations {
            mutate(&mut body, m);
        }
        let chunks = split(&body, &cuts);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let items = rt.block_on(async move {
            use futures::StreamExt;
            let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
            let ctx = StreamContext {
                deployment: "d".into(),
                request_id: None,
                idle_timeout: Duration::from_secs(5),
                max_frame: MAX_FRAME,
            };
            tokio::time::timeout(Duration::from_secs(10), decode_stream(body, ctx).collect::<Vec<_>>())
                .await
                .expect("the stream ends")
        });
        let errors = items.iter().filter(|i| i.is_err()).count();
        prop_assert!(errors <= 1);
        if errors == 1 {
            prop_assert!(items.last().unwrap().is_err(), "nothing after the error");
        }
    }
}
