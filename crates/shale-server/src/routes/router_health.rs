//! `GET /health`: LiteLLM's shape (`healthy_endpoints`, `unhealthy_endpoints`, `healthy_count`,
//! `unhealthy_count`: as in LiteLLM, a deployment is unhealthy when the fleet's last background
//! probe of it failed; see `shale_fleet::health::view`; `status` is `degraded` when one is, when
//! the router is cooling one down or when its Redis is unreachable) plus the router's view
//! of every deployment (`deployments`: healthy, or cooling down until when, the last error,
//! requests in flight), Redis when it shares the router's state, and the background checks'
//! summary (`background_health_checks`). Read-only: it never calls Bedrock (the background
//! checks do, on their own schedule); with shared checks it reads the fleet's results from Redis
//! (one round trip).

use crate::auth::request_is_authorized;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Json<Value> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let deployments = state.router.health().await;
    let list: Vec<Value> = deployments
        .iter()
        .map(|d| {
            let entry = &state.deployments[d.index].entry;
            let cooling = d.cooling_for_ms.is_some();
            json!({
                "model_name": &*d.group,
                "model_id": &*d.id,
                "model": entry.params.model,
                "state": if cooling { "cooling_down" } else { "healthy" },
                "cooldown_until": d.cooling_for_ms.map(|ms| (now_ms + ms) as f64 / 1000.0),
                "cooldown_remaining_s": d.cooling_for_ms.map(|ms| ms as f64 / 1000.0),
                "in_flight": d.in_flight,
                "last_error": d.last_error.as_ref().map(|e| json!({
                    "class": e.class,
                    "message": e.message,
                    "at": e.at_ms as f64 / 1000.0,
                })),
            })
        })
        .collect();
    let redis = state
        .router
        .redis_status()
        .map(|s| json!({"healthy": s.healthy, "local_fallbacks": s.local_fallbacks}));
    let admin = state
        .master_key
        .as_ref()
        .is_none_or(|key| request_is_authorized(key, &headers));
    let (healthy, unhealthy, checks) =
        crate::fleet::health_lists(&state, &deployments, admin).await;
    let cooling = deployments.iter().any(|d| d.cooling_for_ms.is_some());
    let degraded =
        cooling || !unhealthy.is_empty() || redis.as_ref().is_some_and(|r| r["healthy"] == false);
    Json(json!({
        "status": if degraded { "degraded" } else { "healthy" },
        "healthy_count": healthy.len(),
        "unhealthy_count": unhealthy.len(),
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "routing_strategy": state.router.strategy().name(),
        "redis": redis,
        "background_health_checks": checks,
        "deployments": list,
    }))
}
