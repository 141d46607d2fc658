"""The Responses API end to end: the official OpenAI Python SDK (`client.responses`) → shale →
the Bedrock emulator.

Covers string and item-list input, instructions, streaming (raw events and the SDK's stream
helper), function tools with `function_call_output`, `previous_response_id`, retrieve / delete /
input_items, key scoping, structured output, reasoning items (signed thinking sent back through a
tool loop), length stops, errors, and invoke-route models.
"""

from __future__ import annotations

import base64
import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from shale_harness import (
    EmulatorControl,
    deployment,
    stack_fixture,
)

KEY_A = "sk-responses-key-a"
KEY_B = "sk-responses-key-b"

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
    )
).decode()

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            deployment("claude", "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", emu_url),
            deployment("nova", "bedrock/converse/us.amazon.nova-pro-v1:0", emu_url),
            deployment("claude-no-retry", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", emu_url, num_retries=0),
            deployment("claude-invoke", "bedrock/invoke/anthropic.claude-3-5-haiku-20241022-v1:0", emu_url),
            deployment("llama3", "bedrock/invoke/meta.llama3-1-8b-instruct-v1:0", emu_url),
        ],
        # Open mode: every presented key is accepted, so two keys can show the per-key scoping.
        "general_settings": {"allow_unauthenticated": True},
    }


stack = stack_fixture(gateway_config)


@pytest.fixture
def client(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=KEY_A, max_retries=0)


@pytest.fixture
def other_client(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=KEY_B, max_retries=0)


def model_calls(emulator: EmulatorControl) -> list[dict]:
    return [q for q in emulator.requests() if q["path"].startswith("/model/")]


def test_string_input_with_instructions(client, emulator):
    r = client.responses.create(
        model="claude",
        input="What is the capital of France?",
        instructions="Be brief.",
        max_output_tokens=50,
        temperature=0.2,
        metadata={"team": "a"},
    )
    assert r.id.startswith("resp_") and r.object == "response"
    assert r.status == "completed" and r.model == "claude"
    assert "What is the capital of France?" in r.output_text
    assert r.output[0].type == "message" and r.output[0].content[0].type == "output_text"
    assert r.instructions == "Be brief." and r.metadata == {"team": "a"}
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0
    sent = emulator.last_body()
    assert sent["system"] == [{"text": "Be brief."}]
    assert sent["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2}
    assert sent["messages"] == [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
    assert "metadata" not in sent


def test_item_list_with_image(client, emulator):
    r = client.responses.create(
        model="nova",
        input=[
            {"role": "developer", "content": "You describe pictures."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this picture?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_1PX}", "detail": "low"},
                ],
            },
        ],
    )
    assert "What is in this picture?" in r.output_text
    sent = emulator.last_body()
    assert sent["system"] == [{"text": "You describe pictures."}]
    content = sent["messages"][0]["content"]
    assert content[0] == {"text": "What is in this picture?"}
    assert content[1]["image"]["format"] == "png"


def test_raw_stream_event_order_and_sequence_numbers(client):
    full = client.responses.create(model="claude", input="Tell me something nice").output_text
    events = list(client.responses.create(model="claude", input="Tell me something nice", stream=True))
    types = [e.type for e in events]
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == full
    final = events[-1].response
    assert final.status == "completed" and final.output_text == full and final.usage.output_tokens > 0
    assert len({e.response.id for e in events if hasattr(e, "response")}) == 1


def test_stream_helper(client):
    deltas = []
    with client.responses.stream(model="claude", input="Stream this please") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert final.status == "completed"
    assert "".join(deltas) == final.output_text
    assert "Stream this please" in final.output_text


