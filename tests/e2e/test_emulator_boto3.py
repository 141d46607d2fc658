"""End-to-end tests of the Bedrock emulator with the real AWS SDK for Python (boto3).

If boto3 can talk to the emulator (signing, paths, event streams, errors), the emulator is
faithful enough for shale's own tests to mean something.
"""

from __future__ import annotations

import base64
import json
import time

import botocore.exceptions
import pytest
from botocore.config import Config

from shale_harness import EXAMPLE_API_KEY, aws_client, http_json

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def user(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def runtime(emulator):
    return aws_client("bedrock-runtime", emulator.url)


def test_info_page_answers_200(emulator):
    status, body = http_json("GET", emulator.url + "/")
    assert status == 200
    assert body["service"] == "shale-emulator"


def test_converse_answers_and_records_the_request(emulator, runtime):
    resp = runtime.converse(
        modelId=CLAUDE,
        messages=[user("Hello emulator, how are you?")],
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 200},
    )
    text = resp["output"]["message"]["content"][0]["text"]
    assert text == f"Hello from the shale emulator (model {CLAUDE}). You said: Hello emulator, how are you?"
    assert resp["stopReason"] == "end_turn"
    usage = resp["usage"]
    assert usage["inputTokens"] > 0 and usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert resp["ResponseMetadata"]["RequestId"]
    rec = emulator.last_request()
    assert rec["operation"] == "converse"
    assert rec["model_id"] == CLAUDE
    assert rec["path"] == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert rec["auth"] == "sigv4"
    assert rec["access_key_id"] == "AKIDEXAMPLE"
    assert rec["region"] == "us-east-1" and rec["service"] == "bedrock"
    assert rec["body"]["messages"][0]["content"][0]["text"].startswith("Hello emulator")
    assert rec["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")


def test_converse_with_an_arn_model_id_verifies_the_double_encoded_signature(emulator, runtime):
    resp = runtime.converse(modelId=ARN, messages=[user("arn please")])
    assert "You said: arn please" in resp["output"]["message"]["content"][0]["text"]
    assert emulator.last_request()["model_id"] == ARN


def test_converse_stream_events_parse(emulator, runtime):
    resp = runtime.converse_stream(modelId=CLAUDE, messages=[user("stream this please")])
    events = list(resp["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-1] == "metadata"
    assert "messageStop" in kinds and "contentBlockStop" in kinds
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text.endswith("You said: stream this please")
    meta = events[-1]["metadata"]
    assert meta["usage"]["outputTokens"] > 0 and "latencyMs" in meta["metrics"]
    assert emulator.last_request()["operation"] == "converse-stream"


def test_converse_stream_tool_use_and_reasoning(runtime):
    resp = runtime.converse_stream(
        modelId=CLAUDE,
        messages=[user("What is the weather in Paris?")],
        toolConfig={"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]},
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    events = list(resp["stream"])
    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert starts[0]["start"]["toolUse"]["name"] == "get_weather"
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                 if "toolUse" in e.get("contentBlockDelta", {}).get("delta", {})]
    assert len(fragments) >= 2
    assert json.loads("".join(fragments)) == {"city": "example"}
    assert any("reasoningContent" in e.get("contentBlockDelta", {}).get("delta", {}) for e in events)
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    assert stop["stopReason"] == "tool_use"


def test_invoke_model_anthropic(emulator, runtime):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": "Say something"}]}
    resp = runtime.invoke_model(modelId=CLAUDE, body=json.dumps(body), contentType="application/json",
                                accept="application/json")
    out = json.loads(resp["body"].read())
    assert out["type"] == "message" and out["role"] == "assistant"
    assert out["content"][0]["text"].endswith("You said: Say something")
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == out["usage"]["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == out["usage"]["output_tokens"]


def test_invoke_model_anthropic_without_max_tokens_is_rejected(runtime):
    body = {"anthropic_version": "bedrock-2023-05-31", "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        runtime.invoke_model(modelId=CLAUDE, body=json.dumps(body))
    assert error_code(exc) == "ValidationException"
    assert "max_tokens" in str(exc.value)


def test_invoke_model_with_response_stream_anthropic(runtime):
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": "Stream natively"}]}
    resp = runtime.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in resp["body"]]
    types = [c["type"] for c in chunks]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text.endswith("You said: Stream natively")
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] > 0 and metrics["inputTokenCount"] > 0


def test_titan_embeddings(runtime):
    resp = runtime.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                                body=json.dumps({"inputText": "hello world", "dimensions": 256, "normalize": True}))
    out = json.loads(resp["body"].read())
    assert len(out["embedding"]) == 256
    assert abs(sum(x * x for x in out["embedding"]) - 1.0) < 1e-3
    assert out["inputTextTokenCount"] > 0
    v1 = json.loads(runtime.invoke_model(modelId="amazon.titan-embed-text-v1",
                                         body=json.dumps({"inputText": "hello world"}))["body"].read())
    assert len(v1["embedding"]) == 1536


def test_cohere_embeddings(runtime):
    body = {"texts": ["one", "two", "three"], "input_type": "search_document"}
    out = json.loads(runtime.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps(body))["body"].read())
    assert out["response_type"] == "embeddings_floats"
    assert [len(e) for e in out["embeddings"]] == [1024, 1024, 1024]
    again = json.loads(runtime.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps(body))["body"].read())
    assert again["embeddings"] == out["embeddings"]


