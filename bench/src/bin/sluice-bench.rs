//! `sluice-bench`: Sluice's throughput harness.
//!
//! Prints one `Overall <metric>: <value> <unit>` line per figure, or one
//! JSON object with `--json`.

use clap::Parser;
use serde_json::json;

use sluice_bench::measure_execution;
use sluice_engine::program::ProgramRegistry;
use sluice_engine::tx::{decode, ChainId, Transaction};
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "sluice-bench", version, about = "Measure Sluice's throughput as same-run ratios")]
struct Args {
    /// Access pattern: uniform, hot, zipf or groups:K.
    #[arg(long, default_value = "uniform")]
    workload: WorkloadKind,
    /// Genesis accounts [default: 100000, or 2 for `hot`].
    #[arg(long)]
    accounts: Option<u32>,
    /// Transactions to generate.
    #[arg(long, default_value_t = 50_000)]
    txs: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=sluice_engine::block::BLOCK_TXS_MAX as u64))]
    block_size: u64,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Timed repetitions per block and measure; the median is kept.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeats: u32,
    /// Workload seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of `Overall` lines.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let threads =
        args.threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    let spec = WorkloadSpec {
        kind: args.workload,
        accounts: args.accounts.unwrap_or(args.workload.default_accounts()),
        txs: args.txs,
        seed: args.seed,
        chain: ChainId::default(),
    };
    let generated = workload::generate(&spec)?;
    let txs: Vec<Transaction> =
        generated.txs.iter().map(|b| decode(b).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    let blocks: Vec<Vec<Transaction>> = txs.chunks(args.block_size as usize).map(<[Transaction]>::to_vec).collect();
    let genesis = generated.genesis.state();
    let exec = measure_execution(&genesis, &blocks, &ProgramRegistry::native(), &pool, args.repeats as usize);

    if args.json {
        let v = json!({
            "workload": spec.kind.to_string(),
            "accounts": spec.accounts,
            "txs": exec.txs,
            "block_size": args.block_size,
            "threads": threads,
            "serial_exec_tps": exec.serial_tps(),
            "parallel_exec_tps": exec.parallel_tps(),
            "parallel_over_serial": exec.speedup(),
            "graph_build_ms_per_block": 1e3 * exec.graph_s / blocks.len() as f64,
            "graph_exec_tps": exec.txs as f64 / exec.graph_exec_s,
            "parallel_exec_tps_per_core": exec.parallel_tps() / threads as f64,
        });
        println!("{v}");
    } else {
        println!(
            "Overall workload: {} ({} accounts, {} txs, blocks of {}, {threads} threads)",
            spec.kind, spec.accounts, exec.txs, args.block_size
        );
        println!("Overall serial exec TPS: {:.0} tx/s", exec.serial_tps());
        println!("Overall parallel exec TPS: {:.0} tx/s", exec.parallel_tps());
        println!("Overall parallel over serial: {:.3} x", exec.speedup());
        println!("Overall conflict graph build: {:.3} ms per block", 1e3 * exec.graph_s / blocks.len() as f64);
        println!("Overall execute over prebuilt graph TPS: {:.0} tx/s", exec.txs as f64 / exec.graph_exec_s);
        println!("Overall parallel exec TPS per core: {:.0} tx/s", exec.parallel_tps() / threads as f64);
    }
    Ok(())
}
