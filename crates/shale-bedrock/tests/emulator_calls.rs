//! End-to-end tests of the Bedrock client against `shale-emulator`: error mapping for every
//! exception, retries, timeouts and broken streams.

mod common;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method};
use serde_json::{json, Value};
use shale_bedrock::{
    BedrockClient, BedrockError, ErrorKind, Operation, Service, StreamDecodeError, Target,
    TargetSpec,
};

use common::connect;
use common::emulator::*;

#[tokio::test]
async fn every_exception_maps_to_its_status() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(TargetSpec {
        num_retries: Some(0),
        ..base(&emu, "errors")
    }))
    .await;
    let cases = [
        (
            "ValidationException",
            ErrorKind::Validation,
            400,
            "invalid_request_error",
        ),
        (
            "ThrottlingException",
            ErrorKind::Throttling,
            429,
            "rate_limit_error",
        ),
        (
            "AccessDeniedException",
            ErrorKind::AccessDenied,
            403,
            "permission_error",
        ),
        (
            "ResourceNotFoundException",
            ErrorKind::ResourceNotFound,
            404,
            "not_found_error",
        ),
        (
            "ModelTimeoutException",
            ErrorKind::ModelTimeout,
            408,
            "timeout_error",
        ),
        (
            "ModelNotReadyException",
            ErrorKind::ModelNotReady,
            429,
            "rate_limit_error",
        ),
        (
            "ModelErrorException",
            ErrorKind::ModelError,
            500,
            "api_error",
        ),
        (
            "ServiceQuotaExceededException",
            ErrorKind::ServiceQuotaExceeded,
            400,
            "invalid_request_error",
        ),
        (
            "ServiceUnavailableException",
            ErrorKind::ServiceUnavailable,
            503,
            "service_unavailable",
        ),
        (
            "InternalServerException",
            ErrorKind::InternalServer,
            500,
            "api_error",
        ),
    ];
    for (name, kind, status, openai_type) in cases {
        emu.script(&[json!({"error": {"type": name, "message": format!("scripted {name}")}})])
            .unwrap();
        let err = converse(&client, &target).await.unwrap_err();
        assert_eq!(err.kind(), Some(&kind), "{name}");
        assert_eq!(err.http_status(), status, "{name}");
        assert_eq!(err.openai_type().as_str(), openai_type, "{name}");
        assert!(
            err.to_string().contains(&format!("scripted {name}")),
            "{err}"
        );
        match &err {
            BedrockError::Upstream { request_id, .. } => assert!(request_id.is_some(), "{name}"),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn scripted_throttle_then_success_and_validation_without_retry() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(base(&emu, "retry"))).await;
    emu.script(&[json!({"error": {"type": "ThrottlingException"}})])
        .unwrap();
    converse(&client, &target).await.unwrap();
    assert_eq!(recorded(&emu, "converse").len(), 2);

    emu.reset();
    emu.script(&[json!({"error": {"type": "ValidationException"}})])
        .unwrap();
    let err = converse(&client, &target).await.unwrap_err();
    assert_eq!(err.http_status(), 400);
    assert_eq!(recorded(&emu, "converse").len(), 1);
}

#[tokio::test]
async fn dropped_connections_are_retried_then_reported() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(base(&emu, "drop"))).await;
    emu.script(&[json!({"drop": true})]).unwrap();
    converse(&client, &target).await.unwrap();
    assert_eq!(recorded(&emu, "converse").len(), 2);

    let target = client
        .target(with_keys(TargetSpec {
            num_retries: Some(0),
            ..base(&emu, "drop-no-retry")
        }))
        .await
        .unwrap();
    emu.script(&[json!({"drop": true})]).unwrap();
    let err = converse(&client, &target).await.unwrap_err();
    assert!(matches!(err, BedrockError::Connect { .. }), "{err:?}");
    assert_eq!(err.http_status(), 502);
}

#[tokio::test]
async fn delayed_answer_hits_the_timeout() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(TargetSpec {
        timeout: Some(Duration::from_millis(200)),
        num_retries: Some(0),
        ..base(&emu, "slow")
    }))
    .await;
    emu.script(&[json!({"delay_ms": 2000})]).unwrap();
    let err = converse(&client, &target).await.unwrap_err();
    assert_eq!(err.http_status(), 504, "{err:?}");
}

async fn stream_items(
    client: &BedrockClient,
    target: &Target,
) -> Vec<Result<shale_bedrock::StreamEvent, BedrockError>> {
    client
        .call_stream(
            target,
            Operation::ConverseStream,
            converse_body(),
            &HeaderMap::new(),
        )
        .await
        .unwrap()
        .collect()
        .await
}

