"""Hostile bodies on every route family test_hostile_bodies.py does not cover: `/v1/messages`,
`/v1/responses`, the `/bedrock` pass-through, the admin API (`/key/*`, `/team/*`, `/model/*`,
`/guardrails/apply_guardrail`, `/cache/*`) with a real PostgreSQL behind it, `/health` and the
admin UI's `/ui/login`.

Three kinds of input, each on every route:
- malformed bytes (truncated and invalid JSON, invalid UTF-8, deep nesting, lone surrogates);
- each route's valid body with every member replaced by every wrong type;
- bodies shaped like the route's API with random leaves (any script, control characters, numbers
  in and around their ranges), which must mostly REACH what the route does (past parsing: a
  Bedrock call, the database, the guardrail, the cache): at least 80% per route, counted and printed.

Always: an answer in the route's error shape (OpenAI's; Anthropic's on `/v1/messages`; Bedrock's
on the pass-through; the sign-in page on `/ui/login`), never a 5xx, never a dropped connection.
Afterwards the gateway still serves normally.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import string
import urllib.parse

import pytest

import chaos_common as cc
from test_hostile_bodies import WRONG, paths, replaced

KEY = cc.GATEWAY_KEY
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PARSE_REFUSALS = ("The request body is not valid JSON", "Invalid request field `", "Invalid request: ")


@pytest.fixture(scope="module")
def postgres():
    from pg_server import PostgresServer, find_bin_dir  # tests/e2e/pg_server.py

    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL (initdb/pg_ctl) is not installed: tests/run-all.sh installs `postgresql`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def full(emulator_url, postgres):
    """(url, emulator url) of a gateway with every admin feature on: keys and models in the
    database, a guardrail on the emulator, the response cache."""
    db = postgres.create_database("hostile_routes")
    config = cc.gateway_config(emulator_url, {"database_url": db, "store_model_in_db": True})
    config["model_list"].append(cc.shale_harness.deployment(
        "nova", "bedrock/us.amazon.nova-lite-v1:0", emulator_url))
    config["guardrails"] = [{"guardrail_name": "demo", "litellm_params": {
        "guardrail": "bedrock", "mode": "pre_call", "guardrailIdentifier": "shaledemo",
        "guardrailVersion": "DRAFT", "aws_region_name": cc.shale_harness.REGION,
        "aws_bedrock_runtime_endpoint": emulator_url,
        "aws_access_key_id": cc.shale_harness.EXAMPLE_ACCESS_KEY_ID,
        "aws_secret_access_key": cc.shale_harness.EXAMPLE_SECRET_ACCESS_KEY}}]
    config["litellm_settings"] = {"cache": True, "cache_params": {"type": "local"}}
    # A salt key: stored models carry AWS secrets, which are sealed with it.
    proc, url, _ = cc.shale_harness.start_gateway(config, env={"SHALE_SALT_KEY": "hostile-routes-salt-key-0123456789"})
    try:
        yield url, emulator_url
    finally:
        cc.shale_harness.stop_process(proc)


def valid_bodies(emulator_url: str) -> dict[str, dict]:
    """One valid body per route."""
    creds = {"aws_bedrock_runtime_endpoint": emulator_url, "aws_region_name": cc.shale_harness.REGION,
             "aws_access_key_id": cc.shale_harness.EXAMPLE_ACCESS_KEY_ID,
             "aws_secret_access_key": cc.shale_harness.EXAMPLE_SECRET_ACCESS_KEY}
    return {
        "/v1/messages": {"model": "chat", "max_tokens": 20, "system": "Be brief.", "temperature": 0.5,
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                         "metadata": {"user_id": "u"}, "stop_sequences": ["x"]},
        "/v1/responses": {"model": "chat", "input": [{"role": "user", "content": "hi"}],
                          "instructions": "Be brief.", "max_output_tokens": 20, "temperature": 0.5,
                          "store": False},
        "/bedrock/model/chat/converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                                         "inferenceConfig": {"maxTokens": 20, "temperature": 0.5}},
        "/bedrock/model/chat/invoke": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20,
                                       "messages": [{"role": "user", "content": "hi"}]},
        "/key/generate": {"key_alias": "a", "models": ["chat"], "max_budget": 10.0, "duration": "1h",
                          "budget_duration": "1d", "rpm_limit": 5, "tpm_limit": 1000,
                          "metadata": {"owner": "x"}, "blocked": False},
        "/key/update": {"key": "sk-doesnotexist", "max_budget": 5.0, "models": ["chat"]},
        "/key/delete": {"keys": ["sk-doesnotexist"]},
        "/key/block": {"key": "sk-doesnotexist"},
        "/team/new": {"team_alias": "t", "models": ["chat"], "max_budget": 5.0, "rpm_limit": 3},
        "/team/update": {"team_id": "no-such-team", "max_budget": 6.0},
        "/team/delete": {"team_ids": ["no-such-team"]},
        "/model/new": {"model_name": "extra", "model_info": {"id": "hostile-model"},
                       "litellm_params": {"model": "bedrock/amazon.nova-lite-v1:0", **creds}},
        "/model/update": {"model_info": {"id": "hostile-model"}, "model_name": "extra-2"},
        "/model/delete": {"id": "no-such-model"},
        "/guardrails/apply_guardrail": {"guardrail_name": "demo", "text": "hi", "language": "en"},
        "/cache/delete": {"keys": ["abc"]},
    }


def message_of(resp: cc.Response) -> str:
    try:
        v = resp.json()
    except ValueError:
        return ""
    if isinstance(v, dict):
        err = v.get("error")
        if isinstance(err, dict):
            return str(err.get("message", ""))
        return str(v.get("message", v.get("Message", "")))
    return ""


def check(route: str, resp: cc.Response, context: str) -> None:
    """Never a 5xx or a dropped connection; a refusal in the route's error shape."""
    assert resp.complete, f"{context}: connection dropped"
    assert resp.status < 500, f"{context}: {resp.status} {resp.body[:300]!r}"
    if route.startswith("/ui/"):
        assert resp.status in (200, 303, 403, 413, 429), f"{context}: {resp.status}"
        return
    if resp.status < 400:
        return
    assert resp.headers.get("content-type", "").startswith("application/json"), f"{context}: {resp.headers}"
    v = resp.json()
    if route.startswith("/v1/messages"):
        assert v["type"] == "error" and v["error"]["message"], f"{context}: Anthropic shape: {v}"
    elif route.startswith("/bedrock/"):
        assert message_of(resp), f"{context}: Bedrock shape: {v}"
    else:
        cc.assert_openai_error(resp, context)


