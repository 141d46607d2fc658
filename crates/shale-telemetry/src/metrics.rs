//! The Prometheus registry with LiteLLM's metric names, label names and latency buckets, plus
//! shale's own (in-flight requests and streams, dependency health, process metrics).
//!
//! Hot path: every (deployment, key) pair gets a [`Handles`] of pre-resolved counters and
//! histograms at load, so recording a successful request touches atomics (and the histograms'
//! short mutex) and allocates nothing. Label sets are built only at load, on the failure path and
//! for router/key events. This module never blocks on I/O; `/proc` is read only when scraped.
//! The families themselves are declared and registered in `families.rs`.
//!
//! When the model table changes, [`Metrics::rebuild`] makes the next one over the same registry:
//! series keep counting across the swap (the same labels are the same series), a deployment that
//! did not change keeps its rpm/tpm window, a removed one's state gauge is withdrawn.

use crate::cost::TokenUsage;
use crate::families::{Families, SpendCounter};
use crate::labels::{self, DeploymentInfo, KeyLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// LiteLLM's `LATENCY_BUCKETS` (seconds; `+Inf` is implicit).
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 420.0,
    600.0,
];

/// `litellm_deployment_state` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    Healthy = 0,
    PartialOutage = 1,
    /// Cooling down: the router took the deployment out of rotation.
    CompleteOutage = 2,
}

/// The successes of one (deployment or model, key) in `litellm_proxy_total_requests_metric`,
/// one series per `route`: the few routes a model is called on are resolved once each, then a
/// success is a short scan and an atomic increment.
#[derive(Default)]
pub(crate) struct RouteCounters(RwLock<Vec<(Arc<str>, Counter)>>);

impl RouteCounters {
    /// Counts one success on `route`; `labels` builds the series' labels the first time.
    pub(crate) fn inc(
        &self,
        family: &Family<labels::Labels<11>, Counter>,
        route: &Arc<str>,
        labels: impl FnOnce() -> labels::Labels<11>,
    ) {
        let same = |r: &Arc<str>| Arc::ptr_eq(r, route) || r == route;
        {
            let known = self.0.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, c)) = known.iter().find(|(r, _)| same(r)) {
                c.inc();
                return;
            }
        }
        let mut w = self.0.write().unwrap_or_else(|e| e.into_inner());
        match w.iter().find(|(r, _)| same(r)) {
            Some((_, c)) => {
                c.inc();
            }
            None => {
                let c = family.get_or_create_owned(&labels());
                c.inc();
                w.push((Arc::clone(route), c));
            }
        }
    }
}

/// Pre-resolved series for one (deployment, key) pair.
pub struct Handles {
    deployment: usize,
    key: KeyLabels,
    requests_ok: RouteCounters,
    total_latency: Histogram,
    api_latency: Histogram,
    ttft: Histogram,
    overhead: Histogram,
    input_tokens: Counter,
    output_tokens: Counter,
    total_tokens: Counter,
    spend: SpendCounter,
    deployment_success: Counter,
    deployment_total: Counter,
    latency_per_token: Histogram,
    remaining_requests: Gauge,
    remaining_tokens: Gauge,
}

/// Per-deployment state shared by all keys: the state gauge and the rpm/tpm window.
struct DeploymentSeries {
    info: DeploymentInfo,
    state: Gauge,
    /// Minute (unix time / 60) the window counts, and what was used in it.
    window_minute: AtomicU64,
    window_requests: AtomicU64,
    window_tokens: AtomicU64,
}

/// What happened to one request, for [`Metrics::record`].
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The route it came in on (the `route` label, [`labels::route`]).
    pub route: Option<Arc<str>>,
    /// HTTP status sent to the client.
    pub status: u16,
    /// Bedrock answered the error (vs. the gateway refusing the request).
    pub upstream_error: bool,
    pub usage: Option<TokenUsage>,
    pub cost: Option<f64>,
    pub latency: Duration,
    /// Time waiting on Bedrock.
    pub upstream: Option<Duration>,
    /// Time to the first streamed token.
    pub ttft: Option<Duration>,
    /// Gateway time outside the Bedrock call.
    pub overhead: Option<Duration>,
    /// The router already counted the failed attempts against their deployments
    /// ([`Metrics::attempt_failed`]).
    pub attempts_counted: bool,
}

