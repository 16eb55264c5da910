//! [`BlockStore`]: the engine's side of the commit log.
//!
//! `open` either creates a store (writing its origin record) or resumes one:
//! it recovers the log (cutting a torn tail), loads the newest snapshot that
//! agrees with the log, and applies the delta of every later block, checking
//! each block's parent hash and state root. `commit` appends one block
//! record; `snapshot_if_due` writes the full state every
//! `snapshot_interval_blocks` blocks.
//!
//! Ordering rules that keep a crash safe:
//! * a block is reported committed only after `CommitLog::append` returned,
//!   which (per durability mode) is what the log promises survives;
//! * the log is synced before a snapshot is written, so a snapshot is never
//!   ahead of the durable log; resume still skips any snapshot above the
//!   log's last height (a log restored from an older copy, say).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice_storage::format::{RECORD_ALIGN_BYTES, RECORD_HEADER_SIZE_BYTES, SEGMENT_HEADER_SIZE_BYTES};
use sluice_storage::{CommitLog, Durability, LogConfig, LogError, RecordIter, RecordMeta, SnapshotStore, SyncHook};

use super::codec::{
    decode_block_record, decode_snapshot, encode_snapshot, BlockRecordRef, GenesisParams, OriginRecord, RecordError,
    RestoredBase, StoreOrigin,
};
use super::{
    OriginStateError, PersistError, LOG_DIR_NAME, RECORD_KIND_BLOCK, RECORD_KIND_GENESIS,
    RECORD_KIND_GENESIS_APP_STATE, RECORD_KIND_RESTORED, SNAPSHOTS_DIR_NAME,
};
use crate::block::BlockHeader;
use crate::exec::Receipt;
pub use crate::limits::{
    BLOCK_DELTA_BYTES_ROOM, BLOCK_RECORD_BODY_BYTES_MAX, BLOCK_RECORD_BYTES_MAX, ORIGIN_RECORD_BYTES_MAX,
    SNAPSHOT_INTERVAL_BLOCKS_DEFAULT, STORE_RECORD_BYTES_MAX, STORE_SEGMENT_SIZE_BYTES_DEFAULT,
};
use crate::state::{GenesisKeys, State, StateDelta};

/// Snapshots kept: more than one, so a damaged newest one has a fallback.
pub const SNAPSHOTS_KEPT_DEFAULT: usize = 3;

/// How a store is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    pub durability: Durability,
    /// A snapshot is written after every block whose height is a multiple of this (≥ 1).
    pub snapshot_interval_blocks: u64,
    pub snapshots_kept: usize,
    /// Size of new log segments. Tests use small segments to cross segment
    /// boundaries; the largest record accepted shrinks to fit.
    pub segment_size_bytes: u64,
}

impl StoreConfig {
    pub fn new(durability: Durability) -> StoreConfig {
        StoreConfig {
            durability,
            snapshot_interval_blocks: SNAPSHOT_INTERVAL_BLOCKS_DEFAULT,
            snapshots_kept: SNAPSHOTS_KEPT_DEFAULT,
            segment_size_bytes: STORE_SEGMENT_SIZE_BYTES_DEFAULT,
        }
    }

    fn log_config(&self, dir: &Path) -> LogConfig {
        let mut config = LogConfig::new(dir);
        config.durability = self.durability;
        config.segment_size_bytes = self.segment_size_bytes;
        config.record_size_max = self.record_bytes_max();
        config
    }

    /// The largest record the log takes: `STORE_RECORD_BYTES_MAX`, or what
    /// fits beside the segment and record headers of a smaller segment.
    pub fn record_bytes_max(&self) -> u64 {
        let headers = SEGMENT_HEADER_SIZE_BYTES + RECORD_HEADER_SIZE_BYTES;
        let fits = self.segment_size_bytes.saturating_sub(headers) / RECORD_ALIGN_BYTES * RECORD_ALIGN_BYTES;
        STORE_RECORD_BYTES_MAX.min(fits)
    }

    /// The largest block record a store with this config commits:
    /// `BLOCK_RECORD_BYTES_MAX`, less only with segments too small for it.
    /// What executes a block checks its record against this before the
    /// block changes state, so that commit never fails for size.
    pub fn block_record_bytes_max(&self) -> u64 {
        BLOCK_RECORD_BYTES_MAX.min(self.record_bytes_max())
    }
}

/// What `open` rebuilt.
pub struct Resumed {
    pub state: State,
    /// Height of the last committed block; 0 for a new store.
    pub height: u64,
    /// Hash of the last committed block; zeros for a new store.
    pub last_hash: [u8; 32],
    pub report: ResumeReport,
}

/// How `open` (or `replay_from_deltas`) got there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResumeReport {
    /// True if the store was new and its origin record was written.
    pub created: bool,
    /// Height of the snapshot state was rebuilt from; `None`: genesis.
    pub snapshot_height: Option<u64>,
    /// Blocks whose deltas were applied after the snapshot (or genesis).
    pub blocks_replayed: u64,
    /// Transactions in those blocks.
    pub txs_replayed: u64,
    /// Bytes of torn tail cut by log recovery.
    pub torn_tail_bytes: u64,
    /// Snapshots skipped, with why (damaged, ahead of the log, disagreeing).
    pub snapshots_skipped: Vec<String>,
    /// Where the time went: restart cost is reported per part, because the
    /// parts grow with different things (log length, state size, blocks
    /// since the last snapshot).
    pub timings: OpenTimings,
}

