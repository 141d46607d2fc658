//! The background health checker: every `health_check_interval` it takes the current deployment
//! list (from [`Deployments::subjects`], so deployments added or removed at run time are picked
//! up at the next interval), claims this interval's leases ([`Coordination`]), probes the
//! deployments it won (at most 8 at once), shares the results and refreshes its view of the
//! fleet's results. Results are kept per deployment id.
//!
//! With `enable_health_check_routing`, a failed probe cools the deployment down until the next
//! probe is due (interval + probe timeout; with `health_check_ignore_transient_errors`, not for
//! 408/429), and a passing probe ends a cooldown that a probe set (never one the router set after
//! real traffic failed). Transitions are logged once: unhealthy as a warning, recovered as info.
//!
//! Must not: run on a request's task, hold a lock across an await, or keep the gateway state
//! alive (it holds a `Weak` and stops when the state is gone).

use super::coord::Coordination;
use super::probe::{self, ProbeResult, Subject};
use crate::metrics::HealthMetrics;
use futures::future::BoxFuture;
use futures::StreamExt;
use shale_bedrock::BedrockClient;
use shale_config::HealthCheckSettings;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Most probes of one replica in flight at once.
const CONCURRENT_PROBES: usize = 8;

/// What the checker needs from the gateway: the deployments to probe now, and the router hooks
/// of health-check routing.
pub trait Deployments: Send + Sync + 'static {
    /// The deployments to probe this interval (the current model table, already filtered by
    /// `disable_background_health_check` and `background_health_check_model_groups`).
    fn subjects(&self) -> Vec<Subject>;
    /// Takes a deployment out of rotation for `cooldown` (true when the router knew it).
    fn cool_down<'a>(&'a self, result: &'a ProbeResult, cooldown: Duration) -> BoxFuture<'a, bool>;
    /// Ends the cooldown a failed probe set.
    fn restore<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
}

/// The checker of one replica (shared as `Arc`).
#[derive(Debug)]
pub struct HealthChecker {
    settings: HealthCheckSettings,
    coord: Coordination,
    client: BedrockClient,
    replica: String,
    metrics: HealthMetrics,
    /// The latest result known per deployment id (this replica's probes and the fleet's).
    board: Mutex<HashMap<String, ProbeResult>>,
    /// Deployments whose model answered that it cannot count tokens.
    no_count_tokens: Mutex<HashSet<String>>,
    /// Unix ms the last round of this replica started (0: none yet).
    last_round_ms: AtomicU64,
}

impl HealthChecker {
    pub fn new(
        settings: HealthCheckSettings,
        coord: Coordination,
        client: BedrockClient,
        replica: String,
    ) -> HealthChecker {
        HealthChecker {
            settings,
            coord,
            client,
            replica,
            metrics: HealthMetrics::default(),
            board: Mutex::default(),
            no_count_tokens: Mutex::default(),
            last_round_ms: AtomicU64::new(0),
        }
    }

    pub fn metrics(&self) -> &HealthMetrics {
        &self.metrics
    }

    pub fn settings(&self) -> &HealthCheckSettings {
        &self.settings
    }

