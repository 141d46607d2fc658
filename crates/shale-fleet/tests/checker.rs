//! The health checker's rounds against the real emulator (in process), with the real Bedrock
//! client and the probes of `plan`: what each probe sends, how failures are classified, and what
//! health-check routing asks of the router (cool down on failure, restore only what a probe
//! cooled, leave 408/429 alone with `health_check_ignore_transient_errors`).

use futures::future::BoxFuture;
use serde_json::Value;
use shale_bedrock::{BedrockClient, ClientOptions, EnvSource, TargetSpec};
use shale_config::{Config, HealthCheckSettings};
use shale_emulator::{EmulatorConfig, RunningEmulator};
use shale_fleet::health::{
    plan, Coordination, Deployments, HealthChecker, PlanInput, ProbeResult, Subject,
};
use shale_translate::{ChatApi, ModelCaps};
use std::sync::Mutex;
use std::time::Duration;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Deployments built like the server builds them, and a record of the router hooks called.
struct Fleet {
    subjects: Vec<Subject>,
    hooks: Mutex<Vec<String>>,
}

impl Deployments for Fleet {
    fn subjects(&self) -> Vec<Subject> {
        self.subjects.clone()
    }

    fn cool_down<'a>(&'a self, r: &'a ProbeResult, cooldown: Duration) -> BoxFuture<'a, bool> {
        self.hooks
            .lock()
            .unwrap()
            .push(format!("cool {} {}s", r.model_id, cooldown.as_secs()));
        Box::pin(async { true })
    }

    fn restore<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        self.hooks.lock().unwrap().push(format!("restore {id}"));
        Box::pin(async {})
    }
}

impl Fleet {
    fn hooks(&self) -> Vec<String> {
        std::mem::take(&mut *self.hooks.lock().unwrap())
    }
}

fn client() -> BedrockClient {
    BedrockClient::new(ClientOptions {
        num_retries: 0,
        env: EnvSource::from_pairs::<&str, &str>([]),
        ..ClientOptions::default()
    })
    .unwrap()
}

async fn fleet(client: &BedrockClient, emu: &RunningEmulator, yaml_models: &str) -> Fleet {
    let config = Config::from_yaml_str(&format!("model_list:\n{yaml_models}"), &|_| None).unwrap();
    let mut subjects = Vec::new();
    for entry in &config.model_list {
        let target = client
            .target(TargetSpec {
                deployment: entry.label(),
                model_id: entry.route.model_id.clone(),
                region: Some("us-east-1".into()),
                runtime_endpoint: Some(emu.url()),
                agent_runtime_endpoint: Some(emu.url()),
                access_key_id: Some(AKID.into()),
                secret_access_key: Some(SECRET.into()),
                num_retries: Some(0),
                ..TargetSpec::default()
            })
            .await
            .unwrap();
        let caps = ModelCaps::for_model_id(&entry.route.base_model);
        let p = plan(&PlanInput {
            entry,
            caps: &caps,
            chat_api: Some(ChatApi::Converse).filter(|_| entry.mode() != Some("image_generation")),
            rerank_invoke: false,
            region: "us-east-1",
            model_id: &entry.route.model_id,
        });
        subjects.push(Subject {
            id: entry.model_info["id"].as_str().unwrap().into(),
            model_name: entry.model_name.clone(),
            model: entry.params.model.clone(),
            api_base: emu.url(),
            region: "us-east-1".into(),
            timeout: shale_config::DeploymentHealthSettings::of(entry).timeout,
            target,
            plan: p,
        });
    }
    Fleet {
        subjects,
        hooks: Mutex::default(),
    }
}

