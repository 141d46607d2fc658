//! The admin API for virtual keys, LiteLLM-compatible: `POST /key/generate`, `/key/update`,
//! `/key/delete`, `/key/regenerate` (also `/key/{key}/regenerate`), `/key/block`,
//! `/key/unblock`; `GET /key/info?key=`, `/key/list`. Master key only (`auth::require_master_key`).
//! Handlers are thin: parse, call `shale_keys::KeyService`, answer its JSON.
//!
//! Must not: hold key logic or SQL (that is `shale-keys`), or log a key.

use crate::body::{parse_json, read_limited, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shale_keys::{
    DeleteKeysRequest, GenerateKeyRequest, KeyError, KeyService, ListKeysQuery,
    RegenerateKeyRequest, UpdateKeyRequest,
};
use std::sync::Arc;

/// The key service, or the 400 "virtual keys need database_url".
pub(crate) fn service(state: &AppState) -> Result<&Arc<KeyService>, ApiError> {
    state
        .keys
        .as_ref()
        .ok_or(ApiError::Key(KeyError::NoDatabase))
}

/// Query parameters, or a 400 in the OpenAI error shape.
pub(crate) fn query_params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        ApiError::invalid(None, format!("Invalid query parameters: {}", e.body_text()))
    })
}

/// A 200 JSON answer.
pub(crate) fn json<T: Serialize>(value: &T) -> Response {
    let body = serde_json::to_vec(value).expect("admin answers serialise");
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `{"key": "sk-… or its hash"}`: the body of `/key/block` and `/key/unblock`, the query of `/key/info`.
#[derive(Debug, Deserialize)]
pub struct KeyRef {
    pub key: Option<String>,
}

impl KeyRef {
    fn required(self) -> Result<String, ApiError> {
        self.key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::invalid(Some("key"), "`key` is required."))
    }
}

pub async fn generate(
    State(state): State<Arc<AppState>>,
    body: JsonBody<GenerateKeyRequest>,
) -> Result<Response, ApiError> {
    crate::guardrail_hooks::check_names(&state, body.value.guardrails.as_ref())?;
    // A chosen key equal to the master key would be taken for the master key.
    if let (Some(chosen), Some(master)) = (&body.value.key, &state.master_key) {
        if master.matches(chosen) {
            return Err(ApiError::invalid(
                Some("key"),
                "Invalid key format. A virtual key cannot be the master key.",
            ));
        }
    }
    let answer = service(&state)?.generate_key(body.value).await?;
    Ok(json(&answer))
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    body: JsonBody<UpdateKeyRequest>,
) -> Result<Response, ApiError> {
    crate::guardrail_hooks::check_names(&state, body.value.guardrails.as_ref())?;
    let answer = service(&state)?.update_key(body.value).await?;
    Ok(json(&answer))
}

pub async fn info(
    State(state): State<Arc<AppState>>,
    query: Result<Query<KeyRef>, QueryRejection>,
) -> Result<Response, ApiError> {
    let keys = service(&state)?;
    let answer = keys.key_info(&query_params(query)?.required()?).await?;
    Ok(json(&answer))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListKeysQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let answer = service(&state)?.list_keys(query_params(query)?).await?;
    Ok(json(&answer))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    body: JsonBody<DeleteKeysRequest>,
) -> Result<Response, ApiError> {
    let answer = service(&state)?.delete_keys(body.value).await?;
    Ok(json(&answer))
}

pub async fn regenerate(
    State(state): State<Arc<AppState>>,
    body: JsonBody<RegenerateKeyRequest>,
) -> Result<Response, ApiError> {
    let answer = service(&state)?.regenerate_key(body.value).await?;
    Ok(json(&answer))
}

/// `POST /key/{key}/regenerate` (LiteLLM's path form): the key from the path, the rest of the
/// body (optional) as for `/key/regenerate`.
pub async fn regenerate_path(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_limited(&headers, body, state.max_body_bytes).await?;
    let mut request: RegenerateKeyRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        RegenerateKeyRequest::default()
    } else {
        parse_json(&bytes)?
    };
    request.key = key;
    let answer = service(&state)?.regenerate_key(request).await?;
    Ok(json(&answer))
}

pub async fn block(
    State(state): State<Arc<AppState>>,
    body: JsonBody<KeyRef>,
) -> Result<Response, ApiError> {
    set_blocked(&state, body.value, true).await
}

pub async fn unblock(
    State(state): State<Arc<AppState>>,
    body: JsonBody<KeyRef>,
) -> Result<Response, ApiError> {
    set_blocked(&state, body.value, false).await
}

async fn set_blocked(state: &AppState, key: KeyRef, blocked: bool) -> Result<Response, ApiError> {
    let keys = service(state)?;
    let answer = keys.set_blocked(&key.required()?, blocked).await?;
    Ok(json(&answer))
}