/// The registry and the handles. Built at load, rebuilt (over the same registry) when the model
/// table changes.
pub struct Metrics {
    registry: Arc<Registry>,
    pub(crate) families: Arc<Families>,
    /// By deployment index; shared with the next table's metrics for unchanged deployments.
    deployments: Vec<Arc<DeploymentSeries>>,
    /// Handles for the default key (master key or unauthenticated), by deployment index.
    default_handles: Vec<Arc<Handles>>,
    /// Handles for other keys, resolved on their first request.
    keyed: RwLock<HashMap<(usize, KeyLabels), Arc<Handles>>>,
    /// The response cache's series (`cache_metrics.rs`).
    pub(crate) cache: crate::cache_metrics::CacheSeriesMap,
    /// Labels of requests without a virtual key.
    pub(crate) default_key: KeyLabels,
    /// The `route` of a request that did not say (tests, tools).
    pub(crate) no_route: Arc<str>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("deployments", &self.deployments.len())
            .finish()
    }
}

impl Metrics {
    /// Registers every family and resolves the handles of each deployment for `default_key`.
    pub fn new(deployments: Vec<DeploymentInfo>, default_key: KeyLabels) -> Metrics {
        let mut registry = Registry::default();
        let families = Arc::new(Families::register(&mut registry));
        let deployments = deployments
            .into_iter()
            .map(|info| Arc::new(DeploymentSeries::new(&families, info)))
            .collect();
        Metrics::assemble(Arc::new(registry), families, deployments, default_key)
    }

    /// The metrics of a changed model table, over the same registry and families. A deployment
    /// whose labels and limits are unchanged keeps its series (and rpm/tpm window); the state
    /// gauge of one that is gone is withdrawn from `/metrics`.
    pub fn rebuild(&self, deployments: Vec<DeploymentInfo>) -> Metrics {
        let next: Vec<Arc<DeploymentSeries>> = deployments
            .into_iter()
            .map(
                |info| match self.deployments.iter().find(|s| s.info == info) {
                    Some(same) => Arc::clone(same),
                    None => Arc::new(DeploymentSeries::new(&self.families, info)),
                },
            )
            .collect();
        let kept: std::collections::HashSet<_> =
            next.iter().map(|s| labels::deployment(&s.info)).collect();
        for gone in &self.deployments {
            let labels = labels::deployment(&gone.info);
            if !kept.contains(&labels) {
                self.families.deployment_state.remove(&labels);
            }
        }
        Metrics::assemble(
            Arc::clone(&self.registry),
            Arc::clone(&self.families),
            next,
            self.default_key.clone(),
        )
    }

    fn assemble(
        registry: Arc<Registry>,
        families: Arc<Families>,
        deployments: Vec<Arc<DeploymentSeries>>,
        default_key: KeyLabels,
    ) -> Metrics {
        let mut metrics = Metrics {
            registry,
            families,
            deployments,
            default_key,
            default_handles: Vec::new(),
            keyed: RwLock::new(HashMap::new()),
            cache: Default::default(),
            no_route: Arc::from(""),
        };
        metrics.default_handles = (0..metrics.deployments.len())
            .map(|i| Arc::new(metrics.resolve(i, &metrics.default_key)))
            .collect();
        metrics
    }

    fn resolve(&self, index: usize, key: &KeyLabels) -> Handles {
        let f = &self.families;
        let d = &self.deployments[index].info;
        let request = labels::request(d, key);
        let tokens = labels::tokens(d, key);
        let deployment_key = labels::deployment_key(d, key);
        let deployment_requests = labels::deployment_requests(d, key);
        let handles = Handles {
            deployment: index,
            key: key.clone(),
            requests_ok: RouteCounters::default(),
            total_latency: f.total_latency.get_or_create_owned(&request),
            api_latency: f.api_latency.get_or_create_owned(&request),
            ttft: f.ttft.get_or_create_owned(&request),
            overhead: f.overhead.get_or_create_owned(&deployment_key),
            input_tokens: f.input_tokens.get_or_create_owned(&tokens),
            output_tokens: f.output_tokens.get_or_create_owned(&tokens),
            total_tokens: f.total_tokens.get_or_create_owned(&tokens),
            spend: f.spend.get_or_create_owned(&labels::spend(d, key)),
            deployment_success: f
                .deployment_success
                .get_or_create_owned(&deployment_requests),
            deployment_total: f.deployment_total.get_or_create_owned(&deployment_requests),
            latency_per_token: f
                .latency_per_token
                .get_or_create_owned(&labels::latency_per_token(d, key)),
            remaining_requests: f.remaining_requests.get_or_create_owned(&deployment_key),
            remaining_tokens: f.remaining_tokens.get_or_create_owned(&deployment_key),
        };
        let series = &self.deployments[index];
        if let Some(rpm) = d.rpm {
            handles.remaining_requests.set(remaining(
                rpm,
                series.window_requests.load(Ordering::Relaxed),
            ));
        }
        if let Some(tpm) = d.tpm {
            handles
                .remaining_tokens
                .set(remaining(tpm, series.window_tokens.load(Ordering::Relaxed)));
        }
        handles
    }

