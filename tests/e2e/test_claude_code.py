"""Claude Code itself (`@anthropic-ai/claude-code`, pinned in tests/claude-code/) through shale and
the Bedrock emulator, headless (`claude -p … --output-format json`), in both gateway modes:

- `ANTHROPIC_BASE_URL` at shale: Claude Code speaks the Messages API to `/v1/messages`, shale goes
  native to InvokeModelWithResponseStream;
- Bedrock mode (`CLAUDE_CODE_USE_BEDROCK=1`, `ANTHROPIC_BEDROCK_BASE_URL=<shale>/bedrock`,
  `CLAUDE_CODE_SKIP_BEDROCK_AUTH=1`, the key in `ANTHROPIC_CUSTOM_HEADERS`): Claude Code speaks
  Bedrock to shale's pass-through.

The emulator's answers are scripted (a text answer; a signed thinking block and a Bash `tool_use`)
so each turn's outcome is known. The variables of both modes are read from docs/anthropic.md's
examples (URL and key pointed at the test gateway). Telemetry, auto-update and non-essential traffic are off and HOME
is a temporary directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import re
import shlex
import subprocess

import pytest

from shale_harness import (
    GATEWAY_KEY,
    deployment,
    stack_fixture,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
ANTHROPIC_DOC = REPO / "docs" / "anthropic.md"
CLAUDE = REPO / "tests" / "claude-code" / "node_modules" / ".bin" / "claude"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

pytestmark = pytest.mark.skipif(
    not CLAUDE.exists(), reason="Claude Code is not installed: run `npm ci --prefix tests/claude-code` (a failure under CI=true)"
)


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            deployment("claude-sonnet", "bedrock/" + SONNET, emu_url),
            deployment("claude-haiku", "bedrock/" + HAIKU, emu_url),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
    }


stack = stack_fixture(gateway_config)


def chunk(event: dict) -> dict:
    return {"type": "chunk", "payload": event}


def signature(text: str) -> str:
    """The emulator's reasoning signature (verified on the next turn, as Bedrock does)."""
    return base64.b64encode(hashlib.sha256(b"shale-emulator-reasoning:" + text.encode()).digest()).decode()


def scripted_stream(blocks: list[list[dict]], stop_reason: str) -> dict:
    """An InvokeModelWithResponseStream answer: `blocks` are (start, deltas…) lists per block."""
    events = [chunk({"type": "message_start", "message": {
        "id": "msg_bdrk_scripted", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 1}}})]
    for index, (start, *deltas) in enumerate(blocks):
        events.append(chunk({"type": "content_block_start", "index": index, "content_block": start}))
        events += [chunk({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(chunk({"type": "content_block_stop", "index": index}))
    events.append(chunk({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                         "usage": {"output_tokens": 20}}))
    events.append(chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 12, "outputTokenCount": 20, "invocationLatency": 5, "firstByteLatency": 2}}))
    return {"operation": "invoke-with-response-stream", "events": events}


def text_answer(text: str) -> dict:
    return scripted_stream([[{"type": "text", "text": ""}, {"type": "text_delta", "text": text}]], "end_turn")


def bash_answer(command: str) -> dict:
    thought = "I should run the command."
    return scripted_stream(
        [
            [{"type": "thinking", "thinking": ""}, {"type": "thinking_delta", "thinking": thought},
             {"type": "signature_delta", "signature": signature(thought)}],
            [{"type": "tool_use", "id": "toolu_bdrk_shale1", "name": "Bash", "input": {}},
             {"type": "input_json_delta", "partial_json": json.dumps({"command": command, "description": "Print a marker"})}],
        ],
        "tool_use",
    )


