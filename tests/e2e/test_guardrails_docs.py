"""The guardrail examples of `docs/guardrails.md` and the README's "Guardrails" section, run as
written against the real gateway, the Bedrock emulator (its `shaledemo` guardrail standing in for
`GUARDRAIL_ID`) and PostgreSQL: the configuration (endpoint and example credentials added to each
`litellm_params`), every `sh` block with the real `curl` and `jq`, the Python block with the
official SDKs, and the documented error bodies compared with the real ones, field for field."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx
import pytest
import yaml

from guardrails_harness import model_calls
from shale_harness import (
    EXAMPLE_ACCESS_KEY_ID,
    EXAMPLE_SECRET_ACCESS_KEY,
    GATEWAY_KEY,
    REPO,
    SHALE_BIN,
    EmulatorControl,
    require_commands,
    start_emulator,
    start_gateway,
    stop_process,
)

DOC = (REPO / "docs" / "guardrails.md").read_text()


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def readme_section(title: str) -> str:
    """A `### title` feature section of the README."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n### {title}\n")
    end = min(i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1), len(text)) if i != -1)
    return text[start:end]


def on_emulator(config: dict, emu_url: str) -> dict:
    """The documented config, pointed at the emulator: endpoint and example keys on every
    deployment and guardrail."""
    for entry in config.get("model_list", []) + config.get("guardrails", []):
        entry["litellm_params"].update(
            aws_bedrock_runtime_endpoint=emu_url,
            aws_access_key_id=EXAMPLE_ACCESS_KEY_ID,
            aws_secret_access_key=EXAMPLE_SECRET_ACCESS_KEY,
        )
    return config


ENV = {"GUARDRAIL_ID": "shaledemo", "SHALE_MASTER_KEY": GATEWAY_KEY}


def json_values(text: str) -> list:
    """The JSON values printed one after the other (curl prints no newline after a body)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        while text[at].isspace():
            at += 1
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


@pytest.fixture(scope="module")
def stack(pg_url):
    require_commands("curl", "jq")
    emu_proc, emu_url = start_emulator()
    config = on_emulator(yaml.safe_load(blocks(DOC, "yaml")[0]), emu_url)
    config["general_settings"]["database_url"] = pg_url
    config["general_settings"]["proxy_batch_write_at"] = 1
    # `strict`: a guardrail that always fails, for the documented fail-closed error.
    strict = json.loads(json.dumps(config["guardrails"][0]))
    strict["guardrail_name"] = "strict"
    strict["litellm_params"].update(mode="pre_call", guardrailIdentifier="shalefail")
    strict.pop("guardrail_info", None)
    config["guardrails"].append(strict)
    gw, url, path = start_gateway(config, env=ENV)
    try:
        yield url, EmulatorControl(emu_url), path
    finally:
        stop_process(gw)
        stop_process(emu_proc)


def run_sh(script: str, url: str) -> subprocess.CompletedProcess:
    preamble = f"set -euo pipefail\nexport SHALE={url}\n"
    done = subprocess.run(
        ["bash", "-c", preamble + script.replace("http://localhost:4000", url)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **ENV},
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def test_documented_config_checks_clean(stack):
    out = subprocess.run([SHALE_BIN, "check", stack[2]], capture_output=True, text=True, env={**os.environ, **ENV})
    assert out.returncode == 0, out.stderr
    assert "guardrail pii-guard → bedrock shaledemo version 1, mode [pre_call, post_call]" in out.stdout
    assert "guardrail topics → bedrock shaledemo version 1, mode [during_call]" in out.stdout
    assert "ignored" not in out.stdout and EXAMPLE_SECRET_ACCESS_KEY not in out.stdout


def test_which_guardrails_run_examples(stack):
    url, emu, _ = stack
    emu.reset()
    sh = blocks(DOC, "sh")
    assert len(sh) == 2
    done = run_sh(sh[0], url)
    masked = [json.dumps(c["body"]) for c in model_calls(emu)]
    assert len(masked) == 2
    assert "Email me the summary at {EMAIL}" in masked[0]
    assert "Call me on {PHONE}" in masked[1]
    assert "jane@example.com" not in done.stdout and "555-123-4567" not in done.stdout


def test_sdk_example(stack):
    url, emu, _ = stack
    emu.reset()
    code = blocks(DOC, "python")[0].replace("http://localhost:4000", url)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **ENV})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["pii-guard", "refusal"]


def test_documented_error_bodies_are_the_real_ones(stack):
    url = stack[0]
    documented = [json.loads(b) for b in blocks(DOC, "json")]
    assert len(documented) == 3
    headers = {"authorization": f"Bearer {GATEWAY_KEY}"}
    ssn = [{"role": "user", "content": "My SSN is 123-45-6789, what can you do with it?"}]
    r = httpx.post(url + "/v1/chat/completions", headers=headers,
                   json={"model": "claude-sonnet", "guardrails": ["pii-guard"], "messages": ssn})
    assert (r.status_code, r.headers["x-litellm-applied-guardrails"]) == (400, "pii-guard")
    assert r.json() == documented[0]
    r = httpx.post(url + "/v1/messages", headers=headers | {"anthropic-version": "2023-06-01"},
                   json={"model": "claude-sonnet", "max_tokens": 100,
                         "litellm_metadata": {"guardrails": ["pii-guard"]}, "messages": ssn})
    assert r.status_code == 400 and r.json() == documented[1]
    r = httpx.post(url + "/v1/chat/completions", headers=headers,
                   json={"model": "claude-sonnet", "guardrails": ["strict"],
                         "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502 and r.json() == documented[2]


def test_admin_examples(stack):
    url = stack[0]
    done = run_sh(blocks(DOC, "sh")[1], url)
    listed, applied = json_values(done.stdout)
    names = [g["guardrail_name"] for g in listed["guardrails"]]
    assert names == ["pii-guard", "topics", "strict"]
    assert listed["guardrails"][0]["guardrail_info"] == {"owner": "security-team"}
    assert applied == {"response_text": "Reach me at {EMAIL}"}


def test_readme_guardrails_example(tmp_path):
    require_commands("curl", "jq")
    section = readme_section("Guardrails")
    (yaml_block,) = blocks(section, "yaml")
    (sh_block,) = blocks(section, "sh")
    emu_proc, emu_url = start_emulator()
    try:
        config = {
            "model_list": [{"model_name": "claude-sonnet", "litellm_params": {
                "model": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws_region_name": "us-east-1"}}],
            "general_settings": {"master_key": GATEWAY_KEY},
            # The README's guardrail id is an example; the emulator's demo guardrail stands in.
            **yaml.safe_load(yaml_block.replace("ff6ujrregl1q", "shaledemo")),
        }
        gw, url, _ = start_gateway(on_emulator(config, emu_url), env=ENV)
        try:
            done = run_sh(sh_block, url)
            body = json.loads(done.stdout)
            assert body["error"]["code"] == "guardrail_violation"
            assert body["error"]["message"].startswith(
                "Violated guardrail policy: guardrail `pii-guard` (pre_call) blocked the request: ")
            assert model_calls(EmulatorControl(emu_url)) == []
        finally:
            stop_process(gw)
    finally:
        stop_process(emu_proc)
