//! Issue 17: `sluice verify | head` panicked on the broken pipe. A reader
//! that leaves early is no failure: every subcommand that prints exits 0,
//! quietly, when its stdout is closed under it (as ripgrep does).

use std::process::{Command, Output, Stdio};

use sluice_tests::{sluice_bin, sluice_json};

/// Runs `sluice` with a stdout pipe whose only reader is gone before
/// `sluice` writes a byte, so every write fails with EPIPE.
fn with_stdout_closed(args: &[&str]) -> Output {
    let mut child = Command::new(sluice_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    drop(child.stdout.take());
    child.wait_with_output().expect("sluice ends")
}

#[test]
fn a_closed_stdout_ends_every_printing_subcommand_quietly() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let data = data.to_str().unwrap();
    let key = temp.path().join("key.json");
    let key = key.to_str().unwrap();
    let run = ["run", "--data", data, "--txs", "300", "--accounts", "20", "--block-size", "50"];
    let cases: Vec<Vec<&str>> = vec![
        run.to_vec(),
        vec!["verify", "--data", data],
        vec!["verify", "--data", data, "--json"],
        vec!["replay", "--data", data],
        vec!["replay", "--data", data, "--json", "--reexecute"],
        vec!["keys", "new", "--out", key],
        vec!["keys", "show", key],
        vec!["run", "--txs", "50", "--accounts", "10", "--json"],
        vec!["--help"],
    ];
    for args in &cases {
        let out = with_stdout_closed(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {}: {stderr}", out.status);
    }
    // The run above did its work, though nobody read its summary.
    let verified = sluice_json(&["verify", "--data", data, "--json"]);
    assert_eq!(verified["height"].as_u64(), Some(6), "{verified}");
}
