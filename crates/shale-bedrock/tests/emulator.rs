//! End-to-end tests of the Bedrock client against `shale-emulator` (which verifies SigV4 like AWS
//! and runs its own STS): every credential source, refresh after expiry and model-id paths.
//! Errors, retries and streams are in `emulator_calls.rs`.

mod common;

use std::path::Path;
use std::time::Duration;

use shale_bedrock::{BedrockClient, BedrockError, EnvSource, ErrorKind, TargetSpec};
use shale_emulator::RunningEmulator;

use common::emulator::*;
use common::{connect, connect_with, options};

#[tokio::test]
async fn static_keys_reach_the_encoded_path_with_a_valid_signature() {
    let emu = emulator().await;
    let client = BedrockClient::new(options()).unwrap();
    let ids = [
        // No region anywhere: the us-west-2 fallback; ARNs bring their own.
        (CLAUDE, "us-west-2"),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "us-west-2"),
        (
            "global.anthropic.claude-sonnet-4-20250514-v1:0",
            "us-west-2",
        ),
        (
            "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a0a0a0a0a0a0",
            "eu-west-1",
        ),
        (
            "arn:aws:bedrock:ap-south-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "ap-south-1",
        ),
    ];
    for (id, region) in ids {
        let target = client
            .target(with_keys(TargetSpec {
                model_id: id.into(),
                region: None,
                ..base(&emu, id)
            }))
            .await
            .unwrap();
        assert_eq!(target.region(), region);
        let out = converse(&client, &target).await.unwrap();
        assert!(out["output"]["message"]["content"].is_array(), "{out}");
        let rec = recorded(&emu, "converse").pop().unwrap();
        assert_eq!(rec["model_id"], id);
        assert_eq!(
            rec["path"],
            format!(
                "/model/{}/converse",
                shale_bedrock::resolve::encode_model_id(id)
            )
        );
        assert!(rec["path"].as_str().unwrap().contains("%3A"));
        assert_eq!(rec["auth"], "sigv4");
        assert_eq!(rec["access_key_id"], AKID);
        assert_eq!(rec["region"], region);
        assert_eq!(rec["service"], "bedrock");
    }
}

#[tokio::test]
async fn wrong_secret_is_a_403_invalid_signature() {
    let emu = emulator().await;
    let (client, target) = connect(TargetSpec {
        access_key_id: Some(AKID.into()),
        secret_access_key: Some("not-the-secret".into()),
        num_retries: Some(3),
        ..base(&emu, "bad-secret")
    })
    .await;
    let err = converse(&client, &target).await.unwrap_err();
    assert_eq!(err.kind(), Some(&ErrorKind::InvalidSignature));
    assert_eq!(
        (err.http_status(), err.openai_type().as_str()),
        (403, "permission_error")
    );
    assert_eq!(
        recorded(&emu, "converse").len(),
        1,
        "auth errors are not retried"
    );
}

/// Temporary credentials straight from the emulator's STS (unsigned web-identity call).
async fn temporary_keys(emu: &RunningEmulator) -> (String, String, String) {
    let xml = reqwest::Client::new()
        .post(format!("{}/", emu.url()))
        .form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "setup"),
            ("WebIdentityToken", "eyJhbGciOiJub25lIn0.e30."),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = |name: &str| {
        xml.split(&format!("<{name}>"))
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_owned()
    };
    (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    )
}

#[tokio::test]
async fn session_token_keys_are_signed_with_the_token() {
    let emu = emulator().await;
    let (ak, sk, token) = temporary_keys(&emu).await;
    let (client, target) = connect(TargetSpec {
        access_key_id: Some(ak.clone()),
        secret_access_key: Some(sk.clone().into()),
        session_token: Some(token.clone().into()),
        ..base(&emu, "session")
    })
    .await;
    converse(&client, &target).await.unwrap();
    let rec = recorded(&emu, "converse").pop().unwrap();
    assert_eq!(rec["access_key_id"], ak.as_str());
    assert_eq!(rec["headers"]["x-amz-security-token"], token.as_str());
    assert!(rec["headers"]["authorization"]
        .as_str()
        .unwrap()
        .contains("x-amz-security-token"));

    let target = client
        .target(TargetSpec {
            access_key_id: Some(ak),
            secret_access_key: Some(sk.into()),
            session_token: Some("forged-token".into()),
            ..base(&emu, "forged")
        })
        .await
        .unwrap();
    let err = converse(&client, &target).await.unwrap_err();
    assert_eq!(err.http_status(), 403, "{err}");
}

