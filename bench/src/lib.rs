//! # sluice-bench
//!
//! The throughput harness behind the `sluice-bench` binary. Every figure is
//! measured on the same signed transactions in the same run, so that the
//! ratios it reports (parallel over serial) cancel out the noise of a
//! shared machine. Each block is timed `repeats` times per measure, and the
//! median is kept.

use std::time::Instant;

use sluice_engine::exec::parallel::execute_graph;
use sluice_engine::exec::{execute_block_parallel, execute_block_serial, BlockOutcome, ConflictGraph};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::state::State;
use sluice_engine::tx::Transaction;

/// Median of `samples` seconds (upper median for an even count).
pub fn median(samples: &mut [f64]) -> f64 {
    assert!(!samples.is_empty(), "median of nothing");
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Times `f` `repeats` times and returns the median seconds and the last result.
pub fn time_median<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut samples = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let out = f();
        samples.push(start.elapsed().as_secs_f64());
        last = Some(out);
    }
    (median(&mut samples), last.expect("at least one repeat"))
}

/// Seconds spent executing every block, serially and in parallel, on the
/// same blocks, with state carried from block to block.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecTimes {
    pub serial_s: f64,
    /// Graph build plus execution: what one call of the parallel executor costs.
    pub parallel_s: f64,
    /// Conflict-graph build alone (the pipeline's schedule stage).
    pub graph_s: f64,
    /// Execution over a prebuilt graph (the pipeline's execute stage).
    pub graph_exec_s: f64,
    pub txs: usize,
}

impl ExecTimes {
    pub fn serial_tps(&self) -> f64 {
        self.txs as f64 / self.serial_s
    }

    pub fn parallel_tps(&self) -> f64 {
        self.txs as f64 / self.parallel_s
    }

    pub fn speedup(&self) -> f64 {
        self.serial_s / self.parallel_s
    }
}

/// Executes each block with both executors on `pool`, checks they agree,
/// and sums the per-block median times.
pub fn measure_execution(
    genesis: &State,
    blocks: &[Vec<Transaction>],
    programs: &ProgramRegistry,
    pool: &rayon::ThreadPool,
    repeats: usize,
) -> ExecTimes {
    let mut state = genesis.clone();
    let mut times = ExecTimes::default();
    for block in blocks {
        let (serial_s, serial): (f64, BlockOutcome) =
            time_median(repeats, || execute_block_serial(&state, block, programs));
        let (parallel_s, parallel) =
            time_median(repeats, || pool.install(|| execute_block_parallel(&state, block, programs)));
        assert_eq!(serial, parallel, "parallel result differs from serial: determinism broken");
        let (graph_s, graph) = time_median(repeats, || ConflictGraph::build(block));
        let (graph_exec_s, _) =
            time_median(repeats, || pool.install(|| execute_graph(&state, block, programs, &graph)));
        times.serial_s += serial_s;
        times.parallel_s += parallel_s;
        times.graph_s += graph_s;
        times.graph_exec_s += graph_exec_s;
        times.txs += block.len();
        state.apply(&serial.delta);
    }
    times
}
