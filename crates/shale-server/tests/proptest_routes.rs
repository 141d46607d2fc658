//! Property tests of the whole application in-process (front door, routing, auth, observe, the
//! cache layer, handlers) against the real emulator on loopback, one property per route family:
//! `/v1/chat/completions`, `/v1/messages` (native for Claude, Converse for Nova), `/v1/responses`,
//! the `/bedrock` pass-through, `/key/*`, `/team/*`, `/model/*`, `/guardrails/apply_guardrail`,
//! `/cache/*`, `/health` and `/ui/login`.
//!
//! The strategies are shaped like each API (JSON built from the request's own structure, with
//! random leaves: text of any script and control characters, numbers in and around their ranges,
//! optional members present or not), so most cases get past parsing and reach what the route
//! does: a Bedrock call for the model routes, the key/model service for the admin API (here
//! without a database, so its "needs database_url" refusal is the service answering), the
//! guardrail call, the cache, the session. Each property counts its reach and asserts it (at least
//! 80% of the cases, [`MIN_REACH`]); the counts are printed (`--nocapture`).
//!
//! Every case must: never answer a 5xx (a panic answers 500, see `panic.rs`), answer errors in the
//! route's error shape, and end every 200 stream with its terminal event. Case count:
//! `PROPTEST_CASES` (default 256 per property).

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use shale_emulator::RunningEmulator;
use shale_server::AppState;
use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt;

const KEY: &str = "sk-proptest-routes";
/// The share of cases that must reach what the route does.
const MIN_REACH: f64 = 0.8;

/// A tiny valid PNG (1×1), base64.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

struct Harness {
    rt: tokio::runtime::Runtime,
    emu: RunningEmulator,
    app: shale_server::front_door::FrontDoor<axum::Router>,
}

/// One process-wide emulator and application (properties run one after another per process).
fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (emu, app) = rt.block_on(async {
            let emu = shale_emulator::spawn(Default::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let yaml = config_yaml(&emu.url());
            let config = shale_config::Config::from_yaml_str(&yaml, &|_| None).expect("config");
            let state = AppState::build(config, Some(KEY), 1).await.expect("state");
            (emu, shale_server::build_app(Arc::new(state)))
        });
        Harness { rt, emu, app }
    })
}

fn config_yaml(emu: &str) -> String {
    let creds = format!(
        "aws_bedrock_runtime_endpoint: {emu}, aws_access_key_id: {}, aws_secret_access_key: {}, aws_region_name: us-east-1",
        shale_emulator::DEFAULT_ACCESS_KEY_ID,
        shale_emulator::DEFAULT_SECRET_ACCESS_KEY
    );
    format!(
        "model_list:
  - model_name: claude
    litellm_params: {{model: bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0, {creds}}}
  - model_name: nova
    litellm_params: {{model: bedrock/us.amazon.nova-lite-v1:0, {creds}}}
guardrails:
  - guardrail_name: demo
    litellm_params: {{guardrail: bedrock, mode: pre_call, guardrailIdentifier: shaledemo, guardrailVersion: DRAFT, {creds}}}
litellm_settings:
  cache: true
  cache_params: {{type: local}}
general_settings:
  master_key: {KEY}
"
    )
}

fn runner() -> TestRunner {
    TestRunner::new(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

/// A request the properties send.
#[derive(Debug, Clone)]
struct Case {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Case {
    fn json(path: impl Into<String>, body: &Value) -> Case {
        Case {
            method: Method::POST,
            path: path.into(),
            headers: vec![
                ("authorization", format!("Bearer {KEY}")),
                ("content-type", "application/json".into()),
            ],
            body: serde_json::to_vec(body).unwrap(),
        }
    }
}

/// What came back, and how many model calls (`/model/...`) and guardrail calls the emulator got.
struct Outcome {
    status: StatusCode,
    content_type: String,
    body: Bytes,
    model_calls: usize,
    guardrail_calls: usize,
}

impl Outcome {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(600)]).into_owned()
    }
}

