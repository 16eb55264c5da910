//! Damage to a store's log: seeded random byte flips, torn tails and
//! truncated segment files. A cut at the tail recovers to the last whole
//! record; any other damage makes `sluice verify` fail naming the segment
//! and byte offset; `sluice replay` never reaches a state other than a
//! committed block's.

use std::fs;
use std::path::{Path, PathBuf};

use sluice_storage::format::record_size_bytes;
use sluice_tests::store::{stored_blocks, SplitMix64, StoredBlock};
use sluice_tests::{sluice, sluice_json};

const FLIP_TRIALS: u64 = 40;
const CUT_TRIALS: u64 = 8;
const TRUNCATE_TRIALS: u64 = 6;
const SEGMENT_SIZE_BYTES: u64 = 32 * 1024;

struct Fixture {
    _temp: tempfile::TempDir,
    dir: String,
    blocks: std::collections::BTreeMap<u64, StoredBlock>,
    height: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_str().unwrap().to_string();
        sluice_json(&[
            "run",
            "--json",
            "--data",
            &dir,
            "--durability",
            "sync",
            "--txs",
            "600",
            "--accounts",
            "30",
            "--block-size",
            "30",
            "--snapshot-interval",
            "5",
            "--segment-size-bytes",
            "32768",
        ]);
        let blocks = stored_blocks(temp.path());
        let height = *blocks.keys().last().unwrap();
        assert_eq!(height, 20);
        assert!(blocks[&height].meta.segment >= 3, "the log spans several segments");
        Fixture { _temp: temp, dir, blocks, height }
    }

    fn segment_path(&self, index: u64) -> PathBuf {
        Path::new(&self.dir).join("log").join(format!("{index:020}.seg"))
    }

    fn last(&self) -> &StoredBlock {
        &self.blocks[&self.height]
    }

    fn record_end(block: &StoredBlock) -> u64 {
        block.meta.offset + record_size_bytes(u64::from(block.meta.payload_len))
    }

    /// Checks the outcome after damage: `torn_to` is the height recovery
    /// must reach when the damage is a torn tail, `None` when it must be refused.
    fn check(&self, what: &str, torn_to: Option<u64>) {
        let verify = sluice(&["verify", "--data", &self.dir, "--json"]);
        let replay = sluice(&["replay", "--data", &self.dir, "--json"]);
        match torn_to {
            Some(height) => {
                assert!(verify.status.success(), "{what}: {}", String::from_utf8_lossy(&verify.stderr));
                let verified: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
                assert_eq!(verified["height"], height, "{what}");
                assert_eq!(verified["block_hash"].as_str().unwrap(), self.blocks[&height].hash, "{what}");
                assert!(replay.status.success(), "{what}: {}", String::from_utf8_lossy(&replay.stderr));
                let replayed: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
                assert_eq!(replayed["height"], height, "{what}");
                assert_eq!(replayed["state_root"].as_str().unwrap(), self.blocks[&height].state_root, "{what}");
            }
            None => {
                assert!(!verify.status.success(), "{what}: damage not detected");
                let stderr = String::from_utf8_lossy(&verify.stderr);
                assert!(stderr.starts_with("sluice: error:"), "{what}: {stderr}");
                assert!(stderr.contains("segment"), "{what}: no segment named: {stderr}");
                let file_cut = what.starts_with("truncate");
                assert!(file_cut || stderr.contains("offset"), "{what}: no byte offset named: {stderr}");
                if replay.status.success() {
                    let replayed: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
                    let height = replayed["height"].as_u64().unwrap();
                    assert_eq!(
                        replayed["state_root"].as_str().unwrap(),
                        self.blocks[&height].state_root,
                        "{what}: replay reached a state no block committed"
                    );
                }
            }
        }
    }
}

