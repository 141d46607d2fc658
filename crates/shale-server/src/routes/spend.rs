//! `GET /spend/logs?api_key=&start_date=&end_date=` (LiteLLM-compatible): one row per request
//! made with a virtual key — request id, key hash, alias, team, model, deployment, tokens,
//! spend, start/end, status; never prompt text. `GET /spend/logs/ui` (one filtered page of it)
//! and `GET /global/spend/report` (spend per day or hour per team, with the key/model breakdown),
//! as LiteLLM's UI reads them. Master key only.
//!
//! Must not: read Postgres itself (that is `shale-keys`).

use crate::error::ApiError;
use crate::routes::keys::{json, query_params, service};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use shale_keys::{SpendLogsPageQuery, SpendLogsQuery, SpendReportQuery};
use std::sync::Arc;

pub async fn logs(
    State(state): State<Arc<AppState>>,
    query: Result<Query<SpendLogsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let rows = service(&state)?.spend_logs(query_params(query)?).await?;
    Ok(json(&rows))
}

pub async fn logs_page(
    State(state): State<Arc<AppState>>,
    query: Result<Query<SpendLogsPageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = service(&state)?
        .spend_logs_page(query_params(query)?)
        .await?;
    Ok(json(&page))
}

pub async fn report(
    State(state): State<Arc<AppState>>,
    query: Result<Query<SpendReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let report = service(&state)?.spend_report(query_params(query)?).await?;
    Ok(json(&report))
}
