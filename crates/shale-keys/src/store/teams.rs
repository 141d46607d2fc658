//! Queries on `shale_teams`: insert, read, change and delete teams (with their keys).

use super::{write_error, RuleChanges, TeamRow};
use crate::KeyError;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgPool, QueryBuilder};
use time::OffsetDateTime;

/// A team to insert (validated by the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct NewTeam {
    pub team_id: String,
    pub team_alias: Option<String>,
    pub models: Vec<String>,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<OffsetDateTime>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_parallel_requests: Option<i64>,
    pub metadata: Map<String, Value>,
    pub blocked: bool,
    pub guardrails: Vec<String>,
}

/// Changes to a team: `None` keeps a column, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub(crate) struct TeamChanges {
    pub team_alias: Option<Option<String>>,
    /// The columns keys and teams share.
    pub rules: RuleChanges,
}

pub(crate) async fn insert(pool: &PgPool, t: NewTeam) -> Result<TeamRow, KeyError> {
    sqlx::query_as::<_, TeamRow>(
        "INSERT INTO shale_teams (team_id, team_alias, models, max_budget, budget_duration, \
         budget_reset_at, rpm_limit, tpm_limit, max_parallel_requests, metadata, blocked, guardrails) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *",
    )
    .bind(t.team_id)
    .bind(t.team_alias)
    .bind(t.models)
    .bind(t.max_budget)
    .bind(t.budget_duration)
    .bind(t.budget_reset_at)
    .bind(t.rpm_limit)
    .bind(t.tpm_limit)
    .bind(t.max_parallel_requests)
    .bind(Json(t.metadata))
    .bind(t.blocked)
    .bind(t.guardrails)
    .fetch_one(pool)
    .await
    .map_err(write_error)
}

pub(crate) async fn get(pool: &PgPool, team_id: &str) -> Result<Option<TeamRow>, sqlx::Error> {
    sqlx::query_as::<_, TeamRow>("SELECT * FROM shale_teams WHERE team_id = $1")
        .bind(team_id)
        .fetch_optional(pool)
        .await
}

pub(crate) async fn update(
    pool: &PgPool,
    team_id: &str,
    c: TeamChanges,
) -> Result<Option<TeamRow>, KeyError> {
    let mut q = QueryBuilder::new("UPDATE shale_teams SET updated_at = now()");
    if let Some(v) = c.team_alias {
        q.push(", team_alias = ").push_bind(v);
    }
    c.rules.push_sets(&mut q);
    q.push(" WHERE team_id = ")
        .push_bind(team_id.to_string())
        .push(" RETURNING *");
    q.build_query_as::<TeamRow>()
        .fetch_optional(pool)
        .await
        .map_err(write_error)
}

/// Deletes teams and their keys in one transaction; returns (deleted team ids, deleted key hashes).
pub(crate) async fn delete(
    pool: &PgPool,
    team_ids: &[String],
) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let keys: Vec<String> =
        sqlx::query_scalar("DELETE FROM shale_keys WHERE team_id = ANY($1) RETURNING token")
            .bind(team_ids)
            .fetch_all(&mut *tx)
            .await?;
    let teams: Vec<String> =
        sqlx::query_scalar("DELETE FROM shale_teams WHERE team_id = ANY($1) RETURNING team_id")
            .bind(team_ids)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok((teams, keys))
}
