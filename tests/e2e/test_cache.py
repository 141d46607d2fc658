"""The response cache (issue #30) with `type: local`, driven by the official OpenAI and Anthropic
SDKs against the emulator: a miss then a hit on every route (chat, completions, embeddings per
input item, /v1/messages native and Converse, /v1/responses), streamed and not, hits replayed as
streams of the client's shape; the per-request controls (body `cache`, `Cache-Control`,
`caching: false`), TTLs, what is never stored (errors, empty answers, failed and cut streams), the
admin API, metrics, and that a hit consumes no deployment rpm. Redis-backed behaviour (replicas,
Redis killed) is in test_cache_redis.py; keys, spend logs and `allowed_cache_controls` in
test_cache_keys.py."""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx
import pytest

from cache_harness import CacheGateway, bedrock_calls, config, prompt, read_to_the_end, sse_events
from prometheus_scrape import Scrape
from shale_harness import GATEWAY_KEY, SHALE_BIN, EmulatorControl, start_emulator, stop_process


@pytest.fixture(scope="module")
def stack():
    emu_proc, emu_url = start_emulator()
    cfg = config(
        emu_url,
        {"type": "local", "max_entries": 1000, "max_bytes": 8 * 1024 * 1024},
        router_settings={"model_group_alias": {"chat-alias": "chat"}},
    )
    gw = CacheGateway(cfg)
    try:
        yield gw, EmulatorControl(emu_url)
    finally:
        gw.stop()
        stop_process(emu_proc)


@pytest.fixture
def gw(stack):
    gw, emu = stack
    emu.reset()
    return gw


@pytest.fixture
def emu(stack):
    return stack[1]


# ---------------------------------------------------------------- every route, streamed and not


def test_chat_completion_miss_then_hit(gw, emu):
    client = gw.openai()
    q = prompt("chat")
    first = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": q}])
    second = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": q}])
    assert first.headers["x-shale-cache"] == "miss"
    assert float(first.headers["x-litellm-response-cost"]) > 0
    assert second.headers["x-shale-cache"] == "hit"
    assert second.headers["x-litellm-response-cost"] == "0"
    key = second.headers["x-litellm-cache-key"]
    assert key.startswith("shale:cache:") and len(key.rsplit(":", 1)[1]) == 64
    assert first.headers["x-litellm-cache-key"] == key
    a, b = first.parse(), second.parse()
    assert a.model_dump() == b.model_dump()
    assert "You said" in b.choices[0].message.content
    assert bedrock_calls(emu) == 1, "the hit never reached Bedrock"


def test_chat_stream_is_replayed_as_the_same_chunks(gw, emu):
    client = gw.openai()
    q = prompt("stream")
    msgs = [{"role": "user", "content": q}]
    miss = client.chat.completions.with_raw_response.create(model="chat", messages=msgs, stream=True)
    chunks_a = read_to_the_end(miss)
    hit = client.chat.completions.with_raw_response.create(model="chat", messages=msgs, stream=True)
    assert (miss.headers["x-shale-cache"], hit.headers["x-shale-cache"]) == ("miss", "hit")
    assert hit.headers["content-type"].startswith("text/event-stream")
    chunks_b = [c.model_dump() for c in hit.parse()]
    assert len(chunks_a) > 2 and chunks_a == chunks_b
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks_b if c["choices"]).startswith("Hello")
    assert bedrock_calls(emu) == 1
    # `stream` is part of the key: the same prompt without streaming is another entry.
    plain = client.chat.completions.with_raw_response.create(model="chat", messages=msgs)
    assert plain.headers["x-shale-cache"] == "miss"
    assert bedrock_calls(emu) == 2


def test_completions_streamed_and_not(gw, emu):
    client = gw.openai()
    q = prompt("complete")
    for stream in (False, True):
        r1 = client.completions.with_raw_response.create(model="chat", prompt=q, stream=stream, max_tokens=50)
        a = read_to_the_end(r1) if stream else None
        r2 = client.completions.with_raw_response.create(model="chat", prompt=q, stream=stream, max_tokens=50)
        assert (r1.headers["x-shale-cache"], r2.headers["x-shale-cache"]) == ("miss", "hit")
        if stream:
            b = [c.model_dump() for c in r2.parse()]
            assert a == b and any(c["choices"] and c["choices"][0]["text"] for c in b)
        else:
            assert r1.parse().model_dump() == r2.parse().model_dump()
            assert r2.parse().object == "text_completion"
    assert bedrock_calls(emu) == 2


