//! `shale-router`: chooses the deployment for each call and accounts for it — LiteLLM's router
//! (routing strategies, retries across deployments, cooldowns, fallbacks, rpm/tpm limits,
//! prompt-cache affinity), with its state in this process or shared by every replica in Redis.
//!
//! The server asks [`Router::run`] to perform one call: the router picks a deployment, runs the
//! caller's closure with it, and on failure retries another deployment, cools failing ones down
//! and walks the fallback groups, returning the answer plus what it took (for the `x-litellm-*`
//! headers). An [`Observer`] hears about failed attempts, cooldowns and fallbacks (metrics).
//!
//! The model table can change while requests run (the model API, a config reload): the server
//! builds a new router with [`Router::rebuild`], which shares the old one's state store (rpm/tpm
//! windows, in-flight counts, cooldowns — keyed by deployment id) and keeps the latency and
//! last error of every deployment that did not change; a changed deployment starts afresh.
//! Requests already running finish on the router (and deployment) they started with.
//!
//! What it must not do: HTTP serving, request translation, talking to Bedrock (the closure does
//! that), logging secrets (the Redis URL may carry a password: errors are redacted).

#![forbid(unsafe_code)]

pub mod clock;
pub mod deployment;
pub mod fallback;
pub mod latency;
pub mod observer;
pub mod policy;
mod probe;
mod run;
pub mod state;
pub mod strategy;

pub use clock::{Clock, ManualClock, SystemClock};
pub use deployment::DeploymentInfo;
pub use observer::{NoObserver, Observer};
pub use policy::{FailureClass, Policy};
pub use run::{Answer, Attempts, Failure, Pick, RouteError, RouteRequest, Routed, TokenTicket};
pub use state::{LocalState, RedisGate, RedisState, RedisStatus, SharedState};

use fallback::Fallbacks;
/// Config-keyed maps (model groups, aliases): foldhash, not SipHash — looked up on every request,
/// never grown from client input.
use foldhash::HashMap;
use latency::LatencyStats;
use shale_config::{Config, ModelEntry, RoutingStrategy};
use std::sync::{Arc, Mutex};

/// How long a prompt prefix stays bound to the deployment that cached it (Bedrock's cache TTL).
pub const AFFINITY_TTL_MS: u64 = 5 * 60 * 1000;

/// The last failure of a deployment (for `/health`).
#[derive(Debug, Clone)]
pub struct LastError {
    pub class: &'static str,
    pub message: String,
    pub at_ms: u64,
}

/// One deployment's state for `/health`.
#[derive(Debug, Clone)]
pub struct DeploymentHealth {
    pub index: usize,
    pub id: Arc<str>,
    pub group: Arc<str>,
    /// Cooling down for this many more milliseconds.
    pub cooling_for_ms: Option<u64>,
    pub in_flight: u64,
    pub last_error: Option<LastError>,
}

/// Per-deployment data only this replica keeps.
#[derive(Debug, Default)]
struct Local {
    latency: Option<LatencyStats>,
    last_error: Option<LastError>,
}

/// The router of one gateway.
#[derive(Debug)]
pub struct Router {
    deployments: Vec<DeploymentInfo>,
    groups: HashMap<Arc<str>, Vec<usize>>,
    aliases: HashMap<String, Arc<str>>,
    strategy: RoutingStrategy,
    latency_buffer: f64,
    latency_ttl_ms: u64,
    policy: Policy,
    fallbacks: Fallbacks,
    affinity: bool,
    /// Shared with the routers that replace this one (see [`Router::rebuild`]).
    state: Arc<SharedState>,
    clock: Arc<dyn Clock>,
    /// By deployment index; carried to the next router for deployments that did not change.
    local: Vec<Arc<Mutex<Local>>>,
    observer: Arc<dyn Observer>,
}

impl Router {
    /// Builds the router for `config`'s `model_list` (deployment `i` is `model_list[i]`).
    pub fn new(config: &Config, state: SharedState, clock: Arc<dyn Clock>) -> Router {
        Router::assemble(config, Arc::new(state), clock, &|_| None)
    }

    /// The router for a changed `config` (`previous` is the one this router was built for): the
    /// same state store and clock; each deployment whose entry is unchanged (same id, same
    /// [`ModelEntry::same_deployment`]) keeps its latency statistics and last error, a changed one
    /// starts afresh (its cooldown and failure count are dropped too). Reports to no observer
    /// until [`Router::with_observer`].
    pub fn rebuild(&self, previous: &Config, config: &Config) -> Router {
        let mut old: HashMap<&str, (usize, &ModelEntry)> = HashMap::default();
        for (d, entry) in self.deployments.iter().zip(&previous.model_list) {
            old.insert(&d.id, (d.index, entry));
        }
        let now = self.clock.now_ms();
        let carry = |info: &DeploymentInfo| -> Option<Arc<Mutex<Local>>> {
            let (index, entry) = *old.get(&*info.id)?;
            if entry.same_deployment(&config.model_list[info.index]) {
                return self.local.get(index).cloned();
            }
            self.state.forget_failures(&info.id, now);
            None
        };
        Router::assemble(
            config,
            Arc::clone(&self.state),
            Arc::clone(&self.clock),
            &carry,
        )
    }

