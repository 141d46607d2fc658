//! The admin API for teams, LiteLLM-compatible: `POST /team/new`, `/team/update`,
//! `/team/delete`; `GET /team/info?team_id=`, `GET /team/list`. Master key only. A key in a team gets the tighter
//! of the key's and the team's models, budget and limits (decided by `shale-keys`).
//!
//! Must not: hold team logic or SQL (that is `shale-keys`).

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::routes::keys::{json, query_params, service};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use shale_keys::{DeleteTeamsRequest, NewTeamRequest, UpdateTeamRequest};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct TeamRef {
    pub team_id: Option<String>,
}

pub async fn new(
    State(state): State<Arc<AppState>>,
    body: JsonBody<NewTeamRequest>,
) -> Result<Response, ApiError> {
    crate::guardrail_hooks::check_names(&state, body.value.guardrails.as_ref())?;
    let answer = service(&state)?.new_team(body.value).await?;
    Ok(json(&answer))
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    body: JsonBody<UpdateTeamRequest>,
) -> Result<Response, ApiError> {
    crate::guardrail_hooks::check_names(&state, body.value.guardrails.as_ref())?;
    let answer = service(&state)?.update_team(body.value).await?;
    Ok(json(&answer))
}

pub async fn info(
    State(state): State<Arc<AppState>>,
    query: Result<Query<TeamRef>, QueryRejection>,
) -> Result<Response, ApiError> {
    let keys = service(&state)?;
    let team_id = query_params(query)?
        .team_id
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid(Some("team_id"), "`team_id` is required."))?;
    let answer = keys.team_info(&team_id).await?;
    Ok(json(&answer))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    body: JsonBody<DeleteTeamsRequest>,
) -> Result<Response, ApiError> {
    let answer = service(&state)?.delete_teams(body.value).await?;
    Ok(json(&answer))
}

/// `GET /team/list`: every team.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let answer = service(&state)?.list_teams().await?;
    Ok(json(&answer))
}
