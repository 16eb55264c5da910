//! The storage-fault simulator: a seeded, deterministic run of a `BlockStore`
//! (commit log and snapshots) through commits, group commits, snapshots,
//! restarts and power cuts, with faults injected, in the manner of
//! TigerBeetle's VOPR. A seed reproduces a run exactly.
//!
//! ```text
//! cargo test -p sluice-engine --test storage_faults                       # CI: SEEDS_DEFAULT seeds
//! SLUICE_SIM_SEEDS=100000 cargo test --release -p sluice-engine --test storage_faults
//! SLUICE_SIM_SEED=1234 SLUICE_SIM_VERBOSE=1 cargo test -p sluice-engine --test storage_faults
//! ```
//!
//! **The disk model.** A sync hook on the log keeps the *durable image* of
//! every segment: what the log has synced. A power cut leaves that image plus
//! some of the unsynced bytes, chosen per 64-byte chunk: in log order (a
//! prefix reached the disk, one chunk torn, the rest lost) or in any order
//! (each chunk independently reached, lost or torn), as writeback does.
//! Snapshots are written atomically (temporary file, fsync, rename), so the
//! snapshot files that exist at a crash are those the image keeps.
//!
//! **Faults injected:** torn writes and lost unsynced writes (in every power
//! cut), a power cut at a sync point (captured just before the sync, so the
//! operation never returns), misdirected writes (a sync lands at the wrong
//! offset, the right one keeps its old bytes), bit flips in sealed segments,
//! bit flips in snapshots, and a full disk (`RLIMIT_FSIZE` makes segment
//! creation and snapshot writes fail as they would with `ENOSPC`).
//!
//! **Checked after every step:**
//! * nothing the durability mode promised is lost: every acknowledged block
//!   under `sync`, every block up to the last group commit under `batch`,
//!   every block before an explicit sync or snapshot under all three;
//! * a power cut alone never makes the store refuse to open;
//! * the state after recovery is the reference state at the recovered
//!   height, and its block hash the reference hash: never a wrong state;
//! * damage is detected and named with its offset (refused as `Corrupt`,
//!   or cut as a torn tail that starts at or before it), never skipped;
//! * recovery is idempotent: a second open finds the same chain and cuts
//!   nothing;
//! * `verify_store` passes, and `replay_from_deltas` from genesis reaches
//!   the same height, with every replayed root equal to its block header.
//!
//! The test binary has its own `main` (`harness = false` in Cargo.toml):
//! `RLIMIT_FSIZE` is per process, so no other test may share it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_engine::block::BlockHeader;
use sluice_engine::chain::Chain;
use sluice_engine::exec::{ExecutorKind, Receipt};
use sluice_engine::persist::{
    replay_from_deltas, verify_store, BlockStore, GenesisParams, PersistError, ReplayOptions, StoreConfig,
};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::state::{State, StateDelta};
use sluice_engine::tx::{self, ChainId};
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};
use sluice_storage::{verify_log, Durability, LogError, SyncEvent, SyncPhase};

/// Seeds run by a plain `cargo test` (CI).
const SEEDS_DEFAULT: u64 = 200;
/// Blocks in the reference chain; a run commits at most these.
const BLOCKS: usize = 40;
const TXS_PER_BLOCK: usize = 3;
const ACCOUNTS: u32 = 8;
const GENESIS_SEED: u64 = 17;
/// Steps (operations) per seed.
const STEPS_MAX: u32 = 90;
/// Unsynced data is lost, reached or torn in chunks of this many bytes.
const CHUNK_BYTES: usize = 64;
/// File size limit while a full disk is simulated: below any segment and
/// any snapshot, so every new file fails.
const DISK_FULL_FILE_BYTES: u64 = 64;

/// One block of the reference chain, as `BlockStore::commit` takes it.
struct ReferenceBlock {
    header: BlockHeader,
    txs: Vec<Vec<u8>>,
    receipts: Vec<Receipt>,
    delta: StateDelta,
}

/// The chain every run commits: executed once, serially, without faults.
struct Reference {
    genesis: GenesisParams,
    blocks: Vec<ReferenceBlock>,
    /// State after block `h` at index `h` (genesis at 0).
    states: Vec<State>,
}

