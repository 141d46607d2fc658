//! The admin API's request and response bodies, with LiteLLM's field names (`/key/*`, `/team/*`,
//! `/spend/logs`). Plain serde structs: no validation here (the service validates), no I/O.
//!
//! Update requests use `Option<Option<T>>` where LiteLLM lets `null` clear a value: absent = keep,
//! `null` = clear, a value = set.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Deserializes a field that may be absent (outer `None`), `null` (`Some(None)`) or a value.
fn double<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /key/generate`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateKeyRequest {
    /// The key itself, chosen by the caller (LiteLLM's `key`, e.g. to carry keys over from
    /// another gateway): `sk-` and up to 253 more visible ASCII characters. Absent = a new random
    /// key. Stored only as its hash, like a generated one.
    pub key: Option<String>,
    pub key_alias: Option<String>,
    /// How long the key is valid: `30s`, `5m`, `1h`, `30d` (absent = never expires).
    pub duration: Option<String>,
    /// Model names the key may call (empty or absent = all; `all-proxy-models` = all).
    pub models: Option<Vec<String>>,
    pub max_budget: Option<f64>,
    /// How often spend is reset to 0: `30s`, `1h`, `30d`, …
    pub budget_duration: Option<String>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u64>,
    pub metadata: Option<Map<String, Value>>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub blocked: Option<bool>,
    /// Guardrails (config `guardrail_name`s) every request of the key runs.
    pub guardrails: Option<Vec<String>>,
    /// Response-cache controls this key may send (`no-cache`, `no-store`, `ttl`, `s-maxage`,
    /// `namespace`, `use-cache`); empty or absent = all.
    pub allowed_cache_controls: Option<Vec<String>>,
    /// Per-model budgets: `{"<model>": {"budget_limit": 1.0, "time_period": "1d"}}` (LiteLLM's
    /// `model_max_budget`; `max_budget` / `budget_duration` are accepted as the same fields).
    pub model_max_budget: Option<Map<String, Value>>,
    /// Tags of the key (kept in `metadata.tags`, as LiteLLM does; on every spend-log row).
    pub tags: Option<Vec<String>>,
}

/// `POST /key/update`: `key` (clear key or its hash) plus the fields to change.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    pub key: String,
    #[serde(default, deserialize_with = "double")]
    pub key_alias: Option<Option<String>>,
    /// New validity from now; `null` = never expires.
    #[serde(default, deserialize_with = "double")]
    pub duration: Option<Option<String>>,
    pub models: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double")]
    pub max_budget: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double")]
    pub budget_duration: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    pub rpm_limit: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    pub tpm_limit: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    pub max_parallel_requests: Option<Option<u64>>,
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "double")]
    pub team_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    pub user_id: Option<Option<String>>,
    pub blocked: Option<bool>,
    /// Set the key's spend (LiteLLM allows resetting it by hand).
    pub spend: Option<f64>,
    /// Replace the key's guardrails (`[]` clears them).
    pub guardrails: Option<Vec<String>>,
    pub allowed_cache_controls: Option<Vec<String>>,
    /// Replace the per-model budgets (`{}` clears them).
    pub model_max_budget: Option<Map<String, Value>>,
    /// Replace the key's tags (`[]` clears them).
    pub tags: Option<Vec<String>>,
}

/// `POST /key/regenerate`: a new secret for an existing key; its settings and spend are kept,
/// the old secret stops working at once.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKeyRequest {
    /// The key to replace (clear key or its hash).
    pub key: String,
    /// Optionally a new validity from now.
    pub duration: Option<String>,
}

/// A stored key as `/key/info`, `/key/list` and `/team/info` show it: never the clear key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// SHA-256 hex of the key (LiteLLM's `token`).
    pub token: String,
    /// The key masked, e.g. `sk-...abcd` (LiteLLM's `key_name`).
    pub key_name: String,
    pub key_alias: Option<String>,
    pub spend: f64,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub budget_reset_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    pub models: Vec<String>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u64>,
    pub metadata: Map<String, Value>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub blocked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Guardrails every request of the key runs.
    #[serde(default)]
    pub guardrails: Vec<String>,
    /// Response-cache controls the key may send (empty = all).
    #[serde(default)]
    pub allowed_cache_controls: Vec<String>,
    /// Per-model budgets, `{"<model>": {"budget_limit": …, "time_period": "1d"}}`.
    #[serde(default)]
    pub model_max_budget: Map<String, Value>,
    /// The key's tags (the same list as `metadata.tags`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `/key/generate` and `/key/regenerate`: the clear key, shown this once, and what was stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateKeyResponse {
    /// The clear key (`sk-…`). Not stored anywhere; lost if not kept by the caller.
    pub key: String,
    /// Same as `info.token` (LiteLLM's `token_id`).
    pub token_id: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// `GET /key/info`: `key` is the hash (LiteLLM answers the token here too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyInfoResponse {
    pub key: String,
    pub info: KeyInfo,
}

/// `GET /key/list` query.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ListKeysQuery {
    /// 1-based page (default 1).
    pub page: Option<u32>,
    /// Page size (default 10, at most 100).
    pub size: Option<u32>,
    pub key_alias: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    /// Full key objects instead of hashes.
    #[serde(default)]
    pub return_full_object: bool,
}

/// One entry of `/key/list`: the hash, or the whole object with `return_full_object=true`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ListedKey {
    Token(String),
    Full(Box<KeyInfo>),
}

/// `GET /key/list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListKeysResponse {
    pub keys: Vec<ListedKey>,
    pub total_count: u64,
    pub current_page: u32,
    pub total_pages: u64,
}

