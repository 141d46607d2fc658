//! Which failures count against a deployment, how often each class is retried, and how many of
//! each a deployment may have per minute before it cools down (LiteLLM's `retry_policy` and
//! `allowed_fails_policy`). Pure decisions: no state, no I/O.

use shale_config::{ErrorClassCounts, RoutingSettings};
use std::time::Duration;

/// What kind of failure an attempt ended with, as LiteLLM classes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The caller's own mistake (400/404/413/422 …): never retried, never counted, no fallback.
    BadRequest,
    /// The prompt does not fit the model (Bedrock's "input is too long"): context-window fallbacks.
    ContextWindow,
    /// A guardrail or content filter refused: content-policy fallbacks.
    ContentPolicy,
    /// 401/403 from Bedrock (wrong or expired credentials, no model access).
    Authentication,
    /// 429 (throttling, model not ready).
    RateLimit,
    /// 408, or no answer within the timeout.
    Timeout,
    /// 5xx from Bedrock.
    InternalServer,
    /// The connection to Bedrock failed.
    Connect,
}

impl FailureClass {
    /// Whether this failure counts towards cooling the deployment down (429, 401/403, 408, 5xx,
    /// connection errors and timeouts; never the caller's own 400s).
    pub fn counts_against_deployment(self) -> bool {
        !matches!(
            self,
            FailureClass::BadRequest | FailureClass::ContextWindow | FailureClass::ContentPolicy
        )
    }

    /// Whether repeating the call on the same deployment can help (throttling, timeouts, 5xx,
    /// connection errors). Other failures are only retried on a different deployment.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureClass::RateLimit
                | FailureClass::Timeout
                | FailureClass::InternalServer
                | FailureClass::Connect
        )
    }

    /// The class from an HTTP status (and, for 400s, the OpenAI error code and message).
    pub fn from_status(status: u16, code: Option<&str>, message: &str) -> FailureClass {
        match status {
            401 | 403 => FailureClass::Authentication,
            408 | 504 => FailureClass::Timeout,
            429 => FailureClass::RateLimit,
            502 => FailureClass::Connect,
            500..=599 => FailureClass::InternalServer,
            _ if code == Some("context_length_exceeded") => FailureClass::ContextWindow,
            _ if is_content_policy_message(message) => FailureClass::ContentPolicy,
            _ => FailureClass::BadRequest,
        }
    }

    /// A short label for logs, headers and `/health`.
    pub fn label(self) -> &'static str {
        match self {
            FailureClass::BadRequest => "bad_request",
            FailureClass::ContextWindow => "context_window",
            FailureClass::ContentPolicy => "content_policy",
            FailureClass::Authentication => "authentication",
            FailureClass::RateLimit => "rate_limit",
            FailureClass::Timeout => "timeout",
            FailureClass::InternalServer => "internal_server",
            FailureClass::Connect => "connect",
        }
    }
}

/// True when an error message says a guardrail or content filter blocked the request.
pub fn is_content_policy_message(message: &str) -> bool {
    const NEEDLES: &[&str] = &[
        "content filter",
        "content filtering",
        "content policy",
        "guardrail intervened",
        "guardrail_intervened",
        "blocked by guardrail",
        "responsible ai policy",
    ];
    let lower = message.to_ascii_lowercase();
    NEEDLES.iter().any(|n| lower.contains(n))
}

/// The retry and cooldown rules of one gateway, resolved from the settings.
#[derive(Debug, Clone)]
pub struct Policy {
    pub num_retries: u32,
    pub retry_policy: ErrorClassCounts,
    /// Least wait before retrying a deployment already tried for this request.
    pub retry_after: Duration,
    pub allowed_fails: u32,
    pub allowed_fails_policy: ErrorClassCounts,
    pub cooldown_time: Duration,
    pub cooldowns_enabled: bool,
}

/// LiteLLM's defaults.
pub const DEFAULT_NUM_RETRIES: u32 = 2;
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5);

impl Policy {
    pub fn from_settings(s: &RoutingSettings) -> Policy {
        Policy {
            num_retries: s.num_retries.unwrap_or(DEFAULT_NUM_RETRIES),
            retry_policy: s.retry_policy,
            retry_after: s.retry_after.unwrap_or(Duration::from_millis(200)),
            allowed_fails: s.allowed_fails.unwrap_or(DEFAULT_ALLOWED_FAILS),
            allowed_fails_policy: s.allowed_fails_policy,
            cooldown_time: s.cooldown_time.unwrap_or(DEFAULT_COOLDOWN),
            cooldowns_enabled: !s.disable_cooldowns,
        }
    }

    /// How many retries a failure of this class gets (within one model group); `own` is the
    /// failing deployment's `num_retries`, which replaces the router's.
    pub fn retries_for_deployment(&self, class: FailureClass, own: Option<u32>) -> u32 {
        match own {
            Some(n) => Policy {
                num_retries: n,
                ..self.clone()
            }
            .retries_for(class),
            None => self.retries_for(class),
        }
    }

