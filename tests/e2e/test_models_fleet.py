"""Running a fleet (issue #31), first half: the LiteLLM model API on Postgres with two real gateway
replicas sharing one PostgreSQL and one redis-server — a model added, updated or deleted on one
replica is served by the other within seconds; stored models survive a restart; secrets are
masked in every answer and sealed in the table; a bad deployment is a clear 400 with the config
file's own error; config models are read-only; requests and a stream spanning model-table swaps
do not fail; Redis down → changes still arrive by the periodic reconcile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time

import httpx
import pytest

from keys_harness import all_text_in_database, free_port, start_redis, wait_for
from shale_harness import (
    EXAMPLE_ACCESS_KEY_ID,
    EXAMPLE_API_KEY,
    EXAMPLE_SECRET_ACCESS_KEY,
    GATEWAY_KEY,
    SHALE_BIN,
    EmulatorControl,
    deployment,
    start_gateway,
    stop_process,
)

NOVA_LITE = "bedrock/us.amazon.nova-lite-v1:0"
NOVA_PRO = "bedrock/amazon.nova-pro-v1:0"
SALT = "fleet-test-salt-key"
AUTH = {"authorization": f"Bearer {GATEWAY_KEY}"}


def need(binary: str) -> None:
    if shutil.which(binary) is None:
        message = f"{binary} is not installed (tests/run-all.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class Replica:
    """One shale process of the fleet: the config file's `config-model`, models in Postgres."""

    def __init__(self, emu_url: str, pg_url: str, redis_port: int | None, salt: str | None = SALT,
                 reconcile_s: float = 5):
        general = {
            "master_key": GATEWAY_KEY,
            "database_url": pg_url,
            "store_model_in_db": True,
            "model_reconcile_interval_seconds": reconcile_s,
        }
        self.config = {
            "model_list": [
                {**deployment("config-model", NOVA_LITE, emu_url), "model_info": {"id": "from-config"}}
            ],
            "general_settings": general,
            "litellm_settings": {"callbacks": ["prometheus"]},
        }
        if redis_port:
            self.config["router_settings"] = {"redis_host": "127.0.0.1", "redis_port": redis_port}
        self.env = {"SHALE_SALT_KEY": salt} if salt else {"SHALE_SALT_KEY": ""}
        self.start()

    def start(self) -> None:
        self.proc, self.url, self.config_path = start_gateway(self.config, env=self.env)
        self.http = httpx.Client(base_url=self.url, timeout=60, headers=AUTH)

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)

    def chat(self, model: str, **extra) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
        return self.http.post("/v1/chat/completions", json=body)

    def info(self, **params) -> list[dict]:
        r = self.http.get("/model/info", params=params)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def ids(self) -> set[str]:
        return {m["model_info"]["id"] for m in self.info()}


def new_model(name: str, emu_url: str, model_id: str | None = None, **params) -> dict:
    body = deployment(name, params.pop("model", NOVA_LITE), emu_url, **params)
    if model_id:
        body["model_info"] = {"id": model_id, "team": "fleet"}
    return body


@pytest.fixture(scope="module")
def emu(emulator_url):
    return emulator_url, EmulatorControl(emulator_url)


@pytest.fixture(scope="module")
def redis():
    need("redis-server")
    port = free_port()
    proc = start_redis(port)
    yield {"port": port, "proc": proc}
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def pair(emu, pg_url, redis):
    one = Replica(emu[0], pg_url, redis["port"])
    two = Replica(emu[0], pg_url, redis["port"])
    yield one, two
    one.stop()
    two.stop()


def seconds_until(predicate, timeout: float = 20.0, since: float | None = None) -> float:
    """Seconds from `since` (default: now) until `predicate()` holds, polled every 20 ms."""
    start = time.monotonic() if since is None else since
    wait_for(predicate, timeout=timeout, interval=0.02, what="the change on the other replica")
    return time.monotonic() - start