def test_embeddings_are_cached_per_input_item(gw, emu):
    client = gw.openai()
    a, b, c = prompt("ea"), prompt("eb"), prompt("ec")
    first = client.embeddings.with_raw_response.create(model="embed", input=[a, b])
    assert first.headers["x-shale-cache"] == "miss"
    assert bedrock_calls(emu) == 2, "Titan: one call per item"
    vectors = {a: first.parse().data[0].embedding, b: first.parse().data[1].embedding}
    emu.reset()
    part = client.embeddings.with_raw_response.create(model="embed", input=[b, c])
    assert part.headers["x-shale-cache"] == "partial"
    sent = [r["body"]["inputText"] for r in emu.requests() if r["path"].startswith("/model/")]
    assert sent == [c], "only the missed item went to Bedrock"
    got = part.parse()
    assert [d.index for d in got.data] == [0, 1]
    assert got.data[0].embedding == vectors[b]
    vectors[c] = got.data[1].embedding
    emu.reset()
    whole = client.embeddings.with_raw_response.create(model="embed", input=[c, a, b, a])
    assert whole.headers["x-shale-cache"] == "hit"
    assert bedrock_calls(emu) == 0
    assert [d.embedding for d in whole.parse().data] == [vectors[c], vectors[a], vectors[b], vectors[a]]
    assert whole.parse().usage.prompt_tokens > 0
    single = client.embeddings.with_raw_response.create(model="embed", input=a)
    assert single.headers["x-shale-cache"] == "hit"
    assert single.headers["x-litellm-cache-key"].startswith("shale:cache:")
    # Another encoding is another entry (the SDK asks for base64 by default; vectors are stored
    # as they were sent).
    floats = client.embeddings.with_raw_response.create(model="embed", input=a, encoding_format="float")
    assert floats.headers["x-shale-cache"] == "miss"
    assert floats.parse().data[0].embedding == pytest.approx(vectors[a], rel=1e-6)
    assert bedrock_calls(emu) == 1


@pytest.mark.parametrize("model", ["claude", "chat"])
def test_messages_streamed_and_not_with_the_anthropic_sdk(gw, emu, model):
    client = gw.anthropic()
    q = prompt("messages")
    msgs = [{"role": "user", "content": q}]
    r1 = client.messages.with_raw_response.create(model=model, max_tokens=64, messages=msgs)
    r2 = client.messages.with_raw_response.create(model=model, max_tokens=64, messages=msgs)
    assert (r1.headers["x-shale-cache"], r2.headers["x-shale-cache"]) == ("miss", "hit")
    assert r1.parse().model_dump() == r2.parse().model_dump()
    assert r2.parse().content[0].text.startswith("Hello")
    s1 = client.messages.with_raw_response.create(model=model, max_tokens=64, messages=msgs, stream=True)
    e1 = read_to_the_end(s1)
    s2 = client.messages.with_raw_response.create(model=model, max_tokens=64, messages=msgs, stream=True)
    assert (s1.headers["x-shale-cache"], s2.headers["x-shale-cache"]) == ("miss", "hit")
    e2 = [e.model_dump() for e in s2.parse()]
    assert e1 == e2
    assert [e["type"] for e in e2][0] == "message_start" and e2[-1]["type"] == "message_stop"
    assert bedrock_calls(emu) == 2
    # The body's `cache` controls never reach Bedrock (native Claude refuses unknown keys).
    r3 = client.messages.with_raw_response.create(
        model=model, max_tokens=64, messages=msgs, extra_body={"cache": {"no-cache": True}}
    )
    assert r3.headers["x-shale-cache"] == "miss"
    assert "cache" not in emu.last_body()


def test_responses_streamed_and_not(gw, emu):
    client = gw.openai()
    q = prompt("responses")
    r1 = client.responses.with_raw_response.create(model="chat", input=q)
    r2 = client.responses.with_raw_response.create(model="chat", input=q)
    assert (r1.headers["x-shale-cache"], r2.headers["x-shale-cache"]) == ("miss", "hit")
    assert r1.parse().model_dump() == r2.parse().model_dump()
    assert r2.parse().output_text.startswith("Hello")
    s1 = client.responses.with_raw_response.create(model="chat", input=q, stream=True)
    e1 = read_to_the_end(s1)
    s2 = client.responses.with_raw_response.create(model="chat", input=q, stream=True)
    assert (s1.headers["x-shale-cache"], s2.headers["x-shale-cache"]) == ("miss", "hit")
    e2 = [e.model_dump() for e in s2.parse()]
    assert e1 == e2
    assert e2[0]["type"] == "response.created" and e2[-1]["type"] == "response.completed"
    assert bedrock_calls(emu) == 2


