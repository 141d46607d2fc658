//! The admin operations of [`KeyService`] (master key only; the server checks that): keys, teams
//! and spend logs, with validation of every input. Each write invalidates the lookup cache at once
//! on this replica and, with Redis, on the others.

use super::KeyService;
use crate::api::*;
use crate::duration::{after, parse_duration};
use crate::error::Scope;
use crate::store::keys::{KeyChanges, KeyFilter, NewKey};
use crate::store::spend::LogFilter;
use crate::store::teams::{NewTeam, TeamChanges};
use crate::store::{self, bigint, NewRules, RuleChanges};
use crate::token::{self, to_hash};
use crate::KeyError;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

/// Longest alias, team id or user id accepted.
const MAX_NAME: usize = 256;

fn bad(msg: impl Into<String>) -> KeyError {
    KeyError::InvalidRequest(msg.into())
}

fn check_name(field: &str, v: &str) -> Result<(), KeyError> {
    if v.trim().is_empty() || v.len() > MAX_NAME || v.chars().any(char::is_control) {
        return Err(bad(format!(
            "{field} must be 1 to {MAX_NAME} characters without control characters"
        )));
    }
    Ok(())
}

fn check_opt_name(field: &str, v: &Option<String>) -> Result<(), KeyError> {
    v.as_deref().map_or(Ok(()), |v| check_name(field, v))
}

fn check_budget(field: &str, v: Option<f64>) -> Result<(), KeyError> {
    match v {
        Some(b) if !b.is_finite() || b < 0.0 => {
            Err(bad(format!("{field} must be a non-negative number")))
        }
        _ => Ok(()),
    }
}

fn check_models(models: &[String]) -> Result<(), KeyError> {
    models.iter().try_for_each(|m| check_name("models[]", m))
}

/// Guardrail names are checked against the config by the server; here only their form.
fn check_guardrails(names: &[String]) -> Result<(), KeyError> {
    names.iter().try_for_each(|g| check_name("guardrails[]", g))
}

/// The response cache's per-request controls (`allowed_cache_controls` may list these).
const CACHE_CONTROLS: &[&str] = &[
    "no-cache",
    "no-store",
    "ttl",
    "s-maxage",
    "s-max-age",
    "namespace",
    "use-cache",
];

