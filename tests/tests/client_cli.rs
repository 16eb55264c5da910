//! `sluice genesis`, `sluice keys`, and the refusals of `sluice tx` and
//! `sluice query` that need no chain: each bad input gets a message naming
//! the problem, a non-zero exit, and nothing sent or written. The happy
//! paths run against a real CometBFT in chain_operator.rs.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use sluice_tests::{sluice, sluice_json};

/// A genesis.json as `cometbft init` writes it: no app_state yet.
const COMETBFT_GENESIS: &str = r#"{
  "genesis_time": "2026-11-29T16:24:23.106093594Z",
  "chain_id": "test-chain-eFtqaC",
  "initial_height": "0",
  "consensus_params": {"block": {"max_bytes": "22020096", "max_gas": "-1"}},
  "validators": [],
  "app_hash": ""
}"#;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fails_with(args: &[&str], expected: &[&str]) -> String {
    let out = sluice(args);
    assert!(!out.status.success(), "sluice {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    let message = stderr(&out);
    for part in expected {
        assert!(message.contains(part), "sluice {args:?}: {message:?} lacks {part:?}");
    }
    message
}

fn new_key(path: &Path) -> String {
    let out = sluice(&["keys", "new", "--out", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "keys new prints 64 hex digits: {id:?}");
    id
}

#[test]
fn genesis_add_account_edits_in_place_and_refuses_bad_input_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, COMETBFT_GENESIS).unwrap();
    let path = genesis.to_str().unwrap();
    let id = new_key(&dir.path().join("alice.json"));

    let out = sluice(&["genesis", "add-account", "--genesis", path, "--id", &id, "--balance", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(&genesis).unwrap();
    let document: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(document["app_state"]["accounts"][0]["id"], id.as_str());
    assert_eq!(document["app_state"]["accounts"][0]["balance"], "1000");
    assert_eq!(document["consensus_params"]["block"]["max_bytes"], "22020096", "the rest is kept");

    fails_with(
        &["genesis", "add-account", "--genesis", path, "--id", &id, "--balance", "1"],
        &["app_state.accounts[1].id", "duplicate_id", "app_state.accounts[0]"],
    );
    fails_with(
        &["genesis", "add-account", "--genesis", path, "--id", &"ab".repeat(32), "--balance", &u64::MAX.to_string()],
        &["app_state.accounts[1].balance", "supply_overflow"],
    );
    fails_with(&["genesis", "add-account", "--genesis", path, "--id", "xyz", "--balance", "1"], &["--id", "64 hex"]);
    assert_eq!(std::fs::read_to_string(&genesis).unwrap(), written, "refusals write nothing");

    let summary = sluice_json(&["genesis", "validate", "--genesis", path, "--json"]);
    assert_eq!((summary["accounts"].as_u64(), summary["supply"].as_str()), (Some(1), Some("1000")));
    assert_eq!(summary["chain_id"], "test-chain-eFtqaC");
    assert_eq!(summary["genesis_hash"].as_str().map(str::len), Some(64));
}

#[test]
fn genesis_seeded_says_its_keys_are_public_and_validate_names_json_paths() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, COMETBFT_GENESIS).unwrap();
    let path = genesis.to_str().unwrap();
    let out = sluice(&["genesis", "seeded", "--genesis", path, "--accounts", "5", "--seed", "7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("anyone can spend them"), "{}", stderr(&out));
    let summary = sluice_json(&["genesis", "validate", "--genesis", path, "--json"]);
    assert_eq!(summary["accounts"].as_u64(), Some(5));

    let text = std::fs::read_to_string(&genesis).unwrap();
    std::fs::write(&genesis, text.replace("\"seed\": \"7\"", "\"seed\": \"7\", \"sead\": 1")).unwrap();
    fails_with(&["genesis", "validate", "--genesis", path], &["app_state.seeded", "unknown_field", "sead"]);
    fails_with(&["genesis", "validate", "--genesis", dir.path().join("none.json").to_str().unwrap()], &["io"]);
}

#[test]
fn keys_are_never_overwritten_and_loose_or_damaged_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.json");
    let id = new_key(&key);
    let shown = sluice_json(&["keys", "show", key.to_str().unwrap(), "--json"]);
    assert_eq!(shown["id"], id.as_str());
    let before = std::fs::read(&key).unwrap();
    fails_with(&["keys", "new", "--out", key.to_str().unwrap()], &["key_file_exists"]);
    assert_eq!(std::fs::read(&key).unwrap(), before, "the key file is untouched");

    let to = "cd".repeat(32);
    let refused = |key: &Path, expected: &[&str]| {
        fails_with(&["tx", "transfer", "--key", key.to_str().unwrap(), "--to", &to, "--amount", "1"], expected)
    };
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(&key, &["key_file_permissions", "chmod 600"]);

    let damaged = dir.path().join("damaged.json");
    std::fs::write(&damaged, "{\"kind\": \"solana\"}").unwrap();
    std::fs::set_permissions(&damaged, std::fs::Permissions::from_mode(0o600)).unwrap();
    refused(&damaged, &["key_file", "field `kind`"]);
}

#[test]
fn bad_flags_are_named_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.json");
    new_key(&key);
    let key = key.to_str().unwrap();
    let to = "cd".repeat(32);
    fails_with(&["tx", "transfer", "--key", key, "--to", "12zz", "--amount", "1"], &["--to", "64 hex digits"]);
    fails_with(&["tx", "transfer", "--key", key, "--to", &to, "--amount", "18446744073709551616"], &["--amount"]);
    fails_with(&["query", "account", "nothex"], &["64 hex digits"]);
    fails_with(
        &["tx", "transfer", "--key", key, "--to", &to, "--amount", "1", "--rpc", "127.0.0.1:1"],
        &["invalid_input", "--rpc"],
    );
}

#[test]
fn a_node_that_is_down_or_silent_is_named_with_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.json");
    new_key(&key);
    let key = key.to_str().unwrap();
    let to = "cd".repeat(32);

    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    fails_with(&["tx", "transfer", "--key", key, "--to", &to, "--amount", "1", "--rpc", &url], &["node_down", &url]);
    fails_with(&["query", "account", &to, "--rpc", &url], &["node_down", &url]);

    // A listener that accepts and never answers: the request times out.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let holder = std::thread::spawn(move || {
        let (mut stream, _) = silent.accept().expect("the client connects");
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        std::thread::sleep(Duration::from_secs(3));
    });
    fails_with(&["query", "account", &to, "--rpc", &url, "--timeout", "1"], &["timeout", &url]);
    holder.join().unwrap();
}
