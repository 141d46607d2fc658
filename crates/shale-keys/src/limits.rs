//! Admission of one request against every scope it belongs to (the key, its team and the key's
//! budget for the model): budget, `rpm_limit`, `tpm_limit` and `max_parallel_requests`, all of
//! them or none. [`Limiter`] asks Redis when configured (one script, one round trip, shared by
//! every replica) and this process's counters otherwise or while Redis is unreachable.
//!
//! Tokens: admission reserves the request's estimated tokens in the tpm window, and a request is
//! refused when the window cannot hold its estimate, so concurrent requests cannot all pass on an
//! empty window; the reservation is corrected to the real usage at settle (or given back when the
//! admission is dropped unsettled). One request larger than the whole limit still passes when the
//! window is empty (it could never pass otherwise).
//!
//! Why not the router's `SharedState`: it admits the *first* of several candidates that has room
//! (a choice among deployments), while a key and its team must *both* have room, budgets included,
//! and it has no parallel limit. The Redis side follows the same pattern (lazy connection, short
//! timeouts, local stand-in while down, warn once).

use crate::error::{LimitKind, Scope};
use crate::principal::Principal;
use crate::redis_link::RedisLink;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// One scope to check: its limits, its budget and what it has spent as far as this replica knows.
#[derive(Debug, Clone)]
pub(crate) struct ScopeCheck<'a> {
    pub scope: Scope,
    pub id: &'a str,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub parallel: Option<u64>,
    pub max_budget: Option<f64>,
    /// This replica's spend of the current budget period, including `unshared`.
    pub spend: f64,
    /// Spend settled here that the shared counter does not have yet (Redis was unreachable, or
    /// the write is on its way).
    pub unshared: f64,
    /// The end of the current budget period (names the shared spend counter).
    pub period: Option<OffsetDateTime>,
    /// Counted in rpm/tpm/parallel windows (keys and teams); a model budget is a budget only.
    pub counted: bool,
}

/// The outcome of an admission.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Admitted; the shared spend per scope when Redis answered.
    Admitted { shared_spend: Option<Vec<f64>> },
    Budget {
        scope: Scope,
        spend: f64,
        max_budget: f64,
    },
    Limited {
        kind: LimitKind,
        scope: Scope,
        retry_after_secs: u64,
    },
}

/// Which store counted an admission (its release goes to the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Local,
    Redis,
}

/// rpm/tpm of the current minute and requests in flight, for one scope.
#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    minute: u64,
    rpm: u64,
    tpm: u64,
    in_flight: u64,
}

/// This process's counters (no Redis, or Redis down), per scope then id.
#[derive(Debug, Default)]
pub(crate) struct LocalLimits {
    counters: Mutex<[HashMap<String, Counter>; SCOPES]>,
}

/// How many scopes there are (the length of per-scope arrays).
pub(crate) const SCOPES: usize = 3;

/// The slot of a scope in per-scope arrays.
pub(crate) fn slot(scope: Scope) -> usize {
    match scope {
        Scope::Key => 0,
        Scope::Team => 1,
        Scope::Model => 2,
    }
}

/// Whether a tpm window that used `used` tokens is too full for a request estimated at `est`:
/// full, or too full for the estimate unless it is empty (one oversized request a window).
pub(crate) fn tpm_full(used: u64, est: u64, limit: u64) -> bool {
    used >= limit || (used > 0 && used.saturating_add(est) > limit)
}

/// Seconds until the next minute window opens (at least 1).
pub(crate) fn secs_to_next_minute(now_ms: u64) -> u64 {
    (60 - (now_ms / 1000) % 60).max(1)
}

