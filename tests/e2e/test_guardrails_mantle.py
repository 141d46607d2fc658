"""Output guardrails (post_call) on Bedrock's HTTP surfaces (issues #28 × #29): a request whose
guardrail checks the answer is never relayed byte for byte — chat and Responses answers of a
bedrock-mantle deployment take the translating path so the guardrail sees the parsed text, and a
relayed Anthropic Messages answer goes through the Messages route's post_call. The emulator's
Mantle models echo the prompt, so a prompt about "crypto" gives an answer the demo guardrail
blocks, and a phone number one it masks."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from guardrails_harness import BLOCKED_OUTPUT, guardrail
from shale_harness import GATEWAY_KEY, stack_fixture
from test_mantle import mantle

PHONE = "555-123-4567"


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            mantle("gpt-oss", "bedrock_mantle/openai.gpt-oss-120b", emu_url),
            mantle("gpt-5", "bedrock_mantle/openai.gpt-5.5", emu_url),
            mantle("claude-mantle", "bedrock_mantle/anthropic.claude-opus-4-8", emu_url),
        ],
        "guardrails": [
            guardrail("pii-post", "post_call", emu_url,
                      stream_first_window_bytes=40, stream_window_bytes=60, stream_overlap_bytes=30),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
    }


stack = stack_fixture(gateway_config)


@pytest.fixture
def oai(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


@pytest.fixture
def claude(stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack.url, api_key=GATEWAY_KEY, max_retries=0)


GUARD = {"guardrails": ["pii-post"]}


def surface_calls(emulator) -> list[dict]:
    return [r for r in emulator.requests() if not r["path"].startswith(("/_emulator", "/guardrail"))]


def test_chat_on_mantle_masks_and_blocks_the_answer(oai, emulator):
    r = oai.chat.completions.create(model="gpt-oss", messages=[{"role": "user", "content": f"call {PHONE}"}],
                                    extra_body=GUARD)
    assert "{PHONE}" in r.choices[0].message.content and PHONE not in r.choices[0].message.content
    assert surface_calls(emulator)[0]["path"] == "/v1/chat/completions"
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="gpt-oss", messages=[{"role": "user", "content": "tell me about crypto"}],
                                    extra_body=GUARD)
    assert err.value.body["provider_specific_fields"]["bedrock_guardrail_response"] == BLOCKED_OUTPUT


def test_streamed_chat_on_mantle_never_releases_blocked_text(oai):
    chunks = list(oai.chat.completions.create(
        model="gpt-oss", messages=[{"role": "user", "content": f"call {PHONE} please"}], stream=True,
        extra_body=GUARD,
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "{PHONE}" in text and PHONE not in text
    got = []
    with pytest.raises(openai.APIError):
        for c in oai.chat.completions.create(
            model="gpt-oss", messages=[{"role": "user", "content": "tell me about crypto"}], stream=True,
            extra_body=GUARD,
        ):
            got.append(c.choices[0].delta.content or "" if c.choices else "")
    assert "crypto" not in "".join(got)


def test_responses_client_on_a_responses_only_model_is_checked(oai, emulator):
    r = oai.responses.create(model="gpt-5", input=f"call {PHONE}", extra_body=GUARD)
    assert "{PHONE}" in r.output_text and PHONE not in r.output_text
    assert surface_calls(emulator)[0]["path"] == "/openai/v1/responses"
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model="gpt-5", input="tell me about crypto", extra_body=GUARD)
    # Without an output guardrail the Responses request is relayed as before.
    r = oai.responses.create(model="gpt-5", input=f"call {PHONE}")
    assert PHONE in r.output_text


def test_messages_relayed_to_claude_on_mantle_are_checked(claude, emulator):
    meta = {"litellm_metadata": GUARD}
    m = claude.messages.create(model="claude-mantle", max_tokens=100,
                               messages=[{"role": "user", "content": f"call {PHONE}"}], extra_body=meta)
    assert "{PHONE}" in m.content[0].text and PHONE not in m.content[0].text
    assert surface_calls(emulator)[0]["path"] == "/anthropic/v1/messages"
    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(model="claude-mantle", max_tokens=100,
                               messages=[{"role": "user", "content": "tell me about crypto"}], extra_body=meta)
    assert err.value.body["error"]["provider_specific_fields"]["guardrail_name"] == "pii-post"
    with claude.messages.stream(model="claude-mantle", max_tokens=100,
                                messages=[{"role": "user", "content": f"call {PHONE} now"}], extra_body=meta) as s:
        text = "".join(s.text_stream)
    assert "{PHONE}" in text and PHONE not in text