fn send(case: &Case) -> Outcome {
    let h = harness();
    h.emu.reset();
    let mut req = Request::builder()
        .method(case.method.clone())
        .uri(&case.path)
        .header("host", "gateway.test");
    for (k, v) in &case.headers {
        req = req.header(*k, v);
    }
    let req = req.body(Body::from(case.body.clone())).unwrap();
    let (status, content_type, body) = h.rt.block_on(async {
        let resp = tokio::time::timeout(Duration::from_secs(30), h.app.clone().oneshot(req))
            .await
            .expect("answered within 30 s")
            .unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
            .await
            .expect("body within 30 s")
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (status, content_type, body)
    });
    let recorded = h.emu.recorded_requests();
    let op = |r: &Value| r["operation"].as_str().unwrap_or("").to_owned();
    Outcome {
        status,
        content_type,
        body,
        model_calls: recorded
            .iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/model/")))
            .count(),
        guardrail_calls: recorded
            .iter()
            .filter(|r| op(r) == "apply-guardrail")
            .count(),
    }
}

/// Reach bookkeeping of one property.
struct Reach {
    name: &'static str,
    cases: Cell<usize>,
    reached: Cell<usize>,
}

impl Reach {
    fn new(name: &'static str) -> Reach {
        Reach {
            name,
            cases: Cell::new(0),
            reached: Cell::new(0),
        }
    }

    fn count(&self, reached: bool) {
        self.cases.set(self.cases.get() + 1);
        if reached {
            self.reached.set(self.reached.get() + 1);
        }
    }

    fn check(&self) {
        let (n, r) = (self.cases.get(), self.reached.get());
        println!("reach {}: {r} of {n} cases", self.name);
        assert!(n > 0, "{}: no case ran", self.name);
        assert!(
            r as f64 >= MIN_REACH * n as f64,
            "{}: only {r} of {n} cases reached the route's work (want {:.0}%)",
            self.name,
            MIN_REACH * 100.0
        );
    }
}

/// Runs `strategy` through `check` (which returns whether the case reached the route's work).
fn run<S: Strategy>(name: &'static str, strategy: S, check: impl Fn(S::Value) -> bool)
where
    S::Value: std::fmt::Debug,
{
    let reach = Reach::new(name);
    let result = runner().run(&strategy, |v| {
        let reached =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(v))).map_err(|p| {
                TestCaseError::fail(
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default(),
                )
            })?;
        reach.count(reached);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    reach.check();
}

// --- common assertions ---------------------------------------------------------------------------

/// No 5xx, and a refusal in the OpenAI error shape.
fn assert_openai(o: &Outcome, what: &str) {
    assert!(o.status.as_u16() < 500, "{what}: {} {}", o.status, o.text());
    if !o.status.is_success() {
        let v = o
            .json()
            .unwrap_or_else(|| panic!("{what}: not JSON: {}", o.text()));
        assert!(v["error"]["message"].is_string(), "{what}: {v}");
    }
}

/// Whether a refusal is the body parser's (the case did not get past parsing).
fn parse_refusal(o: &Outcome) -> bool {
    o.status == StatusCode::BAD_REQUEST
        && o.json().is_some_and(|v| {
            let m = v["error"]["message"].as_str().unwrap_or("");
            m.starts_with("The request body is not valid JSON")
                || m.starts_with("Invalid request field `")
                || m.starts_with("Invalid request: ")
        })
}

/// The SSE `data:` payloads of a body.
fn sse_data(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data:").map(|d| d.trim().to_owned()))
        .collect()
}

fn sse_events(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("event:").map(|d| d.trim().to_owned()))
        .collect()
}

// --- leaves --------------------------------------------------------------------------------------

/// Text: mostly plain, sometimes any printable Unicode, control characters, or blank.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => "[a-zA-Z0-9 .,!?'-]{1,32}",
        3 => "\\PC{1,24}",
        1 => "[\\x00-\\x1f\\x7f]{1,6}",
        1 => Just(" ".to_owned()),
    ]
    .boxed()
}

/// An identifier (tool and field names).
fn ident() -> BoxedStrategy<String> {
    "[a-z][a-z0-9_]{0,15}".boxed()
}

fn unit_f64() -> BoxedStrategy<f64> {
    prop_oneof![4 => 0.0..=1.0f64, 1 => Just(0.0), 1 => Just(1.0)].boxed()
}

