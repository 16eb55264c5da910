//! # sluice-bench
//!
//! The throughput harness behind the `sluice-bench` binary, in the manner
//! of Solana's bench-tps and Aptos' executor-benchmark. Every figure comes
//! from the same signed transactions in the same run, so the ratios it
//! reports (end to end over the verification limit, parallel over serial)
//! cancel out most of the noise of a shared machine. Measures are
//! interleaved: each repetition takes every measure once, in turn, and the
//! median over repetitions is kept per measure. A burst of load from
//! another process then lands on one repetition of every measure rather
//! than on every repetition of one, so the ratios survive it. Parallel over
//! serial is tighter still: it is the median of per-block ratios, each
//! from a serial and a parallel run of one block timed back to back, with
//! the two taking turns going first.
//!
//! | measure | what is timed |
//! |---|---|
//! | verify limit | `ed25519_dalek::verify_batch` over chunks of `REFERENCE_BATCH_SIZE` (128), on all pool threads, keys parsed inside the timing, messages built outside |
//! | zebra | `ed25519_zebra::batch::Verifier` (ZIP-215, grouped by key), the same way |
//! | sigverify stage | the pipeline's verify step: signing messages, cheap checks, batch verification, keys decoded through a cold [`KeyCache`](sluice_engine::sigverify::KeyCache) |
//! | serial / parallel execution | each executor on the same block and state; results must be equal |
//! | commit | appending every executed block to a fresh `BlockStore` under the chosen durability |
//! | full pipeline | `run_pipeline` from raw bytes to durable blocks, in a fresh store |
//!
//! Workloads are generated once and cached in a file ([`WorkloadCache`]), so
//! signing and key derivation are never part of any measurement.

pub mod baselines;
pub mod cache;
pub mod plot;

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use sluice_engine::chain::Chain;
use sluice_engine::exec::parallel::{execute_graph, SchedulePolicy};
use sluice_engine::exec::{execute_block_parallel, execute_block_serial, BlockOutcome, ExecutorKind};
use sluice_engine::ingest::{decode_all, partition, verify_decoded, RejectionCounts};
use sluice_engine::persist::{BlockStore, GenesisParams, StoreConfig};
use sluice_engine::pipeline::{run_pipeline, CommitSink, CommittedBlock, PipelineConfig};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::sigverify::{KeyCache, REFERENCE_BATCH_SIZE};
use sluice_engine::state::State;
use sluice_engine::tx::{decode, signing_message, ChainId, Transaction, SIGNATURE_BYTES};
use sluice_storage::Durability;

pub use cache::WorkloadCache;

