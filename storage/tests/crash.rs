//! Lost-write crash model, in the manner of redb's crash-testing backend.
//!
//! A sync hook keeps a *durable image* of every segment: the bytes the log has
//! synced (file created durably, `msync`/`fdatasync` ranges). At chosen crash
//! points (right before a sync, and right after an append returns) the test
//! builds what a power cut could leave on disk: the durable image plus some of
//! the unsynced bytes, in two models:
//!
//! * **ordered**: a prefix of the unsynced bytes (in log order) reached the
//!   disk, then a torn stretch of garbage, then nothing. This is also what
//!   `kill -9` mid-write looks like. Every mode must recover a valid prefix;
//!   `sync` must keep every acknowledged record, `batch` every record up to
//!   its last group commit.
//! * **reordered**: each 64-byte stretch of unsynced data independently
//!   reached the disk, was lost, or was torn into garbage, as out-of-order
//!   writeback can do. `none` and `batch` then see holes followed by valid
//!   unsynced records. Every mode must still open (never `Corrupt`: nothing
//!   durable was damaged) at a valid prefix that keeps what it promised.
//!
//! Each mode runs over many seeds; the storage-fault simulator in the engine
//! (`engine/tests/storage_faults.rs`) goes further, with damage and restarts.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::*;
use sluice_storage::{verify_log, CommitLog, Durability, SyncEvent, SyncPhase};

const CHUNK_BYTES: usize = 64;
const RECORDS: u64 = 60;

struct Image {
    files: BTreeMap<String, Vec<u8>>,
    acked: u64,
    reordered: bool,
}

struct Model {
    dir: PathBuf,
    durable: BTreeMap<String, Vec<u8>>,
    acked: u64,
    images: Vec<Image>,
    rng: Rng,
}

impl Model {
    fn on_sync(&mut self, event: SyncEvent<'_>) {
        match event.phase {
            SyncPhase::Before => {
                if self.rng.below(2) == 0 {
                    self.capture();
                }
            }
            SyncPhase::After => {
                let name = event.path.file_name().unwrap().to_str().unwrap().to_string();
                let real = fs::read(event.path).unwrap();
                let durable = self.durable.entry(name).or_insert_with(|| vec![0u8; real.len()]);
                let range = event.offset as usize..(event.offset + event.len) as usize;
                durable[range.clone()].copy_from_slice(&real[range]);
            }
        }
    }

    /// Records two crash images of the current moment, one per model.
    fn capture(&mut self) {
        let mut real = BTreeMap::new();
        for entry in fs::read_dir(&self.dir).unwrap() {
            let name = entry.unwrap().file_name().to_str().unwrap().to_string();
            if name.ends_with(".seg") {
                real.insert(name.clone(), fs::read(self.dir.join(&name)).unwrap());
            }
        }
        for reordered in [false, true] {
            let files = self.crash_image(&real, reordered);
            self.images.push(Image { files, acked: self.acked, reordered });
        }
    }

    fn crash_image(&mut self, real: &BTreeMap<String, Vec<u8>>, reordered: bool) -> BTreeMap<String, Vec<u8>> {
        // A segment whose creation was never made durable does not survive.
        let mut image = self.durable.clone();
        let mut unsynced = Vec::new();
        for (name, durable) in &image {
            for start in (0..durable.len()).step_by(CHUNK_BYTES) {
                let end = (start + CHUNK_BYTES).min(durable.len());
                // Synced bytes end at one frontier per segment, so from the
                // first differing byte on, the chunk is all unsynced; garbage
                // must never land on bytes before it, which are durable.
                let first_diff = (start..end).find(|&i| durable[i] != real[name][i]);
                if let Some(first_diff) = first_diff {
                    unsynced.push((name.clone(), first_diff, end));
                }
            }
        }
        let reached = self.rng.below(unsynced.len() as u64 + 1) as usize;
        for (position, (name, start, end)) in unsynced.into_iter().enumerate() {
            let fate = if reordered {
                self.rng.below(3)
            } else {
                match position.cmp(&reached) {
                    std::cmp::Ordering::Less => 1,
                    std::cmp::Ordering::Equal => 2,
                    std::cmp::Ordering::Greater => 0,
                }
            };
            let target = &mut image.get_mut(&name).unwrap()[start..end];
            match fate {
                0 => {}
                1 => target.copy_from_slice(&real[&name][start..end]),
                _ => {
                    let torn_at = self.rng.below((end - start) as u64) as usize;
                    target[..torn_at].copy_from_slice(&real[&name][start..start + torn_at]);
                    for byte in &mut target[torn_at..] {
                        *byte = self.rng.next_u64() as u8;
                    }
                }
            }
        }
        image
    }
}

/// Fewest records that must survive a crash after `acked` acknowledged appends.
fn floor(durability: Durability, acked: u64) -> u64 {
    match durability {
        Durability::None => 0,
        Durability::Batch { blocks_max, .. } => acked / u64::from(blocks_max) * u64::from(blocks_max),
        Durability::Sync => acked,
    }
}