fn max_tokens() -> BoxedStrategy<u64> {
    prop_oneof![4 => 1..1024u64, 1 => Just(1u64), 1 => 1024..4096u64].boxed()
}

fn opt<S>(s: S) -> BoxedStrategy<Option<S::Value>>
where
    S: Strategy + 'static,
    S::Value: std::fmt::Debug + Clone,
{
    prop::option::weighted(0.5, s).boxed()
}

/// A small JSON schema (`{"type":"object","properties":{…}}`).
fn schema() -> BoxedStrategy<Value> {
    prop::collection::btree_map(
        ident(),
        prop::sample::select(&["string", "number", "integer", "boolean"][..]),
        0..4,
    )
    .prop_map(|props| {
        let properties: Map<String, Value> = props
            .into_iter()
            .map(|(k, t)| (k, json!({"type": t})))
            .collect();
        json!({"type": "object", "properties": properties})
    })
    .boxed()
}

/// An arbitrary JSON value of bounded size (metadata and other free-form members).
fn free_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6..1e6f64).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(ident(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn insert_opt(obj: &mut Value, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        obj[key] = v;
    }
}

// --- /v1/chat/completions --------------------------------------------------------------------------

fn chat_user_content() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => text().prop_map(Value::String),
        1 => (text(), any::<bool>()).prop_map(|(t, image)| {
            let mut parts = vec![json!({"type": "text", "text": t})];
            if image {
                parts.push(json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}));
            }
            Value::Array(parts)
        }),
    ]
    .boxed()
}

/// A chat conversation: optional system, then user/assistant turns ending with a user turn,
/// optionally one tool round (assistant tool call, tool result) before the last user turn.
fn chat_body() -> BoxedStrategy<Value> {
    (
        prop::sample::select(&["claude", "nova"][..]),
        opt(text()),
        prop::collection::vec((chat_user_content(), text()), 0..3),
        chat_user_content(),
        opt((ident(), schema(), free_json())),
        (opt(max_tokens()), opt(unit_f64()), opt(unit_f64())),
        (
            opt(prop::collection::vec(text(), 1..3)),
            any::<bool>(),
            opt(prop::sample::select(&["auto", "none", "required"][..])),
            opt(text()),
        ),
    )
        .prop_map(
            |(model, system, turns, last, tool, (max, temp, top_p), (stop, stream, choice, user))| {
                let mut messages = Vec::new();
                if let Some(s) = system {
                    messages.push(json!({"role": "system", "content": s}));
                }
                for (u, a) in turns {
                    messages.push(json!({"role": "user", "content": u}));
                    messages.push(json!({"role": "assistant", "content": a}));
                }
                let mut body = json!({"model": model, "stream": stream});
                if let Some((name, params, args)) = &tool {
                    messages.push(json!({"role": "user", "content": "use the tool"}));
                    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": name, "arguments": args.to_string()}}]}));
                    messages.push(json!({"role": "tool", "tool_call_id": "call_1", "content": args.to_string()}));
                    body["tools"] = json!([{"type": "function", "function": {
                        "name": name, "description": "a tool", "parameters": params}}]);
                    insert_opt(&mut body, "tool_choice", choice.map(Value::from));
                }
                messages.push(json!({"role": "user", "content": last}));
                body["messages"] = Value::Array(messages);
                insert_opt(&mut body, "max_tokens", max.map(Value::from));
                insert_opt(&mut body, "temperature", temp.map(Value::from));
                insert_opt(&mut body, "top_p", top_p.map(Value::from));
                insert_opt(&mut body, "stop", stop.map(Value::from));
                insert_opt(&mut body, "user", user.map(Value::from));
                body
            },
        )
        .boxed()
}

#[test]
fn chat_completions_reach_bedrock() {
    run("/v1/chat/completions", chat_body(), |body| {
        let o = send(&Case::json("/v1/chat/completions", &body));
        assert_openai(&o, "chat");
        if o.status.is_success() && body["stream"] == json!(true) {
            let data = sse_data(&o.body);
            assert_eq!(
                data.last().map(String::as_str),
                Some("[DONE]"),
                "{}",
                o.text()
            );
        }
        o.model_calls == 1
    });
}

