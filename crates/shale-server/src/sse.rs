//! Server-sent events for streamed completions: a body → body transform that pulls Bedrock events
//! one at a time, translates each as it arrives (never buffering the stream), writes
//! `data: {chunk}\n\n` lines, ends with `data: [DONE]`, reports a mid-stream failure as one
//! OpenAI-shaped `data: {"error":…}` event, and sends keep-alive comments during long silences.
//! Dropping the body (client gone) drops the upstream stream, which cancels the Bedrock request.

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use serde::Serialize;
use shale_bedrock::idle::IdleTimer;
use shale_bedrock::EventStream;
use shale_translate::{ChatChunk, EventTranslator};
use std::convert::Infallible;
use std::time::Duration;

/// How long the upstream may be silent before a keep-alive comment is sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A complete stream from chunks already at hand (models whose API cannot stream).
pub fn sse_from_chunks(chunks: Vec<ChatChunk>, mapper: Option<ChunkMapper>) -> Response {
    let mut out = BytesMut::new();
    for chunk in chunks {
        write_chunk(&mut out, chunk, mapper);
    }
    out.put_slice(b"data: [DONE]\n\n");
    event_stream_response(Body::from(out.freeze()))
}

fn event_stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
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

/// How chunks are written: as `chat.completion.chunk` or re-shaped (e.g. `text_completion`).
pub type ChunkMapper = fn(ChatChunk) -> Option<serde_json::Value>;

struct SseState<T> {
    upstream: EventStream,
    translator: T,
    mapper: Option<ChunkMapper>,
    keep_alive: IdleTimer,
    done: bool,
}

/// Builds the streaming response.
pub fn sse_response<T: EventTranslator>(
    upstream: EventStream,
    translator: T,
    mapper: Option<ChunkMapper>,
) -> Response {
    let state = SseState {
        upstream,
        translator,
        mapper,
        keep_alive: IdleTimer::new(KEEP_ALIVE),
        done: false,
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = BytesMut::new();
        match s.keep_alive.next(&mut s.upstream).await {
            Err(_) => out.put_slice(b": keep-alive\n\n"),
            Ok(Some(Ok(event))) => match s.translator.on_event(&event.event_type, &event.payload) {
                Ok(chunks) => {
                    for chunk in chunks {
                        write_chunk(&mut out, chunk, s.mapper);
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
                for chunk in s.translator.finish() {
                    write_chunk(&mut out, chunk, s.mapper);
                }
                out.put_slice(b"data: [DONE]\n\n");
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
        None => write_data(out, &chunk),
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

fn write_error(out: &mut BytesMut, err: &ApiError) {
    tracing::warn!(error = %err, "stream failed after it started");
    out.put_slice(b"data: ");
    out.put_slice(&err.to_json());
    out.put_slice(b"\n\n");
}
