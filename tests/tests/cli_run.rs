//! The `sluice run` contract: flags, JSON fields, determinism per seed,
//! and named errors for bad flags.

use sluice_tests::{sluice, sluice_json};

const SMALL: [&str; 6] = ["--txs", "3000", "--accounts", "400", "--block-size", "1000"];

fn run_json(extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", "--json"];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(extra);
    sluice_json(&args)
}

#[test]
fn json_has_the_documented_fields() {
    let v = run_json(&["--seed", "7"]);
    let fields = ["txs", "blocks", "height", "state_root", "elapsed_s", "tps", "rejected", "block_hash", "generation"];
    let memory = ["rss_bytes_start", "rss_bytes_max", "rss_bytes_end", "rss_anon_bytes_max", "rss_series"];
    for field in fields.into_iter().chain(memory) {
        assert!(v.get(field).is_some(), "missing {field} in {v}");
    }
    assert_eq!(v["txs"], 3000);
    assert_eq!(v["blocks"], 3);
    assert_eq!(v["height"], 3);
    assert_eq!(v["ok"], 3000, "generated transfers all succeed: {v}");
    assert_eq!(v["state_root"].as_str().unwrap().len(), 64);
    assert!(v["tps"].as_f64().unwrap() > 0.0);
}

#[test]
fn state_root_is_stable_per_seed_and_differs_across_seeds() {
    let a = run_json(&["--seed", "7"]);
    let b = run_json(&["--seed", "7"]);
    let c = run_json(&["--seed", "8"]);
    assert_eq!(a["state_root"], b["state_root"]);
    assert_eq!(a["block_hash"], b["block_hash"]);
    assert_ne!(a["state_root"], c["state_root"]);
}

/// Roots of `sluice run` as of the commit before blocks were generated
/// lazily: neither streaming nor signing ahead in batches may change a
/// single transaction.
#[test]
fn state_roots_are_those_of_the_materialised_workload() {
    let pinned = [
        (&SMALL[..], "7", "uniform", "346a70e1d0b9db43bc48412e555b6f985a0177a5542b031f05d981718188aae7"),
        (
            &["--txs", "500", "--accounts", "2"],
            "1",
            "hot",
            "0ee84307aa71aa9979675e7fcd81afb132fac446321e23ade52462d6293148a9",
        ),
        (
            &["--txs", "500", "--accounts", "400"],
            "1",
            "zipf",
            "ecda45308c748ef1520e944476a859e1384b01b0f4d764923a93aed37aaa0494",
        ),
        (
            &["--txs", "500", "--accounts", "400"],
            "1",
            "groups:4",
            "988751172de2ab938b5ad80a744b7c0f7c0e05d92d2fed064f2203492f019732",
        ),
    ];
    for (sizes, seed, workload, root) in pinned {
        let mut args = vec!["run", "--json", "--seed", seed, "--workload", workload];
        args.extend_from_slice(sizes);
        let signed_ahead = sluice_json(&args);
        assert_eq!(signed_ahead["generation"], "pregenerated", "the default below SIGN_AHEAD_TXS_MAX");
        assert_eq!(signed_ahead["state_root"], root, "{args:?}");
        args.push("--stream");
        let streamed = sluice_json(&args);
        assert_eq!(streamed["generation"], "streamed");
        assert_eq!(streamed["state_root"], root, "{args:?}");
        assert_eq!(signed_ahead["block_hash"], streamed["block_hash"]);
    }
}

