//! `POST /chat/completions` and the chat pipeline `/completions` reuses: find the deployment,
//! fetch remote media, translate for the deployment's API (Converse or invoke — one pipeline,
//! see `shale_translate::chat`), call Bedrock, translate back, streaming or not. Guardrails hook
//! in around it (`crate::guardrail_hooks`): pre_call before the media fetch and the model call,
//! during_call next to the routed call, post_call on the answer or the stream.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::guardrail_hooks::{self as guardrails, RequestGuard, Start};
use crate::response::{json_response, set_overhead, unix_now};
pub use crate::routes::answer::Shape;
use crate::routes::answer::{completion_response, with_tokens};
use crate::routing;
use crate::sse::{sse_from_chunks, sse_response, ChunkMapper, DataLines};
use crate::state::{AppState, Deployment};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::response::Response;
use bytes::Bytes;
use shale_bedrock::Operation;
use shale_guardrails::text;
use shale_translate::invoke::completion_to_chunks;
use shale_translate::{
    new_completion_id, remote_media_urls, translate_chat, translate_chat_response, ChatApi,
    ChatCall, ChatCompletion, ChatRequest, FetchedMedia, ResponseContext,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the answer is shaped for the client.
#[derive(Clone, Copy)]
pub struct OutputShape {
    /// Non-streaming: turns the chat completion into the endpoint's JSON bytes.
    pub complete: fn(ChatCompletion) -> Vec<u8>,
    /// Streaming: re-shapes chunks (`None` keeps `chat.completion.chunk`).
    pub chunk: Option<ChunkMapper>,
}

impl Shape for OutputShape {
    type Stream = DataLines;

    fn complete(self, completion: ChatCompletion) -> Vec<u8> {
        (self.complete)(completion)
    }

    fn stream(self) -> DataLines {
        DataLines(self.chunk)
    }

    /// Unmapped chunks are the chat wire format (`/completions` maps them).
    fn is_chat(&self) -> bool {
        self.chunk.is_none()
    }
}

pub const CHAT_SHAPE: OutputShape = OutputShape {
    complete: |c| c.to_json(),
    chunk: None,
};

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: JsonBody<ChatRequest>,
) -> Result<Response, ApiError> {
    let mut chat = request.value;
    let dropped = if state.config.general_settings.drop_hosted_tools {
        shale_translate::hosted_tools::drop_hosted(&mut chat.tools)
    } else {
        Vec::new()
    };
    let dropped = crate::report::dropped_tools(&state.telemetry, &dropped);
    // Boxed: the layers above move this handler's future each time they box it; on the heap
    // they move a pointer, not the pipeline's ~4.6 KB of state (see `routing::run`).
    let answer = Box::pin(run_chat(
        &state,
        &headers,
        chat,
        CHAT_SHAPE,
        request.received,
    ))
    .await;
    crate::response::with_dropped_tools(answer, dropped)
}

/// The shared chat pipeline: the router picks the deployment (and retries / falls back), each
/// attempt translates for its deployment and calls Bedrock.
pub async fn run_chat<S: Shape + Clone>(
    state: &AppState,
    headers: &HeaderMap,
    mut request: ChatRequest,
    shape: S,
    started: Instant,
) -> Result<Response, ApiError> {
    if state.router.resolve(&request.model).is_none() {
        crate::report::unknown_model(&request.model);
        return Err(ApiError::UnknownModel(request.model));
    }
    let hints = routing::chat_hints(state, &mut request);
    let guard = match guardrails::chat_input(state, &hints, &mut request).await? {
        Start::Go(guard) => guard,
        Start::Refuse(message) => return Ok(refusal(&request, shape, &message)),
    };
    let fetched_media = state.media.fetch_all(remote_media_urls(&request)).await?;
    let (request, fetched_media, shape, guard) = (&request, &fetched_media, &shape, guard.as_ref());
    let routed = routing::run(state, &hints, |deployment| async move {
        chat_once(
            state,
            &deployment,
            headers,
            request.clone(),
            shape.clone(),
            started,
            fetched_media,
            guard,
        )
        .await
    });
    guardrails::during(state, guard, routed, |message| {
        refusal(request, shape.clone(), message)
    })
    .await
}

