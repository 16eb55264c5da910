//! `sluice run --data`, `sluice verify` and `sluice replay`: resuming, the
//! JSON contracts, and named errors.

use sluice_tests::store::stored_blocks;
use sluice_tests::{sluice, sluice_json};

fn run_on(dir: &str, txs: &str) -> serde_json::Value {
    run_on_with(dir, txs, &[])
}

fn run_on_with(dir: &str, txs: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
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
    ];
    args.extend_from_slice(extra);
    sluice_json(&args)
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
fn a_restart_derives_only_the_genesis_keys_it_needs_streamed_or_pregenerated() {
    let mut roots = Vec::new();
    // Streamed, and signed ahead (the default at these sizes).
    for mode in [&["--stream"][..], &[][..]] {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_str().unwrap();
        // A new store builds the genesis state: every key, each derived once
        // and shared with the workload.
        let first = run_on_with(dir, "500", mode);
        assert_eq!(first["genesis_keys_derived"], 60, "{mode:?}: {first}");
        assert!(first["open"]["genesis_state_s"].as_f64().unwrap() > 0.0, "{first}");
        // Restart from the snapshot at height 4: one block's delta replayed,
        // and the keys of the two accounts of one transfer derived.
        let one = run_on_with(dir, "1", mode);
        assert_eq!(one["open"]["snapshot_height"], 4, "{one}");
        assert_eq!(one["open"]["blocks_replayed"], 1, "{one}");
        assert_eq!(one["open"]["genesis_state_s"], 0.0, "{one}");
        assert_eq!(one["genesis_keys_derived"], 2, "{mode:?}: {one}");
        assert_eq!(one["ok"], 1, "{one}");
        // The same object carries the open breakdown, the generation mode
        // and the memory report.
        let generation = if mode.is_empty() { "pregenerated" } else { "streamed" };
        assert_eq!(one["generation"], generation);
        for field in ["open_s", "generate_s", "duration_s", "rss_bytes_max", "rss_anon_bytes_max"] {
            assert!(one.get(field).is_some(), "missing {field} in {one}");
        }
        // More signers at their resumed nonces: every transfer succeeds.
        let more = run_on_with(dir, "300", mode);
        assert_eq!(more["ok"], 300, "{more}");
        roots.push((more["state_root"].clone(), more["block_hash"].clone()));
    }
    assert_eq!(roots[0], roots[1], "streamed and signed-ahead restarts send the same transactions");
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
    let lines = [
        "  generated   signed ahead in ",
        "  genesis     10 of 10 keys derived",
        "  opened      in ",
        "  startup     first block committed ",
        "  limit       ",
    ];
    for line in lines {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
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

/// Issue 17: a run killed before its genesis record leaves a log with no
/// record: a log directory with no segment yet, or a segment holding none.
/// That is not damage (`sluice run` resumes it), so `verify` reports
/// height 0 with nothing committed and exits 0.
#[test]
fn verify_reports_a_log_without_records_as_nothing_committed() {
    let temp = tempfile::tempdir().unwrap();
    let no_segment = temp.path().join("no-segment");
    std::fs::create_dir_all(no_segment.join("log")).unwrap();
    let no_record = temp.path().join("no-record");
    let mut config = sluice_storage::LogConfig::new(no_record.join("log"));
    config.segment_size_bytes = 1 << 20;
    config.record_size_max = 1 << 19;
    drop(sluice_storage::CommitLog::open(config).unwrap());
    for (dir, segments) in [(&no_segment, 0), (&no_record, 1)] {
        let dir = dir.to_str().unwrap();
        let verified = sluice_json(&["verify", "--data", dir, "--json"]);
        assert_eq!((verified["intact"].as_bool(), verified["empty"].as_bool()), (Some(true), Some(true)), "{verified}");
        assert_eq!((verified["height"].as_u64(), verified["records"].as_u64()), (Some(0), Some(0)), "{verified}");
        assert_eq!((verified["segments"].as_u64(), verified["txs"].as_u64()), (Some(segments), Some(0)), "{verified}");
        for field in ["origin", "chain_id", "state_root"] {
            assert!(verified[field].is_null(), "{field}: {verified}");
        }
        let human = sluice(&["verify", "--data", dir]);
        let text = String::from_utf8_lossy(&human.stdout);
        assert!(human.status.success(), "{}", String::from_utf8_lossy(&human.stderr));
        assert!(text.contains("nothing was committed") && text.contains("  height      0 (0 txs)"), "{text}");
    }
    // And `sluice run` resumes such a log from genesis, as the report says.
    let dir = no_record.to_str().unwrap();
    let run = sluice_json(&["run", "--json", "--data", dir, "--txs", "20", "--accounts", "4", "--block-size", "10"]);
    assert_eq!((run["resumed_from_height"].as_u64(), run["height"].as_u64()), (Some(0), Some(2)), "{run}");
    let verified = sluice_json(&["verify", "--data", dir, "--json"]);
    assert_eq!((verified["empty"].as_bool(), verified["height"].as_u64()), (Some(false), Some(2)), "{verified}");
    assert_eq!(verified["state_root"], run["state_root"]);
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