/// The default run signs ahead, calibrates the verification limit and
/// reports the time to its first block; only orderings are checked, never
/// speed.
#[test]
fn the_default_run_signs_ahead_and_reports_its_limit_and_startup() {
    let v = run_json(&["--seed", "5"]);
    assert_eq!(v["generation"], "pregenerated", "{v}");
    assert!(v["verify_limit_tps"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["fraction_of_limit"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["calibrate_s"].as_f64().unwrap() > 0.0, "{v}");
    let (open, first) = (v["open_s"].as_f64().unwrap(), v["first_block_s"].as_f64().unwrap());
    assert!(first >= open, "the first block comes after opening the store: {v}");
    let pipeline_start = v["pipeline_start_s"].as_f64().unwrap();
    assert!(pipeline_start >= open && first >= pipeline_start, "{v}");
    let streamed = run_json(&["--seed", "5", "--stream"]);
    assert_eq!(streamed["generation"], "streamed", "{streamed}");
    assert!(streamed["verify_limit_tps"].as_f64().unwrap() > 0.0, "{streamed}");
    assert_eq!(streamed["state_root"], v["state_root"], "signing ahead and streaming send the same transactions");
    assert_eq!(streamed["block_hash"], v["block_hash"]);
}

#[test]
fn the_human_summary_shows_the_limit_and_the_startup() {
    let mut args = vec!["run"];
    args.extend_from_slice(&SMALL);
    let out = sluice(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = summary.lines().collect();
    let elapsed = lines.iter().position(|l| l.starts_with("  elapsed ")).expect("an elapsed line");
    let limit = lines[elapsed + 1];
    assert!(limit.starts_with("  limit ") && limit.contains("raw ed25519 verification on"), "{summary}");
    assert!(summary.contains("signed ahead in"), "{summary}");
    assert!(summary.contains("first block committed"), "{summary}");
    assert!(summary.contains("calibration"), "{summary}");
}

#[test]
fn a_duration_run_commits_whole_blocks_and_stops() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_str().unwrap();
    let v = sluice_json(&["run", "--json", "--duration", "1", "--accounts", "50", "--block-size", "40", "--data", dir]);
    assert_eq!(v["duration_s"], 1);
    assert_eq!(v["generation"], "streamed");
    let (txs, blocks) = (v["txs"].as_u64().unwrap(), v["blocks"].as_u64().unwrap());
    assert_eq!(v["ok"], txs, "{v}");
    assert_eq!(txs, blocks * 40, "only whole blocks are sent: {v}");
    assert_eq!(v["height"], blocks);
    let verified = sluice_json(&["verify", "--data", dir, "--json"]);
    assert_eq!(verified["state_root"], v["state_root"]);
    assert_eq!(verified["txs"], txs);
}

#[test]
fn block_size_changes_blocks_not_state() {
    let a = run_json(&["--seed", "3"]);
    let b = sluice_json(&["run", "--json", "--txs", "3000", "--accounts", "400", "--block-size", "700", "--seed", "3"]);
    assert_eq!(b["blocks"], 5);
    assert_eq!(a["state_root"], b["state_root"], "state depends on the transactions, not on how they were blocked");
    assert_ne!(a["block_hash"], b["block_hash"]);
}

#[test]
fn every_workload_runs() {
    for workload in ["uniform", "hot", "zipf", "groups:4"] {
        let accounts = if workload == "hot" { "2" } else { "400" };
        let v = sluice_json(&["run", "--json", "--txs", "500", "--accounts", accounts, "--workload", workload]);
        assert_eq!(v["ok"], 500, "{workload}: {v}");
        assert_eq!(v["workload"], workload);
    }
}

#[test]
fn bad_flags_get_named_errors() {
    let cases: [(&[&str], &str); 11] = [
        (&["run", "--workload", "nope"], "unknown workload"),
        (&["run", "--block-size", "0"], "--block-size"),
        (&["run", "--duration", "0"], "--duration"),
        (&["run", "--duration", "86401"], "--duration"),
        (&["run", "--duration", "5", "--pregenerate"], "cannot be used with"),
        (&["run", "--duration", "5", "--sign-ahead"], "cannot be used with"),
        (&["run", "--stream", "--pregenerate"], "cannot be used with"),
        (&["run", "--stream", "--sign-ahead"], "cannot be used with"),
        (&["run", "--pregenerate", "--txs", "10000001"], "WORKLOAD_TXS_MAX"),
        (&["run", "--workload", "groups:50", "--accounts", "60"], "too few"),
        (&["run", "--chain-id", "has space"], "chain id"),
    ];
    for (args, needle) in cases {
        let out = sluice(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: stderr lacks {needle:?}: {stderr}");
    }
}

#[test]
fn help_explains_the_flags() {
    let out = sluice(&["run", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let flags =
        ["--txs", "--accounts", "--block-size", "--workload", "--seed", "--json", "--duration", "--pregenerate"];
    for flag in flags.into_iter().chain(["--stream", "sign-ahead"]) {
        assert!(help.contains(flag), "help lacks {flag}");
    }
}
