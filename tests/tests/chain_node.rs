//! `sluice node` under a real CometBFT 0.38: one validator, a kill -9
//! restart, and four validators.
//!
//! The networks are built by `scripts/cometbft-localnet.sh` and started
//! with the commands it prints, the same steps docs/operations.md gives.
//! Each test skips, saying so, when no `cometbft` binary is found, unless
//! `SLUICE_REQUIRE_COMETBFT` is set (CI sets it). Tests run one at a time
//! (they share two cores with everything else) on their own port ranges,
//! all below Linux's ephemeral range (32768–60999), so that no outgoing
//! connection of another process can hold a port a node must listen on.
//! No assertion depends on timing: deadlines only bound the waits.

use std::sync::Mutex;

use sluice_tests::cometbft::{
    account_id, broadcast, cometbft_or_skip, query_account, replay_reference, signed_transfer, submit_rounds, wait_for,
    wait_included, Localnet, GENESIS_ACCOUNTS, SIGNERS, START_TIMEOUT,
};
use sluice_tests::sluice_json;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Every account's balance and nonce via `abci_query` equals the serial
/// reference replay of the chain's own blocks, whose app hashes must
/// match at every height.
fn check_against_reference(localnet: &Localnet, port: u16) -> u64 {
    let validator = localnet.validators.iter().find(|v| v.rpc_port == port).expect("validator");
    let height = validator.height().expect("height");
    // Header height + 1 carries the app hash after `height`: wait for it.
    wait_for("the next block", START_TIMEOUT, || validator.height().filter(|h| *h > height)).expect("chain advances");
    let reference = replay_reference(port, &localnet.chain_id, height).unwrap_or_else(|e| panic!("{e}"));
    for index in 0..GENESIS_ACCOUNTS {
        let id = account_id(index);
        let expected = reference.load(&id);
        assert_eq!(query_account(port, &id).expect("query"), (expected.balance, expected.nonce), "account {index}");
    }
    height
}

#[test]
fn single_validator_commits_transfers_matching_the_serial_reference() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(cometbft) = cometbft_or_skip("single_validator") else { return };
    let mut localnet = Localnet::create(&cometbft, 1, 21100);
    localnet.start_all();
    let port = localnet.validators[0].rpc_port;
    let mut nonces = vec![0u64; SIGNERS as usize];
    let sent = submit_rounds(&localnet, port, &mut nonces, 6);
    assert!(sent >= 1000);
    wait_included(&localnet, port, &nonces);
    check_against_reference(&localnet, port);
}