def reached(resp: cc.Response) -> bool:
    """Got past the body parser (and is not a 5xx)."""
    if resp.status >= 500:
        return False
    return not (resp.status == 400 and message_of(resp).startswith(PARSE_REFUSALS))


async def send_all(url: str, cases: list[tuple[str, str, bytes, dict | None]], parallel: int = 16) -> list:
    """(method, route, body, headers) cases, checked; returns (route, response) in order."""
    sem = asyncio.Semaphore(parallel)

    async def one(method, route, body, headers):
        async with sem:
            resp = await cc.post(url, route, body, headers, method=method)
        check(route.split("?")[0], resp, f"{method} {route} {body[:80]!r}")
        return route, resp

    return await asyncio.gather(*(one(*c) for c in cases))


MALFORMED = [
    b"", b"{", b"}", b"[]", b"null", b"1", b"\"x\"", b"{\"model\":", b"{\"model\":\"chat\",}", b"\xff\xfe\xfd",
    b"{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\x28\"}]}", b"\x00" * 64,
    b"{" * 100_000, b"[" * 100_000,
    b"{\"model\":\"chat\",\"keys\":[\"\\ud800\"],\"text\":\"\\ud800\"}",
    b"{\"model\":\"chat\",\"max_tokens\":1e400,\"max_budget\":1e400}",
]