fn check_cache_controls(list: &Option<Vec<String>>) -> Result<(), KeyError> {
    match list
        .iter()
        .flatten()
        .find(|c| !CACHE_CONTROLS.contains(&c.as_str()))
    {
        Some(c) => Err(KeyError::InvalidRequest(format!(
            "allowed_cache_controls: `{c}` is not a cache control (expected {})",
            CACHE_CONTROLS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Most tags on one key.
const MAX_TAGS: usize = 100;

fn check_tags(tags: &Option<Vec<String>>) -> Result<(), KeyError> {
    let tags = tags.as_deref().unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(bad(format!("tags: at most {MAX_TAGS} tags")));
    }
    tags.iter().try_for_each(|t| check_name("tags[]", t))
}

/// `metadata.user_email` labels the key's metrics (`user_email`): a short address, or absent.
fn check_metadata(metadata: &Option<Map<String, Value>>) -> Result<(), KeyError> {
    match metadata.as_ref().and_then(|m| m.get("user_email")) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(e))
            if e.contains('@') && e.len() <= MAX_NAME && !e.chars().any(char::is_control) =>
        {
            Ok(())
        }
        Some(_) => Err(bad(format!(
            "metadata.user_email must be an email address of at most {MAX_NAME} characters"
        ))),
    }
}

/// `metadata` with `tags` put where LiteLLM keeps a key's tags (`metadata.tags`; `[]` removes
/// them).
fn with_tags(mut metadata: Map<String, Value>, tags: Vec<String>) -> Map<String, Value> {
    if tags.is_empty() {
        metadata.remove("tags");
    } else {
        metadata.insert("tags".into(), tags.into());
    }
    metadata
}

/// `duration` → `expires`.
fn expires_of(now: OffsetDateTime, d: &Option<String>) -> Result<Option<OffsetDateTime>, KeyError> {
    d.as_deref()
        .map(|t| parse_duration(t).map(|d| after(now, d)))
        .transpose()
}

/// The rule fields `/key/update` and `/team/update` share, as the client sent them.
struct RuleUpdate {
    models: Option<Vec<String>>,
    max_budget: Option<Option<f64>>,
    budget_duration: Option<Option<String>>,
    rpm_limit: Option<Option<u64>>,
    tpm_limit: Option<Option<u64>>,
    max_parallel_requests: Option<Option<u64>>,
    metadata: Option<Map<String, Value>>,
    blocked: Option<bool>,
    spend: Option<f64>,
    guardrails: Option<Vec<String>>,
}

impl RuleUpdate {
    /// Validates the fields (budgets, models, `budget_duration`) and turns them into the
    /// UPDATE's columns; a new `budget_duration` starts a new period (`budget_reset_at`).
    fn into_changes(self, now: OffsetDateTime) -> Result<RuleChanges, KeyError> {
        check_budget("max_budget", self.max_budget.flatten())?;
        check_budget("spend", self.spend)?;
        if let Some(m) = &self.models {
            check_models(m)?;
        }
        if let Some(g) = &self.guardrails {
            check_guardrails(g)?;
        }
        let budget = self
            .budget_duration
            .as_ref()
            .map(|d| budget_of(now, d))
            .transpose()?;
        Ok(RuleChanges {
            models: self.models,
            max_budget: self.max_budget,
            budget_duration: budget.as_ref().map(|b| b.0.clone()),
            budget_reset_at: budget.map(|b| b.1),
            rpm_limit: self.rpm_limit.map(bigint),
            tpm_limit: self.tpm_limit.map(bigint),
            max_parallel_requests: self.max_parallel_requests.map(bigint),
            metadata: self.metadata,
            blocked: self.blocked,
            spend: self.spend,
            guardrails: self.guardrails,
        })
    }
}

/// `budget_duration` → (the text, the first reset time).
fn budget_of(
    now: OffsetDateTime,
    d: &Option<String>,
) -> Result<(Option<String>, Option<OffsetDateTime>), KeyError> {
    match d.as_deref() {
        None => Ok((None, None)),
        Some(t) => {
            let len = parse_duration(t)?;
            Ok((Some(t.trim().to_string()), Some(after(now, len))))
        }
    }
}

/// `YYYY-MM-DD` (start of that day, or of the next day for an end date) or RFC 3339.
pub(super) fn parse_date(field: &str, text: &str, end: bool) -> Result<OffsetDateTime, KeyError> {
    let t = text.trim();
    if let Ok(d) = Date::parse(t, format_description!("[year]-[month]-[day]")) {
        let start = d.with_time(Time::MIDNIGHT).assume_utc();
        return Ok(if end {
            start + time::Duration::days(1)
        } else {
            start
        });
    }
    OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
        bad(format!(
            "{field} must be YYYY-MM-DD or an RFC 3339 timestamp"
        ))
    })
}

impl KeyService {
    pub(super) async fn ready(&self) -> Result<(), KeyError> {
        self.ensure_schema().await.map_err(KeyError::Unavailable)
    }

    /// After a key's or team's rules were updated: a new budget period drops its meter, a spend
    /// set by hand replaces the metered one (here and in Redis), and every replica's cache drops
    /// the key or team.
    async fn rules_changed(
        &self,
        scope: Scope,
        id: &str,
        budget_changed: bool,
        spend: Option<f64>,
        budget_reset_at: Option<OffsetDateTime>,
    ) {
        if budget_changed {
            self.book.forget(scope, id);
        }
        if let Some(spend) = spend {
            self.book.admin_set(scope, id, spend);
            self.unshared.forget(scope, id);
            if let Some(redis) = &self.redis {
                let period = budget_reset_at.map(|t| t.unix_timestamp());
                redis.set_spend(scope, id, period, spend).await;
            }
        }
        self.invalidate(&format!("{scope}:{id}")).await;
    }

