"""The examples of README's "Newer Bedrock models (Mantle, OpenAI-compatible endpoints)" section and
of docs/mantle.md, run as written: each config (the `yaml` block) passes `shale check` and serves
a real gateway whose Mantle and bedrock-runtime endpoints are the emulator (set through the
endpoint variables the docs name, `BEDROCK_MANTLE_API_BASE` and `AWS_BEDROCK_RUNTIME_ENDPOINT`,
so the config text is unchanged), and each `sh` block runs with the real `curl` against it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from shale_harness import (
    EXAMPLE_ACCESS_KEY_ID,
    EXAMPLE_API_KEY,
    EXAMPLE_SECRET_ACCESS_KEY,
    GATEWAY_READY,
    REPO,
    SHALE_BIN,
    EmulatorControl,
    start_emulator,
    start_process,
    stop_process,
)

MASTER_KEY = "sk-1234"


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n### {title}\n")
    end = text.find("\n#", start + 1)
    return text[start:end if end != -1 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def env_for(emu_url: str) -> dict:
    return {
        "BEDROCK_MANTLE_API_BASE": emu_url,
        "AWS_BEDROCK_RUNTIME_ENDPOINT": emu_url,
        "AWS_ACCESS_KEY_ID": EXAMPLE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": EXAMPLE_SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": "",
        "AWS_REGION": "us-east-1",
        "AWS_PROFILE": "",
        "AWS_BEARER_TOKEN_BEDROCK": "",
        "BEDROCK_MANTLE_API_KEY": "",
        "BEDROCK_API_KEY": EXAMPLE_API_KEY,
        "SHALE_MASTER_KEY": MASTER_KEY,
    }


def check(config: str, tmp_path, env: dict) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stdout + out.stderr
    return str(path)


def run_examples(config: str, script: str, tmp_path) -> tuple[str, list[dict]]:
    if shutil.which("curl") is None:
        message = "`curl` is not installed (tests/run-all.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    emu_proc, emu_url = start_emulator()
    try:
        env = env_for(emu_url)
        path = check(config, tmp_path, env)
        gw, url = start_process([SHALE_BIN, "--config", path, "--host", "127.0.0.1", "--port", "0"],
                                GATEWAY_READY, env=env)
        try:
            done = subprocess.run(
                ["bash", "-c", "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; }\n"
                 + script.replace("localhost:4000", url.removeprefix("http://"))],
                capture_output=True, text=True, timeout=60, env={**os.environ, **env},
            )
            assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            calls = [r for r in EmulatorControl(emu_url).requests() if not r["path"].startswith("/_emulator")]
            return done.stdout, calls
        finally:
            stop_process(gw)
    finally:
        stop_process(emu_proc)


def test_readme_section_runs_as_written(tmp_path):
    section = readme_section("Newer Bedrock models (Mantle, OpenAI-compatible endpoints)")
    assert len(section.strip().splitlines()) <= 21, "the README section stays short"
    (config,) = blocks(section, "yaml")
    (script,) = blocks(section, "sh")
    out, calls = run_examples(config, script, tmp_path)
    assert "Hello from the shale emulator (model openai.gpt-5.5)" in out
    (call,) = calls
    assert call["path"] == "/openai/v1/responses" and call["auth"] == "bearer"


def test_mantle_doc_examples_run_as_written(tmp_path):
    doc = (REPO / "docs" / "mantle.md").read_text()
    (config,) = blocks(doc, "yaml")
    (script,) = blocks(doc, "sh")
    out, calls = run_examples(config, script, tmp_path)
    for model in ("openai.gpt-5.5", "openai.gpt-oss-120b"):
        assert f"Hello from the shale emulator (model {model})" in out, out
    assert "(model anthropic.claude-opus-4-8)" in out, "the streamed Claude answer"  # split across chunks
    paths = [c["path"] for c in calls]
    assert paths == ["/openai/v1/responses", "/anthropic/v1/messages", "/v1/responses", "/v1/chat/completions"]
    assert calls[2]["headers"]["openai-project"] == "proj_team42"
    assert calls[2]["service"] == "bedrock-mantle"
    assert '"usage"' in out, "the stream with include_usage ends with its usage chunk"


def test_mantle_doc_names_every_setting_the_config_reads():
    doc = (REPO / "docs" / "mantle.md").read_text()
    for key in ("aws_bedrock_project_id", "api_base", "aws_bedrock_runtime_endpoint", "`api`",
                "BEDROCK_MANTLE_API_KEY", "AWS_BEARER_TOKEN_BEDROCK", "BEDROCK_MANTLE_API_BASE",
                "BEDROCK_MANTLE_REGION", "bedrock_mantle/<region>/<id>", "bedrock/mantle/<id>"):
        assert key in doc, key
