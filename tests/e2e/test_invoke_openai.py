"""Invoke-route model families, converse_like and /completions end to end, with the official
OpenAI Python SDK as the client and the Bedrock emulator as the upstream."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from shale_harness import (
    EXAMPLE_API_KEY,
    GATEWAY_KEY,
    deployment,
    stack_fixture,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            deployment("claude-invoke", "bedrock/invoke/anthropic.claude-3-5-haiku-20241022-v1:0", emu_url),
            deployment("llama3", "bedrock/invoke/meta.llama3-1-8b-instruct-v1:0", emu_url),
            deployment("mistral", "bedrock/mistral.mistral-7b-instruct-v0:2", emu_url),
            deployment("titan", "bedrock/amazon.titan-text-express-v1", emu_url),
            deployment("r1", "bedrock/us.deepseek.r1-v1:0", emu_url),
            deployment("pegasus", "bedrock/us.twelvelabs.pegasus-1-2-v1:0", emu_url),
            deployment("proxy", "bedrock/converse_like/anthropic.claude-3-haiku-20240307-v1:0", emu_url,
                       api_base=emu_url + "/model/anthropic.claude-3-haiku-20240307-v1:0/converse",
                       api_key=EXAMPLE_API_KEY, aws_bedrock_runtime_endpoint=None,
                       aws_access_key_id=None, aws_secret_access_key=None),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
    }


stack = stack_fixture(gateway_config)


@pytest.fixture
def client(stack):
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


def last_request(emulator):
    return [r for r in emulator.requests() if r["path"].startswith("/model/")][-1]


def test_anthropic_invoke_plain(client, emulator):
    r = client.chat.completions.create(
        model="claude-invoke",
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hello invoke"}],
        max_tokens=64,
    )
    assert "Hello invoke" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    req = last_request(emulator)
    assert req["path"].endswith("/invoke")
    body = req["body"]
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert body["max_tokens"] == 64
    assert body["system"] == [{"type": "text", "text": "Be terse."}], body["system"]
    assert "model" not in body and "stream" not in body


def test_anthropic_invoke_tools(client, emulator):
    r = client.chat.completions.create(
        model="claude-invoke",
        messages=[{"role": "user", "content": "weather in Boston?"}],
        tools=[WEATHER_TOOL],
    )
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_current_weather"
    json.loads(call.function.arguments)
    body = last_request(emulator)["body"]
    assert body["tools"][0]["name"] == "get_current_weather"
    assert "input_schema" in body["tools"][0]


def test_anthropic_invoke_stream(client, emulator):
    chunks = list(client.chat.completions.create(
        model="claude-invoke", messages=[{"role": "user", "content": "stream please"}], stream=True,
        stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream please" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert last_request(emulator)["path"].endswith("/invoke-with-response-stream")


def test_anthropic_invoke_stream_tools(client):
    calls = {}
    for chunk in client.chat.completions.create(
        model="claude-invoke", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL], stream=True
    ):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(tc.index, {"name": "", "args": ""})
            entry["name"] += tc.function.name or ""
            entry["args"] += tc.function.arguments or ""
    assert calls[0]["name"] == "get_current_weather"
    json.loads(calls[0]["args"])


def test_llama3_prompt_template(client, emulator):
    r = client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "Hi llama"}])
    assert "Hi llama" in r.choices[0].message.content
    body = last_request(emulator)["body"]
    assert body["prompt"].startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>")
    assert body["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_mistral(client, emulator):
    r = client.chat.completions.create(model="mistral", messages=[{"role": "user", "content": "Bonjour"}], max_tokens=20)
    assert "Bonjour" in r.choices[0].message.content
    body = last_request(emulator)["body"]
    assert body["prompt"] == "<s>[INST] Bonjour [/INST]" and body["max_tokens"] == 20


def test_titan_text_stream(client, emulator):
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="titan", messages=[{"role": "user", "content": "Hi titan"}], stream=True
        )
        if c.choices
    )
    assert "Hi titan" in text
    body = last_request(emulator)["body"]
    assert "inputText" in body and "textGenerationConfig" in body


def test_deepseek_r1_reasoning_split(client):
    r = client.chat.completions.create(model="r1", messages=[{"role": "user", "content": "Why is the sky blue?"}])
    msg = r.choices[0].message
    assert (msg.model_extra or {}).get("reasoning_content")
    assert "<think>" not in msg.content and "</think>" not in msg.content
    reasoning, content = "", ""
    for c in client.chat.completions.create(
        model="r1", messages=[{"role": "user", "content": "Why is the sky blue?"}], stream=True
    ):
        if c.choices:
            reasoning += (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
            content += c.choices[0].delta.content or ""
    assert reasoning and "<think>" not in content and content.strip() == msg.content.strip()


def test_pegasus_video(client, emulator):
    video = base64.b64encode(b"\x00\x00\x00\x18ftypmp42fake-video").decode()
    r = client.chat.completions.create(
        model="pegasus",
        messages=[{"role": "user", "content": "Describe what happens in this video."}],
        extra_body={"mediaSource": {"base64String": video}},
        temperature=0.2,
    )
    assert r.choices[0].message.content
    body = last_request(emulator)["body"]
    assert body["inputPrompt"] == "Describe what happens in this video."
    assert body["mediaSource"] == {"base64String": video}


def test_converse_like(client, emulator):
    r = client.chat.completions.create(model="proxy", messages=[{"role": "user", "content": "What's AWS?"}])
    assert "What's AWS?" in r.choices[0].message.content
    req = last_request(emulator)
    assert req["auth"] == "bearer"
    assert req["path"] == "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"
    assert req["body"]["messages"][0]["content"] == [{"text": "What's AWS?"}]


def test_completions_plain_and_stream(client, emulator):
    r = client.completions.create(model="claude-invoke", prompt="Once upon a time", max_tokens=30)
    assert r.object == "text_completion"
    assert "Once upon a time" in r.choices[0].text
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens > 0
    text = "".join(c.choices[0].text for c in client.completions.create(
        model="llama3", prompt=["first line", "second line"], stream=True
    ) if c.choices)
    assert text
    body = last_request(emulator)["body"]
    assert "first line" in body["prompt"] and "second line" in body["prompt"]


def test_completions_unsupported_options(client):
    for kwargs, param in [({"echo": True}, "echo"), ({"suffix": "x"}, "suffix"), ({"best_of": 2}, "best_of"),
                          ({"logprobs": 2}, "logprobs"), ({"n": 2}, "n")]:
        with pytest.raises(openai.BadRequestError) as err:
            client.completions.create(model="claude-invoke", prompt="hi", **kwargs)
        assert err.value.body["param"] == param, kwargs
