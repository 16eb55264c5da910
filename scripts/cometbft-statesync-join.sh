#!/usr/bin/env bash
# Adds a full node (not a validator) to a running network made by
# scripts/cometbft-localnet.sh, set to join by CometBFT state sync: it
# restores a recent snapshot served by the validators' Sluice nodes instead
# of replaying the chain from genesis, then follows the chain.
#
#   scripts/cometbft-statesync-join.sh NET_DIR NAME BASE_PORT
#
# The node lives in NET_DIR/NAME and uses four ports, as a localnet node:
#   BASE_PORT +0 CometBFT p2p, +1 CometBFT RPC, +2 Sluice ABCI, +3 Sluice metrics.
# Its only persistent peer is node0, and node0 must be running: the state
# sync root of trust (trust_height, trust_hash) is node0's latest block,
# read from node0's RPC now, and the light client checks snapshots against
# node0's RPC (named twice in rpc_servers, because CometBFT requires two;
# a real deployment names two independent nodes it trusts). Sync only
# succeeds if the validators take snapshots (SNAPSHOT_INTERVAL when the
# network was made); until one is offered, the node keeps looking.
# Start it with the two commands this script prints. The end-to-end test
# tests/tests/chain_statesync.rs runs exactly this script and these commands.
#
# Its sluice.toml pins the chain a restored snapshot must be of
# (`[statesync] chain_id` and `genesis_hash`, from the genesis it copies).
#
# Needs `cometbft`, `curl`, `jq` and `sluice` on PATH (or SLUICE_BIN=/path/to/sluice).
# Environment (optional), as for
# cometbft-localnet.sh: TIMEOUT_COMMIT (default 200ms), MEMPOOL_SIZE
# (10000), CMT_LOG_LEVEL (info), SNAPSHOT_INTERVAL and SNAPSHOTS_KEPT
# (unset: when set, this node takes snapshots too, with
# `snapshot_interval_blocks` and `snapshots_kept` in its sluice.toml).
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 NET_DIR NAME BASE_PORT" >&2
  exit 2
fi
net=$1 name=$2 base=$3
if ! [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ ]]; then
  echo "NAME must be 1..32 letters, digits, '-' or '_' (a directory in NET_DIR)" >&2
  exit 2
fi
if ! [[ $base =~ ^[0-9]+$ ]] || (( base < 1024 || base + 3 > 65535 )); then
  echo "BASE_PORT must be 1024..65532 (the node uses BASE_PORT..BASE_PORT+3)" >&2
  exit 2
fi
node0=$net/node0
if [[ ! -f $node0/config/config.toml || ! -f $node0/config/genesis.json ]]; then
  echo "$node0 has no CometBFT config and genesis: is $net a network made by cometbft-localnet.sh?" >&2
  exit 1
fi
home=$net/$name
if [[ -e $home ]]; then
  echo "$home exists; refusing to overwrite a node" >&2
  exit 1
fi
sluice=${SLUICE_BIN:-sluice}
for tool in cometbft curl jq "$sluice"; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is not on PATH" >&2
    exit 1
  fi
done
# TIMEOUT_COMMIT, MEMPOOL_SIZE, CMT_LOG_LEVEL, SNAPSHOT_INTERVAL, SNAPSHOTS_KEPT;
# configure_node, print_start_commands.
source "$(dirname "${BASH_SOURCE[0]}")/cometbft-node-config.sh"

# node0's addresses, HOST:PORT, from the [p2p] and [rpc] sections of its config.
laddr() {
  sed -n -E "/^\[$1\]/,/^\[/ s|^laddr = \"tcp://([^\"]+)\"|\1|p" "$node0/config/config.toml"
}
p2p0=$(laddr p2p) rpc0=$(laddr rpc)
if [[ -z $p2p0 || -z $rpc0 ]]; then
  echo "no tcp:// p2p and rpc laddr in $node0/config/config.toml" >&2
  exit 1
fi
# The localnet's validators use 10 ports each from node0's p2p port.
validators=$(find "$net" -maxdepth 1 -name 'node[0-9]*' -type d | wc -l)
first=${p2p0##*:}
if (( base + 3 >= first && base < first + 10 * validators )); then
  echo "BASE_PORT $base overlaps the validators' ports $first..$((first + 10 * validators - 1))" >&2
  exit 2
fi
id0=$(cometbft show-node-id --home "$node0")

# The root of trust: node0's latest block, height and hash.
rpc_url=http://$rpc0
if ! status=$(curl -sf --max-time 10 "$rpc_url/status"); then
  echo "node0's RPC at $rpc_url does not answer: start the network first" >&2
  exit 1
fi
trust_height=$(jq -r '.result.sync_info.latest_block_height' <<<"$status")
if ! [[ $trust_height =~ ^[0-9]+$ ]] || (( trust_height < 1 )); then
  echo "node0 has no block yet (latest_block_height '$trust_height'); wait for the chain to start" >&2
  exit 1
fi
trust_hash=$(curl -sf --max-time 10 "$rpc_url/block?height=$trust_height" | jq -r '.result.block_id.hash') || true
if ! [[ $trust_hash =~ ^[0-9A-F]{64}$ ]]; then
  echo "node0's RPC gave no block hash for height $trust_height (got '$trust_hash')" >&2
  exit 1
fi

cometbft init --home "$home" >/dev/null
cp "$node0/config/genesis.json" "$home/config/genesis.json"
configure_node "$home" "$base" "$((base + 1))" "$((base + 2))" "$((base + 3))" "$id0@$p2p0" "$((base + 4))"
# State sync. discovery_time and chunk_request_timeout are CometBFT's
# minimums (5 s; 0 s discovery would give up at once if no snapshot is
# known yet).
statesync='/^\[statesync\]/,/^\[/'
sed -i -E \
  -e "s|^moniker = .*|moniker = \"$name\"|" \
  -e "$statesync s|^enable = .*|enable = true|" \
  -e "$statesync s|^rpc_servers = .*|rpc_servers = \"$rpc_url,$rpc_url\"|" \
  -e "$statesync s|^trust_height = .*|trust_height = $trust_height|" \
  -e "$statesync s|^trust_hash = .*|trust_hash = \"$trust_hash\"|" \
  -e "$statesync s|^trust_period = .*|trust_period = \"168h0m0s\"|" \
  -e "$statesync s|^discovery_time = .*|discovery_time = \"5s\"|" \
  -e "$statesync s|^chunk_request_timeout = .*|chunk_request_timeout = \"5s\"|" \
  "$home/config/config.toml"
# Pin the chain the restored snapshot must be of: CometBFT's light client
# vouches only for the state root, not for the chain id and genesis hash
# the snapshot carries beside it (docs/format.md §14).
if ! summary=$("$sluice" genesis validate --genesis "$home/config/genesis.json" --json); then
  echo "sluice genesis validate failed on $home/config/genesis.json (is sluice on PATH, or SLUICE_BIN set?)" >&2
  exit 1
fi
cat >>"$home/sluice.toml" <<TOML

[statesync]
chain_id = "$(jq -r .chain_id <<<"$summary")"
genesis_hash = "$(jq -r .genesis_hash <<<"$summary")"
TOML
echo "$name: state sync trusts node0's block $trust_height ($trust_hash)"
print_start_commands "$name" "$home"
