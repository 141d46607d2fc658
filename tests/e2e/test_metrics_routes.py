"""Tokens and cost on every model route, end to end: `/v1/messages` (Claude native and Nova
through Converse, with and without streaming, prompt caching included), `/v1/responses` (plain and
streamed) and the Bedrock pass-through (converse, converse-stream, invoke,
invoke-with-response-stream) through the real gateway and the emulator. What each client saw
(its usage) is priced here and compared with the `x-litellm-response-cost` header and the token
and spend series of the scrape (parsed with `prometheus_client`).
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from prometheus_scrape import Scrape
from shale_harness import GATEWAY_KEY, deployment, stack_fixture

CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CLAUDE_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
# Geo (us.) tier of Claude Sonnet 4.5 in crates/shale-telemetry/data/bedrock_prices.json, per token:
# input, output, cache read, cache write.
CLAUDE_PRICES = (3.3e-6, 16.5e-6, 0.33e-6, 4.125e-6)
NOVA = "bedrock/amazon.nova-lite-v1:0"
# Set per deployment with LiteLLM's keys.
NOVA_PRICES = (1e-6, 2e-6, 0.5e-6, 1.5e-6)
NOVA_PARAMS = {
    "input_cost_per_token": NOVA_PRICES[0],
    "output_cost_per_token": NOVA_PRICES[1],
    "cache_read_input_token_cost": NOVA_PRICES[2],
    "cache_creation_input_token_cost": NOVA_PRICES[3],
}


def gateway_config(emulator_url: str) -> dict:
    entries = [
        ("msg-claude", CLAUDE, {}),
        ("msg-nova", NOVA, NOVA_PARAMS),
        ("resp-nova", NOVA, NOVA_PARAMS),
        ("pt-claude", CLAUDE, {}),
        ("pt-nova", NOVA, NOVA_PARAMS),
    ]
    model_list = []
    for name, model, params in entries:
        d = deployment(name, model, emulator_url, **params)
        d["model_info"] = {"id": name + "-1"}
        model_list.append(d)
    return {
        "model_list": model_list,
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"callbacks": ["prometheus"]},
    }


stack = stack_fixture(gateway_config)


class Usage:
    """Billing view of one answer: uncached input, output, cache read, cache write."""

    def __init__(self, inp: int, out: int, read: int = 0, write: int = 0):
        self.inp, self.out, self.read, self.write = inp, out, read, write

    @property
    def prompt(self) -> int:
        return self.inp + self.read + self.write

    def cost(self, prices: tuple) -> float:
        return (self.inp * prices[0] + self.out * prices[1] + self.read * prices[2]
                + self.write * prices[3])


def anthropic_usage(u) -> Usage:
    return Usage(u.input_tokens, u.output_tokens, u.cache_read_input_tokens or 0,
                 u.cache_creation_input_tokens or 0)


def bedrock_usage(u: dict) -> Usage:
    return Usage(u["inputTokens"], u["outputTokens"], u.get("cacheReadInputTokens", 0),
                 u.get("cacheWriteInputTokens", 0))


def assert_counted(url: str, model: str, usages: list[Usage], prices: tuple, requests: int) -> None:
    """The scrape's token, spend and request series of `model` add up to what the clients saw."""
    s = Scrape.of(url)
    assert s.value("litellm_proxy_total_requests_metric_total", requested_model=model,
                   status_code="200") == requests
    assert s.value("litellm_input_tokens_metric_total", requested_model=model) == sum(
        u.prompt for u in usages)
    assert s.value("litellm_output_tokens_metric_total", requested_model=model) == sum(
        u.out for u in usages)
    assert s.value("litellm_total_tokens_metric_total", requested_model=model) == sum(
        u.prompt + u.out for u in usages)
    assert s.value("litellm_spend_metric_total", model_id=model + "-1") == pytest.approx(
        sum(u.cost(prices) for u in usages))


def cached_system(tag: str) -> list:
    return [{"type": "text", "text": f"[{tag}] Answer briefly and politely. " * 150,
             "cache_control": {"type": "ephemeral"}}]


