//! One routing attempt against a deployment on one of Bedrock's HTTP surfaces — bedrock-mantle
//! (OpenAI chat / Responses under `/v1` or `/openai/v1`, Anthropic Messages under `/anthropic`)
//! or bedrock-runtime's `/openai/v1` — for every client API: chat and `/completions`
//! ([`Attempt::chat`], hooked into the chat pipeline, which Responses clients share), and the
//! Anthropic Messages API ([`Attempt::messages`], [`Attempt::count_tokens`]).
//!
//! When the client speaks an API the surface speaks, its request and answer are relayed (chat →
//! chat, Responses → Responses, Messages → Messages: `shale_translate::surface`'s relays, one
//! top-level parse per answer or event); otherwise the request is translated to the surface's
//! API and the answer back. Everything around the attempt — router, retries and fallbacks,
//! virtual keys, rpm/tpm, metrics, cost, traces, the access log — is the caller's and applies
//! unchanged: this module records usage and finish reasons like the other routes do. Output
//! guardrails (post_call) see every answer: with one on the request, chat and Responses answers
//! take the translating path (the guardrail checks parsed text, not relayed bytes) and Messages
//! answers go through the Messages route's post_call helpers.
//!
//! Must not: translate bodies itself (`shale_translate::surface`), sign or build URLs
//! (`shale_bedrock::surface`), or spell error JSON (`crate::error`, `crate::anthropic_error`).

use crate::error::ApiError;
use crate::guardrail_hooks::{self as guardrails, RequestGuard};
use crate::response::{json_response, set_overhead, unix_now};
use crate::routes::answer::{
    completion_response, context as messages_context, messages_stream, output_checked, with_tokens,
    with_usage, ResponsesClient, SaveResponse, Shape,
};
use crate::routing::UsedTokens;
use crate::sse::{event_stream_response, sse_response, KEEP_ALIVE};
use crate::state::{AppState, Deployment};
use crate::usage::AnthropicUsage;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use shale_bedrock::idle::IdleTimer;
use shale_bedrock::{BedrockResponse, EventStream, SurfaceOp};
use shale_config::{Host, SurfacePlan, WireApi};
use shale_telemetry::record::{self, RequestCell};
use shale_translate::chat::EventTranslator;
use shale_translate::invoke::{invoke_to_chat, InvokeFamily};
use shale_translate::messages::{
    new_message_id, MessagesRequest, MessagesResponseContext, MessagesStream,
};
use shale_translate::surface::{
    anthropic, chat, from_responses, messages_chat, messages_relay, responses_relay, to_responses,
};
use shale_translate::{
    new_completion_id, ChatCompletion, ChatRequest, FetchedMedia, JsonMode, ResponseContext,
    ToolNameMap, Usage,
};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// Whether some deployment of `model` (or of the group it aliases) is on a surface that speaks
/// `api` — then a client of that API keeps its own request for a relay.
pub fn serves(state: &AppState, model: &str, api: WireApi) -> bool {
    let group = state.router.resolve(model).map_or(model, |g| &**g);
    state.models.get(group).is_some_and(|g| {
        g.deployments
            .iter()
            .any(|d| d.surface().is_some_and(|p| p.apis.contains(api)))
    })
}

/// What one attempt of the chat pipeline knows about its deployment.
pub struct Attempt<'a> {
    pub state: &'a AppState,
    pub deployment: &'a Deployment,
    pub plan: SurfacePlan,
    pub headers: &'a HeaderMap,
    pub started: Instant,
    pub fetched_media: &'a FetchedMedia,
    /// The request's guardrails (post_call ones check this attempt's answer).
    pub guard: Option<&'a RequestGuard>,
}

const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

fn beta_headers(beta: Option<&str>) -> Result<HeaderMap, ApiError> {
    let mut h = HeaderMap::new();
    if let Some(beta) = beta {
        let v = HeaderValue::from_str(beta)
            .map_err(|_| ApiError::invalid(None, "anthropic-beta is not a valid header value"))?;
        h.insert(ANTHROPIC_BETA, v);
    }
    Ok(h)
}

/// Records a relayed answer's usage and finish reasons, and hands the tokens to the router.
fn record_relayed(response: &mut Response, usage: Option<&Usage>, finish_reasons: Vec<String>) {
    let tokens = usage.map(crate::report::openai_usage);
    crate::report::usage(tokens);
    if !finish_reasons.is_empty() {
        record::with_current(|r| r.finish_reasons = finish_reasons);
    }
    if let Some(u) = usage {
        response.extensions_mut().insert(UsedTokens(u.total_tokens));
    }
}

