"""The Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`) end to end, with the
official `anthropic` Python SDK as the client and the Bedrock emulator as the upstream: Claude
models go native through InvokeModel, other models through Converse."""

from __future__ import annotations

import base64
import json

import subprocess

import anthropic
import httpx
import pytest

from shale_harness import (
    GATEWAY_KEY,
    SHALE_BIN,
    deployment,
    stack_fixture,
)

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLAUDE_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            deployment("claude", "bedrock/" + CLAUDE_ID, emu_url),
            deployment("claude-converse-prefix", "bedrock/converse/anthropic.claude-3-5-haiku-20241022-v1:0", emu_url),
            deployment("claude-noretry", "bedrock/" + CLAUDE_ID, emu_url, max_retries=0),
            deployment(
                "claude-guarded",
                "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
                emu_url,
                max_tokens=77,
                guardrailConfig={"guardrailIdentifier": "gr-1", "guardrailVersion": "2"},
            ),
            deployment("nova", "bedrock/amazon.nova-pro-v1:0", emu_url),
        ],
        "general_settings": {
            "master_key": GATEWAY_KEY,
            "max_request_body_bytes": 200_000,
            "anthropic_beta": {"deny": ["context-1m-2025-08-07"], "allow": ["shale-test-flag-2026-01-01"]},
        },
    }


stack = stack_fixture(gateway_config)


@pytest.fixture
def client(stack):
    return anthropic.Anthropic(base_url=stack.url, api_key=GATEWAY_KEY, max_retries=0)


def model_requests(emulator):
    return [r for r in emulator.requests() if r["path"].startswith("/model/")]


def last_model_request(emulator):
    reqs = model_requests(emulator)
    assert reqs, "no model request reached the emulator"
    return reqs[-1]


# --- Claude: native InvokeModel ---------------------------------------------------------------


def test_create_goes_native_and_cleans_the_body(client, emulator):
    msg = client.messages.create(
        model="claude",
        max_tokens=64,
        system="Be terse.",
        messages=[{"role": "user", "content": "Hello native"}],
        metadata={"user_id": "user-123"},
        extra_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert "Hello native" in msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    req = last_model_request(emulator)
    assert req["path"].endswith("/invoke")
    body = req["body"]
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert "metadata" not in body and "model" not in body and "stream" not in body
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]
    assert body["system"] == "Be terse." and body["max_tokens"] == 64


def test_beta_policy_from_config(client, emulator):
    client.messages.create(
        model="claude",
        max_tokens=8,
        messages=[{"role": "user", "content": "betas"}],
        extra_headers={"anthropic-beta": "context-1m-2025-08-07,effort-2025-11-24,made-up-2099-01-01"},
    )
    assert last_model_request(emulator)["body"]["anthropic_beta"] == ["effort-2025-11-24"]
    # An operator-allowed flag goes through even though shale's table does not know it (the
    # emulator, like Bedrock, would refuse a flag it does not know, so this answer is scripted).
    emulator.script([{"operation": "invoke", "body": {"type": "message", "role": "assistant", "id": "msg_x",
                      "model": "claude", "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                      "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}}])
    client.messages.create(
        model="claude", max_tokens=8, messages=[{"role": "user", "content": "betas"}],
        extra_headers={"anthropic-beta": "shale-test-flag-2026-01-01"},
    )
    assert last_model_request(emulator)["body"]["anthropic_beta"] == ["shale-test-flag-2026-01-01"]


def test_claude_goes_native_whatever_the_route_prefix(client, emulator):
    msg = client.messages.create(
        model="claude-converse-prefix", max_tokens=32, messages=[{"role": "user", "content": "prefix?"}]
    )
    assert msg.content[0].type == "text"
    assert last_model_request(emulator)["path"].endswith("/invoke")


def test_deployment_defaults_become_body_and_headers(stack, client, emulator):
    client.messages.create(model="claude-guarded", messages=[{"role": "user", "content": "hi"}], max_tokens=10)
    req = last_model_request(emulator)
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["x-amzn-bedrock-guardrailidentifier"] == "gr-1"
    assert headers["x-amzn-bedrock-guardrailversion"] == "2"
    assert req["body"]["max_tokens"] == 10  # the request's own value wins
    assert "guardrailConfig" not in req["body"]
    # without max_tokens in the request the deployment default applies
    httpx.post(
        stack.url + "/v1/messages",
        headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"},
        json={"model": "claude-guarded", "messages": [{"role": "user", "content": "hi"}]},
    ).raise_for_status()
    assert last_model_request(emulator)["body"]["max_tokens"] == 77