@pytest.mark.parametrize("model,prices", [("msg-claude", CLAUDE_PRICES), ("msg-nova", NOVA_PRICES)])
def test_messages_plain_and_streamed_with_prompt_cache(stack, model, prices):
    client = anthropic.Anthropic(base_url=stack.url, api_key=GATEWAY_KEY, max_retries=0)
    system = cached_system(model)
    seen = []
    for question in ["first question", "second question"]:
        raw = client.messages.with_raw_response.create(
            model=model, max_tokens=200, system=system,
            messages=[{"role": "user", "content": question}])
        usage = anthropic_usage(raw.parse().usage)
        assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(usage.cost(prices))
        seen.append(usage)
    assert seen[0].write > 0 and seen[1].read > 0, "the second request reads the cached prefix"
    with client.messages.stream(model=model, max_tokens=200, system=system,
                                messages=[{"role": "user", "content": "third, streamed"}]) as stream:
        final = stream.get_final_message()
    streamed = anthropic_usage(final.usage)
    assert streamed.out > 0 and streamed.prompt > 0
    seen.append(streamed)
    assert_counted(stack.url, model, seen, prices, requests=3)


def test_responses_plain_and_streamed(stack):
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    raw = client.responses.with_raw_response.create(model="resp-nova", input="Tell me about otters")
    u = raw.parse().usage
    plain = Usage(u.input_tokens - u.input_tokens_details.cached_tokens, u.output_tokens,
                  u.input_tokens_details.cached_tokens)
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(plain.cost(NOVA_PRICES))
    events = list(client.responses.create(model="resp-nova", input="And about beavers?",
                                          stream=True))
    completed = [e for e in events if e.type == "response.completed"]
    assert len(completed) == 1
    u = completed[0].response.usage
    streamed = Usage(u.input_tokens, u.output_tokens)
    assert streamed.out > 0
    assert_counted(stack.url, "resp-nova", [plain, streamed], NOVA_PRICES, requests=2)


def passthrough_client(gateway: str):
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime", endpoint_url=gateway + "/bedrock", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30))
    client.meta.events.register(
        "before-send.bedrock-runtime.*",
        lambda request, **kw: request.headers.__setitem__("x-api-key", GATEWAY_KEY))
    return client


def test_passthrough_converse_and_converse_stream(stack):
    runtime = passthrough_client(stack.url)
    system = [{"text": "Pass-through cached rules. " * 200}, {"cachePoint": {"type": "default"}}]
    seen = []
    for question in ["one", "two"]:
        out = runtime.converse(modelId="pt-nova", system=system,
                               messages=[{"role": "user", "content": [{"text": question}]}])
        seen.append(bedrock_usage(out["usage"]))
    assert seen[0].write > 0 and seen[1].read > 0
    streamed = runtime.converse_stream(
        modelId="pt-nova", messages=[{"role": "user", "content": [{"text": "stream it"}]}])
    metadata = [e["metadata"] for e in streamed["stream"] if "metadata" in e]
    assert len(metadata) == 1
    seen.append(bedrock_usage(metadata[0]["usage"]))
    assert_counted(stack.url, "pt-nova", seen, NOVA_PRICES, requests=3)
    s = Scrape.of(stack.url)
    # The relayed stream counts as a stream (time to first byte).
    assert s.value("litellm_llm_api_time_to_first_token_metric_count", model_id="pt-nova-1") == 1


def test_passthrough_invoke_and_invoke_stream(stack):
    runtime = passthrough_client(stack.url)
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": "Invoke me"}]}
    out = runtime.invoke_model(modelId="pt-claude", body=json.dumps(body))
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    plain = Usage(int(headers["x-amzn-bedrock-input-token-count"]),
                  int(headers["x-amzn-bedrock-output-token-count"]))
    assert float(headers["x-litellm-response-cost"]) == pytest.approx(plain.cost(CLAUDE_PRICES))
    streamed_out = runtime.invoke_model_with_response_stream(modelId="pt-claude", body=json.dumps(body))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in streamed_out["body"] if "chunk" in e]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    streamed = Usage(metrics["inputTokenCount"], metrics["outputTokenCount"])
    assert_counted(stack.url, "pt-claude", [plain, streamed], CLAUDE_PRICES, requests=2)


def test_passthrough_errors_are_bedrocks(stack):
    stack.emulator.script([{"error": {"type": "ThrottlingException", "message": "slow down"}}])
    runtime = passthrough_client(stack.url)
    with pytest.raises(runtime.exceptions.ThrottlingException):
        runtime.converse(modelId="pt-nova", messages=[{"role": "user", "content": [{"text": "x"}]}])
    s = Scrape.of(stack.url)
    assert s.value("litellm_proxy_failed_requests_metric_total", requested_model="pt-nova",
                   exception_status="429", exception_class="Bedrock.RateLimitError") == 1
