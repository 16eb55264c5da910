//! The staged pipeline: same results as the serial reference, bounded
//! memory under a slow commit stage, and clean shutdown on failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_engine::block::BlockHeader;
use sluice_engine::chain::Chain;
use sluice_engine::exec::{ExecutorKind, Receipt};
use sluice_engine::ingest::{partition, verify_transactions, RejectionCounts};
use sluice_engine::pipeline::{
    run_pipeline, CommitError, CommitSink, CommittedBlock, PipelineConfig, PipelineError, PipelineReport, StageError,
    LATENCY_SAMPLES_MAX,
};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::workload::{self, Workload, WorkloadKind, WorkloadSpec};

const BLOCK_TXS: usize = 200;

fn workload(kind: WorkloadKind, txs: u64) -> Workload {
    let accounts = if kind == WorkloadKind::Hot { 2 } else { 300 };
    workload::generate(&WorkloadSpec { kind, accounts, txs, seed: 11, chain: Default::default() }).unwrap()
}

fn blocks_of(txs: &[Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
    txs.chunks(BLOCK_TXS).map(<[Vec<u8>]>::to_vec).collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Keeps what was committed, for comparison.
#[derive(Default)]
struct RecordingSink {
    headers: Vec<BlockHeader>,
    receipts: Vec<Vec<Receipt>>,
}

impl CommitSink for RecordingSink {
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), CommitError> {
        self.headers.push(block.header);
        self.receipts.push(block.receipts.clone());
        Ok(())
    }
}

/// The reference: decode, verify and execute block by block, serially.
fn reference(w: &Workload, blocks: &[Vec<Vec<u8>>]) -> (Vec<BlockHeader>, Vec<Vec<Receipt>>, RejectionCounts) {
    let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Serial);
    let mut rejected = RejectionCounts::new();
    let mut headers = vec![];
    let mut receipts = vec![];
    for raw in blocks {
        let txs = partition(verify_transactions(raw, &Default::default()), &mut rejected);
        let block = chain.execute_block(&txs).unwrap();
        headers.push(block.header);
        receipts.push(block.outcome.receipts);
    }
    (headers, receipts, rejected)
}

#[test]
fn pipeline_equals_serial_reference_on_every_workload() {
    for kind in [WorkloadKind::Uniform, WorkloadKind::Hot, WorkloadKind::Zipf, WorkloadKind::Groups(3)] {
        let w = workload(kind, 1_000);
        let blocks = blocks_of(&w.txs);
        let (headers, receipts, _) = reference(&w, &blocks);
        for threads in [1, 2, 4] {
            let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
            let mut sink = RecordingSink::default();
            let report = run_pipeline(
                &mut chain,
                blocks.clone().into_iter(),
                &mut sink,
                &pool(threads),
                &PipelineConfig::default(),
            )
            .unwrap();
            assert_eq!(sink.headers, headers, "{kind} at {threads} threads");
            assert_eq!(sink.receipts, receipts, "{kind} at {threads} threads");
            assert_eq!(report.blocks, blocks.len() as u64);
            assert_eq!(report.txs_in, 1_000);
            assert_eq!(report.stages.len(), 5);
            assert_eq!(chain.state.root(), headers.last().unwrap().state_root);
        }
    }
}

#[test]
fn bad_transactions_are_rejected_by_name_and_touch_nothing() {
    let w = workload(WorkloadKind::Uniform, 600);
    let mut txs = w.txs.clone();
    txs[3][70] ^= 0x01; // a nonce byte: the signature no longer matches
    txs[10].truncate(50); // cut inside the signature
    txs[20].push(0); // trailing byte
    txs[30][0] ^= 0x80; // the signature's R
    let blocks = blocks_of(&txs);
    let (headers, receipts, rejected) = reference(&w, &blocks);
    let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
    let mut sink = RecordingSink::default();
    let report = run_pipeline(&mut chain, blocks.into_iter(), &mut sink, &pool(2), &PipelineConfig::default()).unwrap();
    assert_eq!(sink.headers, headers);
    assert_eq!(sink.receipts, receipts);
    assert_eq!(report.rejected, rejected);
    let total: u64 = report.rejected.values().sum();
    assert_eq!(total, 4, "{:?}", report.rejected);
    assert_eq!(report.rejected.get("decode.truncated"), Some(&1));
    assert_eq!(report.rejected.get("decode.trailing_bytes"), Some(&1));
    assert_eq!(report.executed, 596);
}

/// Counts blocks taken from the source.
struct CountingSource {
    blocks: std::vec::IntoIter<Vec<Vec<u8>>>,
    pulled: Arc<AtomicU64>,
}

