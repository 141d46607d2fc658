//! Request and response bodies of the read-only reports the admin UI (and any LiteLLM client)
//! reads: `GET /team/list`, `GET /global/spend/report` (spend per day — or hour — per team, with
//! the key and model breakdown) and `GET /spend/logs/ui` (one page of the spend log, filtered).
//! LiteLLM's names and shapes; what shale adds is marked. Plain serde structs, no I/O.

use crate::api::SpendLogRow;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The size of a spend report's time buckets (shale's `bucket` parameter; LiteLLM has days only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[default]
    Day,
    Hour,
}

impl Bucket {
    /// The `date_trunc` field name.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Hour => "hour",
        }
    }
}

/// `GET /global/spend/report` query. Dates as for `/spend/logs` (`YYYY-MM-DD`, the end day
/// included, or RFC 3339).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SpendReportQuery {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// `team` (LiteLLM's default and the only grouping served).
    pub group_by: Option<String>,
    /// shale: `day` (default) or `hour` buckets.
    #[serde(default)]
    pub bucket: Bucket,
}

/// Spend of one (key, model) pair inside a team's bucket (LiteLLM's `metadata` entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendReportItem {
    pub model: String,
    /// SHA-256 hex of the key.
    pub api_key: String,
    /// shale: the key's alias when the requests were made.
    pub key_alias: Option<String>,
    pub spend: f64,
    pub total_tokens: u64,
    /// shale: how many requests.
    pub requests: u64,
}

/// One team's spend in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamSpend {
    /// The team's alias, else its id, else `Unassigned Team` (keys without a team).
    pub team_name: String,
    /// shale: the team id (`null` for keys without a team).
    pub team_id: Option<String>,
    pub total_spend: f64,
    pub metadata: Vec<SpendReportItem>,
}

/// One bucket of `/global/spend/report`: `group_by_day` (LiteLLM) or, with `bucket=hour`,
/// `group_by_hour`, the bucket's start (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendReportBucket {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub group_by_day: Option<OffsetDateTime>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub group_by_hour: Option<OffsetDateTime>,
    pub teams: Vec<TeamSpend>,
}

/// `GET /spend/logs/ui` query (LiteLLM's names). Dates are `YYYY-MM-DD HH:MM:SS` (UTC, as
/// LiteLLM's UI sends them), `YYYY-MM-DD` or RFC 3339; both optional here.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SpendLogsPageQuery {
    /// A clear key or its hash.
    pub api_key: Option<String>,
    pub request_id: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    /// The model name the client asked for.
    pub model: Option<String>,
    /// Rows whose key alias contains this text.
    pub key_alias: Option<String>,
    /// `success` (2xx) or `failure`.
    pub status_filter: Option<String>,
    pub min_spend: Option<f64>,
    pub max_spend: Option<f64>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// 1-based (default 1).
    pub page: Option<u32>,
    /// Default 50, at most 100.
    pub page_size: Option<u32>,
}

/// `GET /spend/logs/ui`: one page, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpendLogsPage {
    pub data: Vec<SpendLogRow>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
    pub total_pages: u64,
}
