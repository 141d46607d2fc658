//! Read-only report queries: every team, spend summed per time bucket / team / key / model, and
//! one filtered page of the spend log. Bound values only; the bucket unit is one of two fixed
//! words. Knows nothing about HTTP or the answer's JSON shape (the service builds that).

use super::spend::{Row, COLUMNS};
use super::TeamRow;
use crate::api::SpendLogRow;
use sqlx::PgPool;
use time::OffsetDateTime;

/// Every team, oldest first.
pub(crate) async fn teams(pool: &PgPool) -> Result<Vec<TeamRow>, sqlx::Error> {
    sqlx::query_as::<_, TeamRow>("SELECT * FROM shale_teams ORDER BY created_at, team_id")
        .fetch_all(pool)
        .await
}

/// Spend summed per (bucket, team, key, model), buckets in order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SpendSum {
    pub bucket: OffsetDateTime,
    pub team_id: Option<String>,
    pub team_alias: Option<String>,
    pub api_key: String,
    pub key_alias: Option<String>,
    pub model: String,
    pub spend: f64,
    pub total_tokens: i64,
    pub requests: i64,
}

/// Spend logs with `start <= start_time < end`, summed per `unit` (`day` or `hour`, UTC) bucket,
/// team, key and model.
pub(crate) async fn spend_sums(
    pool: &PgPool,
    unit: &'static str,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> Result<Vec<SpendSum>, sqlx::Error> {
    sqlx::query_as::<_, SpendSum>(
        "SELECT date_trunc($1, s.start_time, 'UTC') AS bucket, s.team_id, \
         max(t.team_alias) AS team_alias, s.api_key, max(s.key_alias) AS key_alias, s.model, \
         sum(s.spend)::float8 AS spend, \
         sum(s.prompt_tokens + s.completion_tokens)::bigint AS total_tokens, \
         count(*)::bigint AS requests \
         FROM shale_spend_logs s LEFT JOIN shale_teams t ON t.team_id = s.team_id \
         WHERE s.start_time >= $2 AND s.start_time < $3 \
         GROUP BY 1, s.team_id, s.api_key, s.model \
         ORDER BY 1, s.team_id NULLS LAST, s.api_key, s.model",
    )
    .bind(unit)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await
}

/// Filters of `/spend/logs/ui` (normalised by the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct PageFilter {
    pub api_key: Option<String>,
    pub request_id: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub model: Option<String>,
    pub key_alias_contains: Option<String>,
    /// `Some(true)`: 2xx only; `Some(false)`: the rest.
    pub success: Option<bool>,
    pub min_spend: Option<f64>,
    pub max_spend: Option<f64>,
    pub start: Option<OffsetDateTime>,
    pub end: Option<OffsetDateTime>,
}

const PAGE_FILTER: &str = "($1::text IS NULL OR api_key = $1) \
     AND ($2::text IS NULL OR request_id = $2) AND ($3::text IS NULL OR team_id = $3) \
     AND ($4::text IS NULL OR user_id = $4) AND ($5::text IS NULL OR model = $5) \
     AND ($6::text IS NULL OR strpos(key_alias, $6) > 0) \
     AND ($7::boolean IS NULL OR (status_code BETWEEN 200 AND 299) = $7) \
     AND ($8::float8 IS NULL OR spend >= $8) AND ($9::float8 IS NULL OR spend <= $9) \
     AND ($10::timestamptz IS NULL OR start_time >= $10) \
     AND ($11::timestamptz IS NULL OR start_time < $11)";

/// One page of matching rows (newest first) and how many match in all.
pub(crate) async fn log_page(
    pool: &PgPool,
    f: &PageFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<SpendLogRow>, i64), sqlx::Error> {
    let count = format!("SELECT count(*) FROM shale_spend_logs WHERE {PAGE_FILTER}");
    let select = format!(
        "SELECT {COLUMNS} FROM shale_spend_logs WHERE {PAGE_FILTER} \
         ORDER BY start_time DESC, id DESC LIMIT $12 OFFSET $13"
    );
    macro_rules! bind_filter {
        ($q:expr) => {
            $q.bind(&f.api_key)
                .bind(&f.request_id)
                .bind(&f.team_id)
                .bind(&f.user_id)
                .bind(&f.model)
                .bind(&f.key_alias_contains)
                .bind(f.success)
                .bind(f.min_spend)
                .bind(f.max_spend)
                .bind(f.start)
                .bind(f.end)
        };
    }
    let total: i64 = bind_filter!(sqlx::query_scalar(&count))
        .fetch_one(pool)
        .await?;
    let rows = bind_filter!(sqlx::query_as::<_, Row>(&select))
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}
