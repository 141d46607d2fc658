//! Shared helpers for the router's integration tests: configs from YAML, a router over its
//! in-process state with a hand-moved clock, a scripted test error, a fake call that answers per
//! deployment, and [`route`] / [`Calls::route`], one request through it (counting the calls).

#![allow(dead_code)]

use shale_config::Config;
use shale_router::{
    Answer, Failure, FailureClass, ManualClock, Pick, RouteError, RouteRequest, Routed, Router,
    SharedState,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A failure with a fixed class.
#[derive(Debug, Clone)]
pub struct TestError(pub FailureClass);

impl Failure for TestError {
    fn class(&self) -> FailureClass {
        self.0
    }
    fn summary(&self) -> String {
        format!("scripted {}", self.0.label())
    }
}

/// A config whose `model_list` has the given (model_name, extra litellm_params, model_info) entries.
pub fn config(entries: &[(&str, &str, &str)], settings: &str) -> Config {
    let mut yaml = String::from("model_list:\n");
    for (name, params, info) in entries {
        yaml.push_str(&format!(
            "  - model_name: {name}\n    litellm_params: {{model: bedrock/us.amazon.nova-lite-v1:0{params}}}\n    model_info: {{{info}}}\n"
        ));
    }
    yaml.push_str(settings);
    Config::from_yaml_str(&yaml, &|_| None).expect("test config")
}

pub fn local_router(config: &Config, clock: &Arc<ManualClock>) -> Router {
    Router::new(
        config,
        SharedState::Local(shale_router::LocalState::new()),
        Arc::clone(clock) as Arc<dyn shale_router::Clock>,
    )
}

/// A router over its in-process state for a config of these entries and settings (see
/// [`config`]), and the clock it reads.
pub fn local(entries: &[(&str, &str, &str)], settings: &str) -> (Router, Arc<ManualClock>) {
    let clock = clock();
    (local_router(&config(entries, settings), &clock), clock)
}

/// A clock at the start of a minute.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_700_000_040_000))
}

/// A request for `model` with no other hints.
pub fn req(model: &str) -> RouteRequest<'_> {
    RouteRequest {
        model,
        ..Default::default()
    }
}

/// The answer of the fake deployment: `Ok(index)` or the scripted failure.
pub async fn answer(
    pick: &Pick,
    fail: &[(usize, FailureClass)],
) -> Result<Answer<usize>, TestError> {
    tokio::task::yield_now().await;
    match fail.iter().find(|(i, _)| *i == pick.index) {
        Some((_, class)) => Err(TestError(*class)),
        None => Ok(Answer::new(pick.index, None)),
    }
}

/// Millisecond duration shorthand.
pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// What one request through the router comes to.
pub type Outcome = Result<Routed<usize>, RouteError<TestError>>;

/// Routes `req`; each deployment answers as [`answer`] does with the `fail` script.
pub async fn route(
    router: &Router,
    req: &RouteRequest<'_>,
    fail: &[(usize, FailureClass)],
) -> Outcome {
    Calls::default().route(router, req, fail).await
}

/// The calls the router made, per deployment index (up to eight deployments).
#[derive(Debug, Default)]
pub struct Calls([AtomicUsize; 8]);

impl Calls {
    /// [`route`], counting each call of a deployment.
    pub async fn route(
        &self,
        router: &Router,
        req: &RouteRequest<'_>,
        fail: &[(usize, FailureClass)],
    ) -> Outcome {
        router
            .run(req, |pick| {
                self.0[pick.index].fetch_add(1, Ordering::Relaxed);
                async move { answer(&pick, fail).await }
            })
            .await
    }

    /// Calls of the deployment at `index`.
    pub fn to(&self, index: usize) -> usize {
        self.0[index].load(Ordering::Relaxed)
    }

    /// Calls of every deployment.
    pub fn total(&self) -> usize {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}
