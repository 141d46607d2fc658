#!/usr/bin/env bash
# The shale benchmark in one command: builds the binaries (gateway, Bedrock emulator, probe),
# then runs bench/bench.py, which starts the upstream + nginx + gateway on loopback, drives them
# with wrk and shale-bench, and writes bench/results/latest.{md,json,svg} with the goals' pass/fail.
#
#   bash bench/run.sh                      # release build, emulator upstream, about 5 minutes
#   bash bench/run.sh --upstream static    # static upstream: nginx serving canned Bedrock answers
#   bash bench/run.sh --upstream static --scenarios chat,chat-stream --modes c1,c64
#   bash bench/run.sh --duration 2 --probe-requests 1000   # quick look
#   bash bench/run.sh --upstream http://127.0.0.1:4010     # any Bedrock-compatible upstream
#   bash bench/run.sh --no-build ...       # reuse target/release binaries
#   bash bench/run.sh --dev-build ...      # no release build: dev profile, workspace crates at
#                                          # opt-level 2 (dependencies stay at 1), target/debug;
#                                          # for a shared machine, numbers comparable within a run
#   bash bench/run.sh --help               # all options
# Needs: cargo, python3, wrk (apt-get install wrk); nginx (apt-get install nginx-light) for the
# comparison and the static upstream.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in wrk python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt-get install $tool)" >&2; exit 1; }
done

source bench/build.sh
bench_build "$@"
exec python3 bench/bench.py --bin-dir "$bins" "${args[@]}"
