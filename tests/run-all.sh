#!/usr/bin/env bash
# Runs every test of the project, the way CI does: formatting, lints, Rust unit/integration tests,
# then the end-to-end tests that drive the real binaries with the official OpenAI and AWS SDKs.
# Usage: bash tests/run-all.sh        (from the repository root; installs what it needs itself)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build binaries (debug)"
cargo build --workspace --bins --locked

# --- router (#13): a real redis-server for the shared-state tests (Rust and end-to-end) ---------
step "redis-server for the router tests"
if ! command -v redis-server >/dev/null 2>&1; then
  if [[ "$(id -u)" == "0" ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
fi
redis-server --version
# The tests start their own redis-server processes on free ports; nothing else is needed.
# --- end router block ----------------------------------------------------------------------

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

step "Python environment for end-to-end tests (.venv)"
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
if [[ -f tests/packaging/requirements.txt ]]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/packaging/requirements.txt
fi

# --- issue #12 (messages): Claude Code for tests/e2e/test_claude_code.py ------------------------
# The npm package pinned in tests/claude-code/ (package-lock.json) ships Claude Code as a native
# binary through an optional platform package; Node.js/npm only install it.
step "Claude Code for end-to-end tests (npm ci --prefix tests/claude-code)"
if ! command -v npm >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null
fi
npm ci --prefix tests/claude-code --no-audit --no-fund --loglevel=error
# --- end of issue #12 block ---------------------------------------------------------------------
# --- Responses API / Codex CLI (issue #19) ------------------------------------------------------
# tests/e2e/test_codex.py drives the pinned Codex CLI (tests/codex/package-lock.json; the native
# binary comes as an npm optional dependency).
step "Codex CLI for the end-to-end tests (npm ci --prefix tests/codex)"
if ! command -v npm >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  else
    echo "npm is missing: install nodejs and npm" >&2
    exit 1
  fi
fi
npm ci --prefix tests/codex --no-audit --no-fund --loglevel=error
# --- end Responses API / Codex CLI --------------------------------------------------------------

step "end-to-end tests (pytest: OpenAI SDK, boto3, packaging)"
export SHALE_BIN="$PWD/target/debug/shale"
export SHALE_EMULATOR_BIN="$PWD/target/debug/shale-emulator"
# -rs: every skipped test is listed with its reason (a skip must never hide silently).
.venv/bin/python -m pytest tests -q -rs -p no:cacheprovider --ignore=tests/chaos

# --- hardening (#17) -------------------------------------------------------------------------
# Doctests (cargo nextest does not run them), then the chaos suite against the real binaries:
# hostile bodies, raw SSE bytes, hang-ups, 1000 concurrent streams under 150 MB, slow-header
# clients, SIGTERM with streams in flight, upstream faults. Property tests (proptest_*.rs) ran
# above with the Rust tests at PROPTEST_CASES (default 256 per property).
step "doctests"
cargo test --workspace --doc --locked --no-fail-fast

step "chaos suite (CHAOS_SCALE=${CHAOS_SCALE:-1})"
.venv/bin/python -m pytest tests/chaos -q -rs -p no:cacheprovider
# --- end hardening (#17) ---------------------------------------------------------------------
