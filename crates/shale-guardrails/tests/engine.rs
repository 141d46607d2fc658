//! The engine against the in-process Bedrock emulator: real HTTP, SigV4 and bearer auth, the
//! emulator's `shaledemo` / `shalefail` guardrails and scripted failures — pass, mask, block,
//! refusal, fail closed (5xx, throttled, unreachable, timed out), fail open, and which guardrails
//! a request's plan holds.

use serde_json::{json, Value};
use shale_bedrock::{BedrockClient, ClientOptions, EnvSource};
use shale_config::Config;
use shale_guardrails::{
    chat_slots, plan, Engine, Guardrail, GuardrailError, Hook, Observer, Outcome, Requested,
    Verdict,
};
use std::sync::Mutex;
use std::time::Duration;

struct Seen(Mutex<Vec<(String, &'static str, &'static str)>>);

impl Observer for Seen {
    fn ran(&self, g: &Guardrail, hook: Hook, outcome: Outcome, _: Duration) {
        self.0
            .lock()
            .unwrap()
            .push((g.name.to_string(), hook.as_str(), outcome.as_str()));
    }
}

fn seen() -> Seen {
    Seen(Mutex::new(Vec::new()))
}

fn config(endpoint: &str, extra: &str) -> Config {
    let yaml = format!(
        r#"
guardrails:
  - guardrail_name: demo
    litellm_params:
      guardrail: bedrock
      mode: [pre_call, during_call, post_call]
      guardrailIdentifier: shaledemo
      guardrailVersion: DRAFT
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: AKIDEXAMPLE
      aws_secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
      default_on: true
  - guardrail_name: demo-bearer
    litellm_params:
      guardrail: bedrock
      mode: post_call
      guardrailIdentifier: shaledemo
      guardrailVersion: "1"
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      api_key: bedrock-api-key-EXAMPLE
      disable_exception_on_block: true
  - guardrail_name: failing
    litellm_params:
      guardrail: bedrock
      mode: pre_call
      guardrailIdentifier: shalefail
      guardrailVersion: DRAFT
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: AKIDEXAMPLE
      aws_secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
      timeout: 0.5
{extra}
"#
    );
    Config::from_yaml_str(&yaml, &|_| None).unwrap()
}

async fn engine(endpoint: &str, extra: &str) -> Engine {
    let dir = std::env::temp_dir();
    let client = BedrockClient::new(ClientOptions {
        num_retries: 0,
        env: EnvSource::from_pairs::<&str, &str>([]),
        aws_config_file: Some(dir.join("shale-guardrails-no-config")),
        aws_credentials_file: Some(dir.join("shale-guardrails-no-credentials")),
        ..ClientOptions::default()
    })
    .unwrap();
    Engine::with_client(&config(endpoint, extra).guardrails, client)
        .await
        .unwrap()
}

