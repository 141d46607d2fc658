//! The server's hooks into `shale-fleet` (issue #31) that need the gateway state: starting the
//! background health checker, giving it the current deployments and the router hooks of
//! health-check routing, `/health`'s LiteLLM lists, the shutdown flush of the Responses store, and
//! `shale check`'s lines about both. (Building them from the config is `fleet_setup.rs`, which the
//! state imports; this module imports the state, never the other way round.)
//!
//! [`current_deployments`] is the one place the checker reads the model table: each interval it
//! takes the deployments there are now, so a table swapped at run time is picked up at the next
//! interval.
//!
//! Must not: block a request (the checker runs on the main runtime, never on a worker's request
//! task) or probe anything itself (`shale_fleet::health` does).

use crate::live::Live;
use crate::state::{AppState, Deployment};
use futures::future::BoxFuture;
use serde_json::Value;
use shale_config::{Config, DeploymentHealthSettings};
use shale_fleet::health::{
    self, Deployments, EndpointRow, PlanInput, ProbeKind, ProbeResult, Subject,
};
use std::sync::Arc;
use std::time::Duration;

/// How long shutdown waits for queued Responses-store writes.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the background health checks (when on) on the current runtime. Each interval the
/// checker reads the live table's current snapshot (so a model table swapped at run time is
/// probed from the next interval); the task stops when the live table is dropped.
pub fn start(live: &Arc<Live>) {
    if let Some(checker) = &live.state().health {
        tokio::spawn(Arc::clone(checker).run(Arc::downgrade(live)));
    }
}

/// Shutdown: waits (bounded) for the Responses store's queued writes, so the other replicas can
/// continue this one's last answers.
pub async fn flush(state: &AppState) {
    if !state.responses.flush(FLUSH_TIMEOUT).await {
        tracing::warn!(
            "some stored responses were not written to the shared store before shutdown"
        );
    }
}

/// The deployments there are now, each with its router id (`model_info.id` or the generated
/// one). The only place the health checker reads the model table.
pub fn current_deployments(state: &AppState) -> Vec<(Arc<str>, Arc<Deployment>)> {
    state
        .deployments
        .iter()
        .map(|d| {
            let id = Arc::clone(&state.router.deployment(d.entry.index).id);
            (id, Arc::clone(d))
        })
        .collect()
}

/// The probe of one deployment and where it goes.
fn subject(id: Arc<str>, d: &Deployment) -> Subject {
    let plan = health::plan(&PlanInput {
        entry: &d.entry,
        caps: &d.caps,
        chat_api: d.chat_api,
        rerank_invoke: crate::routes::rerank::rerank_api(d)
            == crate::routes::rerank::RerankApi::Invoke,
        region: d.target.region(),
        model_id: d.target.model_id(),
    });
    let api_base = endpoint_url(d, plan.kind);
    Subject {
        id,
        model_name: d.entry.model_name.clone(),
        model: d.entry.params.model.clone(),
        api_base,
        region: d.target.region().to_string(),
        timeout: DeploymentHealthSettings::of(&d.entry).timeout,
        target: d.target.clone(),
        plan,
    }
}

/// The endpoint URL a deployment's requests (and its probe) go to.
fn endpoint_url(d: &Deployment, kind: ProbeKind) -> String {
    let t = &d.target;
    if t.is_converse_like() {
        t.url(shale_bedrock::Operation::Converse).to_string()
    } else if kind == ProbeKind::Rerank
        && crate::routes::rerank::rerank_api(d) == crate::routes::rerank::RerankApi::AgentRuntime
    {
        t.agent_runtime_endpoint().to_string()
    } else {
        t.runtime_endpoint().to_string()
    }
}

impl Deployments for AppState {
    fn subjects(&self) -> Vec<Subject> {
        let checks = &self.config.general_settings.health_checks;
        current_deployments(self)
            .into_iter()
            .filter(|(_, d)| checks.probes(&d.entry))
            .map(|(id, d)| subject(id, &d))
            .collect()
    }

    fn cool_down<'a>(&'a self, result: &'a ProbeResult, cooldown: Duration) -> BoxFuture<'a, bool> {
        Box::pin(self.router.probe_failed(
            &result.model_id,
            result.exception_status.unwrap_or(0),
            result.error.as_deref().unwrap_or("health check failed"),
            cooldown,
        ))
    }

    fn restore<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.router.probe_passed(id))
    }
}

