//! `shale-telemetry`: observing requests — Prometheus metrics with LiteLLM's names
//! ([`metrics`]), cost per request from a Bedrock price table ([`cost`]), OpenTelemetry traces
//! over OTLP ([`otel`]) and the access log ([`access_log`]).
//!
//! The gateway reports into one [`RequestRecord`] per request ([`record`]) and calls
//! [`Telemetry::finish`] once when the request (or its stream) ends. Everything per deployment is
//! resolved at load (and again, over the same registry, when the model table changes: [`Telemetry::rebuild`]). This crate does no HTTP routing and no translation, and never makes a
//! request wait on an export.

#![forbid(unsafe_code)]

pub mod access_log;
pub mod attempts;
mod cache_metrics;
pub mod cost;
mod families;
pub mod labels;
pub mod metrics;
pub mod otel;
pub mod process;
pub mod record;
pub mod span_filter;

pub use cost::{cost, Prices, Tier, TokenUsage};
pub use labels::{DeploymentInfo, KeyLabels};
pub use metrics::{DeploymentState, Metrics};
pub use record::{CacheOutcome, RequestCell, RequestRecord};

use std::time::Duration;

/// What the operator turned on (from the config: see `shale_config::TelemetrySettings`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Switches {
    /// Serve `/metrics` and count.
    pub prometheus: bool,
    /// One access-log line per request.
    pub access_log: bool,
    /// Prompts and completions on trace spans.
    pub capture_content: bool,
}

/// One deployment as telemetry sees it: labels and prices, resolved at load.
#[derive(Debug, Clone, Default)]
pub struct DeploymentTelemetry {
    pub info: DeploymentInfo,
    pub prices: Option<Prices>,
}

/// The gateway's observer. Built once at load; shared by every request.
#[derive(Debug)]
pub struct Telemetry {
    metrics: Option<Metrics>,
    deployments: Vec<DeploymentTelemetry>,
    access_log: bool,
    capture_content: bool,
}

impl Telemetry {
    /// `deployments` are indexed like `model_list`; `default_key` labels requests made with the
    /// master key (or without a key).
    pub fn new(
        switches: Switches,
        deployments: Vec<DeploymentTelemetry>,
        default_key: KeyLabels,
    ) -> Telemetry {
        let metrics = switches.prometheus.then(|| {
            Metrics::new(
                deployments.iter().map(|d| d.info.clone()).collect(),
                default_key,
            )
        });
        Telemetry {
            metrics,
            deployments,
            access_log: switches.access_log,
            capture_content: switches.capture_content,
        }
    }

    /// The telemetry of a changed model table (`deployments` indexed like its `model_list`): the
    /// same switches and the same metrics registry (see [`Metrics::rebuild`]).
    pub fn rebuild(&self, deployments: Vec<DeploymentTelemetry>) -> Telemetry {
        Telemetry {
            metrics: self
                .metrics
                .as_ref()
                .map(|m| m.rebuild(deployments.iter().map(|d| d.info.clone()).collect())),
            deployments,
            access_log: self.access_log,
            capture_content: self.capture_content,
        }
    }

    /// Nothing enabled (tests, tools).
    pub fn disabled() -> Telemetry {
        Telemetry::new(Switches::default(), Vec::new(), KeyLabels::default())
    }

    /// Whether prompts and completions go on trace spans.
    pub fn capture_content(&self) -> bool {
        self.capture_content
    }

    /// The metrics, when Prometheus is on.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// A deployment's resolved telemetry (labels, prices).
    pub fn deployment(&self, index: usize) -> Option<&DeploymentTelemetry> {
        self.deployments.get(index)
    }

    /// The cost of `usage` on deployment `index`, if it has prices.
    pub fn cost(&self, index: usize, usage: &TokenUsage) -> Option<f64> {
        let prices = self.deployments.get(index)?.prices.as_ref()?;
        Some(cost::cost(usage, prices))
    }

    /// Records a finished request: metrics and the access-log line. Called exactly once per
    /// request; `latency` is the whole request (for streams: until the stream ended).
    pub fn finish(&self, record: &RequestRecord, latency: Duration) {
        if let Some(metrics) = &self.metrics {
            if let Some(cache) = &record.cache {
                metrics.record_cache(record, cache);
            }
            match record.deployment {
                Some(index) => {
                    if let Some(handles) = metrics.handles(index, record.key.as_ref()) {
                        let observation = metrics::Observation {
                            route: record.route.clone(),
                            status: record.status,
                            upstream_error: record.upstream_error,
                            usage: record.usage,
                            cost: record.cost,
                            latency,
                            upstream: record.upstream,
                            ttft: record.ttft,
                            overhead: record.overhead,
                            attempts_counted: record.attempts_counted,
                        };
                        metrics.record(&handles, &observation);
                    }
                }
                None if record.status >= 400 => {
                    let default_key = KeyLabels::default();
                    metrics.record_unrouted(
                        record.requested_model.as_deref().unwrap_or(""),
                        record.key.as_ref().unwrap_or(&default_key),
                        record.status,
                        record.route.as_deref().unwrap_or(""),
                    );
                }
                None => {}
            }
            if let Some(source) = record.credential_failure {
                metrics.credential_failure(source);
            }
        }
        if self.access_log {
            let model_id = record
                .deployment
                .and_then(|i| self.deployments.get(i))
                .map(|d| d.info.model_id.as_str())
                .unwrap_or("");
            access_log::write(record, latency, model_id);
        }
    }
}

/// A stable id for a deployment without `model_info.id`: the first 16 hex digits of the SHA-256
/// of its position, `model_name` and `litellm_params.model` (LiteLLM hashes the params likewise).
pub fn derived_model_id(index: usize, model_name: &str, model: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{index}\n{model_name}\n{model}").as_bytes());
    hex::encode(&digest[..8])
}

/// SHA-256 hex of an API key (LiteLLM's `hashed_api_key`).
pub fn hash_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}
