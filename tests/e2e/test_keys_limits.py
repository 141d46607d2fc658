"""Virtual keys (issue #15): what a key may do, checked before Bedrock is called — model scope on
every model route (401 naming the model), budgets (400, nothing sent to Bedrock) and their reset
after `budget_duration`, rpm/tpm/max_parallel_requests (429 with Retry-After), a team's tighter
limits, and expiry (`duration`). Real gateway, emulator and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import openai
import pytest

from keys_harness import KeysGateway, emulator_calls, fresh_minute, wait_for
from shale_harness import EmulatorControl, start_emulator, stop_process


@pytest.fixture(scope="module")
def emu():
    proc, url = start_emulator()
    yield url, EmulatorControl(url)
    stop_process(proc)


@pytest.fixture(scope="module")
def gw(emu, pg_url):
    g = KeysGateway(emu[0], pg_url)
    yield g
    g.stop()


def auth(key: str) -> dict:
    return {"authorization": f"Bearer {key}"}


def test_model_scope_on_every_model_route(gw, emu):
    key = gw.generate(key_alias="scoped", models=["other"])["key"]
    before = emulator_calls(emu[1])
    calls = [
        ("/v1/chat/completions", {"model": "cheap", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/completions", {"model": "cheap", "prompt": "hi"}),
        ("/v1/embeddings", {"model": "embed", "input": "hi"}),
        ("/v1/responses", {"model": "cheap", "input": "hi"}),
    ]
    for path, body in calls:
        r = gw.http.post(path, json=body, headers=auth(key))
        assert r.status_code == 401, (path, r.text)
        message = r.json()["error"]["message"]
        assert body["model"] in message, (path, message)
    r = gw.http.post("/v1/messages", json={"model": "claude", "max_tokens": 10,
                                           "messages": [{"role": "user", "content": "hi"}]},
                     headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
    assert r.status_code == 401, r.text
    assert r.json()["type"] == "error" and "claude" in r.json()["error"]["message"]
    r = gw.http.post("/bedrock/model/cheap/converse",
                     json={"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
                     headers={"x-api-key": key})
    assert r.status_code == 401, r.text
    assert emulator_calls(emu[1]) == before, "refused requests never reach Bedrock"
    # Inside its scope the key works, on the OpenAI routes and the pass-through.
    assert gw.chat(key, "other").status_code == 200
    r = gw.http.post("/bedrock/model/other/converse",
                     json={"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
                     headers={"x-api-key": key})
    assert r.status_code == 200, r.text


def test_budget_exceeded_sends_nothing_to_bedrock(gw, emu):
    key = gw.generate(key_alias="tight-budget", max_budget=0.0001)["key"]
    first = gw.chat(key)
    assert first.status_code == 200, first.text
    assert float(first.headers["x-litellm-response-cost"]) > 0.0001
    before = emulator_calls(emu[1])
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "again"}])
    assert err.value.status_code == 400
    assert "budget" in str(err.value).lower()
    assert emulator_calls(emu[1]) == before, "nothing is sent to Bedrock over budget"
    # /key/info reads Postgres, where the batched writer puts the spend within a second or two.
    wait_for(lambda: gw.key_info(key)["info"]["spend"] > 0.0001, what="the key's spend in Postgres")


def test_budget_resets_after_budget_duration(gw):
    key = gw.generate(key_alias="reset-budget", max_budget=0.0001, budget_duration="3s")["key"]
    assert gw.chat(key).status_code == 200
    assert gw.chat(key).status_code == 400
    time.sleep(3.5)
    assert gw.chat(key).status_code == 200, "spend was reset after budget_duration"
    assert gw.chat(key).status_code == 400


def test_rpm_limit(gw, emu):
    fresh_minute()
    key = gw.generate(key_alias="rpm", rpm_limit=2)["key"]
    statuses = [gw.chat(key) for _ in range(3)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    limited = statuses[2]
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error"


def test_tpm_limit(gw):
    fresh_minute()
    key = gw.generate(key_alias="tpm", tpm_limit=20)["key"]
    long_prompt = "tell me about the weather " * 20
    assert gw.chat(key, content=long_prompt).status_code == 200
    limited = gw.chat(key)
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) >= 1


def test_max_parallel_requests(gw, emu):
    key = gw.generate(key_alias="parallel", max_parallel_requests=1)["key"]
    emu[1].script([{"delay_ms": 1500}])

    def call(_):
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            return c.post("/v1/chat/completions", headers=auth(key),
                          json={"model": "cheap", "messages": [{"role": "user", "content": "hi"}]})

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(call, 0)
        time.sleep(0.5)
        fast = pool.submit(call, 1)
        results = [slow.result(), fast.result()]
    assert results[0].status_code == 200
    assert results[1].status_code == 429, results[1].text
    assert "retry-after" in results[1].headers
    # The slot is released when the first request ends.
    assert gw.chat(key).status_code == 200


def test_a_stream_holds_its_parallel_slot_until_it_ends(gw, emu):
    key = gw.generate(key_alias="parallel-stream", max_parallel_requests=1)["key"]
    emu[1].script([{"pause_after": 1, "pause_ms": 1500}])
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    stream = client.chat.completions.create(
        model="cheap", messages=[{"role": "user", "content": "stream"}], stream=True)
    first = next(iter(stream))
    assert first is not None
    refused = gw.chat(key)
    assert refused.status_code == 429, "the open stream still holds the key's only slot"
    for _ in stream:
        pass
    assert gw.chat(key).status_code == 200, "the slot is released when the stream ends"


def test_team_limits_are_the_tighter_ones(gw):
    fresh_minute()
    team = gw.new_team(team_alias="slow-team", rpm_limit=1)
    key = gw.generate(key_alias="fast-key", team_id=team["team_id"], rpm_limit=100)["key"]
    assert gw.chat(key).status_code == 200
    assert gw.chat(key).status_code == 429


def test_team_budget_binds_its_keys(gw):
    team = gw.new_team(team_alias="poor-team", max_budget=0.0001)
    one = gw.generate(key_alias="poor-1", team_id=team["team_id"])["key"]
    two = gw.generate(key_alias="poor-2", team_id=team["team_id"])["key"]
    assert gw.chat(one).status_code == 200
    refused = gw.chat(two)
    assert refused.status_code == 400, "the team's budget is spent by all its keys"
    assert "budget" in refused.json()["error"]["message"].lower()


def test_expired_key_is_401(gw):
    key = gw.generate(key_alias="short-lived", duration="3s")["key"]
    assert gw.chat(key).status_code == 200
    time.sleep(3.5)
    r = gw.chat(key)
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"].lower()


def test_count_tokens_checks_the_model_but_spends_nothing(gw):
    fresh_minute()
    import anthropic

    key = gw.generate(key_alias="counter", models=["claude"], rpm_limit=1)["key"]
    client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    for _ in range(3):
        counted = client.messages.count_tokens(model="claude", messages=[{"role": "user", "content": "hi"}])
        assert counted.input_tokens > 0
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.count_tokens(model="cheap", messages=[{"role": "user", "content": "hi"}])
    # Counting used none of the key's one request a minute.
    assert client.messages.create(model="claude", max_tokens=10,
                                  messages=[{"role": "user", "content": "hi"}]).content
