"""The examples of the README's "Health checks" feature, docs/health-checks.md and
docs/responses-store.md, run as written: every YAML block is a config `shale check` accepts (and
whose check output is the documented one), every `sh` block runs with the real `curl` and `jq`
against a real gateway and emulator, the documented `/health` JSON has the real response's shape,
and the documented table is the table the gateway creates."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import pytest
import yaml

from keys_harness import db_rows, wait_for
from shale_harness import GATEWAY_KEY, REPO, SHALE_BIN, deployment, start_emulator, start_gateway, stop_process
from test_fleet_health import require

CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"
TITAN = "bedrock/amazon.titan-embed-text-v2:0"


def section(text: str, title: str) -> str:
    """The README's `### title` subsection (up to the next heading)."""
    start = text.index(f"\n### {title}\n")
    ends = [i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i != -1]
    return text[start:min(ends) if ends else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


README = section((REPO / "README.md").read_text(), "Health checks")
HEALTH_DOC = (REPO / "docs" / "health-checks.md").read_text()
STORE_DOC = (REPO / "docs" / "responses-store.md").read_text()


def models(emu_url: str) -> list[dict]:
    claude = deployment("claude-sonnet", CLAUDE, emu_url)
    claude["model_info"] = {"id": "claude-east"}
    titan = deployment("titan-embed", TITAN, emu_url)
    titan["model_info"] = {"id": "titan-west"}
    return [claude, titan]


def check(config: dict, env: dict | None = None) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(config, f)
    out = subprocess.run([SHALE_BIN, "check", f.name], capture_output=True, text=True,
                         env={**os.environ, "SHALE_MASTER_KEY": "sk-x", **(env or {})})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def run_sh(script: str, url: str) -> str:
    require("curl")
    require("jq")
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script.replace("http://localhost:4000", url)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def gateway():
    """A gateway with the README's settings, its two deployments probed once."""
    proc, emu = start_emulator()
    [settings] = blocks(README, "yaml")
    config = {"model_list": models(emu), **yaml.safe_load(settings)}
    config["general_settings"]["master_key"] = GATEWAY_KEY
    gw, url, _ = start_gateway(config)

    def probed():
        status, _, body = _health(url)
        return all(e["health_check"] for e in body["healthy_endpoints"] + body["unhealthy_endpoints"])

    wait_for(probed, what="the first probes", timeout=15)
    yield url
    stop_process(gw)
    stop_process(proc)


def _health(url: str):
    from router_harness import call

    return call(url + "/health", None)


def test_readme_example_runs_as_written(gateway):
    [script] = blocks(README, "sh")
    out = json.loads(run_sh(script, gateway))
    assert out == {"healthy_count": 2, "unhealthy_count": 0, "unhealthy": []}


def test_docs_settings_are_valid_and_check_prints_the_documented_lines(tmp_path):
    for block in blocks(HEALTH_DOC, "yaml"):
        check({"model_list": [], **yaml.safe_load(block)})
    # `shale check … | grep 'health check'` for the README's settings, two deployments and Redis.
    [settings] = blocks(README, "yaml")
    config = {"model_list": models("http://127.0.0.1:9"), **yaml.safe_load(settings)}
    out = check(config, {"REDIS_URL": "redis://127.0.0.1:6379/"})
    [documented] = blocks(HEALTH_DOC, "text")
    printed = [line for line in out.splitlines() if "health check" in line]
    assert printed == documented.rstrip("\n").splitlines()
    assert "shale check config.yaml | grep 'health check'" in blocks(HEALTH_DOC, "sh")[0]


def test_documented_health_json_has_the_real_shape(gateway):
    [documented] = blocks(HEALTH_DOC, "json")
    doc = json.loads(documented)
    _, _, real = _health(gateway)
    assert set(doc) == set(real), set(doc) ^ set(real)
    assert set(doc["background_health_checks"]) == set(real["background_health_checks"])
    real_entry = real["healthy_endpoints"][0]
    assert set(doc["healthy_endpoints"][0]) == set(real_entry)
    assert set(doc["healthy_endpoints"][0]["health_check"]) == set(real_entry["health_check"])
    # An unhealthy endpoint adds error, exception_status and (cooling) cooldown_remaining_s.
    assert set(doc["unhealthy_endpoints"][0]) - set(real_entry) == {"error", "exception_status", "cooldown_remaining_s"}
    for entry in doc["deployments"]:
        assert set(entry) <= set(real["deployments"][0])


def test_docs_health_curl_runs(gateway):
    scripts = [b for b in blocks(HEALTH_DOC, "sh") if "curl" in b]
    assert scripts
    for script in scripts:
        assert json.loads(run_sh(script, gateway)) == []


def test_store_docs_config_is_valid_and_described(pg_url):
    [settings] = blocks(STORE_DOC, "yaml")
    out = check({"model_list": [], **yaml.safe_load(settings)}, {"DATABASE_URL": pg_url})
    [documented] = blocks(STORE_DOC, "text")
    assert [line for line in out.splitlines() if "responses store" in line] == documented.rstrip("\n").splitlines()
    assert "shale check config.yaml | grep 'responses store'" in blocks(STORE_DOC, "sh")[0]


def test_store_docs_table_is_the_real_one(pg_url):
    import openai

    proc, emu = start_emulator()
    config = {
        "model_list": [deployment("nova", "bedrock/amazon.nova-lite-v1:0", emu)],
        "general_settings": {"master_key": GATEWAY_KEY, "database_url": pg_url},
    }
    gw, url, _ = start_gateway(config)
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=GATEWAY_KEY, max_retries=0)
        r = client.responses.create(model="nova", input="hello")
        wait_for(lambda: db_rows(pg_url, "SELECT 1 FROM shale_responses WHERE id = %s", (r.id,)),
                 what="the row", timeout=10)
    finally:
        stop_process(gw)
        stop_process(proc)
    [sql] = blocks(STORE_DOC, "sql")
    documented = re.findall(r"^\s+(\w+)\s+(TEXT|BYTEA|BIGINT|TIMESTAMPTZ)", sql, flags=re.M)
    real = db_rows(pg_url, "SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_name = 'shale_responses' ORDER BY ordinal_position")
    names = {"text": "TEXT", "bytea": "BYTEA", "bigint": "BIGINT", "timestamp with time zone": "TIMESTAMPTZ"}
    assert documented == [(c, names[t]) for c, t in real]