/// The live table answers for whichever snapshot is current when the checker asks.
impl Deployments for Live {
    fn subjects(&self) -> Vec<Subject> {
        self.state().subjects()
    }

    fn cool_down<'a>(&'a self, result: &'a ProbeResult, cooldown: Duration) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.state().cool_down(result, cooldown).await })
    }

    fn restore<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.state().restore(id).await })
    }
}

/// `/health`'s LiteLLM lists (`healthy_endpoints`, `unhealthy_endpoints`) and the
/// `background_health_checks` summary, from the router's view (`cooling_for_ms`, last error, by
/// deployment index) and the fleet's last probes (one Redis round trip when shared). As in
/// LiteLLM, endpoint URLs (`api_base`) are shown to the master key only.
pub async fn health_lists(
    state: &AppState,
    router_view: &[shale_router::DeploymentHealth],
    admin: bool,
) -> (Vec<Value>, Vec<Value>, Value) {
    let deployments = current_deployments(state);
    let ids: Vec<&str> = deployments.iter().map(|(id, _)| &**id).collect();
    let results: Vec<Option<ProbeResult>> = match &state.health {
        Some(checker) => checker.results(&ids).await,
        None => vec![None; ids.len()],
    };
    let rows: Vec<EndpointRow<'_>> = deployments
        .iter()
        .map(|(id, d)| {
            let router = router_view.iter().find(|h| h.id == *id);
            EndpointRow {
                model_id: id,
                model_name: &d.entry.model_name,
                model: &d.entry.params.model,
                api_base: d.target.runtime_endpoint(),
                region: d.target.region(),
                cooling_for_ms: router.and_then(|h| h.cooling_for_ms),
                router_error: router
                    .and_then(|h| h.last_error.as_ref())
                    .map(|e| e.message.as_str()),
            }
        })
        .collect();
    let (mut healthy, mut unhealthy) = health::endpoints(&rows, &results);
    if !admin {
        for entry in healthy.iter_mut().chain(unhealthy.iter_mut()) {
            if let Some(map) = entry.as_object_mut() {
                map.remove("api_base");
            }
        }
    }
    let summary = match &state.health {
        None => serde_json::json!({"enabled": false}),
        Some(checker) => {
            let s = checker.settings();
            serde_json::json!({
                "enabled": true,
                "interval_seconds": s.interval.as_secs_f64(),
                "coordination": checker.coordination(),
                "redis_healthy": checker.redis_up(),
                "routing": s.routing,
                "replica": checker.replica(),
                "last_round_at": checker.last_round_ms().map(|ms| ms as f64 / 1000.0),
            })
        }
    };
    (healthy, unhealthy, summary)
}

/// `shale check`'s lines about background health checks (which probe each deployment gets) and
/// the Responses store.
pub fn describe(config: &Config) -> Vec<String> {
    let has_redis = matches!(crate::state::redis_url_of(config), Ok(Some(_)));
    let mut lines = Vec::new();
    let checks = &config.general_settings.health_checks;
    if checks.enabled {
        let shared = match (has_redis, checks.shared) {
            (true, None | Some(true)) => "one probe per deployment per interval for the whole fleet (Redis leases); results shared",
            (true, Some(false)) => "every replica probes on its own (use_shared_health_check: false)",
            (false, _) => "every replica probes on its own (no Redis configured)",
        };
        lines.push(format!(
            "  background health checks: every {} s, {shared}{}",
            checks.interval.as_secs_f64(),
            if checks.routing {
                "; a failed probe cools the deployment down (enable_health_check_routing)"
            } else {
                ""
            }
        ));
        for entry in &config.model_list {
            let what = if checks.probes(entry) {
                health::probe_kind(entry).describe().to_string()
            } else if DeploymentHealthSettings::of(entry).disabled {
                "not probed (model_info.disable_background_health_check)".to_string()
            } else {
                "not probed (not in background_health_check_model_groups)".to_string()
            };
            lines.push(format!("    {} health check: {what}", entry.label()));
        }
    } else {
        lines.push("  background health checks: off (general_settings.background_health_checks: true probes every deployment each health_check_interval)".into());
    }
    lines.push(format!(
        "  responses store: {}",
        shale_fleet::responses::describe(
            &config.general_settings.responses_store,
            config.general_settings.keys.database_url_or_env().is_some(),
            has_redis
        )
    ));
    lines
}