def test_tools_round_trip(client, emulator):
    question = {"role": "user", "content": "What is the weather in Paris?"}
    r = client.responses.create(model="claude", input=[question], tools=[WEATHER], tool_choice="required")
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather" and call.call_id and call.id.startswith("fc_")
    assert isinstance(json.loads(call.arguments), dict)
    sent = emulator.last_body()
    assert sent["toolConfig"]["toolChoice"] == {"any": {}}
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"

    follow = client.responses.create(
        model="claude",
        input=[question, *[o.model_dump(exclude_none=True) for o in r.output],
               {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 21}'}],
        tools=[WEATHER],
        store=False,
    )
    assert "Received 1 tool result(s)" in follow.output_text
    msgs = emulator.last_body()["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"][-1]["toolUse"]["toolUseId"] == call.call_id
    assert msgs[2]["content"][0]["toolResult"]["toolUseId"] == call.call_id


def test_streamed_function_call(client):
    events = list(client.responses.create(
        model="claude", input="Weather in Rome?", tools=[WEATHER], tool_choice="required", stream=True,
    ))
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types
    added = next(e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call")
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert done.arguments == deltas and isinstance(json.loads(deltas), dict)
    assert added.item.call_id and added.item.name == "get_weather"
    final = events[-1].response
    assert final.output[-1].type == "function_call" and final.output[-1].arguments == deltas


def test_previous_response_id_continues_the_conversation(client, emulator):
    r1 = client.responses.create(model="claude", input="My name is Ada.", instructions="First instructions.")
    r2 = client.responses.create(model="claude", input="What is my name?", previous_response_id=r1.id)
    assert r2.previous_response_id == r1.id
    sent = emulator.last_body()
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][0]["content"] == [{"text": "My name is Ada."}]
    assert sent["messages"][1]["content"] == [{"text": r1.output_text}]
    assert "system" not in sent, "instructions are not carried over"
    r3 = client.responses.create(model="claude", input="And again?", previous_response_id=r2.id, stream=True)
    final = list(r3)[-1].response
    assert final.status == "completed"
    assert len(emulator.last_body()["messages"]) == 5
    # A streamed response is stored too.
    r4 = client.responses.create(model="claude", input="Last one", previous_response_id=final.id)
    assert len(emulator.last_body()["messages"]) == 7 and r4.status == "completed"


def test_retrieve_input_items_and_delete(client):
    r = client.responses.create(
        model="claude",
        input=[{"role": "user", "content": "first"}, {"role": "user", "content": "second"}],
    )
    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == r.output_text and got.status == "completed"
    items = client.responses.input_items.list(r.id)
    texts = [i.content[0].text for i in items.data]
    assert texts == ["second", "first"], "newest first by default"
    asc = client.responses.input_items.list(r.id, order="asc", limit=1)
    assert [i.content[0].text for i in asc.data] == ["first"] and asc.has_more
    deleted = client.responses.delete(r.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.retrieve(r.id)
    assert r.id in str(err.value)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(r.id)


def test_store_false_keeps_nothing(client):
    r = client.responses.create(model="claude", input="forget me", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.create(model="claude", input="hi", previous_response_id=r.id)
    assert err.value.body["param"] == "previous_response_id"


def test_responses_are_visible_only_to_their_key(client, other_client):
    r = client.responses.create(model="claude", input="mine")
    with pytest.raises(openai.NotFoundError):
        other_client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        other_client.responses.create(model="claude", input="hi", previous_response_id=r.id)
    with pytest.raises(openai.NotFoundError):
        other_client.responses.delete(r.id)
    assert client.responses.retrieve(r.id).id == r.id


def test_structured_output_json_schema(client, emulator):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "date": {"type": "string"}},
        "required": ["name", "date"],
        "additionalProperties": False,
    }
    r = client.responses.create(
        model="claude",
        input="Who won the world series in 2020?",
        text={"format": {"type": "json_schema", "name": "event", "schema": schema, "strict": True}},
    )
    value = json.loads(r.output_text)
    assert set(value) >= {"name", "date"}
    assert r.text.format.type == "json_schema"

    class Event(BaseModel):
        name: str
        date: str

    parsed = client.responses.parse(model="claude", input="Same again", text_format=Event)
    assert isinstance(parsed.output_parsed, Event)


def test_reasoning_item_and_signed_tool_loop(client, emulator):
    r = client.responses.create(
        model="claude",
        input="What is the weather in Paris?",
        reasoning={"effort": "low", "summary": "auto"},
        tools=[WEATHER],
    )
    assert r.output[0].type == "reasoning"
    assert r.output[0].summary[0].text and r.output[0].encrypted_content
    assert emulator.last_body()["additionalModelRequestFields"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    call = next(o for o in r.output if o.type == "function_call")
    # The emulator checks (like Bedrock) that the reasoning block and its signature come back.
    follow = client.responses.create(
        model="claude",
        previous_response_id=r.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        reasoning={"effort": "low"},
        tools=[WEATHER],
    )
    assert follow.status == "completed" and "Received 1 tool result(s)" in follow.output_text
    assistant = emulator.last_body()["messages"][1]
    assert assistant["content"][0]["reasoningContent"]["reasoningText"]["signature"] == r.output[0].encrypted_content


def test_length_stop_is_incomplete(client):
    r = client.responses.create(model="claude", input="Tell me a long story about many things", max_output_tokens=3)
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"
    events = list(client.responses.create(
        model="claude", input="Tell me a long story about many things", max_output_tokens=3, stream=True,
    ))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def test_errors(client, emulator):
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="gpt-9", input="hi")
    assert "/v1/models" in str(err.value)
    # A client-executed built-in tool the gateway does not translate is refused (hosted ones such
    # as web_search are dropped by default: test_dropped_tools.py).
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="claude", input="ls", tools=[{"type": "local_shell"}])
    assert err.value.body["param"] == "tools[0].type"
    assert err.value.body["code"] == "unsupported_tool"
    assert "local_shell" in err.value.body["message"]
    assert model_calls(emulator) == []
    emulator.script([{"error": {"type": "ThrottlingException", "message": "Too many requests, please wait."}}])
    with pytest.raises(openai.RateLimitError) as err:
        client.responses.create(model="claude-no-retry", input="hi")
    assert err.value.status_code == 429


