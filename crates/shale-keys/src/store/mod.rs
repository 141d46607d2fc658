//! Postgres: the rows of `shale_keys`, `shale_teams` and `shale_spend_logs`, and every query the
//! service runs (runtime-checked `sqlx::query*` with bound values; no SQL built from input text).
//! Knows nothing about caching, limits or HTTP. Only hashes are ever written, never clear keys.

pub(crate) mod keys;
pub(crate) mod report;
pub(crate) mod spend;
pub(crate) mod teams;

use crate::api::{KeyInfo, TeamResponse};
use crate::KeyError;
use serde_json::{Map, Value};
use sqlx::query_builder::Separated;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;

/// Embedded schema migrations (`crates/shale-keys/migrations`).
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The columns keys and teams share in an update; `None` leaves a column as it is (and
/// `Some(None)` clears a nullable one).
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleChanges {
    pub models: Option<Vec<String>>,
    pub max_budget: Option<Option<f64>>,
    pub budget_duration: Option<Option<String>>,
    pub budget_reset_at: Option<Option<OffsetDateTime>>,
    pub rpm_limit: Option<Option<i64>>,
    pub tpm_limit: Option<Option<i64>>,
    pub max_parallel_requests: Option<Option<i64>>,
    pub metadata: Option<Map<String, Value>>,
    pub blocked: Option<bool>,
    pub spend: Option<f64>,
    pub guardrails: Option<Vec<String>>,
}

impl RuleChanges {
    /// Appends `, column = $n` for every change to an `UPDATE … SET` being built.
    pub(crate) fn push_sets(self, q: &mut QueryBuilder<'_, Postgres>) {
        if let Some(v) = self.models {
            q.push(", models = ").push_bind(v);
        }
        if let Some(v) = self.max_budget {
            q.push(", max_budget = ").push_bind(v);
        }
        if let Some(v) = self.budget_duration {
            q.push(", budget_duration = ").push_bind(v);
        }
        if let Some(v) = self.budget_reset_at {
            q.push(", budget_reset_at = ").push_bind(v);
        }
        if let Some(v) = self.rpm_limit {
            q.push(", rpm_limit = ").push_bind(v);
        }
        if let Some(v) = self.tpm_limit {
            q.push(", tpm_limit = ").push_bind(v);
        }
        if let Some(v) = self.max_parallel_requests {
            q.push(", max_parallel_requests = ").push_bind(v);
        }
        if let Some(v) = self.metadata {
            q.push(", metadata = ").push_bind(Json(v));
        }
        if let Some(v) = self.blocked {
            q.push(", blocked = ").push_bind(v);
        }
        if let Some(v) = self.spend {
            q.push(", spend = ").push_bind(v);
        }
        if let Some(v) = self.guardrails {
            q.push(", guardrails = ").push_bind(v);
        }
    }
}

/// The columns keys and teams share, for a new row (validated by the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct NewRules {
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

impl NewRules {
    /// Their column names, in the order [`NewRules::push_values`] binds them.
    pub(crate) const COLUMNS: &'static str = "models, max_budget, budget_duration, \
        budget_reset_at, rpm_limit, tpm_limit, max_parallel_requests, metadata, blocked, guardrails";

    /// Binds the values of [`NewRules::COLUMNS`] into an `INSERT … VALUES (…)` being built.
    pub(crate) fn push_values(self, values: &mut Separated<'_, '_, Postgres, &'static str>) {
        values
            .push_bind(self.models)
            .push_bind(self.max_budget)
            .push_bind(self.budget_duration)
            .push_bind(self.budget_reset_at)
            .push_bind(self.rpm_limit)
            .push_bind(self.tpm_limit)
            .push_bind(self.max_parallel_requests)
            .push_bind(Json(self.metadata))
            .push_bind(self.blocked)
            .push_bind(self.guardrails);
    }
}

/// The columns keys and teams share, as stored (with the spend so far).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StoredRules {
    pub models: Vec<String>,
    pub max_budget: Option<f64>,
    pub spend: f64,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<OffsetDateTime>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_parallel_requests: Option<i64>,
    pub metadata: Json<Map<String, Value>>,
    pub blocked: bool,
    pub guardrails: Vec<String>,
}

/// A row of `shale_keys`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub token: String,
    pub key_name: String,
    pub key_alias: Option<String>,
    pub expires: Option<OffsetDateTime>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub allowed_cache_controls: Vec<String>,
    pub model_max_budget: Json<Map<String, Value>>,
    #[sqlx(flatten)]
    pub rules: StoredRules,
}

/// A row of `shale_teams`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TeamRow {
    pub team_id: String,
    pub team_alias: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    #[sqlx(flatten)]
    pub rules: StoredRules,
}

