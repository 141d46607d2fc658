//! `POST /chat/completions` (and the chat pipeline `/completions` reuses): parse, find the
//! deployment, fetch remote media, translate, call Bedrock, translate back — streaming or not.

use crate::body::{parse_json, read_limited};
use crate::error::ApiError;
use crate::sse::{sse_from_chunks, sse_response, ChunkMapper};
use crate::state::{AppState, Deployment};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use shale_bedrock::Operation;
use shale_config::Api;
use shale_translate::invoke::{
    chat_to_invoke, completion_to_chunks, invoke_to_chat, InvokeStreamTranslator,
};
use shale_translate::{
    chat_to_converse, converse_to_chat, new_completion_id, remote_media_urls, ChatCompletion,
    ChatContext, ChatRequest, ConverseStreamTranslator, ResponseContext,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the answer is shaped for the client.
#[derive(Clone, Copy)]
pub struct OutputShape {
    /// Non-streaming: turns the chat completion into the endpoint's JSON.
    pub complete: fn(ChatCompletion) -> serde_json::Value,
    /// Streaming: re-shapes chunks (`None` keeps `chat.completion.chunk`).
    pub chunk: Option<ChunkMapper>,
}

pub const CHAT_SHAPE: OutputShape = OutputShape {
    complete: |c| serde_json::to_value(c).expect("completion serialises"),
    chunk: None,
};

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let bytes = read_limited(&headers, body, state.max_body_bytes).await?;
    let request: ChatRequest = parse_json(&bytes)?;
    drop(bytes);
    run_chat(&state, &headers, request, CHAT_SHAPE, started).await
}

/// The shared chat pipeline.
pub async fn run_chat(
    state: &AppState,
    headers: &HeaderMap,
    request: ChatRequest,
    shape: OutputShape,
    started: Instant,
) -> Result<Response, ApiError> {
    let deployment = state.deployment(&request.model)?;
    let model_name = request.model.clone();
    let fetched_media = state.media.fetch_all(remote_media_urls(&request)).await?;
    let ctx = ChatContext {
        caps: &deployment.caps,
        default_params: deployment.default_params(),
        modify_params: deployment.modify_params,
        user_continue_message: deployment.user_continue_message.as_ref(),
        anthropic_beta: headers.get("anthropic-beta").and_then(|v| v.to_str().ok()),
        fetched_media: &fetched_media,
    };
    match deployment.api() {
        Api::Converse | Api::ConverseLike => {
            converse(
                state,
                &deployment,
                request,
                &ctx,
                model_name,
                shape,
                started,
            )
            .await
        }
        Api::Invoke => {
            invoke(
                state,
                &deployment,
                request,
                &ctx,
                model_name,
                shape,
                started,
            )
            .await
        }
    }
}

async fn converse(
    state: &AppState,
    deployment: &Deployment,
    request: ChatRequest,
    ctx: &ChatContext<'_>,
    model_name: String,
    shape: OutputShape,
    started: Instant,
) -> Result<Response, ApiError> {
    let call = chat_to_converse(request, ctx)?;
    let body = bytes::Bytes::from(serde_json::to_vec(&call.body).expect("body serialises"));
    let created = unix_now();
    let response_ctx = ResponseContext {
        model_name: &model_name,
        tool_names: &call.tool_names,
        json_mode: call.json_mode,
        created,
        id: new_completion_id(),
    };
    let no_headers = HeaderMap::new();
    if call.stream {
        let translation = started.elapsed();
        let upstream = state
            .bedrock
            .call_stream(
                &deployment.target,
                Operation::ConverseStream,
                body,
                &no_headers,
            )
            .await?;
        let translator = ConverseStreamTranslator::new(&response_ctx, call.include_usage);
        let mut response = sse_response(upstream, translator, shape.chunk);
        set_overhead(&mut response, translation);
        return Ok(response);
    }
    let answer = state
        .bedrock
        .call(&deployment.target, Operation::Converse, body, &no_headers)
        .await?;
    let upstream_time = answer.upstream_time;
    let completion = converse_to_chat(&answer.body, &response_ctx)?;
    let json = serde_json::to_vec(&(shape.complete)(completion)).expect("JSON serialises");
    Ok(json_response(json, started, upstream_time))
}

async fn invoke(
    state: &AppState,
    deployment: &Deployment,
    request: ChatRequest,
    ctx: &ChatContext<'_>,
    model_name: String,
    shape: OutputShape,
    started: Instant,
) -> Result<Response, ApiError> {
    let family = deployment.invoke_family.ok_or_else(|| {
        ApiError::invalid(
            Some("model"),
            format!(
                "The model `{model_name}` ({}) is not a chat model: use the endpoint for its kind (e.g. /v1/embeddings).",
                deployment.entry.route.model_id
            ),
        )
    })?;
    let call = chat_to_invoke(request, family, ctx)?;
    let body = bytes::Bytes::from(serde_json::to_vec(&call.body).expect("body serialises"));
    let mut extra_headers = HeaderMap::with_capacity(call.headers.len());
    for (name, value) in &call.headers {
        let value = HeaderValue::from_str(value).map_err(|_| {
            ApiError::invalid(None, format!("`{name}` value is not a valid header value"))
        })?;
        extra_headers.insert(*name, value);
    }
    let response_ctx = ResponseContext {
        model_name: &model_name,
        tool_names: &call.tool_names,
        json_mode: call.json_mode,
        created: unix_now(),
        id: new_completion_id(),
    };
    if call.stream && family.supports_streaming() {
        let translation = started.elapsed();
        let upstream = state
            .bedrock
            .call_stream(
                &deployment.target,
                Operation::InvokeStream,
                body,
                &extra_headers,
            )
            .await?;
        let translator = InvokeStreamTranslator::new(family, &response_ctx, call.include_usage);
        let mut response = sse_response(upstream, translator, shape.chunk);
        set_overhead(&mut response, translation);
        return Ok(response);
    }
    let answer = state
        .bedrock
        .call(&deployment.target, Operation::Invoke, body, &extra_headers)
        .await?;
    let upstream_time = answer.upstream_time;
    let completion = invoke_to_chat(
        family,
        &answer.body,
        header_usage(&answer.headers),
        &response_ctx,
    )?;
    if call.stream {
        // A family without a streaming API: answer the stream from the complete response.
        let chunks = completion_to_chunks(completion, call.include_usage);
        return Ok(sse_from_chunks(chunks, shape.chunk));
    }
    let json = serde_json::to_vec(&(shape.complete)(completion)).expect("JSON serialises");
    Ok(json_response(json, started, upstream_time))
}

/// (`X-Amzn-Bedrock-Input-Token-Count`, `X-Amzn-Bedrock-Output-Token-Count`) when both are present.
fn header_usage(headers: &HeaderMap) -> Option<(u64, u64)> {
    let count = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((
        count("x-amzn-bedrock-input-token-count")?,
        count("x-amzn-bedrock-output-token-count")?,
    ))
}

/// A 200 JSON answer with the `x-shale-overhead-ms` header.
pub fn json_response(json: Vec<u8>, started: Instant, upstream_time: Duration) -> Response {
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    set_overhead(
        &mut response,
        started.elapsed().saturating_sub(upstream_time),
    );
    response
}

/// `x-shale-overhead-ms`: time spent in the gateway, excluding waiting for Bedrock.
pub fn set_overhead(response: &mut Response, overhead: std::time::Duration) {
    let ms = format!("{:.3}", overhead.as_secs_f64() * 1000.0);
    if let Ok(v) = HeaderValue::from_str(&ms) {
        response.headers_mut().insert("x-shale-overhead-ms", v);
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
