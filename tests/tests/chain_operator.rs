//! A new operator's first chain, with real CometBFT, step by step as
//! docs/operations.md ("Run a chain") gives them: make keys, write the
//! genesis, start one validator, transfer, query, `kill -9` the node,
//! restart it, transfer again; then the token program, and the refusals a
//! person meets on a live chain.
//!
//! Skips, saying so, without a `cometbft` binary unless
//! `SLUICE_REQUIRE_COMETBFT` is set (CI sets it). No assertion depends on
//! timing: deadlines only bound the waits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use sluice_tests::cometbft::{cometbft_or_skip, kill_app_then_cometbft, wait_for, Proc};
use sluice_tests::{sluice, sluice_bin};

const P2P_PORT: u16 = 21500;
const RPC_PORT: u16 = 21501;
const ABCI_PORT: u16 = 21502;
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One validator started with the walkthrough's commands, on test ports.
struct Validator {
    home: PathBuf,
    cometbft: PathBuf,
    sluice: Option<Proc>,
    node: Option<Proc>,
}

impl Validator {
    fn rpc_url() -> String {
        format!("http://127.0.0.1:{RPC_PORT}")
    }

    /// `sluice node --abci … --data HOME/sluice`, then `cometbft start --home HOME`.
    fn start(&mut self) {
        let mut node = Command::new(sluice_bin());
        node.args(["node", "--abci", &format!("127.0.0.1:{ABCI_PORT}"), "--data"]).arg(self.home.join("sluice"));
        self.sluice = Some(Proc::spawn(node, &self.home.join("sluice.log")));
        let mut cometbft = Command::new(&self.cometbft);
        cometbft.arg("start").arg("--home").arg(&self.home);
        cometbft.arg("--proxy_app").arg(format!("tcp://127.0.0.1:{ABCI_PORT}"));
        cometbft.arg("--rpc.laddr").arg(format!("tcp://127.0.0.1:{RPC_PORT}"));
        cometbft.arg("--p2p.laddr").arg(format!("tcp://127.0.0.1:{P2P_PORT}"));
        self.node = Some(Proc::spawn(cometbft, &self.home.join("cometbft.log")));
        let rpc = sluice_tests::cometbft::rpc(RPC_PORT);
        wait_for("the chain to produce a block", START_TIMEOUT, || rpc.status().ok().filter(|s| s.latest_height >= 1))
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
    }

    /// `kill -9` the Sluice node; CometBFT stops once its app is gone.
    fn kill_node(&mut self) {
        kill_app_then_cometbft(self.sluice.take().expect("running"), self.node.take().expect("running"));
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.home.join(name)).unwrap_or_default();
        let tail = |text: String| {
            text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        format!("--- sluice.log\n{}\n--- cometbft.log\n{}", tail(read("sluice.log")), tail(read("cometbft.log")))
    }
}

fn ok_json(args: &[&str], validator: &Validator) -> Value {
    let out = sluice(args);
    assert!(
        out.status.success(),
        "sluice {args:?} failed: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
        validator.logs()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("sluice {args:?}: not JSON ({e})"))
}

/// `sluice query account ID --json` on the validator.
fn account(validator: &Validator, id: &str) -> Value {
    ok_json(&["query", "account", id, "--rpc", &Validator::rpc_url(), "--json"], validator)
}

