"""Virtual keys (issue #15) across two gateway replicas sharing one real redis-server and one real
PostgreSQL: a key's rpm limit is global, spend counted on one replica binds the budget on the
other, and an admin write on one replica (block) reaches the other within a few seconds."""

from __future__ import annotations

import os
import shutil

import pytest

from keys_harness import KeysGateway, emulator_calls, free_port, fresh_minute, start_redis, wait_for
from shale_harness import EmulatorControl, start_emulator, stop_process


@pytest.fixture(scope="module")
def emu():
    proc, url = start_emulator()
    yield url, EmulatorControl(url)
    stop_process(proc)


@pytest.fixture(scope="module")
def redis_port():
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (tests/run-all.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    proc = start_redis(port)
    yield port
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def pair(emu, pg_url, redis_port):
    router = {"redis_host": "127.0.0.1", "redis_port": redis_port}
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
