//! `sluice run --data`, `sluice verify` and `sluice replay`: resuming, the
//! JSON contracts, and named errors.

use sluice_tests::store::stored_blocks;
use sluice_tests::{sluice, sluice_json};

fn run_on(dir: &str, txs: &str) -> serde_json::Value {
    sluice_json(&[
        "run",
        "--json",
        "--data",
        dir,
        "--txs",
        txs,
        "--accounts",
        "60",
        "--block-size",
        "100",
        "--snapshot-interval",
        "4",
    ])
}

#[test]
fn two_runs_on_one_directory_continue_the_chain() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_str().unwrap();
    let first = run_on(dir, "500");
    assert_eq!(first["resumed_from_height"], 0);
    assert_eq!(first["height"], 5);
    assert_eq!(first["durability"], "batch", "batch is the default");
    assert_eq!(first["data_dir"], dir);
    let second = run_on(dir, "700");
    assert_eq!(second["resumed_from_height"], 5);
    assert_eq!(second["blocks"], 7);
    assert_eq!(second["height"], 12, "height is the sum of both runs' blocks");
    assert_eq!(second["ok"], 700, "resumed signers use their current nonces: {second}");

    let verified = sluice_json(&["verify", "--data", dir, "--json"]);
    assert_eq!(verified["height"], 12);
    assert_eq!(verified["state_root"], second["state_root"]);
    assert_eq!(verified["block_hash"], second["block_hash"]);
    assert_eq!(verified["records"], 13, "genesis and 12 blocks");
    assert_eq!(verified["torn_tail_bytes"], 0);

    let deltas = sluice_json(&["replay", "--data", dir, "--json"]);
    assert_eq!(deltas["state_root"], second["state_root"]);
    assert_eq!(deltas["height"], 12);
    assert_eq!(deltas["start_height"], 12, "the snapshot at 12 is the newest");
    let from_genesis = sluice_json(&["replay", "--data", dir, "--json", "--from-genesis"]);
    assert_eq!(from_genesis["state_root"], second["state_root"]);
    assert_eq!(from_genesis["blocks"], 12);
    let reexecuted = sluice_json(&["replay", "--data", dir, "--json", "--reexecute", "--executor", "serial"]);
    assert_eq!(reexecuted["state_root"], deltas["state_root"]);
    assert_eq!(reexecuted["txs"], 1200);
    assert!(reexecuted["tps"].as_f64().unwrap() > 0.0);

    // The resumed run sent new transactions, not the first run's again.
    let blocks = stored_blocks(temp.path());
    assert_eq!(blocks.len(), 12);
}

#[test]
fn a_fresh_persisted_run_equals_an_unpersisted_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("d");
    let args = ["--txs", "300", "--accounts", "40", "--block-size", "100", "--seed", "4"];
    let mut with_data = vec!["run", "--json", "--durability", "sync", "--data", dir.to_str().unwrap()];
    with_data.extend_from_slice(&args);
    let mut without = vec!["run", "--json"];
    without.extend_from_slice(&args);
    let a = sluice_json(&with_data);
    let b = sluice_json(&without);
    assert_eq!(a["state_root"], b["state_root"]);
    assert_eq!(a["block_hash"], b["block_hash"]);
    assert_eq!(a["durability"], "sync");
    assert!(!std::path::Path::new(b["data_dir"].as_str().unwrap()).exists(), "the temporary directory is removed");
}

#[test]
fn human_run_output_names_the_temporary_directory() {
    let out = sluice(&["run", "--txs", "50", "--accounts", "10"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("temporary"), "{text}");
}

#[test]
fn other_genesis_parameters_are_refused_by_name() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_str().unwrap();
    run_on(dir, "100");
    let out = sluice(&["run", "--data", dir, "--txs", "100", "--accounts", "61"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("sluice: error:") && stderr.contains("60 accounts"), "{stderr}");
}

#[test]
fn verify_and_replay_name_a_missing_store() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_str().unwrap();
    for command in ["verify", "replay"] {
        let out = sluice(&[command, "--data", dir]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("sluice: error:") && stderr.contains("no commit log"), "{stderr}");
    }
    assert!(!temp.path().join("log").exists(), "read-only commands create nothing");
}

#[test]
fn help_explains_the_persistence_flags() {
    let run_help = String::from_utf8_lossy(&sluice(&["run", "--help"]).stdout).to_string();
    for flag in ["--data", "--durability", "--snapshot-interval", "--print-commits"] {
        assert!(run_help.contains(flag), "run help lacks {flag}");
    }
    let replay_help = String::from_utf8_lossy(&sluice(&["replay", "--help"]).stdout).to_string();
    for flag in ["--data", "--reexecute", "--from-genesis", "--json"] {
        assert!(replay_help.contains(flag), "replay help lacks {flag}");
    }
    let verify_help = String::from_utf8_lossy(&sluice(&["verify", "--help"]).stdout).to_string();
    assert!(verify_help.contains("--data") && verify_help.contains("--json"));
}