impl Iterator for CountingSource {
    type Item = Vec<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        let block = self.blocks.next()?;
        self.pulled.fetch_add(1, Ordering::SeqCst);
        Some(block)
    }
}

/// A deliberately slow commit stage that checks how far ahead the source got.
struct SlowSink {
    pulled: Arc<AtomicU64>,
    committed: u64,
    in_flight_max: u64,
}

impl CommitSink for SlowSink {
    fn commit(&mut self, _: &CommittedBlock) -> Result<(), CommitError> {
        std::thread::sleep(Duration::from_millis(15));
        self.committed += 1;
        let in_flight = self.pulled.load(Ordering::SeqCst) - self.committed;
        self.in_flight_max = self.in_flight_max.max(in_flight);
        Ok(())
    }
}

#[test]
fn slow_commit_backpressures_the_source() {
    let w = workload(WorkloadKind::Uniform, 6_000);
    let blocks: Vec<Vec<Vec<u8>>> = w.txs.chunks(100).map(<[Vec<u8>]>::to_vec).collect();
    let block_count = blocks.len() as u64;
    let pulled = Arc::new(AtomicU64::new(0));
    let source = CountingSource { blocks: blocks.into_iter(), pulled: pulled.clone() };
    let mut sink = SlowSink { pulled, committed: 0, in_flight_max: 0 };
    let config = PipelineConfig { channel_blocks_max: 1, ..PipelineConfig::default() };
    let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
    run_pipeline(&mut chain, source, &mut sink, &pool(2), &config).unwrap();
    assert_eq!(sink.committed, block_count);
    // Four channels of one block, plus one block in each of five stages'
    // hands, minus the one the commit stage just finished.
    let bound = 4 * config.channel_blocks_max as u64 + 5;
    assert!(sink.in_flight_max <= bound, "{} blocks in flight, bound {bound}", sink.in_flight_max);
    assert!(block_count > 2 * bound, "the test must have more blocks than the pipeline can hold");
}

/// Fails, or panics, at a chosen block.
struct FaultySink {
    fail_at: u64,
    panic: bool,
    committed: Vec<BlockHeader>,
}

impl CommitSink for FaultySink {
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), CommitError> {
        if block.header.height == self.fail_at {
            if self.panic {
                panic!("injected panic at height {}", self.fail_at);
            }
            return Err(CommitError::Sink(format!("injected failure at height {}", self.fail_at)));
        }
        self.committed.push(block.header);
        Ok(())
    }
}

#[test]
fn a_failing_or_panicking_stage_stops_the_pipeline_cleanly() {
    let w = workload(WorkloadKind::Uniform, 2_000);
    let blocks = blocks_of(&w.txs);
    let (headers, _, _) = reference(&w, &blocks);
    for panic in [false, true] {
        let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
        let mut sink = FaultySink { fail_at: 4, panic, committed: vec![] };
        let result =
            run_pipeline(&mut chain, blocks.clone().into_iter(), &mut sink, &pool(2), &PipelineConfig::default());
        match (panic, result) {
            (false, Err(PipelineError::StageFailed { stage, reason })) => {
                assert_eq!(stage, "commit");
                assert!(matches!(reason, StageError::Commit(CommitError::Sink(_))), "{reason:?}");
                assert!(reason.to_string().contains("injected failure"), "{reason}");
            }
            (true, Err(PipelineError::StagePanicked { stage, message })) => {
                assert_eq!(stage, "commit");
                assert!(message.contains("injected panic"), "{message}");
            }
            (_, other) => panic!("unexpected result {other:?}"),
        }
        assert_eq!(sink.committed, headers[..3], "blocks before the failure were all acknowledged, in order");
    }
}