/// `POST /key/delete`: by keys (clear or hashed) and/or aliases.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteKeysRequest {
    pub keys: Option<Vec<String>>,
    pub key_aliases: Option<Vec<String>>,
}

/// `POST /key/delete`: the hashes of the keys that were deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteKeysResponse {
    pub deleted_keys: Vec<String>,
}

/// `POST /team/new`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeamRequest {
    /// Absent = a new UUID.
    pub team_id: Option<String>,
    pub team_alias: Option<String>,
    pub models: Option<Vec<String>>,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u64>,
    pub metadata: Option<Map<String, Value>>,
    pub blocked: Option<bool>,
    /// Guardrails every request of the team's keys runs.
    pub guardrails: Option<Vec<String>>,
}

/// `POST /team/update`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeamRequest {
    pub team_id: String,
    #[serde(default, deserialize_with = "double")]
    pub team_alias: Option<Option<String>>,
    pub models: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double")]
    pub max_budget: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double")]
    pub budget_duration: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    pub rpm_limit: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    pub tpm_limit: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    pub max_parallel_requests: Option<Option<u64>>,
    pub metadata: Option<Map<String, Value>>,
    pub blocked: Option<bool>,
    pub spend: Option<f64>,
    /// Replace the team's guardrails (`[]` clears them).
    pub guardrails: Option<Vec<String>>,
}

/// A team as stored (`/team/new`, `/team/update`, `/team/info`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamResponse {
    pub team_id: String,
    pub team_alias: Option<String>,
    pub models: Vec<String>,
    pub spend: f64,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub budget_reset_at: Option<OffsetDateTime>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u64>,
    pub metadata: Map<String, Value>,
    pub blocked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Guardrails every request of the team's keys runs.
    #[serde(default)]
    pub guardrails: Vec<String>,
}

/// `GET /team/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamInfoResponse {
    pub team_id: String,
    pub team_info: TeamResponse,
    /// The team's keys (hashes and settings, never clear keys).
    pub keys: Vec<KeyInfo>,
}

/// `POST /team/delete`. The teams' keys are deleted with them (as LiteLLM does).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteTeamsRequest {
    pub team_ids: Vec<String>,
}

/// `POST /team/delete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteTeamsResponse {
    pub deleted_teams: Vec<String>,
    /// Hashes of the keys deleted with them.
    pub deleted_keys: Vec<String>,
}

/// `GET /spend/logs` query. Dates are `YYYY-MM-DD` (UTC; `end_date` includes that whole day) or
/// RFC 3339 timestamps.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SpendLogsQuery {
    /// A clear key or its hash.
    pub api_key: Option<String>,
    pub request_id: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// Most rows returned, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One row of `spend_logs` (LiteLLM's SpendLogs names; no prompt or answer text, ever).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendLogRow {
    pub request_id: String,
    /// The route, e.g. `chat_completions`.
    pub call_type: String,
    /// SHA-256 hex of the key.
    pub api_key: String,
    pub key_alias: Option<String>,
    pub team_id: Option<String>,
    pub user: Option<String>,
    /// The model name the client asked for.
    pub model: String,
    /// The deployment that served it.
    pub model_id: String,
    pub spend: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    #[serde(rename = "startTime", with = "time::serde::rfc3339")]
    pub start_time: OffsetDateTime,
    #[serde(rename = "endTime", with = "time::serde::rfc3339")]
    pub end_time: OffsetDateTime,
    /// HTTP status of the answer.
    pub status_code: u16,
    /// `success` (2xx) or `failure`.
    pub status: String,
    /// The guardrails that ran and what they did (LiteLLM's `guardrail_information`).
    #[serde(default)]
    pub guardrail_information: Vec<GuardrailInfo>,
    /// `True` when the answer came from the response cache (LiteLLM writes a string).
    #[serde(default)]
    pub cache_hit: String,
    /// The response cache's key of the answer, or empty.
    #[serde(default)]
    pub cache_key: String,
    /// The key's tags when the request was made (LiteLLM's `request_tags`).
    #[serde(default)]
    pub request_tags: Vec<String>,
}

