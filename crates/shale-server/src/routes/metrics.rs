//! `GET /metrics`: the Prometheus text format of every metric (LiteLLM's names plus shale's own).
//! Served when Prometheus is on (`callbacks: [prometheus]` or `general_settings.telemetry.prometheus`);
//! needs the master key when `litellm_settings.require_auth_for_metrics_endpoint` is true.
//! Dependencies polled here (the Redis of the router and of the response cache: one `PING` each)
//! are refreshed on each scrape. The fleet's series (health checks, shared Responses store)
//! follow the gateway's.

use crate::auth::master_or_ui_session;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn metrics(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(metrics) = state.telemetry.metrics() else {
        return Err(ApiError::NotFound {
            path: uri.path().to_string(),
        });
    };
    if state.config.telemetry.require_auth_for_metrics {
        if let Some(key) = &state.master_key {
            if !master_or_ui_session(&state, key, &headers) {
                return Err(ApiError::Unauthorized(
                    "Unauthorized access to metrics endpoint: send the master key as `Authorization: Bearer <key>`.",
                ));
            }
        }
    }
    // The router and the response cache may both use Redis: it is up when both reach it.
    let cache_redis = match &state.cache {
        Some(cache) => cache.probe().await,
        None => None,
    };
    let redis = match (state.router.probe_redis().await, cache_redis) {
        (Some(a), Some(b)) => Some((a.healthy && b.healthy, a.outages.max(b.outages))),
        (Some(a), None) | (None, Some(a)) => Some((a.healthy, a.outages)),
        (None, None) => None,
    };
    if let Some((up, outages)) = redis {
        metrics.sync_dependency("redis", up, outages);
    }
    if let Some(keys) = &state.keys {
        // Read at scrape time: Postgres as of the key service's last attempt.
        metrics.set_dependency_up("postgres", keys.database_up());
        if let Some(usd) = keys.unshared_spend() {
            metrics.set_keys_unshared_spend(usd);
        }
    }
    if let Some(store) = &state.models_store {
        // As of the model store's last call (the reconcile runs every few seconds).
        let health = store.health();
        metrics.set_dependency_up("postgres_models", health.database_up);
        if let Some(up) = health.redis_up {
            metrics.set_dependency_up("redis_models", up);
        }
    }
    if let Some(up) = state.responses.shared_up() {
        metrics.set_dependency_up("responses_store", up);
    }
    let mut body = metrics.encode();
    body.push_str(&state.fleet_metrics.encode());
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(shale_telemetry::metrics::CONTENT_TYPE),
        )],
        body,
    )
        .into_response())
}
