"""Codex CLI (`@openai/codex`, pinned in tests/codex/package.json) through shale + the emulator.

Codex only speaks the Responses API. The test writes a throw-away CODEX_HOME whose config.toml
points a custom provider (`wire_api = "responses"`) at shale — docs/responses.md's file (the
README shows the same), read from it —
and changes nothing else: Codex's
defaults stay, so every request carries its hosted `web_search` tool, which shale drops (counted in
`shale_dropped_tools_total`). It runs `codex exec` and checks that a turn completes with the
emulator's answer, and that a turn where the model calls Codex's shell tool runs the command and
sends its output back.

Needs `npm ci --prefix tests/codex` (tests/run-all.sh does it); skipped when Codex is absent,
a failure under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import tempfile

import pytest

from prometheus_scrape import Scrape
from shale_harness import (
    GATEWAY_KEY,
    REPO,
    EmulatorControl,
    deployment,
    stack_fixture,
)

CODEX = REPO / "tests" / "codex" / "node_modules" / ".bin" / "codex"
MODEL_ID = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"

pytestmark = pytest.mark.skipif(
    not CODEX.exists(), reason="Codex CLI not installed: run `npm ci --prefix tests/codex` (a failure under CI=true)"
)


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [deployment("claude-sonnet", f"bedrock/{MODEL_ID}", emu_url)],
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"callbacks": ["prometheus"]},
    }


stack = stack_fixture(gateway_config)


def documented_codex_config() -> str:
    """docs/responses.md's `~/.codex/config.toml`, as users copy it (Codex's defaults, nothing
    turned off); the README shows the same file."""
    (toml,) = re.findall(r"```toml\n(.*?)```", (REPO / "docs" / "responses.md").read_text(), flags=re.S)
    (readme,) = re.findall(r"```toml\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    assert readme == toml, "the README and docs/responses.md show different Codex configs"
    return toml


def documented_exec_args() -> list[str]:
    """The `codex exec` arguments of docs/responses.md's example (its prompt aside); the key goes in
    the variable the config's `env_key` names."""
    (line,) = [b.strip() for b in re.findall(r"```sh\n(.*?)```", (REPO / "docs" / "responses.md").read_text(),
                                             flags=re.S) if "codex exec" in b]
    assignment, codex, *args, _prompt = shlex.split(line)
    assert codex == "codex" and args[0] == "exec", line
    assert f'env_key = "{assignment.split("=")[0]}"' in documented_codex_config(), assignment
    return args


def codex_config(base_url: str) -> str:
    """The documented file pointed at the test gateway. Only test hygiene is added (no update check,
    no analytics, no client retries): nothing that changes what Codex sends."""
    toml = documented_codex_config().replace("http://localhost:4000", base_url)
    assert base_url in toml
    top, providers = toml.split("[model_providers.shale]", 1)
    return (
        top.rstrip() + "\ncheck_for_update_on_startup = false\n\n[analytics]\nenabled = false\n\n"
        + "[model_providers.shale]" + providers.rstrip() + "\nrequest_max_retries = 0\nstream_max_retries = 0\n"
    )