/// One guardrail's part in a request, as spend logs keep it (never the checked text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailInfo {
    pub guardrail_name: String,
    /// `pre_call`, `during_call` or `post_call`.
    pub guardrail_mode: String,
    /// `passed`, `masked`, `blocked` or `error`.
    pub guardrail_status: String,
    /// Time spent in its ApplyGuardrail calls.
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_tells_absent_from_null() {
        let r: UpdateKeyRequest =
            serde_json::from_value(json!({"key": "sk-1", "max_budget": null, "rpm_limit": 5}))
                .unwrap();
        assert_eq!(r.max_budget, Some(None), "null clears");
        assert_eq!(r.rpm_limit, Some(Some(5)));
        assert_eq!(r.tpm_limit, None, "absent keeps");
        let t: UpdateTeamRequest =
            serde_json::from_value(json!({"team_id": "t", "budget_duration": null})).unwrap();
        assert_eq!(t.budget_duration, Some(None));
        assert_eq!(t.max_budget, None);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err = serde_json::from_value::<GenerateKeyRequest>(json!({"budget_id": "tier-1"}))
            .unwrap_err();
        assert!(err.to_string().contains("budget_id"), "{err}");
    }

    #[test]
    fn litellm_key_model_budget_and_tags_parse() {
        let r: GenerateKeyRequest = serde_json::from_value(json!({
            "key": "sk-my-own-key-1234",
            "model_max_budget": {"gpt-4o": {"budget_limit": 0.0000001, "time_period": "1d"}},
            "tags": ["team-a", "prod"]
        }))
        .unwrap();
        assert_eq!(r.key.as_deref(), Some("sk-my-own-key-1234"));
        assert_eq!(r.model_max_budget.unwrap()["gpt-4o"]["time_period"], "1d");
        assert_eq!(r.tags.unwrap(), ["team-a", "prod"]);
    }

    #[test]
    fn litellm_request_example_parses() {
        // The LiteLLM docs' /key/generate example.
        let r: GenerateKeyRequest = serde_json::from_value(json!({
            "models": ["gpt-3.5-turbo", "gpt-4", "claude-2"],
            "duration": "20m",
            "metadata": {"user": "ishaan@berri.ai", "team": "core-infra"}
        }))
        .unwrap();
        assert_eq!(r.models.as_ref().map(Vec::len), Some(3));
        assert_eq!(r.duration.as_deref(), Some("20m"));
    }

    #[test]
    fn responses_use_litellm_names() {
        let info = KeyInfo {
            token: "ab".repeat(32),
            key_name: "sk-...wxyz".into(),
            key_alias: None,
            spend: 0.5,
            max_budget: None,
            budget_duration: None,
            budget_reset_at: None,
            expires: None,
            models: vec![],
            rpm_limit: None,
            tpm_limit: None,
            max_parallel_requests: None,
            metadata: Map::new(),
            team_id: None,
            user_id: None,
            blocked: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            guardrails: vec![],
            allowed_cache_controls: vec![],
            model_max_budget: Map::new(),
            tags: vec![],
        };
        let generated = serde_json::to_value(GenerateKeyResponse {
            key: "sk-abc".into(),
            token_id: info.token.clone(),
            info: info.clone(),
        })
        .unwrap();
        for field in [
            "key", "token", "token_id", "key_name", "expires", "spend", "models",
        ] {
            assert!(generated.get(field).is_some(), "{field} in {generated}");
        }
        assert_eq!(generated["created_at"], "1970-01-01T00:00:00Z");
        let listed = serde_json::to_value(ListKeysResponse {
            keys: vec![ListedKey::Token(info.token.clone())],
            total_count: 1,
            current_page: 1,
            total_pages: 1,
        })
        .unwrap();
        assert_eq!(listed["keys"][0], info.token);
        let row = serde_json::to_value(SpendLogRow {
            request_id: "r".into(),
            call_type: "chat_completions".into(),
            api_key: info.token.clone(),
            key_alias: None,
            team_id: None,
            user: None,
            model: "m".into(),
            model_id: "d".into(),
            spend: 0.1,
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            cache_read_input_tokens: 0,
            cache_creation_input_tokens: 0,
            start_time: OffsetDateTime::UNIX_EPOCH,
            end_time: OffsetDateTime::UNIX_EPOCH,
            status_code: 200,
            status: "success".into(),
            guardrail_information: vec![],
            cache_hit: "False".into(),
            cache_key: String::new(),
            request_tags: vec![],
        })
        .unwrap();
        assert!(row.get("startTime").is_some() && row.get("endTime").is_some());
    }
}
