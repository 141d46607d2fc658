#!/usr/bin/env bash
# Profiles the gateway: callgrind instruction counts per request (deterministic) and a perf
# sampling profile under load when perf works. Writes bench/results/profile.md (the hand-written
# part above its "generated below" marker is kept).
#   bash bench/profile.sh [--requests 1000] [--scenarios chat,chat-stream,embeddings,passthrough]
#                         [--upstream static|emulator] [--no-build | --dev-build] [--bin-dir DIR]
# --dev-build: no release build (shared machine): dev profile with the workspace crates at
# opt-level 2 (dependencies stay at 1), binaries in target/debug.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/build.sh
bench_build "$@"
exec python3 bench/profile.py --bin-dir "$bins" "${args[@]}"
