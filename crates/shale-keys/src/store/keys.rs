//! Queries on `shale_keys`: insert, read, change, list and delete keys (by hash or alias).

use super::{insert_row, update_row, KeyRow, NewRules, RuleChanges};
use crate::KeyError;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::PgPool;
use time::OffsetDateTime;

/// A key to insert (validated by the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct NewKey {
    pub token: String,
    pub key_name: String,
    pub key_alias: Option<String>,
    pub expires: Option<OffsetDateTime>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub allowed_cache_controls: Vec<String>,
    pub model_max_budget: Map<String, Value>,
    /// The columns keys and teams share.
    pub rules: NewRules,
}

/// Changes to a key: `None` keeps a column, `Some(None)` clears it (validated by the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyChanges {
    /// A new secret: (token, key_name).
    pub new_token: Option<(String, String)>,
    pub key_alias: Option<Option<String>>,
    pub expires: Option<Option<OffsetDateTime>>,
    pub team_id: Option<Option<String>>,
    pub user_id: Option<Option<String>>,
    /// The columns keys and teams share.
    pub rules: RuleChanges,
    pub allowed_cache_controls: Option<Vec<String>>,
    pub model_max_budget: Option<Map<String, Value>>,
    /// New `metadata.tags` (empty = none) when `rules.metadata` is not replaced as a whole.
    pub tags: Option<Vec<String>>,
}

pub(crate) async fn insert(pool: &PgPool, k: NewKey) -> Result<KeyRow, KeyError> {
    let own = "token, key_name, key_alias, expires, team_id, user_id, allowed_cache_controls, \
               model_max_budget";
    insert_row(
        pool,
        "shale_keys",
        own,
        |values| {
            values
                .push_bind(k.token)
                .push_bind(k.key_name)
                .push_bind(k.key_alias)
                .push_bind(k.expires)
                .push_bind(k.team_id)
                .push_bind(k.user_id)
                .push_bind(k.allowed_cache_controls)
                .push_bind(Json(k.model_max_budget));
        },
        k.rules,
    )
    .await
}

pub(crate) async fn get(pool: &PgPool, token: &str) -> Result<Option<KeyRow>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>("SELECT * FROM shale_keys WHERE token = $1")
        .bind(token)
        .fetch_optional(pool)
        .await
}

pub(crate) async fn update(
    pool: &PgPool,
    token: &str,
    c: KeyChanges,
) -> Result<Option<KeyRow>, KeyError> {
    update_row(pool, "shale_keys", "token", token, |q| {
        if let Some((token, name)) = c.new_token {
            q.push(", token = ").push_bind(token);
            q.push(", key_name = ").push_bind(name);
        }
        if let Some(v) = c.key_alias {
            q.push(", key_alias = ").push_bind(v);
        }
        if let Some(v) = c.expires {
            q.push(", expires = ").push_bind(v);
        }
        if let Some(v) = c.team_id {
            q.push(", team_id = ").push_bind(v);
        }
        if let Some(v) = c.user_id {
            q.push(", user_id = ").push_bind(v);
        }
        if let Some(v) = c.allowed_cache_controls {
            q.push(", allowed_cache_controls = ").push_bind(v);
        }
        if let Some(v) = c.model_max_budget {
            q.push(", model_max_budget = ").push_bind(Json(v));
        }
        match c.tags {
            Some(tags) if tags.is_empty() => {
                q.push(", metadata = metadata - 'tags'");
            }
            Some(tags) => {
                q.push(", metadata = jsonb_set(metadata, '{tags}', ")
                    .push_bind(Json(tags))
                    .push(")");
            }
            None => {}
        }
        c.rules.push_sets(q);
    })
    .await
}

/// Filters of `/key/list`.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyFilter {
    pub key_alias: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
}

const FILTER: &str = "($1::text IS NULL OR key_alias = $1) AND ($2::text IS NULL OR team_id = $2) \
                      AND ($3::text IS NULL OR user_id = $3)";

/// One page of keys (oldest first) and the number of keys matching.
pub(crate) async fn list(
    pool: &PgPool,
    f: &KeyFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<KeyRow>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM shale_keys WHERE {FILTER}"))
        .bind(&f.key_alias)
        .bind(&f.team_id)
        .bind(&f.user_id)
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query_as::<_, KeyRow>(&format!(
        "SELECT * FROM shale_keys WHERE {FILTER} ORDER BY created_at, token LIMIT $4 OFFSET $5"
    ))
    .bind(&f.key_alias)
    .bind(&f.team_id)
    .bind(&f.user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok((rows, total))
}

/// Deletes keys by hash or alias; returns the deleted hashes.
pub(crate) async fn delete(
    pool: &PgPool,
    tokens: &[String],
    aliases: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM shale_keys WHERE token = ANY($1) OR key_alias = ANY($2) RETURNING token",
    )
    .bind(tokens)
    .bind(aliases)
    .fetch_all(pool)
    .await
}

/// Every key of a team.
pub(crate) async fn of_team(pool: &PgPool, team_id: &str) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>("SELECT * FROM shale_keys WHERE team_id = $1 ORDER BY created_at")
        .bind(team_id)
        .fetch_all(pool)
        .await
}