fn refused(args: &[&str], expected: &[&str]) -> Output {
    let out = sluice(args);
    assert!(!out.status.success(), "sluice {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    let message = String::from_utf8_lossy(&out.stderr);
    for part in expected {
        assert!(message.contains(part), "sluice {args:?}: {message:?} lacks {part:?}");
    }
    out
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

#[test]
fn an_operator_runs_a_chain_from_keys_to_restart() {
    let Some(cometbft) = cometbft_or_skip("chain_operator") else { return };
    let dir = tempfile::tempdir().unwrap();
    let rpc = Validator::rpc_url();
    let mut validator =
        Validator { home: dir.path().join("node"), cometbft: cometbft.clone(), sluice: None, node: None };

    // 1. Keys: one printed bare, one as JSON.
    let (alice, bob) = (dir.path().join("alice.json"), dir.path().join("bob.json"));
    let out = sluice(&["keys", "new", "--out", path(&alice)]);
    assert!(out.status.success());
    let alice_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let bob_id =
        ok_json(&["keys", "new", "--out", path(&bob), "--json"], &validator)["id"].as_str().unwrap().to_string();

    // 2. Genesis: `cometbft init`, then Alice's account into its app_state.
    let init = Command::new(&cometbft).arg("init").arg("--home").arg(&validator.home).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let genesis = validator.home.join("config/genesis.json");
    let add =
        sluice(&["genesis", "add-account", "--genesis", path(&genesis), "--id", &alice_id, "--balance", "1000000"]);
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let summary = ok_json(&["genesis", "validate", "--genesis", path(&genesis), "--json"], &validator);
    let genesis_hash = summary["genesis_hash"].as_str().unwrap().to_string();

    // 3. One validator.
    validator.start();

    // 4. Transfer, 5. query.
    let sent = ok_json(
        &["tx", "transfer", "--key", path(&alice), "--to", &bob_id, "--amount", "250", "--rpc", &rpc, "--json"],
        &validator,
    );
    assert_eq!((sent["code"].as_u64(), sent["nonce"].as_u64()), (Some(0), Some(0)));
    assert!(sent["height"].as_u64().unwrap() >= 1);
    let bob_account = account(&validator, &bob_id);
    assert_eq!((bob_account["balance"].as_u64(), bob_account["nonce"].as_u64()), (Some(250), Some(0)));
    let alice_account = account(&validator, &alice_id);
    assert_eq!(
        (alice_account["balance"].as_u64(), alice_account["nonce"].as_u64()),
        (Some(1_000_000 - 250 - 10), Some(1))
    );

    // The node said what it serves, and logged the commit at info level.
    let log = std::fs::read_to_string(validator.home.join("sluice.log")).unwrap();
    assert!(log.contains("sluice node serving CometBFT over ABCI"), "{log}");
    assert!(log.contains(&format!("genesis_hash={genesis_hash}")), "InitChain logs the hash validate printed: {log}");
    assert!(log.contains(&format!("height={}", sent["height"])) && log.contains("committed block"), "{log}");

    // 6. kill -9, 7. restart: the startup line names the genesis and height.
    let height_before = sluice_tests::cometbft::rpc(RPC_PORT).status().unwrap().latest_height;
    validator.kill_node();
    validator.start();
    wait_for("the restarted chain to pass its old height", START_TIMEOUT, || {
        sluice_tests::cometbft::rpc(RPC_PORT).status().ok().filter(|s| s.latest_height > height_before)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", validator.logs()));
    let log = std::fs::read_to_string(validator.home.join("sluice.log")).unwrap();
    let restart_line = log.lines().filter(|l| l.contains("sluice node serving")).nth(1).expect("a second startup line");
    assert!(restart_line.contains(&format!("genesis_hash={genesis_hash}")), "{restart_line}");

    // 8. Transfer again, from the account the first transfer created.
    let back = ok_json(
        &["tx", "transfer", "--key", path(&bob), "--to", &alice_id, "--amount", "100", "--rpc", &rpc, "--json"],
        &validator,
    );
    assert_eq!(back["code"].as_u64(), Some(0));
    let bob_account = account(&validator, &bob_id);
    assert_eq!((bob_account["balance"].as_u64(), bob_account["nonce"].as_u64()), (Some(250 - 100 - 10), Some(1)));

    tokens(&validator, &alice, &bob, &bob_id);
    refusals(&validator, dir.path(), &alice, &alice_id);
}

/// The token program through `sluice tx token`: a mint, two token
/// accounts, minting, a transfer, and the token fields `query` shows.
fn tokens(validator: &Validator, alice: &Path, bob: &Path, bob_id: &str) {
    let rpc = Validator::rpc_url();
    let tx = |key: &Path, args: &[&str]| {
        let mut all = vec!["tx", "token"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--key", path(key), "--rpc", &rpc, "--json"]);
        ok_json(&all, validator)
    };
    let mint = tx(alice, &["create-mint", "--decimals", "6"])["mint"].as_str().unwrap().to_string();
    let alice_tokens = tx(alice, &["create-account", "--mint", &mint])["account"].as_str().unwrap().to_string();
    let bob_tokens = tx(bob, &["create-account", "--mint", &mint])["account"].as_str().unwrap().to_string();
    tx(alice, &["mint-to", "--mint", &mint, "--to", &alice_tokens, "--amount", "5000"]);
    tx(alice, &["transfer", "--from", &alice_tokens, "--to", &bob_tokens, "--amount", "1200"]);

    let minted = account(validator, &mint);
    assert_eq!((minted["owner"].as_u64(), minted["token"]["kind"].as_str()), (Some(1), Some("mint")));
    assert_eq!((minted["token"]["supply"].as_u64(), minted["token"]["decimals"].as_u64()), (Some(5000), Some(6)));
    let held = account(validator, &bob_tokens);
    assert_eq!((held["token"]["amount"].as_u64(), held["token"]["owner"].as_str()), (Some(1200), Some(bob_id)));
    assert_eq!(account(validator, &alice_tokens)["token"]["amount"].as_u64(), Some(3800));

    // Bob signs a transfer out of Alice's token account: CheckTx cannot
    // see token ownership, so it commits, and execution fails by name.
    let out = refused(
        &[
            "tx",
            "token",
            "transfer",
            "--from",
            &alice_tokens,
            "--to",
            &bob_tokens,
            "--amount",
            "1",
            "--key",
            path(bob),
            "--rpc",
            &rpc,
        ],
        &["failed", "code 23", "unauthorized"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("code      23"), "the outcome is printed before the error");
    assert_eq!(account(validator, &alice_tokens)["token"]["amount"].as_u64(), Some(3800), "nothing moved");
}

/// What a person meets on a live chain: an unfunded signer, a transfer
/// past the balance, an account that does not exist. Nothing is committed.
fn refusals(validator: &Validator, dir: &Path, alice: &Path, alice_id: &str) {
    let rpc = Validator::rpc_url();
    let nobody = dir.join("nobody.json");
    let nobody_id = {
        let out = sluice(&["keys", "new", "--out", path(&nobody)]);
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    refused(
        &["tx", "transfer", "--key", path(&nobody), "--to", alice_id, "--amount", "1", "--rpc", &rpc],
        &["unknown_account", &nobody_id],
    );
    refused(&["query", "account", &nobody_id, "--rpc", &rpc], &["unknown_account"]);
    let before = account(validator, alice_id);
    refused(
        &["tx", "transfer", "--key", path(alice), "--to", &nobody_id, "--amount", "999999999", "--rpc", &rpc],
        &["rejected", "code 21", "insufficient_funds"],
    );
    let after = account(validator, alice_id);
    assert_eq!(
        (after["balance"].clone(), after["nonce"].clone()),
        (before["balance"].clone(), before["nonce"].clone())
    );
}