/// Median of `samples` (upper median for an even count).
pub fn median(samples: &mut [f64]) -> f64 {
    assert!(!samples.is_empty(), "median of nothing");
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Seconds that `f` takes, and its result.
pub fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Seconds spent executing every block, serially and in parallel, on the
/// same blocks, with state carried from block to block.
#[derive(Clone, Debug, Default)]
pub struct ExecTimes {
    pub serial_s: f64,
    /// Graph build plus execution: what one call of the parallel executor costs.
    pub parallel_s: f64,
    /// Conflict-graph build alone (the pipeline's schedule stage).
    pub graph_s: f64,
    /// Execution over a prebuilt graph (the pipeline's execute stage).
    pub graph_exec_s: f64,
    /// Applying each block's delta to the state on the pool: the LtHash
    /// update of every changed account (old vector out, new one in), which
    /// the execute stage does after execution to get the state root.
    pub apply_s: f64,
    pub txs: usize,
    /// Serial over parallel time, per block, each pair timed back to back.
    pub block_speedups: Vec<f64>,
}

impl ExecTimes {
    pub fn serial_tps(&self) -> f64 {
        self.txs as f64 / self.serial_s
    }

    pub fn parallel_tps(&self) -> f64 {
        self.txs as f64 / self.parallel_s
    }

    pub fn apply_tps(&self) -> f64 {
        self.txs as f64 / self.apply_s
    }

    /// Parallel over serial: the median of the per-block ratios. Each
    /// ratio's two times were taken back to back, so a burst of load from
    /// elsewhere on the machine moves both; a ratio of medians taken
    /// across passes would pair a fast pass's serial with a slow pass's
    /// parallel.
    pub fn speedup(&self) -> f64 {
        if self.block_speedups.is_empty() {
            return self.serial_s / self.parallel_s;
        }
        median(&mut self.block_speedups.clone())
    }
}

impl ExecTimes {
    /// The per-measure medians of several passes.
    fn median_of(passes: &[ExecTimes]) -> ExecTimes {
        let median_by = |f: fn(&ExecTimes) -> f64| median(&mut passes.iter().map(f).collect::<Vec<_>>());
        ExecTimes {
            serial_s: median_by(|t| t.serial_s),
            parallel_s: median_by(|t| t.parallel_s),
            graph_s: median_by(|t| t.graph_s),
            graph_exec_s: median_by(|t| t.graph_exec_s),
            apply_s: median_by(|t| t.apply_s),
            txs: passes.first().map_or(0, |t| t.txs),
            block_speedups: passes.iter().flat_map(|t| t.block_speedups.iter().copied()).collect(),
        }
    }
}

/// One pass over every block: each executor once per block, in turn, on
/// the same state, checking that they agree. State carries from block to
/// block (applied untimed).
pub fn execute_pass(
    genesis: &State,
    blocks: &[Vec<Transaction>],
    programs: &ProgramRegistry,
    pool: &rayon::ThreadPool,
) -> ExecTimes {
    let mut state = genesis.clone();
    let mut times = ExecTimes::default();
    for (i, block) in blocks.iter().enumerate() {
        // Whichever runs second finds the block's transactions and accounts
        // in cache, so the two take turns going first.
        let serial_pass = || time(|| execute_block_serial(&state, block, programs));
        let parallel_pass = || time(|| pool.install(|| execute_block_parallel(&state, block, programs)));
        let ((serial_s, serial), (parallel_s, parallel)): ((f64, BlockOutcome), (f64, BlockOutcome)) = if i % 2 == 0 {
            let serial = serial_pass();
            (serial, parallel_pass())
        } else {
            let parallel = parallel_pass();
            (serial_pass(), parallel)
        };
        assert_eq!(serial, parallel, "parallel result differs from serial: determinism broken");
        let threads = pool.current_num_threads();
        let (graph_s, graph) = time(|| SchedulePolicy::DEFAULT.build_graph(block, threads));
        let (graph_exec_s, scheduled) = time(|| pool.install(|| execute_graph(&state, block, programs, &graph)));
        assert_eq!(serial, scheduled, "prebuilt-graph result differs from serial: determinism broken");
        times.serial_s += serial_s;
        times.parallel_s += parallel_s;
        times.block_speedups.push(serial_s / parallel_s);
        times.graph_s += graph_s;
        times.graph_exec_s += graph_exec_s;
        times.txs += block.len();
        let (apply_s, ()) = time(|| pool.install(|| state.apply(&serial.delta)));
        times.apply_s += apply_s;
    }
    times
}

/// Every measure of one workload at one thread count, in seconds summed
/// over the workload's blocks.
#[derive(Clone, Debug, Default)]
pub struct Measures {
    pub threads: usize,
    pub txs: usize,
    pub verify_limit_s: f64,
    /// ed25519-zebra's batch verification of the same chunks.
    pub zebra_s: f64,
    pub sigverify_s: f64,
    pub exec: ExecTimes,
    pub commit_s: f64,
    pub commit_bytes: u64,
    pub e2e_s: f64,
}

impl Measures {
    fn tps(&self, seconds: f64) -> f64 {
        self.txs as f64 / seconds
    }

    pub fn verify_limit_tps(&self) -> f64 {
        self.tps(self.verify_limit_s)
    }

    pub fn sigverify_tps(&self) -> f64 {
        self.tps(self.sigverify_s)
    }

    pub fn zebra_tps(&self) -> f64 {
        self.tps(self.zebra_s)
    }

    pub fn commit_tps(&self) -> f64 {
        self.tps(self.commit_s)
    }

    pub fn e2e_tps(&self) -> f64 {
        self.tps(self.e2e_s)
    }

    /// End-to-end throughput over the verification limit: how close the
    /// whole engine comes to the physical limit of this design.
    pub fn fraction_of_limit(&self) -> f64 {
        self.verify_limit_s / self.e2e_s
    }
}

/// One workload's measures at one thread count.
pub struct Row {
    pub workload: String,
    pub accounts: u32,
    pub measures: Measures,
}

/// What the harness measures on: a cached workload split into blocks.
pub struct BenchInput<'a> {
    pub workload: &'a WorkloadCache,
    pub genesis: &'a State,
    pub block_size: usize,
    pub durability: Durability,
    pub repeats: usize,
    /// Signatures per batch in Sluice's sigverify (the sigverify and end
    /// to end measures); the libraries always take `REFERENCE_BATCH_SIZE`.
    pub verify_batch_size: usize,
}

