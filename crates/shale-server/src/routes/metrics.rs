//! `GET /metrics`: the Prometheus text format of every metric (LiteLLM's names plus shale's own).
//! Served when Prometheus is on (`callbacks: [prometheus]` or `general_settings.telemetry.prometheus`);
//! needs the master key when `litellm_settings.require_auth_for_metrics_endpoint` is true.
//! Dependencies polled here (the router's Redis: one `PING`) are refreshed on each scrape.

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
    if let Some(redis) = state.router.probe_redis().await {
        metrics.sync_dependency("redis", redis.healthy, redis.outages);
    }
    if let Some(keys) = &state.keys {
        // Read at scrape time: Postgres as of the key service's last attempt.
        metrics.set_dependency_up("postgres", keys.database_up());
    }
    let body = metrics.encode();
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(shale_telemetry::metrics::CONTENT_TYPE),
        )],
        body,
    )
        .into_response())
}
