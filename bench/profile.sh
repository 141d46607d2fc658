#!/usr/bin/env bash
# Profiles the gateway: callgrind instruction counts per request (deterministic) and a perf
# sampling profile under load when perf works. Writes bench/results/profile.md.
#   bash bench/profile.sh [--requests 1000] [--scenarios chat,chat-stream,embeddings] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
args=()
for a in "$@"; do
  if [[ "$a" == "--no-build" ]]; then build=0; else args+=("$a"); fi
done
if [[ $build == 1 ]]; then
  cargo build --release -p shale -p shale-emulator -p shale-bench
fi
exec python3 bench/profile.py --bin-dir "${CARGO_TARGET_DIR:-target}/release" "${args[@]}"
