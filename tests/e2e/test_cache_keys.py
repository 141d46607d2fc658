"""The response cache with virtual keys on a real PostgreSQL: a hit costs 0 and its spend-log row
says `cache_hit` (with the key), a hit still counts against the key's rpm, a key's
`allowed_cache_controls` refuses the controls it does not list (LiteLLM's 403), and
`cache_params.scope: key` keeps one key's entries from another."""

from __future__ import annotations

import pytest

from cache_harness import CacheGateway, bedrock_calls, config, prompt
from keys_harness import fresh_minute, wait_for
from shale_harness import EmulatorControl, start_emulator, stop_process


def keys_config(emu_url: str, pg_url: str, **cache_params) -> dict:
    return config(
        emu_url,
        {"type": "local", **cache_params},
        general_settings={"database_url": pg_url, "proxy_batch_write_at": 1},
    )


@pytest.fixture(scope="module")
def stack(pg_url):
    emu_proc, emu_url = start_emulator()
    gw = CacheGateway(keys_config(emu_url, pg_url))
    try:
        yield gw, EmulatorControl(emu_url), emu_url, pg_url
    finally:
        gw.stop()
        stop_process(emu_proc)


def generate(gw: CacheGateway, **fields) -> dict:
    r = gw.admin("POST", "/key/generate", fields)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_hit_costs_nothing_and_the_spend_log_says_so(stack):
    gw, emu, _, _ = stack
    emu.reset()
    made = generate(gw, key_alias="cache-spend")
    key = made["key"]
    q = prompt("spend")
    miss = gw.chat(q, key=key)
    hit = gw.chat(q, key=key)
    assert (miss.headers["x-shale-cache"], hit.headers["x-shale-cache"]) == ("miss", "hit")
    cost = float(miss.headers["x-litellm-response-cost"])
    assert cost > 0 and hit.headers["x-litellm-response-cost"] == "0"
    assert bedrock_calls(emu) == 1
    rows = wait_for(
        lambda: (lambda r: r if len(r) == 2 else None)(
            gw.admin("GET", f"/spend/logs?api_key={made['token']}").json()
        ),
        what="two spend-log rows",
    )
    by_hit = {row["cache_hit"]: row for row in rows}
    assert set(by_hit) == {"True", "False"}
    assert by_hit["True"]["spend"] == 0
    assert by_hit["True"]["cache_key"] == hit.headers["x-litellm-cache-key"]
    assert by_hit["True"]["prompt_tokens"] == by_hit["False"]["prompt_tokens"] > 0, "the replayed answer's tokens"
    assert by_hit["False"]["spend"] == pytest.approx(cost)
    assert by_hit["False"]["cache_key"] == ""
    info = wait_for(
        lambda: (lambda i: i if i["info"]["spend"] > 0 else None)(gw.admin("GET", f"/key/info?key={key}").json()),
        what="the key's spend",
    )
    assert info["info"]["spend"] == pytest.approx(cost), "only the miss was charged"


def test_a_hit_counts_against_the_keys_rpm(stack):
    gw, emu, _, _ = stack
    fresh_minute()
    key = generate(gw, rpm_limit=3)["key"]
    q = prompt("key-rpm")
    statuses = [gw.chat(q, key=key).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429], statuses


def test_allowed_cache_controls(stack):
    gw, emu, _, _ = stack
    made = generate(gw, allowed_cache_controls=["no-cache", "ttl"])
    assert made["allowed_cache_controls"] == ["no-cache", "ttl"]
    key = made["key"]
    q = prompt("allowed")
    refused = gw.chat(q, key=key, cache={"no-store": True})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Not allowed to set no-store as a cache control. Contact admin to change permissions."
    refused = gw.post("/v1/messages", {"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": q}], "cache": {"namespace": "x"}}, key=key)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert gw.chat(q, key=key, cache={"no-cache": True, "ttl": 60}).status_code == 200
    # A header directive the key may not use is ignored, not refused.
    assert gw.chat(q, key=key, headers={"cache-control": "no-store"}).headers["x-shale-cache"] == "hit"
    updated = gw.admin("POST", "/key/update", {"key": key, "allowed_cache_controls": []})
    assert updated.status_code == 200 and updated.json()["info"]["allowed_cache_controls"] == []
    assert gw.admin("POST", "/key/generate", {"allowed_cache_controls": ["everything"]}).status_code == 400
    # Keys without a list may use every control.
    free = generate(gw)["key"]
    assert gw.chat(q, key=free, cache={"no-store": True}).status_code == 200


def test_scope_key_keeps_entries_per_key(stack):
    _, emu, emu_url, pg_url = stack
    gw = CacheGateway(keys_config(emu_url, pg_url, scope="key"))
    try:
        a, b = generate(gw)["key"], generate(gw)["key"]
        q = prompt("scope")
        emu.reset()
        assert gw.chat(q, key=a).headers["x-shale-cache"] == "miss"
        assert gw.chat(q, key=b).headers["x-shale-cache"] == "miss", "another key's entry is not served"
        assert gw.chat(q, key=a).headers["x-shale-cache"] == "hit"
        assert gw.chat(q, key=b).headers["x-shale-cache"] == "hit"
        assert bedrock_calls(emu) == 2
    finally:
        gw.stop()
