"""The virtual-key examples, run as written with the real `curl` and `jq` against the real gateway,
emulator and PostgreSQL: every `sh` block of docs/keys.md, in order, as one bash script in which any
HTTP error fails the test (`curl` is wrapped with `--fail-with-body`), and the README's short
example in its "Virtual keys" feature section."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from keys_harness import CLAUDE, TITAN_EMBED, KeysGateway, emulator_calls
from shale_harness import (
    GATEWAY_KEY,
    REPO,
    EmulatorControl,
    deployment,
    require_commands,
    start_emulator,
    stop_process,
)


KEYS_DOC = REPO / "docs" / "keys.md"


def readme_section(title: str) -> str:
    """A `### title` feature section of the README."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n### {title}\n")
    end = text.find("\n#", start + 1)
    return text[start:end if end != -1 else None]


def sh_blocks(section: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def stack(pg_url):
    require_commands("curl", "jq")
    proc, url = start_emulator()
    models = [
        deployment("claude-sonnet", CLAUDE, url, input_cost_per_token=0.000003),
        deployment("titan-embed", TITAN_EMBED, url),
    ]
    gw = KeysGateway(url, pg_url, models=models)
    yield gw, EmulatorControl(url)
    gw.stop()
    stop_process(proc)


def test_readme_keys_examples_run_as_written(stack):
    gw, emu = stack
    blocks = sh_blocks(KEYS_DOC.read_text())
    assert blocks, "the page has sh examples"
    script = "\n".join(blocks).replace("http://localhost:4000", gw.url)
    preamble = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
    before = emulator_calls(emu)
    done = subprocess.run(
        ["bash", "-c", preamble + script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY},
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert emulator_calls(emu) - before == 1, "the example's chat call reached Bedrock once"
    assert '"search-app"' in done.stdout, "key info / list / spend logs show the alias"
    assert '"request_id"' in done.stdout, "the spend logs have the chat call's row"
    # The chosen-key example: the key as chosen, its model budget, tags and owner's email.
    assert '"key":"sk-carried-over-4f9c2e7a1b"' in done.stdout
    assert '"tags":["search","prod"]' in done.stdout and '"tags":["search"]' in done.stdout
    assert '"model_max_budget":{"claude-sonnet":{' in done.stdout
    assert '"user_email":"search-team@example.com"' in done.stdout
    # The examples end by deleting what they made.
    for alias in ["search-app", "carried-over"]:
        listed = gw.admin("GET", "/key/list", params={"key_alias": alias}).json()
        assert listed["keys"] == [], alias


def test_readme_feature_example_runs_as_written(stack):
    gw, _ = stack
    (block,) = sh_blocks(readme_section("Virtual keys, teams and budgets"))
    script = block.replace("http://localhost:4000", gw.url)
    done = subprocess.run(
        ["bash", "-c", 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n' + script],
        capture_output=True, text=True, timeout=60, env={**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY},
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    key = json.loads(done.stdout)["key"]
    assert key.startswith("sk-")
    info = gw.admin("GET", "/key/info", params={"key": key}).json()["info"]
    assert info["key_alias"] == "my-app" and info["models"] == ["claude-sonnet"] and info["max_budget"] == 10
    gw.admin("POST", "/key/delete", json={"keys": [key]})


def test_readme_keys_config_is_valid(tmp_path):
    from shale_harness import SHALE_BIN

    blocks = re.findall(r"```yaml\n(.*?)```", KEYS_DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    path = tmp_path / "keys.yaml"
    path.write_text("model_list: []\n" + blocks[0])
    env = {**os.environ, "SHALE_MASTER_KEY": "sk-x", "DATABASE_URL": "postgresql://u:pw@db:5432/shale"}
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "virtual keys: active (PostgreSQL from general_settings.database_url" in out.stdout
    assert "ignored" not in out.stdout, out.stdout