/// How long each part of opening a store (or of `replay_from_deltas`) took.
/// The parts are disjoint; what they leave out of the whole (locking,
/// reading the genesis record, listing snapshots) is small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenTimings {
    /// Opening the log: reading every record and checking its checksums and
    /// the hash chain, cutting a torn tail. Grows with the log's length.
    pub log_scan: Duration,
    /// Reading, decoding and checking the snapshots tried, skipped ones
    /// included: the state root is rebuilt from every account. Grows with
    /// the number of accounts.
    pub snapshot_load: Duration,
    /// Building the genesis state, when the store is new or no snapshot was
    /// usable. Zero when a snapshot was used.
    pub genesis_state: Duration,
    /// Applying the deltas of the blocks after the snapshot (or genesis),
    /// checking each parent hash and state root. Grows with the blocks since
    /// the last snapshot.
    pub delta_replay: Duration,
}

/// The commit log and snapshot store of one chain.
pub struct BlockStore {
    dir: PathBuf,
    config: StoreConfig,
    log: CommitLog,
    snapshots: SnapshotStore,
    height: u64,
    last_hash: [u8; 32],
    last_state_root: [u8; 32],
    /// Reused encoding buffer: a block record is encoded here, then copied
    /// once into the log's map.
    scratch: Vec<u8>,
    /// Log bytes this store appended since it was opened, record headers
    /// and padding included.
    appended_bytes: u64,
}

impl BlockStore {
    /// Opens or creates the store in `dir` with default segment and snapshot
    /// settings other than those given.
    pub fn open(
        dir: impl Into<PathBuf>,
        durability: Durability,
        snapshot_interval_blocks: u64,
        genesis: &GenesisParams,
    ) -> Result<(BlockStore, Resumed), PersistError> {
        let config = StoreConfig { snapshot_interval_blocks, ..StoreConfig::new(durability) };
        BlockStore::open_with_config(dir, config, genesis)
    }

    /// Opens or creates the store. A new store gets the genesis record; an
    /// existing one must have been created with the same `genesis`, and is
    /// resumed from its newest usable snapshot and the blocks after it. The
    /// genesis state, when needed, is derived from the seed.
    pub fn open_with_config(
        dir: impl Into<PathBuf>,
        config: StoreConfig,
        genesis: &GenesisParams,
    ) -> Result<(BlockStore, Resumed), PersistError> {
        BlockStore::open_inner(dir.into(), config, genesis, &|| genesis.state().map_err(OriginStateError::Seeded), None)
    }

    /// `open_with_config` with a hook called at every sync point of the log:
    /// the storage-fault simulator (`engine/tests/storage_faults.rs`) keeps
    /// from it the image a power cut would leave.
    #[doc(hidden)]
    pub fn open_with_sync_hook(
        dir: impl Into<PathBuf>,
        config: StoreConfig,
        genesis: &GenesisParams,
        hook: SyncHook,
    ) -> Result<(BlockStore, Resumed), PersistError> {
        BlockStore::open_inner(
            dir.into(),
            config,
            genesis,
            &|| genesis.state().map_err(OriginStateError::Seeded),
            Some(hook),
        )
    }

    /// `open_with_config` for a caller that also signs with the genesis keys
    /// (`sluice run`): the genesis state, when needed, is built from `keys`,
    /// so each key is derived at most once between the store and the caller,
    /// and not at all when a snapshot holds the state. The keys must be those
    /// of `genesis` (same seed and account count); the genesis root in the
    /// log is checked against the state they give, as always.
    pub fn open_with_genesis_keys(
        dir: impl Into<PathBuf>,
        config: StoreConfig,
        genesis: &GenesisParams,
        keys: &GenesisKeys,
    ) -> Result<(BlockStore, Resumed), PersistError> {
        if keys.seed() != genesis.seed || keys.len() as u64 != u64::from(genesis.accounts) {
            return Err(PersistError::Genesis {
                reason: format!(
                    "the genesis keys given are those of seed {} and {} accounts, not of {genesis}",
                    keys.seed(),
                    keys.len()
                ),
            });
        }
        BlockStore::open_inner(dir.into(), config, genesis, &|| Ok(keys.state()), None)
    }

    fn open_inner(
        dir: PathBuf,
        config: StoreConfig,
        genesis: &GenesisParams,
        genesis_state: GenesisStateFn<'_>,
        hook: Option<SyncHook>,
    ) -> Result<(BlockStore, Resumed), PersistError> {
        let mut opened = OpenedLog::open(&dir, &config, hook)?;
        let resumed = if opened.records == 0 {
            let start = Instant::now();
            let state = genesis_state()?;
            let genesis_time = start.elapsed();
            let origin = OriginRecord { origin: StoreOrigin::Seeded(genesis.clone()), state_root: state.root() };
            append_origin(&mut opened.log, &origin)?;
            let timings = OpenTimings { genesis_state: genesis_time, ..OpenTimings::default() };
            let report = ResumeReport { created: true, timings, ..ResumeReport::default() };
            Resumed { state, height: 0, last_hash: [0; 32], report }
        } else {
            let stored = read_origin(opened.log.records())?;
            if stored.origin != StoreOrigin::Seeded(genesis.clone()) {
                return Err(PersistError::GenesisMismatch { stored: Box::new(stored.origin), given: genesis.clone() });
            }
            opened.rebuild(&stored, genesis_state)?
        };
        Ok(BlockStore::resumed(dir, config, opened, resumed))
    }

