//! Read-only audits of a store directory: `verify_store` checks structure,
//! `replay_from_deltas` and `replay_reexecute` check state.
//!
//! None of them locks, creates, cuts or deletes anything (they read through
//! `LogReader` and a read-only `SnapshotStore`), so they are safe on a copy
//! under investigation and beside a stopped or crashed writer. A torn tail is
//! left where it is: it is reported, and the records before it are used.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_storage::{LogReader, SnapshotStore};

use super::codec::{BlockRecord, StoreOrigin};
use super::store::{check_follows, check_origin_root, origin_state, read_origin, rebuild, OpenTimings, ResumeReport};
use super::{PersistError, LOG_DIR_NAME, SNAPSHOTS_DIR_NAME};
use crate::block::receipts_root;
use crate::exec::ExecutorKind;
use crate::ingest;
use crate::program::ProgramRegistry;
use crate::tx;

/// What `verify_store` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreVerifyReport {
    /// What the chain starts from: genesis, or a snapshot state sync
    /// restored. `None`: the log holds no record, so nothing was committed
    /// (a first run killed before its origin record was durable; the next
    /// run or InitChain starts the store afresh).
    pub origin: Option<StoreOrigin>,
    pub segments: u64,
    /// Records in the log, the origin record included.
    pub records: u64,
    /// Height of the last block; 0 if there is none yet.
    pub height: u64,
    /// Hash of the last block; zeros if there is none yet.
    pub block_hash: [u8; 32],
    /// State root in the last block's header (the origin's root before any
    /// block; zeros with no origin).
    pub state_root: [u8; 32],
    pub txs: u64,
    /// Bytes after the last whole record that the next `open` will cut.
    pub torn_tail_bytes: u64,
}

/// Checks every record of the store in `dir`: checksums and hash chain
/// (storage), then that the first record is genesis and every other a block
/// record that decodes (its transactions and receipts roots match its
/// header), sits at the next height and names the previous block as parent.
/// State roots are checked by replay, not here.
///
/// A log with no record at all (no segment yet, or segments holding none)
/// is not damage: it is a store whose first run died before its origin
/// record was durable. It verifies, at height 0 with no origin; the next
/// `sluice run` (or InitChain, or a state sync) starts it afresh. A
/// directory without a log is still refused: it is not a store.
pub fn verify_store(dir: &Path) -> Result<StoreVerifyReport, PersistError> {
    let reader = open_log(dir)?;
    let mut report = StoreVerifyReport {
        origin: None,
        segments: reader.report().segments,
        records: reader.report().records,
        height: 0,
        block_hash: [0; 32],
        state_root: [0; 32],
        txs: 0,
        torn_tail_bytes: reader.report().torn_tail_bytes,
    };
    if report.records == 0 {
        return Ok(report);
    }
    let origin = read_origin(reader.records())?;
    report.origin = Some(origin.origin.clone());
    report.height = origin.origin.height();
    report.block_hash = origin.origin.block_hash();
    report.state_root = origin.state_root;
    for_each_block(&reader, &origin.origin, |block| {
        report.height = block.header.height;
        report.block_hash = block.header.hash();
        report.state_root = block.header.state_root;
        report.txs += u64::from(block.header.tx_count);
        Ok(())
    })?;
    Ok(report)
}

/// Decodes every block record after the origin in order, checking the
/// chain, and hands each to `visit`.
fn for_each_block(
    reader: &LogReader,
    origin: &StoreOrigin,
    mut visit: impl FnMut(BlockRecord) -> Result<(), PersistError>,
) -> Result<(), PersistError> {
    let mut height = origin.height();
    let mut last_hash = origin.block_hash();
    for record in reader.records_from_height(height) {
        let record = record?;
        let meta = record.meta;
        let block = super::store::block_of_record(&record)?;
        check_follows(&block.header, &meta, height, &last_hash)?;
        height = block.header.height;
        last_hash = block.header.hash();
        visit(block)?;
    }
    Ok(())
}

/// The store's snapshots, read-only; `None` if it has no snapshot directory.
fn open_snapshots(dir: &Path) -> Result<Option<SnapshotStore>, PersistError> {
    let snapshots_dir = dir.join(SNAPSHOTS_DIR_NAME);
    match snapshots_dir.is_dir() {
        true => Ok(Some(SnapshotStore::open_read_only(snapshots_dir)?)),
        false => Ok(None),
    }
}

fn open_log(dir: &Path) -> Result<LogReader, PersistError> {
    let log_dir = dir.join(LOG_DIR_NAME);
    if !log_dir.is_dir() {
        return Err(PersistError::Genesis { reason: format!("no commit log at {}", log_dir.display()) });
    }
    Ok(LogReader::open(log_dir)?)
}

/// How `replay_from_deltas` starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Ignore snapshots and apply every block's delta from genesis: the
    /// full audit of the deltas, and the delta-replay benchmark.
    pub from_genesis: bool,
}

