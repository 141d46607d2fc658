//! `GET /v1/models` and `GET /v1/models/{model}`: the configured `model_name`s — for a virtual
//! key, those it may call.

use crate::error::ApiError;
use crate::state::{model_object, AppState};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;

pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    let body = match crate::keygate::principal() {
        // A virtual key sees the models it may call (LiteLLM does the same).
        Some(key) => {
            let data: Vec<_> = state
                .config
                .model_names()
                .into_iter()
                .filter(|name| key.may_use_model(name))
                .map(|name| model_object(name, state.created))
                .collect();
            Bytes::from(
                serde_json::to_vec(&json!({"object": "list", "data": data})).expect("models JSON"),
            )
        }
        None => state.models_json.clone(),
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Response, ApiError> {
    let visible = crate::keygate::principal().is_none_or(|key| key.may_use_model(&model));
    if visible && state.models.contains_key(&model) {
        Ok(Json(model_object(&model, state.created)).into_response())
    } else {
        Err(ApiError::UnknownModel(model))
    }
}