    /// `POST /key/generate`: a new `sk-…` key (returned once; stored only as its hash).
    pub async fn generate_key(
        &self,
        req: GenerateKeyRequest,
    ) -> Result<GenerateKeyResponse, KeyError> {
        self.ready().await?;
        let now = OffsetDateTime::now_utc();
        check_opt_name("key_alias", &req.key_alias)?;
        check_opt_name("team_id", &req.team_id)?;
        check_opt_name("user_id", &req.user_id)?;
        check_budget("max_budget", req.max_budget)?;
        let models = req.models.unwrap_or_default();
        check_models(&models)?;
        let guardrails = req.guardrails.unwrap_or_default();
        check_guardrails(&guardrails)?;
        check_cache_controls(&req.allowed_cache_controls)?;
        check_tags(&req.tags)?;
        check_metadata(&req.metadata)?;
        let model_max_budget = req
            .model_max_budget
            .map(crate::model_budget::normalize)
            .transpose()?
            .unwrap_or_default();
        let expires = expires_of(now, &req.duration)?;
        let (budget_duration, budget_reset_at) = budget_of(now, &req.budget_duration)?;
        let clear = match req.key {
            Some(chosen) => {
                token::check_custom(&chosen)?;
                chosen
            }
            None => token::generate(),
        };
        let hash = token::hash_key(&clear);
        let mut metadata = req.metadata.unwrap_or_default();
        if let Some(tags) = req.tags {
            metadata = with_tags(metadata, tags);
        }
        let row = store::keys::insert(
            &self.pool,
            NewKey {
                token: hash.clone(),
                key_name: token::mask(&clear),
                key_alias: req.key_alias,
                expires,
                team_id: req.team_id,
                user_id: req.user_id,
                allowed_cache_controls: req.allowed_cache_controls.unwrap_or_default(),
                model_max_budget,
                rules: NewRules {
                    models,
                    max_budget: req.max_budget,
                    budget_duration,
                    budget_reset_at,
                    rpm_limit: bigint(req.rpm_limit),
                    tpm_limit: bigint(req.tpm_limit),
                    max_parallel_requests: bigint(req.max_parallel_requests),
                    metadata,
                    blocked: req.blocked.unwrap_or(false),
                    guardrails,
                },
            },
        )
        .await?;
        // A lookup of this hash may have been cached as unknown (by another replica too).
        self.invalidate(&format!("key:{hash}")).await;
        Ok(GenerateKeyResponse {
            key: clear,
            token_id: hash,
            info: row.into(),
        })
    }

    /// `POST /key/update`.
    pub async fn update_key(&self, req: UpdateKeyRequest) -> Result<KeyInfoResponse, KeyError> {
        self.ready().await?;
        let now = OffsetDateTime::now_utc();
        let hash = to_hash(&req.key);
        if let Some(Some(a)) = &req.key_alias {
            check_name("key_alias", a)?;
        }
        if let Some(Some(t)) = &req.team_id {
            check_name("team_id", t)?;
        }
        if let Some(Some(u)) = &req.user_id {
            check_name("user_id", u)?;
        }
        check_cache_controls(&req.allowed_cache_controls)?;
        check_tags(&req.tags)?;
        check_metadata(&req.metadata)?;
        let model_max_budget = req
            .model_max_budget
            .map(crate::model_budget::normalize)
            .transpose()?;
        // Tags live in `metadata.tags`: with a new metadata they go in it, else they are set in
        // the stored one.
        let (metadata, tags) = match (req.metadata, req.tags) {
            (Some(m), Some(tags)) => (Some(with_tags(m, tags)), None),
            other => other,
        };
        let rules = RuleUpdate {
            models: req.models,
            max_budget: req.max_budget,
            budget_duration: req.budget_duration,
            rpm_limit: req.rpm_limit,
            tpm_limit: req.tpm_limit,
            max_parallel_requests: req.max_parallel_requests,
            metadata,
            blocked: req.blocked,
            spend: req.spend,
            guardrails: req.guardrails,
        }
        .into_changes(now)?;
        let expires = req
            .duration
            .as_ref()
            .map(|d| expires_of(now, d))
            .transpose()?;
        let budget_changed = rules.budget_reset_at.is_some();
        let changes = KeyChanges {
            new_token: None,
            key_alias: req.key_alias,
            expires,
            team_id: req.team_id,
            user_id: req.user_id,
            rules,
            allowed_cache_controls: req.allowed_cache_controls,
            model_max_budget,
            tags,
        };
        if budget_changed || req.spend.is_some() {
            // Pending increments belong to the old period or the old spend.
            self.flush().await;
        }
        let row = store::keys::update(&self.pool, &hash, changes)
            .await?
            .ok_or_else(|| KeyError::NotFound("key not found".into()))?;
        self.rules_changed(
            Scope::Key,
            &hash,
            budget_changed,
            req.spend,
            row.rules.budget_reset_at,
        )
        .await;
        Ok(KeyInfoResponse {
            key: hash,
            info: row.into(),
        })
    }