#[test]
fn killed_node_restarts_through_handshake_replay() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(cometbft) = cometbft_or_skip("restart") else { return };
    let mut localnet = Localnet::create(&cometbft, 1, 21200);
    localnet.start_all();
    let port = localnet.validators[0].rpc_port;
    let mut nonces = vec![0u64; SIGNERS as usize];
    submit_rounds(&localnet, port, &mut nonces, 2);

    // kill -9 mid-stream: transactions are still pending in the mempool.
    let validator = &mut localnet.validators[0];
    let height_before = validator.height().expect("height");
    validator.kill_sluice();
    validator.start();
    wait_for("the restarted chain to pass its old height", START_TIMEOUT, || {
        validator.height().filter(|h| *h > height_before + 2)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", validator.logs()));

    // Resume from the committed nonces: the mempool did not survive.
    for signer in 0..SIGNERS {
        nonces[signer as usize] = query_account(port, &account_id(signer)).expect("query").1;
    }
    submit_rounds(&localnet, port, &mut nonces, 2);
    wait_included(&localnet, port, &nonces);
    check_against_reference(&localnet, port);
}

#[test]
fn four_validators_agree_and_survive_one_stopping() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(cometbft) = cometbft_or_skip("four_validators") else { return };
    let mut localnet = Localnet::create(&cometbft, 4, 21300);
    localnet.start_all();
    let ports: Vec<u16> = localnet.validators.iter().map(|v| v.rpc_port).collect();
    let mut nonces = vec![0u64; SIGNERS as usize];
    submit_rounds(&localnet, ports[0], &mut nonces, 3);
    wait_included(&localnet, ports[0], &nonces);
    let height = check_against_reference(&localnet, ports[0]);

    // Every validator reports the same app hash at every height.
    for port in &ports[1..] {
        wait_for("a validator to catch up", START_TIMEOUT, || {
            sluice_tests::cometbft::rpc(*port).status().ok().map(|s| s.latest_height).filter(|h| *h > height)
        })
        .expect("catch up");
        for h in 1..=height + 1 {
            let (_, ours) = sluice_tests::cometbft::block(ports[0], h).expect("block");
            let (_, theirs) = sluice_tests::cometbft::block(*port, h).expect("block");
            assert_eq!(ours, theirs, "app hash at height {h} on rpc port {port}");
        }
    }

    // Three of four validators hold more than 2/3 of the power.
    localnet.validators[3].stop();
    let after = localnet.validators[0].height().expect("height");
    wait_for("the chain to go on without validator 3", START_TIMEOUT, || {
        localnet.validators[0].height().filter(|h| *h >= after + 3)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", localnet.logs()));
    submit_rounds(&localnet, ports[1], &mut nonces, 1);
    wait_included(&localnet, ports[1], &nonces);
    let last = check_against_reference(&localnet, ports[1]);

    // Every validator's data directory passes the audits, stopped ones and
    // the one stopped early alike: the log is whole, and re-executing every
    // block reproduces every state root.
    for validator in &mut localnet.validators {
        validator.stop();
    }
    for validator in &localnet.validators {
        let data = validator.home.join("sluice");
        let data = data.to_str().expect("UTF-8 path");
        let verified = sluice_json(&["verify", "--json", "--data", data]);
        assert!(verified["height"].as_u64().is_some_and(|h| h >= 1), "{verified}");
        assert_eq!(verified["origin"]["kind"], "app_state", "{verified}");
        let replayed = sluice_json(&["replay", "--reexecute", "--json", "--data", data]);
        assert_eq!(replayed["height"], verified["height"], "{replayed}");
        assert_eq!(replayed["state_root"], verified["state_root"], "{replayed}");
        let deltas = sluice_json(&["replay", "--json", "--data", data]);
        assert_eq!(deltas["state_root"], verified["state_root"], "{deltas}");
    }
    let survivor = localnet.validators[0].home.join("sluice");
    let survivor = sluice_json(&["verify", "--json", "--data", survivor.to_str().expect("UTF-8 path")]);
    assert!(survivor["height"].as_u64().is_some_and(|h| h >= last), "{survivor}");
}

/// Committed transactions per second through consensus, for
/// docs/benchmarks.md ("Chain node"). Ignored: it measures, it does not
/// check. `SLUICE_BENCH_VALIDATORS` (default 1) and `SLUICE_BENCH_ROUNDS`
/// (default 25, times 200 signers) pick the run; submitters are 4 threads
/// with disjoint signers, each signer sending to one validator's RPC (signers spread over all).
#[test]
#[ignore = "benchmark: cargo test --release -p sluice-tests --test chain_node -- --ignored --nocapture"]
fn throughput_through_consensus() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(cometbft) = cometbft_or_skip("throughput") else { return };
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let validators = env("SLUICE_BENCH_VALIDATORS", 1).clamp(1, 4) as usize;
    let rounds = env("SLUICE_BENCH_ROUNDS", 25).clamp(1, 1000);
    let mut localnet = Localnet::create(&cometbft, validators, 21400);
    localnet.start_all();
    let ports: Vec<u16> = localnet.validators.iter().map(|v| v.rpc_port).collect();
    let chain = localnet.chain_id.clone();
    const SUBMITTERS: u32 = 4;
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for submitter in 0..SUBMITTERS {
            let (chain, ports) = (&chain, &ports);
            scope.spawn(move || {
                for nonce in 0..rounds {
                    for signer in (submitter..SIGNERS).step_by(SUBMITTERS as usize) {
                        let to =
                            (signer + 1 + (signer * 7 + nonce as u32 * 13) % (GENESIS_ACCOUNTS - 1)) % GENESIS_ACCOUNTS;
                        let tx = signed_transfer(chain, signer, to, nonce, 1);
                        // One validator per signer: its nonces must arrive in order.
                        let port = ports[signer as usize % ports.len()];
                        let (code, log) = broadcast(port, &tx).expect("broadcast");
                        assert_eq!(code, 0, "{log}");
                    }
                }
            });
        }
    });
    let submitted_s = start.elapsed().as_secs_f64();
    let nonces = vec![rounds; SIGNERS as usize];
    wait_included(&localnet, ports[0], &nonces);
    let elapsed_s = start.elapsed().as_secs_f64();
    let txs = rounds * u64::from(SIGNERS);
    println!(
        "chain node throughput: {validators} validator(s), {txs} transfers, submitted in {submitted_s:.2} s, \
         committed in {elapsed_s:.2} s: {:.0} tx/s",
        txs as f64 / elapsed_s
    );
}