impl Reference {
    fn hash_at(&self, height: u64) -> [u8; 32] {
        if height == 0 {
            [0; 32]
        } else {
            self.blocks[height as usize - 1].header.hash()
        }
    }
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let genesis = GenesisParams { chain_id: ChainId::default(), seed: GENESIS_SEED, accounts: ACCOUNTS };
        let spec = WorkloadSpec {
            kind: WorkloadKind::Uniform,
            accounts: ACCOUNTS,
            txs: (BLOCKS * TXS_PER_BLOCK) as u64,
            seed: GENESIS_SEED,
            chain: ChainId::default(),
        };
        let txs = workload::generate(&spec).expect("workload generates").txs;
        let state = genesis.state().expect("genesis state");
        let mut chain = Chain::new(state.clone(), ProgramRegistry::native(), ExecutorKind::Serial);
        let mut states = vec![state];
        let mut blocks = Vec::new();
        for raw in txs.chunks(TXS_PER_BLOCK) {
            let decoded: Vec<_> = raw.iter().map(|bytes| tx::decode(bytes).expect("generated txs decode")).collect();
            let block = chain.execute_block(&decoded).expect("block executes");
            blocks.push(ReferenceBlock {
                header: block.header,
                txs: raw.to_vec(),
                receipts: block.outcome.receipts,
                delta: block.outcome.delta,
            });
            states.push(chain.state.clone());
        }
        Reference { genesis, blocks, states }
    })
}

/// What was done to the disk image before a recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    /// A byte of a sealed segment flipped: (segment, offset).
    SegmentFlip(u64, u64),
    /// A sync landed elsewhere.
    Misdirected,
    /// A byte of a snapshot flipped.
    SnapshotFlip,
    /// Damage from before a crash during recovery; recovery may have cut
    /// part of it already, so only "refused or a right state" is checked.
    Earlier,
}

/// The files a crash leaves, and what the durability mode promised then.
struct CrashImage {
    segments: BTreeMap<String, Vec<u8>>,
    snapshots: BTreeMap<String, Vec<u8>>,
    promised_height: u64,
    committed_height: u64,
    /// Captured inside an operation (at a sync point): the block being
    /// committed may have reached the disk whole, although it was never
    /// acknowledged.
    in_flight: bool,
    misdirected: bool,
    /// Damage already on the disk when the image was taken (a crash during
    /// the recovery of a damaged image keeps that damage).
    damage: Vec<Damage>,
}

/// Counts over a whole run of seeds.
#[derive(Debug, Default)]
struct Tally {
    seeds: u64,
    steps: u64,
    blocks_committed: u64,
    group_syncs: u64,
    snapshots_written: u64,
    restarts: u64,
    power_cuts: u64,
    power_cuts_at_sync_point: u64,
    images_ordered: u64,
    images_reordered: u64,
    chunks_lost: u64,
    chunks_torn: u64,
    misdirected_writes: u64,
    segment_flips: u64,
    snapshot_flips: u64,
    disk_full_commits: u64,
    disk_full_snapshots: u64,
    recoveries: u64,
    recoveries_with_holes_cut: u64,
    damage_refused: u64,
    damage_cut_as_tail: u64,
    snapshots_skipped: u64,
    acknowledged_lost: u64,
    power_cut_refusals: u64,
    undetected_damage: u64,
}

/// The sync hook's side: the durable image, and a crash captured at a sync
/// point.
struct Disk {
    log_dir: PathBuf,
    snapshot_dir: PathBuf,
    durable: BTreeMap<String, Vec<u8>>,
    rng: ChaCha8Rng,
    /// Chance per sync point (in 1/1000) of a power cut just before it.
    crash_point_permille: u32,
    /// Chance per sync (in 1/1000) that it lands at the wrong place.
    misdirect_permille: u32,
    /// Set while the store is being dropped or a crash is being staged:
    /// those syncs are not the run's.
    frozen: bool,
    captured: Option<CrashImage>,
    /// Damage in the files while a damaged image is being recovered.
    damage_on_disk: Vec<Damage>,
    promised_height: u64,
    committed_height: u64,
    /// Files a misdirected write damaged (its target, and its source that
    /// kept stale bytes), until each is synced whole again.
    misdirected: std::collections::BTreeSet<String>,
    misdirected_writes: u64,
    images_ordered: u64,
    images_reordered: u64,
    chunks_lost: u64,
    chunks_torn: u64,
}

