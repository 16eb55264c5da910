//! The pipeline: ingest → sigverify → schedule → execute → commit.
//!
//! Each stage runs on its own thread, and bounded crossbeam channels of
//! [`PipelineConfig::channel_blocks_max`] blocks join them. A stage that
//! falls behind fills its input channel, and the stage before it then
//! blocks on `send`. Backpressure therefore reaches the source, and
//! nothing queues without limit: at most `4 × channel_blocks_max + 5`
//! blocks are in flight, counting one in each stage's hands.
//!
//! | stage | thread does | parallel inside |
//! |---|---|---|
//! | ingest | pulls raw blocks from the source, decodes every transaction, drops signatures seen within the replay window | no |
//! | sigverify | verifies signatures in batches | rayon, all cores |
//! | schedule | builds the conflict graph | no |
//! | execute | runs the graph, applies the delta, computes the state root, builds the header | rayon, all cores |
//! | commit | hands the block to the [`CommitSink`] (the durable log) | no |
//!
//! The execute stage owns the in-memory state. Block N+1 executes against
//! the state left by block N, so applying a delta cannot wait for N's
//! durable commit. Durability is the commit stage's only job, and so block
//! N commits while N+1 executes and N+2 verifies.
//!
//! **Failure.** A stage that fails returns its error and drops its
//! channels. The stage before it sees a closed channel on its next send,
//! and the stage after it sees its input end, so every thread stops. A
//! panic is caught at the thread's join and reported with the stage's
//! name. Only the commit stage acknowledges blocks, and only after the sink
//! returned. Every block acknowledged before a failure is therefore
//! durable, and the in-memory state past it must be discarded: after an
//! error, resume from the log, not from the `Chain`.
//!
//! **Block limits.** A block is refused by name before anything of it runs
//! when it breaks a limit: ingest refuses one over `BLOCK_TXS_MAX`
//! transactions or `BLOCK_TX_BYTES_MAX` bytes (`block_too_many_txs`,
//! `block_too_large`), and execute computes a block's outcome, then
//! refuses it before applying its delta if its record would exceed
//! [`PipelineConfig::block_record_bytes_max`] (`block_record_too_large`),
//! so that commit never fails for size with the block already in state.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::block::{check_block_limits, BlockHeader, BlockLimitError};
use crate::chain::{Chain, ChainError, ExecutedBlock};
use crate::exec::parallel::SchedulePolicy;
use crate::exec::{ConflictGraph, ExecutorKind, Receipt, TxStatus};
use crate::ingest::{decode_all, drop_duplicates, partition, verify_decoded, DecodedTx, Rejection, RejectionCounts};
pub use crate::limits::{CHANNEL_BLOCKS_MAX, LATENCY_SAMPLES_MAX, VERIFY_SLICE_TXS_MIN};
use crate::persist::store::BLOCK_RECORD_BYTES_MAX;
use crate::persist::{block_record_bytes, PersistError};
use crate::sigverify::{ReplayWindow, VerifiedCache, BATCH_SIZE_DEFAULT, REPLAY_WINDOW_CAPACITY};
use crate::state::{State, StateDelta};
use crate::tx::{tx_hash, ChainId, Transaction};

#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub chain: ChainId,
    pub verify_batch_size: usize,
    /// Blocks each inter-stage channel holds; 1..=`CHANNEL_BLOCKS_MAX`.
    pub channel_blocks_max: usize,
    /// Every block whose height is a multiple of this carries a copy of
    /// the state after it, for the sink to snapshot; 0 means never.
    pub snapshot_interval_blocks: u64,
    /// Signatures checked at mempool admission, skipped by sigverify.
    pub verified_cache: Option<Arc<VerifiedCache>>,
    /// Distinct signatures the ingest stage remembers to drop duplicates.
    pub replay_window_capacity: usize,
    /// Largest block record the sink commits: `BLOCK_RECORD_BYTES_MAX`, or
    /// the store's `block_record_bytes_max` when its segments are smaller.
    pub block_record_bytes_max: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            chain: ChainId::default(),
            verify_batch_size: BATCH_SIZE_DEFAULT,
            channel_blocks_max: 2,
            snapshot_interval_blocks: 0,
            verified_cache: None,
            replay_window_capacity: REPLAY_WINDOW_CAPACITY,
            block_record_bytes_max: BLOCK_RECORD_BYTES_MAX,
        }
    }
}