impl LocalLimits {
    fn admit(&self, checks: &[ScopeCheck<'_>], est_tokens: u64, now_ms: u64) -> Verdict {
        for c in checks {
            if let Some(max) = c.max_budget {
                if c.spend >= max {
                    return Verdict::Budget {
                        scope: c.scope,
                        spend: c.spend,
                        max_budget: max,
                    };
                }
            }
        }
        let minute = now_ms / 60_000;
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for c in checks.iter().filter(|c| c.counted) {
            let scoped = &mut map[slot(c.scope)];
            if !scoped.contains_key(c.id) {
                scoped.insert(c.id.to_string(), Counter::default());
            }
            let Some(counter) = scoped.get_mut(c.id) else {
                continue;
            };
            if counter.minute != minute {
                *counter = Counter {
                    minute,
                    in_flight: counter.in_flight,
                    ..Counter::default()
                };
            }
            let limited = |kind| Verdict::Limited {
                kind,
                scope: c.scope,
                retry_after_secs: match kind {
                    LimitKind::Parallel => 1,
                    _ => secs_to_next_minute(now_ms),
                },
            };
            if c.rpm.is_some_and(|l| counter.rpm >= l) {
                return limited(LimitKind::Rpm);
            }
            if c.tpm.is_some_and(|l| tpm_full(counter.tpm, est_tokens, l)) {
                return limited(LimitKind::Tpm);
            }
            if c.parallel.is_some_and(|l| counter.in_flight >= l) {
                return limited(LimitKind::Parallel);
            }
        }
        for c in checks.iter().filter(|c| c.counted) {
            if let Some(counter) = map[slot(c.scope)].get_mut(c.id) {
                counter.rpm += 1;
                counter.tpm = counter.tpm.saturating_add(est_tokens);
                counter.in_flight += 1;
            }
        }
        Verdict::Admitted { shared_spend: None }
    }

    fn release(&self, p: &Principal) {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for (scope, rules) in p.scopes() {
            if let Some(c) = map[slot(scope)].get_mut(&rules.id) {
                c.in_flight = c.in_flight.saturating_sub(1);
            }
        }
    }

    /// Corrects the tpm window of `minute` (nothing when it has rolled over since).
    fn add_tokens(&self, p: &Principal, delta: i64, minute: u64) {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for (scope, rules) in p.scopes() {
            if let Some(c) = map[slot(scope)].get_mut(&rules.id) {
                if c.minute == minute {
                    c.tpm = c.tpm.saturating_add_signed(delta);
                }
            }
        }
    }
}

/// Admission across replicas (Redis) or in this process.
#[derive(Debug)]
pub(crate) struct Limiter {
    local: LocalLimits,
    redis: Option<Arc<RedisLink>>,
}

impl Limiter {
    pub(crate) fn new(redis: Option<Arc<RedisLink>>) -> Limiter {
        Limiter {
            local: LocalLimits::default(),
            redis,
        }
    }

    /// Checks every scope and, if all have room, counts the request in each (at most one Redis
    /// round trip).
    pub(crate) async fn admit(
        &self,
        checks: &[ScopeCheck<'_>],
        est_tokens: u64,
        now_ms: u64,
    ) -> (Verdict, Backend) {
        if let Some(redis) = &self.redis {
            if let Some(v) = redis.admit(checks, est_tokens, now_ms).await {
                return (v, Backend::Redis);
            }
        }
        (self.local.admit(checks, est_tokens, now_ms), Backend::Local)
    }

    /// Corrects the tpm windows of `minute` by `delta` tokens (reported − reserved). Never waits.
    pub(crate) fn add_tokens(&self, p: &Principal, delta: i64, minute: u64, backend: Backend) {
        if delta == 0 {
            return;
        }
        match (&self.redis, backend) {
            (Some(r), Backend::Redis) => r.add_tokens(p, delta, minute),
            _ => self.local.add_tokens(p, delta, minute),
        }
    }

    fn release(&self, p: &Principal, backend: Backend) {
        match (&self.redis, backend) {
            (Some(r), Backend::Redis) => r.release(p),
            _ => self.local.release(p),
        }
    }
}

/// What an admission holds in the limiter: its parallel slots and the tokens it reserved in the
/// tpm windows of `minute`. Run once, from `Admission`'s drop: the slots come back, and so do
/// the reserved tokens unless settle already corrected them (it then sets `reserved` to 0).
#[derive(Debug)]
pub(crate) struct Release {
    pub limiter: Arc<Limiter>,
    pub principal: Arc<Principal>,
    pub backend: Backend,
    pub reserved: u64,
    pub minute: u64,
}

impl Release {
    /// The request used `used` tokens: the tpm windows count that instead of the reservation.
    pub(crate) fn settle_tokens(&mut self, used: u64) {
        let clamp = |v: u64| v.min(i64::MAX as u64) as i64;
        let delta = clamp(used).saturating_sub(clamp(self.reserved));
        self.reserved = 0;
        self.limiter
            .add_tokens(&self.principal, delta, self.minute, self.backend);
    }

    pub(crate) fn run(mut self) {
        if self.reserved > 0 {
            self.settle_tokens(0);
        }
        self.limiter.release(&self.principal, self.backend);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        scope: Scope,
        rpm: Option<u64>,
        tpm: Option<u64>,
        par: Option<u64>,
    ) -> ScopeCheck<'static> {
        ScopeCheck {
            scope,
            id: match scope {
                Scope::Key => "key",
                Scope::Team => "team",
                Scope::Model => "key/m",
            },
            rpm,
            tpm,
            parallel: par,
            max_budget: None,
            spend: 0.0,
            unshared: 0.0,
            period: None,
            counted: true,
        }
    }

