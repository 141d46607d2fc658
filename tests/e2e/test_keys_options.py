"""Virtual keys (issue #26), end to end with the real gateway, emulator and PostgreSQL: a
caller-chosen `key` on /key/generate (works with the OpenAI SDK, stored hashed, duplicates and
malformed keys refused in LiteLLM's words), `model_max_budget` (one model's budget refuses that
model only, 400 before Bedrock is called), `tags` (on /key/info and every spend-log row), a key's
`tpm_limit` holding when requests arrive together, and the `user_email` / `route` metric labels."""

from __future__ import annotations

import concurrent.futures
import hashlib

import httpx
import openai
import pytest

from keys_harness import KeysGateway, db_rows, emulator_calls, fresh_minute, wait_for
from prometheus_scrape import Scrape
from shale_harness import GATEWAY_KEY


@pytest.fixture(scope="module")
def gw(emulator_url, pg_url):
    """A gateway on the session's emulator (the `emulator` fixture scripts and counts it)."""
    g = KeysGateway(emulator_url, pg_url)
    yield g
    g.stop()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def client(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def test_a_chosen_key_works_and_is_stored_hashed(gw, pg_url):
    chosen = "sk-carried-over-from-litellm-7f3a"
    body = gw.generate(key=chosen, key_alias="carried-over")
    assert body["key"] == chosen
    assert body["token"] == sha256(chosen)
    assert body["key_name"] == "sk-...7f3a"
    answer = client(gw, chosen).chat.completions.create(
        model="cheap", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    rows = db_rows(pg_url, "SELECT token FROM shale_keys WHERE key_alias = 'carried-over'")
    assert rows == [(sha256(chosen),)]
    stored = db_rows(pg_url, "SELECT t::text FROM shale_keys AS t")
    assert all(chosen not in row[0] for row in stored), "the clear key is nowhere in the table"


def test_a_duplicate_or_malformed_key_is_refused(gw):
    chosen = "sk-taken-once-only-0042"
    gw.generate(key=chosen)
    again = gw.admin("POST", "/key/generate", json={"key": chosen})
    assert again.status_code == 400, again.text
    error = again.json()["error"]
    assert "already exists" in error["message"]
    assert chosen not in again.text, "the key is not echoed"
    bad = gw.admin("POST", "/key/generate", json={"key": "pk-not-a-litellm-key-99"})
    assert bad.status_code == 400, bad.text
    message = bad.json()["error"]["message"]
    assert message.startswith("Invalid key format. LiteLLM Virtual Key must start with 'sk-'.")
    assert "pk-n****y-99" in message and "not-a-litellm" not in message
    master = gw.admin("POST", "/key/generate", json={"key": GATEWAY_KEY})
    assert master.status_code == 400 and "master key" in master.json()["error"]["message"]


def test_model_max_budget_refuses_that_model_only(gw, emulator):
    key = gw.generate(key_alias="per-model", model_max_budget={
        "cheap": {"budget_limit": 0.0001, "time_period": "1d"}})["key"]
    info = gw.key_info(key)["info"]
    assert info["model_max_budget"] == {"cheap": {"budget_limit": 0.0001, "time_period": "1d"}}
    c = client(gw, key)
    first = c.chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": "hello"}])
    assert float(first.headers["x-litellm-response-cost"]) > 0.0001
    before = emulator_calls(emulator)
    with pytest.raises(openai.BadRequestError) as refused:
        c.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "again"}])
    body = refused.value.response.json()["error"]
    assert body["code"] == "budget_exceeded"
    assert "model cheap" in body["message"] and "model_max_budget" in body["message"]
    assert emulator_calls(emulator) == before, "refused before Bedrock"
    # The key's other models are not bound by the cheap model's budget.
    assert c.chat.completions.create(model="other", messages=[{"role": "user", "content": "hi"}])
    # Malformed budgets are refused with the model named.
    r = gw.admin("POST", "/key/generate", json={"model_max_budget": {"cheap": {"budget_limit": 1}}})
    assert r.status_code == 400 and "model_max_budget.cheap" in r.json()["error"]["message"]