#[tokio::test]
async fn bearer_keys_from_config_and_env() {
    let emu = emulator().await;
    let (client, target) = connect(TargetSpec {
        api_key: Some(API_KEY.into()),
        ..base(&emu, "bearer")
    })
    .await;
    converse(&client, &target).await.unwrap();
    assert_eq!(recorded(&emu, "converse").pop().unwrap()["auth"], "bearer");

    let env = shale_bedrock::ClientOptions {
        env: EnvSource::from_pairs([("AWS_BEARER_TOKEN_BEDROCK", API_KEY)]),
        ..options()
    };
    let (client_env, target) = connect_with(env, base(&emu, "env-bearer")).await;
    assert!(target.uses_bearer());
    converse(&client_env, &target).await.unwrap();
    assert_eq!(recorded(&emu, "converse").pop().unwrap()["auth"], "bearer");

    let target = client
        .target(TargetSpec {
            api_key: Some("bedrock-api-key-WRONG".into()),
            ..base(&emu, "bad-bearer")
        })
        .await
        .unwrap();
    let err = converse(&client, &target).await.unwrap_err();
    assert_eq!(err.kind(), Some(&ErrorKind::UnrecognizedClient));
    assert_eq!(err.http_status(), 403);
}

/// The deployment, source kind and message of a credentials error (any other error fails).
fn credentials_error(err: &BedrockError) -> (&str, &str, &str) {
    match err {
        BedrockError::Credentials {
            deployment,
            source_kind,
            message,
        } => (deployment, source_kind, message),
        other => panic!("not a credentials error: {other:?}"),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn profile_with_static_keys() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    write(&config, "[profile emu]\nregion = eu-west-3\n");
    write(
        &credentials,
        &format!("[emu]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"),
    );
    let (client, target) = connect_with(
        shale_bedrock::ClientOptions {
            aws_config_file: Some(config),
            aws_credentials_file: Some(credentials),
            ..options()
        },
        TargetSpec {
            profile_name: Some("emu".into()),
            region: None,
            ..base(&emu, "profile")
        },
    )
    .await;
    assert_eq!(target.region(), "eu-west-3", "region from the profile");
    converse(&client, &target).await.unwrap();
    let rec = recorded(&emu, "converse").pop().unwrap();
    assert_eq!(rec["access_key_id"], AKID);
    assert_eq!(rec["region"], "eu-west-3");
}

#[tokio::test]
async fn profile_with_credential_process() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("creds.sh");
    write(
        &script,
        &format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{AKID}\", \"SecretAccessKey\": \"{SECRET}\"}}'\n"
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    write(
        &config,
        &format!(
            "[profile proc]\ncredential_process = {}\n",
            script.display()
        ),
    );
    let (client, target) = connect_with(
        shale_bedrock::ClientOptions {
            aws_config_file: Some(config),
            ..options()
        },
        TargetSpec {
            profile_name: Some("proc".into()),
            ..base(&emu, "process")
        },
    )
    .await;
    assert!(target.auth_description().contains("profile \"proc\""));
    converse(&client, &target).await.unwrap();
    assert_eq!(
        recorded(&emu, "converse").pop().unwrap()["access_key_id"],
        AKID
    );
}

#[tokio::test]
async fn missing_profile_is_a_credentials_error_naming_the_deployment() {
    let emu = emulator().await;
    let (client, target) = connect(TargetSpec {
        profile_name: Some("nope".into()),
        ..base(&emu, "model_list[5] (no-profile)")
    })
    .await;
    let err = converse(&client, &target).await.unwrap_err();
    let (deployment, source_kind, _) = credentials_error(&err);
    assert_eq!(
        (deployment, source_kind),
        ("model_list[5] (no-profile)", "profile")
    );
    assert!(err.to_string().contains("model_list[5] (no-profile)"));
    assert_eq!(err.http_status(), 503);
    assert!(recorded(&emu, "converse").is_empty());

    // Another deployment of the same client is unaffected.
    let ok = client.target(with_keys(base(&emu, "ok"))).await.unwrap();
    converse(&client, &ok).await.unwrap();
}

#[tokio::test]
async fn assume_role_with_given_keys_via_the_sts_endpoint() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(TargetSpec {
        role_name: Some(ROLE.into()),
        session_name: Some("shale-session".into()),
        external_id: Some("ext-123".into()),
        session_tags: vec![("team".into(), "ml".into())],
        sts_endpoint: Some(emu.url()),
        ..base(&emu, "role")
    }))
    .await;
    converse(&client, &target).await.unwrap();
    let sts = recorded(&emu, "sts");
    assert_eq!(sts.len(), 1);
    let form = &sts[0]["body"];
    assert_eq!(form["Action"], "AssumeRole");
    assert_eq!(form["RoleArn"], ROLE);
    assert_eq!(form["RoleSessionName"], "shale-session");
    assert_eq!(form["ExternalId"], "ext-123");
    assert_eq!(form["Tags.member.1.Key"], "team");
    assert_eq!(form["Tags.member.1.Value"], "ml");
    assert_eq!(sts[0]["auth"], "sigv4");
    assert_eq!(sts[0]["service"], "sts");
    assert_eq!(sts[0]["access_key_id"], AKID);
    let rec = recorded(&emu, "converse").pop().unwrap();
    assert!(rec["access_key_id"].as_str().unwrap().starts_with("ASIA"));
    assert!(rec["headers"]["x-amz-security-token"].is_string());
}

