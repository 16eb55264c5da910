//! `sluice load` and the app-owned pool under a real CometBFT 0.38.
//!
//! - The load path at small scale, through the ingest pool (CometBFT
//!   `mempool.type = "nop"`) and through CometBFT's own mempool: what
//!   committed equals what was submitted less the refusals counted.
//! - A flood of malformed, badly signed, duplicate and out-of-order
//!   transactions mixed with good ones: every good one commits, every bad
//!   one gets its named code and never reaches a block.
//! - `sluice tx --ingest` sends through the pool and confirms the commit
//!   from the node's recent results.
//!
//! Skips, saying so, without `cometbft`, unless `SLUICE_REQUIRE_COMETBFT`
//! is set (CI sets it). No assertion depends on timing: deadlines only
//! bound the waits. Ports 21800–21860 (below the ephemeral range).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use sluice_engine::account::{AccountId, ProgramId};
use sluice_engine::client::load::LoadKeys;
use sluice_engine::client::{CometRpc, IngestClient, KeyFile};
use sluice_engine::program::system;
use sluice_engine::tx::{comet_tx_hash, ChainId, TransactionBuilder};
use sluice_tests::cometbft::{cometbft_or_skip, wait_for, Localnet, START_TIMEOUT};
use sluice_tests::{sluice, sluice_json};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
const LOAD_ACCOUNTS: u32 = 300;
const CODE_DECODE: u32 = 101;
const CODE_BAD_SIGNATURE: u32 = 102;
const CODE_DUPLICATE: u32 = 105;
/// `ExecError::BadNonce`'s code, which the pool answers for a nonce out of order.
const CODE_BAD_NONCE: u32 = 1;

fn load_network(cometbft: &Path, base_port: u16, ingest: bool, keys: &Path) -> Localnet {
    let accounts = LOAD_ACCOUNTS.to_string();
    let keys = keys.to_str().expect("utf-8 path");
    let env = [("INGEST", if ingest { "1" } else { "0" }), ("LOAD_ACCOUNTS", &accounts), ("LOAD_KEYS", keys)];
    let mut localnet = Localnet::create_with_env(cometbft, 1, base_port, &env);
    localnet.start_all();
    localnet
}

/// Runs `sluice load --json` and checks its books: every distinct
/// submitted transaction is either refused (counted by code) or committed.
fn load_and_check(args: &[&str]) -> Value {
    let report = sluice_json(&[&["load", "--json"], args].concat());
    let count = |name: &str| report[name].as_u64().unwrap_or_else(|| panic!("no {name} in {report}"));
    assert!(count("submitted") > 0, "{report}");
    assert_eq!(count("failed_total"), 0, "{report}");
    assert_eq!(count("committed"), count("submitted") - count("rejected_total"), "{report}");
    assert!(!report["drain_timed_out"].as_bool().unwrap(), "{report}");
    assert!(count("blocks") > 0 && report["committed_tps"].as_f64().unwrap() > 0.0, "{report}");
    report
}

#[test]
fn load_through_the_ingest_pool_commits_what_was_admitted() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(cometbft) = cometbft_or_skip("load through the ingest pool") else { return };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("load-keys.json");
    let localnet = load_network(&cometbft, 21800, true, &keys);
    let (rpc, ingest) = ("http://127.0.0.1:21801", "http://127.0.0.1:21804");
    let keys_arg = keys.to_str().unwrap();
    let report = load_and_check(&[
        "--rpc",
        rpc,
        "--ingest",
        ingest,
        "--keys",
        keys_arg,
        "--duration",
        "4",
        "--txs",
        "3000",
        "--batch",
        "500",
    ]);
    assert_eq!((report["submit_path"].as_str(), report["rejected_total"].as_u64()), (Some("ingest"), Some(0)));
    // A second run on the same chain signs after the committed nonces.
    load_and_check(&["--rpc", rpc, "--ingest", ingest, "--keys", keys_arg, "--duration", "2", "--txs", "600"]);
    flood(&localnet, &LoadKeys::load(&keys).unwrap(), rpc, ingest);
    send_one_through_the_pool(&LoadKeys::load(&keys).unwrap(), dir.path(), rpc, ingest);
}

#[test]
fn load_through_cometbft_mempool_commits_what_was_admitted() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(cometbft) = cometbft_or_skip("load through CometBFT's mempool") else { return };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("load-keys.json");
    let _localnet = load_network(&cometbft, 21850, false, &keys);
    let keys_arg = keys.to_str().unwrap();
    let report =
        load_and_check(&["--rpc", "http://127.0.0.1:21851", "--keys", keys_arg, "--duration", "3", "--txs", "900"]);
    assert_eq!(report["submit_path"].as_str(), Some("cometbft-mempool"));
}

fn transfer(keys: &LoadKeys, from: u32, nonce: u64, chain: &ChainId) -> Vec<u8> {
    let (signer, to) = (account(keys, from), account(keys, (from + 1) % keys.accounts));
    let builder = TransactionBuilder::new(signer, nonce, 10).instruction(
        ProgramId::SYSTEM,
        &[(signer, true), (to, true)],
        system::transfer_data(1),
    );
    builder.sign(&keys.key(from), chain).unwrap().encode()
}