    /// `GET /key/info?key=`: by clear key or hash.
    pub async fn key_info(&self, key_or_hash: &str) -> Result<KeyInfoResponse, KeyError> {
        self.ready().await?;
        // What this replica settled is written first, so the answer includes it.
        if self.database_up() {
            self.flush().await;
        }
        let hash = to_hash(key_or_hash);
        let row = store::keys::get(&self.pool, &hash)
            .await
            .map_err(|e| self.db_error(&e))?
            .ok_or_else(|| KeyError::NotFound("key not found".into()))?;
        Ok(KeyInfoResponse {
            key: hash,
            info: row.into(),
        })
    }

    /// `GET /key/list`.
    pub async fn list_keys(&self, q: ListKeysQuery) -> Result<ListKeysResponse, KeyError> {
        self.ready().await?;
        // What this replica settled is written first, so the answer includes it.
        if self.database_up() {
            self.flush().await;
        }
        let page = q.page.unwrap_or(1).max(1);
        let size = q.size.unwrap_or(10).clamp(1, 100);
        let filter = KeyFilter {
            key_alias: q.key_alias,
            team_id: q.team_id,
            user_id: q.user_id,
        };
        let offset = i64::from(page - 1) * i64::from(size);
        let (rows, total) = store::keys::list(&self.pool, &filter, i64::from(size), offset)
            .await
            .map_err(|e| self.db_error(&e))?;
        let total = total.max(0) as u64;
        let keys = rows
            .into_iter()
            .map(|r| {
                if q.return_full_object {
                    ListedKey::Full(Box::new(r.into()))
                } else {
                    ListedKey::Token(r.token)
                }
            })
            .collect();
        Ok(ListKeysResponse {
            keys,
            total_count: total,
            current_page: page,
            total_pages: total.div_ceil(u64::from(size)),
        })
    }

    /// `POST /key/delete`: by keys (clear or hashed) and/or aliases; takes effect at once.
    pub async fn delete_keys(
        &self,
        req: DeleteKeysRequest,
    ) -> Result<DeleteKeysResponse, KeyError> {
        self.ready().await?;
        let tokens: Vec<String> = req
            .keys
            .unwrap_or_default()
            .iter()
            .map(|k| to_hash(k))
            .collect();
        let aliases = req.key_aliases.unwrap_or_default();
        if tokens.is_empty() && aliases.is_empty() {
            return Err(bad("give keys or key_aliases to delete"));
        }
        let deleted = store::keys::delete(&self.pool, &tokens, &aliases)
            .await
            .map_err(|e| self.db_error(&e))?;
        if deleted.is_empty() {
            return Err(KeyError::NotFound("no such key".into()));
        }
        for hash in &deleted {
            self.forget_everywhere(Scope::Key, hash).await;
        }
        Ok(DeleteKeysResponse {
            deleted_keys: deleted,
        })
    }

    /// `POST /key/regenerate`: a new secret for the same key (settings and spend kept); the old
    /// secret stops working at once.
    pub async fn regenerate_key(
        &self,
        req: RegenerateKeyRequest,
    ) -> Result<GenerateKeyResponse, KeyError> {
        self.ready().await?;
        let now = OffsetDateTime::now_utc();
        let old = to_hash(&req.key);
        let expires = expires_of(now, &req.duration)?;
        // Spend settled under the old hash must reach the row before it is renamed.
        self.flush().await;
        let clear = token::generate();
        let hash = token::hash_key(&clear);
        let changes = KeyChanges {
            new_token: Some((hash.clone(), token::mask(&clear))),
            expires: expires.map(Some),
            ..KeyChanges::default()
        };
        let row = store::keys::update(&self.pool, &old, changes)
            .await?
            .ok_or_else(|| KeyError::NotFound("key not found".into()))?;
        self.forget_everywhere(Scope::Key, &old).await;
        self.invalidate(&format!("key:{hash}")).await;
        Ok(GenerateKeyResponse {
            key: clear,
            token_id: hash,
            info: row.into(),
        })
    }