#[tokio::test]
async fn web_identity_token_inline_and_from_a_file() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    write(&token_file, "eyJhbGciOiJSUzI1NiJ9.file-token.sig\n");
    let client = BedrockClient::new(options()).unwrap();
    for (name, token) in [
        ("inline", "eyJhbGciOiJSUzI1NiJ9.inline-token.sig".to_owned()),
        ("file", token_file.display().to_string()),
    ] {
        let target = client
            .target(TargetSpec {
                web_identity_token: Some(token.into()),
                role_name: Some(ROLE.into()),
                session_name: Some(format!("wi-{name}")),
                sts_endpoint: Some(emu.url()),
                ..base(&emu, name)
            })
            .await
            .unwrap();
        converse(&client, &target).await.unwrap();
        let sts = recorded(&emu, "sts").pop().unwrap();
        assert_eq!(sts["body"]["Action"], "AssumeRoleWithWebIdentity");
        assert_eq!(sts["body"]["RoleSessionName"], format!("wi-{name}"));
        assert_eq!(sts["auth"], "none");
        let expected_token = if name == "file" {
            "eyJhbGciOiJSUzI1NiJ9.file-token.sig"
        } else {
            "eyJhbGciOiJSUzI1NiJ9.inline-token.sig"
        };
        assert_eq!(sts["body"]["WebIdentityToken"], expected_token);
        let rec = recorded(&emu, "converse").pop().unwrap();
        assert!(rec["access_key_id"].as_str().unwrap().starts_with("ASIA"));
    }
}

#[tokio::test]
async fn assumed_credentials_are_shared_then_refreshed_after_expiry() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(TargetSpec {
        role_name: Some(ROLE.into()),
        sts_endpoint: Some(emu.url()),
        // STS truncates the expiry to whole seconds: 2 to 3 s of lifetime, so the first
        // refresh is due no earlier than 1 s after the first fetch.
        role_session_duration: Some(Duration::from_secs(3)),
        ..base(&emu, "short-role")
    }))
    .await;
    // Many concurrent first requests: one STS call.
    let calls = (0..8).map(|_| converse(&client, &target));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(recorded(&emu, "sts").len(), 1);
    let first_key = recorded(&emu, "converse")[0]["access_key_id"].clone();
    tokio::time::sleep(Duration::from_millis(3300)).await;
    converse(&client, &target).await.unwrap();
    assert_eq!(
        recorded(&emu, "sts").len(),
        2,
        "expired credentials were refreshed"
    );
    let last_key = recorded(&emu, "converse").pop().unwrap()["access_key_id"].clone();
    assert_ne!(first_key, last_key);
    assert_eq!(recorded(&emu, "converse").len(), 9);
}

#[tokio::test]
async fn unreachable_sts_is_a_credentials_error() {
    let emu = emulator().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let (client, target) = connect(with_keys(TargetSpec {
        role_name: Some(ROLE.into()),
        sts_endpoint: Some(dead_url),
        ..base(&emu, "model_list[9] (dead-sts)")
    }))
    .await;
    let err = converse(&client, &target).await.unwrap_err();
    let (deployment, source_kind, message) = credentials_error(&err);
    assert_eq!(
        (deployment, source_kind),
        ("model_list[9] (dead-sts)", "assume_role")
    );
    assert!(message.contains(ROLE), "{message}");
    assert!(!err.to_string().contains(SECRET));
}