impl BenchInput<'_> {
    fn raw_blocks(&self) -> Vec<Vec<Vec<u8>>> {
        // Cut by bytes too, as `sluice run` cuts: the pipeline refuses a
        // block over `BLOCK_TX_BYTES_MAX`.
        sluice_engine::source::cut_blocks(self.workload.txs.clone(), self.block_size)
    }

    fn chain_id(&self) -> ChainId {
        self.workload.chain.clone()
    }

    fn genesis_params(&self) -> GenesisParams {
        GenesisParams { chain_id: self.chain_id(), seed: self.workload.seed, accounts: self.workload.accounts }
    }
}

/// Takes every measure at the pool's thread count, interleaved: each
/// repetition is one pass of every measure. `scratch` holds the stores
/// that commit and the full pipeline write; each pass gets a fresh one.
pub fn measure_all(input: &BenchInput<'_>, pool: &rayon::ThreadPool, scratch: &Path) -> Result<Measures, String> {
    let raw = input.raw_blocks();
    let decoded: Vec<Vec<Transaction>> = raw
        .iter()
        .map(|b| b.iter().map(|t| decode(t).map_err(|e| e.to_string())).collect())
        .collect::<Result<_, _>>()?;
    let programs = ProgramRegistry::native();
    let executed = execute_for_commit(input, &raw, pool)?;
    let mut passes: Vec<Measures> = Vec::with_capacity(input.repeats.max(1));
    for _ in 0..input.repeats.max(1) {
        let mut m =
            Measures { threads: pool.current_num_threads(), txs: input.workload.txs.len(), ..Measures::default() };
        m.verify_limit_s = library_pass(input, &raw, pool, baselines::dalek_batch);
        m.zebra_s = library_pass(input, &raw, pool, baselines::zebra_batch);
        m.sigverify_s = sigverify_pass(input, &raw, pool);
        m.exec = execute_pass(input.genesis, &decoded, &programs, pool);
        (m.commit_s, m.commit_bytes) = commit_pass(input, &executed, &scratch.join("commit"))?;
        m.e2e_s = pipeline_pass(input, &raw, pool, &scratch.join("pipeline"))?;
        passes.push(m);
    }
    Ok(Measures::median_of(&passes))
}

impl Measures {
    /// The per-measure medians of several passes.
    fn median_of(passes: &[Measures]) -> Measures {
        let median_by = |f: fn(&Measures) -> f64| median(&mut passes.iter().map(f).collect::<Vec<_>>());
        let exec: Vec<ExecTimes> = passes.iter().map(|m| m.exec.clone()).collect();
        Measures {
            threads: passes[0].threads,
            txs: passes[0].txs,
            verify_limit_s: median_by(|m| m.verify_limit_s),
            zebra_s: median_by(|m| m.zebra_s),
            sigverify_s: median_by(|m| m.sigverify_s),
            exec: ExecTimes::median_of(&exec),
            commit_s: median_by(|m| m.commit_s),
            commit_bytes: passes[0].commit_bytes,
            e2e_s: median_by(|m| m.e2e_s),
        }
    }
}

/// A library's batch verification over the block's chunks on all pool
/// threads: `verify` is one of [`baselines`].
fn library_pass(
    input: &BenchInput<'_>,
    raw: &[Vec<Vec<u8>>],
    pool: &rayon::ThreadPool,
    verify: baselines::ChunkVerifier,
) -> f64 {
    let chain = input.chain_id();
    raw.iter()
        .map(|block| {
            let messages: Vec<Vec<u8>> = block.iter().map(|t| signing_message(&chain, &t[SIGNATURE_BYTES..])).collect();
            let (seconds, all_valid) = time(|| {
                pool.install(|| {
                    let chunks = block.par_chunks(REFERENCE_BATCH_SIZE).zip(messages.par_chunks(REFERENCE_BATCH_SIZE));
                    chunks.all(|(txs, messages)| verify(txs, messages))
                })
            });
            assert!(all_valid, "generated workloads carry only valid signatures");
            seconds
        })
        .sum()
}

