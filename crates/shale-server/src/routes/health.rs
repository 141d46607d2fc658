//! `/health/liveliness` (the process is up) and `/health/readiness` (config loaded, not draining).

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub async fn liveliness() -> impl IntoResponse {
    Json(json!({"status": "alive"}))
}

pub async fn readiness(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.draining.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        );
    }
    (
        StatusCode::OK,
        Json(
            json!({"status": "ready", "models": state.models.len(), "version": env!("CARGO_PKG_VERSION")}),
        ),
    )
}
