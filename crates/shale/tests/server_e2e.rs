//! End-to-end tests of the `shale` binary: start it on an ephemeral port with a temp config and
//! check health, models, auth (three header forms), each error class, the body limit, `check`,
//! and graceful shutdown.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEY: &str = "sk-test-1234";

struct Gateway {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start(config: &str, extra_args: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_shale"))
            .arg("--config")
            .arg(&path)
            .args(["--host", "127.0.0.1", "--port", "0", "--log-format", "json"])
            .args(extra_args)
            .env_remove("SHALE_MASTER_KEY")
            .env_remove("LITELLM_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("shale listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Gateway {
            child,
            url,
            _dir: dir,
        }
    }

    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(extra: &str) -> String {
    format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0\n  - model_name: nova\n    litellm_params:\n      model: bedrock/us.amazon.nova-lite-v1:0\n  - model_name: claude\n    litellm_params:\n      model: bedrock/us.anthropic.claude-3-haiku-20240307-v1:0\ngeneral_settings:\n  master_key: {KEY}\n{extra}"
    )
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    let body: Value = resp.json().await.unwrap();
    let err = &body["error"];
    for field in ["message", "type", "param", "code"] {
        assert!(err.get(field).is_some(), "error lacks {field}: {body}");
    }
    (status, err.clone())
}

#[tokio::test]
async fn health_models_and_auth() {
    let gw = Gateway::start(&config(""), &[]);
    let http = reqwest::Client::new();

    for path in [
        "/health/liveliness",
        "/health/readiness",
        "/v1/health/readiness",
    ] {
        let r = http.get(format!("{}{path}", gw.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} needs no key");
    }

    // Three header forms, bare and /v1.
    for (name, value) in [
        ("authorization", format!("Bearer {KEY}")),
        ("x-api-key", KEY.to_string()),
        ("x-litellm-api-key", KEY.to_string()),
    ] {
        for prefix in ["", "/v1"] {
            let r = http
                .get(format!("{}{prefix}/models", gw.url))
                .header(name, &value)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{name} on {prefix}/models");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["object"], "list");
            let ids: Vec<&str> = v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            assert_eq!(
                ids,
                vec!["claude", "nova"],
                "one entry per distinct model_name"
            );
            assert_eq!(v["data"][0]["object"], "model");
            assert!(v["data"][0]["created"].as_u64().unwrap() > 1_700_000_000);
            assert!(v["data"][0]["owned_by"].is_string());
        }
    }

    let r = http
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(err["type"], "authentication_error");

    let r = http
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth("sk-wrong")
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(err["message"], "Invalid API key.");

    let r = http
        .get(format!("{}/v1/models/nova", gw.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Request ids: kept when given, minted otherwise.
    let r = http
        .get(format!("{}/health/liveliness", gw.url))
        .header("x-request-id", "req-abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-abc");
    let r = http
        .get(format!("{}/health/liveliness", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 36);
}

#[tokio::test]
async fn error_classes() {
    let gw = Gateway::start(&config("  max_request_size_mb: 0.001\n"), &[]);
    let http = reqwest::Client::new();
    let post = |path: &str, body: Vec<u8>| {
        http.post(format!("{}{path}", gw.url))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
    };

    let (status, err) = error_of(
        post("/v1/chat/completions", b"{not json".to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["message"].as_str().unwrap().contains("not valid JSON"),
        "{err}"
    );

    let (status, err) = error_of(
        post("/chat/completions", br#"{"messages":[]}"#.to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["param"], "model", "{err}");

    let (status, err) = error_of(
        post(
            "/v1/chat/completions",
            br#"{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}"#.to_vec(),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], "model_not_found");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("gpt-9") && msg.contains("/v1/models"), "{msg}");

    // Every model route answers the unknown-model error the same way, bare and under /v1.
    for (path, body) in [
        ("/embeddings", r#"{"model":"nope","input":"x"}"#),
        ("/v1/embeddings", r#"{"model":"nope","input":["x"]}"#),
        ("/v1/images/generations", r#"{"model":"nope","prompt":"x"}"#),
        (
            "/rerank",
            r#"{"model":"nope","query":"q","documents":["a"]}"#,
        ),
        ("/v1/completions", r#"{"model":"nope","prompt":"x"}"#),
    ] {
        let (status, err) =
            error_of(post(path, body.as_bytes().to_vec()).send().await.unwrap()).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(err["code"], "model_not_found", "{path}: {err}");
    }

    // Body over the limit (~1 KiB here): 413.
    let big = format!(
        r#"{{"model":"claude","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    let (status, err) = error_of(
        post("/v1/chat/completions", big.into_bytes())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(err["code"], "request_too_large");

    // Wrong method: 405.
    let r = http
        .delete(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(r).await;
    assert_eq!(status, 405);
    assert_eq!(err["code"], "method_not_allowed");

    // Unknown path: 404.
    let r = http
        .get(format!("{}/v1/nothing-here", gw.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let (status, _) = error_of(r).await;
    assert_eq!(status, 404);
}

#[test]
fn refuses_to_start_without_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "model_list: []\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .arg("--config")
        .arg(&path)
        .args(["--port", "0", "--host", "127.0.0.1"])
        .env_remove("SHALE_MASTER_KEY")
        .env_remove("LITELLM_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no master key configured"), "{stderr}");
    assert!(stderr.contains("--allow-unauthenticated"), "{stderr}");
}

#[tokio::test]
async fn allow_unauthenticated_serves_without_key() {
    let gw = Gateway::start("model_list: []\n", &["--allow-unauthenticated"]);
    let r = reqwest::get(format!("{}/v1/models", gw.url)).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn graceful_shutdown_finishes_in_flight_request() {
    let mut gw = Gateway::start(&config(""), &[]);
    let body = br#"{"model":"gpt-unknown","messages":[{"role":"user","content":"hi"}]}"#;
    let mut stream = TcpStream::connect(gw.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..10]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    gw.terminate();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    // New connections are refused once shutdown began.
    assert!(
        TcpStream::connect(gw.addr()).is_err(),
        "still accepting after SIGTERM"
    );

    stream.write_all(&body[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("model_not_found"), "{response}");

    let status = wait_exit(&mut gw.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "clean exit after draining");
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < limit, "did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn check_command() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, config("  alerting_threshold: 300\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .arg("check")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("OK — 3 deployment(s), 2 model name(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ignored: general_settings.alerting_threshold"),
        "{stdout}"
    );
    assert!(stdout.contains("stored models: off"), "{stdout}");
    assert!(stdout.contains("config reload: on SIGHUP"), "{stdout}");
    assert!(
        stdout.contains("applied by a reload: model_list") && stdout.contains("need a restart:"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "model_list:\n  - model_name: x\n    litellm_params: {model: azure/gpt-4}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .arg("check")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model_list[0] (model_name: x)"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("shale 0."));
}
