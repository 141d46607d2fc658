//! The router's observer in the gateway: router events (a failed attempt, a cooldown, a
//! fallback that succeeded or failed) become telemetry's LiteLLM metrics, labelled with the
//! calling key of the request they happen in. The router calls these on the request's task, so
//! the current request's record is at hand.
//!
//! Must not block or allocate on the success path (the router calls nothing here then), and
//! does nothing when Prometheus is off.

use shale_telemetry::record;
use shale_telemetry::{KeyLabels, Telemetry};
use std::sync::Arc;

/// Implements [`shale_router::Observer`] with telemetry's `Metrics`.
#[derive(Debug)]
pub struct RouterMetrics {
    telemetry: Arc<Telemetry>,
}

impl RouterMetrics {
    pub fn new(telemetry: Arc<Telemetry>) -> RouterMetrics {
        RouterMetrics { telemetry }
    }
}

/// The current request's key labels (`None`: the master key, or outside a request).
fn current_key() -> Option<KeyLabels> {
    let mut key = None;
    record::with_current(|r| key = r.key.clone());
    key
}

impl shale_router::Observer for RouterMetrics {
    fn attempt_failed(&self, deployment: usize, status: u16) {
        let Some(metrics) = self.telemetry.metrics() else {
            return;
        };
        record::with_current(|r| r.attempts_counted = true);
        metrics.attempt_failed(deployment, current_key().as_ref(), status);
    }

    fn cooled_down(&self, deployment: usize, status: u16) {
        if let Some(metrics) = self.telemetry.metrics() {
            metrics.cooled_down(deployment, status);
        }
    }

    fn fallback(
        &self,
        requested_model: &str,
        fallback_model: &str,
        deployment: Option<usize>,
        status: u16,
        ok: bool,
    ) {
        let Some(metrics) = self.telemetry.metrics() else {
            return;
        };
        let model_id = deployment
            .and_then(|i| self.telemetry.deployment(i))
            .map_or("", |d| d.info.model_id.as_str());
        metrics.fallback(
            requested_model,
            fallback_model,
            model_id,
            current_key().as_ref(),
            status,
            ok,
        );
    }
}