def test_add_update_delete_reach_the_other_replica_within_seconds(pair, emu):
    one, two = pair
    assert two.chat("fleet-a").status_code == 400, "not there yet"

    sent = time.monotonic()
    r = one.http.post("/model/new", json=new_model("fleet-a", emu[0], "fleet-a-1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_id"] == "fleet-a-1" and body["model_name"] == "fleet-a"
    assert one.chat("fleet-a").status_code == 200, "read-your-writes on the replica that wrote"
    added = seconds_until(lambda: two.chat("fleet-a").status_code == 200, since=sent)
    assert added < 3, f"added model reached replica two after {added:.2f} s"

    sent = time.monotonic()
    r = two.http.post("/model/update", json={"model_info": {"id": "fleet-a-1"}, "model_name": "fleet-a2",
                                              "litellm_params": {"rpm": 1000}})
    assert r.status_code == 200, r.text
    assert r.json()["litellm_params"]["rpm"] == 1000
    assert r.json()["litellm_params"]["model"] == NOVA_LITE, "partial update keeps the rest"
    updated = seconds_until(lambda: one.chat("fleet-a2").status_code == 200, since=sent)
    assert updated < 3, f"update reached replica one after {updated:.2f} s"
    assert one.chat("fleet-a").status_code == 400
    item = one.info(litellm_model_id="fleet-a-1")
    assert item and item[0]["model_name"] == "fleet-a2" and item[0]["model_info"]["db_model"] is True

    sent = time.monotonic()
    r = one.http.post("/model/delete", json={"id": "fleet-a-1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Model: fleet-a-1 deleted successfully"}
    deleted = seconds_until(lambda: two.chat("fleet-a2").status_code == 400, since=sent)
    assert deleted < 3, f"delete reached replica two after {deleted:.2f} s"
    assert "fleet-a-1" not in two.ids()
    print(f"\nfrom the request to the other replica serving it: add {added * 1000:.0f} ms, "
          f"update {updated * 1000:.0f} ms, delete {deleted * 1000:.0f} ms")


def test_secrets_are_masked_in_every_answer_and_sealed_in_the_table(pair, emu, pg_url):
    one, two = pair
    # The emulator's Bedrock API key: a chat that works proves the sealed secret opens again.
    secret_key = EXAMPLE_API_KEY
    body = new_model("sealed", emu[0], "sealed-1", api_key=secret_key)
    r = one.http.post("/model/new", json=body)
    assert r.status_code == 200, r.text
    wait_for(lambda: "sealed-1" in two.ids(), timeout=10)
    answers = [
        r.text,
        one.http.get("/model/info").text,
        two.http.get("/v1/model/info").text,
        two.http.get("/v2/model/info").text,
        one.http.get("/model_group/info").text,
        one.http.post("/model/update", json={"model_id": "sealed-1",
                                             "litellm_params": {"tpm": 100000, "api_key": "********"}}).text,
    ]
    for text in answers:
        assert secret_key not in text
        assert EXAMPLE_SECRET_ACCESS_KEY not in text
        assert EXAMPLE_ACCESS_KEY_ID not in text
    assert "********" in answers[0]
    # The masked value sent back by the update kept the stored secret: Bedrock still accepts it.
    assert one.chat("sealed").status_code == 200
    assert two.chat("sealed").status_code == 200
    stored = all_text_in_database(pg_url)
    assert "sealed-1" in stored, "the row is there"
    assert secret_key not in stored and EXAMPLE_SECRET_ACCESS_KEY not in stored
    assert "enc:v1:" in stored


def test_a_bad_deployment_is_a_clear_400_with_the_config_files_error(pair, emu, tmp_path):
    one, _ = pair
    bad = {"model_name": "bad", "litellm_params": {"model": "azure/gpt-4"}}
    r = one.http.post("/model/new", json=bad)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    # `shale check` says the same about the same entry in a config file.
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"model_list": [bad]}))
    check = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True)
    assert check.returncode == 1
    assert message in check.stderr, (message, check.stderr)

    r = one.http.post("/model/new", json=new_model("bad", emu[0], weight=-2))
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "litellm_params.weight"
    assert "must be a finite number from 0" in r.json()["error"]["message"]
    r = one.http.post("/model/new", json=new_model("bad", emu[0], aws_region_name="Not A Region"))
    assert r.status_code == 400, r.text
    assert "invalid AWS region" in r.json()["error"]["message"]
    r = one.http.post("/model/new", json={"litellm_params": {"model": NOVA_LITE}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model_name"
    r = one.http.post("/model/new", json=new_model("findings", emu[0], "findings-1", tags=["x"]))
    assert r.status_code == 200, r.text
    assert any("litellm_params.tags" in f for f in r.json()["findings"]), r.json()
    assert one.http.post("/model/delete", json={"id": "findings-1"}).status_code == 200
    assert "bad" not in {m["model_name"] for m in one.info()}


def test_config_models_are_read_only_and_ids_unique(pair, emu):
    one, _ = pair
    r = one.http.post("/model/update", json={"model_info": {"id": "from-config"}, "litellm_params": {"rpm": 1}})
    assert r.status_code == 400
    assert "config file" in r.json()["error"]["message"]
    r = one.http.post("/model/delete", json={"id": "from-config"})
    assert r.status_code == 400 and "config file" in r.json()["error"]["message"]
    r = one.http.post("/model/delete", json={"id": "no-such-model"})
    assert r.status_code == 404
    r = one.http.post("/model/new", json=new_model("dup", emu[0], "from-config"))
    assert r.status_code == 400 and "already exists" in r.json()["error"]["message"]
    assert {m["model_info"]["db_model"] for m in one.info(litellm_model_id="from-config")} == {False}


def test_only_the_master_key_may_manage_models(pair):
    one, _ = pair
    r = one.http.get("/model/info", headers={"authorization": "Bearer sk-wrong"})
    assert r.status_code in (401, 403) and "data" not in r.json(), r.text
    r = one.http.post("/model/new", json={}, headers={"authorization": "Bearer sk-wrong"})
    assert r.status_code in (401, 403), r.text



def test_v2_pages_and_model_groups(pair, emu):
    one, _ = pair
    for i in range(3):
        r = one.http.post("/model/new", json=new_model("paged", emu[0], f"paged-{i}", rpm=10))
        assert r.status_code == 200, r.text
    page = one.http.get("/v2/model/info", params={"model": "paged", "size": 2, "page": 2}).json()
    assert page["total_count"] == 3 and page["total_pages"] == 2 and len(page["data"]) == 1
    groups = one.http.get("/model_group/info", params={"model_group": "paged"}).json()["data"]
    assert len(groups) == 1
    assert groups[0]["providers"] == ["bedrock"] and groups[0]["rpm"] == 30 and groups[0]["mode"] == "chat"
    for i in range(3):
        assert one.http.post("/model/delete", json={"id": f"paged-{i}"}).status_code == 200


def test_stored_models_survive_a_restart(pair, emu):
    one, two = pair
    r = one.http.post("/model/new", json=new_model("durable", emu[0], "durable-1"))
    assert r.status_code == 200, r.text
    one.stop()
    one.start()
    assert "durable-1" in one.ids()
    assert one.chat("durable").status_code == 200
    assert two.http.post("/model/delete", json={"id": "durable-1"}).status_code == 200


def test_requests_and_a_stream_spanning_swaps_do_not_fail(pair, emu):
    one, two = pair
    emu_url, control = emu
    assert one.http.post("/model/new", json=new_model("swappy", emu_url, "swappy-1")).status_code == 200
    wait_for(lambda: two.chat("swappy").status_code == 200, timeout=10)
    # A stream that pauses for 3 s in the middle, on the deployment being swapped.
    control.script([{"operation": "converse-stream", "pause_after": 1, "pause_ms": 4000}])
    result = {}

    def stream():
        with httpx.Client(base_url=two.url, timeout=60, headers=AUTH) as c:
            body = {"model": "swappy", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            with c.stream("POST", "/v1/chat/completions", json=body) as r:
                result["status"] = r.status_code
                result["text"] = "".join(r.iter_text())

    streaming = threading.Thread(target=stream)
    streaming.start()
    failures = []
    swaps = 0
    started = time.monotonic()
    while streaming.is_alive() and time.monotonic() - started < 30:
        swaps += 1
        r = one.http.post("/model/update", json={"model_id": "swappy-1", "litellm_params": {"rpm": 1000 + swaps}})
        assert r.status_code == 200, r.text
        extra = f"churn-{swaps}"
        assert one.http.post("/model/new", json=new_model("churn", emu_url, extra)).status_code == 200
        for replica in (one, two):
            for model in ("swappy", "config-model"):
                status = replica.chat(model).status_code
                if status != 200:
                    failures.append((replica.url, model, status))
        assert one.http.post("/model/delete", json={"id": extra}).status_code == 200
    streaming.join(timeout=30)
    assert swaps >= 3, "the stream spanned several swaps"
    print(f"\nthe stream spanned {swaps * 3} model-table changes")
    assert result.get("status") == 200, result
    assert "data: [DONE]" in result["text"], result["text"][-300:]
    assert '"error"' not in result["text"]
    assert failures == [], failures
    assert one.http.post("/model/delete", json={"id": "swappy-1"}).status_code == 200


def test_redis_down_changes_arrive_by_the_reconcile(emu, pg_url):
    need("redis-server")
    port = free_port()
    proc = start_redis(port)
    one = Replica(emu[0], pg_url, port, reconcile_s=1)
    two = Replica(emu[0], pg_url, port, reconcile_s=1)
    try:
        proc.kill()
        proc.wait()
        r = one.http.post("/model/new", json=new_model("no-redis", emu[0], "no-redis-1"))
        assert r.status_code == 200, r.text
        took = seconds_until(lambda: two.chat("no-redis").status_code == 200, timeout=15)
        print(f"\nwithout Redis the other replica served the new model after {took:.2f} s")
        assert took < 5, f"reconcile took {took:.2f} s"
        metrics = two.http.get("/metrics").text
        assert 'shale_dependency_up{dependency="postgres_models"} 1' in metrics, metrics[-2000:]
        assert one.http.post("/model/delete", json={"id": "no-redis-1"}).status_code == 200
    finally:
        one.stop()
        two.stop()


def test_secrets_need_a_salt_key(emu, pg_url):
    replica = Replica(emu[0], pg_url, None, salt=None)
    try:
        r = replica.http.post("/model/new", json=new_model("unsealed", emu[0], api_key="sk-clear"))
        assert r.status_code == 400, r.text
        assert "SHALE_SALT_KEY" in r.json()["error"]["message"]
        # References name where a secret is; they are not secrets and need no salt key.
        body = new_model("by-reference", emu[0], "by-reference-1",
                         aws_access_key_id="os.environ/HOME", aws_secret_access_key="os.environ/HOME")
        r = replica.http.post("/model/new", json=body)
        assert r.status_code == 200, r.text
        assert replica.http.post("/model/delete", json={"id": "by-reference-1"}).status_code == 200
        # An unset variable is the config file's error.
        body = new_model("by-reference", emu[0], aws_secret_access_key="os.environ/FLEET_TEST_UNSET")
        r = replica.http.post("/model/new", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"] == (
            "environment variable FLEET_TEST_UNSET is not set (referenced by litellm_params.aws_secret_access_key)"
        )
    finally:
        replica.stop()


def test_postgres_down_the_last_model_table_keeps_serving(emu):
    from pg_server import PostgresServer, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        need("initdb")
    server = PostgresServer(bin_dir)
    server.start()
    replica = None
    try:
        replica = Replica(emu[0], server.create_database("fleetdown"), None, reconcile_s=0.5)
        assert replica.http.post("/model/new", json=new_model("kept", emu[0], "kept-1")).status_code == 200
        server.stop()

        def postgres_up(value: int) -> bool:
            return f'shale_dependency_up{{dependency="postgres_models"}} {value}' in replica.http.get("/metrics").text

        wait_for(lambda: postgres_up(0), timeout=15, what="the outage in /metrics")
        assert replica.chat("kept").status_code == 200, "the stored model keeps serving"
        assert replica.chat("config-model").status_code == 200
        r = replica.http.post("/model/new", json=new_model("while-down", emu[0]))
        assert r.status_code == 503, r.text
        assert replica.http.get("/model/info").status_code == 200

        server.start()
        wait_for(lambda: postgres_up(1), timeout=15, what="Postgres back in /metrics")
        r = replica.http.post("/model/new", json=new_model("after-outage", emu[0], "after-1"))
        assert r.status_code == 200, r.text
        assert replica.chat("after-outage").status_code == 200
        assert replica.chat("kept").status_code == 200
    finally:
        if replica:
            replica.stop()
        server.destroy()


def test_store_model_in_db_without_a_database_refuses_to_start(tmp_path):
    path = tmp_path / "no-db.yaml"
    path.write_text(json.dumps({"model_list": [], "general_settings": {"master_key": GATEWAY_KEY,
                                                                        "store_model_in_db": True}}))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run([SHALE_BIN, "--config", str(path), "--port", "0"], capture_output=True, text=True,
                         env=env, timeout=30)
    assert out.returncode != 0
    assert "store_model_in_db needs a database" in out.stderr, out.stderr
