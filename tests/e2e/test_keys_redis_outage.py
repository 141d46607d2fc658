"""Virtual keys (issue #26) across a Redis outage, end to end: two gateway replicas share one real
redis-server and one real PostgreSQL; Redis freezes (SIGSTOP: connections stay open, nothing is
answered), one replica keeps serving a key and settles its spend locally
(`shale_keys_unshared_spend` > 0), Redis wakes (SIGCONT), and that spend reaches the shared
counter exactly once — so the other replica, which never saw those requests, now refuses the key
for its budget."""

from __future__ import annotations

import hashlib
import signal
import time

import openai
import pytest
import redis as redis_client

from keys_harness import KeysGateway, free_port, start_redis, wait_for
from prometheus_scrape import Scrape
from redis_server import require_redis, stop_redis
from shale_harness import EmulatorControl, start_emulator, stop_process


@pytest.fixture(scope="module")
def emu():
    proc, url = start_emulator()
    yield url, EmulatorControl(url)
    stop_process(proc)


@pytest.fixture(scope="module")
def redis_proc():
    require_redis()
    port = free_port()
    proc = start_redis(port)
    yield port, proc
    proc.send_signal(signal.SIGCONT)
    stop_redis(proc)


@pytest.fixture(scope="module")
def pair(emu, pg_url, redis_proc):
    router = {"redis_host": "127.0.0.1", "redis_port": redis_proc[0]}
    one = KeysGateway(emu[0], pg_url, router=router)
    two = KeysGateway(emu[0], pg_url, router=router)
    yield one, two
    one.stop()
    two.stop()


def unshared(gw) -> float:
    return Scrape.of(gw.url).value("shale_keys_unshared_spend")


def shared_spend(port: int, key: str) -> float:
    value = redis_client.Redis(host="127.0.0.1", port=port).get(
        f"shale:keys:spend:key:{hashlib.sha256(key.encode()).hexdigest()}:-")
    return float(value) if value is not None else 0.0


def chat(gw, key: str):
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    return client.chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": "hello there"}])


def test_spend_settled_during_an_outage_is_shared_once_when_redis_is_back(pair, redis_proc):
    one, two = pair
    port, proc = redis_proc
    key = one.generate(key_alias="outage", max_budget=1000)["key"]
    first = float(chat(one, key).headers["x-litellm-response-cost"])
    wait_for(lambda: shared_spend(port, key) == pytest.approx(first), what="the first spend in Redis")
    # The budget now lets one more request through, not two.
    updated = one.admin("POST", "/key/update", json={"key": key, "max_budget": first * 1.5})
    assert updated.status_code == 200, updated.text

    proc.send_signal(signal.SIGSTOP)
    try:
        during = chat(one, key)  # served on the replica's own counters
        assert during.http_response.status_code == 200
        cost = float(during.headers["x-litellm-response-cost"])
        # Long enough for the replica to send its batch into the frozen server (after the 1 s in
        # which it does not ask Redis again) and give up waiting for the answer.
        time.sleep(3)
        assert unshared(one) == pytest.approx(cost), "kept until Redis is back"
    finally:
        proc.send_signal(signal.SIGCONT)

    wait_for(lambda: unshared(one) == 0, what="the outage's spend to be shared")
    # Added once: the attempt Redis received while frozen and ran on waking is not re-added.
    assert shared_spend(port, key) == pytest.approx(first + cost)
    # The other replica never saw the outage's request, and now refuses the key (it admits by
    # the shared counter: without the outage's spend in it, it would let the key through).
    with pytest.raises(openai.BadRequestError) as refused:
        chat(two, key)
    assert "budget" in str(refused.value).lower()
    time.sleep(1.5)  # the batched writer's interval
    assert one.key_info(key)["info"]["spend"] == pytest.approx(first + cost)