    /// The handles for a deployment and key: pre-resolved for the default key (`None`), resolved
    /// once per other key. `None` when the index is unknown.
    pub fn handles(&self, deployment: usize, key: Option<&KeyLabels>) -> Option<Arc<Handles>> {
        let Some(key) = key else {
            return self.default_handles.get(deployment).cloned();
        };
        if deployment >= self.deployments.len() {
            return None;
        }
        let cache_key = (deployment, key.clone());
        if let Some(h) = self.keyed.read().ok()?.get(&cache_key) {
            return Some(Arc::clone(h));
        }
        let handles = Arc::new(self.resolve(deployment, key));
        let mut map = self.keyed.write().ok()?;
        Some(Arc::clone(map.entry(cache_key).or_insert(handles)))
    }

    /// Records one finished request that reached a deployment.
    pub fn record(&self, h: &Handles, o: &Observation) {
        let series = &self.deployments[h.deployment];
        let ok = (200..300).contains(&o.status);
        if ok {
            let route = o.route.as_ref().unwrap_or(&self.no_route);
            h.requests_ok.inc(&self.families.proxy_total, route, || {
                labels::proxy_total(&series.info, &h.key, "200", route)
            });
            h.total_latency.observe(o.latency.as_secs_f64());
            if let Some(up) = o.upstream {
                h.api_latency.observe(up.as_secs_f64());
            }
            if let Some(t) = o.ttft {
                h.ttft.observe(t.as_secs_f64());
            }
            if let Some(ov) = o.overhead {
                h.overhead.observe(ov.as_secs_f64());
            }
            if let Some(u) = o.usage {
                h.input_tokens.inc_by(u.prompt_tokens());
                h.output_tokens.inc_by(u.output);
                h.total_tokens.inc_by(u.total_tokens());
                if u.output > 0 {
                    let per = o.upstream.unwrap_or(o.latency).as_secs_f64() / u.output as f64;
                    h.latency_per_token.observe(per);
                }
            }
            if let Some(c) = o.cost {
                h.spend.inc_by(c);
            }
            h.deployment_success.inc();
            h.deployment_total.inc();
            series.state.set(DeploymentState::Healthy as i64);
        } else {
            self.record_failure(h, o);
        }
        series.count_window(o.usage.map(|u| u.total_tokens()).unwrap_or(0));
    }

    /// The failure path: label sets are built here (exception status and class vary).
    fn record_failure(&self, h: &Handles, o: &Observation) {
        let f = &self.families;
        let series = &self.deployments[h.deployment];
        let d = &series.info;
        let status = o.status.to_string();
        let class = labels::exception_class(o.status, o.upstream_error);
        let route = o.route.as_deref().unwrap_or("");
        f.proxy_total
            .get_or_create(&labels::proxy_total(d, &h.key, &status, route))
            .inc();
        f.proxy_failed
            .get_or_create(&labels::proxy_failed(d, &h.key, &status, class, route))
            .inc();
        if o.upstream_error && !o.attempts_counted {
            self.count_deployment_failure(h, o.status, &status, class);
        }
    }

