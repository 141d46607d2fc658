"""Virtual keys (issue #15): the LiteLLM-compatible admin API end to end — the real gateway, the
Bedrock emulator and a real PostgreSQL. Every `/key/*`, `/team/*` endpoint; master key only; no
database → a clear 400; keys stored hashed (no clear key anywhere in the database); block,
unblock, delete and regenerate take effect at once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import openai
import pytest

from keys_harness import KeysGateway, all_text_in_database, emulator_calls
from shale_harness import GATEWAY_KEY, SHALE_BIN, EmulatorControl, start_emulator, stop_process


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


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_without_a_database_the_admin_api_says_what_it_needs(emu):
    g = KeysGateway(emu[0], None)
    try:
        for method, path, body in [
            ("POST", "/key/generate", {}),
            ("GET", "/key/list", None),
            ("POST", "/team/new", {}),
            ("GET", "/spend/logs", None),
        ]:
            r = g.admin(method, path, json=body)
            assert r.status_code == 400, (path, r.text)
            assert "virtual keys need database_url" in r.json()["error"]["message"]
        # The master key still serves models as before.
        assert g.chat(GATEWAY_KEY).status_code == 200
        assert g.chat("sk-some-virtual-key").status_code == 401
    finally:
        g.stop()


def test_without_a_master_key_the_admin_api_stays_closed(emu, pg_url):
    # An open gateway (no master key) must not let anyone mint keys.
    g = KeysGateway(emu[0], pg_url, general={"master_key": None, "allow_unauthenticated": True})
    try:
        for method, path in [("POST", "/key/generate"), ("GET", "/key/list"), ("GET", "/spend/logs")]:
            r = g.admin(method, path, json={} if method == "POST" else None)
            assert r.status_code == 403, (path, r.text)
            assert "master_key" in r.json()["error"]["message"]
        assert g.chat("any-key").status_code == 200
    finally:
        g.stop()


def test_generate_returns_the_key_once_and_info_shows_only_its_hash(gw):
    made = gw.generate(key_alias="admin-info", models=["cheap"], max_budget=5.0,
                       metadata={"owner": "team-a"}, rpm_limit=100)
    key = made["key"]
    assert len(key) >= 35, "sk- and 32+ random characters"
    for lookup in (key, sha256(key)):
        info = gw.key_info(lookup)
        text = str(info)
        assert key not in text, "key info never shows the clear key"
        body = info.get("info", info)
        assert body["key_alias"] == "admin-info"
        assert body["models"] == ["cheap"]
        assert body["max_budget"] == 5.0
        assert body["metadata"] == {"owner": "team-a"}
        assert sha256(key) in text
    # The key works with the official OpenAI SDK.
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content


def test_list_and_update(gw):
    made = gw.generate(key_alias="admin-list")
    key = made["key"]
    r = gw.admin("GET", "/key/list")
    assert r.status_code == 200, r.text
    listed = str(r.json())
    assert sha256(key) in listed and key not in listed

    r = gw.admin("POST", "/key/update", json={"key": key, "models": ["other"], "max_budget": 2.5,
                                              "key_alias": "admin-list-2"})
    assert r.status_code == 200, r.text
    body = gw.key_info(key)
    body = body.get("info", body)
    assert body["models"] == ["other"]
    assert body["max_budget"] == 2.5
    assert body["key_alias"] == "admin-list-2"
    # The update applies at once: `cheap` is now outside the key's models.
    assert gw.chat(key, "cheap").status_code == 401
    assert gw.chat(key, "other").status_code == 200


def test_admin_api_takes_the_master_key_only(gw):
    key = gw.generate(key_alias="not-admin")["key"]
    r = gw.admin("POST", "/key/generate", json={}, key=key)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["type"] == "permission_error"
    for method, path in [("GET", "/key/list"), ("GET", "/spend/logs"), ("POST", "/team/new")]:
        assert gw.admin(method, path, json={} if method == "POST" else None, key=key).status_code == 403
    r = gw.http.post("/key/generate", json={})
    assert r.status_code == 401
    r = gw.admin("POST", "/key/generate", json={}, key="sk-wrong")
    assert r.status_code == 403


def test_unknown_key_is_401(gw, emu):
    before = emulator_calls(emu[1])
    r = gw.chat("sk-" + "x" * 40)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert emulator_calls(emu[1]) == before


def test_block_and_unblock(gw):
    key = gw.generate(key_alias="blockme")["key"]
    assert gw.chat(key).status_code == 200
    r = gw.admin("POST", "/key/block", json={"key": key})
    assert r.status_code == 200, r.text
    refused = gw.chat(key)
    assert refused.status_code == 401
    assert "block" in refused.json()["error"]["message"].lower()
    r = gw.admin("POST", "/key/unblock", json={"key": sha256(key)})
    assert r.status_code == 200, r.text
    assert gw.chat(key).status_code == 200


def test_generate_blocked_key(gw):
    key = gw.generate(key_alias="born-blocked", blocked=True)["key"]
    assert gw.chat(key).status_code == 401


def test_delete_takes_effect_at_once(gw):
    by_key = gw.generate(key_alias="delete-by-key")["key"]
    by_alias = gw.generate(key_alias="delete-by-alias")["key"]
    assert gw.chat(by_key).status_code == 200, "cached now"
    assert gw.chat(by_alias).status_code == 200
    r = gw.admin("POST", "/key/delete", json={"keys": [by_key]})
    assert r.status_code == 200, r.text
    assert gw.chat(by_key).status_code == 401, "deleted keys stop at once, cache or not"
    r = gw.admin("POST", "/key/delete", json={"key_aliases": ["delete-by-alias"]})
    assert r.status_code == 200, r.text
    assert gw.chat(by_alias).status_code == 401
    assert gw.admin("GET", "/key/info", params={"key": by_key}).status_code == 404


def test_regenerate_replaces_the_key(gw):
    old = gw.generate(key_alias="regen", models=["cheap"])["key"]
    assert gw.chat(old).status_code == 200
    r = gw.admin("POST", "/key/regenerate", json={"key": old})
    assert r.status_code == 200, r.text
    new = r.json()["key"]
    assert new.startswith("sk-") and new != old
    assert gw.chat(old).status_code == 401
    assert gw.chat(new).status_code == 200
    body = gw.key_info(new)
    body = body.get("info", body)
    assert body["key_alias"] == "regen" and body["models"] == ["cheap"]
    # LiteLLM's path form.
    r = gw.admin("POST", f"/key/{new}/regenerate")
    assert r.status_code == 200, r.text
    newer = r.json()["key"]
    assert gw.chat(new).status_code == 401
    assert gw.chat(newer).status_code == 200


def test_teams(gw):
    team = gw.new_team(team_alias="search", models=["cheap"], max_budget=10.0, rpm_limit=100)
    team_id = team["team_id"]
    key = gw.generate(key_alias="in-team", team_id=team_id)["key"]
    assert gw.chat(key, "cheap").status_code == 200
    refused = gw.chat(key, "other")
    assert refused.status_code == 401, "the team's models bound the key's"
    assert "other" in refused.json()["error"]["message"]

    r = gw.admin("GET", "/team/info", params={"team_id": team_id})
    assert r.status_code == 200, r.text
    info = r.json()
    assert team_id in str(info) and "search" in str(info)
    assert sha256(key) in str(info), "team info lists its keys (by hash)"
    assert key not in str(info)

    r = gw.admin("POST", "/team/update", json={"team_id": team_id, "models": ["cheap", "other"]})
    assert r.status_code == 200, r.text
    assert gw.chat(key, "other").status_code == 200, "team update applies at once"

    r = gw.admin("POST", "/team/delete", json={"team_ids": [team_id]})
    assert r.status_code == 200, r.text
    assert gw.admin("GET", "/team/info", params={"team_id": team_id}).status_code == 404


def test_bad_admin_requests_are_400(gw):
    r = gw.admin("POST", "/key/generate", json={"duration": "forever"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = gw.admin("GET", "/key/info")
    assert r.status_code == 400, r.text
    r = gw.admin("GET", "/key/info", params={"key": "sk-does-not-exist"})
    assert r.status_code == 404, r.text


def test_no_clear_key_anywhere_in_the_database(gw, pg_url):
    keys = [gw.generate(key_alias=f"scan-{i}")["key"] for i in range(3)]
    regenerated = gw.admin("POST", "/key/regenerate", json={"key": keys[0]}).json()["key"]
    for k in keys[1:] + [regenerated]:
        assert gw.chat(k).status_code == 200
    text = all_text_in_database(pg_url)
    for k in keys + [regenerated]:
        assert k not in text, "a clear key is stored in the database"
        assert k[3:] not in text, "the random part of a key is stored in the database"
    for k in keys[1:] + [regenerated]:
        assert sha256(k) in text, "keys are stored as their SHA-256 hex"
    assert sha256(keys[0]) not in text, "a regenerated key's old hash is gone"
    assert GATEWAY_KEY not in text


def test_a_virtual_key_lists_the_models_it_may_call(gw):
    key = gw.generate(key_alias="lister", models=["cheap", "embed"])["key"]
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    assert sorted(m.id for m in client.models.list()) == ["cheap", "embed"]
    assert client.models.retrieve("cheap").id == "cheap"
    with pytest.raises(openai.BadRequestError):
        client.models.retrieve("other")
    master = openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
    assert {"cheap", "other", "claude", "embed"} <= {m.id for m in master.models.list()}


def test_shale_check_reports_virtual_keys(tmp_path):

    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "bedrock/amazon.nova-pro-v1:0"}}],
        "general_settings": {"master_key": GATEWAY_KEY, "database_url": "postgresql://u:s3cret-pw@db:5432/shale",
                             "proxy_batch_write_at": 3, "disable_spend_logs": True},
    }
    path = tmp_path / "keys.yaml"
    path.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "virtual keys: active (PostgreSQL from general_settings.database_url; spend written every 3 s" in out.stdout
    assert "spend logs off" in out.stdout
    assert "s3cret-pw" not in out.stdout + out.stderr, "the database password is never printed"
    assert "database_url" not in out.stdout.split("virtual keys:")[0], "database_url is no longer reported as ignored"

    del config["general_settings"]["database_url"]
    path.write_text(json.dumps(config))
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env=env)
    assert "virtual keys: off" in out.stdout
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True,
                         env={**env, "DATABASE_URL": "postgresql://u:pw@db/x"})
    assert "virtual keys: active (PostgreSQL from DATABASE_URL" in out.stdout


def test_unreachable_database_at_start_up(emu, tmp_path):
    from keys_harness import free_port, model_list

    dead = f"postgresql://shale:pw-not-logged@127.0.0.1:{free_port()}/nothing"
    config = {"model_list": model_list(emu[0]),
              "general_settings": {"master_key": GATEWAY_KEY, "database_url": dead}}
    path = tmp_path / "dead-db.yaml"
    path.write_text(json.dumps(config))
    out = subprocess.run([SHALE_BIN, "--config", str(path), "--host", "127.0.0.1", "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0, "refuses to start without its database"
    assert "allow_requests_on_db_unavailable" in out.stderr, out.stderr
    assert "pw-not-logged" not in out.stdout + out.stderr

    # Allowed to start degraded: the master key serves, virtual keys wait for the database.
    g = KeysGateway(emu[0], dead, general={"allow_requests_on_db_unavailable": True})
    try:
        assert g.chat(GATEWAY_KEY).status_code == 200
        assert g.chat("sk-" + "y" * 40).status_code == 503
        assert g.admin("POST", "/key/generate", json={}).status_code == 503
    finally:
        g.stop()