#[tokio::test]
async fn converse_stream_and_broken_streams() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(base(&emu, "stream"))).await;

    let items = stream_items(&client, &target).await;
    let types: Vec<String> = items
        .iter()
        .map(|i| i.as_ref().unwrap().event_type.clone())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("messageStart"));
    assert!(types.iter().any(|t| t == "contentBlockDelta"));
    assert_eq!(types.last().map(String::as_str), Some("metadata"));

    let events = json!([
        {"type": "messageStart", "payload": {"role": "assistant"}},
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}},
        {"type": "contentBlockStop", "payload": {"contentBlockIndex": 0}},
        {"type": "messageStop", "payload": {"stopReason": "end_turn"}}
    ]);
    emu.script(&[json!({"events": events, "cut_after": 2})])
        .unwrap();
    let items = stream_items(&client, &target).await;
    assert_eq!(items.len(), 3);
    assert!(items[..2].iter().all(Result::is_ok));
    // The emulator aborts the chunked body mid-frame: the connection broke off.
    match &items[2] {
        Err(e @ BedrockError::Connect { message, .. }) => {
            assert!(message.contains("broke off"), "{message}");
            assert_eq!(e.http_status(), 502);
        }
        other => panic!("{other:?}"),
    }

    emu.script(&[json!({"events": events, "bad_crc_at": 1})])
        .unwrap();
    let items = stream_items(&client, &target).await;
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    match &items[1] {
        Err(e @ BedrockError::StreamDecode(StreamDecodeError::Malformed(m))) => {
            assert!(m.to_lowercase().contains("checksum"), "{m}");
            assert_eq!(e.http_status(), 502);
        }
        other => panic!("{other:?}"),
    }

    emu.script(&[json!({
        "events": events,
        "exception_after": 1,
        "exception": {"type": "throttlingException", "message": "Too many tokens per minute"}
    })])
    .unwrap();
    let items = stream_items(&client, &target).await;
    assert_eq!(items.len(), 2);
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.kind(), Some(&ErrorKind::Throttling));
    assert_eq!(err.http_status(), 429);
    assert!(err.to_string().contains("Too many tokens per minute"));
}

#[tokio::test]
async fn stream_errors_before_headers_are_retried() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(base(&emu, "stream-retry"))).await;
    emu.script(&[json!({"error": {"type": "ServiceUnavailableException"}})])
        .unwrap();
    let items = stream_items(&client, &target).await;
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(recorded(&emu, "converse-stream").len(), 2);
}

#[tokio::test]
async fn invoke_stream_yields_chunks() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(base(&emu, "invoke-stream"))).await;
    let body = Bytes::from_static(
        br#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"Hi"}]}"#,
    );
    let items: Vec<_> = client
        .call_stream(&target, Operation::InvokeStream, body, &HeaderMap::new())
        .await
        .unwrap()
        .collect()
        .await;
    assert!(!items.is_empty());
    for item in &items {
        let ev = item.as_ref().unwrap();
        assert_eq!(ev.event_type, "chunk");
        let payload: Value = serde_json::from_slice(&ev.payload).unwrap();
        assert!(payload["bytes"].is_string());
    }
}

#[tokio::test]
async fn rerank_and_raw_pass_through_are_sigv4() {
    let emu = emulator().await;
    let (client, target) = connect(with_keys(TargetSpec {
        model_id: "cohere.rerank-v3-5:0".into(),
        region: Some("us-west-2".into()),
        api_key: Some(API_KEY.into()),
        ..base(&emu, "rerank")
    }))
    .await;
    let body = json!({
        "queries": [{"type": "TEXT", "textQuery": {"text": "what is shale"}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "shale is a rock"}}},
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "bedrock is below"}}}
        ],
        "rerankingConfiguration": {"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {
            "numberOfResults": 2,
            "modelConfiguration": {"modelArn": "arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0"}}}
    });
    let answer = client
        .rerank(&target, Bytes::from(body.to_string()))
        .await
        .unwrap();
    let out: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(out["results"].as_array().unwrap().len(), 2, "{out}");
    let rec = recorded(&emu, "rerank").pop().unwrap();
    assert_eq!(rec["auth"], "sigv4");
    assert_eq!(rec["region"], "us-west-2");

    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let response = client
        .raw(
            &target,
            Service::Runtime,
            Method::POST,
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            converse_body(),
            &headers,
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rec = recorded(&emu, "converse").pop().unwrap();
    assert_eq!(rec["auth"], "sigv4");
    assert_eq!(rec["model_id"], CLAUDE);

    let response = client
        .raw(
            &target,
            Service::AgentRuntime,
            Method::POST,
            "/rerank",
            Bytes::from(body.to_string()),
            &headers,
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
