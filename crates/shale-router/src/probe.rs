//! What background health checks (`enable_health_check_routing`) may do to the router: take a
//! deployment whose probe failed out of rotation until its next probe, and put it back when a
//! probe passes. Deployments are named by id (`model_info.id`), not by index, so a checker that
//! read an older model table cannot touch the wrong one. The cooldown goes through the shared
//! state (every replica sees it with Redis) and is reported to the observer like any other.
//!
//! Must not: decide whether a probe failed (the checker does) or probe anything itself.

use crate::{LastError, Router};
use std::time::Duration;

impl Router {
    fn index_of(&self, id: &str) -> Option<usize> {
        self.deployments.iter().position(|d| &*d.id == id)
    }

    /// A health probe of deployment `id` failed with `status` (0 when there was no HTTP answer):
    /// it cools down for `cooldown`. Returns false for an id this router does not know.
    pub async fn probe_failed(
        &self,
        id: &str,
        status: u16,
        message: &str,
        cooldown: Duration,
    ) -> bool {
        let Some(index) = self.index_of(id) else {
            return false;
        };
        let now = self.clock.now_ms();
        self.local(index).last_error = Some(LastError {
            class: "health_check",
            message: message.to_string(),
            at_ms: now,
        });
        self.state
            .set_cooldown(id, cooldown.as_millis() as u64, now)
            .await;
        self.observer.cooled_down(index, status);
        // The checker logs the transition to unhealthy once; this repeats every interval.
        tracing::debug!(
            deployment = %id,
            model = %self.deployments[index].group,
            status,
            cooldown_s = cooldown.as_secs_f64(),
            "health check failed: deployment cooling down"
        );
        true
    }

    /// A health probe of deployment `id` passed: a cooldown it was in ends now.
    pub async fn probe_passed(&self, id: &str) {
        if self.index_of(id).is_some() {
            self.state.clear_cooldown(id, self.clock.now_ms()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{LocalState, ManualClock, Router, SharedState};
    use shale_config::Config;
    use std::sync::Arc;
    use std::time::Duration;

    fn router() -> (Router, Arc<ManualClock>) {
        let config = Config::from_yaml_str(
            "model_list:\n  - model_name: m\n    litellm_params: {model: bedrock/amazon.nova-lite-v1:0}\n    model_info: {id: a}\n  - model_name: m\n    litellm_params: {model: bedrock/amazon.nova-pro-v1:0}\n    model_info: {id: b}\n",
            &|_| None,
        )
        .unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let router = Router::new(
            &config,
            SharedState::Local(LocalState::new()),
            Arc::clone(&clock) as _,
        );
        (router, clock)
    }

    #[tokio::test]
    async fn a_failed_probe_cools_down_until_a_passing_one() {
        let (router, clock) = router();
        assert!(
            router
                .probe_failed("a", 403, "AccessDeniedException", Duration::from_secs(30))
                .await
        );
        let health = router.health().await;
        assert_eq!(health[0].cooling_for_ms, Some(30_000));
        assert_eq!(health[0].last_error.as_ref().unwrap().class, "health_check");
        assert_eq!(health[1].cooling_for_ms, None);
        clock.advance(10_000);
        assert_eq!(router.health().await[0].cooling_for_ms, Some(20_000));
        router.probe_passed("a").await;
        assert_eq!(router.health().await[0].cooling_for_ms, None);
        assert!(
            !router
                .probe_failed("gone", 500, "x", Duration::from_secs(1))
                .await,
            "an unknown id is left alone"
        );
    }
}