/// What a surface call brought back.
enum Sent {
    /// The open stream, and the gateway's time before sending it (the overhead header).
    Stream(EventStream, std::time::Duration),
    Answer(BedrockResponse),
}

impl Attempt<'_> {
    fn model_id(&self) -> &str {
        self.deployment.model_id()
    }

    /// Sends `body` to the surface's `op`: streamed when `stream`, else the whole answer.
    async fn send(
        &self,
        op: SurfaceOp,
        body: Vec<u8>,
        extra: &HeaderMap,
        stream: bool,
    ) -> Result<Sent, ApiError> {
        let (bedrock, target) = (&self.state.bedrock, &self.deployment.target);
        let body = Bytes::from(body);
        Ok(if stream {
            let translation = self.started.elapsed();
            let upstream = bedrock.call_surface_stream(target, op, body, extra).await?;
            Sent::Stream(upstream, translation)
        } else {
            Sent::Answer(bedrock.call_surface(target, op, body, extra).await?)
        })
    }

    /// One chat-pipeline attempt: relayed when the client's API is one the surface speaks,
    /// translated to the surface's API otherwise.
    pub async fn chat<S: Shape>(
        self,
        request: ChatRequest,
        mut shape: S,
    ) -> Result<Response, ApiError> {
        let model_name = request.model.clone();
        // A relay passes the surface's bytes through: an output guardrail needs the parsed answer.
        let relay = !self.guard.is_some_and(RequestGuard::checks_output);
        if relay && self.plan.apis.contains(WireApi::Responses) {
            if let Some(client) = shape.take_responses() {
                return self.relay_responses(client, &model_name).await;
            }
        }
        let defaults = self.deployment.default_params();
        let no_headers = HeaderMap::new();
        if self.plan.apis.contains(WireApi::Chat) {
            let body = chat::chat_body(request, self.model_id(), defaults);
            if relay && shape.is_chat() {
                return self.relay_chat(body, &model_name).await;
            }
            let include_usage = body.include_usage;
            return match self
                .send(SurfaceOp::Chat, body.body, &no_headers, body.stream)
                .await?
            {
                Sent::Stream(upstream, translation) => {
                    let parser = chat::ChunkParser::new(&model_name, include_usage);
                    Ok(self.stream_response(upstream, parser, shape, translation))
                }
                Sent::Answer(answer) => {
                    let completion = chat::parse_completion(&answer.body, &model_name)?;
                    self.complete(shape, completion, &answer).await
                }
            };
        }
        let tool_names = ToolNameMap::new();
        let mut ctx = ResponseContext {
            model_name: &model_name,
            tool_names: &tool_names,
            json_mode: JsonMode::None,
            created: unix_now(),
            id: new_completion_id(),
        };
        let stream = request.stream == Some(true);
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        match self.plan.preferred {
            WireApi::Messages => {
                let chat_ctx = self
                    .deployment
                    .chat_context(self.headers, self.fetched_media);
                let call = anthropic::chat_to_messages(request, self.model_id(), &chat_ctx)?;
                let extra = beta_headers(call.beta.as_deref())?;
                let tool_names = call.call.tool_names.clone();
                ctx.tool_names = &tool_names;
                ctx.json_mode = call.call.json_mode;
                let include_usage = call.call.include_usage;
                match self
                    .send(SurfaceOp::Messages, call.body, &extra, call.call.stream)
                    .await?
                {
                    Sent::Stream(upstream, translation) => {
                        let t = anthropic::MessagesChunks::new(&ctx, include_usage);
                        Ok(self.stream_response(upstream, t, shape, translation))
                    }
                    Sent::Answer(answer) => {
                        let family = InvokeFamily::Anthropic;
                        let completion = invoke_to_chat(family, &answer.body, None, &ctx)?;
                        self.complete(shape, completion, &answer).await
                    }
                }
            }
            // Responses (the only other API a plan without chat has).
            _ => {
                let body = to_responses::chat_to_responses(request, self.model_id(), defaults)?;
                match self
                    .send(SurfaceOp::Responses, body, &no_headers, stream)
                    .await?
                {
                    Sent::Stream(upstream, translation) => {
                        let t = from_responses::ResponsesChunks::new(&ctx, include_usage);
                        Ok(self.stream_response(upstream, t, shape, translation))
                    }
                    Sent::Answer(answer) => {
                        let completion =
                            from_responses::responses_to_completion(&answer.body, &ctx)?;
                        self.complete(shape, completion, &answer).await
                    }
                }
            }
        }
    }

    async fn complete<S: Shape>(
        &self,
        shape: S,
        mut completion: ChatCompletion,
        answer: &BedrockResponse,
    ) -> Result<Response, ApiError> {
        crate::report::completion(&completion);
        if let Some(g) = self.guard.filter(|g| g.checks_output()) {
            let checked = guardrails::post_completion(self.state, g, &mut completion);
            if let Err(refused) = Box::pin(checked).await {
                // The model answered (its tokens count); the guardrail refused the answer.
                let tokens = completion.usage.as_ref().map(|u| u.total_tokens);
                return Ok(with_tokens(refused.into_response(), tokens));
            }
        }
        Ok(completion_response(
            shape,
            completion,
            self.started,
            answer.upstream_time,
        ))
    }

    fn stream_response<T: EventTranslator, S: Shape>(
        &self,
        upstream: EventStream,
        translator: T,
        shape: S,
        translation: std::time::Duration,
    ) -> Response {
        let mut response = match self.guard.and_then(|g| g.post_stream(self.state)) {
            None => sse_response(upstream, translator, shape.stream()),
            Some(post) => guardrails::stream::chat_sse(post, upstream, translator, shape.stream()),
        };
        set_overhead(&mut response, translation);
        response
    }

    /// Chat → chat: the request and answer relayed.
    async fn relay_chat(
        &self,
        body: chat::SurfaceChatBody,
        model_name: &str,
    ) -> Result<Response, ApiError> {
        let no_headers = HeaderMap::new();
        let include_usage = body.include_usage;
        let answer = match self
            .send(SurfaceOp::Chat, body.body, &no_headers, body.stream)
            .await?
        {
            Sent::Stream(upstream, translation) => {
                let writer = ChatRelayWriter(chat::ChunkRelay::new(model_name, include_usage));
                return Ok(relay_sse_response(upstream, writer, translation));
            }
            Sent::Answer(answer) => answer,
        };
        let relayed = chat::relay_completion(&answer.body, model_name)?;
        let mut response = json_response(relayed.body, self.started, answer.upstream_time);
        record_relayed(
            &mut response,
            relayed.usage.as_ref(),
            relayed.finish_reasons,
        );
        Ok(response)
    }

    /// Responses → Responses: the request and answer relayed; the final response stored when
    /// the client asked for it.
    async fn relay_responses(
        &self,
        client: ResponsesClient,
        model_name: &str,
    ) -> Result<Response, ApiError> {
        let body = responses_relay::responses_body(
            &client.request,
            &client.history,
            &client.input_items,
            self.model_id(),
            self.plan.host == Host::Runtime,
        )?;
        let no_headers = HeaderMap::new();
        let stream = client.request.stream();
        let answer = match self
            .send(SurfaceOp::Responses, body, &no_headers, stream)
            .await?
        {
            Sent::Stream(upstream, translation) => {
                let writer = ResponsesRelayWriter {
                    relay: responses_relay::ResponsesEventRelay::new(
                        model_name,
                        client.save.is_some(),
                    ),
                    save: client.save,
                };
                return Ok(relay_sse_response(upstream, writer, translation));
            }
            Sent::Answer(answer) => answer,
        };
        let relayed =
            responses_relay::relay_response(&answer.body, model_name, client.save.is_some())?;
        if let (Some(save), Some(r)) = (client.save, &relayed.response) {
            save(r);
        }
        let mut response = json_response(relayed.body, self.started, answer.upstream_time);
        record_relayed(&mut response, relayed.usage.as_ref(), Vec::new());
        Ok(response)
    }

    /// One `/v1/messages` attempt on a surface: relayed to Claude's Anthropic surface, or
    /// translated through chat for an OpenAI-family model.
    pub async fn messages(&self, request: MessagesRequest) -> Result<Response, ApiError> {
        let stream = request.stream.unwrap_or(false);
        if self.plan.apis.contains(WireApi::Messages) {
            let ctx = messages_context(self.state, self.deployment, self.headers);
            let m = messages_relay::messages_body(
                request.rest,
                self.deployment.model_id(),
                stream,
                &ctx,
            )?;
            if !m.dropped_betas.is_empty() || !m.removed_keys.is_empty() {
                tracing::debug!(dropped_betas = ?m.dropped_betas, removed_keys = ?m.removed_keys,
                    "not forwarded to bedrock-mantle");
            }
            let extra = beta_headers(m.beta.as_deref())?;
            let answer = match self
                .send(SurfaceOp::Messages, m.body, &extra, stream)
                .await?
            {
                Sent::Stream(upstream, translation) => {
                    let relay = MessagesStream::Relay(messages_relay::RelayEvents);
                    let mut response =
                        messages_stream(self.state, self.guard, upstream, relay, &request.model);
                    set_overhead(&mut response, translation);
                    return Ok(response);
                }
                Sent::Answer(answer) => answer,
            };
            let tokens = AnthropicUsage::from_message(&answer.body);
            let json = match output_checked(self.state, self.guard, answer.body.to_vec()).await {
                Ok(json) => json,
                Err(refused) => return Ok(with_usage(refused, tokens)),
            };
            let response = json_response(json, self.started, answer.upstream_time);
            return Ok(with_usage(response, tokens));
        }
        let chat_req = messages_chat::messages_to_chat(&request.model, stream, request.rest)?;
        let via_chat = self.plan.apis.contains(WireApi::Chat);
        let defaults = self.deployment.default_params();
        let (op, body) = if via_chat {
            (
                SurfaceOp::Chat,
                chat::chat_body(chat_req, self.deployment.model_id(), defaults).body,
            )
        } else {
            (
                SurfaceOp::Responses,
                to_responses::chat_to_responses(chat_req, self.deployment.model_id(), defaults)?,
            )
        };
        let tool_names = ToolNameMap::new();
        let ctx = ResponseContext {
            model_name: &request.model,
            tool_names: &tool_names,
            json_mode: JsonMode::None,
            created: unix_now(),
            id: new_completion_id(),
        };
        let no_headers = HeaderMap::new();
        let answer = match self.send(op, body, &no_headers, stream).await? {
            Sent::Stream(upstream, translation) => {
                let source: Box<dyn EventTranslator> = if via_chat {
                    Box::new(chat::ChunkParser::new(&request.model, true))
                } else {
                    Box::new(from_responses::ResponsesChunks::new(&ctx, true))
                };
                let translator = messages_chat::MessagesFromChunks::new(
                    source,
                    messages_chat::ChunksToMessages::new(new_message_id(), &request.model),
                );
                let mut response = messages_stream(
                    self.state,
                    self.guard,
                    upstream,
                    MessagesStream::Chunks(Box::new(translator)),
                    &request.model,
                );
                set_overhead(&mut response, translation);
                return Ok(response);
            }
            Sent::Answer(answer) => answer,
        };
        let completion = if via_chat {
            chat::parse_completion(&answer.body, &request.model)?
        } else {
            from_responses::responses_to_completion(&answer.body, &ctx)?
        };
        let message = messages_chat::completion_to_messages(
            &completion,
            &MessagesResponseContext {
                model_name: &request.model,
                tool_names: &tool_names,
                id: new_message_id(),
            },
        )?;
        let tokens = completion.usage.as_ref().map(crate::report::openai_usage);
        let json = serde_json::to_vec(&message).expect("JSON serialises");
        let json = match output_checked(self.state, self.guard, json).await {
            Ok(json) => json,
            Err(refused) => return Ok(with_usage(refused, tokens)),
        };
        Ok(with_usage(
            json_response(json, self.started, answer.upstream_time),
            tokens,
        ))
    }

    /// `/v1/messages/count_tokens` on a surface: Claude's Anthropic surface counts; OpenAI surfaces
    /// have no counting operation.
    pub async fn count_tokens(&self, request: MessagesRequest) -> Result<Response, ApiError> {
        if !self.plan.apis.contains(WireApi::Messages) {
            return Err(ApiError::invalid(
                Some("model"),
                format!(
                    "count_tokens is not available for `{}`: {} counts tokens for Claude (Anthropic Messages) only.",
                    request.model, self.plan.host
                ),
            ));
        }
        let ctx = messages_context(self.state, self.deployment, self.headers);
        let m = messages_relay::count_tokens_body(request.rest, self.deployment.model_id(), &ctx)?;
        let extra = beta_headers(m.beta.as_deref())?;
        let answer = self
            .state
            .bedrock
            .call_surface(
                &self.deployment.target,
                SurfaceOp::CountTokens,
                Bytes::from(m.body),
                &extra,
            )
            .await?;
        Ok(json_response(
            answer.body.to_vec(),
            self.started,
            answer.upstream_time,
        ))
    }
}

