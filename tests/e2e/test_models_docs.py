"""The examples of README "Managing models" and docs/models.md, run as written against a real
gateway with models in a real PostgreSQL: the README's `sh` block (with `curl --fail-with-body`),
the docs' settings (`shale check`), request bodies, answers and error shown there."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import httpx
import pytest

from shale_harness import GATEWAY_KEY, REPO, SHALE_BIN, start_emulator, start_gateway, stop_process

AUTH = {"authorization": f"Bearer {GATEWAY_KEY}"}


def section(text: str, title: str) -> str:
    """A README feature section (`### title`) up to the next heading."""
    start = text.index(f"\n### {title}\n")
    end = text.find("\n#", start + 1)
    return text[start:end if end != -1 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


DOC = (REPO / "docs" / "models.md").read_text()


@pytest.fixture(scope="module")
def gateway(pg_url):
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            message = f"`{tool}` is not installed (tests/run-all.sh installs it)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
    emu, _ = start_emulator()
    config = {
        "model_list": [],
        "general_settings": {"master_key": GATEWAY_KEY, "database_url": pg_url, "store_model_in_db": True},
    }
    proc, url, _ = start_gateway(config, env={"SHALE_SALT_KEY": "docs-salt"})
    yield url
    stop_process(proc)
    stop_process(emu)


def run_sh(script: str, url: str) -> str:
    preamble = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
    done = subprocess.run(
        ["bash", "-c", preamble + script.replace("http://localhost:4000", url)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY, "SHALE": url,
             "MK": f"Authorization: Bearer {GATEWAY_KEY}", "JSON": "content-type: application/json"},
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def test_readme_example_runs_as_written(gateway):
    readme = section((REPO / "README.md").read_text(), "Managing models")
    assert len(readme.splitlines()) <= 22, "the README section stays short"
    (script,) = blocks(readme, "sh")
    out = run_sh(script, gateway)
    assert '"model_id":"nova-lite-east"' in out, out
    assert '"rpm":600' in out, out
    assert '"db_model":true' in out, out
    assert "Model: nova-lite-east deleted successfully" in out, out
    info = httpx.get(f"{gateway}/model/info", headers=AUTH).json()["data"]
    assert info == [], "the example cleans up after itself"


def test_docs_settings_are_valid(tmp_path):
    (settings,) = blocks(DOC, "yaml")
    path = tmp_path / "models.yaml"
    path.write_text("model_list: []\n" + settings)
    env = {**os.environ, "SHALE_MASTER_KEY": "sk-x", "DATABASE_URL": "postgresql://u:pw@db:5432/shale",
           "REDIS_HOST": "127.0.0.1", "SHALE_SALT_KEY": "s"}
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "stored models: on" in out.stdout and "reconciles every 5 s" in out.stdout, out.stdout
    assert "file changes (checked every 10 s)" in out.stdout, out.stdout
    assert "ignored" not in out.stdout, out.stdout


def test_docs_bodies_answers_and_errors(gateway):
    http = httpx.Client(base_url=gateway, headers=AUTH, timeout=30)
    examples = [json.loads(b) for b in blocks(DOC, "json")]
    new_body, new_answer, error, info, *_ = examples
    r = http.post("/model/new", json=new_body)
    assert r.status_code == 200, r.text
    assert set(r.json()) == set(new_answer), r.json()
    for key in ("model_id", "model_name", "litellm_params", "model_info"):
        assert r.json()[key] == new_answer[key], key

    (update,) = [b for b in blocks(DOC, "sh") if "/model/update" in b]
    out = json.loads(run_sh(update, gateway))
    assert out["litellm_params"]["rpm"] == 1200 and "tpm" not in out["litellm_params"]

    listed = http.get("/model/info").json()
    assert set(listed) == set(info) and set(listed["data"][0]) == set(info["data"][0])
    assert listed["data"][0]["model_info"]["db_model"] is True

    bad = {**new_body, "litellm_params": {**new_body["litellm_params"], "weight": -2}}
    bad["model_info"] = {"id": "bad"}
    r = http.post("/model/new", json=bad)
    assert r.status_code == 400 and r.json() == error, r.text

    v2 = http.get("/v2/model/info").json()
    shown = json.loads(re.search(r'`(\{"data": \[…\], "total_count".*?\})`', DOC).group(1).replace("[…]", "[]"))
    assert set(v2) == set(shown)

    r = http.post("/model/delete", json={"id": "nova-lite-east"})
    assert r.json() == {"message": "Model: nova-lite-east deleted successfully"}
