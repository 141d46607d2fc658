//! Streaming post_call: a body → body transform like `sse.rs` / `messages_stream.rs`, with the
//! guardrail window (`shale_guardrails::Window`) between the translator and the writer. Bedrock
//! events are translated as they arrive; chunks without text go out at once when nothing is held
//! before them; text is held until a window of it has passed every post_call guardrail (masks
//! rewrite it), with an overlap tail held back and checked again with the next window; the rest
//! is checked when the upstream ends. A block ends the stream with the client's error event
//! (`data: {"error":…}`, `response.failed`, Anthropic `event: error`) — or, with
//! `disable_exception_on_block`, with the guardrail's message and `content_filter` / `refusal` —
//! and drops the upstream (the Bedrock stream is cancelled). A guardrail that cannot decide
//! fails the stream closed the same way.
//!
//! The latency trade-off: the first text reaches the client once the first window
//! (`stream_first_window_bytes`) was generated and checked; afterwards text arrives in bursts of
//! about one window. Chunks without text (role, tool calls) are never delayed behind nothing.
//!
//! Must not: translate events or decide verdicts (that is `shale-translate` and
//! `shale-guardrails`).

use super::Report;
use crate::anthropic_error::anthropic_error_json;
use crate::error::ApiError;
use crate::routes::messages_stream::{write_event, write_observed};
use crate::sse::{event_stream_response, StreamShape, KEEP_ALIVE};
use crate::usage::AnthropicUsage;
use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use shale_bedrock::idle::IdleTimer;
use shale_bedrock::EventStream;
use shale_guardrails::chunks::{chat_refusal_chunk, AnthropicChunk, AnthropicProgress};
use shale_guardrails::{Engine, Hook, Step, Verdict, Window, WindowChunk, WindowSizes};
use shale_telemetry::RequestCell;
use shale_translate::messages::{new_message_id, MessagesStream};
use shale_translate::{ChatChunk, EventTranslator};
use std::convert::Infallible;
use std::sync::Arc;

/// What a guarded stream needs, owned by the stream.
pub(crate) struct PostStream {
    pub(crate) engine: Arc<Engine>,
    pub(crate) steps: Vec<Step>,
    pub(crate) sizes: WindowSizes,
    pub(crate) report: Report,
}

/// One kind of stream: how its events become chunks and how chunks are written.
trait Relay: Send + 'static {
    type Chunk: WindowChunk + Send + 'static;
    /// Written before the first upstream event.
    fn begin(&mut self, _out: &mut BytesMut) {}
    fn on_event(&mut self, event_type: &str, payload: &[u8]) -> Result<Vec<Self::Chunk>, ApiError>;
    /// The upstream ended: the chunks still owed (and its usage recorded).
    fn on_end(&mut self) -> Vec<Self::Chunk>;
    fn write(&mut self, chunk: Self::Chunk, out: &mut BytesMut);
    /// After the last chunk.
    fn finish(&mut self, out: &mut BytesMut);
    /// The stream failed (upstream error, block, guardrail failure); nothing follows.
    fn fail(&mut self, err: &ApiError, out: &mut BytesMut);
    /// A guardrail with `disable_exception_on_block` blocked: end with its message.
    fn refuse(&mut self, message: &str, out: &mut BytesMut);
    fn keep_alive(&mut self, out: &mut BytesMut);
}

struct Guarded<R: Relay> {
    upstream: EventStream,
    relay: R,
    window: Window<R::Chunk>,
    post: PostStream,
    keep_alive: IdleTimer,
    begun: bool,
    done: bool,
    ready: Vec<R::Chunk>,
}

impl<R: Relay> Guarded<R> {
    fn flush(&mut self, out: &mut BytesMut) {
        for c in self.ready.drain(..) {
            self.relay.write(c, out);
        }
    }

    fn stop(&mut self, err: &ApiError, out: &mut BytesMut) {
        tracing::warn!(error = %err, "guarded stream stopped after it started");
        self.window.block();
        self.ready.clear();
        self.relay.fail(err, out);
        self.done = true;
    }

    /// Checks everything held; `last` releases all of it when it passes.
    async fn check(&mut self, last: bool, out: &mut BytesMut) {
        let text = self.window.text();
        let verdict = self
            .post
            .engine
            .run(
                &self.post.steps,
                Hook::PostCall,
                vec![text],
                &self.post.report,
            )
            .await;
        match verdict {
            Ok(Verdict::Pass) => self.window.pass(&mut self.ready),
            Ok(Verdict::Masked(mut m)) => {
                let masked = m.pop().unwrap_or_default();
                self.window.mask(masked, &mut self.ready);
            }
            Ok(Verdict::Refuse(message)) => {
                self.window.block();
                self.relay.refuse(&message, out);
                self.done = true;
                return;
            }
            Err(e) => {
                self.stop(&ApiError::from(e), out);
                return;
            }
        }
        if last {
            self.window.finish(&mut self.ready);
        }
        self.flush(out);
    }

    async fn step(&mut self, out: &mut BytesMut) {
        if !self.begun {
            self.begun = true;
            self.relay.begin(out);
            if !out.is_empty() {
                return;
            }
        }
        match self.keep_alive.next(&mut self.upstream).await {
            Err(_) => self.relay.keep_alive(out),
            Ok(Some(Ok(event))) => match self.relay.on_event(&event.event_type, &event.payload) {
                Ok(chunks) => {
                    for c in chunks {
                        self.window.push(c, &mut self.ready);
                    }
                    self.flush(out);
                    if self.window.check_due() {
                        self.check(false, out).await;
                    }
                }
                Err(err) => self.stop(&err, out),
            },
            Ok(Some(Err(err))) => self.stop(&ApiError::from(err), out),
            Ok(None) => {
                for c in self.relay.on_end() {
                    self.window.push(c, &mut self.ready);
                }
                self.flush(out);
                if self.window.has_unchecked() {
                    self.check(true, out).await;
                } else {
                    self.window.finish(&mut self.ready);
                    self.flush(out);
                }
                if !self.done {
                    self.relay.finish(out);
                    self.done = true;
                }
            }
        }
    }
}