    fn assemble(
        config: &Config,
        state: Arc<SharedState>,
        clock: Arc<dyn Clock>,
        carry: &dyn Fn(&DeploymentInfo) -> Option<Arc<Mutex<Local>>>,
    ) -> Router {
        let r = &config.routing;
        let mut deployments: Vec<DeploymentInfo> = config
            .model_list
            .iter()
            .map(DeploymentInfo::from_entry)
            .collect();
        let mut groups: HashMap<Arc<str>, Vec<usize>> = HashMap::default();
        for d in &deployments {
            groups
                .entry(Arc::clone(&d.group))
                .or_default()
                .push(d.index);
        }
        for members in groups.values() {
            let entries: Vec<&ModelEntry> =
                members.iter().map(|&i| &config.model_list[i]).collect();
            let mut infos: Vec<DeploymentInfo> =
                members.iter().map(|&i| deployments[i].clone()).collect();
            deployment::shuffle_weights(&entries, &mut infos);
            for (i, info) in members.iter().zip(infos) {
                deployments[*i].weight = info.weight;
            }
        }
        let aliases = r
            .model_group_alias
            .iter()
            .filter_map(|(alias, group, _)| {
                let g = groups.get_key_value(group.as_str())?.0;
                Some((alias.clone(), Arc::clone(g)))
            })
            .collect();
        Router {
            local: deployments
                .iter()
                .map(|d| carry(d).unwrap_or_default())
                .collect(),
            deployments,
            groups,
            aliases,
            strategy: r.strategy,
            latency_buffer: r.lowest_latency_buffer,
            latency_ttl_ms: r.latency_ttl.as_millis() as u64,
            policy: Policy::from_settings(r),
            fallbacks: Fallbacks::from_settings(r),
            affinity: r.prompt_caching_affinity,
            state,
            clock,
            observer: Arc::new(NoObserver),
        }
    }

    /// The same router, reporting to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Router {
        self.observer = observer;
        self
    }

    /// Settles a streamed answer's token reservation with the tokens it really used (the tpm
    /// window then counts the real figure). Never waits on Redis.
    pub fn settle_tokens(&self, ticket: &TokenTicket, used: u64) {
        let delta = used as i64 - ticket.reserved as i64;
        self.state
            .add_tokens(&ticket.id, ticket.minute, delta, ticket.backend);
    }

    /// The group a client's `model` names (directly or through `model_group_alias`).
    pub fn resolve(&self, model: &str) -> Option<&Arc<str>> {
        match self.groups.get_key_value(model) {
            Some((k, _)) => Some(k),
            None => self.aliases.get(model),
        }
    }

    /// Deployment indices of a group (after alias resolution).
    pub fn members(&self, model: &str) -> Option<&[usize]> {
        self.resolve(model)
            .and_then(|g| self.groups.get(g))
            .map(Vec::as_slice)
    }

    pub fn deployment(&self, index: usize) -> &DeploymentInfo {
        &self.deployments[index]
    }

    pub fn deployments(&self) -> &[DeploymentInfo] {
        &self.deployments
    }

    /// Whether prompt-cache affinity (`optional_pre_call_checks: ["prompt_caching"]`) is on.
    pub fn affinity_enabled(&self) -> bool {
        self.affinity
    }

    pub fn strategy(&self) -> RoutingStrategy {
        self.strategy
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn redis_status(&self) -> Option<RedisStatus> {
        self.state.redis_status()
    }

    /// The router's Redis connection, when its state is in Redis (the response cache shares it).
    pub fn redis_connection(&self) -> Option<redis::aio::ConnectionManager> {
        self.state.redis_connection()
    }

    /// Redis health after one `PING` (for a metrics scrape), when Redis is configured.
    pub async fn probe_redis(&self) -> Option<RedisStatus> {
        self.state.probe_redis(self.clock.now_ms()).await
    }

    fn local(&self, index: usize) -> std::sync::MutexGuard<'_, Local> {
        self.local[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a failure against a deployment (and cools it down when over its allowed fails).
    async fn count_failure(&self, index: usize, class: FailureClass, status: u16, now_ms: u64) {
        if !self.policy.cooldowns_enabled {
            return;
        }
        let d = &self.deployments[index];
        let cooldown = d.cooldown_time.unwrap_or(self.policy.cooldown_time);
        let rule = state::CooldownRule {
            allowed_fails: self.policy.allowed_fails_for(class, d.allowed_fails),
            cooldown_ms: cooldown.as_millis() as u64,
        };
        let cooled = self.state.record_failure(&d.id, rule, now_ms).await;
        if cooled {
            self.observer.cooled_down(index, status);
            tracing::warn!(
                deployment = %d.id,
                model = %d.group,
                class = class.label(),
                cooldown_s = cooldown.as_secs_f64(),
                "deployment cooling down"
            );
        }
    }

    /// Every deployment's state, in `model_list` order.
    pub async fn health(&self) -> Vec<DeploymentHealth> {
        let now = self.clock.now_ms();
        let ids: Vec<&str> = self.deployments.iter().map(|d| &*d.id).collect();
        let cooling = self.state.cooldowns(&ids, now).await;
        let views = self.state.peek(&ids, now);
        self.deployments
            .iter()
            .zip(cooling)
            .zip(views)
            .map(|((d, cooling_for_ms), view)| {
                let l = self.local(d.index);
                DeploymentHealth {
                    index: d.index,
                    id: Arc::clone(&d.id),
                    group: Arc::clone(&d.group),
                    cooling_for_ms,
                    in_flight: view.in_flight,
                    last_error: l.last_error.clone(),
                }
            })
            .collect()
    }
}