#[test]
fn a_panicking_source_is_reported_by_stage() {
    let w = workload(WorkloadKind::Uniform, 400);
    let mut blocks = blocks_of(&w.txs).into_iter();
    let source = std::iter::from_fn(move || match blocks.next() {
        Some(block) => Some(block),
        None => panic!("source exhausted badly"),
    });
    let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
    let result = run_pipeline(&mut chain, source, &mut RecordingSink::default(), &pool(2), &PipelineConfig::default());
    match result {
        Err(PipelineError::StagePanicked { stage: "ingest", message }) => assert!(message.contains("exhausted")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn invalid_channel_capacity_is_refused() {
    let w = workload(WorkloadKind::Uniform, 10);
    let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
    for channel_blocks_max in [0, 65] {
        let config = PipelineConfig { channel_blocks_max, ..PipelineConfig::default() };
        let result = run_pipeline(&mut chain, std::iter::empty(), &mut RecordingSink::default(), &pool(1), &config);
        assert!(matches!(result, Err(PipelineError::InvalidConfig(_))));
    }
}

#[test]
fn a_long_run_keeps_a_bounded_uniform_sample_of_latencies() {
    let mut report = PipelineReport::default();
    let blocks = 3 * LATENCY_SAMPLES_MAX as u64;
    for block in 0..blocks {
        report.record_latency(block as f64);
    }
    assert_eq!(report.latencies_ms.len(), LATENCY_SAMPLES_MAX);
    assert_eq!(report.latency_blocks, blocks);
    // A uniform sample of 0..blocks has its median near blocks / 2; keeping
    // only the first blocks would put it near LATENCY_SAMPLES_MAX / 2.
    let median = report.latency_ms_quantile(0.5) / blocks as f64;
    assert!((0.45..0.55).contains(&median), "median at {median} of the range");
}

/// Issue 17: a block over `BLOCK_TXS_MAX` transactions or
/// `BLOCK_TX_BYTES_MAX` bytes is refused by name at ingest, before
/// anything of it runs; the blocks before it commit.
#[test]
fn a_block_over_the_count_or_byte_bound_is_refused_by_name_before_it_runs() {
    use sluice_engine::block::{BLOCK_TXS_MAX, BLOCK_TX_BYTES_MAX};
    use sluice_engine::tx::TX_BYTES_MAX;
    let w = workload(WorkloadKind::Uniform, 400);
    let good = blocks_of(&w.txs);
    let (headers, _, _) = reference(&w, &good[..1]);
    let too_many = vec![w.txs[0].clone(); BLOCK_TXS_MAX + 1];
    // Bytes need not decode: the bound is checked before decoding.
    let too_large = vec![vec![0u8; TX_BYTES_MAX]; BLOCK_TX_BYTES_MAX / TX_BYTES_MAX + 1];
    for (bad, name) in [(too_many, "block_too_many_txs"), (too_large, "block_too_large")] {
        let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
        let mut sink = RecordingSink::default();
        let source = vec![good[0].clone(), bad, good[1].clone()];
        match run_pipeline(&mut chain, source.into_iter(), &mut sink, &pool(2), &PipelineConfig::default()) {
            Err(PipelineError::StageFailed { stage: "ingest", reason }) => {
                assert!(reason.to_string().contains(&format!("block 2 from the source: {name}: ")), "{reason}")
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
        assert_eq!(sink.headers, headers, "{name}: the block before it committed, nothing after");
    }
}

/// Issue 17: a block whose record (its transactions, receipts and delta)
/// would exceed the sink's record limit is refused by name before its
/// delta is applied, so state stays that of the last committed block.
#[test]
fn a_block_whose_record_would_not_fit_is_refused_before_it_changes_state() {
    use sluice_engine::persist::block_record_bytes;
    let w = workload(WorkloadKind::Uniform, 600);
    let mut blocks = blocks_of(&w.txs);
    // The second block holds twice the first's transactions: its record is
    // larger whatever the deltas, since 200 more transactions (181 bytes
    // each with length and receipt) outweigh the first block's whole delta
    // (at most 400 accounts of 52 bytes).
    let third = blocks.pop().unwrap();
    blocks[1].extend(third);
    let (headers, _, _) = reference(&w, &blocks[..1]);
    // Room for the first block's record exactly.
    let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Serial);
    let txs = partition(verify_transactions(&blocks[0], &Default::default()), &mut RejectionCounts::new());
    let first = chain.execute_block(&txs).unwrap();
    let limit = block_record_bytes(&blocks[0], &first.outcome.delta) as u64;
    let config = PipelineConfig { block_record_bytes_max: limit, ..PipelineConfig::default() };
    let mut chain = Chain::new(w.genesis.state(), ProgramRegistry::native(), ExecutorKind::Parallel);
    let mut sink = RecordingSink::default();
    match run_pipeline(&mut chain, blocks.into_iter(), &mut sink, &pool(2), &config) {
        Err(PipelineError::StageFailed { stage: "execute", reason }) => {
            let reason = reason.to_string();
            assert!(reason.starts_with("block_record_too_large: block 2 of 400 transactions"), "{reason}");
            assert!(reason.contains(&format!("over the {limit}-byte limit")), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(sink.headers, headers, "the first block fit exactly and committed");
    assert_eq!((chain.height, chain.state.root()), (1, headers[0].state_root), "block 2 changed nothing");
}
