//! The read-only reports of [`KeyService`]: `/team/list`, `/global/spend/report` and
//! `/spend/logs/ui` (master key only; the server checks that). Each first writes what this
//! replica settled, so the answer includes it. Input is validated here; SQL is in `store`.
//!
//! Must not: change anything, or return prompt text (the spend log has none).

use super::admin::parse_date;
use super::KeyService;
use crate::api::TeamResponse;
use crate::report::*;
use crate::store::report::{self, PageFilter, SpendSum};
use crate::token::to_hash;
use crate::KeyError;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Longest time range of a report with hourly buckets (the chart stays readable, the answer small).
const MAX_HOURLY_DAYS: i64 = 93;

/// `YYYY-MM-DD HH:MM:SS` (UTC, what LiteLLM's UI sends), else what `/spend/logs` takes.
fn parse_time(field: &str, text: &str, end: bool) -> Result<OffsetDateTime, KeyError> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    match PrimitiveDateTime::parse(text.trim(), format) {
        Ok(t) => Ok(t.assume_utc()),
        Err(_) => parse_date(field, text, end),
    }
}

fn optional_time(
    field: &str,
    text: &Option<String>,
    end: bool,
) -> Result<Option<OffsetDateTime>, KeyError> {
    text.as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| parse_time(field, t, end))
        .transpose()
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

impl KeyService {
    async fn flush_if_up(&self) {
        if self.database_up() {
            self.flush().await;
        }
    }

