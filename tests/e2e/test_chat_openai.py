"""Chat completions end to end: the official OpenAI Python SDK → shale → the Bedrock emulator.

Covers plain and streamed answers, tools, vision, documents, reasoning, structured output, the
mapping of Bedrock errors onto the SDK's exception classes, retries, and a mid-stream exception.
"""

from __future__ import annotations

import base64
import json

import openai
import pytest

from shale_harness import (
    GATEWAY_KEY,
    deployment,
    stack_fixture,
)

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
    )
).decode()


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            deployment("claude", "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", emu_url),
            deployment("nova", "bedrock/converse/us.amazon.nova-pro-v1:0", emu_url),
            deployment("llama-bearer", "bedrock/meta.llama3-1-70b-instruct-v1:0", emu_url,
                       api_key="bedrock-api-key-EXAMPLE", aws_access_key_id=None, aws_secret_access_key=None),
            deployment("claude-no-retry", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", emu_url, num_retries=0),
            deployment("claude-guarded", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", emu_url,
                       guardrailConfig={"guardrailIdentifier": "gr-1", "guardrailVersion": "DRAFT"}, top_k=5),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
    }


stack = stack_fixture(gateway_config)


@pytest.fixture
def client(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


def test_plain_chat(client, emulator):
    r = client.chat.completions.create(
        model="nova",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        max_tokens=50,
        temperature=0.2,
    )
    assert r.model == "nova"
    assert r.id.startswith("chatcmpl-")
    assert r.choices[0].finish_reason == "stop"
    assert "What is the capital of France?" in r.choices[0].message.content
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0
    sent = emulator.last_body()
    assert sent["system"] == [{"text": "Be brief."}]
    assert sent["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2}
    req = emulator.requests()[-1]
    assert req["auth"] == "sigv4" and req["path"].endswith("/converse")
    assert req["model_id"] == "us.amazon.nova-pro-v1:0"


def test_streaming_matches_non_streaming(client, emulator):
    messages = [{"role": "user", "content": "Tell me something"}]
    full = client.chat.completions.create(model="claude", messages=messages).choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            model="claude", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1
    last = emulator.requests()[-1]
    assert last["path"].endswith("/converse-stream")
    assert "stream_options" not in json.dumps(last["body"])


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["location"],
        },
    },
}


def test_tools_round_trip(client, emulator):
    messages = [{"role": "user", "content": "What's the weather like in Boston today?"}]
    r = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto")
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_current_weather"
    assert isinstance(json.loads(call.function.arguments), dict)
    sent = emulator.last_body()
    assert sent["toolConfig"]["toolChoice"] == {"auto": {}}
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_current_weather"

    # Send the tool result back: one user turn with a toolResult block.
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    r2 = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL])
    assert r2.choices[0].message is not None
    sent = emulator.last_body()
    assert sent["messages"][1]["content"][-1]["toolUse"]["toolUseId"] == call.id
    result = sent["messages"][2]["content"][0]["toolResult"]
    assert result["toolUseId"] == call.id


def test_streamed_tool_calls_use_running_index(client):
    stream = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_current_weather"}},
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"name": "", "args": ""})
            if tc.function.name:
                entry["name"] = tc.function.name
            entry["args"] += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_current_weather"
    assert isinstance(json.loads(calls[0]["args"]), dict)


def test_vision_data_url(client, emulator):
    r = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "Whats in this image?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_1PX}},
        ]}],
    )
    assert r.choices[0].message.content
    block = emulator.last_body()["messages"][0]["content"][1]["image"]
    assert block["format"] == "png"
    assert block["source"]["bytes"] == PNG_1PX


def test_pdf_document(client, emulator):
    pdf = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()
    client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What's this file about?"},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64," + pdf}},
        ]}],
    )
    doc = emulator.last_body()["messages"][0]["content"][1]["document"]
    assert doc["format"] == "pdf" and doc["source"]["bytes"] == pdf and doc["name"]


def test_bad_image_is_400_naming_field(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@not-base64"}},
            ]}],
        )
    assert err.value.status_code == 400
    assert "messages[0].content[0]" in (err.value.body.get("param") or "")


