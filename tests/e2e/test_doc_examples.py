"""The examples of LiteLLM's Bedrock provider doc, as written, pointed at shale (proxy form:
OpenAI SDK or plain HTTP with the doc's request bodies)."""

from __future__ import annotations

import json

import openai
import pytest
import requests

from shale_harness import (
    GATEWAY_KEY,
    deployment,
    stack_fixture,
)


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            deployment("bedrock-claude-v1", "bedrock/anthropic.claude-3-sonnet-20240229-v1:0", emu_url),
            deployment("bedrock-claude", "bedrock/converse/anthropic.claude-3-5-sonnet-20241022-v2:0", emu_url,
                       user_continue_message={"role": "user", "content": "Please continue"}),
            deployment("claude-37", "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", emu_url),
            deployment("qwen", "bedrock/converse/qwen.qwen3-235b-a22b-2507-v1:0", emu_url),
            deployment("app-profile", "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", emu_url,
                       model_id="arn:aws:bedrock:eu-central-1:000000000000:application-inference-profile/a0a0a0a0a0a0",
                       aws_region_name=None),
            deployment("gpt-oss", "bedrock/converse/openai.gpt-oss-120b-1:0", emu_url),
        ],
        "litellm_settings": {"modify_params": True},
        "general_settings": {"master_key": GATEWAY_KEY},
    }


stack = stack_fixture(gateway_config)


@pytest.fixture
def client(stack):
    return openai.OpenAI(base_url=stack.url, api_key=GATEWAY_KEY, max_retries=0)


def test_curl_request_from_the_doc(stack):
    # "3. Test it" — Curl Request (no /v1 prefix, bearer key)
    r = requests.post(
        stack.url + "/chat/completions",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {GATEWAY_KEY}"},
        data=json.dumps({"model": "bedrock-claude-v1", "messages": [{"role": "user", "content": "what llm are you"}]}),
        timeout=10,
    )
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"]


def test_alternate_user_assistant_messages(client, emulator):
    # "Alternate user/assistant messages": a conversation that starts with an assistant turn.
    r = client.chat.completions.create(
        model="bedrock-claude", messages=[{"role": "assistant", "content": "Hey, how's it going?"}]
    )
    assert r.choices[0].message.content
    sent = emulator.last_body()["messages"]
    assert sent[0]["role"] == "user"
    assert [m["role"] for m in sent] == ["user", "assistant"], sent


def test_provider_specific_params_and_metadata(client, emulator):
    client.chat.completions.create(
        model="bedrock-claude-v1",
        messages=[{"content": "Hello, how are you?", "role": "user"}],
        temperature=0.7,
        top_p=1,
        extra_body={"top_k": 1, "requestMetadata": {"cost_center": "engineering", "user_id": "user123"}},
    )
    sent = emulator.last_body()
    assert sent["inferenceConfig"] == {"temperature": 0.7, "topP": 1}
    assert sent["additionalModelRequestFields"]["top_k"] == 1
    assert sent["requestMetadata"] == {"cost_center": "engineering", "user_id": "user123"}


def test_latency_optimized_and_service_tier(client, emulator):
    client.chat.completions.create(
        model="claude-37",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        extra_body={"performanceConfig": {"latency": "optimized"}},
    )
    assert emulator.last_body()["performanceConfig"] == {"latency": "optimized"}
    client.chat.completions.create(
        model="bedrock-claude-v1", messages=[{"role": "user", "content": "Hello!"}], service_tier="priority"
    )
    assert emulator.last_body()["serviceTier"] == {"type": "priority"}
    client.chat.completions.create(
        model="qwen",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        extra_body={"serviceTier": {"type": "priority"}},
    )
    assert emulator.last_body()["serviceTier"] == {"type": "priority"}


def test_guardrails_and_guarded_text(client, emulator):
    client.chat.completions.create(
        model="bedrock-claude-v1",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is the main topic of this legal document?"},
            {"type": "guarded_text", "text": "This document contains sensitive legal information."},
        ]}],
        extra_body={"guardrailConfig": {"guardrailIdentifier": "gr-abc123", "guardrailVersion": "DRAFT"}},
    )
    sent = emulator.last_body()
    assert sent["guardrailConfig"] == {"guardrailIdentifier": "gr-abc123", "guardrailVersion": "DRAFT"}
    assert sent["messages"][0]["content"][1] == {
        "guardContent": {"text": {"text": "This document contains sensitive legal information."}}
    }


def test_anthropic_beta_header(client, emulator):
    client.chat.completions.create(
        model="bedrock-claude",
        messages=[{"role": "user", "content": "Testing multiple beta features"}],
        max_tokens=100,
        extra_headers={"anthropic-beta": "computer-use-2024-10-22,context-1m-2025-08-07"},
    )
    sent = emulator.last_body()
    assert sent["additionalModelRequestFields"]["anthropic_beta"] == [
        "computer-use-2024-10-22",
        "context-1m-2025-08-07",
    ]


def test_application_inference_profile_model_id(client, emulator):
    client.chat.completions.create(model="app-profile", messages=[{"role": "user", "content": "Hello, how are you?"}])
    req = emulator.requests()[-1]
    assert req["model_id"] == "arn:aws:bedrock:eu-central-1:000000000000:application-inference-profile/a0a0a0a0a0a0"
    assert "application-inference-profile%2Fa0a0a0a0a0a0" in req["path"]
    assert req["region"] == "eu-central-1"


def test_gpt_oss_and_system_message(client, emulator):
    r = client.chat.completions.create(
        model="gpt-oss",
        messages=[
            {"role": "system", "content": "You are a snarky assistant."},
            {"role": "user", "content": "How do I boil water?"},
        ],
    )
    assert r.choices[0].message.content
    assert emulator.last_body()["system"] == [{"text": "You are a snarky assistant."}]


def test_streaming_example(client):
    chunks = list(client.chat.completions.create(
        model="bedrock-claude-v1", messages=[{"content": "Hello, how are you?", "role": "user"}], stream=True
    ))
    assert chunks and any(c.choices and c.choices[0].delta.content for c in chunks)


def test_computer_use_tools_with_beta_features(client, emulator):
    r = client.chat.completions.create(
        model="bedrock-claude",
        messages=[{"role": "user", "content": "Take a screenshot"}],
        tools=[{"type": "computer_20241022", "name": "computer", "display_width_px": 1920, "display_height_px": 1080}],
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
    )
    assert r.choices[0].message.tool_calls is None, r.choices[0].message
    assert r.choices[0].message.content
    amrf = emulator.last_body()["additionalModelRequestFields"]
    assert amrf["tools"][0]["type"] == "computer_20241022"
    assert amrf["anthropic_beta"] == ["computer-use-2024-10-22", "context-1m-2025-08-07"]
