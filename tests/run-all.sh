#!/usr/bin/env bash
# Runs every test of the project, the way CI does: formatting, lints, Rust unit/integration/property
# tests and doctests, then the end-to-end tests that drive the real binaries with real clients (the
# official OpenAI and Anthropic SDKs, boto3, Claude Code, Codex CLI, a real redis-server, OTLP and
# Prometheus parsers), the packaging checks and the chaos suite.
# Usage: bash tests/run-all.sh        (from the repository root; installs what it needs itself)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

# Golden files are compared in CI, never rewritten: a run that re-blessed its expected files (or
# re-took the docs screenshots) would pass whatever the code does.
if [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; then
  for var in SHALE_BLESS SHALE_BLESS_CORPUS SHALE_UI_DOCS_SCREENSHOT; do
    if [[ -n "${!var+set}" ]]; then
      echo "error: $var is set under CI=true; CI compares golden files, it never rewrites them" >&2
      exit 1
    fi
  done
fi

# Debian packages the tests need: redis-server (router shared state; the tests start their own
# servers on free ports) and Node.js/npm (Claude Code and Codex CLI are npm packages).
apt_install() {
  local sudo=""
  [[ "$(id -u)" == "0" ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

step "system packages (redis-server, nodejs, npm)"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# openssl: a self-signed certificate for the response cache's TLS Redis test (test_cache_redis.py).
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
redis-server --version
node --version

# --- PostgreSQL (virtual keys, issue #15) ---------------------------------------------------
# The keys e2e tests start their own server (initdb + pg_ctl, temporary directory, free port,
# non-root user; tests/e2e/pg_server.py). Debian puts the binaries in /usr/lib/postgresql/*/bin.
# curl and jq run the virtual-key examples of docs/keys.md and the README as written (test_keys_readme.py).
step "system packages (postgresql, curl, jq)"
pg_missing=()
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  pg_missing+=(postgresql)
fi
command -v curl >/dev/null 2>&1 || pg_missing+=(curl)
command -v jq >/dev/null 2>&1 || pg_missing+=(jq)
if ((${#pg_missing[@]})); then apt_install "${pg_missing[@]}"; fi
ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null || command -v initdb
# --- end PostgreSQL ---------------------------------------------------------------------------

# --- Chromium (admin UI, issue #32) ------------------------------------------------------------
# The admin UI's browser tests drive Debian's headless Chromium with its chromedriver through
# Selenium (tests/e2e/test_ui_browser.py); Selenium is in tests/requirements.txt.
step "system packages (chromium, chromium-driver)"
ui_missing=()
[[ -x /usr/bin/chromium ]] || ui_missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || ui_missing+=(chromium-driver)
if ((${#ui_missing[@]})); then apt_install "${ui_missing[@]}"; fi
/usr/bin/chromedriver --version
# --- end Chromium ------------------------------------------------------------------------------

# --- Containers (the image, issue #27) -----------------------------------------------------------
# The image tests (tests/packaging/test_pkg_image.py) build the Dockerfile with the README's
# `docker build -t shale .` and run its `docker run` lines through the Docker CLI on podman's API
# socket; docker/local-base-images.sh makes the FROM images from Debian packages (mmdebstrap) since
# no registry is reachable here; podman-compose runs docker/compose.yaml. No docker CLI: podman's
# `docker` command (podman-docker) runs the same lines.
step "system packages (podman, runc, netavark, aardvark-dns, mmdebstrap, podman-compose)"
ctr_missing=()
command -v podman >/dev/null 2>&1 || ctr_missing+=(podman)
command -v runc >/dev/null 2>&1 || ctr_missing+=(runc)
[[ -x /usr/lib/podman/netavark ]] || ctr_missing+=(netavark)
[[ -x /usr/lib/podman/aardvark-dns ]] || ctr_missing+=(aardvark-dns)
command -v iptables >/dev/null 2>&1 || ctr_missing+=(iptables)
command -v catatonit >/dev/null 2>&1 || [[ -x /usr/libexec/podman/catatonit ]] || ctr_missing+=(catatonit)
command -v mmdebstrap >/dev/null 2>&1 || ctr_missing+=(mmdebstrap)
command -v podman-compose >/dev/null 2>&1 || ctr_missing+=(podman-compose)
command -v readelf >/dev/null 2>&1 || ctr_missing+=(binutils)
command -v docker >/dev/null 2>&1 || ctr_missing+=(podman-docker)
if ((${#ctr_missing[@]})); then apt_install "${ctr_missing[@]}"; fi
podman --version
docker --version
# --- end Containers ------------------------------------------------------------------------------

step "rustfmt"
cargo fmt --all -- --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build binaries (debug)"
cargo build --workspace --bins --locked

step "Rust tests (unit, integration, property tests at PROPTEST_CASES, default 256)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

step "doctests (nextest does not run them)"
cargo test --workspace --doc --locked --no-fail-fast

step "Python environment for end-to-end tests (.venv)"
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/packaging/requirements.txt

# Claude Code and Codex CLI, pinned by their package-lock.json files; each ships its native binary
# as an npm optional dependency. node_modules are git-ignored.
step "Claude Code and Codex CLI (npm ci, pinned)"
npm ci --prefix tests/claude-code --no-audit --no-fund --loglevel=error
npm ci --prefix tests/codex --no-audit --no-fund --loglevel=error

export SHALE_BIN="$PWD/target/debug/shale"
export SHALE_EMULATOR_BIN="$PWD/target/debug/shale-emulator"

step "end-to-end and packaging tests (pytest)"
# -rs: every skipped test is listed with its reason (a skip must never hide silently).
.venv/bin/python -m pytest tests -q -rs -p no:cacheprovider --ignore=tests/chaos \
  --ignore=tests/packaging/test_pkg_image.py

# Builds the image from the Dockerfile (a release build of the workspace in the container) and runs
# it: the README's docker lines, compose, the Helm container spec. Fails, not skips, under CI=true
# when podman cannot work.
step "container image: build and run (podman)"
image_started=$SECONDS
.venv/bin/python -m pytest tests/packaging/test_pkg_image.py -q -rs -p no:cacheprovider
echo "container image step: $((SECONDS - image_started)) s"

# Hostile bodies, raw SSE bytes, hang-ups, 1000 concurrent streams under 150 MB, slow-header
# clients, SIGTERM with streams in flight, upstream faults.
step "chaos suite (CHAOS_SCALE=${CHAOS_SCALE:-1})"
.venv/bin/python -m pytest tests/chaos -q -rs -p no:cacheprovider
