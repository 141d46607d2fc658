"""Virtual keys (issues #15, #26) across two gateway replicas sharing one real redis-server and one
real PostgreSQL: a key's rpm limit is global, spend counted on one replica binds the budget on the
other, an admin write on one replica (block) reaches the other within a few seconds, and spend
settled while Redis is frozen (SIGSTOP: connections open, nothing answered) reaches the shared
counter exactly once when it wakes (SIGCONT), so the other replica then refuses the key."""

from __future__ import annotations

import hashlib
import signal
import time

import pytest
import redis as redis_client

from keys_harness import KeysGateway, emulator_calls, fresh_minute, wait_for
from prometheus_scrape import Scrape
from redis_server import running_redis
from shale_harness import EmulatorControl, start_emulator, stop_process

redis = pytest.fixture(scope="module")(running_redis)


@pytest.fixture(scope="module")
def emu():
    proc, url = start_emulator()
    yield url, EmulatorControl(url)
    stop_process(proc)


@pytest.fixture(scope="module")
def pair(emu, pg_url, redis):
    router = {"redis_host": "127.0.0.1", "redis_port": redis[0]}
    one = KeysGateway(emu[0], pg_url, router=router)
    two = KeysGateway(emu[0], pg_url, router=router)
    yield one, two
    one.stop()
    two.stop()


def test_rpm_limit_is_global_across_replicas(pair, emu):
    one, two = pair
    fresh_minute()
    key = one.generate(key_alias="shared-rpm", rpm_limit=4)["key"]
    before = emulator_calls(emu[1])
    statuses = [(one if i % 2 == 0 else two).chat(key).status_code for i in range(8)]
    assert statuses.count(200) == 4, statuses
    assert statuses.count(429) == 4, statuses
    assert emulator_calls(emu[1]) - before == 4, "one limit for both replicas, not one each"


def test_spend_on_one_replica_binds_the_budget_on_the_other(pair, emu):
    one, two = pair
    key = one.generate(key_alias="shared-budget", max_budget=0.0001)["key"]
    assert two.chat(key).status_code == 200, "a key made on one replica works on the other"
    before = emulator_calls(emu[1])
    refused = one.chat(key)
    assert refused.status_code == 400, refused.text
    assert "budget" in refused.json()["error"]["message"].lower()
    assert emulator_calls(emu[1]) == before


def test_block_on_one_replica_reaches_the_other(pair):
    one, two = pair
    key = one.generate(key_alias="shared-block")["key"]
    assert two.chat(key).status_code == 200, "now cached on replica two"
    r = one.admin("POST", "/key/block", json={"key": key})
    assert r.status_code == 200, r.text
    wait_for(lambda: two.chat(key).status_code == 401, timeout=10, what="replica two to see the block")


def unshared(gw) -> float:
    return Scrape.of(gw.url).value("shale_keys_unshared_spend")


def shared_spend(port: int, key: str) -> float:
    value = redis_client.Redis(host="127.0.0.1", port=port).get(
        f"shale:keys:spend:key:{hashlib.sha256(key.encode()).hexdigest()}:-")
    return float(value) if value is not None else 0.0


def test_spend_settled_during_an_outage_is_shared_once_when_redis_is_back(pair, redis):
    one, two = pair
    port, proc = redis
    key = one.generate(key_alias="outage", max_budget=1000)["key"]
    first = float(one.chat(key).headers["x-litellm-response-cost"])
    wait_for(lambda: shared_spend(port, key) == pytest.approx(first), what="the first spend in Redis")
    # The budget now lets one more request through, not two.
    updated = one.admin("POST", "/key/update", json={"key": key, "max_budget": first * 1.5})
    assert updated.status_code == 200, updated.text

    proc.send_signal(signal.SIGSTOP)
    try:
        during = one.chat(key)  # served on the replica's own counters
        assert during.status_code == 200, during.text
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
    refused = two.chat(key)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "budget_exceeded"
    time.sleep(1.5)  # the batched writer's interval
    assert one.key_info(key)["info"]["spend"] == pytest.approx(first + cost)