    /// Opens the store in `dir` if it holds a chain, rebuilding state from
    /// the origin its log starts with (genesis or a restored snapshot) and
    /// the blocks after it; `None` if `dir` holds no chain yet. Creates
    /// nothing when `dir` has no log: `sluice node` creates its store only
    /// once InitChain or state sync says what the chain is.
    pub fn open_existing(
        dir: impl Into<PathBuf>,
        config: StoreConfig,
    ) -> Result<Option<(BlockStore, Resumed, StoreOrigin)>, PersistError> {
        let dir = dir.into();
        if !dir.join(LOG_DIR_NAME).is_dir() {
            return Ok(None);
        }
        let mut opened = OpenedLog::open(&dir, &config, None)?;
        if opened.records == 0 {
            return Ok(None);
        }
        let stored = read_origin(opened.log.records())?;
        if let StoreOrigin::Restored(base) = &stored.origin {
            opened.snapshots.pin(base.height);
        }
        let base_state = || origin_state(&stored.origin, Some(&opened.snapshots));
        let resumed = opened.rebuild(&stored, &base_state)?;
        let (store, resumed) = BlockStore::resumed(dir, config, opened, resumed);
        Ok(Some((store, resumed, stored.origin)))
    }

    /// Creates a store whose chain begins at genesis `origin` (not a
    /// restore), whose state `state` is. Refuses a directory that already
    /// holds a chain. The origin record is durable when this returns.
    pub fn create(
        dir: impl Into<PathBuf>,
        config: StoreConfig,
        origin: StoreOrigin,
        state: &State,
    ) -> Result<BlockStore, PersistError> {
        assert!(!matches!(origin, StoreOrigin::Restored(_)), "create_restored writes a restored store");
        let dir = dir.into();
        let mut opened = OpenedLog::open_empty(&dir, &config)?;
        append_origin(&mut opened.log, &OriginRecord { origin, state_root: state.root() })?;
        Ok(BlockStore::assemble(dir, config, opened.log, opened.snapshots, (0, [0; 32], state.root())))
    }

    /// Creates a store whose chain begins at a snapshot restored by state
    /// sync: `snapshot` is the snapshot's bytes (as `encode_snapshot`
    /// writes them), already checked by the caller against the root it
    /// trusts, which is `state_root`. The snapshot is written before the
    /// log names it, so the log never refers to a snapshot that is not
    /// there; both are durable when this returns.
    pub fn create_restored(
        dir: impl Into<PathBuf>,
        config: StoreConfig,
        base: RestoredBase,
        snapshot: &[u8],
        state_root: [u8; 32],
    ) -> Result<BlockStore, PersistError> {
        assert!(base.height > 0, "a restored store starts above genesis");
        let dir = dir.into();
        let mut opened = OpenedLog::open_empty(&dir, &config)?;
        opened.snapshots.pin(base.height);
        opened.snapshots.write(base.height, snapshot)?;
        let tip = (base.height, base.block_hash, state_root);
        append_origin(&mut opened.log, &OriginRecord { origin: StoreOrigin::Restored(base), state_root })?;
        Ok(BlockStore::assemble(dir, config, opened.log, opened.snapshots, tip))
    }

    /// The store after `open` rebuilt `resumed` from `opened`.
    fn resumed(dir: PathBuf, config: StoreConfig, opened: OpenedLog, mut resumed: Resumed) -> (BlockStore, Resumed) {
        resumed.report.torn_tail_bytes = opened.torn_tail_bytes;
        resumed.report.timings.log_scan = opened.log_scan;
        let tip = (resumed.height, resumed.last_hash, resumed.state.root());
        (BlockStore::assemble(dir, config, opened.log, opened.snapshots, tip), resumed)
    }

    /// `tip`: height, hash and state root of the last block (or the origin).
    fn assemble(
        dir: PathBuf,
        config: StoreConfig,
        log: CommitLog,
        snapshots: SnapshotStore,
        tip: (u64, [u8; 32], [u8; 32]),
    ) -> BlockStore {
        let (height, last_hash, last_state_root) = tip;
        BlockStore {
            dir,
            config,
            log,
            snapshots,
            height,
            last_hash,
            last_state_root,
            scratch: Vec::new(),
            appended_bytes: 0,
        }
    }

    /// Appends block `header` with its accepted transactions' bytes, their
    /// receipts and the delta it applied. Returns once the log's durability
    /// mode says the block survives (see docs/operations.md); only then may
    /// it be reported as committed.
    pub fn commit<T: AsRef<[u8]>>(
        &mut self,
        header: &BlockHeader,
        txs: &[T],
        receipts: &[Receipt],
        delta: &StateDelta,
    ) -> Result<RecordMeta, PersistError> {
        self.commit_record(BlockRecordRef { header, txs, receipts, delta }, RootCheck::Recompute)
    }