/// One attempt of the chat pipeline against one deployment.
#[allow(clippy::too_many_arguments)]
async fn chat_once<S: Shape>(
    state: &AppState,
    deployment: &Deployment,
    headers: &HeaderMap,
    request: ChatRequest,
    shape: S,
    started: Instant,
    fetched_media: &FetchedMedia,
    guard: Option<&RequestGuard>,
) -> Result<Response, ApiError> {
    crate::report::chat_request(&request);
    if let Some(plan) = deployment.surface() {
        let attempt = super::openai_surface::Attempt {
            state,
            deployment,
            plan,
            headers,
            started,
            fetched_media,
            guard,
        };
        return attempt.chat(request, shape).await;
    }
    let api = deployment.chat_api()?;
    let model_name = request.model.clone();
    let ctx = deployment.chat_context(headers, fetched_media);
    let call = translate_chat(request, api, &ctx)?;
    let body = Bytes::from(call.body.to_vec());
    let extra_headers = bedrock_headers(&call)?;
    let response_ctx = ResponseContext {
        model_name: &model_name,
        tool_names: &call.tool_names,
        json_mode: call.json_mode,
        created: unix_now(),
        id: new_completion_id(),
    };
    if call.streams_upstream() {
        let translation = started.elapsed();
        let upstream = state
            .bedrock
            .call_stream(
                &deployment.target,
                operation(api, true),
                body,
                &extra_headers,
            )
            .await?;
        let translator = api.stream_translator(&response_ctx, call.include_usage);
        let mut response = match guard.and_then(|g| g.post_stream(state)) {
            None => sse_response(upstream, translator, shape.stream()),
            Some(post) => guardrails::stream::chat_sse(post, upstream, translator, shape.stream()),
        };
        set_overhead(&mut response, translation);
        return Ok(response);
    }
    let answer = state
        .bedrock
        .call(
            &deployment.target,
            operation(api, false),
            body,
            &extra_headers,
        )
        .await?;
    let mut completion =
        translate_chat_response(api, &answer.body, answer.header_usage(), &response_ctx)?;
    crate::report::completion(&completion);
    if let Some(g) = guard.filter(|g| g.checks_output()) {
        if let Err(refused) = Box::pin(guardrails::post_completion(state, g, &mut completion)).await
        {
            // The model answered (its tokens count); the guardrail refused the answer.
            let tokens = completion.usage.as_ref().map(|u| u.total_tokens);
            return Ok(with_tokens(refused.into_response(), tokens));
        }
    }
    if call.stream {
        // An API that cannot stream: answer the stream from the complete response.
        let chunks = completion_to_chunks(completion, call.include_usage);
        return Ok(sse_from_chunks(chunks, shape.stream()));
    }
    Ok(completion_response(
        shape,
        completion,
        started,
        answer.upstream_time,
    ))
}

/// The Bedrock operation for an API, streaming or not.
fn operation(api: ChatApi, stream: bool) -> Operation {
    match (api, stream) {
        (ChatApi::Converse, false) => Operation::Converse,
        (ChatApi::Converse, true) => Operation::ConverseStream,
        (ChatApi::Invoke(_), false) => Operation::Invoke,
        (ChatApi::Invoke(_), true) => Operation::InvokeStream,
    }
}

/// The call's `X-Amzn-Bedrock-*` headers as a header map.
fn bedrock_headers(call: &ChatCall) -> Result<HeaderMap, ApiError> {
    let mut headers = HeaderMap::with_capacity(call.headers.len());
    for (name, value) in &call.headers {
        let value = HeaderValue::from_str(value).map_err(|_| {
            ApiError::invalid(None, format!("`{name}` value is not a valid header value"))
        })?;
        headers.insert(*name, value);
    }
    Ok(headers)
}

/// The answer to a chat request a guardrail refused before the model answered
/// (`disable_exception_on_block`): the guardrail's message, `finish_reason: content_filter`,
/// in the endpoint's shape, streamed when the request streams.
fn refusal<S: Shape>(request: &ChatRequest, shape: S, message: &str) -> Response {
    let completion =
        text::refusal_completion(new_completion_id(), unix_now(), &request.model, message);
    if request.stream == Some(true) {
        let include_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        return sse_from_chunks(
            completion_to_chunks(completion, include_usage),
            shape.stream(),
        );
    }
    json_response(shape.complete(completion), Instant::now(), Duration::ZERO)
}
