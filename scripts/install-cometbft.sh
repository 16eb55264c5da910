#!/usr/bin/env bash
# Installs the pinned CometBFT into $(go env GOPATH)/bin, unless that exact
# version is already there. Idempotent: a second run only checks.
#
# The one place the CometBFT version is pinned. Sluice speaks ABCI 0.38
# (ABCI++ with FinalizeBlock); any v0.38.x works, this is the latest patch
# tested.
set -euo pipefail

COMETBFT_VERSION="${COMETBFT_VERSION:-v0.38.26}"
# --abci-cli: also CometBFT's abci-cli (its kvstore app is the baseline of
# scripts/chain-bench.sh kvstore), from the same pinned version.
if [[ ${1:-} == --abci-cli ]]; then
  abci_cli="$(go env GOPATH)/bin/abci-cli"
  if [[ -x "$abci_cli" ]]; then
    echo "install-cometbft: $abci_cli is present"
  else
    echo "install-cometbft: go install github.com/cometbft/cometbft/abci/cmd/abci-cli@$COMETBFT_VERSION"
    go install "github.com/cometbft/cometbft/abci/cmd/abci-cli@$COMETBFT_VERSION"
  fi
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-cometbft: go not found; install Go >= 1.22 first" >&2
  exit 1
fi
bin="$(go env GOPATH)/bin/cometbft"
if [[ -x "$bin" ]] && [[ "v$("$bin" version 2>/dev/null)" == "$COMETBFT_VERSION" ]]; then
  echo "install-cometbft: $bin is already $COMETBFT_VERSION"
  exit 0
fi
echo "install-cometbft: go install github.com/cometbft/cometbft/cmd/cometbft@$COMETBFT_VERSION"
go install "github.com/cometbft/cometbft/cmd/cometbft@$COMETBFT_VERSION"
echo "install-cometbft: installed $bin ($("$bin" version))"