    /// `POST /key/block` and `/key/unblock`.
    pub async fn set_blocked(
        &self,
        key_or_hash: &str,
        blocked: bool,
    ) -> Result<KeyInfoResponse, KeyError> {
        self.ready().await?;
        let hash = to_hash(key_or_hash);
        let changes = KeyChanges {
            rules: RuleChanges {
                blocked: Some(blocked),
                ..RuleChanges::default()
            },
            ..KeyChanges::default()
        };
        let row = store::keys::update(&self.pool, &hash, changes)
            .await?
            .ok_or_else(|| KeyError::NotFound("key not found".into()))?;
        self.invalidate(&format!("key:{hash}")).await;
        Ok(KeyInfoResponse {
            key: hash,
            info: row.into(),
        })
    }

    /// `POST /team/new`.
    pub async fn new_team(&self, req: NewTeamRequest) -> Result<TeamResponse, KeyError> {
        self.ready().await?;
        let now = OffsetDateTime::now_utc();
        check_opt_name("team_id", &req.team_id)?;
        check_opt_name("team_alias", &req.team_alias)?;
        check_budget("max_budget", req.max_budget)?;
        let models = req.models.unwrap_or_default();
        check_models(&models)?;
        let guardrails = req.guardrails.unwrap_or_default();
        check_guardrails(&guardrails)?;
        let (budget_duration, budget_reset_at) = budget_of(now, &req.budget_duration)?;
        let row = store::teams::insert(
            &self.pool,
            NewTeam {
                team_id: req
                    .team_id
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                team_alias: req.team_alias,
                rules: NewRules {
                    models,
                    max_budget: req.max_budget,
                    budget_duration,
                    budget_reset_at,
                    rpm_limit: bigint(req.rpm_limit),
                    tpm_limit: bigint(req.tpm_limit),
                    max_parallel_requests: bigint(req.max_parallel_requests),
                    metadata: req.metadata.unwrap_or_default(),
                    blocked: req.blocked.unwrap_or(false),
                    guardrails,
                },
            },
        )
        .await?;
        Ok(row.into())
    }

    /// `POST /team/update`: the team's keys see the change at once.
    pub async fn update_team(&self, req: UpdateTeamRequest) -> Result<TeamResponse, KeyError> {
        self.ready().await?;
        let now = OffsetDateTime::now_utc();
        if let Some(Some(a)) = &req.team_alias {
            check_name("team_alias", a)?;
        }
        let rules = RuleUpdate {
            models: req.models,
            max_budget: req.max_budget,
            budget_duration: req.budget_duration,
            rpm_limit: req.rpm_limit,
            tpm_limit: req.tpm_limit,
            max_parallel_requests: req.max_parallel_requests,
            metadata: req.metadata,
            blocked: req.blocked,
            spend: req.spend,
            guardrails: req.guardrails,
        }
        .into_changes(now)?;
        let budget_changed = rules.budget_reset_at.is_some();
        if budget_changed || req.spend.is_some() {
            self.flush().await;
        }
        let changes = TeamChanges {
            team_alias: req.team_alias,
            rules,
        };
        let row = store::teams::update(&self.pool, &req.team_id, changes)
            .await?
            .ok_or_else(|| KeyError::NotFound("team not found".into()))?;
        self.rules_changed(
            Scope::Team,
            &row.team_id,
            budget_changed,
            req.spend,
            row.rules.budget_reset_at,
        )
        .await;
        Ok(row.into())
    }

    /// `GET /team/info?team_id=`.
    pub async fn team_info(&self, team_id: &str) -> Result<TeamInfoResponse, KeyError> {
        self.ready().await?;
        // What this replica settled is written first, so the answer includes it.
        if self.database_up() {
            self.flush().await;
        }
        let team = store::teams::get(&self.pool, team_id)
            .await
            .map_err(|e| self.db_error(&e))?
            .ok_or_else(|| KeyError::NotFound("team not found".into()))?;
        let keys = store::keys::of_team(&self.pool, team_id)
            .await
            .map_err(|e| self.db_error(&e))?;
        Ok(TeamInfoResponse {
            team_id: team.team_id.clone(),
            team_info: team.into(),
            keys: keys.into_iter().map(Into::into).collect(),
        })
    }

