"""Every fenced block of every docs/*.md page is accounted for by a test (issue #26), the way
`test_readme_examples.py` accounts for the README's.

A block is found by its page and its first line, and it is one of:

- a shale config (`yaml` whose top-level keys are shale's): passes `shale check` with nothing
  ignored (`model_list: []` added when missing, the variables it names set) — the generic runner;
- a runnable `python` or `curl` block: runs as written against the real gateway and emulator
  (`http://localhost:4000` and the example keys replaced by the test gateway's) and must print;
- listed in `ELSEWHERE` with the test that runs it (`file::test`; that file must exist, define the
  test and read the page) — some of those tests live in this file;
- listed in `NOT_RUN` with the reason (AWS, Docker, Kubernetes, release builds, whole suites).

A block nobody accounts for fails `test_every_block_is_accounted_for`; an entry whose block is gone
fails `test_no_stale_entries`. The pages' relative links are checked by
`test_readme_examples.py::test_relative_links_resolve` and, with anchors into other pages and
image/reference links, `test_docs_links_resolve` here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys

import boto3
import pytest
import yaml
from botocore.config import Config

from prometheus_scrape import scrape
from shale_harness import (
    EMULATOR_BIN,
    EMULATOR_READY,
    EXAMPLE_ACCESS_KEY_ID,
    EXAMPLE_SECRET_ACCESS_KEY,
    GATEWAY_KEY,
    REPO,
    SHALE_BIN,
    deployment,
    http_json,
    logged_stack,
    require_commands,
    start_gateway,
    stop_process,
)

DOCS = REPO / "docs"
HERE = "tests/e2e/test_docs_accounted.py"

# The keys and URLs the examples are written with.
DOC_URLS = ("http://localhost:4000", "http://127.0.0.1:4000")
DOC_KEYS = ("sk-change-me", "sk-1234")
DOC_EMULATOR_URL = "http://127.0.0.1:43817"

# The top-level keys of a shale (LiteLLM proxy) config.
CONFIG_KEYS = {"model_list", "litellm_settings", "general_settings", "router_settings", "guardrails"}

# Values for the `os.environ/NAME` references of the documented configs.
ENV_EXAMPLES = {
    "SHALE_MASTER_KEY": "sk-x",
    "DATABASE_URL": "postgresql://u:pw@db:5432/shale",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_PASSWORD": "pw",
    "REDIS_URL": "redis://127.0.0.1:6379/",
    "GUARDRAIL_ID": "shaledemo",
}


@dataclasses.dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    text: str

    @property
    def head(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def key(self) -> tuple[str, str]:
        return (self.page, self.head)

    def __str__(self) -> str:
        return f"docs/{self.page}:{self.line} ```{self.lang} {self.head[:60]!r}"


FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", flags=re.S | re.M)


def page_blocks(path) -> list[Block]:
    """The fenced blocks of a page, indented ones (in list items) too, dedented."""
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        indent = len(m.group(1))
        body = "\n".join(line[indent:] for line in m.group(3).split("\n"))
        out.append(Block(path.name, text.count("\n", 0, m.start()) + 1, m.group(2), body))
    return out


def all_blocks() -> list[Block]:
    return [b for page in sorted(DOCS.glob("*.md")) for b in page_blocks(page)]


def block(page: str, head: str) -> Block:
    (found,) = [b for b in all_blocks() if b.key == (page, head)]
    return found


# (page, first line) → the test that runs the block: `path::test (what it does)`.
ELSEWHERE = {
    # anthropic.md
    ("anthropic.md", "export ANTHROPIC_BASE_URL=http://localhost:4000"):
        "tests/e2e/test_claude_code.py::test_gateway_mode_bash_tool_turn (Claude Code with these variables)",
    ("anthropic.md", "export CLAUDE_CODE_USE_BEDROCK=1"):
        "tests/e2e/test_claude_code.py::test_bedrock_mode_through_the_pass_through (Claude Code with these variables)",
    # architecture.md
    ("architecture.md", "crates/"): f"{HERE}::test_architecture_lists_every_crate",
    # caching.md (Redis and PostgreSQL)
    ("caching.md", "export SHALE=http://localhost:4000"):
        "tests/e2e/test_cache_docs.py::test_the_docs_examples_run_as_written",
    ("caching.md", 'KEY=$(curl -s $SHALE/key/generate -H "$MK" -H "$JSON" \\'):
        "tests/e2e/test_cache_docs.py::test_the_docs_examples_run_as_written",
    ("caching.md", 'curl -s $SHALE/cache/ping -H "$MK"'):
        "tests/e2e/test_cache_docs.py::test_the_docs_examples_run_as_written",
    ("caching.md", "from openai import OpenAI"): "tests/e2e/test_cache_docs.py::test_the_docs_python_example_runs",
    # configuration.md
    ("configuration.md",
     "shale --config PATH [--host 0.0.0.0] [--port 4000] [--workers N] [--log-format auto|text|json] "
     "[--allow-unauthenticated]"): f"{HERE}::test_command_line_synopsis_is_the_real_one",
    # deploy.md
    ("deploy.md", "docker compose -f docker/compose.yaml up --build"):
        f"{HERE}::test_compose_demo_requests (the two curl calls, against docker/demo.config.yaml)",
    ("deploy.md", "# my-values.yaml"): f"{HERE}::test_helm_values_example",
    ("deploy.md", "docker run --rm -p 4000:4000 \\"):
        "tests/packaging/test_pkg_docs.py::test_docker_run_examples_match_the_image (no Docker: the mount and "
        "port against the Dockerfile)",
    ("deploy.md", 'docker run --rm -p 4000:4000 -v "$PWD/config.yaml:/config.yaml:ro" shale --config /config.yaml'):
        "tests/packaging/test_pkg_docs.py::test_docker_run_examples_match_the_image (no Docker: the port against "
        "the Dockerfile; test_pkg_dockerfile.py checks that arguments replace only CMD)",
    ("deploy.md", "kubectl create namespace llm"):
        "tests/packaging/test_pkg_docs.py::test_kubectl_commands_match_the_manifests (no cluster: the Secret, "
        "kustomization and Deployment names against deploy/kubernetes)",
    ("deploy.md", "helm install shale deploy/helm/shale -n llm --create-namespace \\"):
        "tests/packaging/test_pkg_docs.py::test_helm_commands_render (the chart rendered with these values)",
    ("deploy.md", "kubectl -n llm create secret generic shale-aws \\"):
        "tests/packaging/test_pkg_docs.py::test_helm_commands_render (the `helm upgrade` with envFrom, rendered)",
    # emulator.md
    ("emulator.md", "cargo build -p shale-emulator"): f"{HERE}::test_emulator_ready_line_as_documented",
    ("emulator.md", "let emu = shale_emulator::spawn(shale_emulator::EmulatorConfig::default(),"):
        f"{HERE}::test_emulator_rust_example_uses_the_public_api",
    ("emulator.md", '{"method": "POST", "path": "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",'):
        f"{HERE}::test_emulator_recorded_request_is_as_documented",
    # guardrails.md (PostgreSQL, the emulator's guardrails)
    ("guardrails.md",
     'curl -s $SHALE/v1/chat/completions -H "Authorization: Bearer $SHALE_MASTER_KEY" '
     '-H "content-type: application/json" \\'):
        "tests/e2e/test_guardrails_docs.py::test_which_guardrails_run_examples",
    ("guardrails.md", "import os"): "tests/e2e/test_guardrails_docs.py::test_sdk_example",
    ("guardrails.md", "{"): "tests/e2e/test_guardrails_docs.py::test_documented_error_bodies_are_the_real_ones",
    ("guardrails.md", 'curl -s $SHALE/guardrails/list -H "Authorization: Bearer $SHALE_MASTER_KEY"'):
        "tests/e2e/test_guardrails_docs.py::test_admin_examples",
    # health-checks.md
    ("health-checks.md", "shale check config.yaml | grep 'health check'"):
        "tests/e2e/test_fleet_docs.py::test_docs_settings_are_valid_and_check_prints_the_documented_lines",
    ("health-checks.md",
     "  background health checks: every 60 s, one probe per deployment per interval for the whole fleet "
     "(Redis leases); results shared; a failed probe cools the deployment down (enable_health_check_routing)"):
        "tests/e2e/test_fleet_docs.py::test_docs_settings_are_valid_and_check_prints_the_documented_lines",
    ("health-checks.md",
     "curl -s http://localhost:4000/health -H \"Authorization: Bearer $SHALE_MASTER_KEY\" | jq '.unhealthy_endpoints'"):
        "tests/e2e/test_fleet_docs.py::test_docs_health_curl_runs (with background health checks on)",
    ("health-checks.md", "{"): "tests/e2e/test_fleet_docs.py::test_documented_health_json_has_the_real_shape",
    # keys.md (PostgreSQL)
    ("keys.md", "export SHALE=http://localhost:4000"):
        "tests/e2e/test_keys_readme.py::test_readme_keys_examples_run_as_written",
    ("keys.md", "# A key carried over from another gateway, $5 a day on claude-sonnet, tagged, with its owner's email."):
        "tests/e2e/test_keys_readme.py::test_readme_keys_examples_run_as_written",
    # mantle.md (Mantle endpoints on the emulator)
    ("mantle.md", "# chat to a Responses-only model (translated), and Claude on Mantle through chat"):
        "tests/e2e/test_mantle_docs.py::test_mantle_doc_examples_run_as_written",
    # models.md (PostgreSQL, store_model_in_db)
    ("models.md", '{"model_name": "nova-lite",'): "tests/e2e/test_models_docs.py::test_docs_bodies_answers_and_errors",
    ("models.md", '{"model_id": "nova-lite-east", "model_name": "nova-lite",'):
        "tests/e2e/test_models_docs.py::test_docs_bodies_answers_and_errors",
    ("models.md", '{"error": {"message": "litellm_params.weight: must be a finite number from 0 to 1e15, found -2",'):
        "tests/e2e/test_models_docs.py::test_docs_bodies_answers_and_errors",
    ("models.md", 'curl -s $SHALE/model/update -H "$MK" -H "$JSON" \\'):
        "tests/e2e/test_models_docs.py::test_docs_bodies_answers_and_errors",
    ("models.md", '{"data": [{"model_name": "nova-lite",'):
        "tests/e2e/test_models_docs.py::test_docs_bodies_answers_and_errors",
    # monitoring.md
    ("monitoring.md",
     '{"timestamp":"…","level":"INFO","message":"access","target":"shale::access","request_id":"8a1c…",'
     '"method":"POST","path":"/v1/chat/completions","status":200,"model":"claude","deployment":"claude-1",'
     '"key_hash":"9f86d081884c","key_alias":"team-a-app","team":"team-a","stream":false,"prompt_tokens":12,'
     '"completion_tokens":30,"cache_read_tokens":0,"cache_write_tokens":0,"latency_ms":812.4,"upstream_ms":811.9,'
     '"ttft_ms":0.0,"overhead_ms":0.5,"cost_usd":0.000531,"retries":0,"fallbacks":0,"error":"","guardrails":""}'):
        f"{HERE}::test_access_log_sample_has_the_real_fields",
    ("monitoring.md", "# requests per second by model and status"):
        f"{HERE}::test_dashboard_queries_and_alerts_name_real_metrics",
    ("monitoring.md", "groups:"): f"{HERE}::test_dashboard_queries_and_alerts_name_real_metrics",
    # reliability.md
    ("reliability.md",
     'curl -si http://localhost:4000/v1/chat/completions -H "Authorization: Bearer $SHALE_MASTER_KEY" \\'):
        f"{HERE}::test_final_429_carries_retry_after (the emulator throttles every attempt)",
    # responses-store.md (PostgreSQL)
    ("responses-store.md", "shale check config.yaml | grep 'responses store'"):
        "tests/e2e/test_fleet_docs.py::test_store_docs_config_is_valid_and_described",
    ("responses-store.md",
     "  responses store: PostgreSQL (table shale_responses, shared by every replica; this replica caches its "
     "recent writes), up to 100000 response(s) / 1024 MiB, kept 604800 s"):
        "tests/e2e/test_fleet_docs.py::test_store_docs_config_is_valid_and_described",
    ("responses-store.md", "CREATE TABLE shale_responses ("):
        "tests/e2e/test_fleet_docs.py::test_store_docs_table_is_the_real_one",
    # responses.md (Codex CLI)
    ("responses.md", 'model = "claude-sonnet"          # a model_name from your shale config'):
        "tests/e2e/test_codex.py::test_codex_exec_completes_a_turn (Codex runs with this file)",
    ("responses.md", 'SHALE_API_KEY=sk-1234 codex exec --skip-git-repo-check "list the files here"'):
        "tests/e2e/test_codex.py::test_codex_exec_completes_a_turn (`codex exec` with the file above)",
    # ui.md
    ("ui.md", 'curl -s -c jar -o /dev/null -d "master_key=$SHALE_MASTER_KEY" http://localhost:4000/ui/login'):
        "tests/e2e/test_ui_security.py::test_session_examples_run_as_written",
}

# (page, first line) → why no test runs the block as written.
NOT_RUN = {
    ("README.md", "bash tests/run-all.sh"): "it is the whole test-suite",
    ("benchmark.md", "bash bench/run.sh                     # builds the release binaries, then about 5 minutes"):
        "release builds and minutes of load (bench/, not CI)",
    ("deploy.md", "docker build -t shale ."):
        "the image step of tests/run-all.sh builds it (tests/packaging/test_pkg_image.py, the README's same line)",
    ("deploy.md", "apt-get install -y podman runc netavark aardvark-dns iptables catatonit mmdebstrap podman-compose"):
        "tests/run-all.sh installs these and tests/packaging/pkg_podman.py runs podman-env.sh, the API socket and "
        "local-base-images.sh before test_pkg_image.py's docker build",
    ("deploy.md", 'export SHALE_MASTER_KEY="sk-$(openssl rand -hex 24)"   # required: compose refuses to start without it'):
        "needs Docker and AWS; tests/packaging/test_pkg_compose.py parses docker/compose.aws.yaml",
    ("deploy.md", "{"): "an IAM policy (AWS only); test_not_run_data_blocks_parse checks it is JSON",
    ("deploy.md", "aws eks create-pod-identity-association --cluster-name CLUSTER \\"): "AWS only (EKS)",
    ("deploy.md", "python3 -m venv .venv"): "it is the packaging test-suite (tests/run-all.sh runs it)",
    ("emulator.md", "cargo test -p shale-emulator                       # unit + in-process integration tests"):
        "Rust test suites and a release build (tests/run-all.sh runs the first two)",
    ("monitoring.md", "scrape_configs:"): "Prometheus's config (no Prometheus in the tests); it parses as YAML",
    ("monitoring.md", "global:"): "Prometheus's config (no Prometheus in the tests); it parses as YAML",
    ("monitoring.md", "apiVersion: 1"): "Grafana's provisioning file (no Grafana in the tests); it parses as YAML",
    ("monitoring.md", "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318 ./target/release/shale --config config.yaml"):
        "a release build and a collector; tests/e2e/test_otel_traces.py sets this variable to a real OTLP receiver",
    ("performance.md",
     "bash bench/run.sh                    # release build, then emulator + nginx + gateway on loopback, driven by "
     "wrk and shale-bench"): "release builds and minutes of load (bench/, not CI)",
    ("performance.md",
     "CARGO_TARGET_DIR=$PWD/target/opt2 CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo build -p shale -p shale-emulator "
     "-p shale-bench"): "an optimised build and a profile run (bench/, not CI)",
    ("reliability.md",
     ".venv/bin/python -m pytest tests/chaos -q -rs        # the chaos suite (CHAOS_SCALE=0.2 for a quick run)"):
        "whole suites and a 30-minute soak (tests/run-all.sh runs the chaos suite)",
    ("reliability.md", "cargo build -p shale -p shale-emulator"):
        "whole suites and a 30-minute soak (tests/run-all.sh runs the chaos suite and the property tests)",
}

# (page, first line) → what a generically run block must print (a string, or all of a tuple).
EXPECT = {
    ("anthropic.md", "import anthropic"): "Hello from the shale emulator",
    ("anthropic.md", 'curl http://localhost:4000/v1/messages -H "x-api-key: $SHALE_MASTER_KEY" \\'):
        '"type":"message"',
    ("api.md", "import boto3"): "Hello from the shale emulator",
    ("emulator.md", "import boto3"): "Hello from the shale emulator",
    ("monitoring.md",
     'curl -s http://localhost:4000/metrics -H "Authorization: Bearer $SHALE_MASTER_KEY" | grep litellm_proxy_total'):
        "litellm_proxy_total_requests_metric",
    ("responses.md", "from openai import OpenAI"): "Hello from the shale emulator",
    ("responses.md",
     "curl -s localhost:4000/v1/responses -H \"Authorization: Bearer sk-1234\" -H 'content-type: application/json' \\"):
        "event: response.completed",
    ("responses.md", "from agents import Agent, Runner, set_default_openai_client, set_tracing_disabled"):
        "Hello from the shale emulator",
    ("routing.md",
     'curl -si http://127.0.0.1:4000/v1/chat/completions -H "authorization: Bearer $SHALE_MASTER_KEY" \\'):
        ("x-litellm-model-id: claude-a-usw2", "x-litellm-model-group: claude", "x-litellm-attempted-retries: 0",
         "x-litellm-attempted-fallbacks: 0", '"status"'),
    ("routing.md", "from openai import OpenAI"): "Hello from the shale emulator",
}


def is_config(b: Block) -> bool:
    if b.lang != "yaml":
        return False
    data = yaml.safe_load(b.text)
    return isinstance(data, dict) and bool(data) and set(data) <= CONFIG_KEYS


def runnable(b: Block) -> bool:
    if b.key in ELSEWHERE or b.key in NOT_RUN:
        return False
    return b.lang == "python" or (b.lang == "sh" and b.head.startswith("curl "))


def accounted(b: Block) -> bool:
    return is_config(b) or runnable(b) or b.key in ELSEWHERE or b.key in NOT_RUN


# --- bookkeeping ---------------------------------------------------------------------------------


def test_every_block_is_accounted_for():
    found = all_blocks()
    assert len(found) >= 80, len(found)
    unknown = [str(b) for b in found if not accounted(b)]
    assert not unknown, "docs blocks no test runs (run them generically, add them to ELSEWHERE, or say " \
                        f"in NOT_RUN why not): {unknown}"
    configs = [b for b in found if is_config(b)]
    both = [str(b) for b in configs if b.key in NOT_RUN]
    assert not both, f"configs always pass shale check; do not list them as not run: {both}"


def test_no_stale_entries():
    keys = {b.key for b in all_blocks()}
    for name, entries in (("ELSEWHERE", ELSEWHERE), ("NOT_RUN", NOT_RUN), ("EXPECT", EXPECT)):
        stale = set(entries) - keys
        assert not stale, f"{name} entries whose block is gone: {stale}"
    generic = {b.key for b in all_blocks() if runnable(b)}
    assert set(EXPECT) <= generic, set(EXPECT) - generic


def test_elsewhere_tests_exist_and_read_the_page():
    for (page, head), where in ELSEWHERE.items():
        path, _, rest = where.partition("::")
        name = rest.split(" ", 1)[0]
        source = REPO / path
        assert source.is_file(), f"{page} {head!r}: {path} does not exist"
        text = source.read_text()
        assert re.search(rf"^def {re.escape(name)}\(", text, flags=re.M), f"{path} has no test {name}"
        assert page in text, f"{path} does not read docs/{page} (for {head!r})"


def test_not_run_data_blocks_parse():
    """Blocks that are data nobody runs still parse (an IAM policy, Prometheus and Grafana files)."""
    for b in all_blocks():
        if b.key in NOT_RUN and b.lang == "json":
            json.loads(b.text)
        elif b.key in NOT_RUN and b.lang == "yaml":
            assert isinstance(yaml.safe_load(b.text), dict), str(b)


# --- the generic runners ---------------------------------------------------------------------------


# Warnings that only say the prepended `model_list: []` is empty.
EMPTY_LIST_WARNINGS = ("warning: model_list: no models are configured", "is not a model_name of model_list")


def shale_check(text: str, tmp_path, env: dict | None = None) -> str:
    """`shale check` of a documented config: exit 0, nothing ignored, no warning (but those of an
    empty `model_list`, added when the example has none)."""
    no_models = "model_list:" not in text
    if no_models:
        text = "model_list: []\n" + text
    path = tmp_path / "docs.yaml"
    path.write_text(text)
    names = set(re.findall(r"os\.environ/(\w+)", text))
    full_env = {**os.environ, "SHALE_MASTER_KEY": "sk-x",
                **{n: ENV_EXAMPLES.get(n, "example") for n in names}, **(env or {})}
    out = subprocess.run([SHALE_BIN, "check", str(path)], capture_output=True, text=True, env=full_env, timeout=30)
    assert out.returncode == 0, text + "\n" + out.stdout + out.stderr
    assert "ignored" not in out.stdout, out.stdout
    warnings = [line for line in out.stdout.splitlines() if line.startswith("warning:")
                and not (no_models and any(w in line for w in EMPTY_LIST_WARNINGS))]
    assert not warnings, text + "\n" + out.stdout
    return out.stdout


CONFIGS = [b for b in all_blocks() if is_config(b)]
RUNNABLE = [b for b in all_blocks() if runnable(b)]


@pytest.mark.parametrize("b", CONFIGS, ids=lambda b: f"{b.page}:{b.line}")
def test_config_passes_check(tmp_path, b):
    shale_check(b.text, tmp_path)


def gateway_config(emu_url: str) -> dict:
    claude = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    return {
        "model_list": [
            deployment("claude-sonnet", claude, emu_url),
            deployment("claude-haiku", "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", emu_url),
            {**deployment("claude", claude, emu_url), "model_info": {"id": "claude-a-usw2"}},
            deployment("nova", "bedrock/us.amazon.nova-pro-v1:0", emu_url),
            deployment("titan-embed", "bedrock/amazon.titan-embed-text-v2:0", emu_url),
        ],
        "general_settings": {"master_key": GATEWAY_KEY},
        "litellm_settings": {"callbacks": ["prometheus"]},
    }


@pytest.fixture(scope="module")
def stack():
    with logged_stack(gateway_config) as running:
        yield running


def as_written(text: str, stack) -> str:
    """An example pointed at the test gateway (and its emulator) with the test key."""
    text = text.replace(DOC_EMULATOR_URL, stack.emulator_url)
    for url in DOC_URLS:
        text = text.replace(url, stack.url)
    text = text.replace("localhost:4000", stack.url.removeprefix("http://"))
    for key in DOC_KEYS:
        text = text.replace(key, GATEWAY_KEY)
    return text


def run_env(stack) -> dict:
    return {**os.environ, "SHALE_MASTER_KEY": GATEWAY_KEY, "SHALE": stack.url,
            "MK": f"Authorization: Bearer {GATEWAY_KEY}", "JSON": "content-type: application/json"}


@pytest.mark.parametrize("b", RUNNABLE, ids=lambda b: f"{b.page}:{b.line}")
def test_example_runs_as_written(stack, b):
    text = as_written(b.text, stack)
    if b.lang == "python":
        cmd = [sys.executable, "-c", text]
    else:
        require_commands("curl", "jq")
        preamble = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
        cmd = ["bash", "-c", preamble + text]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=run_env(stack))
    assert done.returncode == 0, f"{text}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.stdout.strip(), f"the example printed nothing:\n{text}"
    expected = EXPECT.get(b.key, ())
    for text in (expected,) if isinstance(expected, str) else expected:
        assert text in done.stdout, f"{text!r} not in:\n{done.stdout}"


# --- blocks this file runs itself --------------------------------------------------------------------


def test_command_line_synopsis_is_the_real_one():
    """configuration.md's synopsis: every subcommand exists and every flag it names is in its --help."""
    synopsis = block("configuration.md", next(b.head for b in all_blocks()
                                               if b.page == "configuration.md" and b.lang == "text"))
    for line in synopsis.text.strip().splitlines():
        words = line.split()
        assert words[0] == "shale", line
        sub = [words[1]] if words[1] in ("check", "demo", "healthcheck") else []
        if words[1] == "--version":
            out = subprocess.run([SHALE_BIN, "--version"], capture_output=True, text=True, timeout=10)
            assert out.returncode == 0 and out.stdout.startswith("shale "), out.stdout + out.stderr
            continue
        out = subprocess.run([SHALE_BIN, *sub, "--help"], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stdout + out.stderr
        usage = line.split("  ")[0]
        for flag in re.findall(r"--[a-z][\w-]*", usage):
            assert flag in out.stdout, f"{flag} of {line!r} is not in `shale {' '.join(sub)} --help`:\n{out.stdout}"


def test_architecture_lists_every_crate():
    (tree,) = [b for b in all_blocks() if b.key == ("architecture.md", "crates/")]
    listed = re.findall(r"^  (shale[\w-]*) ", tree.text, flags=re.M)
    real = sorted(p.name for p in (REPO / "crates").iterdir() if (p / "Cargo.toml").is_file())
    assert sorted(listed) == real


def test_emulator_ready_line_as_documented():
    """emulator.md: the command starts the emulator and it prints exactly the documented line."""
    b = block("emulator.md", "cargo build -p shale-emulator")
    command, *comments = [l for l in b.text.strip().splitlines()[1:]]
    assert command.startswith("target/debug/shale-emulator "), command
    documented = comments[-1].removeprefix("# ")
    proc = subprocess.Popen([EMULATOR_BIN, *shlex.split(command)[1:]], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        printed = proc.stdout.readline().rstrip("\n")
    finally:
        stop_process(proc)
    rest = proc.stdout.read()
    assert re.fullmatch(re.escape(documented).replace("43817", r"\d+"), printed), (documented, printed)
    assert printed.startswith(EMULATOR_READY) and rest == "", rest


def test_emulator_rust_example_uses_the_public_api():
    """emulator.md's in-process example names the crate's public items (compiling it needs cargo;
    the crate's own doctest compiles `spawn`, `url` and `shutdown`)."""
    b = block("emulator.md", "let emu = shale_emulator::spawn(shale_emulator::EmulatorConfig::default(),")
    src = REPO / "crates" / "shale-emulator" / "src"
    lib, server = (src / "lib.rs").read_text(), (src / "server.rs").read_text()
    assert "pub use server::{spawn, RunningEmulator};" in lib and "EmulatorConfig" in lib
    assert re.search(r"^pub async fn spawn\(config: EmulatorConfig, addr: SocketAddr\)", server, flags=re.M)
    methods = set(re.findall(r"\bemu\.(\w+)\(", b.text))
    assert methods == {"url", "script", "recorded_requests", "reset", "shutdown"}, methods
    for method in methods:
        assert re.search(rf"^    pub (async )?fn {method}\(", server, flags=re.M), method
    for item in re.findall(r"shale_emulator::(\w+)", b.text):
        assert re.search(rf"\b{item}\b", lib), item


def test_emulator_recorded_request_is_as_documented(stack):
    """emulator.md's recorded request: the same fields and values for the documented call."""
    b = block("emulator.md", '{"method": "POST", "path": "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",')
    documented = json.loads(b.text.replace("[...]", "[]"))
    brt = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=stack.emulator_url,
                       aws_access_key_id=EXAMPLE_ACCESS_KEY_ID, aws_secret_access_key=EXAMPLE_SECRET_ACCESS_KEY,
                       config=Config(retries={"total_max_attempts": 1}))
    stack.emulator.reset()
    brt.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                 messages=[{"role": "user", "content": [{"text": "Hello"}]}])
    recorded = stack.emulator.last_request()
    assert set(recorded) == set(documented), set(recorded) ^ set(documented)
    for key in ("method", "path", "model_id", "operation", "auth", "access_key_id", "region", "service"):
        assert recorded[key] == documented[key], key
    assert recorded["headers"]["authorization"].startswith(documented["headers"]["authorization"].rstrip(" …"))
    assert recorded["headers"]["content-type"] == documented["headers"]["content-type"]
    assert set(recorded["body"]) == set(documented["body"])


