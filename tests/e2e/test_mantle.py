"""Bedrock's OpenAI-compatible and Anthropic surfaces end to end (issue #28): the official OpenAI and
Anthropic Python SDKs → the real `shale` binary → the Bedrock emulator's bedrock-mantle and
bedrock-runtime `/openai/v1` paths.

Covers, on each surface: chat (plain, streamed with usage after the finish chunk, without usage),
Responses (plain, streamed, `previous_response_id`, retrieve), Anthropic Messages (plain, streamed,
count_tokens); chat to a Responses-only model; Claude on Mantle through chat; a Bedrock API key
(config and `AWS_BEARER_TOKEN_BEDROCK`); SigV4 with service `bedrock-mantle` (and `bedrock` on
runtime); the project header; hosted tools dropped for bedrock-runtime; a model on the wrong path
answered 400; a 429 with Retry-After; a fallback from a failing Mantle deployment to a runtime
one; `/v1/models`; cost and Prometheus tokens; OTel attempt spans naming the surface; a virtual
key's budget charged for a Mantle call.
"""

from __future__ import annotations

import json
import os

import anthropic
import httpx
import openai
import pytest

from shale_harness import (
    EXAMPLE_ACCESS_KEY_ID,
    EXAMPLE_API_KEY,
    EXAMPLE_SECRET_ACCESS_KEY,
    GATEWAY_KEY,
    EmulatorControl,
    start_emulator,
    start_gateway,
    stack_fixture,
    stop_process,
)

PROJECT = "proj_e2e123"
KEYS = {"aws_access_key_id": EXAMPLE_ACCESS_KEY_ID, "aws_secret_access_key": EXAMPLE_SECRET_ACCESS_KEY}


def mantle(model_name: str, model: str, emu_url: str, **params) -> dict:
    p = {"model": model, "api_base": emu_url, "aws_region_name": "us-east-1", **KEYS}
    p.update(params)
    return {"model_name": model_name, "litellm_params": {k: v for k, v in p.items() if v is not None}}


def runtime(model_name: str, model: str, emu_url: str, **params) -> dict:
    p = {"model": model, "aws_bedrock_runtime_endpoint": emu_url, "aws_region_name": "us-west-2", **KEYS}
    p.update(params)
    return {"model_name": model_name, "litellm_params": p}


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            mantle("gpt-oss", "bedrock_mantle/openai.gpt-oss-120b", emu_url,
                   aws_bedrock_project_id=PROJECT, input_cost_per_token=0.001, output_cost_per_token=0.002),
            # A Bedrock API key, no AWS keys.
            mantle("gpt-5", "bedrock_mantle/openai.gpt-5.5", emu_url, api_key=EXAMPLE_API_KEY,
                   aws_access_key_id=None, aws_secret_access_key=None),
            mantle("claude-mantle", "bedrock_mantle/anthropic.claude-opus-4-8", emu_url),
            mantle("claude-mantle-litellm", "bedrock/mantle/anthropic.claude-opus-4-8", emu_url),
            runtime("gpt-5-runtime", "bedrock/us.openai.gpt-5.5", emu_url),
            # The table says Responses only: forcing chat reaches a path the model is not on.
            mantle("gpt-5-forced-chat", "bedrock_mantle/openai.gpt-5.5", emu_url, api="openai"),
            mantle("no-retry", "bedrock_mantle/openai.gpt-oss-20b", emu_url, num_retries=0),
            mantle("qwen", "bedrock_mantle/qwen.qwen3-coder-30b-a3b-instruct", emu_url),
            # Fallback pair: a failing Mantle deployment, then the same model on bedrock-runtime.
            mantle("gpt-5-fallback", "bedrock_mantle/openai.gpt-5.5", emu_url, num_retries=0),
            runtime("gpt-5-fallback-runtime", "bedrock/us.openai.gpt-5.5", emu_url),
        ],
        "router_settings": {"fallbacks": [{"gpt-5-fallback": ["gpt-5-fallback-runtime"]}]},
        "litellm_settings": {"callbacks": ["prometheus"]},
        "general_settings": {"master_key": GATEWAY_KEY},
    }


