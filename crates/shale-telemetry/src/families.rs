//! The metric families behind [`crate::metrics::Metrics`]: every Prometheus family with
//! LiteLLM's name and help text, registered once at load, and the process gauges read from
//! `/proc` when scraped. Recording and label resolution are `metrics.rs`'s job; this file only
//! declares and registers.

use crate::labels::Labels;
use crate::metrics::LATENCY_BUCKETS;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

pub(crate) type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;
/// The label set of the dependency metrics (`dependency="redis"`).
pub(crate) type Dependency = [(&'static str, &'static str); 1];
pub(crate) type SpendCounter = Counter<f64, AtomicU64>;
/// The label set of `shale_dropped_tools_total` (`tool="web_search"`).
pub(crate) type Tool = [(&'static str, &'static str); 1];
/// The label set of `shale_aws_credential_failures_total` (`source="profile"`).
pub(crate) type CredentialSource = [(&'static str, &'static str); 1];

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
pub(crate) struct Families {
    pub(crate) proxy_total: Family<Labels<11>, Counter>,
    pub(crate) proxy_failed: Family<Labels<12>, Counter>,
    pub(crate) total_latency: HistogramFamily<Labels<9>>,
    pub(crate) api_latency: HistogramFamily<Labels<9>>,
    pub(crate) ttft: HistogramFamily<Labels<9>>,
    pub(crate) overhead: HistogramFamily<Labels<7>>,
    pub(crate) input_tokens: Family<Labels<10>, Counter>,
    pub(crate) output_tokens: Family<Labels<10>, Counter>,
    pub(crate) total_tokens: Family<Labels<10>, Counter>,
    pub(crate) spend: Family<Labels<10>, SpendCounter>,
    pub(crate) deployment_state: Family<Labels<4>, Gauge>,
    pub(crate) deployment_success: Family<Labels<9>, Counter>,
    pub(crate) deployment_failure: Family<Labels<11>, Counter>,
    pub(crate) deployment_total: Family<Labels<9>, Counter>,
    pub(crate) deployment_cooled_down: Family<Labels<5>, Counter>,
    pub(crate) latency_per_token: HistogramFamily<Labels<8>>,
    pub(crate) successful_fallbacks: Family<Labels<9>, Counter>,
    pub(crate) failed_fallbacks: Family<Labels<9>, Counter>,
    pub(crate) remaining_requests: Family<Labels<7>, Gauge>,
    pub(crate) remaining_tokens: Family<Labels<7>, Gauge>,
    pub(crate) in_flight_requests: Gauge,
    pub(crate) in_flight_streams: Gauge,
    pub(crate) dependency_up: Family<Dependency, Gauge>,
    pub(crate) dependency_outages: Family<Dependency, Counter>,
    pub(crate) process: ProcessGauges,
    /// `shale_dropped_tools_total{tool}`: built-in tools dropped from requests.
    pub(crate) dropped_tools: Family<Tool, Counter>,
    /// `shale_aws_credential_failures_total{source}`: requests in which a Bedrock call failed for
    /// want of AWS credentials.
    pub(crate) credential_failures: Family<CredentialSource, Counter>,
    pub(crate) guardrail_requests: Family<Labels<3>, Counter>,
    pub(crate) guardrail_errors: Family<Labels<2>, Counter>,
    pub(crate) guardrail_latency: HistogramFamily<Labels<3>>,
    pub(crate) cache_hits: Family<Labels<7>, Counter>,
    pub(crate) cache_misses: Family<Labels<7>, Counter>,
    pub(crate) cached_tokens: Family<Labels<7>, Counter>,
    /// `shale_keys_unshared_spend`: virtual-key spend (USD) settled here, not yet in Redis.
    pub(crate) keys_unshared_spend: Gauge<f64, AtomicU64>,
}

#[derive(Default)]
pub(crate) struct ProcessGauges {
    pub(crate) resident_memory: Gauge,
    pub(crate) virtual_memory: Gauge,
    pub(crate) open_fds: Gauge,
    pub(crate) cpu_seconds: Counter<f64, AtomicU64>,
    pub(crate) start_time: Gauge,
    pub(crate) threads: Gauge,
}

impl Families {
    pub(crate) fn register(r: &mut Registry) -> Families {
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
            dependency_outages: Family::default(),
            process: ProcessGauges::default(),
            dropped_tools: Family::default(),
            credential_failures: Family::default(),
            guardrail_requests: Family::default(),
            guardrail_errors: Family::default(),
            guardrail_latency: histogram_family(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            cached_tokens: Family::default(),
            keys_unshared_spend: Gauge::default(),
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
        r.register(
            "shale_dependency_outages",
            "Times a dependency went from answering to not answering",
            Listed(f.dependency_outages.clone()),
        );
        r.register(
            "shale_dropped_tools",
            "Built-in tools (web_search, file_search, ...) dropped from requests because Bedrock cannot run them, by tool type",
            Listed(f.dropped_tools.clone()),
        );
        r.register(
            "shale_aws_credential_failures",
            "Requests in which a Bedrock call could not be made because the gateway's AWS credentials could not be loaded, by credential source",
            Listed(f.credential_failures.clone()),
        );
        r.register(
            "litellm_guardrail_requests",
            "Guardrail checks (ApplyGuardrail calls) by guardrail, hook and outcome (passed, masked, blocked, error)",
            Listed(f.guardrail_requests.clone()),
        );
        r.register(
            "litellm_guardrail_errors",
            "Guardrail checks that could not decide (ApplyGuardrail unreachable, timed out, 5xx, throttled)",
            Listed(f.guardrail_errors.clone()),
        );
        r.register(
            "litellm_guardrail_latency_seconds",
            "Latency (seconds) of one guardrail check (an ApplyGuardrail call)",
            Listed(f.guardrail_latency.clone()),
        );
        r.register(
            "litellm_cache_hits_metric",
            "Total number of LiteLLM cache hits",
            Listed(f.cache_hits.clone()),
        );
        r.register(
            "litellm_cache_misses_metric",
            "Total number of LiteLLM cache misses",
            Listed(f.cache_misses.clone()),
        );
        r.register(
            "litellm_cached_tokens_metric",
            "Total tokens served from LiteLLM cache",
            Listed(f.cached_tokens.clone()),
        );
        r.register(
            "shale_keys_unshared_spend",
            "USD of virtual-key spend settled on this replica that the replicas' shared Redis counters do not have yet (Redis unreachable, or the write on its way); added to them when Redis answers",
            f.keys_unshared_spend.clone(),
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
    pub(crate) fn refresh(&self) {
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
