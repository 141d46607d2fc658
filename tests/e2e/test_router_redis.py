"""Two shale replicas sharing one real Redis (`redis-server` started here on a free port): one
global rpm limit across both, shared cooldowns, and killing Redis mid-test leaves both serving."""

from __future__ import annotations

import time

import pytest

from redis_server import free_port, require_redis, start_redis
from router_harness import Emulators, Gateway, dep, errors, wait_for_fresh_minute


@pytest.fixture
def redis_port():
    require_redis()
    port = free_port()
    proc = start_redis(port)
    yield port, proc
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def emus():
    e = Emulators(2)
    yield e
    e.stop()


def replicas(emus, port, **router):
    model_list = [
        dep("limited", emus.urls[0], "limited-1", rpm=6),
        dep("open", emus.urls[1], "open-1"),
        dep("pair", emus.urls[0], "pair-a"),
        dep("pair", emus.urls[1], "pair-b"),
    ]
    settings = {"redis_host": "127.0.0.1", "redis_port": port, **router}
    return Gateway(model_list, router_settings=settings), Gateway(model_list, router_settings=settings)


def test_two_replicas_enforce_one_global_rpm_limit(emus, redis_port):
    port, _ = redis_port
    emus.reset()
    wait_for_fresh_minute()
    one, two = replicas(emus, port)
    try:
        statuses = [(one if i % 2 == 0 else two).chat("limited")[0] for i in range(12)]
        assert statuses.count(200) == 6, statuses
        assert statuses.count(429) == 6, statuses
        assert emus.calls(0) == 6, "the limit is global, not per replica"
        assert one.health()["redis"]["healthy"] is True
    finally:
        one.stop()
        two.stop()


def test_cooldown_seen_by_one_replica_applies_to_both(emus, redis_port):
    port, _ = redis_port
    emus.reset()
    one, two = replicas(emus, port, allowed_fails=0, cooldown_time=30, num_retries=1)
    try:
        emus.ctl[0].script(errors("ServiceUnavailableException", 5))
        while emus.calls(0) == 0:
            assert one.chat("pair")[0] == 200
        cooling = {d["model_id"]: d["state"] for d in two.health()["deployments"]}
        assert cooling["pair-a"] == "cooling_down", cooling
        before = emus.calls(0)
        for _ in range(10):
            status, headers, _ = two.chat("pair")
            assert status == 200 and headers["x-litellm-model-id"] == "pair-b"
        assert emus.calls(0) == before
    finally:
        one.stop()
        two.stop()


def test_killing_redis_leaves_both_replicas_serving(emus, redis_port):
    port, proc = redis_port
    emus.reset()
    one, two = replicas(emus, port)
    try:
        assert one.chat("open")[0] == 200 and two.chat("open")[0] == 200
        proc.kill()
        proc.wait()
        for _ in range(5):
            for gw in (one, two):
                status, _, body = gw.chat("open")
                assert status == 200, body
                assert gw.chat("pair")[0] == 200
        health = one.health()
        assert health["redis"]["healthy"] is False
        assert health["redis"]["local_fallbacks"] > 0
        assert health["status"] == "degraded"
        # Redis comes back on the same port: the replicas reconnect by themselves.
        back = start_redis(port)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not one.health()["redis"]["healthy"]:
                assert one.chat("open")[0] == 200
                time.sleep(0.3)
            assert one.health()["redis"]["healthy"] is True
        finally:
            back.kill()
            back.wait()
    finally:
        one.stop()
        two.stop()
