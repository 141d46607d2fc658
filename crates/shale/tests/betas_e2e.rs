//! The gateway's `anthropic-beta` filter (`/v1/messages` → InvokeModel, shale-translate's table)
//! against the emulator's own table of the flags Bedrock accepts (`shale_emulator::betas`, from
//! the AWS user guide and Claude Code's Bedrock mode). The two tables have separate sources, so:
//!
//! - a flag the gateway forwards that Bedrock does not accept fails the request (the emulator
//!   answers `invalid beta flag`, as Bedrock does): every flag of the gateway's table, of the
//!   emulator's table and some Anthropic-API-only flags are sent to six Claude models, and every
//!   answer must be a 200 whose forwarded flags the emulator accepts;
//! - a flag the guide documents for a model must reach that model: the gateway may not drop it.

use serde_json::{json, Value};
use shale_emulator::betas::{self, AWS_DOCUMENTED, OBSERVED};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const KEY: &str = "sk-betas-test";

/// (model_name, Bedrock model id): one per Claude generation the tables tell apart.
const MODELS: &[(&str, &str)] = &[
    ("haiku-3", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("sonnet-3-7", "us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
    ("sonnet-4", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("sonnet-4-5", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("haiku-4-5", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("opus-4-5", "global.anthropic.claude-opus-4-5-20251101-v1:0"),
];

/// Flags of the Anthropic API that Bedrock does not take (Claude Code sends them to
/// api.anthropic.com): the gateway must drop them.
const ANTHROPIC_ONLY: &[&str] = &[
    "claude-code-20250219",
    "oauth-2025-04-20",
    "files-api-2025-04-14",
    "prompt-caching-scope-2026-01-05",
];

struct Gateway {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(emulator_url: &str) -> Gateway {
    let mut config = String::from("model_list:\n");
    for (name, id) in MODELS {
        config.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: bedrock/{id}\n      \
             aws_bedrock_runtime_endpoint: {emulator_url}\n      aws_access_key_id: {}\n      \
             aws_secret_access_key: {}\n      aws_region_name: us-east-1\n",
            shale_emulator::DEFAULT_ACCESS_KEY_ID,
            shale_emulator::DEFAULT_SECRET_ACCESS_KEY,
        ));
    }
    config.push_str(&format!("general_settings:\n  master_key: {KEY}\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shale"))
        .arg("--config")
        .arg(&path)
        .args(["--host", "127.0.0.1", "--port", "0", "--log-format", "json"])
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

/// Every flag the test offers: the gateway's table, the emulator's, and Anthropic-only ones.
fn offered() -> Vec<&'static str> {
    let mut flags: Vec<&'static str> = shale_translate::messages::known_bedrock_betas().collect();
    flags.extend(AWS_DOCUMENTED.iter().map(|b| b.flag));
    flags.extend(OBSERVED.iter().copied());
    flags.extend(ANTHROPIC_ONLY.iter().copied());
    let mut seen = std::collections::HashSet::new();
    flags.retain(|f| seen.insert(*f));
    flags
}

#[tokio::test]
async fn the_gateway_forwards_what_bedrock_accepts_and_every_documented_flag() {
    let emu = shale_emulator::spawn(Default::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = start_gateway(&emu.url());
    let http = reqwest::Client::new();
    let flags = offered();
    let mut problems = Vec::new();
    for (name, id) in MODELS {
        emu.reset();
        let resp = http
            .post(format!("{}/v1/messages", gw.url))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", flags.join(","))
            .json(&json!({"model": name, "max_tokens": 16,
                "messages": [{"role": "user", "content": "which betas?"}]}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{name}: {body}");
        let calls: Vec<Value> = emu
            .recorded_requests()
            .into_iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/model/")))
            .collect();
        assert_eq!(calls.len(), 1, "{name}: one InvokeModel call");
        assert!(calls[0]["path"].as_str().unwrap().ends_with("/invoke"));
        let sent: Vec<&str> = calls[0]["body"]["anthropic_beta"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for flag in &sent {
            if !betas::accepts(flag) {
                problems.push(format!("{name}: forwarded {flag}, which Bedrock refuses"));
            }
        }
        // The base model id: without the cross-region prefix (`us.`, `global.`).
        let base = match id.split_once('.') {
            Some((_, rest)) if rest.starts_with("anthropic.") => rest,
            _ => id,
        };
        for documented in AWS_DOCUMENTED.iter().filter(|b| b.documented_for(base)) {
            if !sent.contains(&documented.flag) {
                problems.push(format!(
                    "{name}: dropped {} ({}), which the AWS user guide documents for {base}",
                    documented.flag, documented.feature
                ));
            }
        }
        for flag in ANTHROPIC_ONLY {
            assert!(!sent.contains(flag), "{name}: forwarded {flag}");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    drop(gw);
    emu.shutdown().await;
}