#[test]
fn flipped_bytes_are_detected_or_cut_as_a_torn_tail() {
    let fixture = Fixture::new();
    let mut rng = SplitMix64::new(0xc0_22_u64);
    let records: Vec<&StoredBlock> = fixture.blocks.values().collect();
    let last = fixture.last();
    for trial in 0..FLIP_TRIALS {
        // Mostly inside records; sometimes a segment header or the zeros after a segment's last record.
        let (segment, offset, torn) = match rng.below(8) {
            0 => (rng.below(last.meta.segment + 1), rng.below(64), false),
            1 => {
                let block = records[rng.below(records.len() as u64) as usize];
                let end = Fixture::record_end(block);
                let is_last_in_segment =
                    records.iter().all(|b| b.meta.segment != block.meta.segment || b.meta.offset <= block.meta.offset);
                if !is_last_in_segment || end + 8 >= SEGMENT_SIZE_BYTES {
                    continue;
                }
                // Zeros after the final record are a torn tail; after any other segment's end, damage.
                (block.meta.segment, end + rng.below(8), block.meta.segment == last.meta.segment)
            }
            _ => {
                let block = records[rng.below(records.len() as u64) as usize];
                let len = Fixture::record_end(block) - block.meta.offset;
                let torn = block.meta.segment == last.meta.segment && block.meta.offset == last.meta.offset;
                (block.meta.segment, block.meta.offset + rng.below(len), torn)
            }
        };
        let path = fixture.segment_path(segment);
        let mut bytes = fs::read(&path).unwrap();
        let original = bytes.clone();
        bytes[offset as usize] ^= 1 + rng.below(255) as u8;
        fs::write(&path, &bytes).unwrap();
        let in_last_record = segment == last.meta.segment && offset >= last.meta.offset;
        let what = format!("trial {trial}: flip in segment {segment} at byte {offset}");
        let expected = match (torn, in_last_record) {
            (true, true) => Some(fixture.height - 1),
            (true, false) => Some(fixture.height),
            _ => None,
        };
        fixture.check(&what, expected);
        fs::write(&path, &original).unwrap();
    }
    fixture.check("restored", Some(fixture.height));
}

#[test]
fn a_cut_tail_recovers_to_the_last_whole_record_and_a_shortened_file_is_refused() {
    let fixture = Fixture::new();
    let mut rng = SplitMix64::new(0x7a11);
    let last = fixture.last().clone();
    let path = fixture.segment_path(last.meta.segment);
    let original = fs::read(&path).unwrap();
    let end = Fixture::record_end(&last);
    for trial in 0..CUT_TRIALS {
        // A torn write: zero everything from a random point in the last segment's records.
        let cut = 64 + rng.below(end - 64);
        let mut bytes = original.clone();
        bytes[cut as usize..end as usize].fill(0);
        fs::write(&path, &bytes).unwrap();
        let survivor =
            fixture.blocks.iter().filter(|(_, b)| b.meta.segment < last.meta.segment || Fixture::record_end(b) <= cut);
        let height = survivor.map(|(h, _)| *h).max().unwrap();
        fixture.check(&format!("cut trial {trial} at {cut}"), Some(height));
        if trial == 0 {
            // Running again recovers (cuts the tail) and continues from there.
            let copy = tempfile::tempdir().unwrap();
            copy_dir(Path::new(&fixture.dir), copy.path());
            let resumed = sluice_json(&[
                "run",
                "--json",
                "--data",
                copy.path().to_str().unwrap(),
                "--txs",
                "60",
                "--accounts",
                "30",
                "--block-size",
                "30",
                "--segment-size-bytes",
                "32768",
            ]);
            assert_eq!(resumed["resumed_from_height"], height);
            assert_eq!(resumed["height"], height + 2);
        }
    }
    fs::write(&path, &original).unwrap();
    for trial in 0..TRUNCATE_TRIALS {
        let segment = rng.below(last.meta.segment + 1);
        let path = fixture.segment_path(segment);
        let original = fs::read(&path).unwrap();
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(rng.below(SEGMENT_SIZE_BYTES)).unwrap();
        fixture.check(&format!("truncate trial {trial}: segment {segment}"), None);
        fs::write(&path, &original).unwrap();
    }
    fixture.check("restored", Some(fixture.height));
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
