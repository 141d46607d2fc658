#!/usr/bin/env bash
# The shale benchmark in one command: builds the release binaries (gateway, Bedrock emulator,
# probe), then runs bench/bench.py, which starts emulator + nginx + gateway on loopback, drives
# them with wrk and shale-bench, and writes bench/results/latest.{md,json,svg}.
#
#   bash bench/run.sh                      # default run, about 4-5 minutes
#   bash bench/run.sh --duration 2 --probe-requests 1000   # quick look
#   bash bench/run.sh --upstream http://127.0.0.1:4010     # any Bedrock-compatible upstream
#   bash bench/run.sh --no-build ...       # reuse target/release binaries
#   bash bench/run.sh --help               # all options
# Needs: cargo, python3, wrk (apt-get install wrk); nginx (apt-get install nginx) for the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
args=()
for a in "$@"; do
  if [[ "$a" == "--no-build" ]]; then build=0; else args+=("$a"); fi
done

for tool in wrk python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt-get install $tool)" >&2; exit 1; }
done

if [[ $build == 1 ]]; then
  cargo build --release -p shale -p shale-emulator -p shale-bench
fi
exec python3 bench/bench.py --bin-dir "${CARGO_TARGET_DIR:-target}/release" "${args[@]}"