def test_nova_canvas_image(runtime):
    body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse"},
            "imageGenerationConfig": {"numberOfImages": 2, "width": 512, "height": 512, "quality": "standard"}}
    out = json.loads(runtime.invoke_model(modelId="amazon.nova-canvas-v1:0", body=json.dumps(body))["body"].read())
    assert len(out["images"]) == 2
    assert base64.b64decode(out["images"][0]).startswith(PNG_MAGIC)


def test_agent_runtime_rerank(emulator):
    agent = aws_client("bedrock-agent-runtime", emulator.url)
    resp = agent.rerank(
        queries=[{"type": "TEXT", "textQuery": {"text": "capital of France"}}],
        sources=[
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "Bananas are yellow"}}},
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "Paris is the capital of France"}}},
        ],
        rerankingConfiguration={"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {
            "numberOfResults": 2,
            "modelConfiguration": {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/cohere.rerank-v3-5:0"}}},
    )
    assert [r["index"] for r in resp["results"]] == [1, 0]
    assert resp["results"][0]["relevanceScore"] > resp["results"][1]["relevanceScore"]
    assert emulator.last_request()["operation"] == "rerank"


def test_sts_assume_role_credentials_are_accepted(emulator):
    sts = aws_client("sts", emulator.url)
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/shale", RoleSessionName="e2e")["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    runtime = aws_client("bedrock-runtime", emulator.url, aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    runtime.converse(modelId=CLAUDE, messages=[user("with a role")])
    recorded = emulator.requests()
    assert recorded[0]["operation"] == "sts" and recorded[0]["body"]["Action"] == "AssumeRole"
    assert recorded[-1]["access_key_id"] == creds["AccessKeyId"]
    bad_token = aws_client("bedrock-runtime", emulator.url, aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"], aws_session_token="wrong")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad_token.converse(modelId=CLAUDE, messages=[user("x")])
    assert error_code(exc) == "UnrecognizedClientException"


def test_sts_short_lived_credentials_expire(emulator):
    sts = aws_client("sts", emulator.url, config=Config(parameter_validation=False,
                                                         retries={"total_max_attempts": 1}))
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/shale", RoleSessionName="short",
                            DurationSeconds=1)["Credentials"]
    time.sleep(1.5)
    runtime = aws_client("bedrock-runtime", emulator.url, aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        runtime.converse(modelId=CLAUDE, messages=[user("too late")])
    assert error_code(exc) == "ExpiredTokenException"


def test_sts_web_identity(emulator):
    sts = aws_client("sts", emulator.url)
    creds = sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/irsa",
                                              RoleSessionName="pod", WebIdentityToken="eyJhbGciOi.jwt.sig")["Credentials"]
    runtime = aws_client("bedrock-runtime", emulator.url, aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    assert runtime.converse(modelId=CLAUDE, messages=[user("irsa")])["stopReason"] == "end_turn"


def test_bad_secret_raises_invalid_signature(emulator):
    runtime = aws_client("bedrock-runtime", emulator.url, aws_secret_access_key="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        runtime.converse(modelId=CLAUDE, messages=[user("x")])
    assert error_code(exc) == "InvalidSignatureException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert emulator.last_request()["auth"] == "none"


def test_unknown_key_raises_unrecognized_client(emulator):
    runtime = aws_client("bedrock-runtime", emulator.url, aws_access_key_id="AKIDUNKNOWN")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        runtime.converse(modelId=CLAUDE, messages=[user("x")])
    assert error_code(exc) == "UnrecognizedClientException"


def test_scripted_throttling_is_raised_as_such(emulator, runtime):
    emulator.script([{"error": {"type": "ThrottlingException", "message": "Too many requests, slow down."}}])
    with pytest.raises(runtime.exceptions.ThrottlingException) as exc:
        runtime.converse(modelId=CLAUDE, messages=[user("x")])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "slow down" in str(exc.value)
    # The queue is consumed: the next call answers normally.
    assert runtime.converse(modelId=CLAUDE, messages=[user("again")])["stopReason"] == "end_turn"


def test_non_alternating_conversation_is_a_validation_error(runtime):
    with pytest.raises(runtime.exceptions.ValidationException) as exc:
        runtime.converse(modelId=CLAUDE, messages=[user("one"), user("two")])
    assert "alternate" in str(exc.value)


def test_scripted_custom_body_and_operation_filter(emulator, runtime):
    emulator.script([{"operation": "invoke", "body": {"custom": True}},
                     {"body": {"output": {"message": {"role": "assistant", "content": [{"text": "scripted"}]}},
                               "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                               "metrics": {"latencyMs": 1}}}])
    resp = runtime.converse(modelId=CLAUDE, messages=[user("x")])
    assert resp["output"]["message"]["content"][0]["text"] == "scripted"
    out = json.loads(runtime.invoke_model(modelId=CLAUDE, body=b"{}")["body"].read())
    assert out == {"custom": True}


def test_scripted_stream_exception_after_events(emulator, runtime):
    emulator.script([{"exception_after": 2, "exception": {"type": "throttlingException", "message": "slow"}}])
    resp = runtime.converse_stream(modelId=CLAUDE, messages=[user("x")])
    seen = []
    with pytest.raises(botocore.exceptions.EventStreamError) as exc:
        for event in resp["stream"]:
            seen.append(event)
    assert len(seen) == 2
    assert "throttlingException" in str(exc.value)


def test_scripted_custom_events(emulator, runtime):
    emulator.script([{"events": [
        {"type": "messageStart", "payload": {"role": "assistant"}},
        {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "custom"}}},
        {"type": "messageStop", "payload": {"stopReason": "max_tokens"}},
    ]}])
    events = list(runtime.converse_stream(modelId=CLAUDE, messages=[user("x")])["stream"])
    assert events[1]["contentBlockDelta"]["delta"]["text"] == "custom"
    assert events[2]["messageStop"]["stopReason"] == "max_tokens"


def test_scripted_bad_crc_is_detected(emulator, runtime):
    emulator.script([{"bad_crc_at": 1}])
    resp = runtime.converse_stream(modelId=CLAUDE, messages=[user("x")])
    with pytest.raises(Exception) as exc:
        list(resp["stream"])
    assert "checksum" in type(exc.value).__name__.lower() or "crc" in str(exc.value).lower() \
        or "checksum" in str(exc.value).lower()


def test_scripted_cut_mid_frame_breaks_the_stream(emulator, runtime):
    emulator.script([{"cut_after": 2}])
    resp = runtime.converse_stream(modelId=CLAUDE, messages=[user("x")])
    seen = []
    with pytest.raises(Exception):
        for event in resp["stream"]:
            seen.append(event)
    assert len(seen) == 2


def test_scripted_drop_closes_the_connection(emulator, runtime):
    emulator.script([{"drop": True}])
    with pytest.raises(botocore.exceptions.BotoCoreError):
        runtime.converse(modelId=CLAUDE, messages=[user("x")])
    assert runtime.converse(modelId=CLAUDE, messages=[user("after")])["stopReason"] == "end_turn"


def test_scripted_delay(emulator, runtime):
    emulator.script([{"delay_ms": 300}])
    start = time.monotonic()
    runtime.converse(modelId=CLAUDE, messages=[user("x")])
    assert time.monotonic() - start >= 0.3


def test_bearer_api_key_on_runtime_only(emulator):
    headers = {"Authorization": f"Bearer {EXAMPLE_API_KEY}"}
    status, body = http_json("POST", f"{emulator.url}/model/{CLAUDE}/converse",
                             {"messages": [user("bearer")]}, headers)
    assert status == 200, body
    assert emulator.last_request()["auth"] == "bearer"
    status, _ = http_json("POST", f"{emulator.url}/model/{CLAUDE}/converse",
                          {"messages": [user("bearer")]}, {"Authorization": "Bearer wrong"})
    assert status == 403
    status, _ = http_json("POST", f"{emulator.url}/rerank", {"queries": []}, headers)
    assert status == 403


def test_count_tokens(runtime):
    assert hasattr(runtime, "count_tokens"), "botocore too old for CountTokens (tests/requirements.txt: boto3>=1.40)"
    resp = runtime.count_tokens(modelId=CLAUDE, input={"converse": {"messages": [user("count me please")]}})
    assert resp["inputTokens"] > 0


def test_scripted_invoke_stream_chunks(emulator, runtime):
    emulator.script([{"operation": "invoke-with-response-stream",
                      "chunks": [{"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
                                 {"type": "message_stop"}]}])
    resp = runtime.invoke_model_with_response_stream(modelId=CLAUDE, body=b"{}")
    chunks = [json.loads(e["chunk"]["bytes"]) for e in resp["body"]]
    assert [c["type"] for c in chunks] == ["message_start", "message_stop"]


def test_unknown_model_and_mismatched_image_are_rejected(runtime):
    with pytest.raises(runtime.exceptions.ValidationException) as exc:
        runtime.converse(modelId="acme.unknown-model-v1", messages=[user("x")])
    assert "model identifier is invalid" in str(exc.value)
    not_a_png = b"GIF89a-but-declared-png"
    with pytest.raises(runtime.exceptions.ValidationException):
        runtime.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [
            {"image": {"format": "png", "source": {"bytes": not_a_png}}}, {"text": "what is this"}]}])


def test_apply_guardrail(emulator, runtime):
    resp = runtime.apply_guardrail(guardrailIdentifier="shaledemo", guardrailVersion="1", source="INPUT",
                                   content=[{"text": {"text": "hello"}}])
    assert resp["action"] == "NONE"
    assert emulator.last_request()["operation"] == "apply-guardrail"
    # The built-in demo guardrail, read through botocore's model of the answer.
    masked = runtime.apply_guardrail(guardrailIdentifier="shaledemo", guardrailVersion="DRAFT", source="INPUT",
                                     content=[{"text": {"text": "mail jane@example.com"}}])
    assert masked["action"] == "GUARDRAIL_INTERVENED"
    assert masked["outputs"] == [{"text": "mail {EMAIL}"}]
    pii = masked["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"][0]
    assert (pii["type"], pii["action"]) == ("EMAIL", "ANONYMIZED")
    assert masked["usage"]["sensitiveInformationPolicyFreeUnits"] == 1
    blocked = runtime.apply_guardrail(guardrailIdentifier="shaledemo", guardrailVersion="1", source="OUTPUT",
                                      content=[{"text": {"text": "buy crypto"}}])
    assert blocked["assessments"][0]["topicPolicy"]["topics"][0]["action"] == "BLOCKED"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        runtime.apply_guardrail(guardrailIdentifier="nosuchguardrail", guardrailVersion="1", source="INPUT",
                                content=[{"text": {"text": "x"}}])
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