/// Writes a relayed stream's events for the client.
trait RelayWriter: Send + 'static {
    /// One upstream event.
    fn on_event(&mut self, event: &str, data: &[u8], out: &mut Vec<u8>) -> Result<(), ApiError>;
    /// The upstream ended normally.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// The stream failed after it started; nothing follows.
    fn fail(&mut self, err: &ApiError, out: &mut Vec<u8>);
    /// The stream's usage so far.
    fn usage(&self) -> Option<&Usage>;
}

struct ChatRelayWriter(chat::ChunkRelay);

impl RelayWriter for ChatRelayWriter {
    fn on_event(&mut self, _event: &str, data: &[u8], out: &mut Vec<u8>) -> Result<(), ApiError> {
        Ok(self.0.on_data(data, out)?)
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
    fn fail(&mut self, err: &ApiError, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&err.to_json());
        out.extend_from_slice(b"\n\n");
    }
    fn usage(&self) -> Option<&Usage> {
        self.0.usage()
    }
}

struct ResponsesRelayWriter {
    relay: responses_relay::ResponsesEventRelay,
    save: Option<SaveResponse>,
}

impl RelayWriter for ResponsesRelayWriter {
    fn on_event(&mut self, event: &str, data: &[u8], out: &mut Vec<u8>) -> Result<(), ApiError> {
        Ok(self.relay.on_event(event, data, out)?)
    }
    fn finish(&mut self, _out: &mut Vec<u8>) {
        if let (Some(save), Some(r)) = (self.save.take(), self.relay.final_response()) {
            save(r);
        }
    }
    fn fail(&mut self, err: &ApiError, out: &mut Vec<u8>) {
        let e = err.to_openai();
        let data = serde_json::json!({"type": "error",
            "code": e.code.as_deref().unwrap_or(e.error_type.as_str()),
            "message": e.message, "param": null});
        out.extend_from_slice(b"event: error\ndata: ");
        out.extend_from_slice(&serde_json::to_vec(&data).unwrap_or_default());
        out.extend_from_slice(b"\n\n");
    }
    fn usage(&self) -> Option<&Usage> {
        self.relay.usage()
    }
}