// --- /v1/messages ----------------------------------------------------------------------------------

fn anthropic_user_content() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => text().prop_map(Value::String),
        1 => (text(), any::<bool>()).prop_map(|(t, image)| {
            let mut blocks = vec![json!({"type": "text", "text": t})];
            if image {
                blocks.push(json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}));
            }
            Value::Array(blocks)
        }),
    ]
    .boxed()
}

fn messages_body() -> BoxedStrategy<Value> {
    (
        prop::sample::select(&["claude", "nova"][..]),
        opt(prop_oneof![
            text().prop_map(Value::String),
            text().prop_map(|t| json!([{"type": "text", "text": t}])),
        ]
        .boxed()),
        prop::collection::vec((anthropic_user_content(), text()), 0..3),
        anthropic_user_content(),
        opt((ident(), schema())),
        (max_tokens(), opt(unit_f64()), opt(0..500u64)),
        (
            opt(prop::collection::vec(text(), 1..3)),
            any::<bool>(),
            opt(text()),
            opt(prop::sample::select(
                &[
                    "interleaved-thinking-2025-05-14",
                    "claude-code-20250219",
                    "made-up-2099-01-01",
                ][..],
            )),
        ),
    )
        .prop_map(
            |(
                model,
                system,
                turns,
                last,
                tool,
                (max, temp, top_k),
                (stop, stream, user_id, beta),
            )| {
                let mut messages = Vec::new();
                for (u, a) in turns {
                    messages.push(json!({"role": "user", "content": u}));
                    messages.push(json!({"role": "assistant", "content": a}));
                }
                let mut body = json!({"model": model, "max_tokens": max, "stream": stream});
                if let Some((name, schema)) = &tool {
                    messages.push(json!({"role": "user", "content": "use the tool"}));
                    messages.push(json!({"role": "assistant", "content": [
                        {"type": "tool_use", "id": "toolu_01", "name": name, "input": {}}]}));
                    messages.push(json!({"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "done"}]}));
                    messages.push(json!({"role": "assistant", "content": "ok"}));
                    body["tools"] =
                        json!([{"name": name, "description": "a tool", "input_schema": schema}]);
                    body["tool_choice"] = json!({"type": "auto"});
                }
                messages.push(json!({"role": "user", "content": last}));
                body["messages"] = Value::Array(messages);
                insert_opt(&mut body, "system", system);
                insert_opt(&mut body, "temperature", temp.map(Value::from));
                insert_opt(&mut body, "top_k", top_k.map(Value::from));
                insert_opt(&mut body, "stop_sequences", stop.map(Value::from));
                insert_opt(
                    &mut body,
                    "metadata",
                    user_id.map(|u| json!({"user_id": u})),
                );
                insert_opt(&mut body, "anthropic_beta", beta.map(|b| json!([b])));
                body
            },
        )
        .boxed()
}

#[test]
fn messages_reach_bedrock() {
    run("/v1/messages", messages_body(), |body| {
        let mut case = Case::json("/v1/messages", &body);
        case.headers
            .push(("anthropic-version", "2023-06-01".into()));
        let o = send(&case);
        assert!(o.status.as_u16() < 500, "{} {}", o.status, o.text());
        if !o.status.is_success() {
            let v = o.json().unwrap_or_else(|| panic!("not JSON: {}", o.text()));
            assert_eq!(v["type"], "error", "Anthropic error shape: {v}");
            assert!(v["error"]["message"].is_string(), "{v}");
        } else if body["stream"] == json!(true) {
            let events = sse_events(&o.body);
            assert_eq!(
                events.last().map(String::as_str),
                Some("message_stop"),
                "{}",
                o.text()
            );
        } else {
            let v = o.json().expect("a JSON message");
            assert_eq!(v["type"], "message", "{v}");
        }
        o.model_calls == 1
    });
}

// --- /v1/responses ---------------------------------------------------------------------------------

fn responses_body() -> BoxedStrategy<Value> {
    let item = prop_oneof![
        text().prop_map(|t| json!({"role": "user", "content": t})),
        text().prop_map(|t| json!({"role": "user", "content": [{"type": "input_text", "text": t}]})),
        text().prop_map(|t| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]})),
        text().prop_map(|t| json!({"role": "user", "content": [
            {"type": "input_text", "text": t},
            {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")}]})),
    ];
    (
        prop::sample::select(&["claude", "nova"][..]),
        prop_oneof![
            text().prop_map(Value::String),
            prop::collection::vec(item, 1..3).prop_map(Value::Array),
        ],
        opt(text()),
        opt((ident(), schema())),
        (opt(16..2048u64), opt(unit_f64()), opt(unit_f64())),
        (any::<bool>(), any::<bool>(), opt(free_json())),
    )
        .prop_map(
            |(model, input, instructions, tool, (max, temp, top_p), (stream, store, metadata))| {
                let mut body = json!({"model": model, "input": input, "stream": stream, "store": store});
                insert_opt(&mut body, "instructions", instructions.map(Value::from));
                if let Some((name, schema)) = tool {
                    body["tools"] = json!([{"type": "function", "name": name, "description": "a tool", "parameters": schema}]);
                    body["tool_choice"] = json!("auto");
                }
                insert_opt(&mut body, "max_output_tokens", max.map(Value::from));
                insert_opt(&mut body, "temperature", temp.map(Value::from));
                insert_opt(&mut body, "top_p", top_p.map(Value::from));
                if let Some(Value::Object(m)) = metadata {
                    // Responses metadata: up to 16 string values.
                    let m: Map<String, Value> = m
                        .into_iter()
                        .take(16)
                        .map(|(k, v)| (k, Value::String(v.to_string().chars().take(64).collect())))
                        .collect();
                    body["metadata"] = Value::Object(m);
                }
                body
            },
        )
        .boxed()
}

#[test]
fn responses_reach_bedrock() {
    run("/v1/responses", responses_body(), |body| {
        let o = send(&Case::json("/v1/responses", &body));
        assert_openai(&o, "responses");
        if o.status.is_success() && body["stream"] == json!(true) {
            let events = sse_events(&o.body);
            let last = events.last().map(String::as_str);
            assert!(
                matches!(last, Some("response.completed" | "response.incomplete")),
                "{}",
                o.text()
            );
        } else if o.status.is_success() {
            let v = o.json().expect("a JSON response");
            assert_eq!(v["object"], "response", "{v}");
        }
        o.model_calls == 1
    });
}

// --- /bedrock pass-through -------------------------------------------------------------------------

fn passthrough_case() -> BoxedStrategy<(String, Value)> {
    let converse = (
        prop::collection::vec(text(), 1..3),
        opt(text()),
        (opt(1..1024u64), opt(unit_f64())),
    )
        .prop_map(|(turns, system, (max, temp))| {
            let mut messages = Vec::new();
            let n = turns.len();
            for (i, t) in turns.into_iter().enumerate() {
                // Alternate, ending with the user.
                let role = if (n - 1 - i) % 2 == 0 {
                    "user"
                } else {
                    "assistant"
                };
                messages.push(json!({"role": role, "content": [{"text": t}]}));
            }
            let mut body = json!({"messages": messages});
            insert_opt(&mut body, "system", system.map(|s| json!([{"text": s}])));
            let mut inference = json!({});
            insert_opt(&mut inference, "maxTokens", max.map(Value::from));
            insert_opt(&mut inference, "temperature", temp.map(Value::from));
            body["inferenceConfig"] = inference;
            body
        });
    let invoke = (text(), max_tokens(), opt(unit_f64())).prop_map(|(t, max, temp)| {
        let mut body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": max,
            "messages": [{"role": "user", "content": t}]});
        insert_opt(&mut body, "temperature", temp.map(Value::from));
        body
    });
    prop_oneof![
        (
            // Mostly configured names; sometimes a raw model id (refused: 404 model_not_found).
            prop_oneof![9 => prop::sample::select(&["claude", "nova"][..]), 1 => Just("us.amazon.nova-lite-v1:0")],
            prop::sample::select(&["converse", "converse-stream"][..]),
            converse,
        )
            .prop_map(|(model, op, body)| (format!("/bedrock/model/{model}/{op}"), body)),
        (
            prop_oneof![9 => Just("claude"), 1 => Just("us.anthropic.claude-3-7-sonnet-20250219-v1%3A0")],
            prop::sample::select(&["invoke", "invoke-with-response-stream"][..]),
            invoke,
        )
            .prop_map(|(model, op, body)| (format!("/bedrock/model/{model}/{op}"), body)),
    ]
    .boxed()
}

#[test]
fn bedrock_passthrough_reaches_bedrock() {
    run("/bedrock", passthrough_case(), |(path, body)| {
        let o = send(&Case::json(path.clone(), &body));
        assert!(o.status.as_u16() < 500, "{path}: {} {}", o.status, o.text());
        if !o.status.is_success() {
            // Bedrock's own error shape, relayed.
            let v = o
                .json()
                .unwrap_or_else(|| panic!("{path}: not JSON: {}", o.text()));
            assert!(
                v["message"].is_string() || v["Message"].is_string() || v["error"].is_object(),
                "{path}: {v}"
            );
        } else if path.ends_with("stream") {
            assert_eq!(
                o.content_type, "application/vnd.amazon.eventstream",
                "{path}"
            );
        }
        o.model_calls == 1
    });
}

// --- the admin API (no database: the service answers "needs database_url") -----------------------

fn duration() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (1..100u32, prop::sample::select(&["s", "m", "h", "d"][..])).prop_map(|(n, u)| format!("{n}{u}")),
        1 => text(),
    ]
    .boxed()
}

fn admin_case() -> BoxedStrategy<(String, Value)> {
    let models = prop::collection::vec(
        prop_oneof![Just("claude".to_owned()), Just("nova".to_owned()), text()],
        0..3,
    );
    let key = prop_oneof!["sk-[a-zA-Z0-9]{8,24}", "[0-9a-f]{64}", text(),];
    let generate = (
        opt(text()),
        opt(duration()),
        opt(models.clone().boxed()),
        (
            opt((0.0..1000.0f64).boxed()),
            opt(duration()),
            opt((0..10_000u64).boxed()),
            opt((0..1_000_000u64).boxed()),
        ),
        (opt(free_json()), opt(text()), opt(any::<bool>().boxed())),
    )
        .prop_map(
            |(alias, dur, models, (budget, bdur, rpm, tpm), (meta, team, blocked))| {
                let mut b = json!({});
                insert_opt(&mut b, "key_alias", alias.map(Value::from));
                insert_opt(&mut b, "duration", dur.map(Value::from));
                insert_opt(&mut b, "models", models.map(Value::from));
                insert_opt(&mut b, "max_budget", budget.map(Value::from));
                insert_opt(&mut b, "budget_duration", bdur.map(Value::from));
                insert_opt(&mut b, "rpm_limit", rpm.map(Value::from));
                insert_opt(&mut b, "tpm_limit", tpm.map(Value::from));
                if let Some(Value::Object(m)) = meta {
                    b["metadata"] = Value::Object(m);
                }
                insert_opt(&mut b, "team_id", team.map(Value::from));
                insert_opt(&mut b, "blocked", blocked.map(Value::from));
                ("/key/generate".to_owned(), b)
            },
        );
    let update = (
        key.clone(),
        opt(text()),
        opt((0.0..1000.0f64).boxed()),
        opt(models.clone().boxed()),
    )
        .prop_map(|(key, alias, budget, models)| {
            let mut b = json!({"key": key});
            insert_opt(&mut b, "key_alias", alias.map(Value::from));
            insert_opt(&mut b, "max_budget", budget.map(Value::from));
            insert_opt(&mut b, "models", models.map(Value::from));
            ("/key/update".to_owned(), b)
        });
    let by_key = (
        prop::sample::select(&["/key/block", "/key/unblock", "/key/regenerate"][..]),
        key.clone(),
    )
        .prop_map(|(path, key)| (path.to_owned(), json!({"key": key})));
    let delete = prop::collection::vec(key, 1..3)
        .prop_map(|keys| ("/key/delete".to_owned(), json!({"keys": keys})));
    let team_new = (
        opt(text()),
        opt(models.clone().boxed()),
        opt((0.0..1000.0f64).boxed()),
        opt((0..10_000u64).boxed()),
    )
        .prop_map(|(alias, models, budget, rpm)| {
            let mut b = json!({});
            insert_opt(&mut b, "team_alias", alias.map(Value::from));
            insert_opt(&mut b, "models", models.map(Value::from));
            insert_opt(&mut b, "max_budget", budget.map(Value::from));
            insert_opt(&mut b, "rpm_limit", rpm.map(Value::from));
            ("/team/new".to_owned(), b)
        });
    let team_update =
        (text(), opt(text()), opt((0.0..1000.0f64).boxed())).prop_map(|(id, alias, budget)| {
            let mut b = json!({"team_id": id});
            insert_opt(&mut b, "team_alias", alias.map(Value::from));
            insert_opt(&mut b, "max_budget", budget.map(Value::from));
            ("/team/update".to_owned(), b)
        });
    let team_delete = prop::collection::vec(text(), 1..3)
        .prop_map(|ids| ("/team/delete".to_owned(), json!({"team_ids": ids})));
    let model_new = (
        text(),
        prop::sample::select(
            &[
                "bedrock/us.amazon.nova-lite-v1:0",
                "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            ][..],
        ),
        opt(free_json()),
        opt(free_json()),
    )
        .prop_map(|(name, model, params, info)| {
            let mut litellm = json!({"model": model});
            if let Some(Value::Object(p)) = params {
                for (k, v) in p {
                    litellm[k] = v;
                }
                litellm["model"] = json!(model);
            }
            let mut b = json!({"model_name": name, "litellm_params": litellm});
            if let Some(Value::Object(i)) = info {
                b["model_info"] = Value::Object(i);
            }
            ("/model/new".to_owned(), b)
        });
    let model_update = (text(), opt(text())).prop_map(|(id, name)| {
        let mut b = json!({"model_info": {"id": id}});
        insert_opt(&mut b, "model_name", name.map(Value::from));
        ("/model/update".to_owned(), b)
    });
    let model_delete = text().prop_map(|id| ("/model/delete".to_owned(), json!({"id": id})));
    prop_oneof![
        generate,
        update,
        by_key,
        delete,
        team_new,
        team_update,
        team_delete,
        model_new,
        model_update,
        model_delete
    ]
    .boxed()
}

#[test]
fn admin_api_reaches_its_service() {
    run("/key, /team, /model", admin_case(), |(path, body)| {
        let o = send(&Case::json(path.clone(), &body));
        assert_openai(&o, &path);
        !parse_refusal(&o) && o.status == StatusCode::BAD_REQUEST
    });
}

// --- /guardrails/apply_guardrail, /cache/*, /health, /ui/login ------------------------------------

fn guardrail_body() -> BoxedStrategy<Value> {
    (
        text(),
        opt(prop::sample::select(&["en", "fr", "xx"][..])),
        opt(prop::collection::vec(
            prop::sample::select(&["EMAIL", "PHONE", "US_SOCIAL_SECURITY_NUMBER", "NAME"][..]),
            0..3,
        )),
        prop_oneof![
            Just("an email: someone@example.com".to_owned()),
            Just("".to_owned()),
            text()
        ],
    )
        .prop_map(|(t, language, entities, extra)| {
            let mut b = json!({"guardrail_name": "demo", "text": format!("{t} {extra}")});
            insert_opt(&mut b, "language", language.map(Value::from));
            insert_opt(&mut b, "entities", entities.map(Value::from));
            b
        })
        .boxed()
}

#[test]
fn apply_guardrail_reaches_bedrock() {
    run("/guardrails/apply_guardrail", guardrail_body(), |body| {
        let o = send(&Case::json("/guardrails/apply_guardrail", &body));
        assert_openai(&o, "apply_guardrail");
        o.guardrail_calls == 1
    });
}

#[test]
fn cache_admin_reaches_the_cache() {
    let case = prop_oneof![
        3 => prop::collection::vec(prop_oneof!["[0-9a-f]{64}", text()], 0..4)
            .prop_map(|keys| Case::json("/cache/delete", &json!({"keys": keys}))),
        1 => Just(()).prop_map(|()| {
            let mut c = Case::json("/cache/ping", &json!({}));
            c.method = Method::GET;
            c.body.clear();
            c
        }),
        1 => Just(Case::json("/cache/flushall", &json!({}))),
    ];
    run("/cache", case, |case| {
        let o = send(&case);
        assert_openai(&o, &case.path);
        let v = o.json().unwrap_or_default();
        o.status == StatusCode::OK && (v["status"] == "success" || v["status"] == "healthy")
    });
}

/// A query string: mostly the route's own parameters with random values, sometimes junk.
fn query(params: &'static [&'static str]) -> BoxedStrategy<String> {
    let pair = (
        if params.is_empty() {
            "[a-z_]{1,10}".boxed()
        } else {
            prop_oneof![4 => prop::sample::select(params).prop_map(str::to_owned), 1 => "[a-z_]{1,10}"].boxed()
        },
        prop_oneof![
            // Digits suit every parameter (ids are text, page and size numbers).
            6 => "[1-9][0-9]{0,3}",
            4 => "[a-zA-Z0-9._-]{0,12}",
            1 => text().prop_map(|t| percent_encoding::utf8_percent_encode(&t, percent_encoding::NON_ALPHANUMERIC).to_string()),
            1 => Just("%zz%".to_owned()),
        ],
    );
    prop::collection::vec(pair, 0..3)
        .prop_map(|q| {
            q.into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .boxed()
}

#[test]
fn read_routes_answer_any_query() {
    let case = prop_oneof![
        (
            prop::sample::select(
                &[
                    "/health",
                    "/v1/health",
                    "/health/readiness",
                    "/health/liveliness"
                ][..]
            ),
            query(&["model"]),
        ),
        (
            prop::sample::select(&["/model/info", "/v1/model/info"][..]),
            query(&["litellm_model_id"]),
        ),
        (
            Just("/v2/model/info"),
            query(&["page", "size", "search", "modelId", "teamId"])
        ),
        (Just("/model_group/info"), query(&["model_group"])),
        (
            prop::sample::select(&["/guardrails/list", "/cache/ping"][..]),
            query(&[])
        ),
    ]
    .prop_map(|(path, q)| {
        let mut c = Case::json(
            if q.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{q}")
            },
            &json!({}),
        );
        c.method = Method::GET;
        c.body.clear();
        c
    });
    run(
        "GET /health, /model/info, /model_group/info, /guardrails/list, /cache/ping",
        case,
        |case| {
            let o = send(&case);
            assert_openai(&o, &case.path);
            // Reached: answered JSON (a refused query parameter is a 400 in the OpenAI shape).
            o.status == StatusCode::OK && o.json().is_some()
        },
    );
}

#[test]
fn ui_sign_in_reads_any_form() {
    let pair = (
        prop_oneof![
            Just("username".to_owned()),
            Just("password".to_owned()),
            Just("csrf_token".to_owned()),
            "\\PC{0,8}",
        ],
        text(),
    );
    let case = (prop::collection::vec(pair, 0..4), 0..5usize, any::<bool>()).prop_map(
        |(pairs, at, raw_junk)| {
            let mut fields: Vec<String> = pairs
                .into_iter()
                .map(|(k, v)| {
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair(&k, &v)
                        .finish()
                })
                .collect();
            let key = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("master_key", KEY)
                .finish();
            fields.insert(at.min(fields.len()), key);
            if raw_junk {
                fields.push("%zz=%%&=&&==".to_owned());
            }
            Case {
                method: Method::POST,
                path: "/ui/login".into(),
                headers: vec![
                    ("content-type", "application/x-www-form-urlencoded".into()),
                    ("origin", "http://gateway.test".into()),
                ],
                body: fields.join("&").into_bytes(),
            }
        },
    );
    run("/ui/login", case, |case| {
        let o = send(&case);
        assert!(o.status.as_u16() < 500, "{} {}", o.status, o.text());
        // Signed in: a redirect to the keys page with a session cookie.
        o.status == StatusCode::SEE_OTHER
    });
}
