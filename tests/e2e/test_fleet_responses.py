"""The shared Responses store (issue #31), end to end with the official OpenAI SDK: two shale
replicas with a real PostgreSQL (`general_settings.database_url`) or a real redis-server
(`responses_store.backend: redis`).

- a response stored on one replica is continued (`previous_response_id`), retrieved and listed
  (`input_items`) on the other; another key gets 404; the table holds only the key's hash;
- with the shared store down, the replica that wrote a response still reads and continues it
  (its cache of recent writes), the other replica answers 503 `response_store_unavailable` for
  what it has not seen (never a 404 or a 500), and once the store is back the queued writes land
  and every replica sees them.
"""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from keys_harness import all_text_in_database, db_rows, free_port, start_redis, wait_for
from prometheus_scrape import Scrape
from shale_harness import GATEWAY_KEY, EmulatorControl, deployment, start_emulator, start_gateway, stop_process
from test_fleet_health import require

NOVA = "bedrock/us.amazon.nova-lite-v1:0"


@pytest.fixture(scope="module")
def emu():
    proc, url = start_emulator()
    yield url, EmulatorControl(url)
    stop_process(proc)


class Replica:
    def __init__(self, config: dict):
        self.proc, self.url, _ = start_gateway(config)
        self.client = openai.OpenAI(base_url=self.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)

    def raw(self, method: str, path: str, key: str = GATEWAY_KEY, json=None) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"authorization": f"Bearer {key}"}, json=json,
                             timeout=10)

    def stop(self):
        stop_process(self.proc)


def config(emu_url: str, **general) -> dict:
    return {
        "model_list": [deployment("nova", NOVA, emu_url)],
        "litellm_settings": {"callbacks": ["prometheus"]},
        "general_settings": {"master_key": GATEWAY_KEY, **general},
    }


def continue_elsewhere(one: Replica, two: Replica, emulator: EmulatorControl) -> str:
    """Stores a response on `one`, continues it on `two`; returns the first response's id."""
    first = one.client.responses.create(model="nova", input="What is the capital of France?")
    assert first.store is not False
    started = time.monotonic()
    wait_for(lambda: two.raw("GET", f"/v1/responses/{first.id}").status_code == 200,
             what="the other replica sees the response", timeout=5, interval=0.02)
    print(f"\nvisible on the other replica after {1000 * (time.monotonic() - started):.0f} ms")
    second = two.client.responses.create(model="nova", input="And of Italy?", previous_response_id=first.id)
    sent = emulator.last_body()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"], sent
    assert sent[0]["content"][0]["text"] == "What is the capital of France?"
    # Retrieve and input_items on the other replica; the second response back on the first.
    got = two.client.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == first.output_text
    items = two.client.responses.input_items.list(first.id)
    assert [i.content[0].text for i in items.data] == ["What is the capital of France?"]
    wait_for(lambda: one.raw("GET", f"/v1/responses/{second.id}").status_code == 200,
             what="the first replica sees the continuation", timeout=5, interval=0.02)
    # Steady state: how long after its answer another replica can read a response.
    lags = []
    for i in range(10):
        r = one.client.responses.create(model="nova", input=f"number {i}")
        answered = time.monotonic()
        wait_for(lambda: two.raw("GET", f"/v1/responses/{r.id}").status_code == 200,
                 what="visible on the other replica", timeout=5, interval=0.002)
        lags.append(1000 * (time.monotonic() - answered))
    lags.sort()
    writes = Scrape.of(one.url)
    mean = 1000 * writes.value("shale_responses_store_write_seconds_sum") / writes.value("shale_responses_store_write_seconds_count")
    print(f"visible on the other replica (10 responses, polled over HTTP, ms): median {lags[5]:.1f}, "
          f"max {lags[-1]:.1f}; answer-to-written (shale_responses_store_write_seconds) mean {mean:.1f} ms")
    assert lags[5] < 500, lags
    return first.id


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_pair(emu, pg_url):
    cfg = config(emu[0], database_url=pg_url)
    one, two = Replica(cfg), Replica(cfg)
    yield one, two
    one.stop()
    two.stop()