def test_access_log_sample_has_the_real_fields(stack):
    """monitoring.md's access-log line: the real line has the same fields, of the same types."""
    (b,) = [b for b in all_blocks() if b.page == "monitoring.md" and b.lang == "json"]
    documented = json.loads(b.text)
    status, _ = http_json("POST", stack.url + "/v1/chat/completions",
                          {"model": "claude", "messages": [{"role": "user", "content": "log me"}]},
                          {"authorization": f"Bearer {GATEWAY_KEY}"})
    assert status == 200
    lines = [l for l in stack.log_lines('"message":"access"') if l.get("path") == "/v1/chat/completions"]
    assert lines, "no access line"
    real = lines[-1]
    assert list(real) == list(documented), (list(real), list(documented))
    for key, value in documented.items():
        assert type(real[key]) is type(value) or {type(real[key]), type(value)} <= {int, float}, key
    assert (real["model"], real["deployment"], real["status"]) == ("claude", "claude-a-usw2", 200)


def metric_names(url: str) -> set[str]:
    """Every series name the gateway's /metrics can show (families are listed before a sample)."""
    status, text = scrape(url, {"authorization": f"Bearer {GATEWAY_KEY}"})
    assert status == 200, text
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M):
        names.add(name)
        if kind == "counter":
            names.update({name.removesuffix("_total"), name.removesuffix("_total") + "_total"})
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    names.update(re.findall(r"^([a-zA-Z_:][\w:]*)[{ ]", text, flags=re.M))
    return names


