//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use sluice_storage::{CommitLog, Durability, LogConfig, Record, RecordMeta};

/// Tiny segments so that a few dozen records span several segments.
pub const SEGMENT_SIZE_BYTES_TEST: u64 = 2048;
pub const RECORD_SIZE_MAX_TEST: u64 = 1024;

pub fn config(dir: &Path, durability: Durability) -> LogConfig {
    let mut config = LogConfig::new(dir);
    config.segment_size_bytes = SEGMENT_SIZE_BYTES_TEST;
    config.record_size_max = RECORD_SIZE_MAX_TEST;
    config.durability = durability;
    config
}

/// Deterministic payload of varying length (0..=300 bytes) for record `i`.
pub fn payload(i: u64) -> Vec<u8> {
    let len = (i * 37 % 301) as usize;
    (0..len).map(|j| (i as usize * 31 + j * 7) as u8).collect()
}

/// Height of record `i`: non-decreasing, with pairs of records sharing a height.
pub fn height(i: u64) -> u64 {
    i / 2
}

pub fn kind(i: u64) -> u8 {
    (i % 3) as u8
}

pub fn append_range(log: &mut CommitLog, range: std::ops::Range<u64>) -> Vec<RecordMeta> {
    range.map(|i| log.append(kind(i), height(i), &payload(i)).expect("append")).collect()
}

pub fn read_all(log: &CommitLog) -> Vec<Record> {
    log.records().collect::<Result<Vec<_>, _>>().expect("read records")
}

/// Asserts `records` are exactly records `0..count` of the deterministic sequence.
pub fn assert_prefix(records: &[Record], count: u64) {
    assert_eq!(records.len() as u64, count, "record count");
    for (i, record) in records.iter().enumerate() {
        let i = i as u64;
        assert_eq!(record.payload, payload(i), "payload of record {i}");
        assert_eq!(record.meta.height, height(i), "height of record {i}");
        assert_eq!(record.meta.kind, kind(i), "kind of record {i}");
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

pub fn segment_file(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.seg"))
}

/// Small deterministic generator, so every failure reproduces from its
/// seed. ChaCha8 from rand_chacha: the storage crate sits below the engine
/// and does not link the engine's splitmix64.
pub struct Rng(rand_chacha::ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(<rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut self.0)
    }

    /// Uniform in `0..bound`; `bound` must be positive.
    pub fn below(&mut self, bound: u64) -> u64 {
        rand::Rng::gen_range(&mut self.0, 0..bound)
    }
}

pub fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

pub fn read_byte(path: &Path, offset: u64) -> u8 {
    use std::os::unix::fs::FileExt;
    let file = fs::File::open(path).unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0]
}
