//! The fleet's Prometheus metrics, in their own registry that `/metrics` encodes after the
//! gateway's (the text format has no end marker, so the two concatenate):
//!
//! - `shale_health_check_probes_total{model_name, model_id, probe, result}`: probes this replica
//!   sent (`result` `healthy` / `unhealthy`); summed over replicas it is the fleet's probe count.
//! - `shale_health_check_probe_duration_seconds{probe}`: how long probes took.
//! - `shale_health_check_skipped_total`: deployment-intervals another replica probed (its lease).
//! - `shale_health_check_healthy{model_name, model_id}`: the fleet's latest verdict, 1 or 0.
//! - `shale_responses_store_pending_writes`, `…_dropped_writes_total`,
//!   `…_cache_reads_while_down_total`, `…_unavailable_total`, `…_write_seconds`: the shared
//!   Responses store.
//!
//! Probes are not client requests: they are not in LiteLLM's request, token or spend metrics.
//! Must not: block (atomics and short mutex sections only).

use crate::responses::StoreStats;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Probe durations: 5 ms to 60 s (LiteLLM's probe timeout).
const PROBE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// The health checker's series.
#[derive(Debug, Clone)]
pub struct HealthMetrics {
    probes: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    skipped: Counter,
    healthy: Family<Labels, Gauge>,
}

fn probe_histogram() -> Histogram {
    Histogram::new(PROBE_BUCKETS)
}

impl Default for HealthMetrics {
    fn default() -> Self {
        HealthMetrics {
            probes: Family::default(),
            duration: Family::new_with_constructor(probe_histogram as fn() -> Histogram),
            skipped: Counter::default(),
            healthy: Family::default(),
        }
    }
}

impl HealthMetrics {
    /// One probe sent by this replica.
    pub fn probed(
        &self,
        model_name: &str,
        model_id: &str,
        probe: &str,
        healthy: bool,
        seconds: f64,
    ) {
        let result = if healthy { "healthy" } else { "unhealthy" };
        self.probes
            .get_or_create(&vec![
                ("model_name", model_name.to_string()),
                ("model_id", model_id.to_string()),
                ("probe", probe.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
        self.duration
            .get_or_create(&vec![("probe", probe.to_string())])
            .observe(seconds);
    }

    /// Deployments another replica probes this interval.
    pub fn skipped(&self, n: u64) {
        self.skipped.inc_by(n);
    }

    /// Replaces the verdict gauges with the fleet's current view `(model_name, model_id, healthy)`
    /// (deployments that are gone disappear).
    pub fn set_view<'a>(&self, view: impl Iterator<Item = (&'a str, &'a str, bool)>) {
        self.healthy.clear();
        for (model_name, model_id, healthy) in view {
            self.healthy
                .get_or_create(&vec![
                    ("model_name", model_name.to_string()),
                    ("model_id", model_id.to_string()),
                ])
                .set(i64::from(healthy));
        }
    }
}

/// The registry of the fleet's metrics.
#[derive(Debug)]
pub struct FleetMetrics {
    registry: Registry,
}

impl FleetMetrics {
    /// Registers the health checker's series (when checks are on) and the Responses store's
    /// counters (when it is shared).
    pub fn new(health: Option<&HealthMetrics>, store: Option<&StoreStats>) -> FleetMetrics {
        let mut registry = Registry::default();
        if let Some(h) = health {
            registry.register(
                "shale_health_check_probes",
                "Background health-check probes this replica sent",
                h.probes.clone(),
            );
            registry.register(
                "shale_health_check_probe_duration_seconds",
                "Duration of background health-check probes",
                h.duration.clone(),
            );
            registry.register(
                "shale_health_check_skipped",
                "Deployment probes skipped because another replica held the interval's lease",
                h.skipped.clone(),
            );
            registry.register(
                "shale_health_check_healthy",
                "The fleet's latest health-check verdict per deployment (1 healthy, 0 unhealthy)",
                h.healthy.clone(),
            );
        }
        if let Some(s) = store {
            registry.register(
                "shale_responses_store_pending_writes",
                "Stored responses waiting to be written to the shared store",
                s.pending_writes.clone(),
            );
            registry.register(
                "shale_responses_store_dropped_writes",
                "Stored responses kept only in this replica's memory (queue full or refused)",
                s.dropped_writes.clone(),
            );
            registry.register(
                "shale_responses_store_cache_reads_while_down",
                "Stored-response reads answered from this replica's cache while the shared store was down",
                s.cache_reads_while_down.clone(),
            );
            registry.register(
                "shale_responses_store_unavailable",
                "Stored-response lookups answered 503 because the shared store was down",
                s.unavailable.clone(),
            );
            registry.register(
                "shale_responses_store_write_seconds",
                "Time from a stored response's answer to its write in the shared store",
                s.write_seconds.clone(),
            );
        }
        FleetMetrics { registry }
    }

    /// The Prometheus text format (0.0.4) of these series, to append to the gateway's.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_encoded_with_their_labels() {
        let h = HealthMetrics::default();
        h.probed("claude", "c1", "count_tokens", true, 0.01);
        h.probed("claude", "c1", "count_tokens", false, 0.02);
        h.skipped(3);
        h.set_view([("claude", "c1", false)].into_iter());
        let store = StoreStats::default();
        store.unavailable.inc();
        let text = FleetMetrics::new(Some(&h), Some(&store)).encode();
        assert!(text.contains(r#"shale_health_check_probes_total{model_name="claude",model_id="c1",probe="count_tokens",result="healthy"} 1"#), "{text}");
        assert!(
            text.contains("shale_health_check_skipped_total 3"),
            "{text}"
        );
        assert!(
            text.contains(r#"shale_health_check_healthy{model_name="claude",model_id="c1"} 0"#),
            "{text}"
        );
        assert!(
            text.contains("shale_responses_store_unavailable_total 1"),
            "{text}"
        );
        assert!(
            !text.contains("# EOF"),
            "concatenates with the gateway's text"
        );
        h.set_view(std::iter::empty());
        let text = FleetMetrics::new(Some(&h), None).encode();
        assert!(!text.contains("shale_health_check_healthy{"), "{text}");
    }
}
