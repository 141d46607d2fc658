"""Background health checks across a fleet (issue #31), end to end: two real shale replicas, a
real redis-server, two emulators, no client traffic.

- each deployment is probed once per `health_check_interval` by the whole fleet (counted at the
  emulator), with the probe `shale check` announces (CountTokens for Claude, a 1-token Converse,
  a one-word embedding); without shared checks each replica probes on its own (twice as many);
- a deployment whose endpoint goes down is marked unhealthy on both replicas within an interval,
  is cooled down (`enable_health_check_routing`), so client requests never try it, and comes back
  when its endpoint does;
- probes are in `shale_health_check_*` metrics, not in LiteLLM's request/spend metrics, and not in
  the access log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from keys_harness import free_port, start_redis, wait_for
from prometheus_scrape import Scrape
from router_harness import call
from shale_harness import (
    EMULATOR_BIN,
    EMULATOR_READY,
    GATEWAY_KEY,
    SHALE_BIN,
    EmulatorControl,
    deployment,
    start_emulator,
    start_gateway,
    start_process,
    stop_process,
)

INTERVAL = 2.0
CLAUDE = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"
NOVA_LITE = "bedrock/amazon.nova-lite-v1:0"
NOVA_PRO = "bedrock/amazon.nova-pro-v1:0"
NOVA_MICRO = "bedrock/amazon.nova-micro-v1:0"
TITAN_EMBED = "bedrock/amazon.titan-embed-text-v2:0"


def require(binary: str) -> None:
    if shutil.which(binary) is None:
        message = f"{binary} is not installed (tests/run-all.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def redis_port():
    require("redis-server")
    port = free_port()
    proc = start_redis(port)
    yield port
    stop_process(proc)


class Emulator:
    """One emulator process on a fixed port, which can be stopped and started again there."""

    def __init__(self):
        self.proc, self.url = start_emulator()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.ctl = EmulatorControl(self.url)

    def stop(self):
        stop_process(self.proc)

    def restart(self):
        self.proc, _ = start_process([EMULATOR_BIN, "--listen", f"127.0.0.1:{self.port}"], EMULATOR_READY)

    def probes(self) -> dict[str, int]:
        """Bedrock calls received, by model id in the path and operation."""
        counts: dict[str, int] = {}
        for r in self.ctl.requests():
            if r["path"].startswith("/model/"):
                key = f'{r["model_id"]} {r["operation"]}'
                counts[key] = counts.get(key, 0) + 1
        return counts


@pytest.fixture(scope="module")
def emus():
    a, b = Emulator(), Emulator()
    yield a, b
    a.stop()
    b.stop()


def with_id(d: dict, model_id: str, **info) -> dict:
    d["model_info"] = {"id": model_id, **info}
    return d


def models(a: str, b: str) -> list[dict]:
    return [
        with_id(deployment("claude", CLAUDE, a), "claude-1"),
        with_id(deployment("nova", NOVA_LITE, a), "nova-1"),
        with_id(deployment("embed", TITAN_EMBED, a), "embed-1"),
        with_id(deployment("pair", NOVA_PRO, a), "pair-a"),
        with_id(deployment("pair", NOVA_PRO, b), "pair-b"),
        with_id(deployment("quiet", NOVA_MICRO, a), "quiet-1", disable_background_health_check=True),
    ]


class Replica:
    """A shale process whose HTTP calls from this test are counted (for the access-log check)."""

    def __init__(self, config: dict):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.proc, self.url, self.config_path = start_gateway(config, env={"RUST_LOG": "info"}, stderr=self.log)
        self.calls = 0

    def get(self, path: str) -> dict:
        self.calls += 1
        status, _, body = call(self.url + path, None)
        assert status == 200, body
        return body

    def chat(self, model: str) -> tuple[int, dict]:
        self.calls += 1
        status, headers, _ = call(
            self.url + "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        )
        return status, headers

    def metrics(self) -> Scrape:
        # `/metrics` is not a client request: it is not in the access log either.
        return Scrape.of(self.url)

    def access_lines(self) -> list[dict]:
        with open(self.log.name) as f:
            lines = [json.loads(line) for line in f if line.startswith("{")]
        return [line for line in lines if line.get("target") == "shale::access"]

    def stop(self):
        stop_process(self.proc)


def fleet_config(a: str, b: str, redis_port: int, **general) -> dict:
    return {
        "model_list": models(a, b),
        "router_settings": {"redis_host": "127.0.0.1", "redis_port": redis_port},
        "litellm_settings": {"callbacks": ["prometheus"]},
        "general_settings": {
            "master_key": GATEWAY_KEY,
            "background_health_checks": True,
            "health_check_interval": INTERVAL,
            "enable_health_check_routing": True,
            **general,
        },
    }


@pytest.fixture(scope="module")
def fleet(emus, redis_port):
    a, b = emus
    config = fleet_config(a.url, b.url, redis_port)
    one = Replica(config)
    two = Replica(config)
    yield one, two, config
    one.stop()
    two.stop()


PROBED = {
    "claude-1": "anthropic.claude-3-haiku-20240307-v1:0 count-tokens",
    "nova-1": "amazon.nova-lite-v1:0 converse",
    "embed-1": "amazon.titan-embed-text-v2:0 invoke",
}


def checked(replica: Replica) -> dict[str, dict]:
    """The last probe per model id, as `/health` shows it."""
    health = replica.get("/health")
    endpoints = health["healthy_endpoints"] + health["unhealthy_endpoints"]
    return {e["model_id"]: e for e in endpoints}


def sleep_to_mid_slot() -> None:
    """Sleeps until half an interval past a slot boundary (the slot's probes are done)."""
    into = time.time() % INTERVAL
    time.sleep((INTERVAL - into) + INTERVAL / 2)


def test_one_probe_per_deployment_per_interval_across_two_replicas(fleet, emus):
    one, two, _ = fleet
    a, b = emus
    wait_for(lambda: all(checked(one)[i]["health_check"] for i in PROBED), what="the first probes", timeout=15)
    sleep_to_mid_slot()
    a.ctl.reset()
    slots = 5
    time.sleep(slots * INTERVAL)
    counts = a.probes()
    print(f"\nprobes received in {slots} intervals from two replicas: {counts}")
    for model_id, key in PROBED.items():
        assert slots - 1 <= counts.get(key, 0) <= slots + 1, (model_id, counts)
    # The probes are the ones announced, and the opted-out deployment gets none.
    assert not any("nova-micro" in k for k in counts), counts
    assert set(counts) <= set(PROBED.values()) | {"amazon.nova-pro-v1:0 converse"}, counts
    # Every replica shows the fleet's view, whoever probed.
    for replica in (one, two):
        view = checked(replica)
        assert view["claude-1"]["health_check"]["probe"] == "count_tokens"
        assert view["nova-1"]["health_check"]["probe"] == "chat"
        assert view["embed-1"]["health_check"]["probe"] == "embedding"
        assert view["quiet-1"]["health_check"] is None
        assert view["claude-1"]["state"] == "healthy"
    health = two.get("/health")
    assert health["background_health_checks"]["coordination"] == "redis"
    assert health["healthy_count"] == len(health["healthy_endpoints"]) == 6


def test_probes_are_counted_in_their_own_metrics_not_as_requests(fleet):
    one, two, _ = fleet
    scrapes = [one.metrics(), two.metrics()]
    # Either replica may hold every lease: per replica a series may be absent, the sum may not.
    probes = sum(s.value_or_zero("shale_health_check_probes_total", model_id="claude-1", probe="count_tokens")
                 for s in scrapes)
    assert probes >= 3, [s.matching("shale_health_check_probes_total") for s in scrapes]
    skipped = sum(s.value_or_zero("shale_health_check_skipped_total") for s in scrapes)
    assert skipped > 0, "the replica that lost a lease counts what it skipped"
    for s in scrapes:
        assert s.value("shale_health_check_healthy", model_id="nova-1") in (0.0, 1.0)
        # Not client requests: no LiteLLM request, deployment or spend series for the probed models.
        for family in ("litellm_deployment_success_responses_total", "litellm_spend_metric_total"):
            # The deployment's series are pre-resolved (present at 0): strictly read, they stay 0.
            # (The old second check, label `model="claude"`, matched no series and read 0 always.)
            assert s.value(family, model_id="claude-1") == 0.0, family
        # Request series are made per route on a request's first use: a probe makes none.
        assert s.has_family("litellm_proxy_total_requests_metric")
        assert s.absent("litellm_proxy_total_requests_metric_total", model_id="claude-1")


def test_a_down_deployment_is_marked_unhealthy_without_traffic_and_recovers(fleet, emus):
    one, two, _ = fleet
    a, b = emus
    wait_for(lambda: checked(one)["pair-b"]["health_check"], what="pair-b probed", timeout=15)
    b.stop()
    started = time.monotonic()

    def unhealthy_on_both():
        return all(checked(r)["pair-b"]["state"] == "unhealthy" for r in (one, two))

    wait_for(unhealthy_on_both, what="pair-b unhealthy on both replicas", timeout=INTERVAL + 5, interval=0.1)
    elapsed = time.monotonic() - started
    print(f"\nmarked unhealthy on both replicas {elapsed:.2f} s after its endpoint went down (interval {INTERVAL} s)")
    assert elapsed <= INTERVAL + 2.5
    for replica in (one, two):
        health = replica.get("/health")
        [entry] = [e for e in health["unhealthy_endpoints"] if e["model_id"] == "pair-b"]
        assert entry["model_name"] == "pair"
        assert entry["model"] == NOVA_PRO
        assert entry["api_base"] == b.url
        assert "could not reach Bedrock" in entry["error"]
        assert entry["exception_status"] == 502
        assert entry["health_check"]["cooled_down"] is True
        assert health["unhealthy_count"] == 1 and health["status"] == "degraded"
        # The router (shared through Redis) took it out of rotation on both replicas.
        router = {d["model_id"]: d["state"] for d in health["deployments"]}
        assert router["pair-b"] == "cooling_down" and router["pair-a"] == "healthy"
    # Client requests go to the healthy deployment at once: no failed attempt first.
    for i in range(6):
        status, headers = (one if i % 2 else two).chat("pair")
        assert status == 200
        assert headers["x-litellm-model-id"] == "pair-a"
        assert headers["x-litellm-attempted-retries"] == "0"

    b.restart()
    started = time.monotonic()

    def recovered_on_both():
        for r in (one, two):
            health = r.get("/health")
            router = {d["model_id"]: d["state"] for d in health["deployments"]}
            if router["pair-b"] != "healthy" or health["unhealthy_count"] != 0:
                return False
        return True

    wait_for(recovered_on_both, what="pair-b healthy again on both replicas", timeout=INTERVAL + 5, interval=0.1)
    print(f"back in rotation {time.monotonic() - started:.2f} s after its endpoint came back")


def test_probes_are_not_in_the_access_log(fleet):
    one, two, _ = fleet
    for replica in (one, two):
        # Access lines are written after the answer, in batches (at most ~100 ms later).
        wait_for(lambda: len(replica.access_lines()) >= replica.calls, what="the access lines", timeout=5)
        lines = replica.access_lines()
        assert len(lines) == replica.calls, (len(lines), replica.calls)
        assert {line["path"] for line in lines} <= {"/health", "/v1/chat/completions"}


def test_without_shared_checks_each_replica_probes_on_its_own(emus, redis_port):
    """The counterpart of the first test: the same fleet with `use_shared_health_check: false`
    probes every deployment once per replica per interval."""
    a, b = emus
    config = fleet_config(a.url, b.url, redis_port, use_shared_health_check=False)
    # A model id no other test's replicas probe, so the emulator's count is this fleet's alone.
    config["model_list"] = [with_id(deployment("nova", "bedrock/us.amazon.nova-lite-v1:0", a.url), "nova-solo")]
    one, two = Replica(config), Replica(config)
    try:
        wait_for(lambda: checked(one)["nova-solo"]["health_check"], what="the first probe", timeout=15)
        assert one.get("/health")["background_health_checks"]["coordination"] == "local"
        sleep_to_mid_slot()
        a.ctl.reset()
        slots = 3
        time.sleep(slots * INTERVAL)
        n = a.probes().get("us.amazon.nova-lite-v1:0 converse", 0)
        print(f"\nunshared: {n} probes of one deployment in {slots} intervals from two replicas")
        assert 2 * slots - 1 <= n <= 2 * slots + 2, n
    finally:
        one.stop()
        two.stop()


def test_shale_check_says_which_probe_each_deployment_gets(fleet):
    _, _, config = fleet
    out = subprocess.run([SHALE_BIN, "check", fleet[0].config_path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "background health checks: every 2 s, one probe per deployment per interval for the whole fleet" in text
    assert "(claude) health check: CountTokens" in text
    assert "(nova) health check: a 1-token chat request" in text
    assert "(embed) health check: a one-word embedding" in text
    assert "(quiet) health check: not probed (model_info.disable_background_health_check)" in text
    assert config["general_settings"]["health_check_interval"] == INTERVAL


def test_probes_follow_the_model_table_after_a_reload(emus):
    """A config reload swaps the model table: the checker probes the new table from the next
    interval (a deployment the reload adds is probed, and probes go on after the swap)."""
    import signal

    a, _ = emus
    first = [with_id(deployment("nova", NOVA_LITE, a.url), "nova-1")]
    config = {
        "model_list": first,
        "general_settings": {
            "master_key": GATEWAY_KEY,
            "background_health_checks": True,
            "health_check_interval": 1,
        },
    }
    one = Replica(config)
    try:
        wait_for(lambda: "nova-1" in checked(one), what="the first probe", timeout=15)
        config["model_list"] = first + [with_id(deployment("claude", CLAUDE, a.url), "claude-added")]
        with open(one.config_path, "w") as handle:
            json.dump(config, handle)
        one.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "claude-added" in checked(one), what="a probe of the added deployment", timeout=15)
        a.ctl.reset()
        time.sleep(3.5)
        counts = a.probes()
        assert counts.get("amazon.nova-lite-v1:0 converse", 0) >= 2, counts
        assert counts.get("anthropic.claude-3-haiku-20240307-v1:0 count-tokens", 0) >= 2, counts
    finally:
        one.stop()
