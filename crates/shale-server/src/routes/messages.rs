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
use crate::response::{json_response, set_overhead};
use crate::routes::messages_stream::anthropic_sse_response;
use crate::routing::{self, Hints};
use crate::state::{AppState, Deployment};
use crate::usage::{self, AnthropicUsage};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use shale_bedrock::Operation;
use shale_config::Api;
use shale_telemetry::TokenUsage;
use shale_translate::messages::{
    converse_to_messages, count_tokens_answer, count_tokens_converse_input,
    count_tokens_invoke_input, messages_to_converse, messages_to_invoke, new_message_id,
    BetaPolicy, MessagesContext, MessagesRequest, MessagesResponseContext, MessagesStream,
    MessagesStreamTranslator, NativeStreamRelay,
};
use shale_translate::ModelFamily;
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

pub(crate) fn context<'a>(
    state: &'a AppState,
    deployment: &'a Deployment,
    headers: &'a HeaderMap,
) -> MessagesContext<'a> {
    let betas = &state.config.general_settings.anthropic_beta;
    MessagesContext {
        caps: &deployment.caps,
        default_params: deployment.default_params(),
        beta_header: headers.get("anthropic-beta").and_then(|v| v.to_str().ok()),
        betas: BetaPolicy {
            passthrough: betas.passthrough,
            allow: &betas.allow,
            deny: &betas.deny,
        },
    }
}

fn to_body(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("body serialises"))
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    request: Result<JsonBody<MessagesRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let (request, started) = request?.into_parts();
    let request = &request;
    routing::run(
        state,
        &Hints::model(&request.model),
        |deployment| async move {
            run_once(state, &deployment, headers, request.clone(), started).await
        },
    )
    .await
}

/// One attempt against one deployment (the router retries and falls back around it).
async fn run_once(
    state: &AppState,
    deployment: &Deployment,
    headers: &HeaderMap,
    request: MessagesRequest,
    started: std::time::Instant,
) -> Result<Response, ApiError> {
    if let Some(plan) = deployment.surface() {
        return crate::routes::openai_surface::messages(
            state, deployment, plan, headers, request, started,
        )
        .await;
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
            let mut response =
                anthropic_sse_response(upstream, MessagesStream::Native(NativeStreamRelay::new()));
            set_overhead(&mut response, translation);
            return Ok(response);
        }
        let answer = state
            .bedrock
            .call(target, Operation::Invoke, body, &extra)
            .await?;
        let tokens = AnthropicUsage::from_message(&answer.body)
            .or_else(|| usage::invoke_headers(&answer.headers));
        let response = json_response(answer.body.to_vec(), started, answer.upstream_time);
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
        let mut response = anthropic_sse_response(upstream, MessagesStream::Converse(translator));
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
    let response = json_response(json, started, answer.upstream_time);
    Ok(with_usage(response, usage::converse_json(&answer.body)))
}

/// Records a complete answer's usage (telemetry) and hands its tokens to the router (tpm).
pub(crate) fn with_usage(mut response: Response, tokens: Option<TokenUsage>) -> Response {
    crate::observe::usage(tokens);
    if let Some(t) = tokens {
        response
            .extensions_mut()
            .insert(routing::UsedTokens(t.total_tokens()));
    }
    response
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
        return crate::routes::openai_surface::count_tokens(
            state,
            &deployment,
            plan,
            headers,
            request,
            started,
        )
        .await;
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
