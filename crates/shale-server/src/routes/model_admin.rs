//! The model API, LiteLLM-compatible and master key only (`auth::require_master_key`):
//! `POST /model/new`, `POST /model/update` (also `PATCH /model/{model_id}/update`),
//! `POST /model/delete`; `GET /model/info` (also `/v1/model/info`), `GET /v2/model/info`,
//! `GET /model_group/info`.
//!
//! A write is validated exactly like a `model_list` entry of the config file
//! (`ModelEntry::from_json`, then the deployment is resolved as at start-up) before anything is
//! stored; stored; applied to this replica's live table before the answer (read-your-writes),
//! and announced to the others (`shale-models`). Deployments of the config file are read-only
//! here. Secrets are masked in every answer. Handlers are thin: JSON shapes are
//! `shale_models::api`, storage is `shale_models::ModelStore`.

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::live::{stored_models, Live};
use crate::routes::keys::{json, query_params};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use shale_config::{ConfigError, ModelEntry};
use shale_models::api::{self, Draft};
use shale_models::{ModelError, ModelStore, StoredRow};
use std::sync::Arc;

fn store(state: &AppState) -> Result<&Arc<ModelStore>, ApiError> {
    state
        .models_store
        .as_ref()
        .ok_or(ApiError::Model(ModelError::NotEnabled))
}

fn live(state: &AppState) -> Result<Arc<Live>, ApiError> {
    state
        .live
        .upgrade()
        .and_then(|table| table.as_any().downcast::<Live>().ok())
        .ok_or_else(|| ApiError::Internal("the model table is not live".into()))
}

/// A config error about the deployment at `index`, as the API's 400 (the same message, with the
/// field path relative to the request body).
fn invalid(err: ConfigError, index: usize) -> ModelError {
    let prefix = format!("model_list[{index}]");
    let relative = |path: &str| {
        path.strip_prefix(&prefix)
            .map(|p| p.trim_start_matches('.').to_string())
            .unwrap_or_else(|| path.to_string())
    };
    match err {
        ConfigError::Invalid { path, message } => {
            let param = relative(&path);
            ModelError::invalid(Some(&param), format!("{param}: {message}"))
        }
        ConfigError::MissingEnv { variable, path } => ModelError::invalid(
            Some(&relative(&path)),
            format!(
                "environment variable {variable} is not set (referenced by {})",
                relative(&path)
            ),
        ),
        ConfigError::Model { message, .. } => ModelError::invalid(Some("litellm_params"), message),
        other => ModelError::invalid(None, other.to_string()),
    }
}

/// Reads the draft like a `model_list` entry at the position it would take, and resolves its
/// deployment as start-up would; returns the findings `shale check` would print for it.
async fn validate(state: &AppState, draft: &Draft) -> Result<Vec<String>, ApiError> {
    let index = state.config.model_list.len();
    let env = |name: &str| std::env::var(name).ok();
    let (entry, findings) =
        ModelEntry::from_json(index, draft.entry_json(), &env).map_err(|e| invalid(e, index))?;
    if let Err(err) =
        crate::state::resolve_deployment(&state.bedrock, &state.config, &entry, None).await
    {
        return Err(ModelError::invalid(Some("litellm_params"), err.to_string()).into());
    }
    let prefix = format!("model_list[{index}].");
    Ok(findings
        .iter()
        .map(|f| f.to_string().replacen(&prefix, "", 1))
        .collect())
}

/// Whether a deployment of the config file has this id.
fn is_config_model(state: &AppState, id: &str) -> bool {
    state
        .config
        .model_list
        .iter()
        .zip(state.router.deployments())
        .any(|(entry, d)| {
            &*d.id == id && entry.model_info.get("db_model") != Some(&Value::Bool(true))
        })
}

/// Applies the store's list to this replica's live table now; returns the stored row `id`.
async fn refresh(
    state: &AppState,
    store: &ModelStore,
    id: Option<&str>,
) -> Result<Option<StoredRow>, ApiError> {
    let rows = store.list().await?;
    if let Err(err) = live(state)?.set_stored(stored_models(&rows)).await {
        return Err(ApiError::Internal(format!(
            "The change was saved, but this replica cannot serve the new model table ({err}); the previous table is kept."
        )));
    }
    Ok(id.and_then(|id| rows.into_iter().find(|r| r.model_id == id)))
}

