//! A chain with a program of its own, under a real CometBFT: the
//! `counter_chain` example registers its counter program (300), serves
//! CometBFT through the library's node, and is driven through the
//! library's client, as docs/operations.md ("A chain with its own
//! programs") shows. A `kill -9` and restart rebuilds the counter from the
//! store, and the chain goes on with the same registry.
//!
//! Skips, saying so, without a `cometbft` binary unless
//! `SLUICE_REQUIRE_COMETBFT` is set (CI sets it).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use sluice_tests::cometbft::{cometbft_or_skip, wait_for, Localnet, Proc};
use sluice_tests::{example_bin, sluice};

const START_TIMEOUT: Duration = Duration::from_secs(60);

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("spawn")
}

fn stdout_ok(bin: &Path, args: &[&str], logs: &dyn Fn() -> String) -> String {
    let out = run(bin, args);
    assert!(out.status.success(), "{} {args:?}: {}\n{}", bin.display(), String::from_utf8_lossy(&out.stderr), logs());
    String::from_utf8(out.stdout).unwrap()
}

fn new_key(path: &Path) -> String {
    let out = sluice(&["keys", "new", "--out", path.to_str().unwrap()]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_chain_runs_its_own_program_through_cometbft() {
    let Some(cometbft) = cometbft_or_skip("chain_programs") else { return };
    let counter_chain = example_bin("counter_chain");
    let mut localnet = Localnet::create(&cometbft, 1, 21600);
    let home = localnet.validators[0].home.clone();
    let rpc = format!("http://127.0.0.1:{}", localnet.validators[0].rpc_port);

    // Two funded keys in the genesis, before the chain starts.
    let (alice, bob) = (home.join("alice.json"), home.join("bob.json"));
    let genesis = home.join("config/genesis.json");
    for key in [&alice, &bob] {
        let id = new_key(key);
        let args = ["genesis", "add-account", "--genesis", genesis.to_str().unwrap(), "--id", &id, "--balance", "1000"];
        assert!(sluice(&args).status.success());
    }

    // The chain's own binary serves CometBFT, with the config the script wrote.
    let start = |validator: &mut sluice_tests::cometbft::Validator| {
        let mut node = Command::new(&counter_chain);
        node.arg("node").arg("--config").arg(home.join("sluice.toml"));
        validator.sluice = Some(Proc::spawn(node, &home.join("sluice.log")));
        validator.start_cometbft();
        wait_for("the chain to start", START_TIMEOUT, || validator.height().filter(|h| *h >= 1))
            .unwrap_or_else(|e| panic!("{e}\n{}", validator.logs()));
    };
    start(&mut localnet.validators[0]);
    let logs = || localnet.logs();

    let created = stdout_ok(&counter_chain, &["create", "--key", alice.to_str().unwrap(), "--rpc", &rpc], &logs);
    let counter = created.lines().find_map(|l| l.strip_prefix("counter ")).expect("the address is printed").to_string();
    for by in ["5", "37"] {
        stdout_ok(
            &counter_chain,
            &["increment", "--key", alice.to_str().unwrap(), "--counter", &counter, "--by", by, "--rpc", &rpc],
            &logs,
        );
    }
    let shown = stdout_ok(&counter_chain, &["show", "--counter", &counter, "--rpc", &rpc], &logs);
    assert!(shown.contains("count 42"), "{shown}");

    // The program's own error comes back by name and code: only the
    // authority may increment.
    let out = run(
        &counter_chain,
        &["increment", "--key", bob.to_str().unwrap(), "--counter", &counter, "--by", "1", "--rpc", &rpc],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("code 1001") && stderr.contains("custom_1"), "{stderr}");

    // The plain client reads the program's account.
    let out = sluice(&["query", "account", &counter, "--rpc", &rpc, "--json"]);
    let account: serde_json::Value = serde_json::from_slice(&out.stdout).expect("query prints JSON");
    assert_eq!(account["owner"].as_u64(), Some(300));
    assert_eq!(account["data"].as_str().map(|d| d[64..].to_string()), Some(hex::encode(42u64.to_le_bytes())));

    // kill -9 and restart: the store rebuilds the counter's account from its deltas.
    let validator = &mut localnet.validators[0];
    let height_before = validator.height().expect("height");
    validator.kill_sluice();
    start(validator);
    wait_for("the restarted chain to pass its old height", START_TIMEOUT, || {
        validator.height().filter(|h| *h > height_before)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", validator.logs()));
    let logs = || validator.logs();
    stdout_ok(
        &counter_chain,
        &["increment", "--key", alice.to_str().unwrap(), "--counter", &counter, "--by", "1", "--rpc", &rpc],
        &logs,
    );
    let shown = stdout_ok(&counter_chain, &["show", "--counter", &counter, "--rpc", &rpc], &logs);
    assert!(shown.contains("count 43"), "{shown}");
    let log = std::fs::read_to_string(home.join("sluice.log")).unwrap();
    assert!(log.contains("counter(300)"), "the startup line lists the chain's programs: {log}");
}
