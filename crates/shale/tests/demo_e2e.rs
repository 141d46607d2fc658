//! `shale demo` end to end: it starts the built-in emulator and the gateway, prints a key and a
//! curl line, and the printed key really works for a chat request; on a taken port it fails before
//! printing anything, and says `--port`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn demo_prints_key_and_serves_chat() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(["demo", "--port", "0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = None;
    let mut url = None;
    let mut curl = None;
    for _ in 0..6 {
        let line = lines.next().unwrap().unwrap();
        if let Some(k) = line.strip_prefix("key: ") {
            key = Some(k.to_string());
        } else if line.starts_with("try: curl ") {
            curl = Some(line.clone());
        } else if let Some(u) = line.strip_prefix("shale listening on ") {
            url = Some(u.to_string());
            break;
        }
    }
    let (key, url, curl) = (key.unwrap(), url.unwrap(), curl.unwrap());
    assert!(key.starts_with("sk-demo-"));
    assert!(curl.contains(&key), "{curl}");

    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "claude-sonnet", "messages": [{"role": "user", "content": "Hello!"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("shale emulator"));
    let models: serde_json::Value = http
        .get(format!("{url}/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(models["data"].as_array().unwrap().len() >= 5);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn demo_on_a_taken_port_says_port_and_prints_no_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_shale"))
        .args(["demo", "--port", &port, "--log-format", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("port {port} is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
    assert!(
        !stdout.contains("try:") && !stdout.contains("key:"),
        "{stdout}"
    );
    drop(taken);
}
