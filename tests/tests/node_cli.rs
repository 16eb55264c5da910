//! `sluice node` as an operator starts it, without CometBFT: its log
//! options, and the configuration it refuses.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_tests::sluice_bin;

#[test]
fn json_logs_are_one_object_per_line_and_the_first_says_what_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Command::new(sluice_bin())
        .args(["node", "--abci", "127.0.0.1:0", "--log-format", "json", "--data"])
        .arg(dir.path().join("data"))
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = node.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = received.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    node.kill().unwrap();
    node.wait().unwrap();
    let line = line.expect("the node logs a startup line");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(value["level"], "INFO", "{line}");
    let fields = &value["fields"];
    assert_eq!(fields["message"], "sluice node serving CometBFT over ABCI", "{line}");
    assert_eq!(fields["height"].as_u64(), Some(0), "{line}");
    assert!(fields["abci"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "{line}");
    assert!(fields["programs"].as_str().is_some_and(|p| p.contains("token(1)")), "{line}");
}

#[test]
fn a_config_with_the_old_seeded_genesis_or_a_bad_log_level_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.toml");
    std::fs::write(&config, "[genesis]\nseed = 1\naccounts = 1000\n").unwrap();
    let data = dir.path().join("data");
    let node = || {
        let mut command = Command::new(sluice_bin());
        command.arg("node").arg("--config").arg(&config).arg("--data").arg(&data).env_remove("RUST_LOG");
        command.output().unwrap()
    };
    let out = node();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("[genesis] is no longer read"), "{stderr}");

    std::fs::write(&config, "[log]\nlevel = \"info,[\"\n").unwrap();
    let out = node();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("log.level"), "{stderr}");
    assert!(!data.exists(), "nothing was created for a refused config");
}