fn account(keys: &LoadKeys, index: u32) -> AccountId {
    AccountId(keys.key(index).verifying_key().to_bytes())
}

/// Good transfers from 20 accounts, each followed in the same request by
/// a malformed one, a badly signed copy, a duplicate, one signed for
/// another chain, and one with a nonce out of order.
fn flood(localnet: &Localnet, keys: &LoadKeys, rpc_url: &str, ingest_url: &str) {
    let rpc = CometRpc::new(rpc_url, Duration::from_secs(10)).unwrap();
    let ingest = IngestClient::new(ingest_url, Duration::from_secs(10)).unwrap();
    let chain = localnet.chain_id.clone();
    let other = ChainId::new("another-chain").unwrap();
    let mut txs: Vec<(Vec<u8>, u32)> = Vec::new();
    for from in 0..20 {
        let nonce = rpc.account(&account(keys, from)).unwrap().nonce;
        let good = transfer(keys, from, nonce, &chain);
        let mut bad_signature = good.clone();
        let last = bad_signature.len() - 1;
        bad_signature[last] ^= 1;
        txs.push((good.clone(), 0));
        txs.push((vec![0xff; 7 + from as usize], CODE_DECODE));
        txs.push((bad_signature, CODE_BAD_SIGNATURE));
        txs.push((good, CODE_DUPLICATE));
        txs.push((transfer(keys, from, nonce + 1, &other), CODE_BAD_SIGNATURE));
        txs.push((transfer(keys, from, nonce + 5, &chain), CODE_BAD_NONCE));
    }
    let bytes: Vec<&[u8]> = txs.iter().map(|(tx, _)| tx.as_slice()).collect();
    let verdicts = ingest.submit(&bytes).unwrap();
    for (index, ((_, expected), (code, log))) in txs.iter().zip(&verdicts).enumerate() {
        assert_eq!(code, expected, "transaction {index}: {log}");
        assert!((*code == 0) == log.is_empty(), "transaction {index}: a refusal is named: {log:?}");
    }
    // A refused transaction is still refused when sent again alone.
    assert_eq!(ingest.submit(&[bytes[1]]).unwrap()[0].0, CODE_DECODE);
    for (tx, expected) in &txs {
        let hash = comet_tx_hash(tx);
        if *expected == 0 {
            let committed =
                wait_for("a good transaction to commit", START_TIMEOUT, || rpc.committed_tx(&hash).unwrap())
                    .unwrap_or_else(|e| panic!("{e}\n{}", localnet.logs()));
            assert_eq!(committed.code, 0, "{}", committed.log);
        } else if *expected != CODE_DUPLICATE {
            assert_eq!(rpc.committed_tx(&hash).unwrap(), None, "a refused transaction never commits");
        }
    }
    assert_eq!(ingest.pool_txs().unwrap(), 0);
    refused_requests(&ingest);
}

/// Requests refused whole name what is wrong, and admit nothing.
fn refused_requests(ingest: &IngestClient) {
    let (status, answer) = ingest.post("/v1/txs", "application/octet-stream", &[5, 0, 0, 0, 1, 2]).unwrap();
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad_frame")), "{answer}");
    assert!(answer["reason"].as_str().unwrap().contains("byte offset 0"), "{answer}");
    let (status, answer) = ingest.post("/v1/nothing", "text/plain", b"").unwrap();
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")), "{answer}");
    let call = br#"{"jsonrpc":"2.0","id":7,"method":"status","params":{}}"#;
    let (status, answer) = ingest.post("/", "application/json", call).unwrap();
    assert_eq!((status, answer["error"]["code"].as_i64()), (200, Some(-32601)), "{answer}");
    let call = br#"{"jsonrpc":"2.0","id":7,"method":"broadcast_tx_sync","params":{"tx":"!!"}}"#;
    let (status, answer) = ingest.post("/", "application/json", call).unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(answer["reason"].as_str().unwrap().contains("params.tx"), "{answer}");
}

/// `sluice tx transfer --ingest` submits through the pool (CometBFT's
/// broadcast method on the ingest endpoint) and confirms from `/tx/<hash>`.
fn send_one_through_the_pool(keys: &LoadKeys, dir: &Path, rpc: &str, ingest: &str) {
    let key_path = dir.join("alice.json");
    KeyFile::from_key(keys.key(7)).write_new(&key_path).unwrap();
    let to = hex::encode(account(keys, 8).0);
    let args = [
        "tx",
        "transfer",
        "--key",
        key_path.to_str().unwrap(),
        "--to",
        &to,
        "--amount",
        "5",
        "--rpc",
        rpc,
        "--ingest",
        ingest,
        "--json",
    ];
    let outcome = sluice_json(&args);
    assert_eq!(outcome["code"].as_u64(), Some(0), "{outcome}");
    // CometBFT's own broadcast is off under the nop mempool: the error is named.
    let out = sluice(&args[..args.len() - 3]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--ingest"), "{stderr}");
}
