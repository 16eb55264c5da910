# Sourced, not run: the settings and the per-node configuration shared by
# scripts/cometbft-localnet.sh and scripts/cometbft-statesync-join.sh, so
# that a node joined later is configured exactly like the validators.
#
# Environment (optional): TIMEOUT_COMMIT (default 200ms), MEMPOOL_SIZE
# (10000), CMT_LOG_LEVEL (info); SNAPSHOT_INTERVAL and SNAPSHOTS_KEPT
# (unset: no line in sluice.toml, the node's defaults apply; set:
# `snapshot_interval_blocks` and `snapshots_kept` in [storage]);
# INGEST (0): 1 gives CometBFT `mempool.type = "nop"` and Sluice an
# ingest endpoint (`[ingest] listen`), so transactions go to the node's
# own pool (docs/operations.md, "Submit transactions"); TX_INDEX (kv):
# CometBFT's [tx_index] indexer, "null" for a validator that leaves
# indexing to RPC nodes (the node's Query /tx/<hash> still answers
# recent results).
#
# Always set, with reasons (docs/operations.md, "Tuning for throughput"):
# p2p send_rate and recv_rate at 100 MB/s, since CometBFT's 5 MB/s default
# takes longer than a block interval to gossip a block of a few MB.

timeout_commit=${TIMEOUT_COMMIT:-200ms}
mempool_size=${MEMPOOL_SIZE:-10000}
log_level=${CMT_LOG_LEVEL:-info}
ingest=${INGEST:-0}
if [[ $ingest != 0 && $ingest != 1 ]]; then
  echo "INGEST must be 0 or 1, got '$ingest'" >&2
  exit 2
fi
p2p_rate_bytes=104857600
tx_index=${TX_INDEX:-kv}
if [[ $tx_index != kv && $tx_index != null ]]; then
  echo "TX_INDEX must be kv or null, got '$tx_index'" >&2
  exit 2
fi
snapshot_interval=${SNAPSHOT_INTERVAL:-}
snapshots_kept=${SNAPSHOTS_KEPT:-}
for setting in SNAPSHOT_INTERVAL SNAPSHOTS_KEPT; do
  if [[ -n ${!setting:-} ]] && ! [[ ${!setting} =~ ^[0-9]{1,9}$ ]]; then
    echo "$setting must be a number, got '${!setting}'" >&2
    exit 2
  fi
done

# configure_node HOME P2P_PORT RPC_PORT ABCI_PORT METRICS_PORT PERSISTENT_PEERS INGEST_PORT
# Edits HOME/config/config.toml (loopback addresses, peers, fast blocks)
# and writes HOME/sluice.toml, with its data in HOME/sluice.
configure_node() {
  local home=$1 p2p=$2 rpc=$3 abci=$4 metrics=$5 persistent=$6 ingest_port=$7
  local mempool_type=flood
  (( ingest == 1 )) && mempool_type=nop
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
    -e "/^\[mempool\]/,/^\[/ s|^type = .*|type = \"$mempool_type\"|" \
    -e "s|^send_rate = .*|send_rate = $p2p_rate_bytes|" \
    -e "s|^recv_rate = .*|recv_rate = $p2p_rate_bytes|" \
    -e "/^\[tx_index\]/,/^\[/ s|^indexer = .*|indexer = \"$tx_index\"|" \
    "$home/config/config.toml"
  cat >"$home/sluice.toml" <<TOML
[abci]
listen = "127.0.0.1:$abci"

[metrics]
listen = "127.0.0.1:$metrics"
TOML
  if (( ingest == 1 )); then
    printf '\n[ingest]\nlisten = "127.0.0.1:%s"\n' "$ingest_port" >>"$home/sluice.toml"
  fi
  cat >>"$home/sluice.toml" <<TOML

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