fn sigverify_pass(input: &BenchInput<'_>, raw: &[Vec<Vec<u8>>], pool: &rayon::ThreadPool) -> f64 {
    let chain = input.chain_id();
    // Each pass starts cold, so that no pass gains from the keys an earlier
    // one decoded; within a pass, keys carry from block to block as in a
    // running chain.
    KeyCache::shared().clear();
    raw.iter()
        .map(|block| {
            let decoded = decode_all(block.clone());
            let (seconds, verified) =
                time(|| pool.install(|| verify_decoded(decoded, &chain, input.verify_batch_size, None)));
            assert!(verified.iter().all(Result::is_ok), "generated workloads verify");
            seconds
        })
        .sum()
}

/// Executes every block once, untimed, into what the commit measure appends.
fn execute_for_commit(
    input: &BenchInput<'_>,
    raw: &[Vec<Vec<u8>>],
    pool: &rayon::ThreadPool,
) -> Result<Vec<CommittedBlock>, String> {
    let mut chain = Chain::new(input.genesis.clone(), ProgramRegistry::native(), ExecutorKind::Parallel);
    let mut blocks = Vec::with_capacity(raw.len());
    for block in raw {
        let txs = partition(
            pool.install(|| sluice_engine::ingest::verify_transactions(block, &input.chain_id())),
            &mut RejectionCounts::new(),
        );
        let executed = pool.install(|| chain.execute_block(&txs)).map_err(|e| e.to_string())?;
        let outcome = executed.outcome;
        blocks.push(CommittedBlock {
            header: executed.header,
            raw_txs: block.clone(),
            receipts: outcome.receipts,
            delta: outcome.delta,
            state_snapshot: None,
            // `execute_block` hashed each transaction's encoding, which is
            // its raw bytes (decoding accepts only the canonical form), so
            // the commit measure times what the pipeline's commit does.
            roots_from_executor: true,
        });
    }
    Ok(blocks)
}

/// Appends every executed block to a fresh store, sync included.
fn commit_pass(input: &BenchInput<'_>, blocks: &[CommittedBlock], dir: &Path) -> Result<(f64, u64), String> {
    let mut store = fresh_store(input, dir)?;
    let start = Instant::now();
    for block in blocks {
        CommitSink::commit(&mut store, block).map_err(|e| e.to_string())?;
    }
    store.sync().map_err(|e| e.to_string())?;
    Ok((start.elapsed().as_secs_f64(), store.appended_bytes()))
}

/// The whole pipeline, from raw bytes to durable blocks, in a fresh store.
fn pipeline_pass(
    input: &BenchInput<'_>,
    raw: &[Vec<Vec<u8>>],
    pool: &rayon::ThreadPool,
    dir: &Path,
) -> Result<f64, String> {
    let config = PipelineConfig {
        chain: input.chain_id(),
        verify_batch_size: input.verify_batch_size,
        ..PipelineConfig::default()
    };
    let mut store = fresh_store(input, dir)?;
    let mut chain = Chain::new(input.genesis.clone(), ProgramRegistry::native(), ExecutorKind::Parallel);
    let blocks = raw.to_vec();
    KeyCache::shared().clear();
    let start = Instant::now();
    run_pipeline(&mut chain, blocks.into_iter(), &mut store, pool, &config).map_err(|e| e.to_string())?;
    store.sync().map_err(|e| e.to_string())?;
    Ok(start.elapsed().as_secs_f64())
}

fn fresh_store(input: &BenchInput<'_>, dir: &Path) -> Result<BlockStore, String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    let config = StoreConfig { snapshot_interval_blocks: u64::MAX, ..StoreConfig::new(input.durability) };
    let (store, _) = BlockStore::open_with_config(dir, config, &input.genesis_params()).map_err(|e| e.to_string())?;
    Ok(store)
}
