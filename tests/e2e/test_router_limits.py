"""Per-deployment rpm/tpm limits (never exceeded; 429 with Retry-After when all are full, without
reaching Bedrock) and each routing strategy's choice, one emulator per deployment."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from router_harness import Emulators, Gateway, dep, wait_for_fresh_minute
from shale_harness import GATEWAY_KEY


@pytest.fixture(scope="module")
def emus():
    e = Emulators(2)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def slow_emus():
    # Slow answers: 600 ms on the first, 20 ms on the second.
    e = Emulators(2, [["--latency-ms", "600"], ["--latency-ms", "20"]])
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def clean(emus):
    emus.reset()
    yield


def test_rpm_limits_are_never_exceeded_and_429_when_all_are_full(emus):
    wait_for_fresh_minute()
    gw = Gateway([dep("m", emus.urls[0], "a", rpm=3), dep("m", emus.urls[1], "b", rpm=2)])
    try:
        for _ in range(5):
            status, _, body = gw.chat("m")
            assert status == 200, body
        assert (emus.calls(0), emus.calls(1)) == (3, 2)
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "one more"}])
        assert err.value.status_code == 429
        retry_after = int(err.value.response.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert err.value.code == "rate_limit_exceeded"
        assert (emus.calls(0), emus.calls(1)) == (3, 2), "the refused request reached no deployment"
    finally:
        gw.stop()


def test_tpm_counts_reported_tokens(emus):
    wait_for_fresh_minute()
    gw = Gateway([dep("m", emus.urls[0], "a", tpm=120)])
    try:
        served = []
        statuses = []
        for _ in range(15):
            status, _, body = gw.chat("m", "count my tokens please")
            statuses.append(status)
            if status == 200:
                served.append(body["usage"]["total_tokens"])
            else:
                assert status == 429, body
        first_refusal = statuses.index(429)
        assert all(s == 429 for s in statuses[first_refusal:]), "no room comes back within the minute"
        # Admission checks the reported tokens so far plus an estimate: the window was under the
        # limit before the last admitted request.
        assert sum(served[:-1]) < 120 <= sum(served) + 40
        assert emus.calls(0) == len(served), "refused requests reached no deployment"
    finally:
        gw.stop()


def test_simple_shuffle_follows_weights(emus):
    gw = Gateway([dep("m", emus.urls[0], "heavy", weight=9), dep("m", emus.urls[1], "light", weight=1)])
    try:
        for _ in range(200):
            assert gw.chat("m")[0] == 200
        heavy, light = emus.calls(0), emus.calls(1)
        assert heavy + light == 200, "every request reached exactly one deployment"
        # The light one's share is Binomial(200, 0.1): mean 20; outside [5, 40] has a probability
        # under 2e-5 (an even split, 100, or a deployment never picked fails).
        assert 5 <= light <= 40, (heavy, light)
    finally:
        gw.stop()


def test_usage_based_routing_evens_out_usage(emus):
    gw = Gateway(
        [dep("m", emus.urls[0], "a", tpm=100000), dep("m", emus.urls[1], "b", tpm=100000)],
        router_settings={"routing_strategy": "usage-based-routing-v2"},
    )
    try:
        for _ in range(10):
            assert gw.chat("m", "same prompt every time")[0] == 200
        assert abs(emus.calls(0) - emus.calls(1)) <= 1
    finally:
        gw.stop()


def test_latency_based_routing_prefers_the_fast_deployment(slow_emus):
    gw = Gateway(
        [dep("m", slow_emus.urls[0], "slow"), dep("m", slow_emus.urls[1], "fast")],
        router_settings={"routing_strategy": "latency-based-routing"},
    )
    try:
        ids = [gw.chat("m")[1]["x-litellm-model-id"] for _ in range(10)]
        assert set(ids[:2]) == {"slow", "fast"}, "both are measured first"
        assert ids[2:] == ["fast"] * 8
    finally:
        gw.stop()


def test_least_busy_sends_to_the_idle_deployment(slow_emus):
    # Both deployments answer after 600 ms (same emulator); the second request, sent while the
    # first is in flight, must go to the other deployment.
    gw = Gateway(
        [dep("m", slow_emus.urls[0], "one"), dep("m", slow_emus.urls[0], "two")],
        router_settings={"routing_strategy": "least-busy"},
    )
    try:
        for _ in range(3):
            first = {}
            t = threading.Thread(target=lambda: first.update(id=gw.chat("m")[1]["x-litellm-model-id"]))
            t.start()
            time.sleep(0.25)
            second = gw.chat("m")[1]["x-litellm-model-id"]
            t.join()
            assert first["id"] != second
    finally:
        gw.stop()
