//! Helpers shared by the tests that run the Bedrock client against the real emulator
//! (`emulator.rs`: credentials; `emulator_calls.rs`: errors, retries, streams).

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use shale_bedrock::{BedrockClient, BedrockError, Operation, Target, TargetSpec};
use shale_emulator::{EmulatorConfig, RunningEmulator};

pub const AKID: &str = "AKIDEXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const API_KEY: &str = "bedrock-api-key-EXAMPLE";
pub const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/shale-test";

pub async fn emulator() -> RunningEmulator {
    shale_emulator::spawn(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub fn base(emu: &RunningEmulator, name: &str) -> TargetSpec {
    TargetSpec {
        deployment: name.into(),
        model_id: CLAUDE.into(),
        region: Some("us-east-1".into()),
        api_base: Some(emu.url()),
        ..TargetSpec::default()
    }
}

pub fn with_keys(spec: TargetSpec) -> TargetSpec {
    TargetSpec {
        access_key_id: Some(AKID.into()),
        secret_access_key: Some(SECRET.into()),
        ..spec
    }
}

pub fn converse_body() -> Bytes {
    Bytes::from_static(
        br#"{"messages":[{"role":"user","content":[{"text":"Hello there"}]}],"inferenceConfig":{"maxTokens":50}}"#,
    )
}

pub async fn converse(client: &BedrockClient, target: &Target) -> Result<Value, BedrockError> {
    let answer = client
        .call(
            target,
            Operation::Converse,
            converse_body(),
            &HeaderMap::new(),
        )
        .await?;
    assert_eq!(answer.status, 200);
    Ok(serde_json::from_slice(&answer.body).unwrap())
}

/// Recorded requests of one operation (`converse`, `sts`, `rerank`...).
pub fn recorded(emu: &RunningEmulator, operation: &str) -> Vec<Value> {
    emu.recorded_requests()
        .into_iter()
        .filter(|r| r["operation"] == operation)
        .collect()
}
