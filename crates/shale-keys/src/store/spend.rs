//! Spend in Postgres: one transaction per batch (budget resets, spend increments per key and
//! team, spend-log rows), and the `/spend/logs` query.

use crate::api::{GuardrailInfo, SpendLogRow};
use crate::error::Scope;
use sqlx::types::Json;
use sqlx::{PgPool, QueryBuilder};
use time::OffsetDateTime;

/// A budget period rolled over: spend back to 0 and the next reset time, unless another replica
/// already did it (the row's reset time is no longer `old`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reset {
    pub scope: Scope,
    pub id: String,
    pub old: OffsetDateTime,
    pub new: OffsetDateTime,
}

/// Spend to add to a key, a team or a key's model budget, for the budget period ending at
/// `period` (dropped if the row is in a later period by the time it is written).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Delta {
    pub scope: Scope,
    pub id: String,
    pub period: Option<OffsetDateTime>,
    pub spend: f64,
}

/// One request's row of `shale_spend_logs`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogRow {
    pub request_id: String,
    pub api_key: String,
    pub key_alias: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub model: String,
    pub model_id: String,
    pub call_type: &'static str,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub spend: f64,
    pub start_time: OffsetDateTime,
    pub end_time: OffsetDateTime,
    pub status_code: i32,
    pub guardrail_information: Vec<GuardrailInfo>,
    pub cache_hit: bool,
    pub cache_key: Option<String>,
    /// The key's tags (LiteLLM's `request_tags`).
    pub request_tags: Vec<String>,
}

/// Rows per INSERT statement (20 binds each, well under Postgres' 65 535).
const ROWS_PER_INSERT: usize = 1000;

/// The table and id column of a key's or a team's spend (`None` for a model budget, which has
/// its own table).
fn table(scope: Scope) -> Option<(&'static str, &'static str)> {
    match scope {
        Scope::Key => Some(("shale_keys", "token")),
        Scope::Team => Some(("shale_teams", "team_id")),
        Scope::Model => None,
    }
}

/// A model budget's id (`<key hash>/<model>`) as (token, model).
fn model_scope(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
}

