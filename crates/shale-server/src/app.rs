//! Assembles the whole HTTP service: routes (each bare and under `/v1`) and the tower stack.
//!
//! Layer order, outermost first:
//! 1. `SetRequestId` — keep the caller's `x-request-id` or mint a UUID;
//! 2. `SetSensitiveRequestHeaders` — mark `authorization`, `x-api-key`, `x-litellm-api-key` so no log prints them;
//! 3. `Trace` — one span per request (method, path, request id) and response status and latency,
//!    all at debug level so the default `info` filter costs nothing on the hot path;
//! 4. `PropagateRequestId` — echo `x-request-id` on the response;
//! 5. `catch_panic` (`panic.rs`) — a panicking handler answers an OpenAI-shaped 500, logged with
//!    the request id (inside the layers above, so that 500 is traced and carries the id);
//! 6. observe (model, models and pass-through routes: record, metrics, access log, server span —
//!    outside auth so refused keys are counted);
//! 7. auth (model, models and pass-through routes: the master key or a virtual key; the admin
//!    API `/key/*`, `/team/*`, `/spend/logs`: the master key only; health and `/metrics` are
//!    open, `/metrics` checks the key itself when `require_auth_for_metrics_endpoint` is set);
//! 8. the body limit is enforced where bodies are read (`body::read_limited`), so oversize → 413 JSON.

use crate::auth::{authenticate, require_master_key};
use crate::routes::{
    chat, completions, embeddings, fallback, health, images, keys, messages, metrics, models,
    passthrough, rerank, responses, router_health, spend, teams,
};
use crate::state::AppState;
use axum::http::{HeaderName, Request};
use axum::routing::{get, post};
use axum::{middleware, Router};
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routes that need the master key, without the `/v1` prefix.
fn api_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/models", get(models::list))
        .route("/models/{model}", get(models::retrieve))
        .route("/chat/completions", post(chat::chat_completions))
        .route("/completions", post(completions::completions))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/images/generations", post(images::generations))
        .route("/rerank", post(rerank::rerank))
        .route("/messages", post(messages::messages))
        .route("/messages/count_tokens", post(messages::count_tokens))
        .route("/health", get(router_health::health))
        .route("/responses", post(responses::create))
        .route(
            "/responses/{id}",
            get(responses::retrieve).delete(responses::delete),
        )
        .route("/responses/{id}/input_items", get(responses::input_items))
}

/// The admin API for virtual keys, where LiteLLM has it (master key only).
fn admin_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/key/generate", post(keys::generate))
        .route("/key/update", post(keys::update))
        .route("/key/info", get(keys::info))
        .route("/key/list", get(keys::list))
        .route("/key/delete", post(keys::delete))
        .route("/key/regenerate", post(keys::regenerate))
        .route("/key/{key}/regenerate", post(keys::regenerate_path))
        .route("/key/block", post(keys::block))
        .route("/key/unblock", post(keys::unblock))
        .route("/team/new", post(teams::new))
        .route("/team/update", post(teams::update))
        .route("/team/info", get(teams::info))
        .route("/team/delete", post(teams::delete))
        .route("/spend/logs", get(spend::logs))
}

fn health_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/liveness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
}

/// The complete application with its middleware stack.
pub fn build_app(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .merge(api_routes())
        .nest("/v1", api_routes())
        .route("/anthropic/v1/messages", post(messages::messages))
        .route(
            "/anthropic/v1/messages/count_tokens",
            post(messages::count_tokens),
        )
        .route(
            "/bedrock/{*path}",
            get(passthrough::passthrough).post(passthrough::passthrough),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::observe::observe,
        ));
    let admin = admin_routes().route_layer(middleware::from_fn_with_state(
        Arc::clone(&state),
        require_master_key,
    ));
    let open = Router::new()
        .merge(health_routes())
        .nest("/v1", health_routes())
        .route("/metrics", get(metrics::metrics))
        .route("/metrics/", get(metrics::metrics));

    Router::new()
        .merge(protected)
        .merge(admin)
        .merge(open)
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(SetSensitiveRequestHeadersLayer::new([
                    axum::http::header::AUTHORIZATION,
                    HeaderName::from_static("x-api-key"),
                    HeaderName::from_static("x-litellm-api-key"),
                ]))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(crate::panic::catch_panic)),
        )
}
