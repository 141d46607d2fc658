//! The Prometheus registry with LiteLLM's metric names, label names and latency buckets, plus
//! shale's own (in-flight requests and streams, dependency health, process metrics).
//!
//! Hot path: every (deployment, key) pair gets a [`Handles`] of pre-resolved counters and
//! histograms at load, so recording a successful request touches atomics (and the histograms'
//! short mutex) and allocates nothing. Label sets are built only at load, on the failure path and
//! for router/key events. This module never blocks on I/O; `/proc` is read only when scraped.

use crate::cost::TokenUsage;
use crate::labels::{self, DeploymentInfo, KeyLabels, Labels};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
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

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;
type SpendCounter = Counter<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn histogram_family<S: Clone + std::hash::Hash + Eq>() -> HistogramFamily<S> {
    Family::new_with_constructor(latency_histogram as fn() -> Histogram)
}

/// A family listed in the scrape (`# HELP`, `# TYPE`) even before its first series, as LiteLLM's
/// Python client does, so dashboards and alerts see every metric from the start.
#[derive(Debug)]
struct Listed<M>(M);

impl<M: EncodeMetric> EncodeMetric for Listed<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// Every metric family. Cloning shares the series.
struct Families {
    proxy_total: Family<Labels<9>, Counter>,
    proxy_failed: Family<Labels<10>, Counter>,
    total_latency: HistogramFamily<Labels<9>>,
    api_latency: HistogramFamily<Labels<9>>,
    ttft: HistogramFamily<Labels<9>>,
    overhead: HistogramFamily<Labels<7>>,
    input_tokens: Family<Labels<9>, Counter>,
    output_tokens: Family<Labels<9>, Counter>,
    total_tokens: Family<Labels<9>, Counter>,
    spend: Family<Labels<9>, SpendCounter>,
    deployment_state: Family<Labels<4>, Gauge>,
    deployment_success: Family<Labels<9>, Counter>,
    deployment_failure: Family<Labels<11>, Counter>,
    deployment_total: Family<Labels<9>, Counter>,
    deployment_cooled_down: Family<Labels<5>, Counter>,
    latency_per_token: HistogramFamily<Labels<8>>,
    successful_fallbacks: Family<Labels<9>, Counter>,
    failed_fallbacks: Family<Labels<9>, Counter>,
    remaining_requests: Family<Labels<7>, Gauge>,
    remaining_tokens: Family<Labels<7>, Gauge>,
    in_flight_requests: Gauge,
    in_flight_streams: Gauge,
    dependency_up: Family<[(&'static str, String); 1], Gauge>,
    process: ProcessGauges,
}

#[derive(Default)]
struct ProcessGauges {
    resident_memory: Gauge,
    virtual_memory: Gauge,
    open_fds: Gauge,
    cpu_seconds: Counter<f64, AtomicU64>,
    start_time: Gauge,
    threads: Gauge,
}

/// Pre-resolved series for one (deployment, key) pair.
pub struct Handles {
    deployment: usize,
    key: KeyLabels,
    requests_ok: Counter,
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
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation {
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
}

/// The registry and the handles. Built once at load.
pub struct Metrics {
    registry: Registry,
    families: Families,
    deployments: Vec<DeploymentSeries>,
    /// Handles for the default key (master key or unauthenticated), by deployment index.
    default_handles: Vec<Arc<Handles>>,
    /// Handles for other keys, resolved on their first request.
    keyed: RwLock<HashMap<(usize, KeyLabels), Arc<Handles>>>,
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
        let families = Families::register(&mut registry);
        let deployments: Vec<DeploymentSeries> = deployments
            .into_iter()
            .map(|info| {
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
            })
            .collect();
        let mut metrics = Metrics {
            registry,
            families,
            deployments,
            default_handles: Vec::new(),
            keyed: RwLock::new(HashMap::new()),
        };
        metrics.default_handles = (0..metrics.deployments.len())
            .map(|i| Arc::new(metrics.resolve(i, &default_key)))
            .collect();
        metrics
    }

    fn resolve(&self, index: usize, key: &KeyLabels) -> Handles {
        let f = &self.families;
        let d = &self.deployments[index].info;
        let request = labels::request(d, key);
        let handles = Handles {
            deployment: index,
            key: key.clone(),
            requests_ok: f
                .proxy_total
                .get_or_create_owned(&labels::proxy_total(d, key, "200")),
            total_latency: f.total_latency.get_or_create_owned(&request),
            api_latency: f.api_latency.get_or_create_owned(&request),
            ttft: f.ttft.get_or_create_owned(&request),
            overhead: f
                .overhead
                .get_or_create_owned(&labels::deployment_key(d, key)),
            input_tokens: f.input_tokens.get_or_create_owned(&request),
            output_tokens: f.output_tokens.get_or_create_owned(&request),
            total_tokens: f.total_tokens.get_or_create_owned(&request),
            spend: f.spend.get_or_create_owned(&labels::spend(d, key)),
            deployment_success: f
                .deployment_success
                .get_or_create_owned(&labels::deployment_requests(d, key)),
            deployment_total: f
                .deployment_total
                .get_or_create_owned(&labels::deployment_requests(d, key)),
            latency_per_token: f
                .latency_per_token
                .get_or_create_owned(&labels::latency_per_token(d, key)),
            remaining_requests: f
                .remaining_requests
                .get_or_create_owned(&labels::deployment_key(d, key)),
            remaining_tokens: f
                .remaining_tokens
                .get_or_create_owned(&labels::deployment_key(d, key)),
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
            h.requests_ok.inc();
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
        self.count_window(h, series, o.usage.map(|u| u.total_tokens()).unwrap_or(0));
    }

    /// The failure path: label sets are built here (exception status and class vary).
    fn record_failure(&self, h: &Handles, o: &Observation) {
        let f = &self.families;
        let series = &self.deployments[h.deployment];
        let d = &series.info;
        let status = o.status.to_string();
        let class = labels::exception_class(o.status, o.upstream_error);
        f.proxy_total
            .get_or_create(&labels::proxy_total(d, &h.key, &status))
            .inc();
        f.proxy_failed
            .get_or_create(&labels::proxy_failed(d, &h.key, &status, class))
            .inc();
        if o.upstream_error {
            f.deployment_failure
                .get_or_create(&labels::deployment_failure(d, &h.key, &status, class))
                .inc();
            h.deployment_total.inc();
            series.state.set(DeploymentState::PartialOutage as i64);
        }
    }

    /// A request that failed before a deployment was chosen (unknown model, bad body, bad key).
    pub fn record_unrouted(&self, requested_model: &str, key: &KeyLabels, status: u16) {
        let info = DeploymentInfo {
            model_name: requested_model.to_string(),
            ..DeploymentInfo::default()
        };
        let status_text = status.to_string();
        let class = labels::exception_class(status, false);
        self.families
            .proxy_total
            .get_or_create(&labels::proxy_total(&info, key, &status_text))
            .inc();
        self.families
            .proxy_failed
            .get_or_create(&labels::proxy_failed(&info, key, &status_text, class))
            .inc();
    }

    /// Counts the request and its tokens in this minute's window and updates the remaining
    /// gauges of deployments with `rpm`/`tpm`.
    fn count_window(&self, h: &Handles, series: &DeploymentSeries, tokens: u64) {
        let d = &series.info;
        if d.rpm.is_none() && d.tpm.is_none() {
            return;
        }
        let minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|t| t.as_secs() / 60)
            .unwrap_or(0);
        let seen = series.window_minute.load(Ordering::Relaxed);
        if seen != minute
            && series
                .window_minute
                .compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            series.window_requests.store(0, Ordering::Relaxed);
            series.window_tokens.store(0, Ordering::Relaxed);
        }
        let used_requests = series.window_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let used_tokens = series.window_tokens.fetch_add(tokens, Ordering::Relaxed) + tokens;
        if let Some(rpm) = d.rpm {
            h.remaining_requests.set(remaining(rpm, used_requests));
        }
        if let Some(tpm) = d.tpm {
            h.remaining_tokens.set(remaining(tpm, used_tokens));
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

    /// Router hook: remaining requests and tokens of a deployment's rpm/tpm budget (when the
    /// router tracks them globally, its figures replace this instance's own window).
    pub fn set_remaining(&self, deployment: usize, requests: Option<u64>, tokens: Option<u64>) {
        if let Some(h) = self.default_handles.get(deployment) {
            if let Some(r) = requests {
                h.remaining_requests.set(r.min(i64::MAX as u64) as i64);
            }
            if let Some(t) = tokens {
                h.remaining_tokens.set(t.min(i64::MAX as u64) as i64);
            }
        }
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

    /// Health of a dependency (`redis`, `database`, `otel_collector` …), for those that have one.
    pub fn set_dependency_up(&self, dependency: &'static str, up: bool) {
        self.families
            .dependency_up
            .get_or_create(&[("dependency", dependency.to_string())])
            .set(i64::from(up));
    }

    /// The Prometheus text format (version 0.0.4) of every metric; process metrics are read now.
    pub fn encode(&self) -> String {
        self.families.process.refresh();
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

fn remaining(limit: u64, used: u64) -> i64 {
    limit.saturating_sub(used).min(i64::MAX as u64) as i64
}

impl Families {
    fn register(r: &mut Registry) -> Families {
        let f = Families {
            proxy_total: Family::default(),
            proxy_failed: Family::default(),
            total_latency: histogram_family(),
            api_latency: histogram_family(),
            ttft: histogram_family(),
            overhead: histogram_family(),
            input_tokens: Family::default(),
            output_tokens: Family::default(),
            total_tokens: Family::default(),
            spend: Family::default(),
            deployment_state: Family::default(),
            deployment_success: Family::default(),
            deployment_failure: Family::default(),
            deployment_total: Family::default(),
            deployment_cooled_down: Family::default(),
            latency_per_token: histogram_family(),
            successful_fallbacks: Family::default(),
            failed_fallbacks: Family::default(),
            remaining_requests: Family::default(),
            remaining_tokens: Family::default(),
            in_flight_requests: Gauge::default(),
            in_flight_streams: Gauge::default(),
            dependency_up: Family::default(),
            process: ProcessGauges::default(),
        };
        r.register(
            "litellm_proxy_total_requests_metric",
            "Total number of requests made to the proxy server - track number of client side requests",
            Listed(f.proxy_total.clone()),
        );
        r.register(
            "litellm_proxy_failed_requests_metric",
            "Total number of failed responses from proxy - the client did not get a success response from the proxy",
            Listed(f.proxy_failed.clone()),
        );
        r.register(
            "litellm_request_total_latency_metric",
            "Total latency (seconds) for a request to the proxy",
            Listed(f.total_latency.clone()),
        );
        r.register(
            "litellm_llm_api_latency_metric",
            "Total latency (seconds) for a models LLM API call",
            Listed(f.api_latency.clone()),
        );
        r.register(
            "litellm_llm_api_time_to_first_token_metric",
            "Time to first token for a models LLM API call",
            Listed(f.ttft.clone()),
        );
        r.register(
            "litellm_overhead_latency_metric",
            "Latency overhead (seconds) added by the proxy",
            Listed(f.overhead.clone()),
        );
        r.register(
            "litellm_input_tokens_metric",
            "Total number of input tokens from LLM requests",
            Listed(f.input_tokens.clone()),
        );
        r.register(
            "litellm_output_tokens_metric",
            "Total number of output tokens from LLM requests",
            Listed(f.output_tokens.clone()),
        );
        r.register(
            "litellm_total_tokens_metric",
            "Total number of input + output tokens from LLM requests",
            Listed(f.total_tokens.clone()),
        );
        r.register(
            "litellm_spend_metric",
            "Total spend on LLM requests",
            Listed(f.spend.clone()),
        );
        r.register(
            "litellm_deployment_state",
            "LLM Deployment Analytics - The state of the deployment: 0 = healthy, 1 = partial outage, 2 = complete outage",
            Listed(f.deployment_state.clone()),
        );
        r.register(
            "litellm_deployment_success_responses",
            "LLM Deployment Analytics - Total number of successful LLM API calls",
            Listed(f.deployment_success.clone()),
        );
        r.register(
            "litellm_deployment_failure_responses",
            "LLM Deployment Analytics - Total number of failed LLM API calls for a specific LLM deployment. exception_status is the status of the exception from the llm api",
            Listed(f.deployment_failure.clone()),
        );
        r.register(
            "litellm_deployment_total_requests",
            "LLM Deployment Analytics - Total number of LLM API calls - success + failure",
            Listed(f.deployment_total.clone()),
        );
        r.register(
            "litellm_deployment_cooled_down",
            "LLM Deployment Analytics - Number of times a deployment has been cooled down by the load balancing logic. exception_status is the status of the exception that caused the deployment to be cooled down",
            Listed(f.deployment_cooled_down.clone()),
        );
        r.register(
            "litellm_deployment_latency_per_output_token",
            "LLM Deployment Analytics - Latency per output token",
            Listed(f.latency_per_token.clone()),
        );
        r.register(
            "litellm_deployment_successful_fallbacks",
            "LLM Deployment Analytics - Number of successful fallback requests from primary model -> fallback model",
            Listed(f.successful_fallbacks.clone()),
        );
        r.register(
            "litellm_deployment_failed_fallbacks",
            "LLM Deployment Analytics - Number of failed fallback requests from primary model -> fallback model",
            Listed(f.failed_fallbacks.clone()),
        );
        r.register(
            "litellm_remaining_requests_metric",
            "LLM Deployment Analytics - remaining requests for model in this minute (from the deployment's rpm)",
            Listed(f.remaining_requests.clone()),
        );
        r.register(
            "litellm_remaining_tokens_metric",
            "remaining tokens for model in this minute (from the deployment's tpm)",
            Listed(f.remaining_tokens.clone()),
        );
        r.register(
            "shale_in_flight_requests",
            "Requests being served now",
            Listed(f.in_flight_requests.clone()),
        );
        r.register(
            "shale_in_flight_streams",
            "Streamed responses being sent now",
            Listed(f.in_flight_streams.clone()),
        );
        r.register(
            "shale_dependency_up",
            "1 when a dependency (redis, database, ...) answers, 0 when it does not",
            Listed(f.dependency_up.clone()),
        );
        f.process.register(r);
        f
    }
}

impl ProcessGauges {
    fn register(&self, r: &mut Registry) {
        r.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            self.resident_memory.clone(),
        );
        r.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            self.virtual_memory.clone(),
        );
        r.register(
            "process_open_fds",
            "Number of open file descriptors",
            self.open_fds.clone(),
        );
        r.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            self.cpu_seconds.clone(),
        );
        r.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            self.start_time.clone(),
        );
        r.register(
            "process_threads",
            "Number of OS threads in the process",
            self.threads.clone(),
        );
    }

    /// Reads `/proc/self` (Linux); elsewhere the gauges stay 0.
    fn refresh(&self) {
        let Some(stat) = crate::process::read() else {
            return;
        };
        self.resident_memory.set(stat.resident_bytes as i64);
        self.virtual_memory.set(stat.virtual_bytes as i64);
        self.open_fds.set(stat.open_fds as i64);
        self.threads.set(stat.threads as i64);
        self.start_time.set(stat.start_time_seconds as i64);
        let delta = stat.cpu_seconds - self.cpu_seconds.get();
        if delta > 0.0 {
            self.cpu_seconds.inc_by(delta);
        }
    }
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