    #[test]
    fn tighter_scope_wins_and_nothing_is_counted_on_refusal() {
        let l = LocalLimits::default();
        let checks = [
            check(Scope::Key, Some(5), None, None),
            check(Scope::Team, Some(2), None, None),
        ];
        let t = 60_000 * 10 + 5_000;
        assert!(matches!(l.admit(&checks, 0, t), Verdict::Admitted { .. }));
        assert!(matches!(l.admit(&checks, 0, t), Verdict::Admitted { .. }));
        assert_eq!(
            l.admit(&checks, 0, t),
            Verdict::Limited {
                kind: LimitKind::Rpm,
                scope: Scope::Team,
                retry_after_secs: 55
            }
        );
        // The next minute opens the window again.
        assert!(matches!(
            l.admit(&checks, 0, t + 60_000),
            Verdict::Admitted { .. }
        ));
    }

    #[test]
    fn parallel_slots_come_back_on_release() {
        let l = LocalLimits::default();
        let checks = [check(Scope::Key, None, None, Some(1))];
        assert!(matches!(l.admit(&checks, 0, 0), Verdict::Admitted { .. }));
        assert!(matches!(
            l.admit(&checks, 0, 0),
            Verdict::Limited {
                kind: LimitKind::Parallel,
                ..
            }
        ));
        l.release(&Principal::for_tests("key"));
        assert!(matches!(l.admit(&checks, 0, 0), Verdict::Admitted { .. }));
    }

    #[test]
    fn tpm_counts_estimates_and_corrections() {
        let l = LocalLimits::default();
        let checks = [check(Scope::Key, None, Some(100), None)];
        assert!(matches!(l.admit(&checks, 60, 0), Verdict::Admitted { .. }));
        l.add_tokens(&Principal::for_tests("key"), 50, 0);
        assert!(matches!(
            l.admit(&checks, 1, 0),
            Verdict::Limited {
                kind: LimitKind::Tpm,
                ..
            }
        ));
    }

    #[test]
    fn concurrent_requests_do_not_all_pass_on_an_empty_window() {
        // Five requests of ~30 tokens arrive together on a 100-token key: the reservations of
        // the first three fill the window, the others are refused before any usage is known.
        let l = LocalLimits::default();
        let checks = [check(Scope::Key, None, Some(100), None)];
        let admitted = (0..5)
            .filter(|_| matches!(l.admit(&checks, 30, 0), Verdict::Admitted { .. }))
            .count();
        assert_eq!(admitted, 3);
    }

    #[test]
    fn an_oversized_request_passes_only_on_an_empty_window() {
        let l = LocalLimits::default();
        let checks = [check(Scope::Key, None, Some(100), None)];
        assert!(matches!(l.admit(&checks, 500, 0), Verdict::Admitted { .. }));
        assert!(matches!(l.admit(&checks, 1, 0), Verdict::Limited { .. }));
        assert!(tpm_full(100, 0, 100));
        assert!(!tpm_full(0, 500, 100));
        assert!(tpm_full(1, 100, 100));
        assert!(!tpm_full(50, 50, 100));
    }

    #[test]
    fn a_dropped_admission_gives_its_reservation_back_and_settle_corrects_it() {
        let limiter = Arc::new(Limiter::new(None));
        let checks = [check(Scope::Key, None, Some(100), None)];
        let release = |reserved| Release {
            limiter: Arc::clone(&limiter),
            principal: Arc::new(Principal::for_tests("key")),
            backend: Backend::Local,
            reserved,
            minute: 0,
        };
        let admit = |est| {
            matches!(
                limiter.local.admit(&checks, est, 0),
                Verdict::Admitted { .. }
            )
        };
        assert!(admit(90));
        // Dropped unsettled (the client went away): the 90 tokens come back.
        release(90).run();
        assert!(admit(90));
        // Settled: the window counts the real usage (20), not the estimate (90).
        let mut r = release(90);
        r.settle_tokens(20);
        r.run();
        assert!(admit(70), "20 used + 70 fits in 100");
        assert!(!admit(11));
    }

    #[test]
    fn model_budgets_are_checked_but_not_counted() {
        let l = LocalLimits::default();
        let mut model = check(Scope::Model, None, None, None);
        model.counted = false;
        model.max_budget = Some(1.0);
        model.spend = 0.5;
        let key = check(Scope::Key, Some(1), None, None);
        assert!(matches!(
            l.admit(&[key.clone(), model.clone()], 0, 0),
            Verdict::Admitted { .. }
        ));
        model.spend = 1.0;
        assert_eq!(l.admit(&[model], 0, 0), spent(Scope::Model));
    }

    /// The verdict on a scope that spent 1.0 of 1.0.
    fn spent(scope: Scope) -> Verdict {
        Verdict::Budget {
            scope,
            spend: 1.0,
            max_budget: 1.0,
        }
    }

    #[test]
    fn budget_is_checked_first() {
        let l = LocalLimits::default();
        let mut c = check(Scope::Key, Some(0), None, None);
        c.max_budget = Some(1.0);
        c.spend = 1.0;
        assert_eq!(l.admit(&[c], 0, 0), spent(Scope::Key));
    }
}
