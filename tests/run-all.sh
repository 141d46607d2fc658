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

step "end-to-end tests (pytest: OpenAI SDK, boto3, packaging)"
export SHALE_BIN="$PWD/target/debug/shale"
export SHALE_EMULATOR_BIN="$PWD/target/debug/shale-emulator"
.venv/bin/python -m pytest tests -q -p no:cacheprovider