def run_codex(stack, prompt: str, workdir: pathlib.Path) -> subprocess.CompletedProcess:
    home = pathlib.Path(tempfile.mkdtemp(prefix="codex-home-"))
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(codex_config(stack.url))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "SHALE_API_KEY": GATEWAY_KEY,
        "NO_COLOR": "1",
        "RUST_LOG": "error",
    }
    return subprocess.run(
        [str(CODEX), *documented_exec_args(), "--sandbox", "danger-full-access", "--json", prompt],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def events(proc: subprocess.CompletedProcess) -> list[dict]:
    out = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def responses_calls(emulator: EmulatorControl) -> list[dict]:
    return [q for q in emulator.requests() if q["path"].startswith("/model/")]


def dropped_web_search(stack, baseline: bool = False) -> float:
    """The web_search drop count; a `baseline` (before the turn) may not exist yet."""
    scrape = Scrape.of(stack.url)
    assert scrape.has_family("shale_dropped_tools"), scrape.text[:2000]
    if baseline:
        return scrape.value_or_zero("shale_dropped_tools_total", tool="web_search")
    return scrape.value("shale_dropped_tools_total", tool="web_search")


def assert_function_tools_only(body: dict) -> None:
    """Codex's function tools reach Bedrock; its hosted web_search does not."""
    tools = body["toolConfig"]["tools"]
    names = [t["toolSpec"]["name"] for t in tools if "toolSpec" in t]
    assert "exec_command" in names, names
    assert not any("web_search" in json.dumps(t) for t in tools), names


def test_codex_exec_completes_a_turn(stack, tmp_path):
    emulator = stack.emulator
    emulator.reset()
    dropped_before = dropped_web_search(stack, baseline=True)
    # A plain answer (no tool call) for the first model request.
    emulator.script([{
        "operation": "converse-stream",
        "events": [
            {"type": "messageStart", "payload": {"role": "assistant"}},
            {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "Hello from "}}},
            {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": "shale-emulator-codex."}}},
            {"type": "contentBlockStop", "payload": {"contentBlockIndex": 0}},
            {"type": "messageStop", "payload": {"stopReason": "end_turn"}},
            {"type": "metadata", "payload": {"usage": {"inputTokens": 10, "outputTokens": 4, "totalTokens": 14},
                                             "metrics": {"latencyMs": 5}}},
        ],
    }])
    proc = run_codex(stack, "Say hello", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    evs = events(proc)
    messages = [e["item"]["text"] for e in evs
                if e.get("type") == "item.completed" and e.get("item", {}).get("type") == "agent_message"]
    assert any("shale-emulator-codex" in m for m in messages), proc.stdout[-3000:]
    assert any(e.get("type") == "turn.completed" for e in evs)
    calls = responses_calls(emulator)
    assert calls and calls[0]["path"].endswith("/converse-stream")
    assert calls[0]["model_id"] == MODEL_ID
    sent = calls[0]["body"]
    assert "Say hello" in json.dumps(sent["messages"])
    assert_function_tools_only(sent)
    # Codex's default config sent web_search with the turn, and shale dropped it.
    assert dropped_web_search(stack) >= dropped_before + 1


def test_codex_runs_a_shell_tool_turn(stack, tmp_path):
    emulator = stack.emulator
    emulator.reset()
    dropped_before = dropped_web_search(stack, baseline=True)
    tool_input = json.dumps({"cmd": "echo shale-codex-ok"})
    emulator.script([{
        "operation": "converse-stream",
        "events": [
            {"type": "messageStart", "payload": {"role": "assistant"}},
            {"type": "contentBlockStart", "payload": {"contentBlockIndex": 0, "start": {
                "toolUse": {"toolUseId": "tooluse_codex1", "name": "exec_command"}}}},
            {"type": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"toolUse": {"input": tool_input}}}},
            {"type": "contentBlockStop", "payload": {"contentBlockIndex": 0}},
            {"type": "messageStop", "payload": {"stopReason": "tool_use"}},
            {"type": "metadata", "payload": {"usage": {"inputTokens": 10, "outputTokens": 4, "totalTokens": 14},
                                             "metrics": {"latencyMs": 5}}},
        ],
    }])
    proc = run_codex(stack, "Run echo shale-codex-ok and tell me what it printed", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    calls = responses_calls(emulator)
    assert len(calls) >= 2, "Codex sent the tool output back"
    follow = calls[1]["body"]["messages"]
    results = [b["toolResult"] for m in follow for b in m["content"] if "toolResult" in b]
    assert results and results[0]["toolUseId"] == "tooluse_codex1"
    assert "shale-codex-ok" in json.dumps(results[0]["content"])
    for call in calls[:2]:
        assert_function_tools_only(call["body"])
    assert dropped_web_search(stack) >= dropped_before + 2, "both requests of the turn dropped web_search"
    evs = events(proc)
    assert any(e.get("type") == "turn.completed" for e in evs)
    assert any(e.get("type") == "item.completed" and e.get("item", {}).get("type") == "command_execution"
               for e in evs), proc.stdout[-3000:]