def test_malformed_bodies_on_every_route(full):
    url, emu_url = full
    routes = list(valid_bodies(emu_url)) + ["/bedrock/model/chat/converse-stream"]
    cases = [("POST", r, b, None) for r in routes for b in MALFORMED]
    asyncio.run(send_all(url, cases))


def test_wrong_types_for_every_field_of_every_route(full):
    url, emu_url = full
    cases = []
    for route, body in valid_bodies(emu_url).items():
        for path in paths(body):
            for value in WRONG:
                cases.append(("POST", route, json.dumps(replaced(body, path, value)).encode(), None))
    assert len(cases) > 1000
    asyncio.run(send_all(url, cases))


def test_text_postgres_cannot_store_is_the_clients_400(full):
    """A NUL character in a stored text (PostgreSQL refuses it, SQLSTATE 22P05) is the client's
    400 saying so, not a 503 blaming the database (found by the wrong-type sweep above)."""
    url, emu_url = full
    model = valid_bodies(emu_url)["/model/new"]
    refused_by_postgres = 0
    for route, body in [("/key/generate", {"key_alias": "a\u0000b"}),
                        ("/key/generate", {"metadata": {"k": "v\u0000"}}),
                        ("/key/generate", {"models": ["chat\u0000"]}),
                        ("/team/new", {"team_alias": "t\u0000"}),
                        ("/team/new", {"metadata": {"k\u0000": 1}}),
                        ("/model/new", {**model, "model_name": "m\u0000", "model_info": {"id": "nul-model"}})]:
        resp = cc.post_sync(url, route, json.dumps(body).encode())
        err = cc.assert_openai_error(resp, route)
        assert resp.status == 400 and err["type"] == "invalid_request_error", (route, resp.body)
        # Refused by shale's own checks (control characters) or, stored, by PostgreSQL.
        assert "NUL" in err["message"] or "control characters" in err["message"], err
        refused_by_postgres += "22P05" in err["message"]
    assert refused_by_postgres >= 1, "some NUL reached PostgreSQL (the case this guards)"


# --- shaped bodies with random leaves ----------------------------------------------------------------