def test_dashboard_queries_and_alerts_name_real_metrics(stack):
    """monitoring.md's dashboard queries and alert rules only name series the gateway exports."""
    (queries,) = [b for b in all_blocks() if b.page == "monitoring.md" and b.lang == "promql"]
    rules = block("monitoring.md", "groups:")
    exprs = [r["expr"] for g in yaml.safe_load(rules.text)["groups"] for r in g["rules"]]
    assert all(r.get("alert") for g in yaml.safe_load(rules.text)["groups"] for r in g["rules"])
    exported = metric_names(stack.url)
    used = set()
    for text in [queries.text, *exprs]:
        text = re.sub(r"^#.*$", "", text, flags=re.M)
        # Label names: in `by (…)`, `without (…)` and selectors `{…}`.
        text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)|\{[^}]*\}", "", text)
        used.update(re.findall(r"\b((?:litellm|shale|process)_\w+)\b", text))
    assert len(used) >= 8, used
    assert used <= exported, sorted(used - exported)


def test_final_429_carries_retry_after(stack):
    """reliability.md: a request whose every attempt Bedrock throttles ends in a 429 with
    Retry-After, as the example shows."""
    require_commands("curl")
    b = block("reliability.md",
              'curl -si http://localhost:4000/v1/chat/completions -H "Authorization: Bearer $SHALE_MASTER_KEY" \\')
    stack.emulator.reset()
    stack.emulator.script([{"error": {"type": "ThrottlingException", "message": "Too many requests"}}] * 6)
    try:
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + as_written(b.text, stack)],
                              capture_output=True, text=True, timeout=60, env=run_env(stack))
    finally:
        stack.emulator.reset()
    assert done.returncode == 0, done.stderr
    status_line = done.stdout.splitlines()[0]
    assert status_line.startswith("HTTP/1.1 429"), done.stdout
    assert re.search(r"^retry-after: \d+\r?$", done.stdout, flags=re.M | re.I), done.stdout
    documented = [l.removeprefix("# ") for l in b.text.splitlines() if l.startswith("# ")]
    assert documented[0] == "HTTP/1.1 429 Too Many Requests" and status_line.rstrip() == documented[0]