    /// One failed Bedrock call of a deployment: the failure and total counters, and the state
    /// gauge to 1 (partial outage) for failures that are the deployment's, unless it is already
    /// cooling down (2).
    fn count_deployment_failure(&self, h: &Handles, status: u16, status_text: &str, class: &str) {
        let series = &self.deployments[h.deployment];
        self.families
            .deployment_failure
            .get_or_create(&labels::deployment_failure(
                &series.info,
                &h.key,
                status_text,
                class,
            ))
            .inc();
        h.deployment_total.inc();
        let deployments_fault =
            status == 0 || status >= 500 || matches!(status, 401 | 403 | 408 | 429);
        if deployments_fault {
            let _ = series.state.inner().compare_exchange(
                DeploymentState::Healthy as i64,
                DeploymentState::PartialOutage as i64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// Router hook: one attempt on `deployment` failed with `status` (Bedrock's answer, 0 when
    /// there was none), for the request of `key` (`None`: the default key).
    pub fn attempt_failed(&self, deployment: usize, key: Option<&KeyLabels>, status: u16) {
        let Some(h) = self.handles(deployment, key) else {
            return;
        };
        let class = labels::exception_class(status, true);
        self.count_deployment_failure(&h, status, &status.to_string(), class);
    }

    /// A request that failed before a deployment was chosen (unknown model, bad body, bad key),
    /// on `route`.
    pub fn record_unrouted(
        &self,
        requested_model: &str,
        key: &KeyLabels,
        status: u16,
        route: &str,
    ) {
        let info = DeploymentInfo {
            model_name: requested_model.to_string(),
            ..DeploymentInfo::default()
        };
        let status_text = status.to_string();
        let class = labels::exception_class(status, false);
        self.families
            .proxy_total
            .get_or_create(&labels::proxy_total(&info, key, &status_text, route))
            .inc();
        self.families
            .proxy_failed
            .get_or_create(&labels::proxy_failed(
                &info,
                key,
                &status_text,
                class,
                route,
            ))
            .inc();
    }

    /// Sets the remaining-requests/tokens gauges of every key's series from the deployments'
    /// windows (at scrape: a window of a past minute counts as empty, so the gauges do not stay
    /// low after a burst, and every key's series shows the deployment's figure).
    fn sync_remaining(&self) {
        let minute = unix_minute();
        let keyed = self.keyed.read().unwrap_or_else(|e| e.into_inner());
        for (index, series) in self.deployments.iter().enumerate() {
            let d = &series.info;
            if d.rpm.is_none() && d.tpm.is_none() {
                continue;
            }
            let current = series.window_minute.load(Ordering::Relaxed) == minute;
            let used = |v: &AtomicU64| {
                if current {
                    v.load(Ordering::Relaxed)
                } else {
                    0
                }
            };
            let requests = d
                .rpm
                .map(|rpm| remaining(rpm, used(&series.window_requests)));
            let tokens = d.tpm.map(|tpm| remaining(tpm, used(&series.window_tokens)));
            let handles = self.default_handles.get(index).into_iter().chain(
                keyed
                    .iter()
                    .filter(|((i, _), _)| *i == index)
                    .map(|(_, h)| h),
            );
            for h in handles {
                if let Some(r) = requests {
                    h.remaining_requests.set(r);
                }
                if let Some(t) = tokens {
                    h.remaining_tokens.set(t);
                }
            }
        }
    }

    /// Router hook: the deployment's state (0 healthy, 1 partial outage, 2 cooling down).
    pub fn set_deployment_state(&self, deployment: usize, state: DeploymentState) {
        if let Some(s) = self.deployments.get(deployment) {
            s.state.set(state as i64);
        }
    }

    /// Router hook: the deployment was cooled down after an error with this status.
    pub fn cooled_down(&self, deployment: usize, exception_status: u16) {
        if let Some(s) = self.deployments.get(deployment) {
            self.families
                .deployment_cooled_down
                .get_or_create(&labels::cooled_down(&s.info, &exception_status.to_string()))
                .inc();
            s.state.set(DeploymentState::CompleteOutage as i64);
        }
    }

    /// Router hook: a fallback from `requested_model` to `fallback_model` after an error with
    /// `exception_status` (0 when unknown) succeeded (`ok`) or failed.
    pub fn fallback(
        &self,
        requested_model: &str,
        fallback_model: &str,
        model_id: &str,
        key: Option<&KeyLabels>,
        exception_status: u16,
        ok: bool,
    ) {
        let default_key = KeyLabels::default();
        let key = key
            .or_else(|| self.default_handles.first().map(|h| &h.key))
            .unwrap_or(&default_key);
        // 0: the original failure's status is not known to the caller.
        let (status, class) = if exception_status == 0 {
            (String::new(), "")
        } else {
            (
                exception_status.to_string(),
                labels::exception_class(exception_status, true),
            )
        };
        let labels = labels::fallback(
            requested_model,
            fallback_model,
            model_id,
            key,
            &status,
            class,
        );
        let family = if ok {
            &self.families.successful_fallbacks
        } else {
            &self.families.failed_fallbacks
        };
        family.get_or_create(&labels).inc();
    }

    /// A request started (decrement with [`Metrics::request_finished`]).
    pub fn request_started(&self) {
        self.families.in_flight_requests.inc();
    }

    pub fn request_finished(&self) {
        self.families.in_flight_requests.dec();
    }

    /// A stream started sending (decrement with [`Metrics::stream_finished`]).
    pub fn stream_started(&self) {
        self.families.in_flight_streams.inc();
    }

    pub fn stream_finished(&self) {
        self.families.in_flight_streams.dec();
    }

    /// One guardrail check: `litellm_guardrail_requests_total{guardrail_name, hook_type,
    /// status}`, its latency, and `litellm_guardrail_errors_total` when it could not decide.
    pub fn guardrail(
        &self,
        name: &str,
        hook: &'static str,
        outcome: &'static str,
        latency: Duration,
    ) {
        let f = &self.families;
        let labels = [
            ("guardrail_name", name.to_owned()),
            ("hook_type", hook.to_owned()),
            ("status", outcome.to_owned()),
        ];
        f.guardrail_requests.get_or_create(&labels).inc();
        f.guardrail_latency
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
        if outcome == "error" {
            f.guardrail_errors
                .get_or_create(&[
                    ("guardrail_name", name.to_owned()),
                    ("hook_type", hook.to_owned()),
                ])
                .inc();
        }
    }

    /// Virtual-key spend (USD) settled on this replica that Redis does not have yet
    /// (`shale_keys_unshared_spend`), as of the scrape.
    pub fn set_keys_unshared_spend(&self, usd: f64) {
        self.families.keys_unshared_spend.set(usd);
    }

    /// Health of a dependency (`redis`, `postgres` …): `shale_dependency_up{dependency}` 1 or 0.
    /// A change from 1 to 0 counts one `shale_dependency_outages_total`. Cheap (no allocation):
    /// call it whenever the dependency answers or fails, or on each health check.
    pub fn set_dependency_up(&self, dependency: &'static str, up: bool) {
        let labels = [("dependency", dependency)];
        let was = self
            .families
            .dependency_up
            .get_or_create(&labels)
            .set(i64::from(up));
        if was == 1 && !up {
            self.families
                .dependency_outages
                .get_or_create(&labels)
                .inc();
        }
    }

    /// For a dependency that counts its own outages (the router's Redis): the gauge without
    /// transition counting, and the outage counter raised to `outages_total`.
    pub fn sync_dependency(&self, dependency: &'static str, up: bool, outages_total: u64) {
        let labels = [("dependency", dependency)];
        self.families
            .dependency_up
            .get_or_create(&labels)
            .set(i64::from(up));
        let counter = self.families.dependency_outages.get_or_create(&labels);
        let seen = counter.get();
        if outages_total > seen {
            counter.inc_by(outages_total - seen);
        }
    }

    /// A built-in tool type dropped from a request (`shale_dropped_tools_total{tool}`); `tool` is
    /// one of a fixed set of names, never free text from the request.
    pub fn dropped_tool(&self, tool: &'static str) {
        self.families
            .dropped_tools
            .get_or_create(&[("tool", tool)])
            .inc();
    }

    /// A request's Bedrock call failed for want of AWS credentials
    /// (`shale_aws_credential_failures_total{source}`); `source` is the kind of source that failed.
    pub fn credential_failure(&self, source: &'static str) {
        self.families
            .credential_failures
            .get_or_create(&[("source", source)])
            .inc();
    }

    /// The Prometheus text format (version 0.0.4) of every metric; process metrics are read now.
    pub fn encode(&self) -> String {
        self.families.process.refresh();
        self.sync_remaining();
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

impl DeploymentSeries {
    fn new(families: &Families, info: DeploymentInfo) -> DeploymentSeries {
        let state = families
            .deployment_state
            .get_or_create_owned(&labels::deployment(&info));
        state.set(DeploymentState::Healthy as i64);
        DeploymentSeries {
            info,
            state,
            window_minute: AtomicU64::new(0),
            window_requests: AtomicU64::new(0),
            window_tokens: AtomicU64::new(0),
        }
    }

    /// Counts a request and its tokens in this minute's window (deployments with `rpm`/`tpm`);
    /// the remaining gauges are computed from it when scraped.
    fn count_window(&self, tokens: u64) {
        let d = &self.info;
        if d.rpm.is_none() && d.tpm.is_none() {
            return;
        }
        let minute = unix_minute();
        let seen = self.window_minute.load(Ordering::Relaxed);
        if seen != minute
            && self
                .window_minute
                .compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.window_requests.store(0, Ordering::Relaxed);
            self.window_tokens.store(0, Ordering::Relaxed);
        }
        self.window_requests.fetch_add(1, Ordering::Relaxed);
        self.window_tokens.fetch_add(tokens, Ordering::Relaxed);
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

fn unix_minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_secs() / 60)
        .unwrap_or(0)
}

fn remaining(limit: u64, used: u64) -> i64 {
    limit.saturating_sub(used).min(i64::MAX as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let d = DeploymentInfo {
            model_name: "claude".into(),
            model_id: "dep-1".into(),
            model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
            api_base: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
            rpm: Some(10),
            tpm: None,
        };
        let key = KeyLabels {
            hashed_api_key: "abc".into(),
            ..KeyLabels::default()
        };
        Metrics::new(vec![d], key)
    }

    #[test]
    fn a_rebuilt_table_keeps_counting_and_withdraws_removed_deployments() {
        let m = metrics();
        let ok = Observation {
            status: 200,
            ..Observation::default()
        };
        m.record(&m.handles(0, None).unwrap(), &ok);
        let other = DeploymentInfo {
            model_name: "nova".into(),
            model_id: "dep-2".into(),
            model: "amazon.nova-lite-v1:0".into(),
            ..DeploymentInfo::default()
        };
        // The same deployment, now at index 1, after a new one.
        let kept = m.deployments[0].info.clone();
        let next = m.rebuild(vec![other.clone(), kept]);
        assert!(Arc::ptr_eq(&m.deployments[0], &next.deployments[1]));
        next.record(&next.handles(1, None).unwrap(), &ok);
        let text = next.encode();
        let requests = text
            .lines()
            .find(|l| {
                l.starts_with("litellm_deployment_success_responses_total{") && l.contains("dep-1")
            })
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            requests.ends_with(" 2"),
            "one series across the swap: {requests}"
        );
        // dep-1 removed: its state gauge leaves /metrics; dep-2's stays.
        let last = next.rebuild(vec![other]);
        let text = last.encode();
        let states: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("litellm_deployment_state{"))
            .collect();
        assert_eq!(states.len(), 1, "{states:?}");
        assert!(states[0].contains("dep-2"));
    }

    #[test]
    fn success_and_failure_are_counted_with_litellm_labels() {
        let m = metrics();
        let h = m.handles(0, None).expect("pre-resolved");
        let ok = Observation {
            status: 200,
            usage: Some(TokenUsage {
                input: 10,
                output: 5,
                cache_read: 2,
                cache_write: 0,
            }),
            cost: Some(0.5),
            latency: Duration::from_millis(30),
            upstream: Some(Duration::from_millis(25)),
            overhead: Some(Duration::from_millis(1)),
            ..Observation::default()
        };
        m.record(&h, &ok);
        m.record(
            &h,
            &Observation {
                status: 429,
                upstream_error: true,
                ..Observation::default()
            },
        );
        let text = m.encode();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .to_string()
        };
        assert!(text.lines().any(
            |l| l.starts_with("litellm_proxy_total_requests_metric_total{")
                && l.contains("status_code=\"200\"")
                && l.ends_with(" 1")
        ));
        assert!(text.lines().any(
            |l| l.starts_with("litellm_proxy_total_requests_metric_total{")
                && l.contains("status_code=\"429\"")
                && l.ends_with(" 1")
        ));
        assert!(line("litellm_input_tokens_metric_total{").ends_with(" 12"));
        assert!(line("litellm_spend_metric_total{").ends_with(" 0.5"));
        assert!(line("litellm_proxy_failed_requests_metric_total{")
            .contains("exception_class=\"Bedrock.RateLimitError\""));
        assert!(line("litellm_deployment_state{").ends_with(" 1"));
        assert!(line("litellm_remaining_requests_metric{").ends_with(" 8"));
        assert!(text.contains("# TYPE litellm_deployment_successful_fallbacks_total counter"));
        m.fallback("claude", "nova", "dep-1", None, 429, true);
        m.cooled_down(0, 429);
        let text = m.encode();
        assert!(text.contains("fallback_model=\"nova\""));
        assert!(text.contains("litellm_deployment_cooled_down_total{"));
        assert!(text
            .lines()
            .any(|l| l.starts_with("litellm_deployment_state{") && l.ends_with(" 2")));
    }

    #[test]
    fn requests_carry_route_and_user_email_where_litellm_has_them() {
        let m = metrics();
        let key = KeyLabels {
            hashed_api_key: "k".into(),
            user_email: "dev@example.com".into(),
            ..KeyLabels::default()
        };
        let h = m.handles(0, Some(&key)).unwrap();
        let chat = labels::route("/v1/chat/completions");
        let responses = labels::route("/v1/responses");
        let ok = |route: &Arc<str>| Observation {
            route: Some(Arc::clone(route)),
            status: 200,
            usage: Some(TokenUsage {
                input: 3,
                output: 4,
                cache_read: 0,
                cache_write: 0,
            }),
            cost: Some(0.25),
            ..Observation::default()
        };
        m.record(&h, &ok(&chat));
        m.record(&h, &ok(&chat));
        m.record(&h, &ok(&responses));
        m.record(
            &h,
            &Observation {
                route: Some(Arc::clone(&chat)),
                status: 500,
                upstream_error: true,
                ..Observation::default()
            },
        );
        m.record_unrouted("nope", &key, 404, "/v1/embeddings");
        let text = m.encode();
        let total = |route: &str, status: &str| {
            sample(
                &text,
                "litellm_proxy_total_requests_metric_total{",
                &format!(
                    "status_code=\"{status}\",user_email=\"dev@example.com\",route=\"{route}\""
                ),
            )
        };
        assert_eq!(total("/v1/chat/completions", "200"), Some(2.0), "{text}");
        assert_eq!(total("/v1/responses", "200"), Some(1.0));
        assert_eq!(total("/v1/chat/completions", "500"), Some(1.0));
        assert_eq!(total("/v1/embeddings", "404"), Some(1.0));
        let failed = |route: &str| {
            sample(
                &text,
                "litellm_proxy_failed_requests_metric_total{",
                &format!("route=\"{route}\""),
            )
        };
        assert_eq!(failed("/v1/chat/completions"), Some(1.0));
        assert_eq!(failed("/v1/embeddings"), Some(1.0));
        for family in [
            "litellm_input_tokens_metric_total{",
            "litellm_output_tokens_metric_total{",
            "litellm_total_tokens_metric_total{",
            "litellm_spend_metric_total{",
        ] {
            let line = text
                .lines()
                .find(|l| l.starts_with(family) && l.contains("hashed_api_key=\"k\""))
                .unwrap_or_else(|| panic!("{family} in {text}"));
            assert!(line.contains("user_email=\"dev@example.com\""), "{line}");
            assert!(
                !line.contains("route="),
                "only the request counters have a route: {line}"
            );
        }
        // Latency histograms keep LiteLLM's labels: no user_email.
        assert!(text
            .lines()
            .filter(|l| l.starts_with("litellm_request_total_latency_metric_count{"))
            .all(|l| !l.contains("user_email")));
    }

    #[test]
    fn guardrail_checks_are_counted_by_outcome_with_latency() {
        let m = metrics();
        m.guardrail("pii", "pre_call", "masked", Duration::from_millis(20));
        m.guardrail("pii", "pre_call", "masked", Duration::from_millis(20));
        m.guardrail("pii", "post_call", "error", Duration::from_millis(5));
        let text = m.encode();
        assert_eq!(
            sample(
                &text,
                "litellm_guardrail_requests_total{",
                "status=\"masked\""
            ),
            Some(2.0)
        );
        assert!(text.contains("hook_type=\"post_call\""));
        assert_eq!(
            sample(
                &text,
                "litellm_guardrail_errors_total{",
                "guardrail_name=\"pii\""
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "litellm_guardrail_latency_seconds_count{",
                "status=\"masked\""
            ),
            Some(2.0)
        );
    }

    fn sample(text: &str, prefix: &str, needle: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix) && l.contains(needle))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn router_events_drive_the_deployment_state() {
        let m = metrics();
        let state = |m: &Metrics| sample(&m.encode(), "litellm_deployment_state{", "");
        m.attempt_failed(0, None, 400);
        assert_eq!(state(&m), Some(0.0), "the caller's 400 is not an outage");
        m.attempt_failed(0, None, 429);
        assert_eq!(state(&m), Some(1.0));
        m.cooled_down(0, 429);
        m.attempt_failed(0, None, 503);
        assert_eq!(state(&m), Some(2.0), "a failure does not lift a cooldown");
        let text = m.encode();
        assert_eq!(
            sample(
                &text,
                "litellm_deployment_failure_responses_total{",
                "exception_status=\"503\""
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "litellm_deployment_total_requests_total{", ""),
            Some(3.0)
        );
        assert_eq!(
            sample(
                &text,
                "litellm_deployment_cooled_down_total{",
                "exception_status=\"429\""
            ),
            Some(1.0)
        );
        // A success ends the outage, as LiteLLM's does.
        let h = m.handles(0, None).unwrap();
        m.record(
            &h,
            &Observation {
                status: 200,
                ..Observation::default()
            },
        );
        assert_eq!(state(&m), Some(0.0));
        // The request's own failure is not counted twice when the router counted its attempts.
        m.record(
            &h,
            &Observation {
                status: 429,
                upstream_error: true,
                attempts_counted: true,
                ..Observation::default()
            },
        );
        assert_eq!(
            sample(&m.encode(), "litellm_deployment_total_requests_total{", ""),
            Some(4.0)
        );
    }

