//! Server-sent events for streamed completions: a body → body transform that pulls Bedrock events
//! one at a time, translates each as it arrives (never buffering the stream), and hands the chat
//! chunks to a [`StreamShape`] that writes them: [`DataLines`] for chat and `/completions`
//! (`data: {chunk}\n\n` lines, `data: [DONE]`, a mid-stream failure as one OpenAI-shaped
//! `data: {"error":…}` event), or a stateful shape writing named events (the Responses API).
//! Keep-alive comments go out during long silences.
//! Dropping the body (client gone) drops the upstream stream, which cancels the Bedrock request.

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use serde::Serialize;
use shale_bedrock::idle::IdleTimer;
use shale_bedrock::EventStream;
use shale_translate::{ChatChunk, EventTranslator};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long the upstream may be silent before a keep-alive comment is sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A complete stream from chunks already at hand (models whose API cannot stream).
pub fn sse_from_chunks<S: StreamShape>(chunks: Vec<ChatChunk>, mut shape: S) -> Response {
    let mut out = BytesMut::new();
    shape.begin(&mut out);
    for chunk in chunks {
        shape.on_chunk(chunk, &mut out);
    }
    shape.finish(&mut out);
    event_stream_response(Body::from(out.freeze()))
}

/// A 200 `text/event-stream` answer (no caching, no proxy buffering) around a body — every SSE
/// endpoint answers through this.
pub fn event_stream_response(body: Body) -> Response {
    let mut response = Response::new(Body::new(FirstEventAlone::new(body)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

pin_project! {
    /// Sends the first event on its own. Bedrock often delivers several events in one read; hyper
    /// writes every frame the body has ready in one go, so without this the first token would
    /// wait for the whole burst to be translated. After the first data frame the body yields
    /// once (waking itself at once): hyper flushes the head and that frame, then comes back for
    /// the rest. Costs one more write per stream; a body already at its end does not yield.
    struct FirstEventAlone<B> {
        #[pin]
        inner: B,
        stage: FirstEventStage,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FirstEventStage {
    BeforeFirst,
    FlushFirst,
    Relaying,
}

impl<B> FirstEventAlone<B> {
    fn new(inner: B) -> Self {
        FirstEventAlone {
            inner,
            stage: FirstEventStage::BeforeFirst,
        }
    }
}

impl<B: HttpBody> HttpBody for FirstEventAlone<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if *this.stage == FirstEventStage::FlushFirst {
            *this.stage = FirstEventStage::Relaying;
            if !this.inner.is_end_stream() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if *this.stage == FirstEventStage::BeforeFirst
            && matches!(&frame, Some(Ok(f)) if f.is_data())
        {
            *this.stage = FirstEventStage::FlushFirst;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How chunks are written: as `chat.completion.chunk` or re-shaped (e.g. `text_completion`).
pub type ChunkMapper = fn(ChatChunk) -> Option<serde_json::Value>;

/// How one stream's chat chunks are written to the client. Stateful: an implementation may
/// remember what it wrote (the Responses API's events depend on what came before).
pub trait StreamShape: Send + 'static {
    /// Written as soon as the stream starts, before the first upstream event.
    fn begin(&mut self, _out: &mut BytesMut) {}
    /// One chat chunk.
    fn on_chunk(&mut self, chunk: ChatChunk, out: &mut BytesMut);
    /// The upstream ended normally.
    fn finish(&mut self, out: &mut BytesMut);
    /// The stream failed after it started; nothing follows.
    fn fail(&mut self, err: &ApiError, out: &mut BytesMut);
}

/// `data: {chunk}` lines (optionally re-shaped), `data: [DONE]` at the end, and a failure as
/// one `data: {"error":…}` event: the chat and `/completions` wire format.
#[derive(Clone, Copy)]
pub struct DataLines(pub Option<ChunkMapper>);

impl StreamShape for DataLines {
    fn on_chunk(&mut self, chunk: ChatChunk, out: &mut BytesMut) {
        write_chunk(out, chunk, self.0);
    }

    fn finish(&mut self, out: &mut BytesMut) {
        out.put_slice(b"data: [DONE]\n\n");
    }

    fn fail(&mut self, err: &ApiError, out: &mut BytesMut) {
        out.put_slice(b"data: ");
        out.put_slice(&err.to_json());
        out.put_slice(b"\n\n");
    }
}

/// Writes one named event: `event: {name}\ndata: {json}\n\n`.
pub fn write_event<T: Serialize>(out: &mut BytesMut, name: &str, data: &T) {
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    serde_json::to_writer((&mut *out).writer(), data).expect("events serialise");
    out.put_slice(b"\n\n");
}

struct SseState<T, S> {
    upstream: EventStream,
    translator: T,
    shape: S,
    begun: bool,
    keep_alive: IdleTimer,
    done: bool,
    /// The request this stream answers (telemetry: usage is recorded when the stream ends).
    observed: Option<std::sync::Arc<shale_telemetry::RequestCell>>,
    /// The finish reasons seen so far (for the trace), when observed.
    finish_reasons: Vec<String>,
}

impl<T, S> SseState<T, S> {
    /// Notes a chunk's finish reasons (only for an observed request; most chunks have none).
    fn note(&mut self, chunk: &ChatChunk) {
        if self.observed.is_some() {
            crate::report::chunk_finish_reasons(&mut self.finish_reasons, chunk);
        }
    }
}

/// Builds the streaming response.
pub fn sse_response<T: EventTranslator, S: StreamShape>(
    upstream: EventStream,
    translator: T,
    shape: S,
) -> Response {
    let state = SseState {
        upstream,
        translator,
        shape,
        begun: false,
        keep_alive: IdleTimer::new(KEEP_ALIVE),
        done: false,
        observed: shale_telemetry::record::current(),
        finish_reasons: Vec::new(),
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = BytesMut::new();
        if !s.begun {
            s.begun = true;
            s.shape.begin(&mut out);
            if !out.is_empty() {
                return Some((Ok::<Bytes, Infallible>(out.freeze()), s));
            }
        }
        match s.keep_alive.next(&mut s.upstream).await {
            Err(_) => out.put_slice(b": keep-alive\n\n"),
            Ok(Some(Ok(event))) => match s.translator.on_event(&event.event_type, &event.payload) {
                Ok(chunks) => {
                    for chunk in chunks {
                        s.note(&chunk);
                        s.shape.on_chunk(chunk, &mut out);
                    }
                }
                Err(err) => {
                    fail(&mut s.shape, &mut out, &ApiError::from(err));
                    s.done = true;
                }
            },
            Ok(Some(Err(err))) => {
                fail(&mut s.shape, &mut out, &ApiError::from(err));
                s.done = true;
            }
            Ok(None) => {
                for chunk in s.translator.finish() {
                    s.note(&chunk);
                    s.shape.on_chunk(chunk, &mut out);
                }
                if let Some(cell) = &s.observed {
                    if let Some(usage) = s.translator.usage() {
                        crate::report::stream_usage(cell, &usage);
                    }
                    crate::report::stream_finish_reasons(cell, &mut s.finish_reasons);
                }
                s.shape.finish(&mut out);
                s.done = true;
            }
        }
        Some((Ok::<Bytes, Infallible>(out.freeze()), s))
    })
    // Events that produce no chunk (e.g. contentBlockStop) yield empty frames: skip them.
    .filter(|frame| futures::future::ready(frame.as_ref().map(|b| !b.is_empty()).unwrap_or(true)));

    event_stream_response(Body::from_stream(body))
}

fn write_chunk(out: &mut BytesMut, chunk: ChatChunk, mapper: Option<ChunkMapper>) {
    match mapper {
        None => {
            // The chunk's own writer: the derived serializer's bytes, fixed keys as literals.
            out.put_slice(b"data: ");
            chunk
                .write_json(&mut (&mut *out).writer())
                .expect("chunks serialise");
            out.put_slice(b"\n\n");
        }
        Some(map) => {
            if let Some(value) = map(chunk) {
                write_data(out, &value);
            }
        }
    }
}

fn write_data<T: Serialize>(out: &mut BytesMut, value: &T) {
    out.put_slice(b"data: ");
    serde_json::to_writer((&mut *out).writer(), value).expect("chunks serialise");
    out.put_slice(b"\n\n");
}

fn fail<S: StreamShape>(shape: &mut S, out: &mut BytesMut, err: &ApiError) {
    tracing::warn!(error = %err, "stream failed after it started");
    shape.fail(err, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;
    use http_body_util::BodyExt;

    fn poll(body: &mut Body) -> Poll<Option<Bytes>> {
        let mut cx = Context::from_waker(noop_waker_ref());
        Pin::new(body)
            .poll_frame(&mut cx)
            .map(|f| f.map(|f| f.unwrap().into_data().unwrap()))
    }

    #[test]
    fn the_first_event_of_a_burst_is_flushed_alone() {
        let events = ["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"];
        let stream = futures::stream::iter(events.map(|e| Ok::<_, Infallible>(Bytes::from(e))));
        let mut body = event_stream_response(Body::from_stream(stream)).into_body();
        assert_eq!(poll(&mut body), Poll::Ready(Some(Bytes::from(events[0]))));
        // Once: hyper flushes what it has, then polls again.
        assert_eq!(poll(&mut body), Poll::Pending);
        assert_eq!(poll(&mut body), Poll::Ready(Some(Bytes::from(events[1]))));
        assert_eq!(poll(&mut body), Poll::Ready(Some(Bytes::from(events[2]))));
        assert_eq!(poll(&mut body), Poll::Ready(None));
    }

    #[tokio::test]
    async fn a_complete_answer_does_not_yield() {
        let mut body = event_stream_response(Body::from("data: [DONE]\n\n")).into_body();
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from("data: [DONE]\n\n")))
        );
        assert!(body.is_end_stream());
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::new());
    }
}