    /// `redis` (shared by the fleet) or `local`.
    pub fn coordination(&self) -> &'static str {
        self.coord.name()
    }

    /// Whether the coordination Redis answered its last call (`None` without Redis).
    pub fn redis_up(&self) -> Option<bool> {
        self.coord.redis_up()
    }

    /// This replica's name in the results (`checked_by`).
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Unix ms this replica's last round started (`None` before the first).
    pub fn last_round_ms(&self) -> Option<u64> {
        Some(self.last_round_ms.load(Ordering::Relaxed)).filter(|v| *v > 0)
    }

    fn board(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProbeResult>> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fleet's latest result per id: one Redis round trip when shared (newer results are
    /// kept on this replica's board), else — or while Redis is down — this replica's board.
    pub async fn results(&self, ids: &[&str]) -> Vec<Option<ProbeResult>> {
        let fetched = self.coord.fetch(ids).await;
        let mut board = self.board();
        if let Some(fetched) = fetched {
            for r in fetched.into_iter().flatten() {
                let newer = board
                    .get(&r.model_id)
                    .is_none_or(|old| old.checked_at_ms < r.checked_at_ms);
                if newer {
                    board.insert(r.model_id.clone(), r);
                }
            }
        }
        ids.iter().map(|id| board.get(*id).cloned()).collect()
    }

    /// Runs until `source` is gone: a round at once, then one at the start of every interval
    /// slot.
    pub async fn run<D: Deployments>(self: Arc<Self>, source: Weak<D>) {
        let interval_ms = (self.settings.interval.as_millis() as u64).max(1);
        tracing::info!(
            interval_s = self.settings.interval.as_secs_f64(),
            coordination = self.coord.name(),
            replica = %self.replica,
            "background health checks are on"
        );
        loop {
            let Some(deployments) = source.upgrade() else {
                return;
            };
            let slot = crate::now_ms() / interval_ms;
            self.round(&*deployments, slot).await;
            drop(deployments);
            // A few ms of jitter: replicas do not all hit Redis in the same millisecond.
            let jitter = rand::random::<u64>() % 50;
            let next = (slot + 1) * interval_ms + jitter;
            let wait = next.saturating_sub(crate::now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// One interval: claim, probe what this replica won, share, refresh the fleet view.
    pub async fn round<D: Deployments + ?Sized>(&self, deployments: &D, slot: u64) {
        self.last_round_ms.store(crate::now_ms(), Ordering::Relaxed);
        let subjects = deployments.subjects();
        let ids: Vec<&str> = subjects.iter().map(|s| &*s.id).collect();
        let won = self
            .coord
            .claim(&ids, slot, self.settings.interval, &self.replica)
            .await;
        let mine: Vec<&Subject> = subjects
            .iter()
            .zip(&won)
            .filter_map(|(s, w)| w.then_some(s))
            .collect();
        self.metrics.skipped((subjects.len() - mine.len()) as u64);
        let mine_ids: Vec<&str> = mine.iter().map(|s| &*s.id).collect();
        let previous = self.results(&mine_ids).await;
        let skip: HashSet<String> = self
            .no_count_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let replica = self.replica.as_str();
        let client = &self.client;
        let (mine_ref, skip_ref) = (&mine, &skip);
        // By index: a closure over `&&Subject` arguments is not `Send` for every lifetime, which
        // a spawned task needs.
        let probes = (0..mine.len()).map(|i| {
            let s = mine_ref[i];
            probe::run(client, s, replica, skip_ref.contains(&*s.id))
        });
        let outcomes: Vec<probe::Outcome> = futures::stream::iter(probes)
            .buffered(CONCURRENT_PROBES)
            .collect()
            .await;
        let mut results = Vec::with_capacity(outcomes.len());
        for ((subject, outcome), before) in mine.iter().zip(outcomes).zip(previous) {
            let mut result = outcome.result;
            if outcome.no_count_tokens {
                self.no_count_tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(result.model_id.clone());
            }
            self.metrics.probed(
                &result.model_name,
                &result.model_id,
                &result.probe,
                result.healthy,
                result.latency_ms as f64 / 1000.0,
            );
            self.route(deployments, subject, &mut result, before.as_ref())
                .await;
            log_transition(&result, before.as_ref());
            results.push(result);
        }
        {
            let mut board = self.board();
            for r in &results {
                board.insert(r.model_id.clone(), r.clone());
            }
            let live: HashSet<&str> = ids.iter().copied().collect();
            board.retain(|id, _| live.contains(id.as_str()));
        }
        self.coord.publish(&results, self.settings.interval).await;
        let view = self.results(&ids).await;
        self.metrics
            .set_view(subjects.iter().zip(&view).filter_map(|(s, r)| {
                r.as_ref()
                    .map(|r| (s.model_name.as_str(), &*s.id, r.healthy))
            }));
    }

    /// Health-check routing: cool a failing deployment down, restore one a probe had cooled.
    async fn route<D: Deployments + ?Sized>(
        &self,
        deployments: &D,
        subject: &Subject,
        result: &mut ProbeResult,
        before: Option<&ProbeResult>,
    ) {
        if !self.settings.routing {
            return;
        }
        if result.healthy {
            if before.is_some_and(|b| b.cooled_down) {
                deployments.restore(&result.model_id).await;
            }
            return;
        }
        let transient = matches!(result.exception_status, Some(408 | 429));
        if transient && self.settings.ignore_transient_errors {
            return;
        }
        let cooldown = self.settings.interval + subject.timeout;
        result.cooled_down = deployments.cool_down(result, cooldown).await;
    }
}

fn log_transition(result: &ProbeResult, before: Option<&ProbeResult>) {
    let was_healthy = before.is_none_or(|b| b.healthy);
    match (was_healthy, result.healthy) {
        (true, false) => tracing::warn!(
            model = %result.model_name,
            model_id = %result.model_id,
            probe = %result.probe,
            status = result.exception_status,
            error = result.error.as_deref().unwrap_or(""),
            "health check failed"
        ),
        (false, true) => tracing::info!(
            model = %result.model_name,
            model_id = %result.model_id,
            probe = %result.probe,
            "health check passes again"
        ),
        _ => {}
    }
}