def test_member_order_and_model_aliases_share_an_entry(gw, emu):
    q = prompt("order")
    first = gw.post("/v1/chat/completions", f'{{"model": "chat", "temperature": 0.5, "messages": [{{"role": "user", "content": "{q}"}}]}}')
    again = gw.post(
        "/chat/completions",
        f'{{"messages":[{{"content":"{q}","role":"user"}}],"temperature":5e-1,"model":"chat-alias","metadata":{{"run":1}}}}',
    )
    assert first.headers["x-shale-cache"] == "miss"
    assert again.headers["x-shale-cache"] == "hit", "order, number spelling, alias and metadata do not matter"
    other = gw.chat(q, temperature=0.6)
    assert other.headers["x-shale-cache"] == "miss", "a different parameter is a different entry"
    assert bedrock_calls(emu) == 2


# ---------------------------------------------------------------- controls


def test_body_controls(gw, emu):
    q = prompt("controls")
    assert gw.chat(q, cache={"no-store": True}).headers["x-shale-cache"] == "miss"
    assert gw.chat(q, cache={"no-store": True}).headers["x-shale-cache"] == "miss", "no-store: nothing was stored"
    assert gw.chat(q).headers["x-shale-cache"] == "miss"
    assert gw.chat(q).headers["x-shale-cache"] == "hit"
    assert gw.chat(q, cache={"no-cache": True}).headers["x-shale-cache"] == "miss", "no-cache skips the read"
    # s-maxage: accept only a young enough entry.
    time.sleep(1.2)
    assert gw.chat(q, cache={"s-maxage": 1}).headers["x-shale-cache"] == "miss"
    assert gw.chat(q, cache={"s-max-age": 60}).headers["x-shale-cache"] == "hit"
    # namespace: another key prefix, another set of entries.
    ns = gw.chat(q, cache={"namespace": "team-a"})
    assert ns.headers["x-shale-cache"] == "miss"
    assert ns.headers["x-litellm-cache-key"].startswith("team-a:")
    assert gw.chat(q, cache={"namespace": "team-a"}).headers["x-shale-cache"] == "hit"
    # caching: false keeps the cache out entirely.
    off = gw.chat(q, caching=False)
    assert off.status_code == 200 and "x-shale-cache" not in off.headers
    calls = bedrock_calls(emu)
    assert calls == 7, calls
    # Bad controls are the client's mistake.
    bad = gw.chat(q, cache={"ttl": "soon"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "cache.ttl"
    bad = gw.post("/v1/messages", {"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": q}], "cache": {"namespace": "no spaces"}})
    assert bad.status_code == 400 and bad.json()["type"] == "error", "Anthropic's error shape on /v1/messages"


def test_per_request_ttl_expires(gw, emu):
    q = prompt("ttl")
    assert gw.chat(q, cache={"ttl": 1}).headers["x-shale-cache"] == "miss"
    assert gw.chat(q).headers["x-shale-cache"] == "hit"
    time.sleep(1.5)
    assert gw.chat(q).headers["x-shale-cache"] == "miss", "the entry expired"
    assert bedrock_calls(emu) == 2


def test_cache_control_header_is_mapped_onto_the_controls(gw, emu):
    q = prompt("header")
    assert gw.chat(q, headers={"cache-control": "no-store"}).headers["x-shale-cache"] == "miss"
    assert gw.chat(q, headers={"cache-control": "no-cache"}).headers["x-shale-cache"] == "miss"
    assert gw.chat(q).headers["x-shale-cache"] == "hit", "no-cache still stored the answer"
    assert gw.chat(q, headers={"cache-control": "max-age=0"}).headers["x-shale-cache"] == "miss"
    assert gw.chat(q, headers={"cache-control": "max-age=3600"}).headers["x-shale-cache"] == "hit"
    # The body wins over the header.
    both = gw.chat(q, headers={"cache-control": "no-cache"}, cache={"no-cache": False})
    assert both.headers["x-shale-cache"] == "hit"
    assert bedrock_calls(emu) == 3


# ---------------------------------------------------------------- never stored


