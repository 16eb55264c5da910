//! A fresh full node joins a running chain by CometBFT state sync: it
//! restores a snapshot that the validator's Sluice node serves over ABCI
//! (ListSnapshots, LoadSnapshotChunk; OfferSnapshot and ApplySnapshotChunk
//! on the joining side) instead of replaying the chain from genesis, then
//! follows the chain, agrees with the validator, survives a kill -9, and
//! its data directory passes `sluice verify`.
//!
//! The network is built by `scripts/cometbft-localnet.sh` with
//! SNAPSHOT_INTERVAL=5 (and SNAPSHOTS_KEPT=64), the full node by `scripts/cometbft-statesync-join.sh`,
//! and both are started with the commands the scripts print. It skips,
//! saying so, when no `cometbft` binary is found, unless
//! `SLUICE_REQUIRE_COMETBFT` is set (CI sets it). Ports are below Linux's
//! ephemeral range, as in chain_node.rs. No assertion depends on timing:
//! deadlines only bound the waits.

use std::time::Duration;

use sluice_tests::cometbft::{
    account_id, block, cometbft_or_skip, query_account, submit_rounds, wait_for, wait_included, Localnet, Validator,
    GENESIS_ACCOUNTS, SIGNERS, START_TIMEOUT,
};

/// Discovery (5 s), light client checks, restore, then catching up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(180);
/// Snapshots at 5 and 10 exist, each with the two later blocks the light
/// client needs to check it.
const JOIN_HEIGHT: u64 = 12;
/// A snapshot every 5 blocks, and enough kept that the one the joining node
/// picks is still served when it fetches the chunks. CometBFT picks from
/// what it discovered during `discovery_time` (at least 5 s); with 3 kept
/// at ~5 blocks/s, a snapshot would be pruned ~3 s after it was taken.
const SNAPSHOTS: [(&str, &str); 2] = [("SNAPSHOT_INTERVAL", "5"), ("SNAPSHOTS_KEPT", "64")];

/// The value of field `key` on a log line, in tracing's plain format
/// (`... target: message key=value key=value`).
fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
}

