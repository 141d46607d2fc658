"""End-to-end checks from issue #17 on the real binaries: load balancing over repeated
`model_name`s follows the configured weights, the Mistral invoke prompt is exactly Bedrock's
documented form, float embeddings are written as Bedrock's float32 values (shortest form), and a
non-ASCII image URL is a 400, not a dropped connection."""

from __future__ import annotations

import collections
import json
import math
import re
import struct
import urllib.error
import urllib.request

import pytest

from shale_harness import GATEWAY_KEY, deployment, start_gateway, stop_process

MODELS = {
    "haiku": "anthropic.claude-3-haiku-20240307-v1:0",
    "sonnet": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "nova": "amazon.nova-lite-v1:0",
}
WEIGHTS = {"haiku": 1, "sonnet": 2, "nova": 1}


@pytest.fixture(scope="module")
def gateway(emulator_url):
    config = {
        "general_settings": {"master_key": GATEWAY_KEY},
        "model_list": [
            deployment("lb", f"bedrock/{MODELS[k]}", emulator_url, weight=w) for k, w in WEIGHTS.items()
        ]
        + [
            deployment("single", f"bedrock/{MODELS['nova']}", emulator_url),
            deployment("mistral", "bedrock/invoke/mistral.mistral-7b-instruct-v0:2", emulator_url),
            deployment("titan-v2", "bedrock/amazon.titan-embed-text-v2:0", emulator_url),
            deployment("noretry", f"bedrock/{MODELS['haiku']}", emulator_url, num_retries=0),
            deployment("retry2", f"bedrock/{MODELS['haiku']}", emulator_url, num_retries=2),
        ],
    }
    proc, url, _ = start_gateway(config)
    try:
        yield url
    finally:
        stop_process(proc)


def post(url: str, path: str, body: dict) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_weighted_load_balancing_over_a_repeated_model_name(gateway, emulator):
    n = 400
    for i in range(n):
        status, _, body = post(gateway, "/v1/chat/completions",
                               {"model": "lb", "messages": [{"role": "user", "content": f"hi {i}"}], "max_tokens": 5})
        assert status == 200, body
    seen = collections.Counter(r["model_id"] for r in emulator.requests() if r.get("model_id"))
    by_name = {name: seen[model] for name, model in MODELS.items()}
    assert sum(by_name.values()) == n, by_name
    total = sum(WEIGHTS.values())
    for name, weight in WEIGHTS.items():
        p = weight / total
        mean, sd = n * p, math.sqrt(n * p * (1 - p))
        # 5 standard deviations: a correct picker fails this about once in 1.7 million runs.
        assert abs(by_name[name] - mean) <= 5 * sd, (name, by_name, mean, sd)
    # The 2:1 weight shows: sonnet is picked clearly more often than either other one.
    assert by_name["sonnet"] > by_name["haiku"] and by_name["sonnet"] > by_name["nova"], by_name


def test_a_single_deployment_is_always_chosen(gateway, emulator):
    for i in range(20):
        status, _, _ = post(gateway, "/v1/chat/completions",
                            {"model": "single", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5})
        assert status == 200
    assert {r["model_id"] for r in emulator.requests()} == {MODELS["nova"]}


def test_mistral_invoke_prompt_is_exactly_the_documented_form(gateway, emulator):
    status, _, body = post(gateway, "/v1/chat/completions",
                           {"model": "mistral", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 9})
    assert status == 200, body
    sent = emulator.last_request()["body"]
    assert sent["prompt"] == "<s>[INST] Hello [/INST]"
    status, _, body = post(gateway, "/v1/chat/completions", {"model": "mistral", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Again"}]})
    assert status == 200, body
    assert emulator.last_request()["body"]["prompt"] == "<s>[INST] Be brief.\n\nHi [/INST] Hello.</s>[INST] Again [/INST]"


NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def f32_shortest(x: float) -> str:
    """The shortest decimal that reads back as the same float32 (what Bedrock prints)."""
    target = struct.pack("<f", x)
    for digits in range(1, 10):
        text = f"{x:.{digits}g}"
        if struct.pack("<f", float(text)) == target:
            return text
    return repr(x)


def test_float_embeddings_are_bedrocks_float32_values_in_shortest_form(gateway, emulator):
    status, _, raw = post(gateway, "/v1/embeddings",
                          {"model": "titan-v2", "input": "shortest floats", "encoding_format": "float"})
    assert status == 200, raw
    values = json.loads(raw)["data"][0]["embedding"]
    assert values
    # The raw text of the vector: every number as float32's shortest representation.
    vector_text = raw[raw.index(b'"embedding":[') + len(b'"embedding":['):]
    vector_text = vector_text[: vector_text.index(b"]")]
    printed = NUMBER.findall(vector_text)
    assert len(printed) == len(values)
    for token, value in zip(printed, values):
        assert float(token) == float(f32_shortest(value)), (token, f32_shortest(value))
        significant = len(token.lstrip(b"-").replace(b".", b"").split(b"e")[0].lstrip(b"0"))
        assert significant <= 9, f"{token!r} is a float32 widened to float64"


@pytest.mark.parametrize("url", ["abcdé", "data:é", "s3:/é"])
def test_non_ascii_media_url_is_a_400(gateway, emulator, url):
    status, headers, body = post(gateway, "/v1/chat/completions", {"model": "single", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]}]})
    assert status == 400, body
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert headers.get("content-type", headers.get("Content-Type")) == "application/json"


THROTTLED = {"message": "Too many requests, please wait before trying again."}


def chat_once(url: str, model: str, stream: bool = False):
    return post(url, "/v1/chat/completions",
                {"model": model, "messages": [{"role": "user", "content": "x"}], "stream": stream})


def test_final_429_passes_bedrocks_retry_after(gateway, emulator):
    emulator.script([{"body": THROTTLED, "status": 429,
                      "headers": {"x-amzn-ErrorType": "ThrottlingException", "Retry-After": "7"}}])
    status, headers, body = chat_once(gateway, "noretry")
    assert status == 429, body
    assert {k.lower(): v for k, v in headers.items()}["retry-after"] == "7"
    assert json.loads(body)["error"]["type"]


def test_final_429_after_retries_carries_the_computed_backoff(gateway, emulator):
    emulator.script([{"error": {"type": "ThrottlingException"}} for _ in range(3)])
    status, headers, body = chat_once(gateway, "retry2")
    assert status == 429, body
    assert len(emulator.requests()) == 3, "two retries, then the final answer"
    retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1, headers


def test_other_errors_carry_no_retry_after(gateway, emulator):
    emulator.script([{"error": {"type": "ValidationException", "message": "bad"}}])
    status, headers, _ = chat_once(gateway, "noretry")
    assert status == 400
    assert "retry-after" not in {k.lower() for k in headers}
