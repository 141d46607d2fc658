//! Assembles the whole HTTP service: routes (each bare and under `/v1`) and the layers around them.
//!
//! Layer order, outermost first:
//! 1. the front door (`front_door.rs`, one unboxed service around the whole router): keep the
//!    caller's `x-request-id` or mint a UUID; mark `authorization`, `x-api-key`,
//!    `x-litellm-api-key` sensitive so no log prints them; catch a panic and answer `panic.rs`'s
//!    OpenAI-shaped 500, logged with the request id; echo `x-request-id` on every response;
//! 2. axum routing (404/405 fallbacks answer here, inside the front door, so they carry the id);
//! 3. on the model, models and pass-through routes, ONE middleware, `observe` (record, metrics,
//!    access log, server span), which calls the authentication step (`auth::authenticate`: the
//!    master key or a virtual key) inline, so refused keys are observed and counted; on the admin
//!    API `/key/*`, `/team/*`, `/spend/logs`, `/model/*`, `/model_group/info`, `/guardrails/*`,
//!    `/cache/*`, `auth::require_master_key` (the master key only); inside `observe` on the cached
//!    model routes, the response cache's layer (`cache_hooks.rs`, only when
//!    `litellm_settings.cache` is on);
//!    health and `/metrics` are open (`/metrics` checks the key itself when
//!    `require_auth_for_metrics_endpoint` is set); the admin UI (`/ui`, `shale-ui`) answers its
//!    own pages, and its session stands for the master key where `auth.rs` accepts it;
//! 4. the body limit is enforced where bodies are read (`body::read_limited`), so oversize → 413 JSON.
//!
//! There is no per-request `tower_http::trace` span: the access log (observe) is the request log,
//! and the OTLP server span is opened by observe only when traces are exported. Fewer layers also
//! means fewer boxed futures per request (`bench/results/profile.md`): each axum `route_layer` /
//! `from_fn` boxes the request's future, the front door does not.

use crate::auth::require_master_key;
use crate::front_door::{FrontDoor, FrontDoorLayer};
use crate::routes::{
    cache, chat, completions, embeddings, fallback, guardrails, health, images, keys, messages,
    metrics, model_admin, models, passthrough, rerank, responses, router_health, spend, teams,
};
use crate::state::AppState;
use axum::routing::{get, patch, post};
use axum::{middleware, Router};
use std::sync::Arc;
use tower::Layer;

/// The service the workers serve: the live snapshot's routes behind the front door (a cheap
/// `Arc` clone; see `live.rs`).
pub type App = FrontDoor<crate::live::LiveApp>;

/// The service the workers serve for a live table: the current snapshot's routes, loaded per
/// request, behind the front door.
pub fn live_app(live: &Arc<crate::live::Live>) -> App {
    FrontDoorLayer.layer(crate::live::LiveApp(Arc::clone(live)))
}

/// Routes that need the master key, under `prefix` (`""` or `"/v1"`). Registered with their full
/// path rather than `nest`ed, which would strip the prefix on every request.
fn api_routes(prefix: &str) -> Router<Arc<AppState>> {
    let at = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(&at("/models"), get(models::list))
        .route(&at("/models/{model}"), get(models::retrieve))
        .route(&at("/chat/completions"), post(chat::chat_completions))
        .route(&at("/completions"), post(completions::completions))
        .route(&at("/embeddings"), post(embeddings::embeddings))
        .route(&at("/images/generations"), post(images::generations))
        .route(&at("/rerank"), post(rerank::rerank))
        .route(&at("/messages"), post(messages::messages))
        .route(&at("/messages/count_tokens"), post(messages::count_tokens))
        .route(&at("/health"), get(router_health::health))
        .route(&at("/responses"), post(responses::create))
        .route(
            &at("/responses/{id}"),
            get(responses::retrieve).delete(responses::delete),
        )
        .route(
            &at("/responses/{id}/input_items"),
            get(responses::input_items),
        )
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
        .route("/team/list", get(teams::list))
        .route("/global/spend/report", get(spend::report))
        .route("/spend/logs/ui", get(spend::logs_page))
        .route("/model/new", post(model_admin::new))
        .route("/model/update", post(model_admin::update))
        .route("/model/{model_id}/update", patch(model_admin::patch))
        .route("/model/delete", post(model_admin::delete))
        .route("/model/info", get(model_admin::info))
        .route("/v1/model/info", get(model_admin::info))
        .route("/v2/model/info", get(model_admin::info_v2))
        .route("/model_group/info", get(model_admin::group_info))
        .route("/guardrails/list", get(guardrails::list))
        .route("/guardrails/apply_guardrail", post(guardrails::apply))
        .route("/cache/ping", get(cache::ping))
        .route("/cache/delete", post(cache::delete))
        .route("/cache/flushall", post(cache::flushall))
}

fn health_routes(prefix: &str) -> Router<Arc<AppState>> {
    let at = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(&at("/health/liveliness"), get(health::liveliness))
        .route(&at("/health/liveness"), get(health::liveliness))
        .route(&at("/health/readiness"), get(health::readiness))
}

/// The complete application for one fixed snapshot: the routes with their middleware, behind the
/// front door. (The gateway serves [`crate::live::Live::app`], which follows model-table swaps.)
pub fn build_app(state: Arc<AppState>) -> FrontDoor<Router> {
    FrontDoorLayer.layer(routes(state))
}

/// The routes of one snapshot with their middleware (everything inside the front door).
pub fn routes(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .merge(api_routes(""))
        .merge(api_routes("/v1"))
        .route("/anthropic/v1/messages", post(messages::messages))
        .route(
            "/anthropic/v1/messages/count_tokens",
            post(messages::count_tokens),
        )
        .route(
            "/bedrock/{*path}",
            get(passthrough::passthrough).post(passthrough::passthrough),
        );
    // Inside `observe`: the response cache sees authenticated, observed requests.
    let protected = crate::cache_hooks::layer_onto(protected, &state).route_layer(
        middleware::from_fn_with_state(Arc::clone(&state), crate::observe::observe),
    );
    let admin = admin_routes().route_layer(middleware::from_fn_with_state(
        Arc::clone(&state),
        require_master_key,
    ));
    let open = Router::new()
        .merge(health_routes(""))
        .merge(health_routes("/v1"))
        .route("/metrics", get(metrics::metrics))
        .route("/metrics/", get(metrics::metrics));

    let ui = match &state.ui {
        Some(ui) => shale_ui::routes(Arc::clone(ui)),
        None => shale_ui::disabled_routes(shale_ui::off_reason()),
    };
    Router::new()
        .merge(protected)
        .merge(admin)
        .merge(open)
        .merge(ui)
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .with_state(state)
}
