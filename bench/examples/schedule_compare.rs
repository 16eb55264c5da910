//! In order or scheduled? Times the parallel executor's two ways of
//! running one block against each other and against the serial reference,
//! interleaved and rotated, and prints medians and same-run ratios.
//!
//! ```sh
//! cargo run --release -p sluice-bench --example schedule_compare -- --workload uniform --threads 2
//! ```
//!
//! Each repetition times every measure once, starting one measure later
//! than the repetition before, so no measure always runs right after the
//! one that warmed its cache. This is the evidence behind the executor's
//! `THREADS_MIN` and `PARALLELISM_PER_THREAD_MIN` (docs/benchmarks.md).
//!
//! `--only MEASURE` runs one measure, for instruction counts:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='sluice_engine::exec::parallel::execute_graph_with*' \
//!     target/release/examples/schedule_compare --only in_order_1 --repeats 2
//! ```

use std::time::Instant;

use clap::Parser;
use sluice_engine::exec::parallel::{execute_block_parallel, execute_graph_with, SchedulePolicy};
use sluice_engine::exec::{execute_block_serial, BlockOutcome, ConflictGraph};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::state::State;
use sluice_engine::tx::{decode, ChainId, Transaction};
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Times in-order against scheduled execution of one block, interleaved")]
struct Args {
    /// uniform, hot, zipf or groups:K
    #[arg(long, default_value = "uniform")]
    workload: WorkloadKind,
    /// Transactions in the block
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    txs: u64,
    /// The larger pool's thread count (the smaller has one)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=256))]
    threads: u16,
    /// Repetitions; the median of each measure is kept
    #[arg(long, default_value_t = 27, value_parser = clap::value_parser!(u16).range(1..=1000))]
    repeats: u16,
    /// Run only this measure (and the serial reference once, to check it),
    /// e.g. under callgrind: serial, graph, graph_edges, in_order_1,
    /// in_order_n, scheduled_1, scheduled_n or default_n
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(MEASURES))]
    only: Option<String>,
}

/// Runs every block in order, whatever the pool.
const IN_ORDER: SchedulePolicy = SchedulePolicy { threads_min: usize::MAX, parallelism_per_thread_min: f64::INFINITY };

const MEASURES: [&str; 8] =
    ["serial", "graph", "in_order_1", "in_order_n", "scheduled_1", "scheduled_n", "default_n", "graph_edges"];

struct Block {
    state: State,
    txs: Vec<Transaction>,
    programs: ProgramRegistry,
    graph: ConflictGraph,
    pools: [rayon::ThreadPool; 2],
}

impl Block {
    fn run(&self, measure: &str) -> Option<BlockOutcome> {
        let [one, many] = &self.pools;
        let (state, txs, programs, graph) = (&self.state, &self.txs[..], &self.programs, &self.graph);
        match measure {
            "serial" => Some(execute_block_serial(state, txs, programs)),
            "graph" => {
                std::hint::black_box(ConflictGraph::build(txs).critical_path_txs);
                None
            }
            "graph_edges" => {
                std::hint::black_box(ConflictGraph::build(txs).dependencies().edge_count());
                None
            }
            "in_order_1" => Some(one.install(|| execute_graph_with(state, txs, programs, graph, IN_ORDER))),
            "in_order_n" => Some(many.install(|| execute_graph_with(state, txs, programs, graph, IN_ORDER))),
            "scheduled_1" => {
                Some(one.install(|| execute_graph_with(state, txs, programs, graph, SchedulePolicy::ALWAYS)))
            }
            "scheduled_n" => {
                Some(many.install(|| execute_graph_with(state, txs, programs, graph, SchedulePolicy::ALWAYS)))
            }
            "default_n" => Some(many.install(|| execute_block_parallel(state, txs, programs))),
            _ => unreachable!("unknown measure {measure}"),
        }
    }
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let spec = WorkloadSpec {
        kind: args.workload,
        accounts: args.workload.default_accounts(),
        txs: args.txs,
        seed: 1,
        chain: ChainId::default(),
    };
    let generated = workload::generate(&spec).map_err(|e| e.to_string())?;
    let txs: Vec<Transaction> =
        generated.txs.iter().map(|raw| decode(raw).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    let pool = |threads: usize| rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string());
    let block = Block {
        state: generated.genesis.state(),
        graph: ConflictGraph::build(&txs),
        txs,
        programs: ProgramRegistry::native(),
        pools: [pool(1)?, pool(args.threads as usize)?],
    };
    let measures: Vec<&str> = match &args.only {
        Some(only) => MEASURES.iter().copied().filter(|m| *m == only.as_str()).collect(),
        None => MEASURES.to_vec(),
    };
    // Every way of running the block must give the serial result.
    let reference = block.run("serial");
    for &measure in &measures {
        if let Some(outcome) = block.run(measure) {
            assert!(Some(&outcome) == reference.as_ref(), "{measure} differs from the serial reference");
        }
    }
    let mut samples_ms: Vec<Vec<f64>> = vec![Vec::new(); measures.len()];
    for repetition in 0..args.repeats as usize {
        for i in (0..measures.len()).map(|k| (k + repetition) % measures.len()) {
            let start = Instant::now();
            std::hint::black_box(block.run(measures[i]));
            samples_ms[i].push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let median_ms: Vec<f64> = samples_ms.iter_mut().map(|s| sluice_bench::median(s)).collect();
    if args.only.is_some() {
        println!("{} {:.3} ms (median of {})", measures[0], median_ms[0], args.repeats);
        return Ok(());
    }
    let ms = |name: &str| median_ms[MEASURES.iter().position(|m| *m == name).expect("a measure")];
    println!(
        "{} ({} txs, critical path {}), 1 and {} threads, medians of {}:",
        args.workload, args.txs, block.graph.critical_path_txs, args.threads, args.repeats
    );
    for (name, value) in MEASURES.iter().zip(&median_ms) {
        println!("  {name:12} {value:8.3} ms");
    }
    println!("scheduled_1 / in_order_1: {:.2}", ms("scheduled_1") / ms("in_order_1"));
    println!("in_order_n / scheduled_n: {:.2}", ms("in_order_n") / ms("scheduled_n"));
    println!("serial / default_n:       {:.2}", ms("serial") / ms("default_n"));
    Ok(())
}
