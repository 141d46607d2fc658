//! `POST /v1/messages` and `POST /v1/messages/count_tokens` (also bare and under `/anthropic`):
//! the Anthropic Messages API. Parse under the body limit ([`JsonBody`]), find the deployment, then Claude
//! models go native (InvokeModel / InvokeModelWithResponseStream, whatever the route prefix) and
//! every other model through Converse; answers and errors come back in Anthropic's shape.
//!
//! Must not: translate bodies itself (see `shale_translate::messages`) or spell error types (see
//! `crate::anthropic_error`).

use crate::anthropic_error::anthropic_error_response;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::guardrail_hooks::{self as guardrails, RequestGuard, Start};
use crate::response::{json_response, set_overhead};
use crate::routes::answer::{context, messages_stream, output_checked, with_usage};
use crate::routing::{self, Hints};
use crate::state::{AppState, Deployment};
use crate::usage::{self, AnthropicUsage};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use shale_bedrock::Operation;
use shale_config::Api;
use shale_translate::messages::{
    converse_to_messages, count_tokens_answer, count_tokens_converse_input,
    count_tokens_invoke_input, messages_to_converse, messages_to_invoke, new_message_id,
    MessagesRequest, MessagesResponseContext, MessagesStream, MessagesStreamTranslator,
    NativeStreamRelay,
};
use shale_translate::{FetchedMedia, ModelFamily};
use std::sync::Arc;

pub async fn messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Result<JsonBody<MessagesRequest>, ApiError>,
) -> Response {
    run(&state, &headers, request)
        .await
        .unwrap_or_else(anthropic_error_response)
}

pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Result<JsonBody<MessagesRequest>, ApiError>,
) -> Response {
    count(&state, &headers, request)
        .await
        .unwrap_or_else(anthropic_error_response)
}

/// Claude models speak the Messages API natively on InvokeModel (a `converse_like` endpoint
/// only takes Converse bodies).
fn is_native(deployment: &Deployment) -> bool {
    deployment.caps.family == ModelFamily::Anthropic && deployment.api() != Api::ConverseLike
}

fn to_body(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("body serialises"))
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    request: Result<JsonBody<MessagesRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let (mut request, started) = request?.into_parts();
    let hints = Hints::model(&request.model);
    let stream = request.stream.unwrap_or(false);
    let guard = match guardrails::messages_input(state, &hints, &mut request.rest).await? {
        Start::Go(guard) => guard,
        Start::Refuse(m) => return Ok(guardrails::messages_refusal(&request.model, stream, &m)),
    };
    let (request, guard) = (&request, guard.as_ref());
    let routed = routing::run(state, &hints, |deployment| async move {
        run_once(state, &deployment, headers, request.clone(), started, guard).await
    });
    guardrails::during(state, guard, routed, |m| {
        guardrails::messages_refusal(&request.model, stream, m)
    })
    .await
}

/// One attempt against one deployment (the router retries and falls back around it).
async fn run_once(
    state: &AppState,
    deployment: &Deployment,
    headers: &HeaderMap,
    request: MessagesRequest,
    started: std::time::Instant,
    guard: Option<&RequestGuard>,
) -> Result<Response, ApiError> {
    if let Some(plan) = deployment.surface() {
        let attempt = crate::routes::openai_surface::Attempt {
            state,
            deployment,
            plan,
            headers,
            started,
            fetched_media: &FetchedMedia::new(),
            guard,
        };
        return attempt.messages(request).await;
    }
    let stream = request.stream.unwrap_or(false);
    let ctx = context(state, deployment, headers);
    let target = &deployment.target;
    if is_native(deployment) {
        let call = messages_to_invoke(request.rest, &ctx)?;
        if !call.dropped_betas.is_empty() || !call.removed_keys.is_empty() {
            tracing::debug!(dropped_betas = ?call.dropped_betas, removed_keys = ?call.removed_keys,
                "not forwarded to Bedrock");
        }
        let mut extra = HeaderMap::with_capacity(call.headers.len());
        for (name, value) in &call.headers {
            let value = HeaderValue::from_str(value).map_err(|_| {
                ApiError::invalid(None, format!("`{name}` value is not a valid header value"))
            })?;
            extra.insert(*name, value);
        }
        let body = to_body(&call.body);
        if stream {
            let translation = started.elapsed();
            let upstream = state
                .bedrock
                .call_stream(target, Operation::InvokeStream, body, &extra)
                .await?;
            let translator = MessagesStream::Native(NativeStreamRelay::new());
            let mut response = messages_stream(state, guard, upstream, translator, &request.model);
            set_overhead(&mut response, translation);
            return Ok(response);
        }
        let answer = state
            .bedrock
            .call(target, Operation::Invoke, body, &extra)
            .await?;
        let tokens = AnthropicUsage::from_message(&answer.body)
            .or_else(|| usage::invoke_headers(&answer.headers));
        let json = match output_checked(state, guard, answer.body.to_vec()).await {
            Ok(json) => json,
            Err(refused) => return Ok(with_usage(refused, tokens)),
        };
        let response = json_response(json, started, answer.upstream_time);
        return Ok(with_usage(response, tokens));
    }
    let call = messages_to_converse(request.rest, &ctx)?;
    let body = to_body(&call.body);
    let none = HeaderMap::new();
    if stream {
        let translation = started.elapsed();
        let upstream = state
            .bedrock
            .call_stream(target, Operation::ConverseStream, body, &none)
            .await?;
        let translator =
            MessagesStreamTranslator::new(new_message_id(), &request.model, call.tool_names);
        let translator = MessagesStream::Converse(translator);
        let mut response = messages_stream(state, guard, upstream, translator, &request.model);
        set_overhead(&mut response, translation);
        return Ok(response);
    }
    let answer = state
        .bedrock
        .call(target, Operation::Converse, body, &none)
        .await?;
    let message = converse_to_messages(
        &answer.body,
        &MessagesResponseContext {
            model_name: &request.model,
            tool_names: &call.tool_names,
            id: new_message_id(),
        },
    )?;
    let json = serde_json::to_vec(&message).expect("JSON serialises");
    let tokens = usage::converse_json(&answer.body);
    let json = match output_checked(state, guard, json).await {
        Ok(json) => json,
        Err(refused) => return Ok(with_usage(refused, tokens)),
    };
    let response = json_response(json, started, answer.upstream_time);
    Ok(with_usage(response, tokens))
}

async fn count(
    state: &AppState,
    headers: &HeaderMap,
    request: Result<JsonBody<MessagesRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let (request, started) = request?.into_parts();
    let deployment = state.deployment(&request.model)?;
    crate::keygate::check_model(&request.model)?;
    if let Some(plan) = deployment.surface() {
        let attempt = crate::routes::openai_surface::Attempt {
            state,
            deployment: &deployment,
            plan,
            headers,
            started,
            fetched_media: &FetchedMedia::new(),
            guard: None,
        };
        return attempt.count_tokens(request).await;
    }
    let ctx = context(state, &deployment, headers);
    let input = if is_native(&deployment) {
        count_tokens_invoke_input(&messages_to_invoke(request.rest, &ctx)?.body)
    } else {
        count_tokens_converse_input(&messages_to_converse(request.rest, &ctx)?.body)
    };
    let answer = state
        .bedrock
        .call(
            &deployment.target,
            Operation::CountTokens,
            to_body(&input),
            &HeaderMap::new(),
        )
        .await?;
    let json = serde_json::to_vec(&count_tokens_answer(&answer.body)?).expect("JSON serialises");
    Ok(json_response(json, started, answer.upstream_time))
}