impl Disk {
    fn on_sync(&mut self, event: SyncEvent<'_>) {
        if self.frozen {
            return;
        }
        match event.phase {
            SyncPhase::Before => {
                if self.captured.is_none() && self.rng.gen_range(0..1000) < self.crash_point_permille {
                    self.captured = Some(CrashImage { in_flight: true, ..self.crash_image() });
                }
            }
            SyncPhase::After => self.record_sync(event),
        }
    }

    fn record_sync(&mut self, event: SyncEvent<'_>) {
        let name = file_name(event.path);
        let real = fs::read(event.path).expect("segment reads");
        let durable = self.durable.entry(name.clone()).or_insert_with(|| vec![0u8; real.len()]);
        let range = event.offset as usize..(event.offset + event.len) as usize;
        let whole_file = range.len() == real.len();
        if whole_file {
            // A new segment, or open's resync: the whole file is on disk,
            // whatever was misdirected into it before.
            durable.copy_from_slice(&real);
            self.misdirected.remove(&name);
            return;
        }
        if self.rng.gen_range(0..1000) < self.misdirect_permille {
            self.misdirect(&name, &real, range);
            return;
        }
        durable[range.clone()].copy_from_slice(&real[range]);
    }

    /// The bytes of `range` land at another aligned offset of some segment;
    /// `range` keeps what it held.
    fn misdirect(&mut self, source_name: &str, real: &[u8], range: std::ops::Range<usize>) {
        let names: Vec<String> = self.durable.keys().cloned().collect();
        let target_name = names[self.rng.gen_range(0..names.len())].clone();
        let target = self.durable.get_mut(&target_name).expect("listed");
        let len = range.len().min(target.len() / 2);
        let start = self.rng.gen_range(0..=(target.len() - len) / 8) * 8;
        target[start..start + len].copy_from_slice(&real[range.start..range.start + len]);
        self.misdirected.insert(target_name);
        self.misdirected.insert(source_name.to_string());
        self.misdirected_writes += 1;
    }

    /// What a power cut right now would leave.
    fn crash_image(&mut self) -> CrashImage {
        let real = read_dir_files(&self.log_dir, ".seg");
        let reordered = self.rng.gen_bool(0.5);
        let mut segments = self.durable.clone();
        let mut unsynced = Vec::new();
        for (name, durable) in &segments {
            let Some(real) = real.get(name) else { continue };
            for start in (0..durable.len()).step_by(CHUNK_BYTES) {
                let end = (start + CHUNK_BYTES).min(durable.len());
                if let Some(first_diff) = (start..end).find(|&i| durable[i] != real[i]) {
                    unsynced.push((name.clone(), first_diff, end));
                }
            }
        }
        let reached = self.rng.gen_range(0..=unsynced.len());
        // Out of order, each chunk's fate has its own odds per image, so that
        // some images lose almost nothing and others almost everything.
        let lost_permille =
            if self.rng.gen_bool(0.5) { self.rng.gen_range(0..=60) } else { self.rng.gen_range(0..=600) };
        let torn_permille = self.rng.gen_range(0..=60);
        for (position, (name, start, end)) in unsynced.into_iter().enumerate() {
            let fate = if reordered {
                let roll = self.rng.gen_range(0..1000);
                if roll < lost_permille {
                    0
                } else if roll < lost_permille + torn_permille {
                    2
                } else {
                    1
                }
            } else {
                match position.cmp(&reached) {
                    std::cmp::Ordering::Less => 1,
                    std::cmp::Ordering::Equal => 2,
                    std::cmp::Ordering::Greater => 0,
                }
            };
            let source = &real[&name][start..end];
            let target = &mut segments.get_mut(&name).expect("from durable")[start..end];
            match fate {
                0 => self.chunks_lost += 1,
                1 => target.copy_from_slice(source),
                _ => {
                    let torn_at = self.rng.gen_range(0..source.len());
                    target[..torn_at].copy_from_slice(&source[..torn_at]);
                    self.rng.fill(&mut target[torn_at..]);
                    self.chunks_torn += 1;
                }
            }
        }
        if reordered {
            self.images_reordered += 1;
        } else {
            self.images_ordered += 1;
        }
        CrashImage {
            segments,
            snapshots: read_dir_files(&self.snapshot_dir, ".snap"),
            promised_height: self.promised_height,
            committed_height: self.committed_height,
            in_flight: false,
            misdirected: !self.misdirected.is_empty(),
            damage: if self.damage_on_disk.iter().any(|d| *d != Damage::SnapshotFlip) {
                vec![Damage::Earlier]
            } else {
                Vec::new()
            },
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().and_then(|name| name.to_str()).expect("UTF-8 file name").to_string()
}

fn read_dir_files(dir: &Path, suffix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else { return files };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let name = file_name(&path);
        if name.ends_with(suffix) {
            files.insert(name, fs::read(&path).expect("file reads"));
        }
    }
    files
}

/// Replaces every file of `dir` ending in `suffix` with `files`, and removes
/// leftover temporary files.
fn write_dir_files(dir: &Path, suffix: &str, files: &BTreeMap<String, Vec<u8>>) {
    fs::create_dir_all(dir).expect("dir");
    for entry in fs::read_dir(dir).expect("dir lists") {
        let path = entry.expect("dir entry").path();
        let name = file_name(&path);
        if name.ends_with(suffix) || name.ends_with(".tmp") {
            fs::remove_file(&path).expect("file removes");
        }
    }
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).expect("file writes");
    }
}