/// The stored row after a change, with the validation findings. No row: a concurrent
/// `/model/delete` removed the model between this change and the re-read, so it is not found
/// (404) — a race between two clients, not the gateway's fault.
fn answer(id: &str, row: Option<StoredRow>, findings: Vec<String>) -> Result<Response, ApiError> {
    let row = row.ok_or_else(|| ApiError::Model(ModelError::NotFound(id.to_string())))?;
    let mut body = api::row_answer(&row);
    if !findings.is_empty() {
        body["findings"] = json!(findings);
    }
    Ok(json(&body))
}

/// `POST /model/new`.
pub async fn new(
    State(state): State<Arc<AppState>>,
    body: JsonBody<Value>,
) -> Result<Response, ApiError> {
    let store = store(&state)?;
    let draft = api::new_model(body.value)?;
    if is_config_model(&state, &draft.model_id) {
        return Err(ModelError::Duplicate(draft.model_id).into());
    }
    let findings = validate(&state, &draft).await?;
    store.insert(&draft).await?;
    tracing::info!(model_id = %draft.model_id, model_name = %draft.model_name, "model added");
    let row = refresh(&state, store, Some(&draft.model_id)).await?;
    answer(&draft.model_id, row, findings)
}

/// `POST /model/update`: `model_info.id` (or `model_id`) names the model; a partial update.
pub async fn update(
    State(state): State<Arc<AppState>>,
    body: JsonBody<Value>,
) -> Result<Response, ApiError> {
    let id = api::update_id(&body.value)?;
    update_model(&state, &id, body.value).await
}

/// `PATCH /model/{model_id}/update`.
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    body: JsonBody<Value>,
) -> Result<Response, ApiError> {
    update_model(&state, &model_id, body.value).await
}

async fn update_model(state: &AppState, id: &str, body: Value) -> Result<Response, ApiError> {
    let store = store(state)?;
    let Some(existing) = store.get(id).await? else {
        return Err(not_stored(state, id).into());
    };
    let draft = api::apply_update(&existing, body)?;
    let findings = validate(state, &draft).await?;
    store.update(&draft).await?;
    tracing::info!(model_id = %draft.model_id, model_name = %draft.model_name, "model updated");
    let row = refresh(state, store, Some(id)).await?;
    answer(id, row, findings)
}

/// Why `id` cannot be changed: a config deployment (read-only), or nothing has it.
fn not_stored(state: &AppState, id: &str) -> ModelError {
    if is_config_model(state, id) {
        ModelError::ReadOnly(id.to_string())
    } else {
        ModelError::NotFound(id.to_string())
    }
}

#[derive(Debug, Deserialize)]
pub struct DeleteModel {
    id: Option<Value>,
}

/// `POST /model/delete` with `{"id": "…"}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    body: JsonBody<DeleteModel>,
) -> Result<Response, ApiError> {
    let store = store(&state)?;
    let id = match body.value.id {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(
                ModelError::invalid(Some("id"), "`id` (the model's id) is required.").into(),
            )
        }
    };
    match store.delete(&id).await {
        Err(ModelError::NotFound(_)) => return Err(not_stored(&state, &id).into()),
        other => other?,
    }
    tracing::info!(model_id = %id, "model deleted");
    refresh(&state, store, None).await?;
    Ok(json(
        &json!({"message": format!("Model: {id} deleted successfully")}),
    ))
}