    fn commit_record<T: AsRef<[u8]>>(
        &mut self,
        record: BlockRecordRef<'_, T>,
        roots: RootCheck,
    ) -> Result<RecordMeta, PersistError> {
        let header = record.header;
        if header.height != self.height + 1 || header.parent_hash != self.last_hash {
            return Err(PersistError::InvalidBlock {
                reason: format!(
                    "block {} with parent {} does not follow block {} ({})",
                    header.height,
                    hex::encode(header.parent_hash),
                    self.height,
                    hex::encode(self.last_hash)
                ),
            });
        }
        let bytes = record.validate_shape()?;
        match roots {
            RootCheck::Recompute => record.check_roots()?,
            // Debug builds (and every test) still hash the body, so a
            // caller that breaks the promise fails there.
            RootCheck::FromExecutor => debug_assert_eq!(record.check_roots(), Ok(()), "executor roots match"),
        }
        self.scratch.clear();
        self.scratch.reserve(bytes);
        record.encode_into(&mut self.scratch);
        assert_eq!(self.scratch.len(), bytes, "validate() sizes the encoding exactly");
        let meta = self.log.append(RECORD_KIND_BLOCK, header.height, &self.scratch)?;
        self.appended_bytes += sluice_storage::format::record_size_bytes(u64::from(meta.payload_len));
        self.height = header.height;
        self.last_hash = header.hash();
        self.last_state_root = header.state_root;
        Ok(meta)
    }

    pub fn appended_bytes(&self) -> u64 {
        self.appended_bytes
    }

    /// True when the last committed block is due a snapshot.
    pub fn snapshot_due(&self) -> bool {
        self.height > 0 && self.height.is_multiple_of(self.config.snapshot_interval_blocks)
    }

    /// Writes a snapshot of `state` if one is due. `state` must be the state
    /// after the last committed block. Returns whether one was written.
    pub fn snapshot_if_due(&mut self, state: &State) -> Result<bool, PersistError> {
        if !self.snapshot_due() {
            return Ok(false);
        }
        self.write_snapshot(state)?;
        Ok(true)
    }

    /// Writes a snapshot of `state` at the last committed height. Syncs the
    /// log first, so the snapshot is never ahead of what survives.
    pub fn write_snapshot(&mut self, state: &State) -> Result<(), PersistError> {
        if state.root() != self.last_state_root {
            return Err(PersistError::InvalidBlock {
                reason: format!("snapshot state root does not match block {}", self.height),
            });
        }
        self.log.sync()?;
        let bytes = encode_snapshot(self.height, &self.last_hash, state);
        self.snapshots.write(self.height, &bytes)?;
        Ok(())
    }

    /// Makes every committed block durable, whatever the mode.
    pub fn sync(&mut self) -> Result<(), PersistError> {
        Ok(self.log.sync()?)
    }