def test_reasoning_effort(client, emulator):
    r = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "What is the capital of France?"}],
        reasoning_effort="low",
    )
    msg = r.choices[0].message
    extra = msg.model_extra or {}
    assert extra.get("reasoning_content")
    blocks = extra.get("thinking_blocks")
    assert blocks and blocks[0]["type"] == "thinking" and blocks[0]["signature"]
    sent = emulator.last_body()
    assert sent["additionalModelRequestFields"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_structured_output_json_schema(client):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "date": {"type": "string"}},
        "required": ["name", "date"],
    }
    r = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Who won the world series in 2020?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "event", "schema": schema}},
    )
    assert r.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    assert not r.choices[0].message.tool_calls


def test_json_object_is_honoured(client, emulator):
    r = client.chat.completions.create(
        model="nova",
        messages=[{"role": "user", "content": "Give me a JSON object with a greeting"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_bearer_api_key_deployment(client, emulator):
    r = client.chat.completions.create(model="llama-bearer", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
    assert emulator.requests()[-1]["auth"] == "bearer"


def test_deployment_defaults_and_extra_fields(client, emulator):
    client.chat.completions.create(
        model="claude-guarded",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"requestMetadata": {"team": "a"}},
    )
    sent = emulator.last_body()
    assert sent["guardrailConfig"] == {"guardrailIdentifier": "gr-1", "guardrailVersion": "DRAFT"}
    assert sent["additionalModelRequestFields"]["top_k"] == 5
    assert sent["requestMetadata"] == {"team": "a"}


def test_throttling_is_rate_limit_error(client, emulator):
    emulator.script([{"error": {"type": "ThrottlingException", "message": "Too many requests, please wait."}}])
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="claude-no-retry", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 429
    assert "Too many requests" in str(err.value)


def test_throttle_then_success_is_retried(client, emulator):
    emulator.script([{"error": {"type": "ThrottlingException", "message": "slow down"}}])
    r = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "retry me"}])
    assert "retry me" in r.choices[0].message.content
    calls = [q for q in emulator.requests() if q["path"].startswith("/model/")]
    assert len(calls) == 2


def test_validation_error_is_bad_request(client, emulator):
    emulator.script([{"error": {"type": "ValidationException", "message": "Input is too long for requested model."}}])
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "context_length_exceeded"
    assert len([q for q in emulator.requests() if q["path"].startswith("/model/")]) == 1, "no retry"


def test_access_denied_is_permission_denied(client, emulator):
    emulator.script([{"error": {"type": "AccessDeniedException", "message": "You don't have access to the model"}}])
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])


def test_mid_stream_exception(client, emulator):
    emulator.script([{
        "events": [
            {"type": "messageStart", "payload": {"role": "assistant"}},
            {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "Partial"}}},
        ],
        "exception_after": 2,
        "exception": {"type": "modelStreamErrorException", "message": "The model crashed mid-answer"},
    }])
    got = []
    with pytest.raises(openai.APIError) as err:
        for chunk in client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            if chunk.choices:
                got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "Partial"
    assert "crashed mid-answer" in str(err.value)


def test_unknown_model_and_n(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert "/v1/models" in str(err.value)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="claude", n=2, messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["param"] == "n"


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["claude", "nova", "llama-bearer", "claude-no-retry", "claude-guarded"]


def test_prefill_and_alternation(client, emulator):
    r = client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "user", "content": "Say hello in German as JSON"},
            {"role": "user", "content": "please"},
            {"role": "assistant", "content": "{ "},
        ],
    )
    assert r.choices[0].message.content
    sent = emulator.last_body()
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant"]
    assert sent["messages"][-1]["content"][-1]["text"] == "{"


def test_overhead_header_excludes_upstream_wait(stack, emulator):
    import requests

    emulator.script([{"delay_ms": 300}])
    r = requests.post(
        stack.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
        json={"model": "nova", "messages": [{"role": "user", "content": "slow upstream"}]},
        timeout=10,
    )
    assert r.status_code == 200
    assert r.elapsed.total_seconds() >= 0.3
    overhead_ms = float(r.headers["x-shale-overhead-ms"])
    assert 0 < overhead_ms < 100, overhead_ms
