//! Integration tests of the library API: spawn/shutdown, bearer and SigV4 requests over real
//! HTTP, the script helpers, event-stream bodies, and a throughput smoke test (ignored).

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use bytes::Buf as _;
use serde_json::{json, Value};
use shale_emulator::{spawn, EmulatorConfig, RunningEmulator, DEFAULT_API_KEY};
use std::time::{Duration, Instant};

const CLAUDE_PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0";

async fn start() -> RunningEmulator {
    spawn(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn converse_body(text: &str) -> Value {
    json!({"messages":[{"role":"user","content":[{"text":text}]}]})
}

/// A bearer-authenticated `POST {CLAUDE_PATH}/{operation}` of `body`.
async fn claude(emu: &RunningEmulator, operation: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{CLAUDE_PATH}/{operation}", emu.url()))
        .bearer_auth(DEFAULT_API_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn serves_and_shuts_down() {
    let emu = start().await;
    assert!(emu.url().starts_with("http://127.0.0.1:"));
    let resp = reqwest::get(format!("{}/", emu.url())).await.unwrap();
    assert_eq!(resp.status(), 200);
    let addr = emu.local_addr();
    emu.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_stops_the_server() {
    let emu = start().await;
    let addr = emu.local_addr();
    drop(emu);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bearer_converse_is_answered_and_recorded() {
    let emu = start().await;
    let resp = claude(&emu, "converse", &converse_body("hi there")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let body: Value = resp.json().await.unwrap();
    assert!(body["output"]["message"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .ends_with("You said: hi there"));
    let recorded = emu.recorded_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0]["model_id"],
        "anthropic.claude-3-haiku-20240307-v1:0"
    );
    assert_eq!(recorded[0]["auth"], "bearer");
    assert_eq!(recorded[0]["operation"], "converse");
    assert_eq!(recorded[0]["body"], converse_body("hi there"));
}

#[tokio::test]
async fn scripted_errors_have_the_aws_shape() {
    let emu = start().await;
    emu.script(&[json!({"error":{"type":"ThrottlingException","message":"slow"}})])
        .unwrap();
    let resp = claude(&emu, "converse", &converse_body("x")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    );
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message":"slow"})
    );
    let again = claude(&emu, "converse", &converse_body("x")).await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn unauthenticated_requests_are_rejected() {
    let emu = start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}{CLAUDE_PATH}/converse", emu.url()))
        .json(&converse_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers()["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .starts_with("MissingAuthenticationTokenException:"));
}

fn decode_all(mut bytes: bytes::Bytes) -> Vec<(String, Value)> {
    let mut decoder = MessageFrameDecoder::new();
    let mut out = Vec::new();
    while bytes.has_remaining() {
        match decoder.decode_frame(&mut bytes).unwrap() {
            DecodedFrame::Complete(msg) => {
                let ty = msg
                    .headers()
                    .iter()
                    .find(|h| h.name().as_str() == ":event-type")
                    .map(|h| h.value().as_string().unwrap().as_str().to_owned())
                    .unwrap_or_default();
                out.push((ty, serde_json::from_slice(msg.payload()).unwrap()));
            }
            DecodedFrame::Incomplete => break,
        }
    }
    out
}

#[tokio::test]
async fn converse_stream_is_chunked_eventstream() {
    let emu = start().await;
    let resp = claude(&emu, "converse-stream", &converse_body("stream")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    let events = decode_all(resp.bytes().await.unwrap());
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types.first(), Some(&"messageStart"));
    assert_eq!(&types[types.len() - 2..], &["messageStop", "metadata"]);
}

#[tokio::test]
async fn invoke_stream_chunks_carry_native_events() {
    let emu = start().await;
    let body = json!({"anthropic_version":"bedrock-2023-05-31","max_tokens":50,
        "messages":[{"role":"user","content":"hello"}]});
    let resp = claude(&emu, "invoke-with-response-stream", &body).await;
    assert_eq!(resp.status(), 200);
    let events = decode_all(resp.bytes().await.unwrap());
    use base64::Engine as _;
    let natives: Vec<Value> = events
        .iter()
        .map(|(t, p)| {
            assert_eq!(t, "chunk");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(p["bytes"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&raw).unwrap()
        })
        .collect();
    assert_eq!(natives[0]["type"], "message_start");
    let last = natives.last().unwrap();
    assert_eq!(last["type"], "message_stop");
    assert!(
        last["amazon-bedrock-invocationMetrics"]["outputTokenCount"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn latency_setting_delays_answers() {
    let config = EmulatorConfig {
        latency: Duration::from_millis(150),
        ..EmulatorConfig::default()
    };
    let emu = spawn(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let start = Instant::now();
    let resp = claude(&emu, "converse", &converse_body("x")).await;
    assert_eq!(resp.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

/// Throughput smoke test: `cargo test -p shale-emulator --release -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_smoke() {
    let emu = start().await;
    let client = reqwest::Client::new();
    let url = format!("{}{CLAUDE_PATH}/converse", emu.url());
    let body = serde_json::to_vec(&converse_body("benchmark")).unwrap();
    let total = 20_000usize;
    let workers = 32usize;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / workers {
                let resp = client
                    .post(&url)
                    .bearer_auth(DEFAULT_API_KEY)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                resp.bytes().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} requests in {secs:.2}s = {:.0} req/s (client and server share the cores)",
        total as f64 / secs
    );
}

/// The time per request of 50,000 requests built by `request`, through `app` without sockets;
/// each must be answered 200.
async fn per_request(
    app: &axum::Router,
    request: impl Fn() -> http::Request<axum::body::Body>,
) -> Duration {
    use tower::ServiceExt as _;
    let n = 50_000u32;
    let started = Instant::now();
    for _ in 0..n {
        let resp = app.clone().oneshot(request()).await.unwrap();
        assert_eq!(resp.status(), 200);
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
    }
    started.elapsed() / n
}

/// Handler cost without sockets: `cargo test -p shale-emulator --release -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn handler_cost_smoke() {
    let app = shale_emulator::router(EmulatorConfig::default());
    let body = serde_json::to_vec(&converse_body("benchmark")).unwrap();
    let per = per_request(&app, || {
        http::Request::post(format!("{CLAUDE_PATH}/converse"))
            .header("authorization", format!("Bearer {DEFAULT_API_KEY}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.clone()))
            .unwrap()
    })
    .await;
    println!(
        "converse handler (bearer): {per:?} per request = {:.0} req/s on one core",
        1.0 / per.as_secs_f64()
    );

    // The same with SigV4 (signed once with aws-sigv4; valid for 15 minutes).
    use shale_emulator::sigv4::{aws_sign, SigningKey};
    let credentials = aws_credential_types::Credentials::new(
        shale_emulator::DEFAULT_ACCESS_KEY_ID,
        shale_emulator::DEFAULT_SECRET_ACCESS_KEY,
        None,
        None,
        "bench",
    );
    let key = SigningKey::new(
        credentials,
        "us-east-1",
        "bedrock",
        std::time::SystemTime::now(),
    );
    let uri = format!("http://localhost{CLAUDE_PATH}/converse");
    let sent = [("host", "localhost"), ("content-type", "application/json")];
    let signed = aws_sign(key, "POST", &uri, sent.into_iter(), &body)
        .unwrap()
        .headers;
    let per = per_request(&app, || {
        let mut req = http::Request::post(format!("{CLAUDE_PATH}/converse"))
            .header("host", "localhost")
            .header("content-type", "application/json");
        for (k, v) in &signed {
            req = req.header(k.as_str(), v.as_str());
        }
        req.body(axum::body::Body::from(body.clone())).unwrap()
    })
    .await;
    println!(
        "converse handler (sigv4): {per:?} per request = {:.0} req/s on one core",
        1.0 / per.as_secs_f64()
    );
}
