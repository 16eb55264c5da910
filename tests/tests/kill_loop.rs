//! Kill loop: `sluice run --durability sync` is killed with SIGKILL at
//! seeded random moments and restarted on the same directory. After every
//! kill the store verifies, replays to the last header's state root, and
//! still holds every block the killed process reported as committed, with
//! the same hash.
//!
//! `SLUICE_KILL_LOOP_ITERATIONS` (default 20) sets the number of kills and
//! `SLUICE_KILL_LOOP_SEED` the seed, for a longer soak.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sluice_tests::store::{stored_blocks, SplitMix64};
use sluice_tests::{sluice_bin, sluice_json};

const ITERATIONS_DEFAULT: u64 = 20;
const SEED_DEFAULT: u64 = 0x5eed_0001;
/// Each run commits 20 blocks; the kill comes after 1..=this many of them.
const COMMITS_BEFORE_KILL_MAX: u64 = 16;
/// Then after 0..this many milliseconds, so it can land inside a commit.
const KILL_DELAY_MS_MAX: u64 = 8;
/// No run waits longer than this for its next stderr line.
const LINE_WAIT_S_MAX: u64 = 60;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// Parses the complete `committed height=H hash=HEX` lines; a line cut by the
/// kill has no newline and claims nothing.
fn committed_claims(stderr: &str, claims: &mut BTreeMap<u64, String>) {
    let complete = &stderr[..stderr.rfind('\n').map_or(0, |end| end + 1)];
    for line in complete.lines() {
        let Some(rest) = line.strip_prefix("committed height=") else { continue };
        let (height, hash) = rest.split_once(" hash=").expect("commit line format");
        let height: u64 = height.parse().expect("height");
        if let Some(previous) = claims.insert(height, hash.to_string()) {
            assert_eq!(previous, hash, "height {height} was committed twice with different hashes");
        }
    }
}

/// Forwards each complete stderr line (with its newline); a line cut by the
/// kill never arrives, so it claims nothing.
fn stderr_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if !line.ends_with('\n') => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

#[test]
fn committed_blocks_survive_kill_9() {
    let iterations = env_u64("SLUICE_KILL_LOOP_ITERATIONS", ITERATIONS_DEFAULT);
    let seed = env_u64("SLUICE_KILL_LOOP_SEED", SEED_DEFAULT);
    eprintln!("kill loop: {iterations} iterations, seed {seed:#x}");
    let mut rng = SplitMix64::new(seed);
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_str().unwrap().to_string();
    let mut claims: BTreeMap<u64, String> = BTreeMap::new();
    let mut killed_mid_run = 0;
    for iteration in 0..iterations {
        let mut child = Command::new(sluice_bin())
            .args(["run", "--data", &dir, "--durability", "sync", "--print-commits"])
            .args(["--txs", "240", "--accounts", "24", "--block-size", "12", "--snapshot-interval", "7"])
            .args(["--segment-size-bytes", "16384"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice run");
        // Kill after a random number of commit lines plus a few random
        // milliseconds: tied to the run's progress, not the machine's speed,
        // so kills land mid-run however fast or loaded the machine is.
        let lines = stderr_lines(child.stderr.take().unwrap());
        let commits_before_kill = 1 + rng.below(COMMITS_BEFORE_KILL_MAX);
        let mut stderr = String::new();
        let mut seen = 0;
        while seen < commits_before_kill {
            match lines.recv_timeout(Duration::from_secs(LINE_WAIT_S_MAX)) {
                Ok(line) => {
                    seen += u64::from(line.starts_with("committed "));
                    stderr.push_str(&line);
                }
                Err(_) => break, // the run ended (or stalled) first
            }
        }
        std::thread::sleep(Duration::from_millis(rng.below(KILL_DELAY_MS_MAX)));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        stderr.extend(lines.iter());
        if !finished {
            killed_mid_run += 1;
        } else {
            assert!(status.success(), "iteration {iteration}: run failed on its own: {stderr}");
        }
        committed_claims(&stderr, &mut claims);

        let verified = sluice_json(&["verify", "--data", &dir, "--json"]);
        let replayed = sluice_json(&["replay", "--data", &dir, "--json"]);
        assert_eq!(replayed["height"], verified["height"], "iteration {iteration}");
        assert_eq!(replayed["state_root"], verified["state_root"], "iteration {iteration}");
        let blocks = stored_blocks(temp.path());
        for (height, hash) in &claims {
            let stored = blocks.get(height).unwrap_or_else(|| {
                panic!("iteration {iteration}: committed block {height} is gone (log ends at {:?})", verified["height"])
            });
            assert_eq!(&stored.hash, hash, "iteration {iteration}: block {height} changed");
        }
    }
    assert!(killed_mid_run >= iterations / 2, "most kills should land mid-run: {killed_mid_run}/{iterations}");
    assert!(!claims.is_empty(), "some blocks were reported committed");
    let reexecuted = sluice_json(&["replay", "--data", &dir, "--json", "--reexecute"]);
    let replayed = sluice_json(&["replay", "--data", &dir, "--json", "--from-genesis"]);
    assert_eq!(reexecuted["state_root"], replayed["state_root"]);
}