/// One seed's run.
struct Run<'r> {
    seed: u64,
    rng: ChaCha8Rng,
    reference: &'r Reference,
    dir: PathBuf,
    config: StoreConfig,
    disk: Arc<Mutex<Disk>>,
    store: Option<BlockStore>,
    committed_height: u64,
    promised_height: u64,
    /// Appends since the last sync, for the `batch` promise.
    unsynced_blocks: u32,
    verbose: bool,
}

/// How a seed ended.
enum Outcome {
    /// Every step ran.
    Completed,
    /// The store refused to open after damage: an operator's case.
    Refused,
}

impl<'r> Run<'r> {
    fn new(seed: u64, reference: &'r Reference, root: &Path, verbose: bool) -> Run<'r> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let durability = match rng.gen_range(0..3) {
            0 => Durability::None,
            1 => Durability::Batch { blocks_max: rng.gen_range(1..=6), interval_ms: u64::MAX / 4 },
            _ => Durability::Sync,
        };
        let config = StoreConfig {
            durability,
            snapshot_interval_blocks: rng.gen_range(1..=8),
            snapshots_kept: rng.gen_range(1..=3),
            segment_size_bytes: [4096, 8192, 16384][rng.gen_range(0..3)],
        };
        let dir = root.join(format!("seed-{seed}"));
        let disk = Disk {
            log_dir: dir.join("log"),
            snapshot_dir: dir.join("snapshots"),
            durable: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_D15C),
            crash_point_permille: rng.gen_range(0..=30),
            misdirect_permille: if rng.gen_bool(0.1) { rng.gen_range(1..=40) } else { 0 },
            frozen: false,
            captured: None,
            damage_on_disk: Vec::new(),
            promised_height: 0,
            committed_height: 0,
            misdirected: Default::default(),
            misdirected_writes: 0,
            images_ordered: 0,
            images_reordered: 0,
            chunks_lost: 0,
            chunks_torn: 0,
        };
        Run {
            seed,
            rng,
            reference,
            dir,
            config,
            disk: Arc::new(Mutex::new(disk)),
            store: None,
            committed_height: 0,
            promised_height: 0,
            unsynced_blocks: 0,
            verbose,
        }
    }

    fn say(&self, what: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("seed {} h={} promised={}: {}", self.seed, self.committed_height, self.promised_height, what());
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "storage_faults seed {} ({:?}, segments {} B, snapshot every {}): {what}\n\
             reproduce: SLUICE_SIM_SEED={} SLUICE_SIM_VERBOSE=1 cargo test -p sluice-engine --test storage_faults",
            self.seed,
            self.config.durability,
            self.config.segment_size_bytes,
            self.config.snapshot_interval_blocks,
            self.seed
        )
    }

    fn hook(&self) -> sluice_storage::SyncHook {
        let disk = Arc::clone(&self.disk);
        Box::new(move |event: SyncEvent<'_>| disk.lock().expect("disk lock").on_sync(event))
    }

    fn set_heights(&mut self, committed: u64, promised: u64) {
        self.committed_height = committed;
        self.promised_height = promised;
        let mut disk = self.disk.lock().expect("disk lock");
        disk.committed_height = committed;
        disk.promised_height = promised;
    }

    fn run(&mut self, tally: &mut Tally) -> Outcome {
        let opened =
            BlockStore::open_with_sync_hook(&self.dir, self.config.clone(), &self.reference.genesis, self.hook());
        let (store, resumed) = opened.unwrap_or_else(|error| self.fail(format!("a new store does not open: {error}")));
        assert!(resumed.report.created);
        self.store = Some(store);
        let steps = self.rng.gen_range(10..=STEPS_MAX);
        for _ in 0..steps {
            tally.steps += 1;
            if let Outcome::Refused = self.step(tally) {
                return Outcome::Refused;
            }
            let captured = self.disk.lock().expect("disk lock").captured.take();
            if let Some(image) = captured {
                tally.power_cuts_at_sync_point += 1;
                if let Outcome::Refused = self.power_cut(image, tally) {
                    return Outcome::Refused;
                }
            }
        }
        Outcome::Completed
    }

    fn step(&mut self, tally: &mut Tally) -> Outcome {
        match self.rng.gen_range(0..100) {
            0..=64 => self.commit_next(tally),
            65..=71 => self.sync(tally),
            72..=76 => self.restart(tally),
            77..=79 => self.disk_full_commit(tally),
            80..=81 => self.disk_full_snapshot(tally),
            _ => {
                let image = {
                    let mut disk = self.disk.lock().expect("disk lock");
                    disk.crash_image()
                };
                self.power_cut(image, tally)
            }
        }
    }

    fn store(&mut self) -> &mut BlockStore {
        self.store.as_mut().expect("the store is open between steps")
    }

    fn commit_next(&mut self, tally: &mut Tally) -> Outcome {
        let next = self.committed_height + 1;
        if next as usize > self.reference.blocks.len() {
            return self.sync(tally);
        }
        let block = &self.reference.blocks[next as usize - 1];
        let result = self.store().commit(&block.header, &block.txs, &block.receipts, &block.delta);
        if let Err(error) = result {
            self.fail(format!("commit of block {next} failed: {error}"));
        }
        tally.blocks_committed += 1;
        self.after_append(next);
        let state = &self.reference.states[next as usize];
        match self.store().snapshot_if_due(state) {
            Ok(true) => {
                tally.snapshots_written += 1;
                self.set_heights(next, next);
                self.unsynced_blocks = 0;
            }
            Ok(false) => {}
            Err(error) => self.fail(format!("snapshot at {next} failed: {error}")),
        }
        Outcome::Completed
    }

    /// Applies the mode's promise after block `height` was appended.
    fn after_append(&mut self, height: u64) {
        let promised = match self.config.durability {
            Durability::Sync => height,
            Durability::Batch { blocks_max, .. } => {
                self.unsynced_blocks += 1;
                if self.unsynced_blocks >= blocks_max {
                    self.unsynced_blocks = 0;
                    height
                } else {
                    self.promised_height
                }
            }
            Durability::None => self.promised_height,
        };
        self.set_heights(height, promised);
    }

    fn sync(&mut self, tally: &mut Tally) -> Outcome {
        if let Err(error) = self.store().sync() {
            self.fail(format!("sync failed: {error}"));
        }
        tally.group_syncs += 1;
        self.unsynced_blocks = 0;
        self.set_heights(self.committed_height, self.committed_height);
        Outcome::Completed
    }

    /// A clean stop and start (the `Drop` of a `batch` or `sync` log syncs).
    fn restart(&mut self, tally: &mut Tally) -> Outcome {
        tally.restarts += 1;
        self.disk.lock().expect("disk lock").frozen = true;
        let durable_on_drop = self.config.durability != Durability::None;
        drop(self.store.take());
        self.disk.lock().expect("disk lock").frozen = false;
        if durable_on_drop {
            self.set_heights(self.committed_height, self.committed_height);
        }
        // Without a power cut every record is still in the page cache.
        self.recover(None, 0, tally)
    }

    /// A full disk while the next block commits: segment creation fails
    /// with a named error and the store stays usable; without a new segment
    /// the commit simply succeeds.
    fn disk_full_commit(&mut self, tally: &mut Tally) -> Outcome {
        let next = self.committed_height + 1;
        if next as usize > self.reference.blocks.len() {
            return Outcome::Completed;
        }
        let block = &self.reference.blocks[next as usize - 1];
        let result = with_file_size_limit(|| {
            let store = self.store.as_mut().expect("open");
            store.commit(&block.header, &block.txs, &block.receipts, &block.delta)
        });
        match result {
            Ok(_) => self.after_append(next),
            Err(PersistError::Log(LogError::DiskFull { .. })) => {
                tally.disk_full_commits += 1;
                if self.store().height() != self.committed_height {
                    self.fail("a failed commit moved the store's height".into());
                }
            }
            Err(error) => self.fail(format!("a full disk gave {error}, not DiskFull")),
        }
        Outcome::Completed
    }

    /// A full disk while a snapshot is written: a named error, nothing else.
    fn disk_full_snapshot(&mut self, tally: &mut Tally) -> Outcome {
        let height = self.committed_height;
        let state = &self.reference.states[height as usize];
        let result = with_file_size_limit(|| self.store.as_mut().expect("open").write_snapshot(state));
        match result {
            Ok(()) => self.fail("a snapshot was written past the file size limit".into()),
            Err(PersistError::Log(LogError::DiskFull { .. } | LogError::Io { .. })) => tally.disk_full_snapshots += 1,
            Err(error) => self.fail(format!("a full disk during a snapshot gave {error}")),
        }
        // The log was synced before the snapshot was tried.
        self.unsynced_blocks = 0;
        self.set_heights(height, height);
        Outcome::Completed
    }

    /// Power is cut: the store's process dies with it, and the disk holds
    /// `image`, perhaps damaged further; then the store is opened again.
    fn power_cut(&mut self, image: CrashImage, tally: &mut Tally) -> Outcome {
        tally.power_cuts += 1;
        self.disk.lock().expect("disk lock").frozen = true;
        drop(self.store.take());
        let CrashImage {
            mut segments,
            mut snapshots,
            promised_height,
            committed_height,
            in_flight,
            misdirected,
            mut damage,
        } = image;
        if misdirected {
            damage.push(Damage::Misdirected);
        }
        if self.rng.gen_bool(0.05) {
            if let Some(flip) = flip_sealed_segment(&mut self.rng, &mut segments) {
                tally.segment_flips += 1;
                damage.push(flip);
            }
        }
        if self.rng.gen_bool(0.08) && !snapshots.is_empty() {
            let names: Vec<String> = snapshots.keys().cloned().collect();
            let bytes = snapshots.get_mut(&names[self.rng.gen_range(0..names.len())]).expect("listed");
            let at = self.rng.gen_range(0..bytes.len());
            bytes[at] ^= 1 << self.rng.gen_range(0..8);
            tally.snapshot_flips += 1;
            damage.push(Damage::SnapshotFlip);
        }
        write_dir_files(&self.dir.join("log"), ".seg", &segments);
        write_dir_files(&self.dir.join("snapshots"), ".snap", &snapshots);
        {
            let mut disk = self.disk.lock().expect("disk lock");
            disk.durable = segments;
            disk.misdirected.clear();
            disk.frozen = false;
        }
        self.say(|| format!("power cut: promised {promised_height}, committed {committed_height}, damage {damage:?}"));
        self.set_heights(committed_height, promised_height);
        self.recover(Some(&damage), u64::from(in_flight), tally)
    }

    /// Opens the store again and checks everything the module doc lists.
    /// `damage`: `None` for a restart without a power cut. `in_flight`:
    /// blocks being committed when the power went, which may survive.
    fn recover(&mut self, damage: Option<&[Damage]>, in_flight: u64, tally: &mut Tally) -> Outcome {
        tally.recoveries += 1;
        let damaged_log = damage.is_some_and(|d| d.iter().any(|d| *d != Damage::SnapshotFlip));
        let log_report = verify_log(&self.dir.join("log"));
        {
            // A crash during this open leaves the damage on the disk, and
            // damage may take promised blocks with it.
            let mut disk = self.disk.lock().expect("disk lock");
            disk.damage_on_disk = damage.map(<[Damage]>::to_vec).unwrap_or_default();
            if damaged_log {
                disk.promised_height = 0;
            }
        }
        let opened =
            BlockStore::open_with_sync_hook(&self.dir, self.config.clone(), &self.reference.genesis, self.hook());
        self.disk.lock().expect("disk lock").damage_on_disk.clear();
        let (store, resumed) = match opened {
            Ok(opened) => opened,
            Err(error) => return self.refused(error, damaged_log, damage.unwrap_or(&[]), tally),
        };
        let height = resumed.height;
        if height > self.committed_height + in_flight {
            self.fail(format!("recovered height {height} above the committed {}", self.committed_height));
        }
        if resumed.last_hash != self.reference.hash_at(height)
            || resumed.state.root() != self.reference.states[height as usize].root()
        {
            self.fail(format!("recovered a wrong state at height {height}"));
        }
        if !resumed.report.snapshots_skipped.is_empty() {
            tally.snapshots_skipped += 1;
        }
        let torn = log_report.as_ref().ok().and_then(|report| report.torn_tail.clone());
        if torn.as_ref().is_some_and(|torn| torn.records_cut > 0) {
            tally.recoveries_with_holes_cut += 1;
        }
        if height < self.promised_height {
            if !damaged_log {
                tally.acknowledged_lost += 1;
                self.fail(format!("lost promised blocks: recovered {height} < promised {}", self.promised_height));
            }
            if torn.is_none() {
                tally.undetected_damage += 1;
                self.fail(format!("promised blocks vanished without a torn tail report: {height}"));
            }
            tally.damage_cut_as_tail += 1;
        }
        if let Some(Damage::SegmentFlip(segment, offset)) =
            damage.and_then(|d| d.iter().find(|d| matches!(d, Damage::SegmentFlip(..)))).copied()
        {
            let reported = torn.as_ref().map(|torn| (torn.segment_index, torn.offset));
            if reported.is_none_or(|at| at > (segment, offset)) {
                tally.undetected_damage += 1;
                self.fail(format!(
                    "a flip at {segment}:{offset} opened without a report at or before it: {reported:?}"
                ));
            }
            tally.damage_cut_as_tail += 1;
        }
        self.check_audits(height, &resumed.state);
        self.check_idempotent(store, height);
        self.say(|| format!("recovered at {height}"));
        self.unsynced_blocks = 0;
        // Open syncs what it kept: everything recovered is durable now.
        self.set_heights(height, height);
        Outcome::Completed
    }

    fn refused(&mut self, error: PersistError, damaged_log: bool, damage: &[Damage], tally: &mut Tally) -> Outcome {
        if !damaged_log {
            tally.power_cut_refusals += 1;
            self.fail(format!("the store refused to open after a power cut alone: {error}"));
        }
        let PersistError::Log(LogError::Corrupt { segment_index, offset, .. }) = &error else {
            self.fail(format!("damage was refused, but not as Corrupt with an offset: {error}"));
        };
        if let Some(Damage::SegmentFlip(segment, at)) = damage.iter().find(|d| matches!(d, Damage::SegmentFlip(..))) {
            let misdirected = damage.contains(&Damage::Misdirected);
            if !misdirected && (*segment_index, *offset) > (*segment, *at) {
                self.fail(format!("a flip at {segment}:{at} was named at {segment_index}:{offset}"));
            }
        }
        self.say(|| format!("refused: {error}"));
        tally.damage_refused += 1;
        Outcome::Refused
    }

    fn check_audits(&self, height: u64, state: &State) {
        match verify_store(&self.dir) {
            Ok(report) if report.height == height => {}
            Ok(report) => self.fail(format!("verify_store reached {}, open {height}", report.height)),
            Err(error) => self.fail(format!("verify_store failed after recovery: {error}")),
        }
        match replay_from_deltas(&self.dir, ReplayOptions { from_genesis: true }) {
            Ok(report) if report.height == height && report.state_root == state.root() => {}
            Ok(report) => self.fail(format!("replay reached {} with another root, open {height}", report.height)),
            Err(error) => self.fail(format!("replay failed after recovery: {error}")),
        }
    }

    fn check_idempotent(&mut self, store: BlockStore, height: u64) {
        self.disk.lock().expect("disk lock").frozen = true;
        drop(store);
        let again =
            BlockStore::open_with_sync_hook(&self.dir, self.config.clone(), &self.reference.genesis, self.hook());
        self.disk.lock().expect("disk lock").frozen = false;
        match again {
            Ok((store, resumed)) if resumed.height == height && resumed.report.torn_tail_bytes == 0 => {
                self.store = Some(store);
            }
            Ok((_, resumed)) => self.fail(format!(
                "a second recovery differs: height {} (first {height}), torn {} bytes",
                resumed.height, resumed.report.torn_tail_bytes
            )),
            Err(error) => self.fail(format!("a second recovery failed: {error}")),
        }
    }
}

