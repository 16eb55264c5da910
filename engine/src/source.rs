//! Sources of raw blocks for the pipeline.
//!
//! [`spawn_generator`] draws and signs a [`WorkloadStream`] block by block
//! on its own thread, ahead of the pipeline's ingest stage by at most a
//! bounded channel of blocks. A run therefore holds only the blocks in
//! flight, whatever its length, instead of every transaction it will send.
//!
//! Signing runs on the same rayon pool as verification and execution, so
//! it overlaps the pipeline and takes cores from it: the generator's busy
//! time is reported as a stage of its own ("generate"), and a run that
//! must keep signing out of its timings materialises the workload first
//! (what `sluice run` does by default up to `SIGN_AHEAD_TXS_MAX`, and
//! the bench harness always).
//!
//! Either way blocks are cut by [`cut_blocks`]: at most `block_size`
//! transactions and at most `BLOCK_TX_BYTES_MAX` bytes of them, so every
//! block a source makes is one the pipeline takes.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender};

use crate::block::{BLOCK_TXS_MAX, BLOCK_TX_BYTES_MAX};
use crate::pipeline::{StageMetrics, CHANNEL_BLOCKS_MAX};
use crate::workload::WorkloadStream;

/// A block as the pipeline's ingest stage takes it: encoded transactions.
pub type RawBlock = Vec<Vec<u8>>;

/// How the generator cuts the stream into blocks and when it stops.
#[derive(Clone, Copy, Debug)]
pub struct GeneratorConfig {
    /// Transactions per block (1..=`BLOCK_TXS_MAX`); the last block of a
    /// finite stream may be shorter, and so may a block that reached
    /// `BLOCK_TX_BYTES_MAX` first.
    pub block_size: usize,
    /// Blocks generated ahead of ingest, 1..=`CHANNEL_BLOCKS_MAX`.
    pub channel_blocks_max: usize,
    /// No block is started at or after this instant, and a block still
    /// waiting for room in the channel then is dropped, never sent.
    pub deadline: Option<Instant>,
}

/// The generator thread, and how many blocks it has made so far.
pub struct Generator<'scope> {
    /// Blocks generated so far, whether or not ingest has taken them yet.
    pub generated: Arc<AtomicU64>,
    handle: ScopedJoinHandle<'scope, StageMetrics>,
}

impl Generator<'_> {
    /// Waits for the generator to stop and returns its metrics. It stops
    /// once the stream ends, the deadline passes, or the receiver is gone.
    pub fn join(self) -> Result<StageMetrics, GeneratorError> {
        self.handle.join().map_err(|_| GeneratorError::Panicked)
    }
}

/// Why the block generator could not start, or how it ended badly.
#[derive(Debug)]
pub enum GeneratorError {
    /// `GeneratorConfig::block_size` is not 1..=`BLOCK_TXS_MAX`.
    BlockSize {
        block_size: usize,
    },
    /// `GeneratorConfig::channel_blocks_max` is not 1..=`CHANNEL_BLOCKS_MAX`.
    ChannelBlocks {
        channel_blocks_max: usize,
    },
    /// The operating system refused a thread.
    Spawn(std::io::Error),
    Panicked,
}

impl fmt::Display for GeneratorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeneratorError::BlockSize { block_size } => {
                write!(f, "block size must be 1..={BLOCK_TXS_MAX}, got {block_size}")
            }
            GeneratorError::ChannelBlocks { channel_blocks_max } => {
                write!(f, "channel_blocks_max must be 1..={CHANNEL_BLOCKS_MAX}, got {channel_blocks_max}")
            }
            GeneratorError::Spawn(error) => write!(f, "cannot start the block generator thread: {error}"),
            GeneratorError::Panicked => write!(f, "the block generator thread panicked"),
        }
    }
}

impl std::error::Error for GeneratorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GeneratorError::Spawn(error) => Some(error),
            _ => None,
        }
    }
}