    /// `POST /team/delete`: the teams and their keys.
    pub async fn delete_teams(
        &self,
        req: DeleteTeamsRequest,
    ) -> Result<DeleteTeamsResponse, KeyError> {
        self.ready().await?;
        if req.team_ids.is_empty() {
            return Err(bad("give team_ids to delete"));
        }
        let (teams, keys) = store::teams::delete(&self.pool, &req.team_ids)
            .await
            .map_err(|e| self.db_error(&e))?;
        if teams.is_empty() {
            return Err(KeyError::NotFound("team not found".into()));
        }
        for hash in &keys {
            self.forget_everywhere(Scope::Key, hash).await;
        }
        for team in &teams {
            self.forget_everywhere(Scope::Team, team).await;
        }
        Ok(DeleteTeamsResponse {
            deleted_teams: teams,
            deleted_keys: keys,
        })
    }

    /// `GET /spend/logs`: newest first.
    pub async fn spend_logs(&self, q: SpendLogsQuery) -> Result<Vec<SpendLogRow>, KeyError> {
        self.ready().await?;
        // What this replica settled is written first, so the answer includes it.
        if self.database_up() {
            self.flush().await;
        }
        let filter = LogFilter {
            api_key: q.api_key.as_deref().map(to_hash),
            request_id: q.request_id,
            team_id: q.team_id,
            user_id: q.user_id,
            start: q
                .start_date
                .as_deref()
                .map(|d| parse_date("start_date", d, false))
                .transpose()?,
            end: q
                .end_date
                .as_deref()
                .map(|d| parse_date("end_date", d, true))
                .transpose()?,
            limit: i64::from(q.limit.unwrap_or(100).clamp(1, 1000)),
        };
        store::spend::logs(&self.pool, &filter)
            .await
            .map_err(|e| self.db_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_are_days_or_timestamps() {
        assert_eq!(
            parse_date("start_date", "2026-11-27", false).unwrap(),
            datetime!(2026-11-27 00:00 UTC)
        );
        assert_eq!(
            parse_date("end_date", "2026-11-27", true).unwrap(),
            datetime!(2026-11-28 00:00 UTC)
        );
        assert_eq!(
            parse_date("start_date", "2026-11-27T10:00:00Z", false).unwrap(),
            datetime!(2026-11-27 10:00 UTC)
        );
        assert!(parse_date("start_date", "yesterday", false).is_err());
    }

    #[test]
    fn tags_and_user_email_are_checked_and_tags_go_into_metadata() {
        assert!(check_tags(&Some(vec!["prod".into(), "team-a".into()])).is_ok());
        assert!(check_tags(&Some(vec!["".into()])).is_err());
        assert!(check_tags(&Some(vec!["t".into(); MAX_TAGS + 1])).is_err());
        let meta = |v: Value| match v {
            Value::Object(m) => Some(m),
            _ => None,
        };
        assert!(check_metadata(&meta(serde_json::json!({"user_email": "a@b.io"}))).is_ok());
        assert!(check_metadata(&meta(serde_json::json!({"owner": "x"}))).is_ok());
        assert!(check_metadata(&meta(serde_json::json!({"user_email": "nobody"}))).is_err());
        assert!(check_metadata(&meta(serde_json::json!({"user_email": 7}))).is_err());
        let m = with_tags(meta(serde_json::json!({"a": 1})).unwrap(), vec!["x".into()]);
        assert_eq!(
            Value::Object(m.clone()),
            serde_json::json!({"a": 1, "tags": ["x"]})
        );
        assert_eq!(
            Value::Object(with_tags(m, vec![])),
            serde_json::json!({"a": 1})
        );
    }

    #[test]
    fn names_and_budgets_are_checked() {
        assert!(check_name("key_alias", "ok").is_ok());
        assert!(check_name("key_alias", " ").is_err());
        assert!(check_name("key_alias", "a\nb").is_err());
        assert!(check_name("key_alias", &"x".repeat(300)).is_err());
        assert!(check_budget("max_budget", Some(-1.0)).is_err());
        assert!(check_budget("max_budget", Some(f64::NAN)).is_err());
        assert!(check_budget("max_budget", Some(0.0)).is_ok());
    }
}
