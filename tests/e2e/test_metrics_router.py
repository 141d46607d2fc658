"""Router events in `/metrics`, end to end through the real gateway and emulator (scrapes parsed
with `prometheus_client`): a cooldown after a scripted throttle (`litellm_deployment_cooled_down`,
`litellm_deployment_state` 2, then 0 after a success), failed attempts counted against the
deployment that failed even when a retry elsewhere succeeds, fallbacks that succeed and fail with
the original failure's status and class, the Redis dependency gauge with a real `redis-server`
stopped and started again, and streamed answers settling the router's tpm window with their real
usage (read back from Redis).
"""

from __future__ import annotations

import time

import openai
import pytest

from prometheus_scrape import Scrape
from router_harness import Emulators, Gateway, dep, errors
from shale_harness import GATEWAY_KEY
from redis_server import free_port, require_redis, start_redis

PROMETHEUS = {"callbacks": ["prometheus"]}


@pytest.fixture(scope="module")
def emus():
    e = Emulators(1)
    yield e
    e.stop()


@pytest.fixture
def redis_port():
    require_redis()
    port = free_port()
    proc = start_redis(port)
    yield port, proc
    proc.kill()
    proc.wait()


def test_cooldown_sets_state_2_then_a_success_brings_it_back_to_0(emus):
    emus.reset()
    gw = Gateway([dep("flaky", emus.urls[0], "flaky-1")],
                 router_settings={"allowed_fails": 0, "cooldown_time": 1, "num_retries": 0},
                 litellm_settings=PROMETHEUS)
    try:
        assert Scrape.of(gw.url).value("litellm_deployment_state", model_id="flaky-1") == 0
        emus.ctl[0].script(errors("ThrottlingException", 1))
        status, _, _ = gw.chat("flaky")
        assert status == 429
        s = Scrape.when(gw.url, lambda s: s.value_or_zero(
            "litellm_deployment_failure_responses_total", model_id="flaky-1") >= 1)
        assert s.value("litellm_deployment_cooled_down_total", model_id="flaky-1",
                       exception_status="429") == 1
        cooled = s.matching("litellm_deployment_cooled_down_total", model_id="flaky-1")[0]
        assert cooled.labels["litellm_model_name"] == "us.amazon.nova-lite-v1:0"
        assert cooled.labels["api_provider"] == "bedrock"
        assert s.value("litellm_deployment_state", model_id="flaky-1") == 2
        assert s.value("litellm_deployment_failure_responses_total", model_id="flaky-1",
                       exception_status="429", exception_class="Bedrock.RateLimitError") == 1
        time.sleep(1.2)  # cooldown_time
        status, _, _ = gw.chat("flaky")
        assert status == 200
        s = Scrape.when(gw.url, lambda s: s.value_or_zero(
            "litellm_deployment_total_requests_total", model_id="flaky-1") >= 2)
        assert s.value("litellm_deployment_state", model_id="flaky-1") == 0
        assert s.value("litellm_deployment_cooled_down_total", model_id="flaky-1") == 1
        assert s.value("litellm_deployment_total_requests_total", model_id="flaky-1") == 2
    finally:
        gw.stop()


def test_a_failed_attempt_counts_against_its_deployment_when_a_retry_succeeds(emus):
    emus.reset()
    gw = Gateway([dep("pair", emus.urls[0], "pair-a"), dep("pair", emus.urls[0], "pair-b")],
                 router_settings={"allowed_fails": 0, "cooldown_time": 30, "num_retries": 1},
                 litellm_settings=PROMETHEUS)
    try:
        emus.ctl[0].script(errors("ServiceUnavailableException", 1))
        status, headers, _ = gw.chat("pair")
        assert status == 200 and headers["x-litellm-attempted-retries"] == "1"
        served = headers["x-litellm-model-id"]
        failed = "pair-a" if served == "pair-b" else "pair-b"
        s = Scrape.when(gw.url, lambda s: s.value_or_zero(
            "litellm_proxy_total_requests_metric_total", requested_model="pair") >= 1)
        assert s.value("litellm_deployment_failure_responses_total", model_id=failed,
                       exception_status="503") == 1
        assert s.absent("litellm_deployment_failure_responses_total", model_id=served), "the served one never failed"
        assert s.value("litellm_deployment_success_responses_total", model_id=served) == 1
        assert s.value("litellm_deployment_state", model_id=failed) == 2
        assert s.value("litellm_deployment_state", model_id=served) == 0
        assert s.value("litellm_deployment_cooled_down_total", model_id=failed,
                       exception_status="503") == 1
        # The client saw one successful request.
        assert s.value("litellm_proxy_total_requests_metric_total", requested_model="pair") == 1
        assert s.absent("litellm_proxy_failed_requests_metric_total", requested_model="pair"), "the client saw no failure"
    finally:
        gw.stop()


