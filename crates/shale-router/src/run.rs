//! [`Router::run`]: one call with retries across deployments, cooldown accounting and fallbacks.
//!
//! Per model group: order the candidates by the strategy, let the state admit one (cooldown and
//! rpm/tpm checks, atomically), run the caller's closure, then account for the outcome. A failure
//! is retried on another deployment of the group when one is left (else the same one after a
//! backoff) up to the retry budget of its class; then the fallback groups for its kind are tried
//! in order. The closure is the whole call: a stream that reached the client is a success, so it
//! is never retried. Failed attempts, cooldowns and fallbacks are reported to the router's
//! [`crate::Observer`].

use crate::clock::{minute_of, ms_to_next_minute};
use crate::policy::FailureClass;
use crate::state::{AcquireRequest, Acquired, Backend, Slot};
use crate::strategy::{self, View};
use crate::{LastError, Router, AFFINITY_TTL_MS};
use shale_config::RoutingStrategy;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What the caller tells the router about one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteRequest<'a> {
    /// The `model` the client asked for.
    pub model: &'a str,
    /// Estimated tokens (checked against tpm before the call; corrected by [`Answer::tokens`]).
    pub est_tokens: u64,
    /// The request's own `fallbacks` (replaces the configured generic fallbacks).
    pub fallbacks: Option<&'a [String]>,
    /// The request's `disable_fallbacks`.
    pub disable_fallbacks: bool,
    /// Prompt-prefix key for cache affinity (only used when affinity is enabled).
    pub affinity_key: Option<&'a str>,
}

/// The deployment an attempt goes to.
#[derive(Debug, Clone)]
pub struct Pick {
    /// Position in `model_list`.
    pub index: usize,
    pub id: Arc<str>,
    pub group: Arc<str>,
}

/// A successful attempt.
#[derive(Debug)]
pub struct Answer<T> {
    pub value: T,
    /// Tokens Bedrock reported (input + output), when known before returning.
    pub tokens: Option<u64>,
}

impl<T> Answer<T> {
    pub fn new(value: T, tokens: Option<u64>) -> Answer<T> {
        Answer { value, tokens }
    }
}

/// How a failed attempt is classified.
pub trait Failure {
    fn class(&self) -> FailureClass;
    /// The upstream's `Retry-After`, when it gave one.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// A short message for `/health` (no secrets).
    fn summary(&self) -> String;
    /// The HTTP status of the failure, for metrics (0 when there is none).
    fn status(&self) -> u16 {
        0
    }
}

/// The tokens reserved in a deployment's tpm window for an answer whose usage was not known when
/// it returned (a stream): settle it with [`crate::Router::settle_tokens`] when the usage is.
#[derive(Debug, Clone)]
pub struct TokenTicket {
    pub(crate) id: Arc<str>,
    pub(crate) minute: u64,
    pub(crate) reserved: u64,
    pub(crate) backend: Backend,
}

/// What the call took (for the `x-litellm-*` headers).
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    /// The deployment that answered (or failed last).
    pub model_id: Option<Arc<str>>,
    /// Its group.
    pub group: Option<Arc<str>>,
    /// Retries after the first attempt, across groups.
    pub retries: u32,
    /// Fallback groups tried.
    pub fallbacks: u32,
}

/// A successful call.
#[derive(Debug)]
pub struct Routed<T> {
    pub value: T,
    pub attempts: Attempts,
    /// Set when the answering deployment has a tpm limit and the answer reported no tokens.
    pub tokens_pending: Option<TokenTicket>,
}

/// A call that did not succeed.
#[derive(Debug)]
pub enum RouteError<E> {
    /// No group or alias has this name.
    UnknownModel,
    /// The last attempt's error.
    Failed { error: E, attempts: Attempts },
    /// Every deployment was at its rpm/tpm limit: nothing was sent.
    LimitReached {
        group: Arc<str>,
        retry_after: Duration,
        attempts: Attempts,
    },
}

enum GroupOutcome<T, E> {
    Ok(T, Pick, Option<TokenTicket>),
    Failed(E, FailureClass, Pick),
    Full(Duration),
}

