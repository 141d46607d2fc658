"""The examples of docs/caching.md and of the README's "Caching" section, run as written against
the real gateway, emulator, redis-server and PostgreSQL: the docs' first config (Redis) starts the
gateway, every `sh` block runs in order as one bash script with the real `curl` and `jq`, the
Python block runs with the OpenAI SDK, and every YAML block passes `shale check`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from cache_harness import CLAUDE, CacheGateway, bedrock_calls
from doc_examples import fenced as blocks
from doc_examples import readme_section, require_tools
from redis_server import free_port, require_redis, start_redis, stop_redis
from shale_harness import GATEWAY_KEY, REPO, SHALE_BIN, EmulatorControl, deployment, start_emulator, stop_process

DOC = (REPO / "docs" / "caching.md").read_text()


def gateway_config(yaml_text: str, redis_port: int, emu_url: str, pg_url: str | None) -> dict:
    """A documented config, pointed at the test's Redis, with a model and the master key."""
    cfg = yaml.safe_load(yaml_text)
    params = cfg["litellm_settings"]["cache_params"]
    params["host"], params["port"] = "127.0.0.1", redis_port
    cfg["litellm_settings"]["callbacks"] = ["prometheus"]
    cfg["model_list"] = [deployment("claude-sonnet", CLAUDE, emu_url)]
    general = {"master_key": GATEWAY_KEY}
    if pg_url:
        general.update(database_url=pg_url, proxy_batch_write_at=1)
    cfg["general_settings"] = general
    return cfg


@pytest.fixture(scope="module")
def stack(pg_url):
    require_redis()
    require_tools("curl", "jq")
    port = free_port()
    redis_proc = start_redis(port)
    emu_proc, emu_url = start_emulator()
    gw = CacheGateway(gateway_config(blocks(DOC, "yaml")[0], port, emu_url, pg_url), env={"REDIS_PASSWORD": ""})
    try:
        yield gw, EmulatorControl(emu_url), port
    finally:
        gw.stop()
        stop_process(emu_proc)
        stop_redis(redis_proc)


def test_the_docs_examples_run_as_written(stack):
    gw, emu, _ = stack
    emu.reset()
    script = "\n".join(blocks(DOC, "sh")).replace("http://localhost:4000", gw.url)
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY},
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    expected = [
        "x-shale-cache: miss",
        "x-shale-cache: hit",
        "x-shale-cache: miss",
        "x-shale-cache: hit",
        "data: [DONE]",
        "403",
        '"status":"healthy"',
        '{"status":"success","deleted":1}',
        '"namespace":"litellm.caching.caching"',
    ]
    at = 0
    for line in expected:
        found = done.stdout.find(line, at)
        assert found >= 0, f"{line!r} after position {at} in:\n{done.stdout}"
        at = found + len(line)
    # The plain question reached Bedrock twice (first call, `no-cache`), the stream once, and the
    # admin example's lookup was a hit.
    assert bedrock_calls(emu) == 3


def test_the_docs_python_example_runs(stack):
    gw, _, _ = stack
    code = blocks(DOC, "python")[0]
    code = code.replace("http://localhost:4000/v1", gw.url + "/v1").replace("sk-your-master-key", GATEWAY_KEY)
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.startswith("miss litellm.caching.caching:"), runs[0].stdout
    assert runs[1].stdout.startswith("hit litellm.caching.caching:"), runs[1].stdout
    assert runs[0].stdout.splitlines()[1] == runs[1].stdout.splitlines()[1]


@pytest.mark.parametrize("source", ["docs", "readme"])
def test_every_documented_config_passes_shale_check(tmp_path, source):
    text = DOC if source == "docs" else readme_section("Caching")
    configs = blocks(text, "yaml")
    assert configs
    for i, block in enumerate(configs):
        path = tmp_path / f"{source}-{i}.yaml"
        path.write_text("model_list: []\n" + block)
        out = subprocess.run(
            [SHALE_BIN, "check", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "REDIS_PASSWORD": "pw", "SHALE_MASTER_KEY": "sk-x"},
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "response cache: on — " in out.stdout and "NOT STARTING" not in out.stdout, out.stdout


def test_the_readme_example_caches(stack):
    _, _, port = stack
    emu_proc, emu_url = start_emulator()
    gw = CacheGateway(gateway_config(blocks(readme_section("Caching"), "yaml")[0], port, emu_url, None))
    try:
        emu = EmulatorControl(emu_url)
        ask = "What does the README promise?"
        assert gw.chat(ask, model="claude-sonnet").headers["x-shale-cache"] == "miss"
        assert gw.chat(ask, model="claude-sonnet").headers["x-shale-cache"] == "hit"
        assert bedrock_calls(emu) == 1
    finally:
        gw.stop()
        stop_process(emu_proc)
