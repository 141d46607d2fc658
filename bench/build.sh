# Sourced by the bench scripts (run.sh, profile.sh, cache.sh): builds the binaries the way the
# command line asks and sets `bins` (where they are) and `args` (the other arguments).
#   (default)    release build, target/release
#   --no-build   reuse target/release
#   --dev-build  no release build (shared machine): dev profile with the workspace crates at
#                opt-level 2 (dependencies stay at 1), target/debug
bench_build() {
  local build=release a
  args=()
  for a in "$@"; do
    case "$a" in
      --no-build) build=none ;;
      --dev-build) build=dev ;;
      *) args+=("$a") ;;
    esac
  done
  local target="${CARGO_TARGET_DIR:-target}"
  case "$build" in
    release) cargo build --release -p shale -p shale-emulator -p shale-bench; bins="$target/release" ;;
    dev) CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo build -p shale -p shale-emulator -p shale-bench; bins="$target/debug" ;;
    none) bins="$target/release" ;;
  esac
}
