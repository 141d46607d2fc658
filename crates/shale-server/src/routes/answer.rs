//! What the model routes' answers are made of, shared by the handlers that build them (`chat.rs`,
//! `messages.rs`, `responses.rs`) and the attempts on Bedrock's HTTP surfaces
//! (`openai_surface.rs`): the [`Shape`] of a chat-pipeline answer, a complete completion's
//! response with its tokens, and the Messages API's context, usage and post_call helpers.
//!
//! Must not: import the route modules that use it (it sits below them, so the surfaces and the
//! handlers that dispatch to them do not import each other).

use crate::anthropic_error::anthropic_error_response;
use crate::guardrail_hooks::{self as guardrails, RequestGuard};
use crate::response::json_response;
use crate::routes::messages_stream::anthropic_sse_response;
use crate::routing;
use crate::sse::StreamShape;
use crate::state::{AppState, Deployment};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use shale_telemetry::TokenUsage;
use shale_translate::messages::{BetaPolicy, MessagesContext, MessagesStream};
use shale_translate::responses::ResponsesRequest;
use shale_translate::ChatCompletion;
use std::sync::Arc;
use std::time::Instant;

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
    fn take_responses(&mut self) -> Option<ResponsesClient> {
        None
    }
}

/// Stores a finished response in the gateway's Responses store.
pub type SaveResponse = Box<dyn FnOnce(&Value) + Send>;

/// A Responses client's request, for a relay to a Responses surface.
pub struct ResponsesClient {
    /// The request as the client sent it.
    pub request: Arc<ResponsesRequest>,
    /// The stored conversation of `previous_response_id` (oldest first).
    pub history: Arc<Vec<Value>>,
    /// This request's input as items (as the store keeps them).
    pub input_items: Vec<Value>,
    /// Stores the final response, when the client asked for it (`store`).
    pub save: Option<SaveResponse>,
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
    let response = json_response(shape.complete(completion), started, upstream_time);
    with_tokens(response, tokens)
}

/// The answer with the tokens it used, for the router's tpm accounting.
pub(crate) fn with_tokens(mut response: Response, tokens: Option<u64>) -> Response {
    if let Some(t) = tokens {
        response.extensions_mut().insert(routing::UsedTokens(t));
    }
    response
}

/// The Messages API's translation context for one deployment.
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

/// Records a complete answer's usage (telemetry) and hands its tokens to the router (tpm).
pub(crate) fn with_usage(mut response: Response, tokens: Option<TokenUsage>) -> Response {
    crate::report::usage(tokens);
    if let Some(t) = tokens {
        response
            .extensions_mut()
            .insert(routing::UsedTokens(t.total_tokens()));
    }
    response
}

/// post_call on a complete answer; a refused answer becomes the (Anthropic-shaped) response.
pub(crate) async fn output_checked(
    state: &AppState,
    guard: Option<&RequestGuard>,
    json: Vec<u8>,
) -> Result<Vec<u8>, Response> {
    match guard.filter(|g| g.checks_output()) {
        None => Ok(json),
        Some(g) => Box::pin(guardrails::post_message(state, g, json))
            .await
            .map_err(anthropic_error_response),
    }
}

/// The Anthropic stream of an upstream, with the post_call guardrails when there are any.
pub(crate) fn messages_stream(
    state: &AppState,
    guard: Option<&RequestGuard>,
    upstream: shale_bedrock::EventStream,
    translator: MessagesStream,
    model: &str,
) -> Response {
    match guard.and_then(|g| g.post_stream(state)) {
        None => anthropic_sse_response(upstream, translator),
        Some(post) => guardrails::stream::messages_sse(post, upstream, translator, model),
    }
}