def run_claude(tmp_path: pathlib.Path, prompt: str, env: dict, *extra: str) -> dict:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-haiku",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku",
        **env,
    }
    proc = subprocess.run(
        [str(CLAUDE), "-p", prompt, "--output-format", "json", "--model", "claude-sonnet", *extra],
        cwd=work, env=full_env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert proc.stdout.strip(), f"no output (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and not result["is_error"], (result, proc.stderr[-2000:])
    return result


def gateway_env(stack, bearer: bool = False) -> dict:
    """`ANTHROPIC_API_KEY` makes Claude Code send `x-api-key`; `ANTHROPIC_AUTH_TOKEN` a Bearer token."""
    key = "ANTHROPIC_AUTH_TOKEN" if bearer else "ANTHROPIC_API_KEY"
    return {"ANTHROPIC_BASE_URL": stack.url, key: GATEWAY_KEY}


def documented_env(first_line: str, stack) -> dict:
    """The variables docs/anthropic.md exports in the block starting with `first_line`, with its
    `http://localhost:4000` and `sk-change-me` pointed at the test gateway."""
    (script,) = [b for b in re.findall(r"```sh\n(.*?)```", ANTHROPIC_DOC.read_text(), flags=re.S)
                 if b.startswith(first_line)]
    env = {}
    for line in script.splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line.removeprefix("export "), comments=True)[0].partition("=")
            env[name] = value.replace("http://localhost:4000", stack.url).replace("sk-change-me", GATEWAY_KEY)
    assert any(stack.url in v for v in env.values()) and GATEWAY_KEY in " ".join(env.values()), env
    return env


def test_gateway_mode_turn(stack, emulator, tmp_path):
    # Every streamed call of the turn answers the same text (Claude Code may make side calls).
    emulator.script([text_answer("Hello through shale!")] * 3)
    result = run_claude(tmp_path, "Say hello", gateway_env(stack))
    assert result["result"] == "Hello through shale!"
    assert result["subtype"] == "success"
    calls = [r for r in emulator.requests() if r["path"].startswith("/model/")]
    assert calls and all(r["path"].endswith("/invoke-with-response-stream") for r in calls)
    body = calls[0]["body"]
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert "metadata" not in body and "model" not in body
    assert len(body["tools"]) > 5  # Claude Code's own tools pass through untouched


def test_gateway_mode_bash_tool_turn(stack, emulator, tmp_path):
    emulator.script([bash_answer("echo shale-tool-ok")])
    # docs/anthropic.md's mode 1: the key as ANTHROPIC_AUTH_TOKEN (a Bearer token).
    env = documented_env("export ANTHROPIC_BASE_URL=", stack)
    assert "ANTHROPIC_AUTH_TOKEN" in env
    result = run_claude(tmp_path, "Run echo shale-tool-ok", env, "--allowedTools", "Bash(echo:*)")
    # The emulator's default answer after a tool result (as a model would, it answers the result).
    assert "Received 1 tool result" in result["result"]
    assert result["num_turns"] >= 2
    results = [
        block
        for r in emulator.requests() if r["path"].startswith("/model/")
        for m in r["body"].get("messages", []) if isinstance(m.get("content"), list)
        for block in m["content"] if block.get("type") == "tool_result"
    ]
    assert any("shale-tool-ok" in json.dumps(b["content"]) for b in results), results


def test_bedrock_mode_through_the_pass_through(stack, emulator, tmp_path):
    emulator.script([text_answer("Hello through the pass-through!")] * 3)
    # docs/anthropic.md's mode 2.
    env = documented_env("export CLAUDE_CODE_USE_BEDROCK=1", stack)
    assert env["ANTHROPIC_BEDROCK_BASE_URL"] == stack.url + "/bedrock", env
    assert env["ANTHROPIC_CUSTOM_HEADERS"] == f"x-api-key: {GATEWAY_KEY}", env
    result = run_claude(tmp_path, "Say hello", env)
    assert result["result"] == "Hello through the pass-through!"
    calls = [r for r in emulator.requests() if r["path"].startswith("/model/")]
    # The pass-through maps the configured model_name to the deployment's Bedrock model id.
    assert calls and all(r["model_id"] == SONNET for r in calls)