stack = stack_fixture(gateway_config)


@pytest.fixture
def oai(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


@pytest.fixture
def claude(stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack.url, api_key=GATEWAY_KEY, max_retries=0)


def model_calls(emulator: EmulatorControl) -> list[dict]:
    return [r for r in emulator.requests() if not r["path"].startswith("/_emulator")]


def only_call(emulator: EmulatorControl) -> dict:
    calls = model_calls(emulator)
    assert len(calls) == 1, [c["path"] for c in calls]
    return calls[0]


GREETING = "Hello from the shale emulator (model {})."


# --- chat ---------------------------------------------------------------------------------------


def test_chat_is_relayed_to_mantle_with_sigv4_bedrock_mantle_and_the_project(oai, emulator):
    reply = oai.chat.completions.with_raw_response.create(
        model="gpt-oss",
        messages=[{"role": "user", "content": "Hello there"}],
        user="u-1",
        extra_body={"fallbacks": ["other"], "aws_region_name": "eu-west-1"},
    )
    completion = reply.parse()
    assert completion.model == "gpt-oss"
    assert completion.choices[0].message.content.startswith(GREETING.format("openai.gpt-oss-120b"))
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    # Priced per token: the cost header says what the call cost.
    cost = float(reply.headers["x-litellm-response-cost"])
    assert cost == pytest.approx(
        completion.usage.prompt_tokens * 0.001 + completion.usage.completion_tokens * 0.002
    )
    call = only_call(emulator)
    assert call["path"] == "/v1/chat/completions"
    assert call["auth"] == "sigv4" and call["service"] == "bedrock-mantle"
    assert call["region"] == "us-east-1"
    assert call["headers"]["openai-project"] == PROJECT
    assert "x-amz-content-sha256" in call["headers"]["authorization"]
    body = call["body"]
    assert body["model"] == "openai.gpt-oss-120b"
    assert body["user"] == "u-1"
    # The gateway's own members never reach Bedrock (the emulator refuses unknown members).
    assert "fallbacks" not in body and "aws_region_name" not in body


def test_chat_stream_relays_the_usage_chunk_after_the_finish_chunk(oai, emulator):
    chunks = list(oai.chat.completions.create(
        model="gpt-oss",
        messages=[{"role": "user", "content": "Stream to me"}],
        stream=True,
        stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(GREETING.format("openai.gpt-oss-120b"))
    finish = [i for i, c in enumerate(chunks) if c.choices and c.choices[0].finish_reason]
    usage = [i for i, c in enumerate(chunks) if c.usage]
    assert finish and usage and usage[-1] > finish[-1], "usage comes after the finish chunk"
    assert chunks[usage[-1]].choices == []
    assert all(c.model == "gpt-oss" for c in chunks)
    assert only_call(emulator)["body"]["stream_options"] == {"include_usage": True}


def test_chat_stream_without_include_usage_gets_no_usage_chunk(oai, emulator):
    chunks = list(oai.chat.completions.create(
        model="gpt-oss", messages=[{"role": "user", "content": "Hi"}], stream=True,
    ))
    assert chunks and not any(c.usage for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    # The gateway still asked for usage (its metrics and cost need it).
    assert only_call(emulator)["body"]["stream_options"] == {"include_usage": True}


def test_chat_to_a_responses_only_model_with_a_bedrock_api_key(oai, emulator):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    completion = oai.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools,
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example"}
    assert completion.choices[0].finish_reason == "tool_calls"
    recorded = only_call(emulator)
    assert recorded["path"] == "/openai/v1/responses"
    assert recorded["auth"] == "bearer"
    assert recorded["headers"]["authorization"] == f"Bearer {EXAMPLE_API_KEY}"
    assert recorded["body"]["store"] is False
    assert recorded["body"]["tools"][0] == {"type": "function", "name": "get_weather", "parameters": tools[0]["function"]["parameters"]}

    emulator.reset()
    chunks = list(oai.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "Stream it"}], stream=True,
        stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(GREETING.format("openai.gpt-5.5"))
    assert chunks[-1].usage and chunks[-1].usage.completion_tokens > 0


def test_claude_on_mantle_via_chat(oai, emulator):
    for name in ("claude-mantle", "claude-mantle-litellm"):
        emulator.reset()
        completion = oai.chat.completions.create(
            model=name, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi Claude"}],
            max_tokens=200,
        )
        assert completion.choices[0].message.content.startswith(GREETING.format("anthropic.claude-opus-4-8"))
        call = only_call(emulator)
        assert call["path"] == "/anthropic/v1/messages"
        assert call["service"] == "bedrock-mantle"
        assert call["headers"]["anthropic-version"] == "2023-06-01"
        assert call["body"]["model"] == "anthropic.claude-opus-4-8"
        assert "anthropic_version" not in call["body"]
    emulator.reset()
    chunks = list(oai.chat.completions.create(
        model="claude-mantle", messages=[{"role": "user", "content": "Stream, Claude"}], stream=True,
        stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(GREETING.format("anthropic.claude-opus-4-8"))
    assert chunks[-1].usage.prompt_tokens > 0
    assert only_call(emulator)["body"]["stream"] is True


def test_completions_endpoint_on_mantle(oai):
    answer = oai.completions.create(model="gpt-oss", prompt="Say hello", max_tokens=30)
    assert answer.choices[0].text.startswith("Hello from the shale emulator")


# --- Responses ----------------------------------------------------------------------------------


def test_responses_are_relayed_stored_and_continued(oai, emulator):
    first = oai.responses.create(model="gpt-oss", input="What is the weather?", instructions="Be brief.")
    assert first.model == "gpt-oss"
    assert first.output_text.startswith(GREETING.format("openai.gpt-oss-120b"))
    call = only_call(emulator)
    assert call["path"] == "/v1/responses"
    assert call["body"]["store"] is False and call["body"]["input"] == "What is the weather?"
    # Stored by the gateway: retrievable, and continued with previous_response_id.
    assert oai.responses.retrieve(first.id).output_text == first.output_text
    emulator.reset()
    second = oai.responses.create(model="gpt-oss", input="And tomorrow?", previous_response_id=first.id)
    assert second.output_text.startswith(GREETING.format("openai.gpt-oss-120b"))
    sent = only_call(emulator)["body"]
    assert "previous_response_id" not in sent
    texts = [json.dumps(item) for item in sent["input"]]
    assert any("What is the weather?" in t for t in texts)
    assert any(first.output_text in t for t in texts)
    assert any("And tomorrow?" in t for t in texts)


def test_responses_stream_relayed_event_by_event(oai, emulator):
    events = list(oai.responses.create(model="gpt-oss", input="Stream please", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.startswith(GREETING.format("openai.gpt-oss-120b"))
    assert events[-1].response.model == "gpt-oss"
    assert events[-1].response.usage.output_tokens > 0
    assert only_call(emulator)["body"]["stream"] is True
    # The streamed response was stored too.
    assert oai.responses.retrieve(events[-1].response.id).output_text == text


def test_responses_on_a_responses_only_model_and_on_runtime(oai, emulator):
    r = oai.responses.create(model="gpt-5", input="Hi GPT-5")
    assert r.output_text.startswith(GREETING.format("openai.gpt-5.5"))
    assert only_call(emulator)["path"] == "/openai/v1/responses"
    emulator.reset()
    # bedrock-runtime refuses hosted tools: the gateway drops them (the emulator would 400).
    r = oai.responses.create(
        model="gpt-5-runtime", input="Hi runtime",
        tools=[{"type": "web_search"}, {"type": "function", "name": "noop", "parameters": {"type": "object"}}],
        tool_choice="none",
    )
    assert r.output_text.startswith(GREETING.format("us.openai.gpt-5.5"))
    call = only_call(emulator)
    assert call["path"] == "/openai/v1/responses"
    assert call["service"] == "bedrock" and call["region"] == "us-west-2"
    assert [t["type"] for t in call["body"]["tools"]] == ["function"]
    assert "openai-project" not in call["headers"]


def test_responses_client_to_a_chat_only_model_is_translated(oai, emulator):
    r = oai.responses.create(model="qwen", input="Hi from Responses")
    assert r.output_text.startswith(GREETING.format("qwen.qwen3-coder-30b-a3b-instruct"))
    assert r.model == "qwen" and r.usage.output_tokens > 0
    call = only_call(emulator)
    assert call["path"] == "/v1/chat/completions" and call["body"]["messages"][-1]["role"] == "user"
    emulator.reset()
    events = list(oai.responses.create(model="qwen", input="Stream from Responses", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text.startswith(GREETING.format("qwen.qwen3-coder-30b-a3b-instruct"))
    assert only_call(emulator)["body"]["stream_options"] == {"include_usage": True}


def test_responses_client_to_claude_on_mantle_is_translated(oai, emulator):
    r = oai.responses.create(model="claude-mantle", input="Hi from Responses", max_output_tokens=100)
    assert r.output_text.startswith(GREETING.format("anthropic.claude-opus-4-8"))
    assert only_call(emulator)["path"] == "/anthropic/v1/messages"


def test_runtime_chat(oai, emulator):
    c = oai.chat.completions.create(model="gpt-5-runtime", messages=[{"role": "user", "content": "Hi"}])
    assert c.choices[0].message.content.startswith(GREETING.format("us.openai.gpt-5.5"))
    call = only_call(emulator)
    assert call["path"] == "/openai/v1/chat/completions"
    assert call["service"] == "bedrock"
    assert call["body"]["model"] == "us.openai.gpt-5.5"


# --- Anthropic Messages -------------------------------------------------------------------------


def test_anthropic_sdk_on_claude_on_mantle(claude, emulator):
    message = claude.messages.create(
        model="claude-mantle", max_tokens=200, messages=[{"role": "user", "content": "Hi from the SDK"}],
    )
    assert message.content[0].text.startswith(GREETING.format("anthropic.claude-opus-4-8"))
    call = only_call(emulator)
    assert call["path"] == "/anthropic/v1/messages"
    assert call["body"]["model"] == "anthropic.claude-opus-4-8"
    emulator.reset()
    with claude.messages.stream(
        model="claude-mantle", max_tokens=200, messages=[{"role": "user", "content": "Stream from the SDK"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith(GREETING.format("anthropic.claude-opus-4-8"))
    assert final.usage.output_tokens > 0
    assert only_call(emulator)["body"]["stream"] is True
    emulator.reset()
    counted = claude.messages.count_tokens(
        model="claude-mantle", messages=[{"role": "user", "content": "Count these words please"}],
    )
    assert counted.input_tokens > 0
    call = only_call(emulator)
    assert call["path"] == "/anthropic/v1/messages/count_tokens"
    assert "max_tokens" not in call["body"]


@pytest.mark.parametrize("model,path,bedrock_id", [
    ("gpt-oss", "/v1/chat/completions", "openai.gpt-oss-120b"),
    ("gpt-5", "/openai/v1/responses", "openai.gpt-5.5"),
    ("gpt-5-runtime", "/openai/v1/chat/completions", "us.openai.gpt-5.5"),
])
def test_anthropic_sdk_on_openai_surfaces(claude, emulator, model, path, bedrock_id):
    message = claude.messages.create(model=model, max_tokens=200, messages=[{"role": "user", "content": "Hi there"}])
    assert message.model == model
    assert message.content[0].text.startswith(GREETING.format(bedrock_id))
    assert message.stop_reason == "end_turn"
    assert only_call(emulator)["path"] == path
    emulator.reset()
    with claude.messages.stream(model=model, max_tokens=200, messages=[{"role": "user", "content": "Stream"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text.startswith(GREETING.format(bedrock_id))
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.count_tokens(model=model, messages=[{"role": "user", "content": "x"}])


# --- errors, retries, fallbacks -----------------------------------------------------------------


def test_a_model_on_the_wrong_path_is_a_400(oai, emulator):
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="gpt-5-forced-chat", messages=[{"role": "user", "content": "Hi"}])
    assert err.value.status_code == 400
    assert "does not support the '/v1/chat/completions' API" in str(err.value)
    assert only_call(emulator)["path"] == "/openai/v1/chat/completions"


def test_mantle_429_keeps_retry_after(oai, emulator):
    emulator.script([{"operation": "mantle-chat", "status": 429, "headers": {"retry-after": "7"}, "body": {
        "error": {"message": "Too many tokens per minute for this model", "type": "rate_limit_error",
                  "code": "rate_limit_exceeded", "param": None}}}])
    with pytest.raises(openai.RateLimitError) as err:
        oai.chat.completions.create(model="no-retry", messages=[{"role": "user", "content": "Hi"}])
    assert err.value.status_code == 429
    assert err.value.response.headers["retry-after"] == "7"
    assert "Too many tokens per minute" in str(err.value)


def test_fallback_from_a_failing_mantle_deployment_to_runtime(oai, emulator):
    emulator.script([{"operation": "mantle-responses", "error": {
        "type": "ServiceUnavailableException", "message": "Mantle is down"}}])
    reply = oai.chat.completions.with_raw_response.create(
        model="gpt-5-fallback", messages=[{"role": "user", "content": "Hi fallback"}],
    )
    completion = reply.parse()
    assert completion.choices[0].message.content.startswith(GREETING.format("us.openai.gpt-5.5"))
    assert reply.headers["x-litellm-attempted-fallbacks"] == "1"
    paths = [(c["path"], c["operation"]) for c in model_calls(emulator)]
    assert paths == [("/openai/v1/responses", "mantle-responses"), ("/openai/v1/chat/completions", "openai-chat")]


def test_mid_stream_error_from_mantle(oai, emulator):
    emulator.script([{"operation": "mantle-chat", "exception_after": 2, "exception": {
        "type": "throttlingException", "message": "slow down"}}])
    with pytest.raises(openai.APIError) as err:
        list(oai.chat.completions.create(
            model="no-retry", messages=[{"role": "user", "content": "Hi"}], stream=True))
    assert "slow down" in str(err.value)


# --- gateway around it ----------------------------------------------------------------------------


def test_models_list_and_prometheus_tokens(stack, oai):
    names = {m.id for m in oai.models.list()}
    assert {"gpt-oss", "gpt-5", "claude-mantle", "gpt-5-runtime"} <= names
    oai.chat.completions.create(model="gpt-oss", messages=[{"role": "user", "content": "count me"}])
    metrics = httpx.get(stack.url + "/metrics", headers={"authorization": f"Bearer {GATEWAY_KEY}"}).text
    tokens = [line for line in metrics.splitlines()
              if line.startswith("litellm_total_tokens") and 'model="openai.gpt-oss-120b"' in line]
    assert tokens and float(tokens[0].rsplit(" ", 1)[1]) > 0, tokens
    spend = [line for line in metrics.splitlines()
             if line.startswith("litellm_spend_metric") and 'model="openai.gpt-oss-120b"' in line]
    assert spend and float(spend[0].rsplit(" ", 1)[1]) > 0, spend


def test_bearer_key_from_aws_bearer_token_bedrock():
    proc, url = start_emulator()
    try:
        config = {"model_list": [{"model_name": "qwen", "litellm_params": {
            "model": "bedrock_mantle/qwen.qwen3-coder-30b-a3b-instruct", "api_base": url}}],
            "general_settings": {"master_key": GATEWAY_KEY}}
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_BEARER_TOKEN_BEDROCK"] = EXAMPLE_API_KEY
        gw, gw_url, _ = start_gateway(config, env=env)
        try:
            client = openai.OpenAI(base_url=gw_url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
            c = client.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "Hi"}])
            assert c.choices[0].message.content.startswith(GREETING.format("qwen.qwen3-coder-30b-a3b-instruct"))
            recorded = EmulatorControl(url).last_request()
            assert recorded["auth"] == "bearer"
        finally:
            stop_process(gw)
    finally:
        stop_process(proc)


def test_otel_attempt_spans_name_the_surface():
    from test_otel_traces import Collected, attrs, start_gateway_with_env, start_http_receiver

    proc, emu_url = start_emulator()
    collected = Collected()
    receiver, receiver_url = start_http_receiver(collected)
    config = {"model_list": [mantle("gpt-oss", "bedrock_mantle/openai.gpt-oss-120b", emu_url)],
              "general_settings": {"master_key": GATEWAY_KEY}, "litellm_settings": {"callbacks": ["otel"]}}
    gw, url = start_gateway_with_env(config, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        client.chat.completions.create(model="gpt-oss", messages=[{"role": "user", "content": "Hi"}])
        attempts = collected.wait_for(lambda s: s.kind == s.SPAN_KIND_CLIENT)
        a = attrs(attempts[0])
        assert a["rpc.service"] == "BedrockMantle"
        assert a["rpc.method"] == "ChatCompletions"
        assert a["server.address"] == "127.0.0.1"
        assert a["url.full"].endswith("/v1/chat/completions")
        assert a["gen_ai.request.model"] == "openai.gpt-oss-120b"
    finally:
        stop_process(gw)
        receiver.shutdown()
        stop_process(proc)


def test_virtual_key_budget_is_charged_for_a_mantle_call(pg_url):
    from keys_harness import KeysGateway, wait_for

    proc, emu_url = start_emulator()
    gw = KeysGateway(emu_url, pg_url, models=[
        mantle("gpt-oss", "bedrock_mantle/openai.gpt-oss-120b", emu_url,
               input_cost_per_token=0.001, output_cost_per_token=0.002)])
    try:
        key = gw.generate(key_alias="mantle-budget", max_budget=0.0001)["key"]
        first = gw.chat(key, model="gpt-oss")
        assert first.status_code == 200, first.text
        cost = float(first.headers["x-litellm-response-cost"])
        assert cost > 0.0001
        wait_for(lambda: gw.key_info(key)["info"]["spend"] == pytest.approx(cost), what="the key's spend")
        refused = gw.chat(key, model="gpt-oss")
        assert refused.status_code == 400, refused.text
        assert "budget" in refused.json()["error"]["message"].lower()
        # Streams are charged when they end.
        streamer = gw.generate(key_alias="mantle-stream", max_budget=10)["key"]
        r = gw.chat(streamer, model="gpt-oss", stream=True)
        assert r.status_code == 200 and "[DONE]" in r.text
        wait_for(lambda: gw.key_info(streamer)["info"]["spend"] > 0, what="the stream's spend")
    finally:
        gw.stop()
        stop_process(proc)


def test_shale_demo_serves_the_mantle_models():
    from shale_harness import SHALE_BIN
    import subprocess

    proc = subprocess.Popen([SHALE_BIN, "demo", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        key = url = None
        for _ in range(10):
            line = proc.stdout.readline().strip()
            if line.startswith("key: "):
                key = line[len("key: "):]
            if line.startswith("shale listening on "):
                url = line[len("shale listening on "):]
                break
        assert key and url, "the demo printed its key and address"
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        for model, bedrock_id in (("gpt-oss-mantle", "openai.gpt-oss-120b"),
                                  ("claude-mantle", "anthropic.claude-opus-4-8")):
            c = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}])
            assert c.choices[0].message.content.startswith(GREETING.format(bedrock_id))
        r = client.responses.create(model="gpt-oss-mantle", input="Hi")
        assert r.output_text.startswith(GREETING.format("openai.gpt-oss-120b"))
    finally:
        stop_process(proc)
