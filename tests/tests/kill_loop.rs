//! Kill loop: `sluice run --durability sync` is killed with SIGKILL at
//! seeded random moments and restarted on the same directory. After every
//! kill the store verifies, replays to the last header's state root, and
//! still holds every block the killed process reported as committed, with
//! the same hash.
//!
//! `SLUICE_KILL_LOOP_ITERATIONS` (default 20) sets the number of kills and
//! `SLUICE_KILL_LOOP_SEED` the seed, for a longer soak.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use sluice_tests::store::{stored_blocks, SplitMix};
use sluice_tests::{sluice_bin, sluice_json};

const ITERATIONS_DEFAULT: u64 = 20;
const SEED_DEFAULT: u64 = 0x5eed_0001;
/// Kills land anywhere from process start to past the end of a short run.
const KILL_DELAY_MS_MAX: u64 = 600;

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

#[test]
fn committed_blocks_survive_kill_9() {
    let iterations = env_u64("SLUICE_KILL_LOOP_ITERATIONS", ITERATIONS_DEFAULT);
    let seed = env_u64("SLUICE_KILL_LOOP_SEED", SEED_DEFAULT);
    eprintln!("kill loop: {iterations} iterations, seed {seed:#x}");
    let mut rng = SplitMix(seed);
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
        let mut stderr_pipe = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        std::thread::sleep(Duration::from_millis(rng.below(KILL_DELAY_MS_MAX)));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let stderr = reader.join().unwrap();
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