    /// In `batch` mode, syncs if the group-commit interval has passed.
    pub fn sync_if_due(&mut self) -> Result<(), PersistError> {
        Ok(self.log.sync_if_due()?)
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn last_hash(&self) -> [u8; 32] {
        self.last_hash
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The largest block record this store commits (see
    /// `StoreConfig::block_record_bytes_max`).
    pub fn block_record_bytes_max(&self) -> u64 {
        self.config.block_record_bytes_max()
    }
}

/// Builds the genesis state when `open` or replay needs it. Deriving it from
/// the seed costs one ed25519 key derivation per account, so the caller
/// decides where it comes from (see `BlockStore::open_with_genesis_keys`).
pub(crate) type GenesisStateFn<'a> = &'a dyn Fn() -> Result<State, OriginStateError>;

/// A store's log and snapshot store, opened (the log recovered) but not yet read.
struct OpenedLog {
    log: CommitLog,
    snapshots: SnapshotStore,
    records: u64,
    torn_tail_bytes: u64,
    log_scan: std::time::Duration,
}

impl OpenedLog {
    fn open(dir: &Path, config: &StoreConfig, hook: Option<SyncHook>) -> Result<OpenedLog, PersistError> {
        if config.snapshot_interval_blocks == 0 {
            return Err(PersistError::InvalidBlock { reason: "snapshot interval must be at least 1 block".into() });
        }
        let scan_start = Instant::now();
        let log_config = config.log_config(&dir.join(LOG_DIR_NAME));
        let (log, recovery) = match hook {
            None => CommitLog::open(log_config)?,
            Some(hook) => CommitLog::open_with_sync_hook(log_config, hook)?,
        };
        let log_scan = scan_start.elapsed();
        let snapshots = SnapshotStore::open(dir.join(SNAPSHOTS_DIR_NAME), config.snapshots_kept)?;
        let torn_tail_bytes = recovery.torn_tail.as_ref().map_or(0, |torn| torn.bytes);
        Ok(OpenedLog { log, snapshots, records: recovery.records, torn_tail_bytes, log_scan })
    }

    /// Opens a log that must hold no chain yet. Snapshots beside an empty
    /// log are leftovers of an attempt that died before its origin record
    /// (a state sync restore, say): they belong to no chain, and are removed.
    fn open_empty(dir: &Path, config: &StoreConfig) -> Result<OpenedLog, PersistError> {
        let opened = OpenedLog::open(dir, config, None)?;
        if opened.records != 0 {
            return Err(PersistError::Genesis {
                reason: format!("{} already holds a chain of {} records", dir.display(), opened.records),
            });
        }
        opened.snapshots.clear()?;
        Ok(opened)
    }

    fn rebuild(&self, stored: &OriginRecord, base_state: GenesisStateFn<'_>) -> Result<Resumed, PersistError> {
        let last_height = self.log.last().map_or(0, |meta| meta.height);
        rebuild(stored, base_state, Some(&self.snapshots), last_height, |height| self.log.records_from_height(height))
    }
}

/// Appends a store's first record and makes it durable whatever the mode:
/// a store whose first record vanished would be created again, possibly
/// differently.
fn append_origin(log: &mut CommitLog, record: &OriginRecord) -> Result<(), PersistError> {
    let payload = record.encode();
    debug_assert_eq!(OriginRecord::decode(record.origin.record_kind(), &payload).as_ref(), Ok(record));
    log.append(record.origin.record_kind(), record.origin.height(), &payload)?;
    log.sync()?;
    Ok(())
}

/// Reads the first record, which must be an origin record: a genesis
/// (kind 1 or 3, at height 0) or a restored base (kind 4).
pub(crate) fn read_origin(mut records: RecordIter<'_>) -> Result<OriginRecord, PersistError> {
    let record = match records.next() {
        None => return Err(PersistError::Genesis { reason: "the log is empty".into() }),
        Some(record) => record?,
    };
    let meta = record.meta;
    let is_genesis = matches!(meta.kind, RECORD_KIND_GENESIS | RECORD_KIND_GENESIS_APP_STATE) && meta.height == 0;
    if !is_genesis && meta.kind != RECORD_KIND_RESTORED {
        return Err(PersistError::Genesis {
            reason: format!(
                "the first record has kind {} at height {}, not a genesis or restored-base record",
                meta.kind, meta.height
            ),
        });
    }
    let decoded = OriginRecord::decode(meta.kind, &record.payload).map_err(|error| PersistError::Record {
        height: meta.height,
        segment: meta.segment,
        offset: meta.offset,
        error,
    })?;
    if decoded.origin.height() != meta.height {
        return Err(PersistError::Genesis {
            reason: format!("the origin record names height {} but sits at {}", decoded.origin.height(), meta.height),
        });
    }
    Ok(decoded)
}

/// The state at a store's origin: genesis built from its record, or, for a
/// restored store, its base snapshot (which must be in `snapshots` and sit
/// at the base's height and block). The caller checks the root.
pub(crate) fn origin_state(origin: &StoreOrigin, snapshots: Option<&SnapshotStore>) -> Result<State, OriginStateError> {
    if let Some(state) = origin.genesis_state() {
        return state;
    }
    let height = origin.height();
    let unreadable = |error| OriginStateError::BaseSnapshotUnreadable { height, error };
    let snapshots = snapshots.ok_or_else(|| unreadable(None))?;
    let bytes = snapshots.read(height).map_err(|e| unreadable(Some(e)))?;
    let contents =
        decode_snapshot(&bytes).map_err(|error| OriginStateError::BaseSnapshotUndecodable { height, error })?;
    if contents.height != height || contents.block_hash != origin.block_hash() {
        return Err(OriginStateError::BaseSnapshotMismatch { height, holds: contents.height });
    }
    Ok(State::from_accounts(contents.accounts))
}

/// Rebuilds state after the last block in the log: from the newest snapshot
/// that checks out against the log, else from genesis (built by
/// `genesis_state`, and checked against the root in the genesis record);
/// then applies every later block's delta. `records_after(h)` yields the
/// records above height h.
pub(crate) fn rebuild<'a>(
    origin: &OriginRecord,
    base_state: GenesisStateFn<'_>,
    snapshots: Option<&SnapshotStore>,
    last_height: u64,
    records_after: impl Fn(u64) -> RecordIter<'a>,
) -> Result<Resumed, PersistError> {
    let mut report = ResumeReport::default();
    if let Some(snapshots) = snapshots {
        // The base of a restored store is not tried here: it is the origin's state below.
        for height in snapshots.heights()?.into_iter().rev().filter(|h| *h > origin.origin.height()) {
            let start = Instant::now();
            let loaded = load_snapshot(snapshots, height, last_height, &records_after);
            report.timings.snapshot_load += start.elapsed();
            match loaded {
                Ok(base) => {
                    report.snapshot_height = Some(height);
                    return apply_blocks(base, records_after(height), report);
                }
                Err(reason) => report.snapshots_skipped.push(format!("snapshot {height}: {reason}")),
            }
        }
    }
    let start = Instant::now();
    let state = base_state()?;
    let (height, last_hash) = (origin.origin.height(), origin.origin.block_hash());
    // A restored store's base is a snapshot; anything else is genesis.
    match height {
        0 => report.timings.genesis_state = start.elapsed(),
        _ => report.timings.snapshot_load += start.elapsed(),
    }
    check_origin_root(origin, &state)?;
    if height > 0 {
        report.snapshot_height = Some(height);
    }
    let base = Resumed { state, height, last_hash, report: ResumeReport::default() };
    apply_blocks(base, records_after(height), report)
}

/// The origin's state must have the root its record holds: genesis built
/// the same way as when the store was created, or the restored base intact.
pub(crate) fn check_origin_root(origin: &OriginRecord, state: &State) -> Result<(), PersistError> {
    let height = origin.origin.height();
    if state.root() != origin.state_root {
        return Err(PersistError::RootMismatch {
            height,
            root: if height == 0 { "genesis state" } else { "restored base state" },
            header: origin.state_root,
            computed: state.root(),
        });
    }
    Ok(())
}

/// Loads snapshot `height` and checks it against block `height` in the log.
/// Any failure is a reason to skip it, never to trust it.
fn load_snapshot<'a>(
    snapshots: &SnapshotStore,
    height: u64,
    last_height: u64,
    records_after: &impl Fn(u64) -> RecordIter<'a>,
) -> Result<Resumed, SnapshotUnusable> {
    if height == 0 || height > last_height {
        return Err(SnapshotUnusable::AheadOfLog { last_height });
    }
    let bytes = snapshots.read(height).map_err(SnapshotUnusable::Log)?;
    let contents = decode_snapshot(&bytes).map_err(SnapshotUnusable::Record)?;
    if contents.height != height {
        return Err(SnapshotUnusable::WrongHeight { holds: contents.height });
    }
    let state = State::from_accounts(contents.accounts);
    if state.root() != contents.state_root {
        return Err(SnapshotUnusable::RootDiffers);
    }
    let header = match records_after(height - 1).next() {
        Some(Ok(record)) if record.meta.kind == RECORD_KIND_BLOCK && record.meta.height == height => {
            decode_block_record(&record.payload).map_err(SnapshotUnusable::Record)?.header
        }
        Some(Err(error)) => return Err(SnapshotUnusable::Log(error)),
        _ => return Err(SnapshotUnusable::NoBlockRecord { height }),
    };
    if header.hash() != contents.block_hash || header.state_root != contents.state_root {
        return Err(SnapshotUnusable::DisagreesWithLog { height });
    }
    Ok(Resumed { state, height, last_hash: contents.block_hash, report: ResumeReport::default() })
}

/// Why a snapshot was skipped on resume; the reason goes into
/// `ResumeReport::snapshots_skipped`.
#[derive(Debug)]
enum SnapshotUnusable {
    /// Above the log's last block (or at 0, which no snapshot is).
    AheadOfLog {
        last_height: u64,
    },
    /// Reading the snapshot, or its block from the log, failed.
    Log(LogError),
    /// The snapshot, or its block record, does not decode.
    Record(RecordError),
    /// The file holds the state after block `holds`.
    WrongHeight {
        holds: u64,
    },
    /// The accounts it holds do not hash to the root it stores.
    RootDiffers,
    NoBlockRecord {
        height: u64,
    },
    /// Its block hash or state root is not block `height`'s in the log.
    DisagreesWithLog {
        height: u64,
    },
}

impl fmt::Display for SnapshotUnusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotUnusable::AheadOfLog { last_height } => {
                write!(f, "ahead of the log, which ends at height {last_height}")
            }
            SnapshotUnusable::Log(error) => write!(f, "{error}"),
            SnapshotUnusable::Record(error) => write!(f, "{error}"),
            SnapshotUnusable::WrongHeight { holds } => write!(f, "holds height {holds}"),
            SnapshotUnusable::RootDiffers => write!(f, "rebuilt state root differs from the one it stores"),
            SnapshotUnusable::NoBlockRecord { height } => write!(f, "the log has no block record at height {height}"),
            SnapshotUnusable::DisagreesWithLog { height } => write!(f, "disagrees with block {height} in the log"),
        }
    }
}