/// Flips one bit of a sealed (not the last) segment; `None` if there is
/// only one segment.
fn flip_sealed_segment(rng: &mut ChaCha8Rng, segments: &mut BTreeMap<String, Vec<u8>>) -> Option<Damage> {
    if segments.len() < 2 {
        return None;
    }
    let index = rng.gen_range(0..segments.len() - 1);
    let (name, bytes) = segments.iter_mut().nth(index).expect("in range");
    let at = rng.gen_range(0..bytes.len());
    bytes[at] ^= 1 << rng.gen_range(0..8);
    let segment: u64 = name.trim_end_matches(".seg").parse().expect("segment name");
    Some(Damage::SegmentFlip(segment, at as u64))
}

/// Runs `operation` with new files limited to `DISK_FULL_FILE_BYTES`, which
/// the kernel enforces (EFBIG, the same path as ENOSPC) on `fallocate` and
/// `write`. SIGXFSZ is ignored in `main`.
#[allow(unsafe_code)] // setrlimit(2): a simulated full disk
fn with_file_size_limit<T>(operation: impl FnOnce() -> T) -> T {
    let limit = libc::rlimit { rlim_cur: DISK_FULL_FILE_BYTES, rlim_max: libc::RLIM_INFINITY };
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads the struct we pass; no memory is shared.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
    let result = operation();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &unlimited) }, 0);
    result
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|value| value.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