impl Router {
    /// Runs `call` against deployments of `req.model` (and its fallbacks) until one succeeds or
    /// the budget is spent.
    pub async fn run<T, E, F, Fut>(
        &self,
        req: &RouteRequest<'_>,
        mut call: F,
    ) -> Result<Routed<T>, RouteError<E>>
    where
        E: Failure,
        F: FnMut(Pick) -> Fut,
        Fut: Future<Output = Result<Answer<T>, E>>,
    {
        let Some(first) = self.resolve(req.model).cloned() else {
            return Err(RouteError::UnknownModel);
        };
        let mut attempts = Attempts::default();
        let mut chain: Vec<Arc<str>> = vec![first];
        let mut pos = 0;
        let mut last: Option<RouteError<E>> = None;
        // Status of the failure that sent the request to its fallbacks.
        let mut cause = 0u16;
        while pos < chain.len() {
            let group = Arc::clone(&chain[pos]);
            let outcome = self.run_group(&group, req, &mut call, &mut attempts).await;
            if pos > 0 {
                let (ok, tried) = match &outcome {
                    GroupOutcome::Ok(_, pick, _) => (true, Some(pick.index)),
                    GroupOutcome::Failed(_, _, pick) => (false, Some(pick.index)),
                    GroupOutcome::Full(_) => (false, None),
                };
                self.observer.fallback(req.model, &group, tried, cause, ok);
            }
            let class = match outcome {
                GroupOutcome::Ok(value, pick, tokens_pending) => {
                    attempts.model_id = Some(pick.id);
                    attempts.group = Some(pick.group);
                    return Ok(Routed {
                        value,
                        attempts,
                        tokens_pending,
                    });
                }
                GroupOutcome::Failed(error, class, pick) => {
                    if pos == 0 {
                        cause = error.status();
                    }
                    attempts.model_id = Some(pick.id);
                    attempts.group = Some(pick.group);
                    last = Some(RouteError::Failed {
                        error,
                        attempts: Attempts::default(),
                    });
                    class
                }
                GroupOutcome::Full(retry_after) => {
                    if pos == 0 {
                        cause = 429;
                    }
                    if !matches!(last, Some(RouteError::Failed { .. })) {
                        last = Some(RouteError::LimitReached {
                            group: Arc::clone(&group),
                            retry_after,
                            attempts: Attempts::default(),
                        });
                    }
                    FailureClass::RateLimit
                }
            };
            if class == FailureClass::BadRequest {
                break;
            }
            if pos == 0 && !req.disable_fallbacks {
                for name in self.fallbacks.for_failure(&group, class, req.fallbacks) {
                    match self.resolve(&name) {
                        Some(g) if !chain.contains(g) => chain.push(Arc::clone(g)),
                        Some(_) => {}
                        None => {
                            tracing::warn!(fallback = %name, "fallback model group does not exist")
                        }
                    }
                }
            }
            pos += 1;
            if pos < chain.len() {
                attempts.fallbacks += 1;
            }
        }
        Err(match last {
            Some(RouteError::Failed { error, .. }) => RouteError::Failed { error, attempts },
            Some(RouteError::LimitReached {
                group, retry_after, ..
            }) => RouteError::LimitReached {
                group,
                retry_after,
                attempts,
            },
            _ => RouteError::UnknownModel,
        })
    }