def test_stream_text_and_final_message(client, emulator):
    with client.messages.stream(
        model="claude", max_tokens=64, messages=[{"role": "user", "content": "Stream to me"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "Stream to me" in text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    assert last_model_request(emulator)["path"].endswith("/invoke-with-response-stream")


def test_raw_stream_is_anthropic_sse_without_bedrock_metrics(stack, emulator):
    with httpx.stream(
        "POST",
        stack.url + "/v1/messages",
        headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"},
        json={"model": "claude", "max_tokens": 32, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = [line[len("event: "):] for line in raw.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(events)
    assert "amazon-bedrock-invocationMetrics" not in raw
    for block in raw.strip().split("\n\n"):
        event, data = block.split("\n", 1)
        assert json.loads(data[len("data: "):])["type"] == event[len("event: "):]


def test_tools_round_trip(client, emulator):
    first = client.messages.create(
        model="claude",
        max_tokens=256,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and "city" in call.input
    second = client.messages.create(
        model="claude",
        max_tokens=256,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "Received 1 tool result" in second.content[0].text
    sent = last_model_request(emulator)["body"]
    assert sent["tools"] == [WEATHER]


def test_streamed_tool_use_arrives_whole(client, emulator):
    with client.messages.stream(
        model="claude", max_tokens=256, tools=[WEATHER], tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    ) as stream:
        final = stream.get_final_message()
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input


def test_image_passes_untouched(client, emulator):
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}}
    msg = client.messages.create(
        model="claude",
        max_tokens=64,
        messages=[{"role": "user", "content": [block, {"type": "text", "text": "What is this?"}]}],
    )
    assert msg.content[0].text
    assert last_model_request(emulator)["body"]["messages"][0]["content"][0] == block


def test_thinking_signatures_round_trip(client, emulator):
    kwargs = dict(model="claude", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024}, tools=[WEATHER])
    first = client.messages.create(messages=[{"role": "user", "content": "Weather in Rome?"}], **kwargs)
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    call = next(b for b in first.content if b.type == "tool_use")
    # The emulator, like Bedrock, refuses a thinking block whose signature does not verify.
    second = client.messages.create(
        messages=[
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Rainy"}]},
        ],
        **kwargs,
    )
    assert any(b.type == "text" for b in second.content)
    forged = [b.model_dump() for b in first.content]
    forged[0]["signature"] = "forged"
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(
            messages=[
                {"role": "user", "content": "Weather in Rome?"},
                {"role": "assistant", "content": forged},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Rainy"}]},
            ],
            **kwargs,
        )
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert "signature" in err.value.body["error"]["message"]


def test_streamed_thinking_has_signature(client, emulator):
    with client.messages.stream(
        model="claude", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Think first"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature


def test_cache_control_usage_fields(client, emulator):
    system = [{"type": "text", "text": "You are a careful assistant. " * 60, "cache_control": {"type": "ephemeral"}}]
    args = dict(model="claude", max_tokens=32, system=system, messages=[{"role": "user", "content": "cached?"}])
    first = client.messages.create(**args)
    second = client.messages.create(**args)
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert last_model_request(emulator)["body"]["system"] == system


def test_count_tokens_counts_tools_and_system(client, emulator):
    messages = [{"role": "user", "content": "How many tokens is this?"}]
    plain = client.messages.count_tokens(model="claude", messages=messages)
    with_tools = client.messages.count_tokens(model="claude", messages=messages, tools=[WEATHER], system="Be brief.")
    assert plain.input_tokens > 0
    assert with_tools.input_tokens > plain.input_tokens
    req = last_model_request(emulator)
    assert req["path"].endswith("/count-tokens")
    inner = json.loads(base64.b64decode(req["body"]["input"]["invokeModel"]["body"]))
    assert inner["tools"] == [WEATHER] and inner["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in inner


# --- errors in Anthropic's shape ---------------------------------------------------------------


def assert_error(exc, status, kind):
    assert exc.status_code == status
    assert exc.body["type"] == "error"
    assert exc.body["error"]["type"] == kind
    assert exc.body["error"]["message"]


def test_401_without_or_with_a_wrong_key(stack):
    bad = anthropic.Anthropic(base_url=stack.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as err:
        bad.messages.create(model="claude", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert_error(err.value, 401, "authentication_error")
    r = httpx.post(stack.url + "/v1/messages/count_tokens", json={"model": "claude", "messages": []})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_bearer_token_is_accepted(stack, emulator):
    c = anthropic.Anthropic(base_url=stack.url, auth_token=GATEWAY_KEY, api_key=None, max_retries=0)
    assert c.messages.create(model="claude", max_tokens=8, messages=[{"role": "user", "content": "hi"}]).content


def test_413_body_too_large(client):
    with pytest.raises(anthropic.APIStatusError) as err:
        client.messages.create(model="claude", max_tokens=8, messages=[{"role": "user", "content": "x" * 300_000}])
    assert_error(err.value, 413, "request_too_large")


def test_404_unknown_model(client):
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert_error(err.value, 404, "not_found_error")


def test_400_from_bedrock_validation(client, emulator):
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="claude", max_tokens=8, messages=[{"role": "assistant", "content": "hi"}])
    assert_error(err.value, 400, "invalid_request_error")
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="claude", max_tokens=8, messages="not a list")
    assert_error(err.value, 400, "invalid_request_error")


@pytest.mark.parametrize(
    "exception, status, kind, sdk_error",
    [
        ("ThrottlingException", 429, "rate_limit_error", anthropic.RateLimitError),
        ("ServiceUnavailableException", 503, "overloaded_error", anthropic.InternalServerError),
        ("InternalServerException", 500, "api_error", anthropic.InternalServerError),
        ("AccessDeniedException", 403, "permission_error", anthropic.PermissionDeniedError),
    ],
)
def test_bedrock_errors(client, emulator, exception, status, kind, sdk_error):
    emulator.script([{"operation": "invoke", "error": {"type": exception}}])
    with pytest.raises(sdk_error) as err:
        client.messages.create(model="claude-noretry", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert_error(err.value, status, kind)


def test_midstream_exception_becomes_an_error_event(stack, emulator):
    emulator.script([{"operation": "invoke-with-response-stream", "exception_after": 2,
                      "exception": {"type": "throttlingException", "message": "slow down"}}])
    with httpx.stream(
        "POST",
        stack.url + "/v1/messages",
        headers={"x-api-key": GATEWAY_KEY},
        json={"model": "claude", "max_tokens": 32, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        raw = r.read().decode()
    assert "event: message_start" in raw
    last = raw.strip().split("\n\n")[-1]
    assert last.startswith("event: error\n")
    err = json.loads(last.split("data: ", 1)[1])
    assert err == {"type": "error", "error": {"type": "rate_limit_error", "message": err["error"]["message"]}}
    assert "slow down" in err["error"]["message"]


# --- other models: Converse --------------------------------------------------------------------


def test_nova_via_converse(client, emulator):
    msg = client.messages.create(
        model="nova",
        max_tokens=64,
        system="Be terse.",
        stop_sequences=["STOP"],
        extra_body={"temperature": 0.2},
        metadata={"user_id": "u"},
        messages=[{"role": "user", "content": "Hello Nova"}],
    )
    assert msg.model == "nova" and msg.id.startswith("msg_")
    assert "Hello Nova" in msg.content[0].text
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens > 0
    req = last_model_request(emulator)
    assert req["path"].endswith("/converse")
    body = req["body"]
    assert body["system"] == [{"text": "Be terse."}]
    assert body["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.2, "stopSequences": ["STOP"]}
    assert "metadata" not in json.dumps(body)


def test_nova_streaming_via_converse(client, emulator):
    with client.messages.stream(
        model="nova", max_tokens=64, messages=[{"role": "user", "content": "Stream Nova"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "Stream Nova" in text and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert last_model_request(emulator)["path"].endswith("/converse-stream")


def test_nova_tools_and_image_via_converse(client, emulator):
    first = client.messages.create(
        model="nova",
        max_tokens=256,
        tools=[WEATHER],
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}},
            {"type": "text", "text": "Weather where this was taken?"},
        ]}],
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    sent = last_model_request(emulator)["body"]
    assert sent["messages"][0]["content"][0]["image"]["format"] == "png"
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    second = client.messages.create(
        model="nova",
        max_tokens=256,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}]},
        ],
    )
    assert "Received 1 tool result" in second.content[0].text
    result = last_model_request(emulator)["body"]["messages"][2]["content"][0]["toolResult"]
    assert result["content"] == [{"text": "Sunny"}]


def test_routes_bare_and_anthropic_prefix(stack, emulator):
    for base in (stack.url, stack.url + "/anthropic"):
        c = anthropic.Anthropic(base_url=base, api_key=GATEWAY_KEY, max_retries=0)
        assert c.messages.create(model="claude", max_tokens=8, messages=[{"role": "user", "content": "hi"}]).content
    r = httpx.post(
        stack.url + "/messages",
        headers={"x-api-key": GATEWAY_KEY},
        json={"model": "claude", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200 and r.json()["type"] == "message"


def test_shale_check_reports_the_beta_policy(tmp_path):
    cfg = tmp_path / "config.yaml"
    base = "model_list:\n  - model_name: c\n    litellm_params: {model: bedrock/anthropic.claude-3-haiku-20240307-v1:0}\n"
    cfg.write_text(base + "general_settings:\n  anthropic_beta: {allow: [new-flag-2026-01-01], deny: [context-1m-2025-08-07]}\n")
    out = subprocess.run([SHALE_BIN, "check", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert ("anthropic-beta (/v1/messages → Bedrock): flags of the built-in Bedrock table are forwarded, "
            "plus new-flag-2026-01-01, never context-1m-2025-08-07; other flags are dropped") in out.stdout
    cfg.write_text(base + "general_settings:\n  anthropic_beta: {alow: [x]}\n")
    out = subprocess.run([SHALE_BIN, "check", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "general_settings.anthropic_beta.alow" in out.stderr