/// A fast place for the simulated disks: /dev/shm where there is one.
fn sim_root() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("temporary directory")
}

/// Seeds that found bugs; they run first, every time.
/// * 56012: under `none`, a power cut lost the last records of a sealed
///   segment whole, so it seemed to end cleanly, and the next segment's
///   first record failed the chain check: recovery refused a power cut.
///   Now classified as a hole (`storage/src/scan.rs`, "unchained start").
/// * 103332 and 151541 caught the simulator itself: a crash during the
///   recovery of a damaged image was judged as a plain power cut, against
///   a promise the damage had already voided.
const REGRESSION_SEEDS: &[u64] = &[56_012, 103_332, 151_541];

#[allow(unsafe_code)] // signal(2): SIGXFSZ ignored, so a full disk is EFBIG
fn main() {
    // SAFETY: installs the ignore disposition for one signal, before any
    // thread of ours runs; a full disk then shows as EFBIG, not a kill.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let verbose = std::env::var_os("SLUICE_SIM_VERBOSE").is_some();
    let seeds: Vec<u64> = match env_u64("SLUICE_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let first = env_u64("SLUICE_SIM_SEED_FIRST").unwrap_or(0);
            let count = env_u64("SLUICE_SIM_SEEDS").unwrap_or(SEEDS_DEFAULT);
            REGRESSION_SEEDS.iter().copied().chain(first..first + count).collect()
        }
    };
    let reference = reference();
    let root = sim_root();
    let mut tally = Tally::default();
    let mut refused_seeds = 0u64;
    for &seed in &seeds {
        let mut run = Run::new(seed, reference, root.path(), verbose);
        if let Outcome::Refused = run.run(&mut tally) {
            refused_seeds += 1;
        }
        let disk = run.disk.lock().expect("disk lock");
        tally.misdirected_writes += disk.misdirected_writes;
        tally.images_ordered += disk.images_ordered;
        tally.images_reordered += disk.images_reordered;
        tally.chunks_lost += disk.chunks_lost;
        tally.chunks_torn += disk.chunks_torn;
        drop(disk);
        drop(run.store.take());
        fs::remove_dir_all(&run.dir).expect("seed dir removes");
        tally.seeds += 1;
    }
    println!("storage_faults: {} seeds, {} ended refused after damage", tally.seeds, refused_seeds);
    println!("{tally:#?}");
    assert!(tally.power_cuts > 0 && tally.recoveries > 0, "the simulator never cut the power");
    assert_eq!(tally.acknowledged_lost + tally.power_cut_refusals + tally.undetected_damage, 0);
}