    /// `GET /team/list`: every team, oldest first.
    pub async fn list_teams(&self) -> Result<Vec<TeamResponse>, KeyError> {
        self.ready().await?;
        self.flush_if_up().await;
        let rows = report::teams(&self.pool)
            .await
            .map_err(|e| self.db_error(&e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// `GET /global/spend/report`: spend per bucket and team, with the (key, model) breakdown.
    pub async fn spend_report(
        &self,
        q: SpendReportQuery,
    ) -> Result<Vec<SpendReportBucket>, KeyError> {
        if let Some(g) = q.group_by.as_deref().filter(|g| *g != "team") {
            return Err(KeyError::InvalidRequest(format!(
                "group_by={g} is not served: only group_by=team"
            )));
        }
        let (Some(start), Some(end)) = (
            optional_time("start_date", &q.start_date, false)?,
            optional_time("end_date", &q.end_date, true)?,
        ) else {
            return Err(KeyError::InvalidRequest(
                "start_date and end_date are required (YYYY-MM-DD)".into(),
            ));
        };
        if end <= start {
            return Err(KeyError::InvalidRequest(
                "end_date must not be before start_date".into(),
            ));
        }
        if q.bucket == Bucket::Hour && end - start > time::Duration::days(MAX_HOURLY_DAYS) {
            return Err(KeyError::InvalidRequest(format!(
                "bucket=hour covers at most {MAX_HOURLY_DAYS} days: choose bucket=day"
            )));
        }
        self.ready().await?;
        self.flush_if_up().await;
        let sums = report::spend_sums(&self.pool, q.bucket.unit(), start, end)
            .await
            .map_err(|e| self.db_error(&e))?;
        Ok(group_report(sums, q.bucket))
    }

    /// `GET /spend/logs/ui`: one page of the spend log, newest first.
    pub async fn spend_logs_page(&self, q: SpendLogsPageQuery) -> Result<SpendLogsPage, KeyError> {
        let success = match q.status_filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("success") => Some(true),
            Some("failure") => Some(false),
            Some(other) => {
                return Err(KeyError::InvalidRequest(format!(
                    "status_filter must be success or failure, not {other:?}"
                )))
            }
        };
        let filter = PageFilter {
            api_key: non_empty(q.api_key).as_deref().map(to_hash),
            request_id: non_empty(q.request_id),
            team_id: non_empty(q.team_id),
            user_id: non_empty(q.user_id),
            model: non_empty(q.model),
            key_alias_contains: non_empty(q.key_alias),
            success,
            min_spend: q.min_spend,
            max_spend: q.max_spend,
            start: optional_time("start_date", &q.start_date, false)?,
            end: optional_time("end_date", &q.end_date, true)?,
        };
        let page = q.page.unwrap_or(1).max(1);
        let page_size = q.page_size.unwrap_or(50).clamp(1, 100);
        self.ready().await?;
        self.flush_if_up().await;
        let offset = i64::from(page - 1) * i64::from(page_size);
        let (data, total) = report::log_page(&self.pool, &filter, i64::from(page_size), offset)
            .await
            .map_err(|e| self.db_error(&e))?;
        let total = total.max(0) as u64;
        Ok(SpendLogsPage {
            data,
            total,
            page,
            page_size,
            total_pages: total.div_ceil(u64::from(page_size)),
        })
    }
}

/// Rows ordered by (bucket, team) into LiteLLM's nesting: buckets → teams → (key, model) items.
fn group_report(sums: Vec<SpendSum>, bucket: Bucket) -> Vec<SpendReportBucket> {
    let mut out: Vec<SpendReportBucket> = Vec::new();
    for s in sums {
        let at = Some(s.bucket);
        let start_new_bucket = out
            .last()
            .is_none_or(|b| b.group_by_day.or(b.group_by_hour) != at);
        if start_new_bucket {
            let (group_by_day, group_by_hour) = match bucket {
                Bucket::Day => (at, None),
                Bucket::Hour => (None, at),
            };
            out.push(SpendReportBucket {
                group_by_day,
                group_by_hour,
                teams: Vec::new(),
            });
        }
        let teams = &mut out.last_mut().expect("a bucket was pushed").teams;
        if teams.last().is_none_or(|t| t.team_id != s.team_id) {
            teams.push(TeamSpend {
                team_name: s
                    .team_alias
                    .clone()
                    .or_else(|| s.team_id.clone())
                    .unwrap_or_else(|| "Unassigned Team".into()),
                team_id: s.team_id.clone(),
                total_spend: 0.0,
                metadata: Vec::new(),
            });
        }
        let team = teams.last_mut().expect("a team was pushed");
        team.total_spend += s.spend;
        team.metadata.push(SpendReportItem {
            model: s.model,
            api_key: s.api_key,
            key_alias: s.key_alias,
            spend: s.spend,
            total_tokens: s.total_tokens.max(0) as u64,
            requests: s.requests.max(0) as u64,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sum(bucket: OffsetDateTime, team: Option<&str>, key: &str, spend: f64) -> SpendSum {
        SpendSum {
            bucket,
            team_id: team.map(Into::into),
            team_alias: team.map(|t| format!("{t} alias")),
            api_key: key.into(),
            key_alias: Some(format!("{key}-alias")),
            model: "m".into(),
            spend,
            total_tokens: 10,
            requests: 2,
        }
    }

    #[test]
    fn rows_nest_into_buckets_and_teams() {
        let d1 = datetime!(2026-12-01 00:00 UTC);
        let d2 = datetime!(2026-12-02 00:00 UTC);
        let report = group_report(
            vec![
                sum(d1, Some("t1"), "k1", 0.5),
                sum(d1, Some("t1"), "k2", 0.25),
                sum(d1, None, "k3", 1.0),
                sum(d2, Some("t1"), "k1", 2.0),
            ],
            Bucket::Day,
        );
        assert_eq!(report.len(), 2);
        assert_eq!(report[0].group_by_day, Some(d1));
        assert_eq!(report[0].group_by_hour, None);
        assert_eq!(report[0].teams.len(), 2);
        assert_eq!(report[0].teams[0].team_name, "t1 alias");
        assert!((report[0].teams[0].total_spend - 0.75).abs() < 1e-12);
        assert_eq!(report[0].teams[0].metadata.len(), 2);
        assert_eq!(report[0].teams[1].team_name, "Unassigned Team");
        assert_eq!(report[0].teams[1].team_id, None);
        assert_eq!(report[1].teams[0].metadata[0].requests, 2);
        let json = serde_json::to_value(&report[0]).unwrap();
        assert_eq!(json["group_by_day"], "2026-12-01T00:00:00Z");
        assert!(json.get("group_by_hour").is_none());
    }

    #[test]
    fn hourly_buckets_say_so() {
        let h = datetime!(2026-12-01 13:00 UTC);
        let report = group_report(vec![sum(h, None, "k", 0.1)], Bucket::Hour);
        let json = serde_json::to_value(&report[0]).unwrap();
        assert_eq!(json["group_by_hour"], "2026-12-01T13:00:00Z");
        assert!(json.get("group_by_day").is_none());
    }

    #[test]
    fn litellm_ui_times_parse() {
        assert_eq!(
            parse_time("start_date", "2026-12-01 10:30:00", false).unwrap(),
            datetime!(2026-12-01 10:30 UTC)
        );
        assert_eq!(
            parse_time("end_date", "2026-12-01", true).unwrap(),
            datetime!(2026-12-02 00:00 UTC)
        );
        assert!(parse_time("start_date", "soon", false).is_err());
    }
}