class Leaves:
    """Random leaves: plain text mostly, sometimes any script, control characters or blank."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def text(self) -> str:
        r = self.rng.random()
        if r < 0.6:
            return "".join(self.rng.choice(string.ascii_letters + string.digits + " .,!?-")
                           for _ in range(self.rng.randint(1, 24)))
        if r < 0.85:
            return "".join(chr(self.rng.choice([self.rng.randint(0x20, 0x7e), self.rng.randint(0xa0, 0x2fff),
                                                 self.rng.randint(0x4e00, 0x9fff), self.rng.randint(0x1f300, 0x1faff)]))
                           for _ in range(self.rng.randint(1, 16)))
        if r < 0.95:
            return "".join(chr(self.rng.randint(0, 31)) for _ in range(self.rng.randint(1, 4)))
        return " "

    def maybe(self, value, p: float = 0.5):
        return value if self.rng.random() < p else None

    def unit(self) -> float:
        return self.rng.choice([0.0, 1.0, round(self.rng.random(), 3)])

    def duration(self) -> str:
        if self.rng.random() < 0.8:
            return f"{self.rng.randint(1, 99)}{self.rng.choice('smhd')}"
        return self.text()

    def free(self, depth: int = 2):
        r = self.rng.random()
        if depth == 0 or r < 0.5:
            return self.rng.choice([None, True, False, self.rng.randint(-10**9, 10**9), self.rng.random() * 1e6,
                                    self.text()])
        if r < 0.75:
            return [self.free(depth - 1) for _ in range(self.rng.randint(0, 3))]
        return {self.text()[:12] or "k": self.free(depth - 1) for _ in range(self.rng.randint(0, 3))}


def compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def shaped(route: str, lv: Leaves, emu_url: str, state: dict) -> dict:
    """A body shaped like `route`'s API, with random leaves."""
    models = [lv.rng.choice(["chat", "nova", lv.text()]) for _ in range(lv.rng.randint(0, 2))]
    if route == "/v1/messages":
        turns = []
        for _ in range(lv.rng.randint(0, 2)):
            turns += [{"role": "user", "content": lv.text()}, {"role": "assistant", "content": lv.text()}]
        last = lv.rng.choice([lv.text(), [{"type": "text", "text": lv.text()}],
                              [{"type": "text", "text": lv.text()},
                               {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]])
        return compact({"model": lv.rng.choice(["chat", "nova"]), "max_tokens": lv.rng.randint(1, 512),
                        "messages": turns + [{"role": "user", "content": last}],
                        "system": lv.maybe(lv.text()), "temperature": lv.maybe(lv.unit()),
                        "stop_sequences": lv.maybe([lv.text()]), "metadata": lv.maybe({"user_id": lv.text()}),
                        "stream": lv.maybe(lv.rng.random() < 0.5)})
    if route == "/v1/responses":
        inp = lv.rng.choice([lv.text(), [{"role": "user", "content": lv.text()}],
                             [{"role": "user", "content": [{"type": "input_text", "text": lv.text()}]}]])
        return compact({"model": lv.rng.choice(["chat", "nova"]), "input": inp, "instructions": lv.maybe(lv.text()),
                        "max_output_tokens": lv.maybe(lv.rng.randint(16, 512)), "temperature": lv.maybe(lv.unit()),
                        "top_p": lv.maybe(lv.unit()), "store": lv.rng.random() < 0.5,
                        "stream": lv.maybe(lv.rng.random() < 0.5)})
    if route.startswith("/bedrock/") and route.endswith("/invoke"):
        return compact({"anthropic_version": "bedrock-2023-05-31", "max_tokens": lv.rng.randint(1, 512),
                        "messages": [{"role": "user", "content": lv.text()}], "temperature": lv.maybe(lv.unit())})
    if route.startswith("/bedrock/"):
        return compact({"messages": [{"role": "user", "content": [{"text": lv.text()}]}],
                        "system": lv.maybe([{"text": lv.text()}]),
                        "inferenceConfig": compact({"maxTokens": lv.maybe(lv.rng.randint(1, 512)),
                                                    "temperature": lv.maybe(lv.unit())})})
    if route == "/key/generate":
        return compact({"key_alias": lv.maybe(lv.text()), "models": lv.maybe(models), "duration": lv.maybe(lv.duration()),
                        "max_budget": lv.maybe(lv.rng.random() * 100), "budget_duration": lv.maybe(lv.duration()),
                        "rpm_limit": lv.maybe(lv.rng.randint(0, 10**6)), "tpm_limit": lv.maybe(lv.rng.randint(0, 10**9)),
                        "metadata": lv.maybe({lv.text()[:10] or "k": lv.free()}), "blocked": lv.maybe(lv.rng.random() < 0.5),
                        "team_id": lv.maybe(lv.rng.choice(state["teams"] or [lv.text()]), 0.2)})
    if route == "/key/update":
        return compact({"key": lv.rng.choice(state["keys"] or ["sk-x"]), "key_alias": lv.maybe(lv.text()),
                        "max_budget": lv.maybe(lv.rng.random() * 100), "models": lv.maybe(models),
                        "metadata": lv.maybe({lv.text()[:10] or "k": lv.free()})})
    if route == "/key/block":
        return {"key": lv.rng.choice(state["keys"] or [lv.text()])}
    if route == "/key/delete":
        return {"keys": [lv.rng.choice([lv.text(), "sk-" + lv.text()])]}
    if route == "/team/new":
        return compact({"team_alias": lv.maybe(lv.text()), "models": lv.maybe(models),
                        "max_budget": lv.maybe(lv.rng.random() * 100), "rpm_limit": lv.maybe(lv.rng.randint(0, 10**6)),
                        "metadata": lv.maybe({lv.text()[:10] or "k": lv.free()})})
    if route == "/team/update":
        return compact({"team_id": lv.rng.choice(state["teams"] or [lv.text()]), "team_alias": lv.maybe(lv.text()),
                        "max_budget": lv.maybe(lv.rng.random() * 100)})
    if route == "/team/delete":
        return {"team_ids": [lv.text()]}
    if route == "/model/new":
        mid = "m-" + "".join(lv.rng.choice(string.ascii_lowercase) for _ in range(10))
        creds = {"aws_bedrock_runtime_endpoint": emu_url, "aws_region_name": cc.shale_harness.REGION,
                 "aws_access_key_id": cc.shale_harness.EXAMPLE_ACCESS_KEY_ID,
                 "aws_secret_access_key": cc.shale_harness.EXAMPLE_SECRET_ACCESS_KEY}
        params = {"model": lv.rng.choice(["bedrock/amazon.nova-lite-v1:0", "bedrock/anthropic.claude-3-haiku-20240307-v1:0"]),
                  **creds}
        if lv.rng.random() < 0.5:
            params["max_tokens"] = lv.rng.randint(1, 4096)
        return compact({"model_name": lv.text(), "litellm_params": params,
                        "model_info": {"id": mid, "description": lv.maybe(lv.text())}})
    if route == "/model/update":
        return compact({"model_info": {"id": lv.rng.choice(state["models"] or [lv.text()])},
                        "model_name": lv.maybe(lv.text())})
    if route == "/model/delete":
        return {"id": lv.text()}
    if route == "/guardrails/apply_guardrail":
        return compact({"guardrail_name": "demo", "text": lv.text() + lv.rng.choice(["", " mail me at a@example.com"]),
                        "language": lv.maybe(lv.rng.choice(["en", "fr"])),
                        "entities": lv.maybe(lv.rng.sample(["EMAIL", "PHONE", "NAME"], lv.rng.randint(0, 2)))})
    if route == "/cache/delete":
        return {"keys": [lv.text() for _ in range(lv.rng.randint(0, 3))]}
    raise AssertionError(route)


SHAPED_PER_ROUTE = 40


def test_shaped_bodies_with_random_leaves_reach_every_route(full):
    url, emu_url = full
    lv = Leaves(26)
    state: dict[str, list] = {"keys": [], "teams": [], "models": []}
    # Some real keys, teams and models for the updates to find.
    for i in range(3):
        resp = cc.post_sync(url, "/key/generate", json.dumps({"key_alias": f"seed-{i}"}).encode())
        assert resp.status == 200, resp.body
        state["keys"].append(resp.json()["key"])
        resp = cc.post_sync(url, "/team/new", json.dumps({"team_alias": f"seed-{i}"}).encode())
        assert resp.status == 200, resp.body
        state["teams"].append(resp.json()["team_id"])
    routes = [r for r in valid_bodies(emu_url)] + ["/bedrock/model/nova/converse", "/bedrock/model/chat/converse-stream"]
    counts = {}
    for route in routes:
        cases = []
        for _ in range(SHAPED_PER_ROUTE):
            body = shaped(route, lv, emu_url, state)
            if route == "/model/new":
                state["models"].append(body["model_info"]["id"])
            cases.append(("POST", route, json.dumps(body).encode(), None))
        results = asyncio.run(send_all(url, cases, parallel=4 if route.startswith("/model/") else 16))
        counts[route] = sum(reached(resp) for _, resp in results)
    print("reach (of %d per route): %s" % (SHAPED_PER_ROUTE, json.dumps(counts)))
    low = {r: n for r, n in counts.items() if n < 0.8 * SHAPED_PER_ROUTE}
    assert not low, f"routes where fewer than 80% of shaped bodies got past parsing: {low}"


def test_ui_sign_in_and_read_routes_with_hostile_input(full):
    url, _ = full
    lv = Leaves(32)
    cases = []
    for i in range(120):
        pairs = [(lv.rng.choice(["master_key", "username", "password", "csrf_token", lv.text()]), lv.text())
                 for _ in range(lv.rng.randint(0, 4))]
        if i % 2:
            pairs.append(("master_key", KEY))
        form = urllib.parse.urlencode(pairs).encode()
        if i % 5 == 0:
            form = bytes(lv.rng.randrange(256) for _ in range(lv.rng.randint(0, 64)))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": ""}
        if i % 7 == 0:
            headers["Origin"] = "http://evil.example"
        cases.append(("POST", "/ui/login", form, headers))
    reads = {"/health": "model", "/v1/health": "model", "/health/readiness": "x", "/health/liveliness": "x",
             "/model/info": "litellm_model_id", "/v2/model/info": "page", "/model_group/info": "model_group",
             "/spend/logs": "api_key", "/key/info": "key", "/team/info": "team_id"}
    for _ in range(120):
        route = lv.rng.choice(list(reads))
        pairs = [(lv.rng.choice([reads[route], lv.text()]), lv.text()) for _ in range(lv.rng.randint(0, 3))]
        query = urllib.parse.urlencode(pairs)
        cases.append(("GET", f"{route}?{query}" if query else route, b"", None))
    results = asyncio.run(send_all(url, cases, parallel=8))
    signed_in = sum(1 for route, r in results if route == "/ui/login" and r.status == 303)
    gets = [(route, r) for route, r in results if not route.startswith("/ui/")]
    health = [r for route, r in gets if route.startswith(("/health", "/v1/health"))]
    answered = sum(1 for _, r in gets if r.status == 200)
    print(f"ui sign-ins: {signed_in} of 120; GET reads answered 200: {answered} of {len(gets)}")
    assert all(r.status == 200 for r in health), [r.status for r in health]
    assert signed_in >= 1, "the right master key signs in, whatever else the form carries"


def test_hostile_model_requests_never_cost_others_their_spend_rows(full):
    """Requests of a virtual key with hostile members (NUL and control characters in `model`,
    `user`, metadata, the request id header) are answered 4xx or served, and the spend rows of
    everything else the key sent still land: spend rows are written in batches, so one row
    PostgreSQL refuses must not take its batch down with it."""
    url, _ = full
    import hashlib
    import time

    key = cc.post_sync(url, "/key/generate", json.dumps({"key_alias": "spend-probe"}).encode()).json()["key"]
    auth = {"Authorization": f"Bearer {key}"}
    hostile = [
        {"model": "chat\u0000", "messages": [{"role": "user", "content": "x"}]},
        {"model": "chat", "user": "u\u0000", "messages": [{"role": "user", "content": "x\u0000"}]},
        {"model": "chat", "metadata": {"k\u0000": "v\u0000"}, "messages": [{"role": "user", "content": "x"}]},
        {"model": "chat", "messages": [{"role": "user\u0000", "content": "x"}]},
    ]
    cases = [("POST", "/v1/chat/completions", json.dumps(b).encode(), auth) for b in hostile]
    normal_ids = [f"spend-probe-{i}" for i in range(4)]
    for rid in normal_ids:
        cases.append(("POST", "/v1/chat/completions", json.dumps(cc.chat_body(stream=False)).encode(),
                      {**auth, "x-request-id": rid}))
    asyncio.run(send_all(url, cases, parallel=8))
    deadline = time.monotonic() + 20
    logged = set()
    while time.monotonic() < deadline:
        q = urllib.parse.urlencode({"api_key": hashlib.sha256(key.encode()).hexdigest()})
        resp = asyncio.run(cc.post(url, f"/spend/logs?{q}", b"", method="GET"))
        assert resp.status == 200, resp.body
        logged = {row["request_id"] for row in resp.json()}
        if set(normal_ids) <= logged:
            break
        time.sleep(0.3)
    assert set(normal_ids) <= logged, f"spend rows lost: {set(normal_ids) - logged}"


def test_still_serving_afterwards(full):
    url, _ = full
    resp = cc.post_sync(url, "/v1/chat/completions", json.dumps(cc.chat_body(stream=False)).encode())
    assert resp.status == 200, resp.body
    resp = cc.post_sync(url, "/v1/messages", json.dumps(
        {"model": "chat", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}).encode())
    assert resp.status == 200, resp.body
    resp = cc.post_sync(url, "/key/generate", json.dumps({"key_alias": "after"}).encode())
    assert resp.status == 200 and resp.json()["key"].startswith("sk-"), resp.body