/// What a replay reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    pub height: u64,
    pub block_hash: [u8; 32],
    pub state_root: [u8; 32],
    /// Height replay started from (a snapshot's, or 0 for genesis).
    pub start_height: u64,
    pub blocks: u64,
    /// Transactions in the blocks replayed.
    pub txs: u64,
    pub elapsed: Duration,
    pub torn_tail_bytes: u64,
    /// Snapshots skipped, with why.
    pub snapshots_skipped: Vec<String>,
    /// Where the time went. `--reexecute` fills in `log_scan` and
    /// `genesis_state`; the rest of its time is verifying and executing.
    pub timings: OpenTimings,
}

impl ReplayReport {
    pub fn tps(&self) -> f64 {
        self.txs as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Rebuilds state from the newest snapshot that agrees with the log (or
/// genesis) plus the deltas of every later block, checking every block's
/// parent hash and state root: the same path a restart takes, read-only.
pub fn replay_from_deltas(dir: &Path, options: ReplayOptions) -> Result<ReplayReport, PersistError> {
    let start = Instant::now();
    let reader = open_log(dir)?;
    let log_scan = start.elapsed();
    let origin = read_origin(reader.records())?;
    let snapshots = open_snapshots(dir)?;
    // From genesis: no snapshot but a restored store's base, which is its origin.
    let tried = if options.from_genesis { None } else { snapshots.as_ref() };
    let last_height = reader.report().last.map_or(0, |meta| meta.height);
    let base_state = || origin_state(&origin.origin, snapshots.as_ref());
    let resumed = rebuild(&origin, &base_state, tried, last_height, |height| reader.records_from_height(height))?;
    let ResumeReport { snapshot_height, blocks_replayed, txs_replayed, snapshots_skipped, timings, .. } =
        resumed.report;
    Ok(ReplayReport {
        height: resumed.height,
        block_hash: resumed.last_hash,
        state_root: resumed.state.root(),
        start_height: snapshot_height.unwrap_or(0),
        blocks: blocks_replayed,
        txs: txs_replayed,
        elapsed: start.elapsed(),
        torn_tail_bytes: reader.report().torn_tail_bytes,
        snapshots_skipped,
        timings: OpenTimings { log_scan, ..timings },
    })
}

/// Re-executes every block from genesis: decodes each transaction, verifies
/// its signature, runs the block on `executor` with `programs` (the chain's
/// own: `ProgramRegistry::native()` plus any it registered), and checks
/// that the receipts root, the delta and the state root equal what the log
/// holds. The audit path: it trusts nothing in the log but the
/// transactions themselves.
pub fn replay_reexecute(
    dir: &Path,
    executor: ExecutorKind,
    programs: &ProgramRegistry,
) -> Result<ReplayReport, PersistError> {
    let start = Instant::now();
    let reader = open_log(dir)?;
    let log_scan = start.elapsed();
    let origin = read_origin(reader.records())?;
    let chain_id = origin.origin.chain_id().clone();
    let genesis_start = Instant::now();
    let snapshots = open_snapshots(dir)?;
    let mut state = origin_state(&origin.origin, snapshots.as_ref())?;
    let genesis_state = genesis_start.elapsed();
    let start_height = origin.origin.height();
    check_origin_root(&origin, &state)?;
    let mut report = ReplayReport {
        height: start_height,
        block_hash: origin.origin.block_hash(),
        state_root: state.root(),
        start_height,
        blocks: 0,
        txs: 0,
        elapsed: Duration::ZERO,
        torn_tail_bytes: reader.report().torn_tail_bytes,
        snapshots_skipped: Vec::new(),
        timings: OpenTimings { log_scan, genesis_state, ..OpenTimings::default() },
    };
    for_each_block(&reader, &origin.origin, |block| {
        let height = block.header.height;
        let failed = |reason: String| PersistError::Reexecute { height, reason };
        let mut txs = Vec::with_capacity(block.txs.len());
        for (index, verdict) in ingest::verify_transactions(&block.txs, &chain_id).into_iter().enumerate() {
            let tx = verdict.map_err(|rejection| failed(format!("transaction {index}: {}", rejection.reason())))?;
            txs.push(tx);
        }
        debug_assert!(block.txs.iter().zip(&txs).all(|(raw, tx)| tx::decode(raw).as_ref() == Ok(tx)));
        let outcome = executor.execute(&state, &txs, programs);
        let computed = receipts_root(&outcome.receipts);
        if computed != block.header.receipts_root {
            return Err(PersistError::RootMismatch {
                height,
                root: "receipts",
                header: block.header.receipts_root,
                computed,
            });
        }
        if outcome.delta != block.delta {
            return Err(failed("the state delta differs from the one in the log".into()));
        }
        state.apply(&outcome.delta);
        if state.root() != block.header.state_root {
            let computed = state.root();
            return Err(PersistError::RootMismatch {
                height,
                root: "state",
                header: block.header.state_root,
                computed,
            });
        }
        report.height = height;
        report.block_hash = block.header.hash();
        report.state_root = block.header.state_root;
        report.blocks += 1;
        report.txs += u64::from(block.header.tx_count);
        Ok(())
    })?;
    report.elapsed = start.elapsed();
    Ok(report)
}