/// The first line of `node`'s sluice.log with `message`, and its height.
fn first_logged<'a>(node: &Validator, log: &'a str, message: &str) -> (&'a str, u64) {
    let line = log
        .lines()
        .find(|line| line.contains(message))
        .unwrap_or_else(|| panic!("no {message:?} in {}\n{}", node.home.join("sluice.log").display(), node.logs()));
    let height = log_field(line, "height").and_then(|h| h.parse().ok());
    (line, height.unwrap_or_else(|| panic!("no height= on {line:?}")))
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Waits until `node` reports a height of at least `height`.
fn wait_height(node: &Validator, height: u64, what: &str, timeout: Duration, localnet: &Localnet) {
    wait_for(what, timeout, || node.height().filter(|h| *h >= height))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", node.logs(), localnet.logs()));
}

#[test]
fn fresh_node_joins_by_state_sync_and_follows_the_chain() {
    let Some(cometbft) = cometbft_or_skip("chain_statesync") else { return };
    let mut localnet = Localnet::create_with_env(&cometbft, 1, 21700, &SNAPSHOTS);
    localnet.start_all();
    let port = localnet.validators[0].rpc_port;
    let validator_height = |localnet: &Localnet| localnet.validators[0].height().expect("validator height");

    // Transfers over several blocks: the snapshots hold more than genesis.
    let mut nonces = vec![0u64; SIGNERS as usize];
    for _ in 0..3 {
        submit_rounds(&localnet, port, &mut nonces, 1);
        let next = validator_height(&localnet) + 1;
        wait_height(&localnet.validators[0], next, "the next block", START_TIMEOUT, &localnet);
    }
    wait_included(&localnet, port, &nonces);
    wait_height(&localnet.validators[0], JOIN_HEIGHT, "the height to join at", START_TIMEOUT, &localnet);

    // Declared after the network: it stops before the network's directory goes.
    let mut joiner = localnet.join_statesync("joiner", 21750);
    joiner.start();
    let target = validator_height(&localnet);
    wait_height(&joiner, target, "the joined node to reach the validator's height", SYNC_TIMEOUT, &localnet);

    // It restored a snapshot, never ran InitChain, and went on from there.
    let log = read(&joiner.home.join("sluice.log"));
    let (restore_line, restored) = first_logged(&joiner, &log, "state sync restored a snapshot");
    assert!(restored > 0, "{restore_line}");
    assert!(!log.contains("genesis initialized from app_state"), "the joined node ran InitChain:\n{log}");
    let (_, first_committed) = first_logged(&joiner, &log, ": committed block ");
    assert_eq!(first_committed, restored + 1, "first block after a snapshot at {restored}");
    // Header H + 1 carries the state root after H: the restored one.
    let (_, agreed) = block(port, restored + 1).expect("validator block");
    let logged = log_field(restore_line, "app_hash").unwrap_or_else(|| panic!("no app_hash= on {restore_line:?}"));
    assert_eq!(logged.to_lowercase(), agreed.to_lowercase(), "restored app hash at {restored}");

    // More transfers, executed by the joined node on top of the snapshot.
    submit_rounds(&localnet, port, &mut nonces, 1);
    wait_included(&localnet, port, &nonces);
    let settled = validator_height(&localnet);
    wait_height(&joiner, settled + 1, "the joined node to pass the last transfers", START_TIMEOUT, &localnet);
    let common = validator_height(&localnet).min(joiner.height().expect("joiner height"));
    for height in restored + 1..=common {
        let (_, ours) = block(port, height).expect("validator block");
        let (_, theirs) = block(joiner.rpc_port, height).expect("joined node block");
        assert_eq!(ours, theirs, "app hash in header {height}");
    }
    for index in 0..GENESIS_ACCOUNTS {
        let id = account_id(index);
        let ours = query_account(port, &id).expect("query validator");
        assert_eq!(query_account(joiner.rpc_port, &id).expect("query joined node"), ours, "account {index}");
    }

    // kill -9: it restarts from its own data (no state sync, no InitChain),
    // keeps following the chain, and its CheckTx sees the synced nonces.
    joiner.kill_sluice();
    joiner.start();
    let target = validator_height(&localnet) + 1;
    wait_height(&joiner, target, "the restarted node to pass the validator's height", START_TIMEOUT, &localnet);
    assert!(
        read(&joiner.home.join("cometbft.log")).contains("Found local state with non-zero height, skipping state sync"),
        "the restarted node did not start from its local state\n{}",
        joiner.logs()
    );
    let log = read(&joiner.home.join("sluice.log"));
    assert!(!log.contains("genesis initialized from app_state"));
    // The restart rebuilt state from a snapshot, at or after the restored
    // one, and applied stored deltas: it re-executed nothing.
    let serving = log.lines().rfind(|line| line.contains("sluice node serving CometBFT")).expect("startup line");
    let snapshot: u64 = log_field(serving, "snapshot_height").and_then(|h| h.parse().ok()).expect("a snapshot height");
    let (height, replayed): (u64, u64) = (
        log_field(serving, "height").and_then(|h| h.parse().ok()).expect("height"),
        log_field(serving, "blocks_replayed").and_then(|n| n.parse().ok()).expect("blocks_replayed"),
    );
    assert!(snapshot >= restored && snapshot + replayed == height, "{serving}");
    submit_rounds(&localnet, joiner.rpc_port, &mut nonces, 1);
    wait_included(&localnet, port, &nonces);

    joiner.stop();
    let data = joiner.home.join("sluice");
    let data = data.to_str().expect("UTF-8 path");
    let verified = sluice_tests::sluice_json(&["verify", "--json", "--data", data]);
    assert_eq!(verified["origin"]["kind"], "restored", "{verified}");
    assert_eq!(verified["origin"]["height"], restored, "{verified}");
    // Re-executing every block it holds, from its restored base, reproduces every root.
    let replayed = sluice_tests::sluice_json(&["replay", "--reexecute", "--json", "--data", data]);
    assert_eq!(
        (&replayed["start_height"], &replayed["state_root"]),
        (&verified["origin"]["height"], &verified["state_root"])
    );
}