/// The block a log record holds, or a named error carrying the record's
/// height, segment and offset: any kind other than a block, or a payload
/// that does not decode.
pub(crate) fn block_of_record(record: &sluice_storage::Record) -> Result<super::codec::BlockRecord, PersistError> {
    let meta = record.meta;
    if meta.kind != RECORD_KIND_BLOCK {
        return Err(PersistError::UnknownRecordKind {
            kind: meta.kind,
            height: meta.height,
            segment: meta.segment,
            offset: meta.offset,
        });
    }
    decode_block_record(&record.payload).map_err(|error| PersistError::Record {
        height: meta.height,
        segment: meta.segment,
        offset: meta.offset,
        error,
    })
}

/// Applies the delta of every block record in `records`, checking that each
/// follows the last (height, parent hash) and reproduces its state root.
fn apply_blocks(mut base: Resumed, records: RecordIter<'_>, mut report: ResumeReport) -> Result<Resumed, PersistError> {
    let start = Instant::now();
    for record in records {
        let record = record?;
        let meta = record.meta;
        let block = block_of_record(&record)?;
        check_follows(&block.header, &meta, base.height, &base.last_hash)?;
        base.state.apply(&block.delta);
        if base.state.root() != block.header.state_root {
            return Err(PersistError::RootMismatch {
                height: meta.height,
                root: "state",
                header: block.header.state_root,
                computed: base.state.root(),
            });
        }
        base.height = block.header.height;
        base.last_hash = block.header.hash();
        report.blocks_replayed += 1;
        report.txs_replayed += u64::from(block.header.tx_count);
    }
    report.timings.delta_replay = start.elapsed();
    base.report = report;
    Ok(base)
}

/// A block must sit at the next height, under its record's height, and name
/// the previous block as its parent.
pub(crate) fn check_follows(
    header: &BlockHeader,
    meta: &RecordMeta,
    height: u64,
    last_hash: &[u8; 32],
) -> Result<(), PersistError> {
    let chain = |reason: String| PersistError::Chain {
        height: meta.height,
        segment: meta.segment,
        offset: meta.offset,
        reason,
    };
    if header.height != meta.height {
        return Err(chain(format!("header height {} differs from the record's height", header.height)));
    }
    if header.height != height + 1 {
        return Err(chain(format!("follows block {height}: heights must increase by one")));
    }
    if header.parent_hash != *last_hash {
        return Err(chain(format!(
            "parent hash {} is not the hash of block {height} ({})",
            hex::encode(header.parent_hash),
            hex::encode(last_hash)
        )));
    }
    Ok(())
}