/// An emulator, the Bedrock client and the deployments of `yaml_models` pointed at it.
async fn setup(yaml_models: &str) -> (RunningEmulator, BedrockClient, Fleet) {
    let emu = shale_emulator::spawn(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = client();
    let fleet = fleet(&client, &emu, yaml_models).await;
    (emu, client, fleet)
}

fn checker(client: &BedrockClient, settings: HealthCheckSettings) -> HealthChecker {
    HealthChecker::new(
        HealthCheckSettings {
            enabled: true,
            interval: Duration::from_secs(10),
            ..settings
        },
        Coordination::Local,
        client.clone(),
        "test:1".into(),
    )
}

/// `(operation, body)` of the model calls the emulator received since the last reset.
fn calls(emu: &RunningEmulator) -> Vec<(String, Value)> {
    let out = emu
        .recorded_requests()
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/model/")))
        .map(|r| {
            (
                r["operation"].as_str().unwrap().to_string(),
                r["body"].clone(),
            )
        })
        .collect();
    emu.reset();
    out
}

async fn by_id(c: &HealthChecker, id: &str) -> ProbeResult {
    c.results(&[id]).await.remove(0).expect("a result")
}

const MODELS: &str = concat!(
    "  - model_name: claude\n    litellm_params: {model: bedrock/anthropic.claude-3-haiku-20240307-v1:0}\n    model_info: {id: claude-1}\n",
    "  - model_name: nova\n    litellm_params: {model: bedrock/amazon.nova-lite-v1:0}\n    model_info: {id: nova-1}\n",
    "  - model_name: canvas\n    litellm_params: {model: bedrock/amazon.nova-canvas-v1:0}\n    model_info: {id: canvas-1, mode: image_generation}\n",
);

#[tokio::test]
async fn each_probe_sends_its_cheapest_call_and_healthy_models_pass() {
    let (emu, client, fleet) = setup(MODELS).await;
    let c = checker(&client, HealthCheckSettings::default());
    c.round(&fleet, 1).await;
    let sent = calls(&emu);
    let ops: Vec<&str> = sent.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert!(ops.contains(&"count-tokens") && ops.contains(&"converse") && ops.contains(&"invoke"));
    let converse = &sent.iter().find(|(op, _)| op == "converse").unwrap().1;
    assert_eq!(converse["inferenceConfig"]["maxTokens"], 1);
    for id in ["claude-1", "nova-1", "canvas-1"] {
        let r = by_id(&c, id).await;
        assert!(r.healthy, "{r:?}");
        assert_eq!(r.checked_by, "test:1");
    }
    assert_eq!(by_id(&c, "canvas-1").await.probe, "access");
    assert!(fleet.hooks().is_empty(), "routing is off");
}

#[tokio::test]
async fn routing_cools_down_failures_and_restores_only_what_a_probe_cooled() {
    let (emu, client, fleet) = setup(MODELS).await;
    let c = checker(
        &client,
        HealthCheckSettings {
            routing: true,
            ignore_transient_errors: true,
            ..HealthCheckSettings::default()
        },
    );
    emu.script(&[serde_json::json!({"operation": "count-tokens", "error": {"type": "AccessDeniedException", "message": "no access to this model"}})])
        .unwrap();
    c.round(&fleet, 1).await;
    let claude = by_id(&c, "claude-1").await;
    assert!(!claude.healthy);
    assert_eq!(claude.exception_status, Some(403));
    assert!(claude
        .error
        .as_deref()
        .unwrap()
        .contains("AccessDeniedException"));
    assert!(claude.cooled_down);
    assert_eq!(
        fleet.hooks(),
        ["cool claude-1 70s"],
        "interval 10 s + 60 s probe timeout"
    );

    c.round(&fleet, 2).await;
    assert!(by_id(&c, "claude-1").await.healthy);
    assert_eq!(fleet.hooks(), ["restore claude-1"]);

    // Throttled: unhealthy, but a transient error is not a reason to cool down.
    emu.script(&[serde_json::json!({"operation": "converse", "error": {"type": "ThrottlingException", "message": "slow down"}})])
        .unwrap();
    c.round(&fleet, 3).await;
    let nova = by_id(&c, "nova-1").await;
    assert_eq!((nova.healthy, nova.exception_status), (false, Some(429)));
    assert!(!nova.cooled_down);
    assert!(fleet.hooks().is_empty());
    c.round(&fleet, 4).await;
    assert!(by_id(&c, "nova-1").await.healthy);
    assert!(
        fleet.hooks().is_empty(),
        "nothing to restore: no probe cooled it"
    );
}

#[tokio::test]
async fn a_model_that_cannot_count_tokens_falls_back_to_chat_once_and_for_all() {
    // Claude by its model_info, but the emulator's model (Nova) does not count tokens.
    let (emu, client, fleet) = setup("  - model_name: profile\n    litellm_params: {model: bedrock/amazon.nova-lite-v1:0}\n    model_info: {id: p-1, base_model: anthropic.claude-3-5-haiku-20241022-v1:0}\n").await;
    let c = checker(&client, HealthCheckSettings::default());
    c.round(&fleet, 1).await;
    let ops: Vec<String> = calls(&emu).into_iter().map(|(op, _)| op).collect();
    assert_eq!(ops, ["count-tokens", "converse"]);
    let r = by_id(&c, "p-1").await;
    assert!(r.healthy, "{r:?}");
    assert_eq!(r.probe, "chat");
    c.round(&fleet, 2).await;
    let ops: Vec<String> = calls(&emu).into_iter().map(|(op, _)| op).collect();
    assert_eq!(ops, ["converse"], "CountTokens is not tried again");
}

#[tokio::test]
async fn a_probe_that_takes_too_long_is_a_timeout() {
    let (emu, client, fleet) = setup("  - model_name: nova\n    litellm_params: {model: bedrock/amazon.nova-lite-v1:0}\n    model_info: {id: slow-1, health_check_timeout: 0.2}\n").await;
    emu.script(&[serde_json::json!({"operation": "converse", "delay_ms": 2000})])
        .unwrap();
    let c = checker(&client, HealthCheckSettings::default());
    let started = std::time::Instant::now();
    c.round(&fleet, 1).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let r = by_id(&c, "slow-1").await;
    assert!(!r.healthy);
    assert_eq!(r.exception_status, Some(408));
    assert!(r.error.unwrap().contains("timeout"));
}