    /// How many retries a failure of this class gets (within one model group).
    pub fn retries_for(&self, class: FailureClass) -> u32 {
        let specific = match class {
            // Another deployment of the same model has the same context window and filters.
            FailureClass::ContextWindow => return 0,
            FailureClass::ContentPolicy => self.retry_policy.content_policy.or(Some(0)),
            FailureClass::BadRequest => self.retry_policy.bad_request.or(Some(0)),
            FailureClass::Authentication => self.retry_policy.authentication,
            FailureClass::RateLimit => self.retry_policy.rate_limit,
            FailureClass::Timeout | FailureClass::Connect => self.retry_policy.timeout,
            FailureClass::InternalServer => self.retry_policy.internal_server,
        };
        specific.unwrap_or(self.num_retries)
    }

    /// Failures of this class a deployment may have in a minute before it cools down, given the
    /// deployment's own `allowed_fails` override.
    pub fn allowed_fails_for(&self, class: FailureClass, own: Option<u32>) -> u32 {
        let specific = match class {
            FailureClass::BadRequest => self.allowed_fails_policy.bad_request,
            FailureClass::Authentication => self.allowed_fails_policy.authentication,
            FailureClass::RateLimit => self.allowed_fails_policy.rate_limit,
            FailureClass::Timeout | FailureClass::Connect => self.allowed_fails_policy.timeout,
            FailureClass::InternalServer => self.allowed_fails_policy.internal_server,
            FailureClass::ContentPolicy => self.allowed_fails_policy.content_policy,
            FailureClass::ContextWindow => None,
        };
        own.or(specific).unwrap_or(self.allowed_fails)
    }

    /// Backoff before attempt `n` (1-based) on a deployment already tried: exponential from
    /// `retry_after`, capped at 5 s, honouring a server-given `Retry-After` when larger.
    pub fn backoff(&self, n: u32, server_hint: Option<Duration>) -> Duration {
        let exp = self
            .retry_after
            .saturating_mul(1u32 << n.saturating_sub(1).min(5));
        let capped = exp.min(Duration::from_secs(5));
        server_hint
            .map(|h| h.min(Duration::from_secs(30)))
            .map_or(capped, |h| h.max(capped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::from_settings(&RoutingSettings::default())
    }

    #[test]
    fn which_failures_count() {
        for (status, counts) in [
            (429, true),
            (401, true),
            (403, true),
            (408, true),
            (500, true),
            (502, true),
            (503, true),
            (504, true),
            (400, false),
            (404, false),
            (413, false),
        ] {
            let class = FailureClass::from_status(status, None, "x");
            assert_eq!(class.counts_against_deployment(), counts, "{status}");
        }
        let cw =
            FailureClass::from_status(400, Some("context_length_exceeded"), "Input is too long");
        assert_eq!(cw, FailureClass::ContextWindow);
        assert!(!cw.counts_against_deployment());
        let cp = FailureClass::from_status(
            400,
            None,
            "ValidationException: Output blocked by content filtering policy",
        );
        assert_eq!(cp, FailureClass::ContentPolicy);
    }

    #[test]
    fn retry_policy_per_class_overrides_num_retries() {
        let mut s = RoutingSettings {
            num_retries: Some(4),
            ..Default::default()
        };
        s.retry_policy.rate_limit = Some(1);
        let p = Policy::from_settings(&s);
        assert_eq!(p.retries_for(FailureClass::RateLimit), 1);
        assert_eq!(p.retries_for(FailureClass::InternalServer), 4);
        assert_eq!(p.retries_for(FailureClass::BadRequest), 0);
        assert_eq!(p.retries_for(FailureClass::ContextWindow), 0);
        assert_eq!(
            policy().retries_for(FailureClass::Timeout),
            DEFAULT_NUM_RETRIES
        );
    }

    #[test]
    fn allowed_fails_deployment_override_wins() {
        let mut s = RoutingSettings::default();
        s.allowed_fails_policy.rate_limit = Some(10);
        let p = Policy::from_settings(&s);
        assert_eq!(p.allowed_fails_for(FailureClass::RateLimit, None), 10);
        assert_eq!(p.allowed_fails_for(FailureClass::RateLimit, Some(0)), 0);
        assert_eq!(
            p.allowed_fails_for(FailureClass::InternalServer, None),
            DEFAULT_ALLOWED_FAILS
        );
    }

    #[test]
    fn backoff_grows_and_honours_hint() {
        let p = policy();
        assert_eq!(p.backoff(1, None), Duration::from_millis(200));
        assert_eq!(p.backoff(2, None), Duration::from_millis(400));
        assert_eq!(p.backoff(20, None), Duration::from_secs(5));
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }
}