/// Starts generating `stream` in blocks on a thread of `scope`, signing on
/// `pool`. Iterate the receiver to feed `run_pipeline`; dropping it (as the
/// pipeline does when a stage fails) stops the generator.
pub fn spawn_generator<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    stream: WorkloadStream,
    config: GeneratorConfig,
    pool: &'env rayon::ThreadPool,
) -> Result<(Receiver<RawBlock>, Generator<'scope>), GeneratorError> {
    if config.block_size == 0 || config.block_size > BLOCK_TXS_MAX {
        return Err(GeneratorError::BlockSize { block_size: config.block_size });
    }
    if config.channel_blocks_max == 0 || config.channel_blocks_max > CHANNEL_BLOCKS_MAX {
        return Err(GeneratorError::ChannelBlocks { channel_blocks_max: config.channel_blocks_max });
    }
    let (tx, rx) = bounded(config.channel_blocks_max);
    let generated = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&generated);
    let handle = std::thread::Builder::new()
        .name("sluice-generate".into())
        .spawn_scoped(scope, move || generate_blocks(stream, &tx, config, pool, &counter))
        .map_err(GeneratorError::Spawn)?;
    Ok((rx, Generator { generated, handle }))
}

fn generate_blocks(
    mut stream: WorkloadStream,
    tx: &Sender<RawBlock>,
    config: GeneratorConfig,
    pool: &rayon::ThreadPool,
    generated: &AtomicU64,
) -> StageMetrics {
    let mut metrics = StageMetrics { name: "generate", ..StageMetrics::default() };
    while stream.remaining() > 0 && config.deadline.is_none_or(|deadline| Instant::now() < deadline) {
        let start = Instant::now();
        let batch = pool.install(|| stream.next_batch(config.block_size));
        metrics.busy_s += start.elapsed().as_secs_f64();
        for block in cut_blocks(batch, config.block_size) {
            metrics.blocks += 1;
            generated.fetch_add(1, Ordering::Relaxed);
            let wait = Instant::now();
            let sent = send_until(tx, block, config.deadline);
            metrics.blocked_s += wait.elapsed().as_secs_f64();
            if !sent {
                return metrics;
            }
        }
    }
    metrics
}

