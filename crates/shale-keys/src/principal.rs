//! Who is calling and what they may do: [`Principal`] (a resolved virtual key with its team's
//! rules and its per-model budgets, cached on the hot path), the model-scope rule, [`SpendEvent`]
//! (what a finished request cost) and [`Admission`] (an admitted request; dropping it releases its
//! parallel slot and gives back the tokens it reserved). Nothing here touches Postgres or Redis.

use crate::error::Scope;
use crate::limits::Release;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// LiteLLM's marker in `models` meaning "every model of the proxy".
pub const ALL_PROXY_MODELS: &str = "all-proxy-models";
/// LiteLLM's marker in a key's `models` meaning "whatever its team allows".
pub const ALL_TEAM_MODELS: &str = "all-team-models";

/// A resolved virtual key: labels for logs and metrics, plus the rules `admit` applies.
#[derive(Debug, Clone)]
pub struct Principal {
    /// SHA-256 hex of the key (never the clear key).
    pub key_hash: String,
    pub key_alias: Option<String>,
    pub team_id: Option<String>,
    pub team_alias: Option<String>,
    pub user_id: Option<String>,
    /// Guardrails every request of the key runs (config `guardrail_name`s).
    pub guardrails: Vec<String>,
    /// Guardrails every request of the key's team runs.
    pub team_guardrails: Vec<String>,
    /// Response-cache controls the key may send (LiteLLM's `allowed_cache_controls`; empty =
    /// all).
    pub allowed_cache_controls: Vec<String>,
    /// The key owner's email (`metadata.user_email`), for the `user_email` metric label.
    pub user_email: Option<String>,
    /// The key's tags (LiteLLM keeps them in `metadata.tags`): put on each spend-log row.
    pub tags: Vec<String>,
    pub(crate) expires: Option<OffsetDateTime>,
    pub(crate) key: ScopeRules,
    /// The team's rules when the key belongs to a team.
    pub(crate) team: Option<ScopeRules>,
    /// The key's `model_max_budget` entries, each a budget scope of its own.
    pub(crate) model_budgets: Vec<ModelBudget>,
}

/// One `model_max_budget` entry of a key: the model name and its budget as a scope (id
/// `<key hash>/<model>`, `max_budget` = `budget_limit`), whose periods of `period` run from
/// `anchor` (the key's creation).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelBudget {
    pub model: String,
    pub rules: ScopeRules,
    pub anchor: OffsetDateTime,
    pub period: Duration,
}

impl ModelBudget {
    /// The end of the period `now` is in (every replica computes the same).
    pub(crate) fn period_end(&self, now: OffsetDateTime) -> OffsetDateTime {
        crate::duration::next_reset(self.anchor, self.period, now)
    }
}

/// Limits and budget of one scope (a key or a team).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScopeRules {
    /// The key hash or the team id.
    pub id: String,
    /// Allowed model names; empty = all.
    pub models: Vec<String>,
    pub max_budget: Option<f64>,
    pub budget_period: Option<Duration>,
    pub budget_reset_at: Option<OffsetDateTime>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u64>,
}

impl ScopeRules {
    /// Whether this scope lets `model` through (`models` empty or containing it,
    /// `all-proxy-models` or `all-team-models` — the team's own list is checked separately).
    pub(crate) fn allows(&self, model: &str) -> bool {
        self.models.is_empty()
            || self
                .models
                .iter()
                .any(|m| m == model || m == ALL_PROXY_MODELS || m == ALL_TEAM_MODELS)
    }
}

impl Principal {
    /// The key and, if any, its team, each with its scope.
    pub(crate) fn scopes(&self) -> impl Iterator<Item = (Scope, &ScopeRules)> {
        std::iter::once((Scope::Key, &self.key)).chain(self.team.iter().map(|t| (Scope::Team, t)))
    }

    /// Model scope: the key's list and the team's list must both allow `model`.
    pub fn may_use_model(&self, model: &str) -> bool {
        self.scopes().all(|(_, s)| s.allows(model))
    }

    /// Whether the key or its team has a `tpm_limit` (then admission reserves an estimate of the
    /// request's tokens, so the caller should make one).
    pub fn tpm_limited(&self) -> bool {
        self.scopes().any(|(_, s)| s.tpm_limit.is_some())
    }

    /// The `model_max_budget` entry that applies to `model`: its exact name, else the name
    /// without a provider prefix (`bedrock/claude` → `claude`), as LiteLLM looks it up.
    pub(crate) fn model_budget(&self, model: &str) -> Option<usize> {
        if self.model_budgets.is_empty() {
            return None;
        }
        let find = |name: &str| self.model_budgets.iter().position(|b| b.model == name);
        find(model).or_else(|| model.rsplit_once('/').and_then(|(_, bare)| find(bare)))
    }

    /// A key without team, limits or models (unit tests).
    #[cfg(test)]
    pub(crate) fn for_tests(key_hash: &str) -> Principal {
        Principal {
            key_hash: key_hash.into(),
            key_alias: None,
            team_id: None,
            team_alias: None,
            user_id: None,
            guardrails: vec![],
            team_guardrails: vec![],
            allowed_cache_controls: Vec::new(),
            user_email: None,
            tags: Vec::new(),
            expires: None,
            model_budgets: Vec::new(),
            key: ScopeRules::open(key_hash, &[]),
            team: None,
        }
    }