/// Every deployment of this snapshot as a `/model/info` item, in `model_list` order.
fn items(state: &AppState) -> Vec<(String, Value)> {
    state
        .config
        .model_list
        .iter()
        .zip(state.router.deployments())
        .map(|(entry, d)| {
            let db = entry.model_info.get("db_model") == Some(&Value::Bool(true));
            (d.id.to_string(), api::info_item(entry, &d.id, db))
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct InfoQuery {
    litellm_model_id: Option<String>,
}

/// `GET /model/info` (`?litellm_model_id=` for one).
pub async fn info(
    State(state): State<Arc<AppState>>,
    query: Result<Query<InfoQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let data: Vec<Value> = items(&state)
        .into_iter()
        .filter(|(id, _)| q.litellm_model_id.as_deref().is_none_or(|want| want == id))
        .map(|(_, item)| item)
        .collect();
    Ok(json(&json!({"data": data})))
}

#[derive(Debug, Deserialize)]
pub struct InfoV2Query {
    model: Option<String>,
    #[serde(rename = "modelId")]
    model_id: Option<String>,
    search: Option<String>,
    page: Option<usize>,
    size: Option<usize>,
}

/// `GET /v2/model/info`: filters (`model`, `modelId`, `search`) and pages (`page`, `size`).
pub async fn info_v2(
    State(state): State<Arc<AppState>>,
    query: Result<Query<InfoV2Query>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let search = q.search.as_deref().map(str::to_lowercase);
    let data: Vec<Value> = items(&state)
        .into_iter()
        .filter(|(id, item)| {
            let name = item["model_name"].as_str().unwrap_or("");
            q.model.as_deref().is_none_or(|m| m == name)
                && q.model_id.as_deref().is_none_or(|m| m == id)
                && search
                    .as_deref()
                    .is_none_or(|s| name.to_lowercase().contains(s))
        })
        .map(|(_, item)| item)
        .collect();
    Ok(json(&api::page(
        data,
        q.page.unwrap_or(1),
        q.size.unwrap_or(50),
    )))
}

#[derive(Debug, Deserialize)]
pub struct GroupQuery {
    model_group: Option<String>,
}

/// `GET /model_group/info`: one item per `model_name` (LiteLLM's `ModelGroupInfo`).
pub async fn group_info(
    State(state): State<Arc<AppState>>,
    query: Result<Query<GroupQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let data: Vec<Value> = state
        .config
        .model_names()
        .into_iter()
        .filter(|name| q.model_group.as_deref().is_none_or(|g| g == *name))
        .filter_map(|name| Some(group_item(&state, name, state.models.get(name)?)))
        .collect();
    Ok(json(&json!({"data": data})))
}

fn group_item(state: &AppState, name: &str, group: &crate::state::ModelGroup) -> Value {
    let first = &group.deployments[0];
    let caps = &first.caps;
    let sum = |f: fn(&crate::state::Deployment) -> Option<u64>| -> Option<u64> {
        let values: Vec<u64> = group.deployments.iter().filter_map(|d| f(d)).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let prices = state
        .telemetry
        .deployment(first.entry.index)
        .and_then(|d| d.prices.as_ref());
    let mode = first.entry.mode().map(str::to_string).unwrap_or_else(|| {
        if first.chat_api.is_some() {
            "chat".into()
        } else {
            "embedding".into()
        }
    });
    let info = &first.entry.model_info;
    let number = |key: &str| info.get(key).and_then(Value::as_f64);
    // `model_info` flags win; otherwise what shale knows (tools on every chat deployment).
    let flag = |key: &str| info.get(key).and_then(Value::as_bool);
    let mut params = vec![
        "stream",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
    ];
    if caps.supports_thinking
        || caps.supports_reasoning_effort_field
        || caps.supports_reasoning_config
    {
        params.push("reasoning_effort");
    }
    json!({
        "model_group": name,
        "providers": ["bedrock"],
        "max_input_tokens": number("max_input_tokens"),
        "max_output_tokens": number("max_output_tokens").or_else(|| number("max_tokens")),
        "input_cost_per_token": prices.map(|p| p.input),
        "output_cost_per_token": prices.map(|p| p.output),
        "mode": mode,
        "tpm": sum(|d| d.entry.params.tpm),
        "rpm": sum(|d| d.entry.params.rpm),
        "supports_parallel_function_calling": flag("supports_parallel_function_calling").unwrap_or(first.chat_api.is_some()),
        "supports_vision": flag("supports_vision").unwrap_or(false),
        "supports_function_calling": flag("supports_function_calling").unwrap_or(first.chat_api.is_some()),
        "supports_reasoning": caps.supports_thinking || caps.supports_reasoning_effort_field || caps.supports_reasoning_config,
        "supported_openai_params": params,
    })
}