def test_errors_and_answers_without_output_are_not_stored(gw, emu):
    q = prompt("error")
    emu.script([{"error": {"type": "ServiceUnavailableException", "message": "down"}}])
    assert gw.chat(q).status_code == 503
    assert gw.chat(q).headers["x-shale-cache"] == "miss", "the error was not stored"
    q = prompt("empty")
    emu.script([{"operation": "converse", "body": {
        "output": {"message": {"role": "assistant", "content": [{"text": ""}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 0, "totalTokens": 3},
        "metrics": {"latencyMs": 1},
    }}])
    empty = gw.chat(q)
    assert empty.status_code == 200 and empty.json()["choices"][0]["message"]["content"] in ("", None)
    time.sleep(0.2)
    assert gw.chat(q).headers["x-shale-cache"] == "miss", "an answer without output was not stored"


def test_failed_and_cut_streams_are_not_stored(gw, emu):
    for script, tag in (
        ({"operation": "converse-stream", "exception_after": 2, "exception": {"type": "throttlingException", "message": "slow down"}}, "failed"),
        ({"operation": "converse-stream", "cut_after": 2}, "cut"),
    ):
        q = prompt(tag)
        emu.script([script])
        r = gw.chat(q, stream=True)
        assert r.status_code == 200
        assert "error" in r.text
        time.sleep(0.2)
        again = gw.chat(q, stream=True)
        assert again.headers["x-shale-cache"] == "miss", tag
        assert again.text.rstrip().endswith("data: [DONE]")
        assert gw.chat(q, stream=True).headers["x-shale-cache"] == "hit", "the complete retry was stored"


def test_a_client_that_hangs_up_stores_nothing(gw, emu):
    q = prompt("hangup")
    emu.script([{"operation": "converse-stream", "pause_after": 2, "pause_ms": 2000}])
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": q}]}
    with gw.http.stream("POST", "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {GATEWAY_KEY}"}) as r:
        assert r.headers["x-shale-cache"] == "miss"
        next(r.iter_raw())
    time.sleep(2.5)
    assert gw.chat(q, stream=True).headers["x-shale-cache"] == "miss", "a truncated stream was not stored"


# ---------------------------------------------------------------- accounting, admin, metrics


def test_a_hit_consumes_no_deployment_rpm(gw, emu):
    q = prompt("rpm")
    statuses = [gw.chat(q, model="limited").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200], statuses
    assert bedrock_calls(emu) == 1
    # The deployment's one request this minute went to the miss.
    other = gw.chat(prompt("rpm-other"), model="limited")
    if other.status_code == 200:
        # The minute rolled over between the two: the limit itself is covered by the router tests.
        assert bedrock_calls(emu) == 2
    else:
        assert other.status_code == 429


def test_metrics_count_hits_misses_and_cached_tokens(gw, emu):
    before = Scrape.of(gw.url)
    q = prompt("metrics")
    miss = gw.chat(q)
    gw.chat(q)
    gw.chat(q)
    tokens = miss.json()["usage"]["total_tokens"]
    after = Scrape.of(gw.url)

    def delta(name: str) -> float:
        return after.value(name, model="chat") - before.value_or_zero(name, model="chat")

    assert delta("litellm_cache_hits_metric_total") == 2
    assert delta("litellm_cache_misses_metric_total") == 1
    assert delta("litellm_cached_tokens_metric_total") == 2 * tokens
    requests = after.value("litellm_proxy_total_requests_metric_total", requested_model="chat") - before.value_or_zero(
        "litellm_proxy_total_requests_metric_total", requested_model="chat"
    )
    assert requests == 3, "hits are requests too"
    for family in ("litellm_cache_hits_metric", "litellm_cache_misses_metric", "litellm_cached_tokens_metric"):
        assert after.has_family(family)


def test_admin_ping_delete_and_flushall(gw, emu):
    ping = gw.admin("GET", "/cache/ping")
    assert ping.status_code == 200, ping.text
    assert ping.json()["status"] == "healthy" and ping.json()["cache_type"] == "local"
    assert ping.json()["litellm_cache_params"]["namespace"] == "shale:cache"
    assert gw.admin("GET", "/cache/ping", key="sk-wrong").status_code in (401, 403)
    q1, q2 = prompt("del"), prompt("flush")
    key = gw.chat(q1).headers["x-litellm-cache-key"]
    gw.chat(q2)
    assert gw.chat(q1).headers["x-shale-cache"] == "hit"
    deleted = gw.admin("POST", "/cache/delete", {"keys": [key]})
    assert deleted.status_code == 200 and deleted.json() == {"status": "success", "deleted": 1}
    assert gw.chat(q1).headers["x-shale-cache"] == "miss"
    assert gw.chat(q2).headers["x-shale-cache"] == "hit"
    other_ns = gw.chat(q2, cache={"namespace": "keep-me"})
    assert other_ns.headers["x-shale-cache"] == "miss"
    flushed = gw.admin("POST", "/cache/flushall")
    assert flushed.status_code == 200 and flushed.json()["deleted"] >= 2
    assert gw.chat(q2).headers["x-shale-cache"] == "miss"
    assert gw.chat(q2, cache={"namespace": "keep-me"}).headers["x-shale-cache"] == "hit", "only the namespace is flushed"
    assert gw.admin("POST", "/cache/delete", {"keys": "x"}).status_code == 400


# ---------------------------------------------------------------- modes and configuration


def test_default_off_mode_needs_use_cache(emu):
    gw = CacheGateway(config(emu.url, {"type": "local", "mode": "default_off"}))
    try:
        q = prompt("off")
        assert "x-shale-cache" not in gw.chat(q).headers
        assert "x-shale-cache" not in gw.chat(q).headers
        assert gw.chat(q, cache={"use-cache": True}).headers["x-shale-cache"] == "miss"
        assert gw.chat(q, cache={"use-cache": True}).headers["x-shale-cache"] == "hit"
    finally:
        gw.stop()


def test_supported_call_types_limit_the_routes(emu):
    gw = CacheGateway(config(emu.url, {"type": "local", "supported_call_types": ["aembedding"]}))
    try:
        q = prompt("types")
        assert "x-shale-cache" not in gw.chat(q).headers
        client = gw.openai()
        assert client.embeddings.with_raw_response.create(model="embed", input=q).headers["x-shale-cache"] == "miss"
    finally:
        gw.stop()


def test_a_cache_off_gateway_answers_the_admin_api_with_503(emu):
    cfg = config(emu.url, None)
    cfg["litellm_settings"]["cache"] = False
    gw = CacheGateway(cfg)
    try:
        assert "x-shale-cache" not in gw.chat(prompt("nocache")).headers
        r = gw.admin("GET", "/cache/ping")
        assert r.status_code == 503 and "Cache not initialized" in r.json()["error"]["message"]
    finally:
        gw.stop()


def write_config(tmp_path, cfg: dict) -> str:
    path = tmp_path / "cache.yaml"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_redis_cache_without_a_redis_does_not_start(tmp_path, emu):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    path = write_config(tmp_path, config(emu.url, {"type": "redis"}))
    run = subprocess.run([SHALE_BIN, "--config", path, "--port", "0"], capture_output=True, text=True, env=env, timeout=30)
    assert run.returncode != 0
    assert "no Redis is configured" in run.stderr, run.stderr
    check = subprocess.run([SHALE_BIN, "check", path], capture_output=True, text=True, env=env)
    assert check.returncode == 0
    assert "response cache: on — NOT STARTING" in check.stdout, check.stdout


def test_shale_check_tells_what_the_cache_does_and_refuses_unknown_types(tmp_path, emu):
    cfg = config(emu.url, {"type": "redis", "host": "cache.internal", "password": "s3cret", "ttl": 60, "scope": "key", "redis_flush_size": 5})
    path = write_config(tmp_path, cfg)
    out = subprocess.run([SHALE_BIN, "check", path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if "response cache:" in l)
    assert "Redis at redis://:***@cache.internal:6379/ (from cache_params.host)" in line
    assert "ttl 60 s" in line and "per virtual key" in line
    assert "s3cret" not in out.stdout
    assert "cache_params.redis_flush_size" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: []\nlitellm_settings:\n  cache: true\n  cache_params:\n    type: s3\n")
    out = subprocess.run([SHALE_BIN, "check", str(bad)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "litellm_settings.cache_params.type" in out.stderr and "line 5" in out.stderr, out.stderr


def test_a_replayed_stream_is_the_bytes_first_sent(gw, emu):
    """The stored stream is the exact bytes the client received (nothing re-translated)."""
    q = prompt("bytes")
    a = gw.chat(q, stream=True)
    b = gw.chat(q, stream=True)
    assert b.headers["x-shale-cache"] == "hit"
    assert sse_events(a.content) == sse_events(b.content)
    assert httpx.Headers(b.headers)["content-type"].startswith("text/event-stream")