    async fn run_group<T, E, F, Fut>(
        &self,
        group: &Arc<str>,
        req: &RouteRequest<'_>,
        call: &mut F,
        attempts: &mut Attempts,
    ) -> GroupOutcome<T, E>
    where
        E: Failure,
        F: FnMut(Pick) -> Fut,
        Fut: Future<Output = Result<Answer<T>, E>>,
    {
        let members: &[usize] = self.groups.get(group).map(Vec::as_slice).unwrap_or(&[]);
        let mut tried: Vec<usize> = Vec::new();
        let mut retries_here = 0u32;
        let mut repeats = 0u32;
        let mut last_failure: Option<(E, FailureClass, Pick)> = None;
        loop {
            let untried: Vec<usize> = members
                .iter()
                .copied()
                .filter(|i| !tried.contains(i))
                .collect();
            let pool: &[usize] = if untried.is_empty() {
                members
            } else {
                &untried
            };
            let now = self.clock.now_ms();
            let order = self.order(pool, now);
            let slots: Vec<Slot<'_>> = order
                .iter()
                .map(|&p| {
                    let d = &self.deployments[pool[p]];
                    Slot {
                        id: &d.id,
                        rpm: d.rpm,
                        tpm: d.tpm,
                    }
                })
                .collect();
            let acquire = AcquireRequest {
                slots,
                est_tokens: req.est_tokens,
                affinity_key: req.affinity_key.filter(|_| self.affinity),
                now_ms: now,
            };
            let (acquired, _views, backend) = self.state.acquire(&acquire).await;
            let index = match acquired {
                Acquired::Chosen { pos, was_cooling } => {
                    if was_cooling {
                        tracing::debug!(model = %group, "every deployment is cooling down: trying the least recently failed");
                    }
                    pool[order[pos]]
                }
                Acquired::Full => {
                    return match last_failure {
                        Some((e, class, pick)) => GroupOutcome::Failed(e, class, pick),
                        None => GroupOutcome::Full(Duration::from_millis(ms_to_next_minute(now))),
                    };
                }
            };
            let d = &self.deployments[index];
            let pick = Pick {
                index,
                id: Arc::clone(&d.id),
                group: Arc::clone(&d.group),
            };
            let started = Instant::now();
            let result = call(pick.clone()).await;
            self.state.release(&d.id, backend);
            let done = self.clock.now_ms();
            match result {
                Ok(answer) => {
                    self.on_success(index, started.elapsed(), done);
                    let mut pending = None;
                    match answer.tokens {
                        Some(tokens) => {
                            let delta = tokens as i64 - req.est_tokens as i64;
                            self.state.add_tokens(&d.id, minute_of(now), delta, backend);
                        }
                        None if d.tpm.is_some() => {
                            pending = Some(TokenTicket {
                                id: Arc::clone(&d.id),
                                minute: minute_of(now),
                                reserved: req.est_tokens,
                                backend,
                            });
                        }
                        None => {}
                    }
                    if let Some(key) = acquire.affinity_key {
                        self.state.set_affinity(key, &d.id, done, AFFINITY_TTL_MS);
                    }
                    return GroupOutcome::Ok(answer.value, pick, pending);
                }
                Err(e) => {
                    let class = e.class();
                    self.on_failure(index, class, &e, done).await;
                    // Nothing was used: give the reserved estimate back.
                    self.state
                        .add_tokens(&d.id, minute_of(now), -(req.est_tokens as i64), backend);
                    if !tried.contains(&index) {
                        tried.push(index);
                    }
                    let repeat = tried.len() >= members.len();
                    if retries_here >= self.policy.retries_for_deployment(class, d.num_retries)
                        || (repeat && !class.is_transient())
                    {
                        return GroupOutcome::Failed(e, class, pick);
                    }
                    retries_here += 1;
                    attempts.retries += 1;
                    if repeat {
                        // No untried deployment left: the next attempt repeats one, after a pause.
                        repeats += 1;
                        let wait = self.policy.backoff(repeats, e.retry_after());
                        tokio::time::sleep(wait).await;
                    }
                    last_failure = Some((e, class, pick));
                }
            }
        }
    }

    /// The strategy's order of preference over `pool` (positions into it).
    fn order(&self, pool: &[usize], now: u64) -> Vec<usize> {
        if pool.len() == 1 {
            return vec![0];
        }
        let ids: Vec<&str> = pool.iter().map(|&i| &*self.deployments[i].id).collect();
        let views: Vec<View> = match self.strategy {
            RoutingStrategy::LeastBusy | RoutingStrategy::UsageBased => self.state.peek(&ids, now),
            _ => vec![View::default(); pool.len()],
        };
        let cands: Vec<strategy::Candidate> = pool
            .iter()
            .zip(views)
            .map(|(&i, view)| {
                let d = &self.deployments[i];
                let latency = self.local(i).latency;
                strategy::candidate(d.weight, d.rpm, d.tpm, view, latency.as_ref(), now)
            })
            .collect();
        strategy::order(
            self.strategy,
            &cands,
            self.latency_buffer,
            &mut rand::thread_rng(),
        )
    }

    fn on_success(&self, index: usize, elapsed: Duration, now: u64) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let ttl = self.latency_ttl_ms;
        let mut l = self.local(index);
        match &mut l.latency {
            Some(s) => s.add(ms, now),
            None => l.latency = Some(crate::latency::LatencyStats::new(ms, now, ttl)),
        }
    }

    async fn on_failure<E: Failure>(&self, index: usize, class: FailureClass, e: &E, now: u64) {
        let d = &self.deployments[index];
        tracing::debug!(deployment = %d.id, model = %d.group, class = class.label(), "attempt failed");
        if !class.counts_against_deployment() {
            return;
        }
        self.local(index).last_error = Some(LastError {
            class: class.label(),
            message: e.summary(),
            at_ms: now,
        });
        let status = e.status();
        self.observer.attempt_failed(index, status);
        self.count_failure(index, class, status, now).await;
    }
}
