//! `GET /v1/models` and `GET /v1/models/{model}`: the configured `model_name`s.

use crate::error::ApiError;
use crate::state::{model_object, AppState};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.models_json.clone(),
    )
        .into_response()
}

pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Response, ApiError> {
    if state.models.contains_key(&model) {
        Ok(Json(model_object(&model, state.created)).into_response())
    } else {
        Err(ApiError::UnknownModel(model))
    }
}