def test_fallbacks_succeed_and_fail_with_the_original_status(emus):
    emus.reset()
    gw = Gateway([dep("primary", emus.urls[0], "primary-1"), dep("backup", emus.urls[0], "backup-1")],
                 router_settings={"num_retries": 0, "disable_cooldowns": True,
                                  "fallbacks": [{"primary": ["backup"]}]},
                 litellm_settings=PROMETHEUS)
    try:
        emus.ctl[0].script(errors("ThrottlingException", 1))
        status, headers, _ = gw.chat("primary")
        assert status == 200 and headers["x-litellm-attempted-fallbacks"] == "1"
        emus.ctl[0].script(errors("ThrottlingException", 1) + errors("InternalServerException", 1))
        status, _, _ = gw.chat("primary")
        assert status == 500
        s = Scrape.when(gw.url, lambda s: s.value_or_zero(
            "litellm_deployment_failed_fallbacks_total", requested_model="primary") >= 1)
        labels = dict(requested_model="primary", fallback_model="backup", model_id="backup-1",
                      exception_status="429", exception_class="Bedrock.RateLimitError")
        assert s.value("litellm_deployment_successful_fallbacks_total", **labels) == 1
        assert s.value("litellm_deployment_failed_fallbacks_total", **labels) == 1
        ok = s.matching("litellm_deployment_successful_fallbacks_total", **labels)[0]
        assert ok.labels["hashed_api_key"]  # the master key's hash
    finally:
        gw.stop()


def test_redis_dependency_gauge_follows_a_real_redis(emus, redis_port):
    port, proc = redis_port
    emus.reset()
    gw = Gateway([dep("open", emus.urls[0], "open-1")],
                 router_settings={"redis_host": "127.0.0.1", "redis_port": port},
                 litellm_settings=PROMETHEUS)
    try:
        assert gw.chat("open")[0] == 200
        s = Scrape.of(gw.url)
        assert s.value("shale_dependency_up", dependency="redis") == 1
        assert s.value("shale_dependency_outages_total", dependency="redis") == 0
        proc.kill()
        proc.wait()
        assert gw.chat("open")[0] == 200, "Redis down: still serving"
        s = Scrape.of(gw.url)
        assert s.value("shale_dependency_up", dependency="redis") == 0
        assert s.value("shale_dependency_outages_total", dependency="redis") == 1
        back = start_redis(port)
        try:
            deadline = time.monotonic() + 15
            up = 0
            while time.monotonic() < deadline:
                time.sleep(0.5)
                up = Scrape.of(gw.url).value("shale_dependency_up", dependency="redis")
                if up == 1:
                    break
            assert up == 1, "the gauge returns to 1 by itself (scrapes ping Redis)"
            assert Scrape.of(gw.url).value("shale_dependency_outages_total", dependency="redis") == 1
        finally:
            back.kill()
            back.wait()
    finally:
        gw.stop()


def tpm_used(port: int, model_id: str) -> int:
    import redis

    r = redis.Redis(host="127.0.0.1", port=port)
    return sum(int(r.get(k)) for k in r.keys(f"shale:tpm:{model_id}:*"))


def test_streams_settle_the_tpm_window_with_their_real_usage(emus, redis_port):
    port, _ = redis_port
    emus.reset()
    gw = Gateway([dep("limited", emus.urls[0], "limited-1", tpm=1_000_000)],
                 router_settings={"redis_host": "127.0.0.1", "redis_port": port},
                 litellm_settings=PROMETHEUS)
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        chunks = list(client.chat.completions.create(
            model="limited", messages=[{"role": "user", "content": "Count the otters in the river"}],
            stream=True, stream_options={"include_usage": True}))
        total = chunks[-1].usage.total_tokens
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and tpm_used(port, "limited-1") != total:
            time.sleep(0.05)  # the settlement is written without waiting
        assert tpm_used(port, "limited-1") == total
        import anthropic

        messages = anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)
        with messages.messages.stream(model="limited", max_tokens=100,
                                      messages=[{"role": "user", "content": "and the beavers"}]) as s:
            final = s.get_final_message()
        expected = total + final.usage.input_tokens + final.usage.output_tokens
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and tpm_used(port, "limited-1") != expected:
            time.sleep(0.05)
        assert tpm_used(port, "limited-1") == expected
    finally:
        gw.stop()