/// Inserts a row: `INSERT INTO <table> (<own columns>, <rule columns>) VALUES (…) RETURNING *`,
/// `own` binding the values of `own_columns`.
pub(crate) async fn insert_row<R>(
    pool: &sqlx::PgPool,
    table: &str,
    own_columns: &str,
    own: impl FnOnce(&mut Separated<'_, '_, Postgres, &'static str>),
    rules: NewRules,
) -> Result<R, KeyError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut q = QueryBuilder::new("INSERT INTO ");
    q.push(table)
        .push(" (")
        .push(own_columns)
        .push(", ")
        .push(NewRules::COLUMNS)
        .push(") VALUES (");
    let mut values = q.separated(", ");
    own(&mut values);
    rules.push_values(&mut values);
    q.push(") RETURNING *");
    q.build_query_as::<R>()
        .fetch_one(pool)
        .await
        .map_err(write_error)
}

/// Updates a row: `UPDATE <table> SET updated_at = now(), <sets> WHERE <id_column> = id
/// RETURNING *`; None when no row has that id.
pub(crate) async fn update_row<R>(
    pool: &sqlx::PgPool,
    table: &str,
    id_column: &str,
    id: &str,
    sets: impl FnOnce(&mut QueryBuilder<'_, Postgres>),
) -> Result<Option<R>, KeyError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut q = QueryBuilder::new("UPDATE ");
    q.push(table).push(" SET updated_at = now()");
    sets(&mut q);
    q.push(" WHERE ")
        .push(id_column)
        .push(" = ")
        .push_bind(id.to_string())
        .push(" RETURNING *");
    q.build_query_as::<R>()
        .fetch_optional(pool)
        .await
        .map_err(write_error)
}

/// A stored limit (BIGINT) as the API's unsigned number.
pub(crate) fn limit(v: Option<i64>) -> Option<u64> {
    v.map(|n| n.max(0) as u64)
}

/// An API limit as a BIGINT.
pub(crate) fn bigint(v: Option<u64>) -> Option<i64> {
    v.map(|n| n.min(i64::MAX as u64) as i64)
}

/// The tags a key's metadata holds (`metadata.tags`, where LiteLLM keeps them): its strings.
pub(crate) fn tags_of(metadata: &Map<String, Value>) -> Vec<String> {
    match metadata.get("tags") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

impl From<KeyRow> for KeyInfo {
    fn from(r: KeyRow) -> KeyInfo {
        let rules = r.rules;
        KeyInfo {
            tags: tags_of(&rules.metadata.0),
            model_max_budget: r.model_max_budget.0,
            token: r.token,
            key_name: r.key_name,
            key_alias: r.key_alias,
            spend: rules.spend,
            max_budget: rules.max_budget,
            budget_duration: rules.budget_duration,
            budget_reset_at: rules.budget_reset_at,
            expires: r.expires,
            models: rules.models,
            rpm_limit: limit(rules.rpm_limit),
            tpm_limit: limit(rules.tpm_limit),
            max_parallel_requests: limit(rules.max_parallel_requests),
            metadata: rules.metadata.0,
            team_id: r.team_id,
            user_id: r.user_id,
            blocked: rules.blocked,
            created_at: r.created_at,
            updated_at: r.updated_at,
            guardrails: rules.guardrails,
            allowed_cache_controls: r.allowed_cache_controls,
        }
    }
}

impl From<TeamRow> for TeamResponse {
    fn from(r: TeamRow) -> TeamResponse {
        let rules = r.rules;
        TeamResponse {
            team_id: r.team_id,
            team_alias: r.team_alias,
            models: rules.models,
            spend: rules.spend,
            max_budget: rules.max_budget,
            budget_duration: rules.budget_duration,
            budget_reset_at: rules.budget_reset_at,
            rpm_limit: limit(rules.rpm_limit),
            tpm_limit: limit(rules.tpm_limit),
            max_parallel_requests: limit(rules.max_parallel_requests),
            metadata: rules.metadata.0,
            blocked: rules.blocked,
            created_at: r.created_at,
            updated_at: r.updated_at,
            guardrails: rules.guardrails,
        }
    }
}

/// The refusal of a caller-chosen `key` that is already stored.
pub(crate) const DUPLICATE_KEY: &str =
    "Key already exists: a virtual key with this value is already stored; choose another key";

/// Maps a failed write: constraint violations are the caller's mistake (400), the rest is the
/// database being unavailable (503).
pub(crate) fn write_error(e: sqlx::Error) -> KeyError {
    if let sqlx::Error::Database(d) = &e {
        match d.code().as_deref() {
            Some("23505") => {
                return KeyError::InvalidRequest(match d.constraint() {
                    Some(c) if c.contains("alias") => "key_alias is already in use".into(),
                    Some("shale_keys_pkey") => DUPLICATE_KEY.into(),
                    Some(c) if c.contains("team") => "team_id is already in use".into(),
                    _ => "already exists".into(),
                })
            }
            Some("23503") => {
                return KeyError::InvalidRequest(
                    "team_id does not exist (create it with /team/new)".into(),
                )
            }
            Some("23514") => return KeyError::InvalidRequest("invalid value".into()),
            _ => {}
        }
    }
    KeyError::db(&e)
}