    /// Whether the key has expired as of `now`.
    pub(crate) fn expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// What one finished request cost, handed to [`crate::KeyService::settle`].
#[derive(Debug, Clone)]
pub struct SpendEvent {
    pub request_id: String,
    /// The model name the client asked for.
    pub requested_model: String,
    /// The deployment that answered.
    pub deployment_id: String,
    /// The route, e.g. `chat_completions`, `messages`, `responses`.
    pub call_type: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Cost in USD.
    pub spend: f64,
    pub start: SystemTime,
    pub end: SystemTime,
    /// HTTP status of the answer.
    pub status: u16,
    /// The guardrails that ran and what they did.
    pub guardrails: Vec<crate::api::GuardrailInfo>,
    /// Answered from the response cache: its tokens count toward no tpm limit.
    pub cache_hit: bool,
    /// The response cache's key of the answer.
    pub cache_key: Option<String>,
}

/// An admitted request. Holds the parallel slot (key and team) and the tokens it reserved in
/// the tpm windows until it is settled (reservation corrected to the real usage) or dropped
/// (reservation given back).
#[derive(Debug)]
pub struct Admission {
    pub(crate) principal: Arc<Principal>,
    /// The budget periods the spend of this request belongs to (key, team).
    pub(crate) periods: [Option<OffsetDateTime>; 2],
    /// The `model_max_budget` entry that applies (index in `principal.model_budgets`) and its
    /// period.
    pub(crate) model: Option<(usize, Option<OffsetDateTime>)>,
    pub(crate) release: Option<Release>,
}

impl Admission {
    /// The caller this admission belongs to.
    pub fn principal(&self) -> &Arc<Principal> {
        &self.principal
    }

    /// Every budget this request's spend counts toward: the key's, its team's and the model
    /// budget's, each with the period it was admitted in.
    pub(crate) fn budgets(
        &self,
    ) -> impl Iterator<Item = (Scope, &ScopeRules, Option<OffsetDateTime>)> {
        let p = &self.principal;
        let model = self.model.and_then(|(i, period)| {
            p.model_budgets
                .get(i)
                .map(|b| (Scope::Model, &b.rules, period))
        });
        p.scopes()
            .zip(self.periods)
            .map(|((scope, rules), period)| (scope, rules, period))
            .chain(model)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release.run();
        }
    }
}

#[cfg(test)]
impl ScopeRules {
    /// The rules of `id`: `models` (empty = all), nothing limited (unit tests).
    pub(crate) fn open(id: &str, models: &[&str]) -> ScopeRules {
        ScopeRules {
            id: id.into(),
            models: models.iter().map(|m| m.to_string()).collect(),
            max_budget: None,
            budget_period: None,
            budget_reset_at: None,
            rpm_limit: None,
            tpm_limit: None,
            max_parallel_requests: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(key: &[&str], team: Option<&[&str]>) -> Principal {
        Principal {
            team_id: team.map(|_| "t".into()),
            key: ScopeRules::open("h", key),
            team: team.map(|m| ScopeRules::open("t", m)),
            ..Principal::for_tests("h")
        }
    }

    #[test]
    fn model_budgets_match_the_name_or_the_name_without_provider() {
        let mut p = principal(&[], None);
        assert_eq!(p.model_budget("claude"), None);
        p.model_budgets = vec![ModelBudget {
            model: "claude".into(),
            rules: ScopeRules::open("h/claude", &[]),
            anchor: OffsetDateTime::UNIX_EPOCH,
            period: Duration::from_secs(60),
        }];
        let b = &p.model_budgets[0];
        let t = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s);
        assert_eq!(b.period_end(t(0)), t(60));
        assert_eq!(b.period_end(t(59)), t(60));
        assert_eq!(b.period_end(t(60)), t(120));
        assert_eq!(p.model_budget("claude"), Some(0));
        assert_eq!(p.model_budget("bedrock/claude"), Some(0));
        assert_eq!(p.model_budget("claude-2"), None);
    }

    #[test]
    fn tpm_limited_when_key_or_team_has_a_tpm_limit() {
        let mut p = principal(&[], Some(&[]));
        assert!(!p.tpm_limited());
        p.team.as_mut().unwrap().tpm_limit = Some(10);
        assert!(p.tpm_limited());
    }

    #[test]
    fn model_scope_is_key_and_team() {
        assert!(principal(&[], None).may_use_model("any"));
        assert!(principal(&["a"], None).may_use_model("a"));
        assert!(!principal(&["a"], None).may_use_model("b"));
        assert!(principal(&[ALL_PROXY_MODELS], None).may_use_model("b"));
        assert!(!principal(&[], Some(&["a"])).may_use_model("b"));
        assert!(principal(&["a", "b"], Some(&["b"])).may_use_model("b"));
        assert!(!principal(&["a", "b"], Some(&["b"])).may_use_model("a"));
        assert!(principal(&[ALL_TEAM_MODELS], Some(&["b"])).may_use_model("b"));
        assert!(!principal(&[ALL_TEAM_MODELS], Some(&["b"])).may_use_model("a"));
    }
}
