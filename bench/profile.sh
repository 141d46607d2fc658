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
build=release
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=none ;;
    --dev-build) build=dev ;;
    *) args+=("$a") ;;
  esac
done
target="${CARGO_TARGET_DIR:-target}"
case "$build" in
  release) cargo build --release -p shale -p shale-emulator -p shale-bench; bins="$target/release" ;;
  dev) CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo build -p shale -p shale-emulator -p shale-bench; bins="$target/debug" ;;
  none) bins="$target/release" ;;
esac
exec python3 bench/profile.py --bin-dir "$bins" "${args[@]}"