/// A block the execute stage finished, on its way to durability.
pub struct CommittedBlock {
    pub header: BlockHeader,
    /// The accepted transactions' bytes, in block order.
    pub raw_txs: Vec<Vec<u8>>,
    pub receipts: Vec<Receipt>,
    pub delta: StateDelta,
    /// The state right after this block, when a snapshot is due. Cloned by
    /// the execute stage, because by the time the commit stage runs the
    /// live state may already include later blocks.
    pub state_snapshot: Option<State>,
    /// True when `header.tx_root` and `header.receipts_root` were computed
    /// by [`Chain`] from exactly these `raw_txs` (their hashes) and
    /// `receipts`, as the execute stage does. A sink may then skip hashing
    /// the body again; debug builds still check. False makes the store
    /// recompute both roots and refuse a mismatch.
    pub roots_from_executor: bool,
}

/// Where blocks become durable. `commit` returns only once the block is
/// as durable as the sink promises; the pipeline acknowledges it then.
pub trait CommitSink: Send {
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), CommitError>;
}

/// Why a [`CommitSink`] did not make a block durable.
#[derive(Debug)]
pub enum CommitError {
    /// The engine's store ([`crate::persist::BlockStore`]) refused the
    /// block or failed to write it.
    Store(PersistError),
    /// A sink of the embedding program failed: its own message.
    Sink(String),
}

impl From<PersistError> for CommitError {
    fn from(error: PersistError) -> CommitError {
        CommitError::Store(error)
    }
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommitError::Store(error) => write!(f, "{error}"),
            CommitError::Sink(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CommitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CommitError::Store(error) => Some(error),
            CommitError::Sink(_) => None,
        }
    }
}

/// A sink that keeps nothing: for measuring the stages before commit.
pub struct DiscardSink;

impl CommitSink for DiscardSink {
    fn commit(&mut self, _: &CommittedBlock) -> Result<(), CommitError> {
        Ok(())
    }
}

/// One stage's time, split into working, waiting for input, and blocked
/// on a full output channel (backpressure).
#[derive(Clone, Debug, Default)]
pub struct StageMetrics {
    pub name: &'static str,
    pub blocks: u64,
    pub busy_s: f64,
    pub idle_s: f64,
    pub blocked_s: f64,
    /// Input-queue depth, sampled at each receive.
    pub queue_depth_max: usize,
    pub queue_depth_sum: u64,
}

impl StageMetrics {
    fn new(name: &'static str) -> StageMetrics {
        StageMetrics { name, ..StageMetrics::default() }
    }

    pub fn queue_depth_mean(&self) -> f64 {
        self.queue_depth_sum as f64 / self.blocks.max(1) as f64
    }
}

#[derive(Clone, Debug, Default)]
pub struct PipelineReport {
    /// In pipeline order: ingest, sigverify, schedule, execute, commit.
    pub stages: Vec<StageMetrics>,
    pub blocks: u64,
    /// Transactions that entered ingest.
    pub txs_in: u64,
    pub executed: u64,
    pub ok: u64,
    pub failed: u64,
    /// Execution failures and pre-check rejections by error name.
    pub failures: std::collections::BTreeMap<&'static str, u64>,
    /// Transactions dropped before execution, by reason.
    pub rejected: RejectionCounts,
    /// Per block, from leaving the source to acknowledged commit: every
    /// block's, or a uniform sample of `LATENCY_SAMPLES_MAX` of them once
    /// more blocks than that committed (see `record_latency`).
    pub latencies_ms: Vec<f64>,
    /// Blocks whose latency was offered to `latencies_ms`.
    pub latency_blocks: u64,
    pub elapsed_s: f64,
}

