"""The README's examples, run as written against the real gateway and emulator.

Every fenced block of README.md is accounted for: Python blocks and `curl` blocks run here (the
README's `http://localhost:4000` and `sk-change-me` / `$SHALE_MASTER_KEY` replaced by the test
gateway's), YAML blocks pass `shale check` with nothing ignored, the demo's sample output matches
what `shale demo` prints; the rest is listed in `ELSEWHERE` with the test that runs it, or in
`NOT_RUN` with the reason. A block nobody accounts for fails `test_every_block_is_accounted_for`:
a new README section brings its example into a test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

import pytest

from shale_harness import (
    GATEWAY_KEY,
    REPO,
    SHALE_BIN,
    deployment,
    stack_fixture,
    stop_process,
)

README = REPO / "README.md"
README_URL = "http://localhost:4000"
README_KEY = "sk-change-me"

# First line of a block → the test that runs it.
ELSEWHERE = {
    # both blocks (the demo, and the gateway with a config): every `docker` line of the README
    "docker build -t shale .": "tests/packaging/test_pkg_image.py (runs the README's docker lines as written)",
    'curl -s http://localhost:4000/key/generate -H "Authorization: Bearer $SHALE_MASTER_KEY" -H \'content-type: application/json\' \\':
        "tests/e2e/test_keys_readme.py (needs PostgreSQL)",
    'curl -s -c jar -o /dev/null -d "master_key=$SHALE_MASTER_KEY" http://localhost:4000/ui/login':
        "tests/e2e/test_ui_security.py (test_session_examples_run_as_written)",
    'export SHALE=http://localhost:4000 MK="Authorization: Bearer $SHALE_MASTER_KEY" JSON="content-type: application/json"':
        "tests/e2e/test_models_docs.py (needs PostgreSQL and store_model_in_db)",
    'curl -s localhost:4000/v1/chat/completions -H "Authorization: Bearer sk-1234" -H \'content-type: application/json\' \\':
        "tests/e2e/test_mantle_docs.py (a Mantle deployment on the emulator)",
    'model = "claude-sonnet"          # a model_name from your shale config':
        "tests/e2e/test_codex.py (Codex CLI runs with this file)",
    'curl -s http://localhost:4000/v1/chat/completions -H "Authorization: Bearer $SHALE_MASTER_KEY" -H \'content-type: application/json\' \\':
        "tests/e2e/test_guardrails_docs.py (test_readme_guardrails_example, with the guardrail configured)",
}
# First line of a block → why no test runs it as written.
NOT_RUN = {
    "cargo run --release -p shale -- demo": "a release build; test_demo_output_matches runs the debug binary's demo",
    "cargo build --release -p shale": "a release build against real AWS; config/example.yaml passes shale check below",
    "bash tests/run-all.sh": "it is the whole test-suite",
    "export ANTHROPIC_BASE_URL=http://localhost:4000": "the claude CLI; tests/e2e/test_claude_code.py runs it with these variables",
}


def blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def runnable(lang: str, text: str) -> bool:
    head = first_line(text)
    return lang == "python" or (lang == "sh" and head.startswith("curl ") and head not in ELSEWHERE)


def gateway_config(emu_url: str) -> dict:
    return {
        "model_list": [
            deployment("claude-sonnet", "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", emu_url),
            deployment("titan-embed", "bedrock/amazon.titan-embed-text-v2:0", emu_url),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"callbacks": ["prometheus"]},
    }


stack = stack_fixture(gateway_config)


def test_the_readme_is_a_front_door():
    """Short: what shale is, the two commands, one example per feature; the reference is in docs/."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, len(lines)


def test_every_block_is_accounted_for():
    found = blocks()
    assert len(found) >= 12, found
    unknown = []
    for lang, text in found:
        head = first_line(text)
        if runnable(lang, text) or lang in ("yaml", "text") or head in ELSEWHERE or head in NOT_RUN:
            continue
        unknown.append((lang, head))
    assert not unknown, f"README blocks no test runs (add them to a test): {unknown}"
    # Every entry still names a block (a stale entry would hide a removed example).
    heads = {first_line(text) for _, text in found}
    assert set(ELSEWHERE) | set(NOT_RUN) <= heads, (set(ELSEWHERE) | set(NOT_RUN)) - heads


@pytest.mark.parametrize("index", [i for i, (lang, text) in enumerate(blocks()) if runnable(lang, text)])
def test_example_runs_as_written(stack, index):
    lang, text = blocks()[index]
    text = text.replace(README_URL, stack.url)
    env = {**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY}
    if lang == "python":
        cmd = [sys.executable, "-c", text.replace(README_KEY, GATEWAY_KEY)]
    else:
        preamble = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
        cmd = ["bash", "-c", preamble + text]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, f"{text}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.stdout.strip(), f"the example printed nothing:\n{text}"


@pytest.mark.parametrize("index", [i for i, (lang, _) in enumerate(blocks()) if lang == "yaml"])
def test_yaml_passes_check(tmp_path, index):
    text = blocks()[index][1]
    if "model_list:" not in text:
        text = "model_list: []\n" + text
    path = tmp_path / "readme.yaml"
    path.write_text(text)
    env = {**os.environ, "SHALE_MASTER_KEY": "sk-x"}
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ignored" not in out.stdout, out.stdout


def test_example_config_passes_check():
    env = {**os.environ, "SHALE_MASTER_KEY": "sk-x"}
    out = subprocess.run([SHALE_BIN, "check", str(REPO / "config" / "example.yaml")],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def test_codex_config_is_the_default_one():
    (toml,) = [text for lang, text in blocks() if lang == "toml"]
    config = tomllib.loads(toml)
    assert config["model_providers"]["shale"]["wire_api"] == "responses"
    assert "web_search" not in config and "tools" not in config, "Codex's defaults, nothing turned off"


def test_demo_output_matches():
    """The README's sample of `shale demo` is what the real demo prints (key and ports aside)."""
    (sample,) = [text for lang, text in blocks() if lang == "text" and "shale demo:" in text]
    proc = subprocess.Popen([SHALE_BIN, "demo", "--port", "0", "--log-format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    printed = []
    try:
        while len(printed) < 10:
            line = proc.stdout.readline()
            if not line:
                break
            printed.append(line.rstrip("\n"))
            if line.startswith("shale listening on "):
                break
    finally:
        stop_process(proc)

    def normal(line: str) -> str:
        line = re.sub(r"sk-demo-[0-9a-f…]+", "KEY", line)
        return re.sub(r"127\.0\.0\.1:(\d+|<port>)", "HOST:PORT", line)

    assert [normal(l) for l in sample.strip().splitlines()] == [normal(l) for l in printed], printed
