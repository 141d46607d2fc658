#!/usr/bin/env bash
# Soak test (not part of CI): 30 minutes of mixed traffic through a debug or release build, RSS
# sampled every 5 s into soak-rss.csv; exits non-zero when memory is not flat at the end.
# Usage: bash bench/soak.sh [--minutes 30] [--concurrency 50] [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug
args=()
for a in "$@"; do
  if [[ "$a" == "--release" ]]; then profile=release; else args+=("$a"); fi
done
if [[ "$profile" == release ]]; then
  cargo build --release -p shale -p shale-emulator
else
  cargo build -p shale -p shale-emulator
fi
export SHALE_BIN="$PWD/target/$profile/shale"
export SHALE_EMULATOR_BIN="$PWD/target/$profile/shale-emulator"
exec .venv/bin/python bench/soak.py "${args[@]}"