def test_mid_stream_failure_is_response_failed(client, emulator):
    emulator.script([{
        "events": [
            {"type": "messageStart", "payload": {"role": "assistant"}},
            {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "Partial"}}},
        ],
        "exception_after": 2,
        "exception": {"type": "modelStreamErrorException", "message": "The model crashed mid-answer"},
    }])
    events = list(client.responses.create(model="claude", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and "crashed mid-answer" in failed.error.message
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Partial"


@pytest.mark.parametrize("model", ["claude-invoke", "llama3"])
def test_invoke_route_models(client, emulator, model):
    r = client.responses.create(model=model, input="Hello invoke route", instructions="Be kind.")
    assert "Hello invoke route" in r.output_text and r.status == "completed"
    assert model_calls(emulator)[-1]["path"].endswith("/invoke")
    events = list(client.responses.create(model=model, input="Hello invoke stream", stream=True))
    assert events[-1].type == "response.completed"
    assert "Hello invoke stream" in events[-1].response.output_text


def test_bare_path_and_namespace_tools(stack, emulator):
    body = {
        "model": "claude",
        "input": "spawn a helper",
        "tool_choice": "required",
        "tools": [{"type": "namespace", "name": "agents", "description": "Sub-agents", "tools": [
            {"type": "function", "name": "spawn_agent", "description": "Spawn", "parameters": {
                "type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]}},
        ]}],
    }
    resp = httpx.post(stack.url + "/responses", json=body, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    call = resp.json()["output"][-1]
    assert call["type"] == "function_call"
    assert (call["namespace"], call["name"]) == ("agents", "spawn_agent")
    assert emulator.last_body()["toolConfig"]["tools"][0]["toolSpec"]["name"] == "agents__spawn_agent"