/// Whether committing a block hashes its body to check the header's
/// transactions and receipts roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RootCheck {
    /// Hash every transaction and receipt and refuse a mismatch.
    Recompute,
    /// The executor computed both roots from this very body moments ago
    /// (`CommittedBlock::roots_from_executor`): hashing it again cost the
    /// serial commit stage about a third of its time (10,000 SHA-256
    /// transaction hashes and two Merkle trees per block).
    FromExecutor,
}

/// The pipeline's commit stage writes into a `BlockStore`: the block under
/// the store's durability mode, then the snapshot the execute stage
/// attached, if one was due.
impl crate::pipeline::CommitSink for BlockStore {
    fn commit(&mut self, block: &crate::pipeline::CommittedBlock) -> Result<(), crate::pipeline::CommitError> {
        let record = BlockRecordRef {
            header: &block.header,
            txs: &block.raw_txs,
            receipts: &block.receipts,
            delta: &block.delta,
        };
        let roots = if block.roots_from_executor { RootCheck::FromExecutor } else { RootCheck::Recompute };
        self.commit_record(record, roots)?;
        if let Some(state) = &block.state_snapshot {
            self.write_snapshot(state)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::chain::Chain;
    use crate::exec::ExecutorKind;
    use crate::persist::{BlockRecordCheckError, BlockRecordCheckKind};
    use crate::program::ProgramRegistry;
    use crate::tx::{self, ChainId};
    use crate::workload::{self, WorkloadKind, WorkloadSpec};

    const SEED: u64 = 5;
    const ACCOUNTS: u32 = 8;

    fn params() -> GenesisParams {
        GenesisParams { chain_id: ChainId::default(), seed: SEED, accounts: ACCOUNTS }
    }

    /// Segments of 1 MiB: these blocks are a few hundred bytes, and each
    /// open store preallocates a whole segment, which a CI machine short
    /// of disk could not give (README.md, "Disk").
    fn config() -> StoreConfig {
        StoreConfig {
            snapshot_interval_blocks: 2,
            segment_size_bytes: 1024 * 1024,
            ..StoreConfig::new(Durability::None)
        }
    }

    /// Opens `dir`, counting how many times the genesis state is built.
    fn open_counting(dir: &Path) -> (BlockStore, Resumed, u32) {
        let builds = Cell::new(0);
        let genesis = params();
        let genesis_state = || {
            builds.set(builds.get() + 1);
            genesis.state().map_err(OriginStateError::Seeded)
        };
        let (store, resumed) = BlockStore::open_inner(dir.to_path_buf(), config(), &genesis, &genesis_state, None)
            .unwrap_or_else(|error| panic!("the store opens: {error}"));
        (store, resumed, builds.get())
    }

    /// Commits three blocks of two signed transfers; the snapshot interval
    /// of 2 leaves a snapshot at height 2 and one block after it.
    fn commit_three_blocks(store: &mut BlockStore, state: State) -> Chain {
        let spec = WorkloadSpec {
            kind: WorkloadKind::Uniform,
            accounts: ACCOUNTS,
            txs: 6,
            seed: SEED,
            chain: ChainId::default(),
        };
        let txs = workload::generate(&spec).expect("workload generates").txs;
        let mut chain = Chain::new(state, ProgramRegistry::native(), ExecutorKind::Serial);
        for raw in txs.chunks(2) {
            let decoded: Vec<_> = raw.iter().map(|bytes| tx::decode(bytes).expect("generated txs decode")).collect();
            let block = chain.execute_block(&decoded).expect("block executes");
            store.commit(&block.header, raw, &block.outcome.receipts, &block.outcome.delta).expect("block commits");
            store.snapshot_if_due(&chain.state).expect("snapshot writes");
        }
        chain
    }

    /// A block whose tx_root does not match its transactions: refused by
    /// `commit` and by a sink given `roots_from_executor: false`; with
    /// `true` the promise is the caller's, and debug builds hold it to it.
    fn block_with_wrong_tx_root(store: &BlockStore) -> crate::pipeline::CommittedBlock {
        let spec = WorkloadSpec {
            kind: WorkloadKind::Uniform,
            accounts: ACCOUNTS,
            txs: 2,
            seed: SEED,
            chain: ChainId::default(),
        };
        let raw = workload::generate(&spec).expect("workload generates").txs;
        let decoded: Vec<_> = raw.iter().map(|bytes| tx::decode(bytes).expect("generated txs decode")).collect();
        let mut chain = Chain::resume(
            params().state().expect("genesis state builds"),
            ProgramRegistry::native(),
            ExecutorKind::Serial,
            store.height,
            store.last_hash,
        );
        let mut block = chain.execute_block(&decoded).expect("block executes");
        block.header.tx_root[0] ^= 1;
        crate::pipeline::CommittedBlock {
            header: block.header,
            raw_txs: raw,
            receipts: block.outcome.receipts,
            delta: block.outcome.delta,
            state_snapshot: None,
            roots_from_executor: false,
        }
    }

    #[test]
    fn roots_are_recomputed_unless_the_executor_vouches() {
        use crate::pipeline::CommitSink;
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _, _) = open_counting(dir.path());
        let block = block_with_wrong_tx_root(&store);
        let refused = store.commit(&block.header, &block.raw_txs, &block.receipts, &block.delta);
        let tx_root_mismatch = BlockRecordCheckError { height: 1, kind: BlockRecordCheckKind::TxRootMismatch };
        assert!(matches!(refused, Err(PersistError::BlockCheck(error)) if error == tx_root_mismatch));
        let refused = CommitSink::commit(&mut store, &block).unwrap_err().to_string();
        assert!(refused.contains("tx_root does not match"), "{refused}");
        assert_eq!(store.height, 0, "nothing was appended");
        let vouched = crate::pipeline::CommittedBlock { roots_from_executor: true, ..block };
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| CommitSink::commit(&mut store, &vouched)));
        if cfg!(debug_assertions) {
            assert!(outcome.is_err(), "debug builds check a vouched block's roots too");
        }
    }

    #[test]
    fn genesis_is_built_only_when_no_snapshot_can_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, created, builds) = open_counting(dir.path());
        assert!(created.report.created);
        assert_eq!(builds, 1, "a new store builds genesis once");
        let chain = commit_three_blocks(&mut store, created.state);
        drop(store);

        let (store, resumed, builds) = open_counting(dir.path());
        assert_eq!(builds, 0, "a usable snapshot holds the state: no genesis keys are derived");
        assert_eq!(resumed.report.snapshot_height, Some(2));
        assert_eq!(resumed.report.blocks_replayed, 1);
        assert_eq!((resumed.height, resumed.last_hash, resumed.state.root()), (3, chain.last_hash, chain.state.root()));
        drop(store);

        std::fs::remove_dir_all(dir.path().join(SNAPSHOTS_DIR_NAME)).unwrap();
        let (_store, resumed, builds) = open_counting(dir.path());
        assert_eq!(builds, 1, "without a snapshot, genesis is built once and the deltas applied to it");
        assert_eq!(resumed.report.snapshot_height, None);
        assert_eq!(resumed.report.blocks_replayed, 3);
        assert_eq!((resumed.height, resumed.last_hash, resumed.state.root()), (3, chain.last_hash, chain.state.root()));
    }

    #[test]
    fn given_genesis_keys_must_be_those_of_the_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let other_seed = GenesisKeys::new(SEED + 1, ACCOUNTS).unwrap();
        let other_count = GenesisKeys::new(SEED, ACCOUNTS + 1).unwrap();
        for keys in [&other_seed, &other_count] {
            match BlockStore::open_with_genesis_keys(dir.path(), config(), &params(), keys) {
                Err(PersistError::Genesis { reason }) => assert!(reason.contains("genesis keys"), "{reason}"),
                Err(other) => panic!("wrong error: {other}"),
                Ok(_) => panic!("keys of another genesis were accepted"),
            }
        }
        assert!(!dir.path().join(LOG_DIR_NAME).exists(), "nothing is created for refused keys");

        let keys = GenesisKeys::new(SEED, ACCOUNTS).unwrap();
        let (mut store, created) = BlockStore::open_with_genesis_keys(dir.path(), config(), &params(), &keys)
            .unwrap_or_else(|error| panic!("the store opens with its own keys: {error}"));
        assert_eq!(created.state.root(), params().state().unwrap().root());
        let chain = commit_three_blocks(&mut store, created.state);
        drop(store);

        let keys = GenesisKeys::new(SEED, ACCOUNTS).unwrap();
        let (store, resumed) = BlockStore::open_with_genesis_keys(dir.path(), config(), &params(), &keys)
            .unwrap_or_else(|error| panic!("the store resumes with its own keys: {error}"));
        assert_eq!(resumed.report.snapshot_height, Some(2));
        assert_eq!(keys.derived(), 0, "the snapshot holds the state: no key is derived");
        drop(store);

        std::fs::remove_dir_all(dir.path().join(SNAPSHOTS_DIR_NAME)).unwrap();
        let (_store, resumed) = BlockStore::open_with_genesis_keys(dir.path(), config(), &params(), &keys)
            .unwrap_or_else(|error| panic!("the store resumes from genesis with its own keys: {error}"));
        assert_eq!((resumed.height, resumed.state.root()), (3, chain.state.root()));
        assert_eq!(keys.derived(), ACCOUNTS as usize, "the genesis state needs every id");
    }

    #[test]
    fn the_log_takes_every_block_record_the_limits_allow() {
        let config = StoreConfig::new(Durability::None);
        let log = config.log_config(Path::new("unused"));
        assert_eq!(log.record_size_max, STORE_RECORD_BYTES_MAX, "never storage's 16 MiB default");
        assert_eq!(config.block_record_bytes_max(), BLOCK_RECORD_BYTES_MAX);
        // Small segments (tests) shrink the largest record to what fits
        // beside the headers; what executes a block checks against it.
        let small = StoreConfig { segment_size_bytes: 32 * 1024, ..config };
        assert_eq!(small.block_record_bytes_max(), 32 * 1024 - 64 - 128);
        assert_eq!(small.log_config(Path::new("unused")).record_size_max, small.block_record_bytes_max());
    }
}