async fn emulator() -> shale_emulator::RunningEmulator {
    shale_emulator::spawn(Default::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn pass_mask_block_and_refuse() {
    let emu = emulator().await;
    let e = engine(&emu.url(), "").await;
    let demo = e.get("demo").unwrap();
    let obs = seen();
    let v = e
        .apply(demo, Hook::PreCall, &["What is 2+2?"], None, &obs)
        .await;
    assert_eq!(v.unwrap(), Verdict::Pass);
    let v = e
        .apply(
            demo,
            Hook::PreCall,
            &["hi", "mail jane@example.com"],
            None,
            &obs,
        )
        .await;
    assert_eq!(
        v.unwrap(),
        Verdict::Masked(vec!["hi".into(), "mail {EMAIL}".into()])
    );
    let err = e
        .apply(demo, Hook::PreCall, &["my ssn is 123-45-6789"], None, &obs)
        .await
        .unwrap_err();
    let GuardrailError::Blocked(b) = &err else {
        panic!("{err}")
    };
    assert_eq!(&*b.guardrail_name, "demo");
    assert_eq!(b.hook, Hook::PreCall);
    assert!(
        !b.assessments.to_string().contains("123-45-6789"),
        "redacted"
    );
    // Bearer auth, an OUTPUT check and disable_exception_on_block: a refusal, not an error.
    let bearer = e.get("demo-bearer").unwrap();
    let v = e
        .apply(bearer, Hook::PostCall, &["buy crypto"], None, &obs)
        .await
        .unwrap();
    assert_eq!(
        v,
        Verdict::Refuse("Sorry, the answer was withheld: it goes against the usage policy.".into())
    );
    let outcomes: Vec<&str> = obs.0.lock().unwrap().iter().map(|o| o.2).collect();
    assert_eq!(outcomes, vec!["passed", "masked", "blocked", "blocked"]);
    // What the emulator received: the ApplyGuardrail path and body, signed.
    let calls: Vec<Value> = emu
        .recorded_requests()
        .into_iter()
        .filter(|r| r["operation"] == "apply-guardrail")
        .collect();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[1]["path"], "/guardrail/shaledemo/version/DRAFT/apply");
    assert_eq!(
        calls[1]["body"],
        json!({"source": "INPUT", "content": [{"text": {"text": "hi"}}, {"text": {"text": "mail jane@example.com"}}]})
    );
    assert_eq!(calls[3]["body"]["source"], "OUTPUT");
    assert_eq!(calls[3]["path"], "/guardrail/shaledemo/version/1/apply");
}

#[tokio::test]
async fn fail_closed_on_5xx_throttling_unreachable_and_timeout() {
    let emu = emulator().await;
    let e = engine(&emu.url(), "").await;
    let obs = seen();
    let unavailable = |r: Result<Verdict, GuardrailError>| match r {
        Err(GuardrailError::Unavailable {
            status, message, ..
        }) => (status, message),
        other => panic!("{other:?}"),
    };
    // The always-failing guardrail: 500 → 502.
    let failing = e.get("failing").unwrap();
    let (status, message) = unavailable(e.apply(failing, Hook::PreCall, &["x"], None, &obs).await);
    assert_eq!(status, 502);
    assert!(message.contains("InternalServerException"), "{message}");
    // Throttled → 503 with Retry-After.
    let demo = e.get("demo").unwrap();
    emu.script(&[json!({"operation": "apply-guardrail", "error": {"type": "ThrottlingException", "message": "Rate exceeded"}})])
        .unwrap();
    let r = e.apply(demo, Hook::PreCall, &["x"], None, &obs).await;
    let (status, message) = unavailable(r);
    assert_eq!(status, 503);
    assert!(message.contains("Rate exceeded"), "{message}");
    // Slower than its timeout (0.5 s) → 502.
    emu.script(&[json!({"operation": "apply-guardrail", "delay_ms": 1500})])
        .unwrap();
    let started = std::time::Instant::now();
    let (status, _) = unavailable(e.apply(failing, Hook::PreCall, &["x"], None, &obs).await);
    assert_eq!(status, 502);
    assert!(started.elapsed() < Duration::from_millis(1400));
    // An answer whose masks cannot be placed: fail closed too.
    emu.script(&[json!({"operation": "apply-guardrail", "body": {"action": "GUARDRAIL_INTERVENED", "outputs": [{"text": "a"}],
        "assessments": [{"sensitiveInformationPolicy": {"piiEntities": [{"type": "EMAIL", "match": "x", "action": "ANONYMIZED"}]}}], "usage": {}}})])
        .unwrap();
    let (status, _) = unavailable(e.apply(demo, Hook::PreCall, &["a", "b"], None, &obs).await);
    assert_eq!(status, 502);
    // Unreachable.
    let gone = engine("http://127.0.0.1:9", "").await;
    let (status, message) = unavailable(
        gone.apply(gone.get("demo").unwrap(), Hook::PreCall, &["x"], None, &obs)
            .await,
    );
    assert_eq!(status, 502);
    assert!(message.contains("could not reach"), "{message}");
    assert!(obs.0.lock().unwrap().iter().all(|o| o.2 == "error"));
}

#[tokio::test]
async fn fail_open_passes_but_counts_an_error() {
    let emu = emulator().await;
    let extra = format!(
        "  - guardrail_name: lenient\n    litellm_params: {{guardrail: bedrock, mode: pre_call, guardrailIdentifier: shalefail, guardrailVersion: DRAFT, aws_region_name: us-east-1, aws_bedrock_runtime_endpoint: \"{}\", api_key: bedrock-api-key-EXAMPLE, fail_open: true}}",
        emu.url()
    );
    let e = engine(&emu.url(), &extra).await;
    let obs = seen();
    let v = e
        .apply(e.get("lenient").unwrap(), Hook::PreCall, &["x"], None, &obs)
        .await;
    assert_eq!(v.unwrap(), Verdict::Pass);
    assert_eq!(obs.0.lock().unwrap()[0].2, "error");
}

#[tokio::test]
async fn run_input_masks_in_place_and_parallel_stops_at_the_first_block() {
    let emu = emulator().await;
    let e = engine(&emu.url(), "").await;
    let p = plan(e.all(), &[], &[], &[]).unwrap();
    let obs = seen();
    let mut messages = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "I am EMP-123456, call 555-123-4567"}]}
    ]);
    let refused = e
        .run_input(&p.pre, Hook::PreCall, &mut messages, chat_slots, &obs)
        .await
        .unwrap();
    assert_eq!(refused, shale_guardrails::InputVerdict::Masked);
    assert_eq!(
        messages[1]["content"][0]["text"],
        "I am {employee_id}, call {PHONE}"
    );
    let blocked = json!([{"role": "user", "content": "stock tips please"}]);
    let err = e
        .run_parallel(&p.during, Hook::DuringCall, &blocked, chat_slots, &obs)
        .await
        .unwrap_err();
    assert!(matches!(err, GuardrailError::Blocked(b) if b.hook == Hook::DuringCall));
}

#[tokio::test]
async fn plans_take_default_on_request_key_and_team_guardrails() {
    let emu = emulator().await;
    let e = engine(&emu.url(), "").await;
    let names = |steps: &[shale_guardrails::Step]| -> Vec<String> {
        steps.iter().map(|s| s.guardrail.name.to_string()).collect()
    };
    let p = plan(e.all(), &[], &[], &[]).unwrap();
    assert_eq!(names(&p.pre), vec!["demo"]);
    assert_eq!(names(&p.during), vec!["demo"]);
    assert_eq!(names(&p.post), vec!["demo"]);
    let asked = vec![Requested {
        name: "demo-bearer".into(),
        extra_body: Some(serde_json::from_value(json!({"outputScope": "FULL"})).unwrap()),
    }];
    let p = plan(e.all(), &asked, &["failing".into()], &["demo".into()]).unwrap();
    assert_eq!(names(&p.pre), vec!["demo", "failing"]);
    assert_eq!(names(&p.post), vec!["demo", "demo-bearer"]);
    assert_eq!(
        p.post[1].extra_body.as_ref().unwrap()["outputScope"],
        "FULL"
    );
    let err = plan(
        e.all(),
        &[Requested {
            name: "nope".into(),
            extra_body: None,
        }],
        &[],
        &[],
    )
    .unwrap_err();
    assert_eq!(err.to_openai().status, 400);
    assert!(err.to_string().contains("`demo`"), "{err}");
    let err = plan(e.all(), &[], &[], &["gone".into()]).unwrap_err();
    assert_eq!(err.to_openai().status, 500);
}
