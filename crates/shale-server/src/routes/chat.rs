//! `POST /chat/completions` and the chat pipeline `/completions` reuses: find the deployment,
//! fetch remote media, translate for the deployment's API (Converse or invoke — one pipeline,
//! see `shale_translate::chat`), call Bedrock, translate back, streaming or not.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::response::{json_response, set_overhead, unix_now};
use crate::routing;
use crate::sse::{sse_from_chunks, sse_response, ChunkMapper, DataLines, StreamShape};
use crate::state::{AppState, Deployment};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use shale_bedrock::Operation;
use shale_translate::invoke::completion_to_chunks;
use shale_translate::{
    new_completion_id, remote_media_urls, translate_chat, translate_chat_response, ChatApi,
    ChatCall, ChatCompletion, ChatRequest, FetchedMedia, ResponseContext,
};
use std::sync::Arc;
use std::time::Instant;

/// How the answer is shaped for the client.
#[derive(Clone, Copy)]
pub struct OutputShape {
    /// Non-streaming: turns the chat completion into the endpoint's JSON bytes.
    pub complete: fn(ChatCompletion) -> Vec<u8>,
    /// Streaming: re-shapes chunks (`None` keeps `chat.completion.chunk`).
    pub chunk: Option<ChunkMapper>,
}

/// How a pipeline's answer reaches the client: the JSON of a complete answer, and the writer of
/// a stream (stateful shapes such as the Responses API's implement this themselves).
pub trait Shape: Send + 'static {
    type Stream: StreamShape;
    /// The JSON body of a complete answer.
    fn complete(self, completion: ChatCompletion) -> Vec<u8>;
    fn stream(self) -> Self::Stream;
    /// Whether the client speaks chat completions (a chat surface then relays its request and
    /// answer, see `openai_surface`).
    fn is_chat(&self) -> bool {
        false
    }
    /// The client's Responses request, taken out of the shape, when a Responses surface is to
    /// relay it (see `openai_surface`).
    fn take_responses(&mut self) -> Option<super::openai_surface::ResponsesClient> {
        None
    }
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
    // Boxed: the layers above move this handler's future each time they box it; on the heap
    // they move a pointer, not the pipeline's ~4.6 KB of state (see `routing::run`).
    Box::pin(run_chat(
        &state,
        &headers,
        request.value,
        CHAT_SHAPE,
        request.received,
    ))
    .await
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
        crate::observe::unknown_model(&request.model);
        return Err(ApiError::UnknownModel(request.model));
    }
    let hints = routing::chat_hints(state, &mut request);
    let fetched_media = state.media.fetch_all(remote_media_urls(&request)).await?;
    let (request, fetched_media, shape) = (&request, &fetched_media, &shape);
    routing::run(state, &hints, |deployment| async move {
        chat_once(
            state,
            &deployment,
            headers,
            request.clone(),
            shape.clone(),
            started,
            fetched_media,
        )
        .await
    })
    .await
}

/// One attempt of the chat pipeline against one deployment.
async fn chat_once<S: Shape>(
    state: &AppState,
    deployment: &Deployment,
    headers: &HeaderMap,
    request: ChatRequest,
    shape: S,
    started: Instant,
    fetched_media: &FetchedMedia,
) -> Result<Response, ApiError> {
    crate::observe::chat_request(&request);
    if let Some(plan) = deployment.surface() {
        let attempt = super::openai_surface::Attempt {
            state,
            deployment,
            plan,
            headers,
            started,
            fetched_media,
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
        let mut response = sse_response(upstream, translator, shape.stream());
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
    let completion =
        translate_chat_response(api, &answer.body, answer.header_usage(), &response_ctx)?;
    crate::observe::completion(&completion);
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

/// The JSON answer of a complete (already observed) completion, carrying its tokens for the
/// router's tpm accounting.
pub(crate) fn completion_response<S: Shape>(
    shape: S,
    completion: ChatCompletion,
    started: Instant,
    upstream_time: std::time::Duration,
) -> Response {
    let tokens = completion.usage.as_ref().map(|u| u.total_tokens);
    let mut response = json_response(shape.complete(completion), started, upstream_time);
    if let Some(t) = tokens {
        response.extensions_mut().insert(routing::UsedTokens(t));
    }
    response
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