def test_compose_demo_requests(stack):
    """deploy.md's compose demo: its two curl calls, against the gateway with docker/demo.config.yaml
    (the `emulator` service's URL pointed at the test emulator) and compose's default key."""
    require_commands("curl")
    b = block("deploy.md", "docker compose -f docker/compose.yaml up --build")
    compose = (REPO / "docker" / "compose.yaml").read_text()
    (key,) = re.findall(r"SHALE_MASTER_KEY: \$\{SHALE_MASTER_KEY:-([^}]+)\}", compose)
    config = yaml.safe_load((REPO / "docker" / "demo.config.yaml").read_text()
                            .replace("http://emulator:4001", stack.emulator_url))
    proc, url, _ = start_gateway(config, env={"SHALE_MASTER_KEY": key})
    try:
        script = "\n".join(l for l in b.text.splitlines() if not l.startswith("docker "))
        script = script.replace("localhost:4000", url.removeprefix("http://"))
        preamble = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
        done = subprocess.run(["bash", "-c", preamble + script], capture_output=True, text=True, timeout=60)
    finally:
        stop_process(proc)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"id":"claude-3-5-sonnet"' in done.stdout, done.stdout
    assert "Hello from the shale emulator" in done.stdout, done.stdout


def merged(base: dict, over: dict) -> dict:
    """Helm's merge of a values file over the chart's values (maps merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def test_helm_values_example(tmp_path):
    """deploy.md's values file: valid for the chart's schema, and its config passes shale check."""
    import jsonschema

    b = block("deploy.md", "# my-values.yaml")
    values = yaml.safe_load(b.text)
    chart = REPO / "deploy" / "helm" / "shale"
    schema = json.loads((chart / "values.schema.json").read_text())
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator(schema).validate(merged(yaml.safe_load((chart / "values.yaml").read_text()), values))
    out = shale_check(yaml.safe_dump(values["config"]), tmp_path)
    assert "1 deployment(s)" in out, out


# --- links -----------------------------------------------------------------------------------------


def slugs(path) -> set[str]:
    """GitHub's heading anchors of a page (duplicates get -1, -2 …)."""
    text = FENCE.sub("", path.read_text())
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+?)#*$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_docs_links_resolve():
    """Every relative link of README.md and docs/*.md (inline, image, reference-style and HTML,
    outside code) names a file that exists and, for a page, a heading it has."""
    broken, checked = [], 0
    for page in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = FENCE.sub("", page.read_text())
        text = re.sub(r"`[^`\n]*`", "", text)
        targets = re.findall(r"\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)", text)
        targets += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", text, flags=re.M)
        targets += re.findall(r"<(?:a|img)\b[^>]*\b(?:href|src)=\"([^\"]+)\"", text)
        for target in targets:
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            checked += 1
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in slugs(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert checked >= 50, checked
    assert not broken, broken
