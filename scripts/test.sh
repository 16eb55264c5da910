#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs what the tests
# need (CometBFT, pinned, through the Go toolchain), then runs every test.
# The chain-node tests are required here, not skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-cometbft.sh
PATH="$(go env GOPATH)/bin:$PATH"
export PATH
export SLUICE_REQUIRE_COMETBFT=1

# Each store a test opens preallocates a whole log segment (64 MiB by
# default), and at their peak the tests hold about 0.4 GiB under TMPDIR.
# Short of that, they fail with "no space to preallocate"; say so first.
tmp_free_kib=$(df -Pk "${TMPDIR:-/tmp}" 2>/dev/null | awk 'NR == 2 { print $4 }') || tmp_free_kib=""
if [ -n "${tmp_free_kib}" ] && [ "${tmp_free_kib}" -lt $((1024 * 1024)) ]; then
  echo "warning: ${TMPDIR:-/tmp} has $((tmp_free_kib / 1024)) MiB free; the tests need about 400 MiB (README.md, \"Disk\")" >&2
fi

cargo test --workspace "$@"