def test_a_response_stored_on_one_replica_continues_on_the_other(pg_pair, emu, pg_url):
    one, two = pg_pair
    first_id = continue_elsewhere(one, two, emu[1])
    # Another key: 404 on both replicas, and it cannot delete it.
    generated = one.raw("POST", "/key/generate", json={"models": ["nova"]})
    assert generated.status_code == 200, generated.text
    other = generated.json()["key"]
    for replica in (one, two):
        assert replica.raw("GET", f"/v1/responses/{first_id}", key=other).status_code == 404
    # (`/health` shows endpoint URLs to the master key only, as LiteLLM does.)
    [seen_by_key] = two.raw("GET", "/health", key=other).json()["healthy_endpoints"]
    [seen_by_admin] = two.raw("GET", "/health").json()["healthy_endpoints"]
    assert "api_base" not in seen_by_key and seen_by_admin["api_base"].startswith("http://127.0.0.1:")
    assert two.raw("DELETE", f"/v1/responses/{first_id}", key=other).status_code == 404
    # In the table: the record, owned by the SHA-256 of the key — never the key itself.
    [(owner,)] = db_rows(pg_url, "SELECT encode(owner, 'hex') FROM shale_responses WHERE id = %s", (first_id,))
    import hashlib

    assert owner == hashlib.sha256(GATEWAY_KEY.encode()).hexdigest()
    assert GATEWAY_KEY not in all_text_in_database(pg_url)
    # Deleted on one replica: gone on the other.
    assert one.raw("DELETE", f"/v1/responses/{first_id}").json()["deleted"] is True
    assert two.raw("GET", f"/v1/responses/{first_id}").status_code == 404


def test_postgres_down_serves_own_writes_and_answers_503_for_the_rest(pg_pair, emu, postgres_server):
    one, two = pg_pair
    seen = one.client.responses.create(model="nova", input="Remember the number 7.")
    wait_for(lambda: two.raw("GET", f"/v1/responses/{seen.id}").status_code == 200,
             what="shared before the outage", timeout=5, interval=0.02)
    postgres_server.stop()
    try:
        # The writing replica stores, reads and continues its own response.
        mine = one.client.responses.create(model="nova", input="Written while Postgres is down.")
        assert one.client.responses.retrieve(mine.id).id == mine.id
        follow = one.client.responses.create(model="nova", input="Go on.", previous_response_id=mine.id)
        assert follow.id
        # The other replica: what it read before is served from its cache; the rest is a 503.
        assert two.raw("GET", f"/v1/responses/{seen.id}").status_code == 200
        for path in (f"/v1/responses/{mine.id}", "/v1/responses/resp_never_stored",
                     f"/v1/responses/{mine.id}/input_items"):
            r = two.raw("GET", path)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.json()["error"]["code"] == "response_store_unavailable"
            assert r.headers["retry-after"] == "1"
        with pytest.raises(openai.APIStatusError) as err:
            two.client.responses.create(model="nova", input="x", previous_response_id=mine.id)
        assert err.value.status_code == 503
        scrape = Scrape.of(two.url)
        assert scrape.value("shale_responses_store_unavailable_total") >= 4
        assert scrape.value("shale_dependency_up", dependency="responses_store") == 0
        assert Scrape.of(one.url).value("shale_responses_store_pending_writes") >= 2
    finally:
        postgres_server.start()
    # The queued writes land; the other replica sees them.
    wait_for(lambda: two.raw("GET", f"/v1/responses/{follow.id}").status_code == 200,
             what="queued writes written after the outage", timeout=20, interval=0.2)
    assert two.client.responses.retrieve(mine.id).id == mine.id
    assert Scrape.of(one.url).value("shale_responses_store_pending_writes") == 0


# --- Redis -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_pair(emu):
    require("redis-server")
    port = free_port()
    state = {"proc": start_redis(port), "port": port}
    cfg = config(emu[0], responses_store={"backend": "redis"})
    cfg["router_settings"] = {"redis_host": "127.0.0.1", "redis_port": port}
    one, two = Replica(cfg), Replica(cfg)
    yield one, two, state
    one.stop()
    two.stop()
    stop_process(state["proc"])


def test_redis_backend_shares_responses_and_degrades(redis_pair, emu):
    one, two, state = redis_pair
    continue_elsewhere(one, two, emu[1])
    stop_process(state["proc"])
    try:
        mine = one.client.responses.create(model="nova", input="Written while Redis is down.")
        assert one.client.responses.retrieve(mine.id).id == mine.id
        r = two.raw("GET", f"/v1/responses/{mine.id}")
        assert r.status_code == 503 and r.json()["error"]["code"] == "response_store_unavailable"
    finally:
        state["proc"] = start_redis(state["port"])
    wait_for(lambda: two.raw("GET", f"/v1/responses/{mine.id}").status_code == 200,
             what="the queued write after Redis is back", timeout=20, interval=0.2)