def test_tags_are_on_key_info_and_every_spend_log_row(gw):
    key = gw.generate(key_alias="tagged", tags=["prod", "search"],
                      metadata={"owner": "search"})["key"]
    info = gw.key_info(key)["info"]
    assert info["tags"] == ["prod", "search"]
    assert info["metadata"] == {"owner": "search", "tags": ["prod", "search"]}
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": "tag me"}])
    request_id = raw.headers["x-request-id"]

    def row():
        rows = gw.admin("GET", "/spend/logs", params={"request_id": request_id}).json()
        return rows[0] if rows else None

    assert wait_for(row, what="the spend-log row")["request_tags"] == ["prod", "search"]
    updated = gw.admin("POST", "/key/update", json={"key": key, "tags": ["staging"]})
    assert updated.status_code == 200, updated.text
    assert updated.json()["info"]["tags"] == ["staging"]
    assert updated.json()["info"]["metadata"]["owner"] == "search"


def test_a_tpm_limit_holds_for_requests_that_arrive_together(gw, emulator):
    """Each request is ~250 tokens (its body), the key may use 600 a minute: the first two
    reservations fill the window, so of five requests sent together (each held 1.5 s by Bedrock)
    only two reach Bedrock. Before tokens were reserved at admission, all five passed."""
    fresh_minute(margin_s=20)
    key = gw.generate(key_alias="tpm-burst", tpm_limit=600)["key"]
    prompt = "tell me about the weather in the mountains " * 23  # ~1000 bytes of body
    emulator.script([{"delay_ms": 1500}] * 2)
    before = emulator_calls(emulator)

    def call(_):
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            return c.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": "cheap", "messages": [{"role": "user", "content": prompt}]})

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        statuses = sorted(r.status_code for r in pool.map(call, range(5)))
    assert statuses == [200, 200, 429, 429, 429], statuses
    assert emulator_calls(emulator) - before == 2


def test_user_email_and_route_label_the_key_metrics(gw):
    key = gw.generate(key_alias="labelled", metadata={"user_email": "dev@example.com"})["key"]
    auth = {"authorization": f"Bearer {key}"}
    chat = {"model": "cheap", "messages": [{"role": "user", "content": "hi"}]}
    assert gw.http.post("/v1/chat/completions", json=chat, headers=auth).status_code == 200
    assert gw.http.post("/chat/completions", json=chat, headers=auth).status_code == 200
    assert gw.http.post("/v1/responses", json={"model": "cheap", "input": "hi"},
                        headers=auth).status_code == 200
    unknown = gw.http.post("/v1/chat/completions", json={**chat, "model": "nope"}, headers=auth)
    assert unknown.status_code == 400
    s = Scrape.of(gw.url)
    mine = {"hashed_api_key": sha256(key), "user_email": "dev@example.com"}
    total = "litellm_proxy_total_requests_metric_total"
    assert s.value(total, route="/v1/chat/completions", status_code="200", **mine) == 1
    assert s.value(total, route="/chat/completions", status_code="200", **mine) == 1
    assert s.value(total, route="/v1/responses", status_code="200", **mine) == 1
    assert s.value(total, route="/v1/chat/completions", status_code="400", **mine) == 1
    assert s.value("litellm_proxy_failed_requests_metric_total", route="/v1/chat/completions",
                   exception_status="400", **mine) == 1
    for name in ["litellm_input_tokens_metric_total", "litellm_output_tokens_metric_total",
                 "litellm_total_tokens_metric_total", "litellm_spend_metric_total"]:
        assert s.value(name, **mine) > 0, name
    # Latency histograms keep LiteLLM's labels (no user_email), and no series has a raw id path.
    assert all("user_email" not in x.labels
               for x in s.matching("litellm_request_total_latency_metric_count"))
    routes = {x.labels.get("route") for x in s.samples if "route" in x.labels}
    assert routes <= {"", "/v1/chat/completions", "/chat/completions", "/v1/responses",
                      "/v1/messages", "/v1/embeddings", "/v1/completions", "/bedrock/{*path}"}, routes
