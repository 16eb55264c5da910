#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and fails on any crash.
#
# Called from .ci/run after the tests. The toolchain is stable; cargo-fuzz
# passes nightly-only `-Z` flags, which RUSTC_BOOTSTRAP=1 makes stable
# accept. Each target starts from its committed corpus (fuzz/corpus/<t>),
# read-only: new inputs go to a scratch directory, so CI never changes the
# tree. A crash input lands in fuzz/artifacts/<t>/ (git-ignored) and is
# hex-dumped into the log, so it can be rebuilt from the log alone.
#
#   FUZZ_SECONDS   time per target (default 45: with the cold build, the
#                  whole script then takes ~7.7 minutes on 2 cores)
#   FUZZ_TARGETS   space-separated subset (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-45}"
export RUSTC_BOOTSTRAP=1
# -O: optimised; -a: debug assertions and overflow checks on, so arithmetic
# that wraps is a crash; -s none: no sanitizer. The code under test is safe
# Rust (ASan would find little and halve the executions per second).
BUILD_FLAGS=(-O -a -s none)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

started=$(date +%s)
echo "== cargo fuzz build ${BUILD_FLAGS[*]}"
(cd fuzz && cargo fuzz build "${BUILD_FLAGS[@]}")
built=$(date +%s)
echo "fuzz build took $((built - started)) s"

targets="${FUZZ_TARGETS:-$(cd fuzz && cargo fuzz list)}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in $targets; do
  echo "== fuzz $target for ${FUZZ_SECONDS} s"
  mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
  touch "$scratch/$target.start"
  if ! (cd fuzz && cargo fuzz run "${BUILD_FLAGS[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
      grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)'); then
    failed+=("$target")
  fi
  # cargo-fuzz's exit status is the signal; a crash file written by this
  # run (older ones are a developer's, left alone) is proof as well.
  for artifact in $(find fuzz/artifacts/"$target" -type f -newer "$scratch/$target.start"); do
    echo "-- $target crash input $artifact ($(wc -c <"$artifact") bytes):"
    od -A x -t x1z -v "$artifact" | head -n 200
    [[ " ${failed[*]} " == *" $target "* ]] || failed+=("$target")
  done
done

echo "fuzzing took $(($(date +%s) - built)) s after a $((built - started)) s build"
if ((${#failed[@]})); then
  echo "fuzz targets with crashes: ${failed[*]} (inputs in fuzz/artifacts/; see docs/fuzzing.md)" >&2
  exit 1
fi
echo "all fuzz targets ran ${FUZZ_SECONDS} s without a crash"