impl PipelineReport {
    /// The `q`-quantile (0..=1) of block latency, nearest rank.
    pub fn latency_ms_quantile(&self, q: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// Keeps `ms` in `latencies_ms`, by reservoir sampling (Algorithm R)
    /// once it is full: the n-th block replaces a random kept one with
    /// probability `LATENCY_SAMPLES_MAX / n`, so every block is equally
    /// likely to be in the sample. The draw is a hash of n, not an RNG:
    /// reports stay reproducible and need no state beyond the count.
    pub fn record_latency(&mut self, ms: f64) {
        self.latency_blocks += 1;
        if self.latencies_ms.len() < LATENCY_SAMPLES_MAX {
            self.latencies_ms.push(ms);
            return;
        }
        let slot = crate::splitmix64::hash(self.latency_blocks) % self.latency_blocks;
        if let Some(kept) = self.latencies_ms.get_mut(slot as usize) {
            *kept = ms;
        }
    }

    /// The stage with the most busy time: the one that bounded throughput.
    pub fn bottleneck(&self) -> Option<&StageMetrics> {
        self.stages.iter().max_by(|a, b| a.busy_s.total_cmp(&b.busy_s))
    }

    fn count_receipts(&mut self, receipts: &[Receipt]) {
        for receipt in receipts {
            self.executed += 1;
            match receipt.status {
                TxStatus::Ok => self.ok += 1,
                TxStatus::Failed { error, .. } | TxStatus::Rejected { error } => {
                    self.failed += 1;
                    *self.failures.entry(error.name()).or_default() += 1;
                }
            }
        }
    }
}

#[derive(Debug)]
pub enum PipelineError {
    /// A stage returned an error.
    StageFailed {
        stage: &'static str,
        reason: StageError,
    },
    /// A stage panicked.
    StagePanicked {
        stage: &'static str,
        message: String,
    },
    InvalidConfig(String),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::StageFailed { stage, reason } => write!(f, "pipeline stage {stage} failed: {reason}"),
            PipelineError::StagePanicked { stage, message } => write!(f, "pipeline stage {stage} panicked: {message}"),
            PipelineError::InvalidConfig(reason) => write!(f, "pipeline config: {reason}"),
        }
    }
}

impl std::error::Error for PipelineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipelineError::StageFailed { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Why a stage stopped the pipeline.
#[derive(Debug)]
pub enum StageError {
    /// Ingest: the `block`-th block from the source breaks a block limit.
    BlockLimit { block: u64, error: BlockLimitError },
    /// Execute: the chain refused the block.
    Chain(ChainError),
    /// Execute: block `height`, of `txs` transactions, would make a record
    /// of `bytes`, over the sink's `max` (`block_record_too_large`).
    RecordTooLarge { height: u64, txs: usize, bytes: u64, max: u64 },
    /// Commit: the sink failed.
    Commit(CommitError),
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageError::BlockLimit { block, error } => {
                write!(f, "block {block} from the source: {error}; refused before any of it ran")
            }
            StageError::Chain(error) => write!(f, "{error}"),
            StageError::RecordTooLarge { height, txs, bytes, max } => write!(
                f,
                "block_record_too_large: block {height} of {txs} transactions would make a record of {bytes} bytes, \
                 over the {max}-byte limit; refused before it changed state"
            ),
            StageError::Commit(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StageError::BlockLimit { error, .. } => Some(error),
            StageError::Chain(error) => Some(error),
            StageError::RecordTooLarge { .. } => None,
            StageError::Commit(error) => Some(error),
        }
    }
}

/// How a stage thread ended.
enum StageExit {
    /// Its input ended and it forwarded everything.
    Done(StageMetrics),
    /// The next stage went away (it failed; its own exit says why).
    DownstreamGone(StageMetrics),
    Failed(StageError),
}

struct Ingested {
    started: Instant,
    txs_in: u64,
    decoded: Vec<Result<DecodedTx, Rejection>>,
}

struct Verified {
    started: Instant,
    txs_in: u64,
    accepted: Vec<DecodedTx>,
    rejected: RejectionCounts,
}