/// Writes one batch atomically: resets, then increments, then log rows.
pub(crate) async fn apply(
    pool: &PgPool,
    resets: &[Reset],
    deltas: &[Delta],
    rows: &[LogRow],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for r in resets {
        // A model budget's new period starts from zero by itself (see the upsert below).
        let Some((t, id)) = table(r.scope) else {
            continue;
        };
        sqlx::query(&format!(
            "UPDATE {t} SET spend = 0, budget_reset_at = $2 WHERE {id} = $1 AND budget_reset_at = $3"
        ))
        .bind(&r.id)
        .bind(r.new)
        .bind(r.old)
        .execute(&mut *tx)
        .await?;
    }
    for d in deltas {
        match table(d.scope) {
            Some((t, id)) => {
                sqlx::query(&format!(
                    "UPDATE {t} SET spend = spend + $2 WHERE {id} = $1 \
                     AND budget_reset_at IS NOT DISTINCT FROM $3"
                ))
                .bind(&d.id)
                .bind(d.spend)
                .bind(d.period)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                let (Some((token, model)), Some(period)) = (model_scope(&d.id), d.period) else {
                    continue;
                };
                // A later period replaces the row's; an earlier one (a late write) is dropped.
                // A key deleted meanwhile has no row to add to (the foreign key): nothing added.
                sqlx::query(
                    "INSERT INTO shale_key_model_spend (token, model, period_end, spend) \
                     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM shale_keys WHERE token = $1) \
                     ON CONFLICT (token, model) DO UPDATE SET \
                     spend = CASE \
                       WHEN shale_key_model_spend.period_end = EXCLUDED.period_end \
                         THEN shale_key_model_spend.spend + EXCLUDED.spend \
                       WHEN shale_key_model_spend.period_end < EXCLUDED.period_end \
                         THEN EXCLUDED.spend \
                       ELSE shale_key_model_spend.spend END, \
                     period_end = GREATEST(shale_key_model_spend.period_end, EXCLUDED.period_end)",
                )
                .bind(token)
                .bind(model)
                .bind(period)
                .bind(d.spend)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::new(
            "INSERT INTO shale_spend_logs (request_id, api_key, key_alias, team_id, user_id, model, \
             model_id, call_type, prompt_tokens, completion_tokens, cache_read_input_tokens, \
             cache_creation_input_tokens, spend, start_time, end_time, status_code, \
             guardrail_information, cache_hit, cache_key, request_tags) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.request_id)
                .push_bind(&r.api_key)
                .push_bind(&r.key_alias)
                .push_bind(&r.team_id)
                .push_bind(&r.user_id)
                .push_bind(&r.model)
                .push_bind(&r.model_id)
                .push_bind(r.call_type)
                .push_bind(r.prompt_tokens)
                .push_bind(r.completion_tokens)
                .push_bind(r.cache_read_input_tokens)
                .push_bind(r.cache_creation_input_tokens)
                .push_bind(r.spend)
                .push_bind(r.start_time)
                .push_bind(r.end_time)
                .push_bind(r.status_code)
                .push_bind(Json(&r.guardrail_information))
                .push_bind(r.cache_hit)
                .push_bind(&r.cache_key)
                .push_bind(Json(&r.request_tags));
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Filters of `/spend/logs` (already normalised by the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct LogFilter {
    pub api_key: Option<String>,
    pub request_id: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
    pub limit: i64,
}

/// A `shale_spend_logs` row as read back ([`COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    request_id: String,
    call_type: String,
    api_key: String,
    key_alias: Option<String>,
    team_id: Option<String>,
    user_id: Option<String>,
    model: String,
    model_id: String,
    spend: f64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cache_read_input_tokens: i64,
    cache_creation_input_tokens: i64,
    start_time: OffsetDateTime,
    end_time: OffsetDateTime,
    status_code: i32,
    guardrail_information: Json<Vec<GuardrailInfo>>,
    cache_hit: bool,
    cache_key: Option<String>,
    request_tags: Json<Vec<String>>,
}

/// Newest first.
pub(crate) async fn logs(pool: &PgPool, f: &LogFilter) -> Result<Vec<SpendLogRow>, sqlx::Error> {
    let rows = sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS} FROM shale_spend_logs \
         WHERE ($1::text IS NULL OR api_key = $1) AND ($2::text IS NULL OR request_id = $2) \
         AND ($3::text IS NULL OR team_id = $3) AND ($4::text IS NULL OR user_id = $4) \
         AND ($5::timestamptz IS NULL OR start_time >= $5) \
         AND ($6::timestamptz IS NULL OR start_time < $6) \
         ORDER BY start_time DESC, id DESC LIMIT $7"
    ))
    .bind(&f.api_key)
    .bind(&f.request_id)
    .bind(&f.team_id)
    .bind(&f.user_id)
    .bind(f.start)
    .bind(f.end)
    .bind(f.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The columns [`Row`] reads.
pub(crate) const COLUMNS: &str = "request_id, call_type, api_key, key_alias, team_id, user_id, \
     model, model_id, spend, prompt_tokens, completion_tokens, cache_read_input_tokens, \
     cache_creation_input_tokens, start_time, end_time, status_code, guardrail_information, \
     cache_hit, cache_key, request_tags";

impl From<Row> for SpendLogRow {
    fn from(r: Row) -> SpendLogRow {
        let n = |v: i64| v.max(0) as u64;
        SpendLogRow {
            total_tokens: n(r.prompt_tokens) + n(r.completion_tokens),
            request_id: r.request_id,
            call_type: r.call_type,
            api_key: r.api_key,
            key_alias: r.key_alias,
            team_id: r.team_id,
            user: r.user_id,
            model: r.model,
            model_id: r.model_id,
            spend: r.spend,
            prompt_tokens: n(r.prompt_tokens),
            completion_tokens: n(r.completion_tokens),
            cache_read_input_tokens: n(r.cache_read_input_tokens),
            cache_creation_input_tokens: n(r.cache_creation_input_tokens),
            start_time: r.start_time,
            end_time: r.end_time,
            status_code: r.status_code.clamp(0, u16::MAX as i32) as u16,
            status: if (200..300).contains(&r.status_code) {
                "success".into()
            } else {
                "failure".into()
            },
            guardrail_information: r.guardrail_information.0,
            cache_hit: if r.cache_hit { "True" } else { "False" }.into(),
            cache_key: r.cache_key.unwrap_or_default(),
            request_tags: r.request_tags.0,
        }
    }
}

/// A key's spend on each of its budgeted models: (model, period end, spend).
pub(crate) async fn model_spend(
    pool: &PgPool,
    token: &str,
) -> Result<Vec<(String, OffsetDateTime, f64)>, sqlx::Error> {
    sqlx::query_as("SELECT model, period_end, spend FROM shale_key_model_spend WHERE token = $1")
        .bind(token)
        .fetch_all(pool)
        .await
}