fn response<R: Relay>(upstream: EventStream, relay: R, post: PostStream) -> Response {
    let state = Guarded {
        upstream,
        relay,
        window: Window::new(post.sizes),
        post,
        keep_alive: IdleTimer::new(KEEP_ALIVE),
        begun: false,
        done: false,
        ready: Vec::new(),
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = BytesMut::new();
        s.step(&mut out).await;
        Some((Ok::<Bytes, Infallible>(out.freeze()), s))
    })
    .filter(|frame| futures::future::ready(frame.as_ref().map(|b| !b.is_empty()).unwrap_or(true)));
    event_stream_response(Body::from_stream(body))
}

/// A chat stream (chat, `/completions`, Responses API shapes) with post_call guardrails.
pub(crate) fn chat_sse<T: EventTranslator, S: StreamShape>(
    post: PostStream,
    upstream: EventStream,
    translator: T,
    shape: S,
) -> Response {
    let relay = ChatRelay {
        translator,
        shape,
        observed: shale_telemetry::record::current(),
        template: None,
        wrote: false,
    };
    response(upstream, relay, post)
}

struct ChatRelay<T, S> {
    translator: T,
    shape: S,
    observed: Option<Arc<RequestCell>>,
    /// A chunk of this stream (id, model, created for a refusal chunk).
    template: Option<ChatChunk>,
    wrote: bool,
}

impl<T: EventTranslator, S: StreamShape> Relay for ChatRelay<T, S> {
    type Chunk = ChatChunk;

    fn begin(&mut self, out: &mut BytesMut) {
        self.shape.begin(out);
    }

    fn on_event(&mut self, event_type: &str, payload: &[u8]) -> Result<Vec<ChatChunk>, ApiError> {
        let chunks = self.translator.on_event(event_type, payload)?;
        if self.template.is_none() {
            self.template = chunks.first().cloned();
        }
        Ok(chunks)
    }

    fn on_end(&mut self) -> Vec<ChatChunk> {
        let chunks = self.translator.finish();
        if let (Some(cell), Some(usage)) = (&self.observed, self.translator.usage()) {
            crate::report::stream_usage(cell, &usage);
        }
        chunks
    }

    fn write(&mut self, chunk: ChatChunk, out: &mut BytesMut) {
        self.wrote = true;
        self.shape.on_chunk(chunk, out);
    }

    fn finish(&mut self, out: &mut BytesMut) {
        self.shape.finish(out);
    }

    fn fail(&mut self, err: &ApiError, out: &mut BytesMut) {
        self.shape.fail(err, out);
    }

    fn refuse(&mut self, message: &str, out: &mut BytesMut) {
        let template = self.template.clone().unwrap_or_else(|| ChatChunk {
            id: shale_translate::new_completion_id(),
            object: "chat.completion.chunk".into(),
            created: crate::response::unix_now(),
            model: String::new(),
            choices: Vec::new(),
            usage: None,
        });
        let chunk = chat_refusal_chunk(&template, message, !self.wrote);
        self.shape.on_chunk(chunk, out);
        self.shape.finish(out);
    }

    fn keep_alive(&mut self, out: &mut BytesMut) {
        out.put_slice(b": keep-alive\n\n");
    }
}

/// An Anthropic Messages stream with post_call guardrails.
pub(crate) fn messages_sse(
    post: PostStream,
    upstream: EventStream,
    translator: MessagesStream,
    model: &str,
) -> Response {
    let relay = AnthropicRelay {
        translator,
        observed: shale_telemetry::record::current(),
        usage: AnthropicUsage::default(),
        progress: AnthropicProgress::new(model),
    };
    response(upstream, relay, post)
}

struct AnthropicRelay {
    translator: MessagesStream,
    observed: Option<Arc<RequestCell>>,
    usage: AnthropicUsage,
    progress: AnthropicProgress,
}

impl Relay for AnthropicRelay {
    type Chunk = AnthropicChunk;

    fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Vec<AnthropicChunk>, ApiError> {
        let events = self.translator.on_event(event_type, payload)?;
        Ok(events.into_iter().map(AnthropicChunk::new).collect())
    }

    fn on_end(&mut self) -> Vec<AnthropicChunk> {
        self.translator
            .finish()
            .into_iter()
            .map(AnthropicChunk::new)
            .collect()
    }

    fn write(&mut self, chunk: AnthropicChunk, out: &mut BytesMut) {
        self.progress.saw(&chunk);
        let e = chunk.into_event();
        write_observed(&self.observed, &mut self.usage, out, &e.event, &e.data);
    }

    fn finish(&mut self, _out: &mut BytesMut) {}

    fn fail(&mut self, err: &ApiError, out: &mut BytesMut) {
        write_event(out, "error", &anthropic_error_json(err));
    }

    fn refuse(&mut self, message: &str, out: &mut BytesMut) {
        for e in self.progress.refusal(&new_message_id(), message) {
            write_event(out, &e.event, &e.data);
        }
    }

    fn keep_alive(&mut self, out: &mut BytesMut) {
        write_event(out, "ping", br#"{"type": "ping"}"#);
    }
}