struct Scheduled {
    verified: Verified,
    txs: Vec<Transaction>,
    raw: Vec<Vec<u8>>,
    hashes: Vec<[u8; 32]>,
    graph: Option<ConflictGraph>,
}

struct Executed {
    started: Instant,
    txs_in: u64,
    rejected: RejectionCounts,
    block: CommittedBlock,
}

/// Runs every block from `source` through the stages, committing each to
/// `sink`. Parallel work runs on `pool`.
pub fn run_pipeline<I>(
    chain: &mut Chain,
    source: I,
    sink: &mut dyn CommitSink,
    pool: &rayon::ThreadPool,
    config: &PipelineConfig,
) -> Result<PipelineReport, PipelineError>
where
    I: Iterator<Item = Vec<Vec<u8>>> + Send,
{
    if config.channel_blocks_max == 0 || config.channel_blocks_max > CHANNEL_BLOCKS_MAX {
        let reason = format!("channel_blocks_max must be 1..={CHANNEL_BLOCKS_MAX}, got {}", config.channel_blocks_max);
        return Err(PipelineError::InvalidConfig(reason));
    }
    let capacity = config.channel_blocks_max;
    let (ingest_tx, verify_rx) = bounded::<Ingested>(capacity);
    let (verify_tx, schedule_rx) = bounded::<Verified>(capacity);
    let (schedule_tx, execute_rx) = bounded::<Scheduled>(capacity);
    let (execute_tx, commit_rx) = bounded::<Executed>(capacity);
    // The schedule stage builds a block's edges only when the execute
    // stage will schedule it; a block run in order never needs them.
    let scheduled_threads = (chain.executor == ExecutorKind::Parallel).then(|| pool.current_num_threads());
    let start = Instant::now();
    let mut report = PipelineReport::default();

    let exits = std::thread::scope(|scope| {
        let report = &mut report;
        let handles = [
            ("ingest", scope.spawn(move || ingest_stage(source, ingest_tx, config.replay_window_capacity))),
            ("sigverify", scope.spawn(move || verify_stage(verify_rx, verify_tx, pool, config))),
            ("schedule", scope.spawn(move || schedule_stage(schedule_rx, schedule_tx, scheduled_threads))),
            ("execute", scope.spawn(move || execute_stage(execute_rx, execute_tx, chain, pool, config))),
            ("commit", scope.spawn(move || commit_stage(commit_rx, sink, report))),
        ];
        handles.map(|(name, handle)| (name, handle.join()))
    });
    report.elapsed_s = start.elapsed().as_secs_f64();
    collect_exits(exits, report)
}

