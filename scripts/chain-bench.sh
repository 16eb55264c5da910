#!/usr/bin/env bash
# Chain throughput, end to end: builds a fresh local network, drives it with
# `sluice load` for DURATION seconds, and prints the load's JSON report with
# the node's peak memory and per-stage latencies added. The commands
# docs/benchmarks.md ("Chain throughput") quotes.
#
#   scripts/chain-bench.sh MODE
#
# MODE:
#   ingest     Sluice, 1 validator, CometBFT mempool.type = "nop", the
#              node's own pool filled through its ingest endpoint
#   mempool    Sluice, 1 validator, CometBFT's flood mempool (broadcast_tx_sync)
#   kvstore    CometBFT's own `abci-cli kvstore`, 1 validator, flood mempool,
#              key=value transactions of a Sluice transfer's size: the peer
#              baseline
#   ingest4    Sluice, 4 validators on this machine, each with its pool
#
# Environment (optional): DURATION (60), ACCOUNTS (20000 load accounts),
# TXS (signed ahead; default 40000 per second of DURATION), TX_INDEX (null
# for ingest/ingest4, kv otherwise), TIMEOUT_COMMIT (200ms), BASE_PORT
# (24000), KEEP (1: leave the network's directory and print it).
# Needs `cometbft` (and `abci-cli` for kvstore) on PATH or in
# $(go env GOPATH)/bin, jq, curl, and a release build of `sluice`
# (SLUICE_BIN, default target/release/sluice).
set -euo pipefail

mode=${1:-}
case $mode in ingest | mempool | kvstore | ingest4) ;; *)
  echo "usage: $0 ingest|mempool|kvstore|ingest4" >&2
  exit 2
  ;;
esac
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
sluice=${SLUICE_BIN:-$root/target/release/sluice}
duration=${DURATION:-60}
accounts=${ACCOUNTS:-20000}
base=${BASE_PORT:-24000}
validators=1
[[ $mode == ingest4 ]] && validators=4
export SLUICE_BIN=$sluice TIMEOUT_COMMIT=${TIMEOUT_COMMIT:-200ms} CMT_LOG_LEVEL=${CMT_LOG_LEVEL:-info}
case $mode in
  ingest | ingest4) export INGEST=1 TX_INDEX=${TX_INDEX:-null} ;;
  *) export INGEST=0 TX_INDEX=${TX_INDEX:-kv} ;;
esac
for tool in cometbft jq curl "$sluice"; do
  command -v "$tool" >/dev/null || { echo "chain-bench: $tool not found" >&2; exit 1; }
done

dir=$(mktemp -d -t sluice-chain-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Up to 5 s for a clean exit (CometBFT may not stop once its app is
  # gone), then SIGKILL: the script must never hang here.
  for ((t = 0; t < 50; t++)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive == 0)) && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "chain-bench: kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

keys=$dir/load-keys.json
if [[ $mode == kvstore ]]; then
  command -v abci-cli >/dev/null || { echo "chain-bench: abci-cli not found (scripts/install-cometbft.sh --abci-cli)" >&2; exit 1; }
  "$root/scripts/cometbft-localnet.sh" "$dir" 1 "$base" >/dev/null
else
  LOAD_ACCOUNTS=$accounts LOAD_KEYS=$keys "$root/scripts/cometbft-localnet.sh" "$dir" "$validators" "$base" >/dev/null
fi

rpcs=() ingests=()
for ((i = 0; i < validators; i++)); do
  home=$dir/node$i
  if [[ $mode == kvstore ]]; then
    abci-cli kvstore --address "tcp://127.0.0.1:$((base + 10 * i + 2))" --log_level error >"$home/app.log" 2>&1 &
  else
    "$sluice" node --config "$home/sluice.toml" >"$home/app.log" 2>&1 &
  fi
  pids+=($!)
  echo "$!" >"$home/app.pid"
done
sleep 1
for ((i = 0; i < validators; i++)); do
  cometbft start --home "$dir/node$i" >"$dir/node$i/cometbft.log" 2>&1 &
  pids+=($!)
  rpcs+=("http://127.0.0.1:$((base + 10 * i + 1))")
  ingests+=("http://127.0.0.1:$((base + 10 * i + 4))")
done
for ((t = 0; t < 120; t++)); do
  height=$(curl -s "${rpcs[0]}/status" | jq -r '.result.sync_info.latest_block_height' 2>/dev/null || true)
  [[ $height =~ ^[0-9]+$ ]] && ((height >= 2)) && break
  sleep 0.5
done
[[ ${height:-0} =~ ^[0-9]+$ ]] && ((height >= 2)) || { echo "chain-bench: the chain did not start" >&2; tail "$dir"/node0/*.log >&2; exit 1; }

# Resident memory of node0's application: sampled every second for the
# start, peak and end, and every 30 s for the series (KiB).
app_pid=$(cat "$dir/node0/app.pid")
(
  peak=0 first=0 tick=0
  while kill -0 "$app_pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$app_pid/status" 2>/dev/null || echo 0)
    ((first == 0)) && first=$rss
    ((rss > peak)) && peak=$rss
    echo "$first $peak $rss" >"$dir/rss"
    ((tick % 30 == 0)) && echo "$rss" >>"$dir/rss.series"
    tick=$((tick + 1))
    sleep 1
  done
) &
pids+=($!)

rpc_list=$(IFS=,; echo "${rpcs[*]}")
args=(load --json --rpc "$rpc_list" --duration "$duration")
[[ -n ${TXS:-} ]] && args+=(--txs "$TXS")
case $mode in
  kvstore) args+=(--kvstore) ;;
  mempool) args+=(--keys "$keys") ;;
  *) args+=(--keys "$keys" --ingest "$(IFS=,; echo "${ingests[*]}")") ;;
esac
report=$("$sluice" "${args[@]}")
read -r rss_start_kib rss_peak_kib rss_end_kib <"$dir/rss"

# Per-stage latencies from node0's metrics (Sluice modes): count and mean ms.
stages='{}'
if [[ $mode != kvstore ]]; then
  stages=$(curl -s "http://127.0.0.1:$((base + 3))/metrics" | awk '
    /^sluice_[a-z_]+_seconds_(sum|count) / {
      name = $1; sub(/^sluice_/, "", name); kind = name; sub(/_seconds_(sum|count)$/, "", name)
      if (kind ~ /_sum$/) sum[name] = $2; else count[name] = $2
    }
    END {
      printf "{"; sep = ""
      for (n in count) if (count[n] > 0) { printf "%s\"%s\":{\"count\":%d,\"mean_ms\":%.3f}", sep, n, count[n], 1000 * sum[n] / count[n]; sep = "," }
      printf "}"
    }')
fi
echo "$report" | jq -c --arg mode "$mode" --argjson validators "$validators" --arg tx_index "$TX_INDEX" \
  --arg timeout_commit "$TIMEOUT_COMMIT" --arg cometbft "$(cometbft version)" \
  --argjson rss_start_kib "$rss_start_kib" --argjson rss_peak_kib "$rss_peak_kib" --argjson rss_end_kib "$rss_end_kib" \
  --argjson stages "$stages" --argjson series "$(jq -s -c . "$dir/rss.series")" \
  '. + {mode: $mode, validators: $validators, tx_index: $tx_index, timeout_commit: $timeout_commit, cometbft: $cometbft,
        node0_rss_kib: {start: $rss_start_kib, peak: $rss_peak_kib, end: $rss_end_kib, every_30_s: $series}, node0_stages: $stages}'
