#!/usr/bin/env bash
# Hand-offs per request: threads touched, sleeps/wake-ups, futex wakes, epoll waits and syscalls
# per request (perf trace, perf record of sched_wakeup, /proc task counters) for chat, streaming
# and pass-through, with the default config and the lean one (access log off).
# Writes bench/results/handoffs.{md,json}. Needs perf (apt-get install linux-perf) and nginx.
#   bash bench/handoffs.sh [--requests 2000] [--connections 1] [--scenarios chat,chat-stream,passthrough]
#                          [--configs default,lean] [--no-build | --dev-build] [--bin-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/build.sh
bench_build "$@"
exec python3 bench/handoffs.py --bin-dir "$bins" "${args[@]}"
