"""Helpers for the virtual-key end-to-end tests (issue #15): a gateway started with a real
PostgreSQL (`pg_url` fixture, see pg_server.py), the admin API called with the master key, model
calls made with a virtual key, and polling for what the batched spend writer puts in Postgres."""

from __future__ import annotations

import time

import httpx
import psycopg

from redis_server import free_port, start_redis  # noqa: F401  (re-exported for the keys tests)
from shale_harness import GATEWAY_KEY, deployment, start_gateway, stop_process

NOVA_LITE = "bedrock/us.amazon.nova-lite-v1:0"
NOVA_PRO = "bedrock/amazon.nova-pro-v1:0"
CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
TITAN_EMBED = "bedrock/amazon.titan-embed-text-v2:0"

# Prices large enough that a few requests cross a small budget (USD per token).
PRICES = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}


def model_list(emu_url: str) -> list[dict]:
    """The models every keys test module serves: `cheap` and `other` (priced chat), `claude`
    (the Anthropic Messages API) and `embed` (embeddings)."""
    return [
        deployment("cheap", NOVA_LITE, emu_url, **PRICES),
        deployment("other", NOVA_PRO, emu_url, **PRICES),
        deployment("claude", CLAUDE, emu_url, **PRICES),
        deployment("embed", TITAN_EMBED, emu_url, input_cost_per_token=0.0001),
    ]


class KeysGateway:
    """A running shale with virtual keys on (`database_url` = `pg_url`), spend flushed every second."""

    def __init__(self, emu_url: str, pg_url: str | None, general: dict | None = None,
                 router: dict | None = None, models: list | None = None, extra: dict | None = None):
        settings = {"master_key": GATEWAY_KEY, "proxy_batch_write_at": 1}
        if pg_url:
            settings["database_url"] = pg_url
        settings.update(general or {})
        self.config = {
            "model_list": models or model_list(emu_url),
            "general_settings": settings,
            "litellm_settings": {"callbacks": ["prometheus"]},
        }
        if router:
            self.config["router_settings"] = router
        # Other top-level sections (e.g. `guardrails`).
        self.config.update(extra or {})
        self.start()

    def start(self) -> None:
        self.proc, self.url, self.config_path = start_gateway(self.config)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    # --- admin API (master key) ---

    def admin(self, method: str, path: str, json=None, params=None, key: str = GATEWAY_KEY) -> httpx.Response:
        return self.http.request(method, path, json=json, params=params,
                                 headers={"authorization": f"Bearer {key}"})

    def generate(self, **fields) -> dict:
        r = self.admin("POST", "/key/generate", json=fields)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["key"].startswith("sk-"), body
        return body

    def new_team(self, **fields) -> dict:
        r = self.admin("POST", "/team/new", json=fields)
        assert r.status_code == 200, r.text
        return r.json()

    def key_info(self, key: str) -> dict:
        r = self.admin("GET", "/key/info", params={"key": key})
        assert r.status_code == 200, r.text
        return r.json()

    # --- model calls (virtual key) ---

    def chat(self, key: str, model: str = "cheap", content: str = "hello there", **extra) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
        return self.http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.2, what: str = "condition"):
    """Polls `predicate()` until it returns a truthy value (returned) or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def db_rows(pg_url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def all_text_in_database(pg_url: str) -> str:
    """Every value of every user table, as text (for "no clear key anywhere" scans)."""
    parts = []
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert tables, "the gateway created no tables"
        for schema, table in tables:
            for row in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t').fetchall():
                parts.append(row[0])
    return "\n".join(parts)


def emulator_calls(emu) -> int:
    """Bedrock calls the emulator received."""
    return len([r for r in emu.requests() if r["path"].startswith("/model/")])


def fresh_minute(margin_s: float = 10.0) -> None:
    """Rate limits count per clock minute: when fewer than `margin_s` seconds are left in this
    one, sleep into the next, so a test's requests share one window."""
    left = 60 - (time.time() % 60)
    if left < margin_s:
        time.sleep(left + 0.2)
