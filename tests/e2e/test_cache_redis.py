"""The response cache on a real `redis-server` (LiteLLM's default `type: redis`): two replicas
share entries (streamed and not), the configured TTL is Redis's expiry, `/cache/flushall` removes
the namespace and nothing else, `/cache/ping` talks to Redis — and killing Redis mid-run leaves
both replicas answering (uncached, no 5xx, no long waits), with one warning and
`shale_dependency_up{dependency="redis"}` at 0, until Redis is back and caching resumes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest
import redis as redis_client

from cache_harness import CacheGateway, bedrock_calls, config, prompt, read_to_the_end, sse_events
from prometheus_scrape import Scrape
from redis_server import free_port, require_redis, start_redis, stop_redis
from shale_harness import EmulatorControl, start_emulator, stop_process

WARNING = "Redis is unreachable: the response cache is skipped"


@pytest.fixture(scope="module")
def redis_port():
    require_redis()
    port = free_port()
    proc = start_redis(port)
    holder = {"proc": proc}
    yield port, holder
    stop_redis(holder["proc"])


@pytest.fixture(scope="module")
def stack(redis_port):
    port, _ = redis_port
    emu_proc, emu_url = start_emulator()
    cfg = config(emu_url, {"type": "redis", "host": "127.0.0.1", "port": port, "namespace": "e2e.cache", "ttl": 30})
    one = CacheGateway(cfg)
    two = CacheGateway(cfg)
    try:
        yield one, two, EmulatorControl(emu_url), redis_client.Redis(port=port)
    finally:
        one.stop()
        two.stop()
        stop_process(emu_proc)


def test_two_replicas_share_entries(stack):
    one, two, emu, _ = stack
    emu.reset()
    q = prompt("replicas")
    a = one.chat(q)
    b = two.chat(q)
    assert (a.headers["x-shale-cache"], b.headers["x-shale-cache"]) == ("miss", "hit")
    assert a.json() == b.json()
    assert b.headers["x-litellm-cache-key"].startswith("e2e.cache:")
    sa = one.openai().chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": q}], stream=True)
    chunks_a = read_to_the_end(sa)
    sb = two.openai().chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": q}], stream=True)
    assert sb.headers["x-shale-cache"] == "hit"
    assert [c.model_dump() for c in sb.parse()] == chunks_a
    assert bedrock_calls(emu) == 2


def test_the_ttl_is_rediss_expiry(stack):
    one, two, emu, r = stack
    key = one.chat(prompt("ttl"), cache={"ttl": 2}).headers["x-litellm-cache-key"]
    time.sleep(0.2)
    assert 0 < r.pttl(key) <= 2000
    default = one.chat(prompt("ttl-default")).headers["x-litellm-cache-key"]
    time.sleep(0.2)
    assert 25_000 < r.pttl(default) <= 30_000, "cache_params.ttl: 30"
    time.sleep(2.2)
    assert r.exists(key) == 0


def test_ping_and_flushall_touch_only_the_namespace(stack):
    one, two, emu, r = stack
    ping = one.admin("GET", "/cache/ping")
    assert ping.status_code == 200, ping.text
    body = ping.json()
    assert (body["status"], body["cache_type"], body["ping_response"], body["set_cache_response"]) == ("healthy", "redis", True, "success")
    r.set("not.the.cache:keep", "1")
    r.set("e2e.cache.other:keep", "1")
    q = prompt("flush")
    one.chat(q)
    time.sleep(0.2)
    assert two.chat(q).headers["x-shale-cache"] == "hit"
    flushed = two.admin("POST", "/cache/flushall")
    assert flushed.status_code == 200 and flushed.json()["deleted"] >= 1
    assert r.keys("e2e.cache:*") == []
    assert r.get("not.the.cache:keep") == b"1" and r.get("e2e.cache.other:keep") == b"1"
    assert any(k.startswith(b"shale:") for k in r.keys("*")), "the router's shared state is untouched"
    assert one.chat(q).headers["x-shale-cache"] == "miss"


def test_killing_redis_serves_uncached_then_recovers(stack, redis_port):
    one, two, emu, _ = stack
    port, holder = redis_port
    q = prompt("outage")
    one.chat(q)
    time.sleep(0.2)
    assert two.chat(q).headers["x-shale-cache"] == "hit"
    assert Scrape.of(one.url).value("shale_dependency_up", dependency="redis") == 1
    stop_redis(holder["proc"])
    emu.reset()
    try:
        for i in range(6):
            for gw in (one, two):
                started = time.monotonic()
                r = gw.chat(q)
                took = time.monotonic() - started
                assert r.status_code == 200, r.text
                assert r.headers["x-shale-cache"] == "miss", "served uncached"
                assert took < 2.0, f"a lookup with Redis down took {took:.2f}s"
            streamed = one.chat(q, stream=True)
            assert streamed.status_code == 200 and sse_events(streamed.content)[-1] == "data: [DONE]"
            time.sleep(0.3)
        assert bedrock_calls(emu) == 18, "every request went to Bedrock"
        scrape = Scrape.of(one.url)
        assert scrape.value("shale_dependency_up", dependency="redis") == 0
        assert scrape.value("shale_dependency_outages_total", dependency="redis") >= 1
        for gw in (one, two):
            assert gw.log_text().count(WARNING) == 1, gw.log_text()[-2000:]
    finally:
        holder["proc"] = start_redis(port)
    # Back: the connection comes back by itself and caching resumes.
    deadline = time.monotonic() + 20
    while Scrape.of(one.url).value("shale_dependency_up", dependency="redis") != 1:
        assert time.monotonic() < deadline, "Redis did not come back"
        time.sleep(0.5)
    q2 = prompt("after")
    deadline = time.monotonic() + 10
    while one.chat(q2).headers["x-shale-cache"] != "hit":
        assert time.monotonic() < deadline, "caching did not resume"
        time.sleep(0.3)
    assert "the response cache is back" in one.log_text()


def test_a_tls_redis(tmp_path):
    """`ssl: true` connects with TLS (`rediss://`); `ssl_cert_reqs: none` accepts a self-signed
    certificate (a test setup; production keeps the default verification)."""
    require_redis()
    if shutil.which("openssl") is None:
        message = "openssl is not installed (tests/run-all.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost"],
        capture_output=True,
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert),
         "--tls-key-file", str(key), "--tls-auth-clients", "no", "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    emu_proc, emu_url = start_emulator()
    gw = None
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server (TLS) did not start"
                time.sleep(0.05)
        params = {"type": "redis", "host": "127.0.0.1", "port": port, "ssl": True, "ssl_cert_reqs": "none"}
        gw = CacheGateway(config(emu_url, params))
        q = prompt("tls")
        assert gw.chat(q).headers["x-shale-cache"] == "miss"
        assert gw.chat(q).headers["x-shale-cache"] == "hit", gw.log_text()[-3000:]
        ping = gw.admin("GET", "/cache/ping")
        assert ping.status_code == 200 and ping.json()["ping_response"] is True
        assert "rediss://127.0.0.1" in ping.json()["litellm_cache_params"]["store"]
    finally:
        if gw:
            gw.stop()
        stop_process(emu_proc)
        stop_redis(proc)