/// Keeps each stage's metrics, or returns the root-cause failure: a
/// panic or error, not the "downstream gone" of the stages it stopped.
fn collect_exits(
    exits: [(&'static str, std::thread::Result<StageExit>); 5],
    mut report: PipelineReport,
) -> Result<PipelineReport, PipelineError> {
    let mut failure = None;
    for (stage, exit) in exits {
        match exit {
            Ok(StageExit::Done(metrics)) => report.stages.push(metrics),
            Ok(StageExit::DownstreamGone(metrics)) => report.stages.push(metrics),
            Ok(StageExit::Failed(reason)) => {
                failure.get_or_insert(PipelineError::StageFailed { stage, reason });
            }
            Err(panic) => {
                failure.get_or_insert(PipelineError::StagePanicked { stage, message: panic_message(&*panic) });
            }
        }
    }
    match failure {
        Some(error) => Err(error),
        None => {
            assert_eq!(report.stages.len(), 5, "every stage finished");
            Ok(report)
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Sends `item`, counting the wait as blocked time. `false`: receiver gone.
fn send_timed<T>(tx: &Sender<T>, item: T, metrics: &mut StageMetrics) -> bool {
    let wait = Instant::now();
    let sent = tx.send(item).is_ok();
    metrics.blocked_s += wait.elapsed().as_secs_f64();
    sent
}

/// Receives the next item, counting the wait as idle time. `None`: the
/// sender finished.
fn recv_timed<T>(rx: &Receiver<T>, metrics: &mut StageMetrics) -> Option<T> {
    let depth = rx.len();
    let wait = Instant::now();
    let item = rx.recv().ok();
    metrics.idle_s += wait.elapsed().as_secs_f64();
    if item.is_some() {
        metrics.blocks += 1;
        metrics.queue_depth_max = metrics.queue_depth_max.max(depth);
        metrics.queue_depth_sum += depth as u64;
    }
    item
}

fn busy<T>(metrics: &mut StageMetrics, work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = work();
    metrics.busy_s += start.elapsed().as_secs_f64();
    out
}

fn ingest_stage<I: Iterator<Item = Vec<Vec<u8>>>>(
    mut source: I,
    tx: Sender<Ingested>,
    replay_window_capacity: usize,
) -> StageExit {
    let mut metrics = StageMetrics::new("ingest");
    let mut window = ReplayWindow::with_capacity(replay_window_capacity);
    loop {
        let wait = Instant::now();
        let Some(raw) = source.next() else { return StageExit::Done(metrics) };
        metrics.idle_s += wait.elapsed().as_secs_f64();
        metrics.blocks += 1;
        if let Err(error) = check_block_limits(&raw) {
            return StageExit::Failed(StageError::BlockLimit { block: metrics.blocks, error });
        }
        let started = Instant::now();
        let txs_in = raw.len() as u64;
        let decoded = busy(&mut metrics, || {
            let mut decoded = decode_all(raw);
            drop_duplicates(&mut decoded, &mut window);
            decoded
        });
        if !send_timed(&tx, Ingested { started, txs_in, decoded }, &mut metrics) {
            return StageExit::DownstreamGone(metrics);
        }
    }
}

fn verify_stage(
    rx: Receiver<Ingested>,
    tx: Sender<Verified>,
    pool: &rayon::ThreadPool,
    config: &PipelineConfig,
) -> StageExit {
    let mut metrics = StageMetrics::new("sigverify");
    let slice_len = verify_slice_txs(pool.current_num_threads(), config.verify_batch_size);
    while let Some(block) = recv_timed(&rx, &mut metrics) {
        let verified = busy(&mut metrics, || {
            let mut results = Vec::with_capacity(block.decoded.len());
            let mut pending = block.decoded.into_iter();
            loop {
                let slice: Vec<_> = pending.by_ref().take(slice_len).collect();
                if slice.is_empty() {
                    break;
                }
                let cache = config.verified_cache.as_deref();
                results.extend(pool.install(|| verify_decoded(slice, &config.chain, config.verify_batch_size, cache)));
            }
            let mut rejected = RejectionCounts::new();
            let accepted = partition(results, &mut rejected);
            Verified { started: block.started, txs_in: block.txs_in, accepted, rejected }
        });
        if !send_timed(&tx, verified, &mut metrics) {
            return StageExit::DownstreamGone(metrics);
        }
    }
    StageExit::Done(metrics)
}

/// Slices of work per pool thread in one sigverify hand-off: enough for the
/// pool to balance its chunks.
const VERIFY_SLICES_CHUNKS_PER_THREAD: usize = 4;

/// How many transactions the sigverify stage verifies per `pool.install`.
///
/// Why not the whole block: the execute stage shares the pool, and rayon
/// runs a job injected from outside (execute's `install`) only once its
/// workers have no local work left. Handing over a whole block made block
/// N's execution wait for all of block N+1's verification, so the last two
/// blocks executed and committed one after the other with the cores idle
/// at the end of a run. A slice ends soon enough for the execute stage's
/// job to run between two slices.
fn verify_slice_txs(threads: usize, batch_size: usize) -> usize {
    let per_pool = threads.max(1).saturating_mul(VERIFY_SLICES_CHUNKS_PER_THREAD).saturating_mul(batch_size.max(1));
    per_pool.max(VERIFY_SLICE_TXS_MIN)
}

/// `threads`: the execute stage's pool size, or `None` for the serial
/// executor, which needs no graph.
fn schedule_stage(rx: Receiver<Verified>, tx: Sender<Scheduled>, threads: Option<usize>) -> StageExit {
    let mut metrics = StageMetrics::new("schedule");
    while let Some(mut verified) = recv_timed(&rx, &mut metrics) {
        let scheduled = busy(&mut metrics, || {
            let accepted = std::mem::take(&mut verified.accepted);
            let hashes = accepted.iter().map(|d| tx_hash(&d.raw)).collect();
            let (txs, raw): (Vec<Transaction>, Vec<Vec<u8>>) = accepted.into_iter().map(|d| (d.tx, d.raw)).unzip();
            let graph = threads.map(|threads| SchedulePolicy::DEFAULT.build_graph(&txs, threads));
            Scheduled { verified, txs, raw, hashes, graph }
        });
        if !send_timed(&tx, scheduled, &mut metrics) {
            return StageExit::DownstreamGone(metrics);
        }
    }
    StageExit::Done(metrics)
}

fn execute_stage(
    rx: Receiver<Scheduled>,
    tx: Sender<Executed>,
    chain: &mut Chain,
    pool: &rayon::ThreadPool,
    config: &PipelineConfig,
) -> StageExit {
    let mut metrics = StageMetrics::new("execute");
    while let Some(s) = recv_timed(&rx, &mut metrics) {
        let result = busy(&mut metrics, || pool.install(|| execute_within_record(chain, &s, config)));
        let executed = match result {
            Ok(executed) => executed,
            Err(reason) => return StageExit::Failed(reason),
        };
        let interval = config.snapshot_interval_blocks;
        let snapshot_due = interval > 0 && executed.header.height % interval == 0;
        let block = CommittedBlock {
            header: executed.header,
            raw_txs: s.raw,
            receipts: executed.outcome.receipts,
            delta: executed.outcome.delta,
            state_snapshot: snapshot_due.then(|| chain.state.clone()),
            // The schedule stage hashed `s.raw` into `s.hashes`, from which
            // `apply_outcome` built tx_root; receipts_root came from these
            // receipts.
            roots_from_executor: true,
        };
        let verified = s.verified;
        let message =
            Executed { started: verified.started, txs_in: verified.txs_in, rejected: verified.rejected, block };
        if !send_timed(&tx, message, &mut metrics) {
            return StageExit::DownstreamGone(metrics);
        }
    }
    StageExit::Done(metrics)
}

/// Executes a scheduled block and applies it, unless its record (its
/// transactions, receipts and delta) would exceed the sink's limit: then
/// the block is refused by name and state is left as it was.
fn execute_within_record(
    chain: &mut Chain,
    s: &Scheduled,
    config: &PipelineConfig,
) -> Result<ExecutedBlock, StageError> {
    let outcome = chain.outcome_scheduled(&s.txs, s.graph.as_ref()).map_err(StageError::Chain)?;
    let bytes = block_record_bytes(&s.raw, &outcome.delta) as u64;
    if bytes > config.block_record_bytes_max {
        return Err(StageError::RecordTooLarge {
            height: chain.height + 1,
            txs: s.txs.len(),
            bytes,
            max: config.block_record_bytes_max,
        });
    }
    Ok(chain.apply_outcome(&s.hashes, outcome))
}

fn commit_stage(rx: Receiver<Executed>, sink: &mut dyn CommitSink, report: &mut PipelineReport) -> StageExit {
    let mut metrics = StageMetrics::new("commit");
    while let Some(executed) = recv_timed(&rx, &mut metrics) {
        if let Err(error) = busy(&mut metrics, || sink.commit(&executed.block)) {
            return StageExit::Failed(StageError::Commit(error));
        }
        // Acknowledged: the sink returned, so the block is durable.
        report.blocks += 1;
        report.txs_in += executed.txs_in;
        report.count_receipts(&executed.block.receipts);
        for (reason, count) in executed.rejected {
            *report.rejected.entry(reason).or_default() += count;
        }
        report.record_latency(executed.started.elapsed().as_secs_f64() * 1e3);
    }
    StageExit::Done(metrics)
}
