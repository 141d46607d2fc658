"""End-to-end tests of the Bedrock pass-through (`/bedrock/{path}`): boto3 pointed at
`http://gateway/bedrock` with the gateway key in `x-api-key`, the real `shale` binary re-signing
with its deployments' credentials, and the Bedrock emulator behind it.
"""

from __future__ import annotations

import json
import struct
import time
import zlib

import boto3
import botocore.exceptions
import pytest
import requests
from botocore.config import Config

from shale_harness import EXAMPLE_ACCESS_KEY_ID, EXAMPLE_API_KEY, REGION, start_emulator, stop_process
from test_embeddings_images_rerank import deployment, start_gateway

KEY = "sk-e2e-passthrough"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
CLAUDE_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
GUARDRAIL = {"guardrailIdentifier": "gr-default", "guardrailVersion": "3", "trace": "enabled"}
ANTHROPIC_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def user(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


def model_list(emulator_url: str) -> list[dict]:
    return [
        # First in the list but bearer-only: never the default signer for non-model paths.
        deployment(
            "llama-bearer",
            "bedrock/meta.llama3-1-70b-instruct-v1:0",
            emulator_url,
            aws_access_key_id=None,
            aws_secret_access_key=None,
            api_key=EXAMPLE_API_KEY,
        ),
        deployment("claude", "bedrock/" + CLAUDE, emulator_url),
        deployment("claude:latest", "bedrock/" + CLAUDE, emulator_url),
        deployment("claude-arn", "bedrock/" + CLAUDE, emulator_url, model_id=ARN),
        deployment("claude-guarded", "bedrock/" + CLAUDE, emulator_url, guardrailConfig=GUARDRAIL),
    ]


@pytest.fixture(scope="module")
def gateway_url(emulator_url, tmp_path_factory):
    config = {"model_list": model_list(emulator_url), "general_settings": {"master_key": KEY}}
    proc, url = start_gateway(config, tmp_path_factory.mktemp("gw") / "config.yaml")
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def open_gateway_url(emulator_url, tmp_path_factory):
    """A gateway that forwards model ids it does not know."""
    config = {
        "model_list": model_list(emulator_url),
        "general_settings": {"master_key": KEY, "pass_through_unknown_models": True},
    }
    proc, url = start_gateway(config, tmp_path_factory.mktemp("gw-open") / "config.yaml")
    try:
        yield url
    finally:
        stop_process(proc)


def sdk_client(service: str, gateway: str, key: str | None = KEY):
    """A boto3 client aimed at the gateway's pass-through, signing with throwaway credentials
    (the gateway ignores them) and sending the gateway key in `x-api-key`."""
    client = boto3.client(
        service,
        endpoint_url=gateway + "/bedrock",
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )
    if key is not None:
        client.meta.events.register(
            f"before-send.{client.meta.service_model.endpoint_prefix}.*",
            lambda request, **kw: request.headers.__setitem__("x-api-key", key),
        )
    return client


@pytest.fixture
def runtime(gateway_url, emulator):
    return sdk_client("bedrock-runtime", gateway_url)


def assert_resigned_by_gateway(recorded: dict) -> None:
    """The request reached Bedrock signed with the deployment's keys, without the client's
    signature or the gateway key."""
    headers = recorded["headers"]
    assert recorded["auth"] == "sigv4"
    assert f"Credential={EXAMPLE_ACCESS_KEY_ID}/" in headers["authorization"]
    assert "x-api-key" not in headers and "x-litellm-api-key" not in headers
    assert KEY not in json.dumps(headers)


# --- event-stream frames, read by hand to see the exact bytes ------------------------------


def frames(raw: bytes) -> list[dict]:
    """Splits an event stream into frames: headers, payload and whether both CRCs hold."""
    out, pos = [], 0
    while pos < len(raw):
        total, headers_len, prelude_crc = struct.unpack(">III", raw[pos : pos + 12])
        frame = raw[pos : pos + total]
        assert len(frame) == total, "truncated frame"
        (message_crc,) = struct.unpack(">I", frame[-4:])
        headers, hpos = {}, 12
        while hpos < 12 + headers_len:
            name_len = frame[hpos]
            name = frame[hpos + 1 : hpos + 1 + name_len].decode()
            hpos += 1 + name_len
            assert frame[hpos] == 7, "string header expected"
            (value_len,) = struct.unpack(">H", frame[hpos + 1 : hpos + 3])
            headers[name] = frame[hpos + 3 : hpos + 3 + value_len].decode()
            hpos += 3 + value_len
        out.append(
            {
                "headers": headers,
                "payload": frame[12 + headers_len : -4],
                "crc_ok": zlib.crc32(frame[:8]) == prelude_crc and zlib.crc32(frame[:-4]) == message_crc,
            }
        )
        pos += total
    return out


def raw_post(gateway: str, path: str, body: dict, **kwargs) -> requests.Response:
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    return requests.post(gateway + "/bedrock" + path, data=json.dumps(body), headers=headers, timeout=30, **kwargs)


# --- bedrock-runtime ------------------------------------------------------------------------


def test_converse_by_model_name(runtime, emulator):
    out = runtime.converse(modelId="claude", messages=[user("hi")])
    assert out["output"]["message"]["content"][0]["text"].endswith("You said: hi")
    assert out["usage"]["totalTokens"] > 0
    recorded = emulator.last_request()
    assert recorded["path"] == CLAUDE_PATH + "/converse"
    assert recorded["model_id"] == CLAUDE
    assert recorded["body"] == {"messages": [user("hi")]}
    assert_resigned_by_gateway(recorded)


def test_converse_stream(runtime, emulator):
    out = runtime.converse_stream(modelId="claude", messages=[user("stream me")])
    events = list(out["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text.endswith("You said: stream me")
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0
    assert emulator.last_request()["path"] == CLAUDE_PATH + "/converse-stream"


def test_event_streams_are_relayed_byte_for_byte(gateway_url, emulator):
    # A frame with a corrupted CRC arrives corrupted: shale relays bytes, it does not re-encode.
    emulator.script([{"operation": "converse-stream", "bad_crc_at": 1}])
    resp = raw_post(gateway_url, "/model/claude/converse-stream", {"messages": [user("hi")]})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert resp.headers["x-amzn-requestid"]
    got = frames(resp.content)
    assert [f["crc_ok"] for f in got[:3]] == [True, False, True]
    assert got[0]["headers"][":event-type"] == "messageStart"

    resp = raw_post(gateway_url, "/model/claude/converse-stream", {"messages": [user("hi")]})
    got = frames(resp.content)
    assert all(f["crc_ok"] for f in got)
    assert [f["headers"][":event-type"] for f in got][-2:] == ["messageStop", "metadata"]


def test_invoke_model(runtime, emulator):
    out = runtime.invoke_model(modelId="claude", body=json.dumps(ANTHROPIC_BODY))
    body = json.loads(out["body"].read())
    assert body["content"][0]["text"].endswith("You said: hi")
    assert out["contentType"] == "application/json"
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == body["usage"]["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == body["usage"]["output_tokens"]
    recorded = emulator.last_request()
    assert recorded["path"] == CLAUDE_PATH + "/invoke"
    assert recorded["body"] == ANTHROPIC_BODY
    assert_resigned_by_gateway(recorded)


def test_invoke_model_with_response_stream(runtime, emulator):
    out = runtime.invoke_model_with_response_stream(modelId="claude", body=json.dumps(ANTHROPIC_BODY))
    assert out["contentType"] == "application/json"
    chunks = [json.loads(e["chunk"]["bytes"]) for e in out["body"]]
    assert chunks[0]["type"] == "message_start" and chunks[-1]["type"] == "message_stop"
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text.endswith("You said: hi")
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] > 0
    assert emulator.last_request()["path"] == CLAUDE_PATH + "/invoke-with-response-stream"


def test_count_tokens(runtime, emulator):
    out = runtime.count_tokens(modelId="claude", input={"converse": {"messages": [user("count these words")]}})
    assert out["inputTokens"] > 0
    assert emulator.last_request()["path"] == CLAUDE_PATH + "/count-tokens"


def test_bedrock_errors_are_relayed(runtime, emulator):
    emulator.script([{"operation": "converse", "error": {"type": "ValidationException", "message": "Bad input, friend."}}])
    with pytest.raises(botocore.exceptions.ClientError) as err:
        runtime.converse(modelId="claude", messages=[user("hi")])
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == "Bad input, friend."
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_model_name_with_colon_is_percent_decoded(runtime, emulator):
    # boto3 sends `claude%3Alatest`.
    runtime.converse(modelId="claude:latest", messages=[user("hi")])
    assert emulator.last_request()["path"] == CLAUDE_PATH + "/converse"


def test_deployment_arn_is_re_encoded(runtime, emulator):
    runtime.converse(modelId="claude-arn", messages=[user("hi")])
    recorded = emulator.last_request()
    assert recorded["path"] == (
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/converse"
    )
    assert recorded["model_id"] == ARN


def test_default_guardrail_is_applied(runtime, emulator):
    runtime.converse(modelId="claude-guarded", messages=[user("hi")])
    assert emulator.last_request()["body"]["guardrailConfig"] == GUARDRAIL

    own = {"guardrailIdentifier": "gr-mine", "guardrailVersion": "DRAFT"}
    runtime.converse(modelId="claude-guarded", messages=[user("hi")], guardrailConfig=own)
    assert emulator.last_request()["body"]["guardrailConfig"] == own

    runtime.invoke_model(modelId="claude-guarded", body=json.dumps(ANTHROPIC_BODY))
    headers = emulator.last_request()["headers"]
    assert headers["x-amzn-bedrock-guardrailidentifier"] == "gr-default"
    assert headers["x-amzn-bedrock-guardrailversion"] == "3"
    assert headers["x-amzn-bedrock-trace"] == "ENABLED"


def test_unknown_model_is_refused(runtime, emulator):
    with pytest.raises(botocore.exceptions.ClientError) as err:
        runtime.converse(modelId=CLAUDE, messages=[user("hi")])
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert emulator.requests() == []


def test_unknown_model_is_forwarded_when_enabled(open_gateway_url, emulator):
    client = sdk_client("bedrock-runtime", open_gateway_url)
    out = client.converse(modelId=CLAUDE, messages=[user("hi")])
    assert out["output"]["message"]["content"][0]["text"].endswith("You said: hi")
    recorded = emulator.last_request()
    assert recorded["path"] == CLAUDE_PATH + "/converse"
    # Signed by the first deployment with AWS keys (the bearer-only one is skipped).
    assert_resigned_by_gateway(recorded)


def test_bearer_only_deployment_cannot_sign(gateway_url, emulator):
    # The pass-through always re-signs with SigV4; a deployment with only a Bedrock API key (and
    # no AWS credentials anywhere) gets a clear 400 instead of a confusing 403 from AWS.
    resp = raw_post(gateway_url, "/model/llama-bearer/converse", {"messages": [user("hi")]})
    assert resp.status_code == 400, resp.text
    message = resp.json()["error"]["message"]
    assert "SigV4" in message and "pass-through" in message
    assert emulator.requests() == []


def test_gateway_key_is_required(gateway_url, emulator):
    for key in (None, "sk-wrong"):
        client = sdk_client("bedrock-runtime", gateway_url, key=key)
        with pytest.raises(botocore.exceptions.ClientError) as err:
            client.converse(modelId="claude", messages=[user("hi")])
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401, key
    resp = requests.post(gateway_url + "/bedrock/model/claude/converse", json={"messages": [user("hi")]}, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"
    assert emulator.requests() == []


def test_unknown_paths_are_404(gateway_url, emulator):
    resp = raw_post(gateway_url, "/model/claude/explode", {})
    assert resp.status_code == 404
    resp = requests.get(gateway_url + "/bedrock/foundation-models", headers={"x-api-key": KEY}, timeout=10)
    assert resp.status_code == 404
    assert emulator.requests() == []


# --- bedrock-agent-runtime ------------------------------------------------------------------


def test_agent_runtime_rerank(gateway_url, emulator):
    client = sdk_client("bedrock-agent-runtime", gateway_url)
    out = client.rerank(
        queries=[{"type": "TEXT", "textQuery": {"text": "capital of France"}}],
        sources=[
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": t}}}
            for t in ["Berlin is in Germany", "Paris is the capital of France"]
        ],
        rerankingConfiguration={
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": 1,
                "modelConfiguration": {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/cohere.rerank-v3-5:0"},
            },
        },
    )
    assert [r["index"] for r in out["results"]] == [1]
    recorded = emulator.last_request()
    assert recorded["operation"] == "rerank" and recorded["path"] == "/rerank"
    assert_resigned_by_gateway(recorded)


def test_named_deployment_header_must_be_a_model_name(gateway_url, emulator):
    resp = requests.post(
        gateway_url + "/bedrock/rerank",
        data="{}",
        headers={"x-api-key": KEY, "x-shale-deployment": "nope"},
        timeout=10,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "model_not_found"
    assert emulator.requests() == []


# --- streaming without buffering ------------------------------------------------------------


def test_stream_frames_arrive_as_bedrock_sends_them(tmp_path):
    delay = 0.25
    emu_proc, emu_url = start_emulator("--stream-delay-ms", str(int(delay * 1000)))
    gw_proc = None
    try:
        gw_proc, gw_url = start_gateway(
            {"model_list": [deployment("claude", "bedrock/" + CLAUDE, emu_url)], "general_settings": {"master_key": KEY}},
            tmp_path / "config.yaml",
        )
        started = time.monotonic()
        resp = raw_post(gw_url, "/model/claude/converse-stream", {"messages": [user("hi")]}, stream=True)
        arrivals = []
        for chunk in resp.iter_content(chunk_size=None):
            if chunk:
                arrivals.append(time.monotonic() - started)
        total = arrivals[-1]
        # 7 frames, a pause before each: a buffering gateway would deliver everything at the end.
        assert total >= 5 * delay
        assert arrivals[0] < total - 3 * delay, arrivals
        assert len(arrivals) >= 4, arrivals
    finally:
        if gw_proc is not None:
            stop_process(gw_proc)
        stop_process(emu_proc)
