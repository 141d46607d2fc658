//! The response cache's admin API, LiteLLM-compatible and master key only
//! (`auth::require_master_key`): `GET /cache/ping` (Redis `PING` plus a test write, or the local
//! store's usage), `POST /cache/delete` (`{"keys": [...]}`, as `x-litellm-cache-key` shows them),
//! `POST /cache/flushall` (every entry of the configured namespace — unlike LiteLLM, never the
//! whole Redis database). A gateway without a cache answers 503.
//!
//! Must not: hold cache logic (that is `shale-cache`) or show a Redis password.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::routes::keys::json;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use shale_cache::{CacheMode, CacheScope, ResponseCache};
use std::sync::Arc;

fn cache(state: &AppState) -> Result<&ResponseCache, ApiError> {
    state.cache.as_deref().ok_or_else(|| {
        ApiError::CacheUnavailable(
            "Cache not initialized. litellm.cache is None (set litellm_settings.cache: true)"
                .into(),
        )
    })
}

/// The cache's settings as `/cache/ping` shows them (no secrets).
fn params(cache: &ResponseCache) -> serde_json::Value {
    let s = cache.settings();
    json!({
        "type": cache.cache_type(),
        "namespace": s.namespace,
        "ttl": s.ttl.as_secs_f64(),
        "supported_call_types": s.call_types.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "mode": match s.mode { CacheMode::DefaultOn => "default_on", CacheMode::DefaultOff => "default_off" },
        "scope": match s.scope { CacheScope::Shared => "shared", CacheScope::Key => "key", CacheScope::Team => "team" },
        "max_entry_bytes": s.max_entry_bytes,
        "store": cache.describe_store(),
    })
}

/// `GET /cache/ping`.
pub async fn ping(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let cache = cache(&state)?;
    let ping = cache.ping().await;
    if let Err(why) = ping.ping.as_ref().and(ping.set.as_ref()) {
        return Err(ApiError::CacheUnavailable(format!(
            "LiteLLM cache unhealthy: {} did not answer: {why}",
            cache.describe_store()
        )));
    }
    let mut body = json!({
        "status": "healthy",
        "cache_type": ping.cache_type,
        "litellm_cache_params": params(cache),
    });
    if ping.cache_type == "redis" {
        body["ping_response"] = json!(true);
        body["set_cache_response"] = json!("success");
    }
    if let Some((entries, bytes, max_entries, max_bytes)) = ping.local_usage {
        body["entries"] = json!(entries);
        body["bytes"] = json!(bytes);
        body["max_entries"] = json!(max_entries);
        body["max_bytes"] = json!(max_bytes);
    }
    Ok(json(&body))
}

#[derive(Debug, Deserialize)]
pub struct DeleteRequest {
    keys: Vec<String>,
}

/// `POST /cache/delete`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    request: JsonBody<DeleteRequest>,
) -> Result<Response, ApiError> {
    let deleted = cache(&state)?
        .delete(&request.value.keys)
        .await
        .map_err(|e| ApiError::CacheUnavailable(e.to_string()))?;
    Ok(json(&json!({"status": "success", "deleted": deleted})))
}

/// `POST /cache/flushall`: the configured namespace only.
pub async fn flushall(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let cache = cache(&state)?;
    let deleted = cache
        .flush()
        .await
        .map_err(|e| ApiError::CacheUnavailable(e.to_string()))?;
    Ok(json(&json!({
        "status": "success",
        "deleted": deleted,
        "namespace": cache.settings().namespace,
    })))
}
