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

cargo test --workspace "$@"