/// A fresh crash model over `dir`: nothing durable, nothing acknowledged.
fn new_model(dir: &std::path::Path, seed: u64) -> Arc<Mutex<Model>> {
    Arc::new(Mutex::new(Model {
        dir: dir.to_path_buf(),
        durable: BTreeMap::new(),
        acked: 0,
        images: Vec::new(),
        rng: Rng::new(seed),
    }))
}

fn run(durability: Durability, seed: u64) -> Vec<Image> {
    let dir = tempfile::tempdir().unwrap();
    let model = new_model(dir.path(), seed);
    let hook_model = Arc::clone(&model);
    let hook = Box::new(move |event: SyncEvent<'_>| hook_model.lock().unwrap().on_sync(event));
    let (mut log, _) = CommitLog::open_with_sync_hook(config(dir.path(), durability), hook).unwrap();
    for i in 0..RECORDS {
        log.append(kind(i), height(i), &payload(i)).unwrap();
        let mut model = model.lock().unwrap();
        model.acked = i + 1;
        if model.rng.below(3) == 0 {
            model.capture();
        }
    }
    drop(log);
    let mut model = model.lock().unwrap();
    std::mem::take(&mut model.images)
}

/// Recovers `image` and checks the outcome. Returns how many records survived
/// and how many whole records beyond a hole were cut with it.
fn recover(durability: Durability, image: &Image) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in &image.files {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let verified = verify_log(dir.path());
    let opened = CommitLog::open(config(dir.path(), Durability::None));
    let (log, report) = opened.unwrap_or_else(|error| {
        let model = if image.reordered { "reordered" } else { "ordered" };
        panic!("{durability} recovery refused an {model} power-loss image: {error}")
    });
    assert_eq!(verified.unwrap().records, report.records, "verify and open agree");
    let records = read_all(&log);
    assert_prefix(&records, report.records);
    assert!(report.records >= floor(durability, image.acked), "{durability}: lost acknowledged records");
    assert!(report.records <= image.acked + 1, "{durability}: records from nowhere");
    // Recovery is idempotent: a second open finds the same log and cuts nothing.
    drop(log);
    let (_, again) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    assert_eq!((again.records, again.torn_tail), (report.records, None), "{durability}: second recovery differs");
    (report.records, report.torn_tail.map_or(0, |torn| torn.records_cut))
}

const SEEDS_PER_MODE: u64 = 8;

/// Runs `SEEDS_PER_MODE` seeds; returns how many crash images lost some
/// records, and how many cut whole records that lay beyond a lost write.
fn check_mode(durability: Durability, first_seed: u64) -> (usize, usize) {
    let mut lost_some = 0;
    let mut holes_with_records_after = 0;
    for seed in first_seed..first_seed + SEEDS_PER_MODE {
        let images = run(durability, seed);
        assert!(images.len() > 20, "too few crash points: {}", images.len());
        for image in &images {
            let (survived, records_cut) = recover(durability, image);
            lost_some += usize::from(survived < image.acked);
            holes_with_records_after += usize::from(records_cut > 0);
        }
    }
    (lost_some, holes_with_records_after)
}

#[test]
fn sync_mode_keeps_every_acknowledged_record() {
    check_mode(Durability::Sync, 100);
}

#[test]
fn batch_mode_keeps_every_group_commit_under_reordered_writeback() {
    let (lost_some, holes) = check_mode(Durability::Batch { blocks_max: 4, interval_ms: 1 << 40 }, 200);
    assert!(lost_some > 0 && holes > 0, "the model never dropped unsynced records out of order");
}

#[test]
fn none_mode_recovers_a_valid_prefix_under_reordered_writeback() {
    let (lost_some, holes) = check_mode(Durability::None, 300);
    assert!(lost_some > 0 && holes > 0, "the model never dropped unsynced records out of order");
}

#[test]
fn none_mode_sync_makes_sealed_segments_durable() {
    // In `none` mode a rolled-over segment is not synced at the roll; an
    // explicit `sync()` must still cover it, not just the active segment.
    let dir = tempfile::tempdir().unwrap();
    let model = new_model(dir.path(), 4);
    let hook_model = Arc::clone(&model);
    let hook = Box::new(move |event: SyncEvent<'_>| hook_model.lock().unwrap().on_sync(event));
    let (mut log, _) = CommitLog::open_with_sync_hook(config(dir.path(), Durability::None), hook).unwrap();
    append_range(&mut log, 0..RECORDS);
    assert!(log.segments().len() > 3);
    log.sync().unwrap();
    let mut model = model.lock().unwrap();
    // Only the moment after the sync matters here.
    model.images.clear();
    model.acked = RECORDS;
    model.capture();
    for image in &model.images {
        // Everything is durable now, so even a reordered crash loses nothing.
        assert_eq!(recover(Durability::Sync, image).0, RECORDS);
    }
}
