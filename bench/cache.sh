#!/usr/bin/env bash
# The response cache's benchmark (issue #30): hit throughput at 64 connections against the nginx
# reverse proxy of the same run (local and Redis caches, plain and streaming), and the cost of a
# miss in callgrind instructions per request (cache off vs local vs Redis). Writes
# bench/results/cache.{md,json}. Needs wrk, nginx, redis-server and valgrind.
#   bash bench/cache.sh                         # release build, emulator upstream
#   bash bench/cache.sh --upstream static       # nginx serving canned Bedrock answers upstream
#   bash bench/cache.sh --dev-build ...         # shared machine: target/debug, workspace at opt-level 2
#   bash bench/cache.sh --no-build --callgrind-requests 0 --duration 3
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/build.sh
bench_build "$@"
exec python3 bench/cache_bench.py --bin-dir "$bins" "${args[@]}"
