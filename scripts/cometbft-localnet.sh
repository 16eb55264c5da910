#!/usr/bin/env bash
# Creates a local CometBFT network of N validators for Sluice, on loopback.
#
#   scripts/cometbft-localnet.sh DIR N BASE_PORT
#
# Node i lives in DIR/node<i> and uses five ports from BASE_PORT + 10*i:
#   +0 CometBFT p2p, +1 CometBFT RPC, +2 Sluice ABCI, +3 Sluice metrics,
#   +4 Sluice ingest (with INGEST=1).
# It gets a CometBFT config (loopback addresses, peers, fast blocks) and a
# Sluice config, DIR/node<i>/sluice.toml. Start each node with the two
# commands this script prints. The end-to-end tests in
# tests/tests/chain_node.rs run exactly this script and these commands.
#
# DEVELOPMENT ONLY: the genesis funds SLUICE_ACCOUNTS accounts whose keys
# derive from SLUICE_SEED (`sluice genesis seeded`), so anyone can spend
# them. Add real accounts with `sluice genesis add-account` on
# DIR/node0/config/genesis.json and copy it to the other nodes before they
# start, or follow docs/operations.md, "Run a chain".
#
# Needs `cometbft` and `sluice` on PATH (or SLUICE_BIN=/path/to/sluice).
# Environment (optional): TIMEOUT_COMMIT (default 200ms), MEMPOOL_SIZE
# (default 10000), SLUICE_SEED (1), SLUICE_ACCOUNTS (1000), CMT_LOG_LEVEL (info),
# SNAPSHOT_INTERVAL (unset): when set, every node's sluice.toml gets
# `snapshot_interval_blocks = $SNAPSHOT_INTERVAL` in [storage], so that the
# nodes take snapshots that scripts/cometbft-statesync-join.sh can sync from;
# SNAPSHOTS_KEPT (unset) likewise sets `snapshots_kept`. Unset, neither line
# is written and the node's defaults apply.
# INGEST (0): 1 runs CometBFT with mempool.type = "nop" and gives each
# node an ingest endpoint on port +4, the app-owned pool. TX_INDEX (kv):
# CometBFT's transaction indexer, kv or null.
# LOAD_ACCOUNTS (unset) with LOAD_KEYS (a path): also funds that many
# `sluice load` accounts in the genesis (`sluice load --fund-genesis`),
# writing their key file to LOAD_KEYS if it does not exist.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 DIR N BASE_PORT" >&2
  exit 2
fi
dir=$1 n=$2 base=$3
if ! [[ $n =~ ^[0-9]+$ ]] || (( n < 1 || n > 16 )); then
  echo "N must be 1..16" >&2
  exit 2
fi
if ! [[ $base =~ ^[0-9]+$ ]] || (( base < 1024 || base + 10 * n > 65535 )); then
  echo "BASE_PORT must leave room for 10 ports per node below 65536" >&2
  exit 2
fi
if [[ -e $dir/node0 ]]; then
  echo "$dir/node0 exists; refusing to overwrite a network" >&2
  exit 1
fi
seed=${SLUICE_SEED:-1}
accounts=${SLUICE_ACCOUNTS:-1000}
sluice=${SLUICE_BIN:-sluice}
# TIMEOUT_COMMIT, MEMPOOL_SIZE, CMT_LOG_LEVEL, SNAPSHOT_INTERVAL, SNAPSHOTS_KEPT;
# configure_node, print_start_commands.
source "$(dirname "${BASH_SOURCE[0]}")/cometbft-node-config.sh"

mkdir -p "$dir"
if (( n == 1 )); then
  cometbft init --home "$dir/node0" >/dev/null
else
  cometbft testnet --v "$n" --o "$dir" >/dev/null
fi

# One genesis for every node: seeded accounts in node0's, copied to the rest.
if ! out=$("$sluice" genesis seeded --genesis "$dir/node0/config/genesis.json" \
  --accounts "$accounts" --seed "$seed" 2>&1); then
  echo "$out" >&2
  echo "sluice genesis seeded failed (is sluice on PATH, or SLUICE_BIN set?)" >&2
  exit 1
fi
if [[ -n ${LOAD_ACCOUNTS:-} ]]; then
  if ! out=$("$sluice" load --fund-genesis "$dir/node0/config/genesis.json" \
    --accounts "$LOAD_ACCOUNTS" --keys "${LOAD_KEYS:?LOAD_KEYS must name the load key file}" 2>&1); then
    echo "$out" >&2
    exit 1
  fi
fi
for ((i = 1; i < n; i++)); do
  cp "$dir/node0/config/genesis.json" "$dir/node$i/config/genesis.json"
done

peers=()
for ((i = 0; i < n; i++)); do
  id=$(cometbft show-node-id --home "$dir/node$i")
  peers+=("$id@127.0.0.1:$((base + 10 * i))")
done

for ((i = 0; i < n; i++)); do
  home=$dir/node$i
  p2p=$((base + 10 * i)) rpc=$((base + 10 * i + 1)) abci=$((base + 10 * i + 2)) metrics=$((base + 10 * i + 3))
  others=()
  for ((j = 0; j < n; j++)); do
    (( j != i )) && others+=("${peers[j]}")
  done
  persistent=$(IFS=,; echo "${others[*]:-}")
  configure_node "$home" "$p2p" "$rpc" "$abci" "$metrics" "$persistent" "$((base + 10 * i + 4))"
  print_start_commands "node$i" "$home"
done
