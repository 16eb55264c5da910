# Sourced, not run: the settings and the per-node configuration shared by
# scripts/cometbft-localnet.sh and scripts/cometbft-statesync-join.sh, so
# that a node joined later is configured exactly like the validators.
#
# Environment (optional): TIMEOUT_COMMIT (default 200ms), MEMPOOL_SIZE
# (10000), CMT_LOG_LEVEL (info); SNAPSHOT_INTERVAL and SNAPSHOTS_KEPT
# (unset: no line in sluice.toml, the node's defaults apply; set:
# `snapshot_interval_blocks` and `snapshots_kept` in [storage]).

timeout_commit=${TIMEOUT_COMMIT:-200ms}
mempool_size=${MEMPOOL_SIZE:-10000}
log_level=${CMT_LOG_LEVEL:-info}
snapshot_interval=${SNAPSHOT_INTERVAL:-}
snapshots_kept=${SNAPSHOTS_KEPT:-}
for setting in SNAPSHOT_INTERVAL SNAPSHOTS_KEPT; do
  if [[ -n ${!setting:-} ]] && ! [[ ${!setting} =~ ^[0-9]{1,9}$ ]]; then
    echo "$setting must be a number, got '${!setting}'" >&2
    exit 2
  fi
done

# configure_node HOME P2P_PORT RPC_PORT ABCI_PORT METRICS_PORT PERSISTENT_PEERS
# Edits HOME/config/config.toml (loopback addresses, peers, fast blocks)
# and writes HOME/sluice.toml, with its data in HOME/sluice.
configure_node() {
  local home=$1 p2p=$2 rpc=$3 abci=$4 metrics=$5 persistent=$6
  sed -i -E \
    -e "s|^proxy_app = .*|proxy_app = \"tcp://127.0.0.1:$abci\"|" \
    -e "s|^log_level = .*|log_level = \"$log_level\"|" \
    -e "/^\[rpc\]/,/^\[/ s|^laddr = .*|laddr = \"tcp://127.0.0.1:$rpc\"|" \
    -e "/^\[p2p\]/,/^\[/ s|^laddr = .*|laddr = \"tcp://127.0.0.1:$p2p\"|" \
    -e "s|^persistent_peers = .*|persistent_peers = \"$persistent\"|" \
    -e "s|^addr_book_strict = .*|addr_book_strict = false|" \
    -e "s|^allow_duplicate_ip = .*|allow_duplicate_ip = true|" \
    -e "s|^timeout_commit = .*|timeout_commit = \"$timeout_commit\"|" \
    -e "/^\[mempool\]/,/^\[/ s|^size = .*|size = $mempool_size|" \
    "$home/config/config.toml"
  cat >"$home/sluice.toml" <<TOML
[abci]
listen = "127.0.0.1:$abci"

[metrics]
listen = "127.0.0.1:$metrics"

[storage]
data = "$home/sluice"
durability = "sync"
TOML
  # Appended: [storage] is the file's last section.
  if [[ -n $snapshot_interval ]]; then
    echo "snapshot_interval_blocks = $snapshot_interval" >>"$home/sluice.toml"
  fi
  if [[ -n $snapshots_kept ]]; then
    echo "snapshots_kept = $snapshots_kept" >>"$home/sluice.toml"
  fi
}

# print_start_commands NAME HOME: the two commands that start a node.
print_start_commands() {
  echo "$1: sluice node --config $2/sluice.toml"
  echo "$1: cometbft start --home $2"
}