struct RelayState<W> {
    upstream: EventStream,
    writer: W,
    keep_alive: IdleTimer,
    done: bool,
    observed: Option<Arc<RequestCell>>,
}

/// The client's server-sent events of a relayed stream: each upstream event written as it
/// arrives, keep-alive comments during long silences, the usage recorded when it ends; the
/// gateway's `translation` time goes into the overhead header. Dropping
/// the body (client gone) drops the upstream stream.
fn relay_sse_response<W: RelayWriter>(
    upstream: EventStream,
    writer: W,
    translation: std::time::Duration,
) -> Response {
    let state = RelayState {
        upstream,
        writer,
        keep_alive: IdleTimer::new(KEEP_ALIVE),
        done: false,
        observed: record::current(),
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = Vec::new();
        match s.keep_alive.next(&mut s.upstream).await {
            Err(_) => out.extend_from_slice(b": keep-alive\n\n"),
            Ok(Some(Ok(event))) => {
                if let Err(err) = s
                    .writer
                    .on_event(&event.event_type, &event.payload, &mut out)
                {
                    fail(&mut s, &err, &mut out);
                }
            }
            Ok(Some(Err(err))) => fail(&mut s, &ApiError::from(err), &mut out),
            Ok(None) => {
                s.writer.finish(&mut out);
                if let (Some(cell), Some(usage)) = (&s.observed, s.writer.usage()) {
                    crate::report::stream_usage(cell, usage);
                }
                s.done = true;
            }
        }
        Some((Ok::<Bytes, Infallible>(Bytes::from(out)), s))
    })
    .filter(|frame| futures::future::ready(frame.as_ref().map(|b| !b.is_empty()).unwrap_or(true)));
    let mut response = event_stream_response(Body::from_stream(body));
    set_overhead(&mut response, translation);
    response
}

fn fail<W: RelayWriter>(s: &mut RelayState<W>, err: &ApiError, out: &mut Vec<u8>) {
    tracing::warn!(error = %err, "relayed stream failed after it started");
    if let (Some(cell), Some(usage)) = (&s.observed, s.writer.usage()) {
        crate::report::stream_usage(cell, usage);
    }
    s.writer.fail(err, out);
    s.done = true;
}