    #[test]
    fn remaining_gauges_follow_the_minute_and_every_key() {
        let m = metrics();
        let key = KeyLabels {
            hashed_api_key: "k2".into(),
            ..KeyLabels::default()
        };
        let keyed = m.handles(0, Some(&key)).unwrap();
        let ok = Observation {
            status: 200,
            ..Observation::default()
        };
        m.record(&m.handles(0, None).unwrap(), &ok);
        m.record(&keyed, &ok);
        let text = m.encode();
        let values: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("litellm_remaining_requests_metric{"))
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(values, ["8", "8"], "both keys see the deployment's figure");
        // A window of a past minute is empty.
        m.deployments[0].window_minute.store(1, Ordering::Relaxed);
        assert_eq!(
            sample(&m.encode(), "litellm_remaining_requests_metric{", ""),
            Some(10.0)
        );
    }

    #[test]
    fn dependencies_report_up_down_and_outages() {
        let m = metrics();
        let up = |m: &Metrics, dep: &str| {
            sample(
                &m.encode(),
                "shale_dependency_up{",
                &format!("dependency=\"{dep}\""),
            )
        };
        let outages = |m: &Metrics, dep: &str| {
            sample(
                &m.encode(),
                "shale_dependency_outages_total{",
                &format!("dependency=\"{dep}\""),
            )
        };
        m.set_dependency_up("postgres", false);
        assert_eq!(
            (up(&m, "postgres"), outages(&m, "postgres")),
            (Some(0.0), None)
        );
        m.set_dependency_up("postgres", true);
        m.set_dependency_up("postgres", false);
        m.set_dependency_up("postgres", false);
        assert_eq!(
            (up(&m, "postgres"), outages(&m, "postgres")),
            (Some(0.0), Some(1.0))
        );
        m.sync_dependency("redis", true, 0);
        m.sync_dependency("redis", false, 2);
        m.sync_dependency("redis", false, 2);
        assert_eq!(
            (up(&m, "redis"), outages(&m, "redis")),
            (Some(0.0), Some(2.0))
        );
    }

    #[test]
    fn dropped_tools_and_credential_failures_count_by_label() {
        let m = metrics();
        let text = m.encode();
        assert!(
            text.contains("# TYPE shale_dropped_tools_total counter"),
            "{text}"
        );
        assert!(text.contains("# TYPE shale_aws_credential_failures_total counter"));
        m.dropped_tool("web_search");
        m.dropped_tool("web_search");
        m.dropped_tool("file_search");
        m.credential_failure("profile");
        let text = m.encode();
        let count = |name: &str, label: &str| sample(&text, name, label);
        assert_eq!(
            count("shale_dropped_tools_total{", "tool=\"web_search\""),
            Some(2.0)
        );
        assert_eq!(
            count("shale_dropped_tools_total{", "tool=\"file_search\""),
            Some(1.0)
        );
        assert_eq!(
            count("shale_aws_credential_failures_total{", "source=\"profile\""),
            Some(1.0)
        );
    }

    #[test]
    fn other_keys_get_their_own_series_once() {
        let m = metrics();
        let key = KeyLabels {
            hashed_api_key: "k2".into(),
            api_key_alias: "team-a".into(),
            ..KeyLabels::default()
        };
        let a = m.handles(0, Some(&key)).unwrap();
        let b = m.handles(0, Some(&key)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(m.handles(5, Some(&key)).is_none());
    }
}