/// Cuts `txs`, in order, into blocks of at most `block_size` transactions
/// and at most `BLOCK_TX_BYTES_MAX` bytes of them, moving the bytes rather
/// than copying them. A block ends at the transaction that would take it
/// over either limit. `block_size` must be at least 1.
pub fn cut_blocks(txs: Vec<Vec<u8>>, block_size: usize) -> Vec<RawBlock> {
    assert!(block_size > 0, "blocks hold at least one transaction");
    let mut blocks = Vec::with_capacity(txs.len().div_ceil(block_size));
    let mut block = Vec::new();
    let mut bytes = 0usize;
    for tx in txs {
        if !block.is_empty() && (block.len() == block_size || bytes + tx.len() > BLOCK_TX_BYTES_MAX) {
            blocks.push(std::mem::take(&mut block));
            bytes = 0;
        }
        bytes += tx.len();
        block.push(tx);
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

/// Sends `block` unless the receiver is gone or `deadline` passes first.
fn send_until(tx: &Sender<RawBlock>, block: RawBlock, deadline: Option<Instant>) -> bool {
    match deadline {
        None => tx.send(block).is_ok(),
        Some(deadline) => match tx.send_deadline(block, deadline) {
            Ok(()) => true,
            Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_)) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::exec::ExecutorKind;
    use crate::pipeline::{run_pipeline, CommitError, CommitSink, CommittedBlock, PipelineConfig};
    use crate::program::ProgramRegistry;
    use crate::state::{Genesis, GenesisKeys};
    use crate::tx::ChainId;
    use crate::workload::{generate, WorkloadKind, WorkloadSpec};

    fn spec(txs: u64) -> WorkloadSpec {
        WorkloadSpec { kind: WorkloadKind::Uniform, accounts: 16, txs, seed: 3, chain: ChainId::default() }
    }

    /// At each commit, how far the generator had run ahead of it.
    struct LeadSink {
        generated: Arc<AtomicU64>,
        committed: u64,
        lead_max: u64,
        txs: Vec<Vec<u8>>,
    }

    impl CommitSink for LeadSink {
        fn commit(&mut self, block: &CommittedBlock) -> Result<(), CommitError> {
            let lead = self.generated.load(Ordering::Relaxed) - self.committed;
            self.lead_max = self.lead_max.max(lead);
            self.committed += 1;
            self.txs.extend(block.raw_txs.iter().cloned());
            Ok(())
        }
    }

    fn run(txs: u64, block_size: usize, deadline: Option<Instant>) -> (LeadSink, StageMetrics) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let genesis = Genesis::new(3, 16).unwrap().state();
        let keys = Arc::new(GenesisKeys::new(3, 16).unwrap());
        let stream = WorkloadStream::resumed(&spec(txs), keys, &genesis, 0).unwrap();
        let mut chain = Chain::new(genesis, ProgramRegistry::native(), ExecutorKind::Parallel);
        let pipeline = PipelineConfig { channel_blocks_max: 1, ..PipelineConfig::default() };
        let config = GeneratorConfig { block_size, channel_blocks_max: 1, deadline };
        std::thread::scope(|scope| {
            let (blocks, generator) = spawn_generator(scope, stream, config, &pool).unwrap();
            let generated = Arc::clone(&generator.generated);
            let mut sink = LeadSink { generated, committed: 0, lead_max: 0, txs: Vec::new() };
            run_pipeline(&mut chain, blocks.into_iter(), &mut sink, &pool, &pipeline).unwrap();
            (sink, generator.join().unwrap())
        })
    }

    #[test]
    fn the_generator_stays_a_bounded_number_of_blocks_ahead() {
        let (sink, metrics) = run(1200, 4, None);
        assert_eq!(sink.committed, 300);
        assert_eq!(metrics.blocks, 300);
        // Each of the 5 stages holds at most one block in hand and one in
        // its input channel (capacity 1; ingest's is the generator's), and
        // the generator one more while it waits to send. A workload
        // generated up front would lead by all 300 blocks.
        let bound = 5 * 2 + 1;
        assert!(sink.lead_max <= bound, "generator ran {} blocks ahead", sink.lead_max);
        assert_eq!(sink.txs, generate(&spec(1200)).unwrap().txs, "same bytes as the materialised workload");
    }

    #[test]
    fn blocks_are_cut_by_count_and_by_bytes() {
        use crate::block::check_block_limits;
        use crate::tx::TX_BYTES_MAX;
        let by_count = cut_blocks(vec![vec![1u8; 100]; 10], 4);
        assert_eq!(by_count.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        // Transactions of the largest size: a block ends before the one
        // that would take it over BLOCK_TX_BYTES_MAX, whatever block_size says.
        let per_block = BLOCK_TX_BYTES_MAX / TX_BYTES_MAX;
        let txs: Vec<Vec<u8>> = (0..per_block + 3).map(|i| vec![i as u8; TX_BYTES_MAX]).collect();
        let blocks = cut_blocks(txs.clone(), crate::block::BLOCK_TXS_MAX);
        assert_eq!(blocks.iter().map(Vec::len).collect::<Vec<_>>(), vec![per_block, 3]);
        for block in &blocks {
            assert!(check_block_limits(block).is_ok(), "every block cut is one the pipeline takes");
        }
        assert_eq!(blocks.concat(), txs, "in order, nothing lost");
        assert!(cut_blocks(Vec::new(), 5).is_empty());
    }

    #[test]
    fn a_past_deadline_generates_nothing() {
        let (sink, metrics) = run(100, 10, Some(Instant::now()));
        assert_eq!((sink.committed, metrics.blocks), (0, 0));
    }
}
