//! `sluice-bench`: Sluice's throughput harness.
//!
//! For each workload and thread count it prints one block of stable
//! `Overall <metric>: <value> <unit>` lines, or, with `--json`, one JSON
//! object per line. `--plot FILE.svg` draws the results.

use std::path::PathBuf;

use clap::Parser;
use serde_json::json;

use sluice_bench::{measure_all, plot, BenchInput, Row, WorkloadCache};
use sluice_engine::tx::ChainId;
use sluice_engine::workload::{WorkloadKind, WorkloadSpec, WORKLOAD_TXS_MAX};
use sluice_storage::Durability;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sluice-bench",
    version,
    about = "Measure Sluice's throughput as ratios taken in one run",
    long_about = "Measures, on the same signed transactions: the raw ed25519_dalek::verify_batch limit on all \
                  threads, ed25519-zebra's batch verification the same way, the sigverify stage, serial and parallel execution, commit, and the full pipeline. \
                  Prints `Overall <metric>: <value> <unit>` lines (or --json)."
)]
struct Args {
    /// Workloads, comma-separated: uniform, hot, zipf, groups:K.
    #[arg(long, default_value = "uniform", value_delimiter = ',')]
    workload: Vec<WorkloadKind>,
    /// Genesis accounts [default: 100000, or 2 for `hot`].
    #[arg(long)]
    accounts: Option<u32>,
    /// Transactions per workload.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=WORKLOAD_TXS_MAX))]
    txs: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=sluice_engine::block::BLOCK_TXS_MAX as u64))]
    block_size: u64,
    /// Thread counts, comma-separated; several draw a scaling curve [default: all cores].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Vec<u16>,
    /// Durability of the commit and pipeline measures: none, batch or sync.
    #[arg(long, default_value = "batch")]
    durability: Durability,
    /// Timed repetitions per measure; the median is kept.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeats: u32,
    /// Signatures per batch in Sluice's sigverify [default: BATCH_SIZE_DEFAULT]. The dalek limit
    /// and ed25519-zebra are always measured on chunks of REFERENCE_BATCH_SIZE (128).
    #[arg(long, default_value_t = sluice_engine::sigverify::BATCH_SIZE_DEFAULT as u32,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch_size: u32,
    /// Workload seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where generated workloads are cached.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("sluice-bench-cache"))]
    cache_dir: PathBuf,
    /// Print JSON (one object per workload and thread count) instead of `Overall` lines.
    #[arg(long)]
    json: bool,
    /// Draw the results as an SVG chart.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sluice-bench: error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let all_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<usize> =
        if args.threads.is_empty() { vec![all_cores] } else { args.threads.iter().map(|&t| t as usize).collect() };
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot create a scratch directory: {e}"))?;
    let mut rows = Vec::new();
    for &kind in &args.workload {
        let accounts = args.accounts.unwrap_or(kind.default_accounts());
        let spec = WorkloadSpec { kind, accounts, txs: args.txs, seed: args.seed, chain: ChainId::default() };
        let (workload, cached) = WorkloadCache::load_or_generate(&spec, &args.cache_dir)?;
        eprintln!(
            "workload {kind}: {} txs over {accounts} accounts ({})",
            workload.txs.len(),
            if cached { "cached" } else { "generated" }
        );
        let genesis = workload.genesis_state();
        let input = BenchInput {
            workload: &workload,
            genesis: &genesis,
            block_size: args.block_size as usize,
            durability: args.durability,
            repeats: args.repeats as usize,
            verify_batch_size: args.batch_size as usize,
        };
        for &n in &threads {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| e.to_string())?;
            let load_before = load_average_1m();
            let measures = measure_all(&input, &pool, scratch.path())?;
            let load = (load_before, load_average_1m());
            let row = Row { workload: kind.to_string(), accounts, measures };
            if args.json {
                println!("{}", row_json(&row, &args, load));
            } else {
                print_row(&row, &args, load);
            }
            rows.push(row);
        }
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &rows, threads.len() > 1)?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(())
}

/// The 1-minute load average from /proc/loadavg; `None` off Linux. A
/// figure taken while other work shares the cores is not the machine's.
fn load_average_1m() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// (before, after) the row's measures.
type LoadAverages = (Option<f64>, Option<f64>);

fn row_json(row: &Row, args: &Args, load: LoadAverages) -> serde_json::Value {
    let m = &row.measures;
    json!({
        "load_average_before": load.0,
        "load_average_after": load.1,
        "workload": row.workload,
        "accounts": row.accounts,
        "txs": m.txs,
        "block_size": args.block_size,
        "threads": m.threads,
        "durability": args.durability.to_string(),
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "e2e_tps": m.e2e_tps(),
        "verify_limit_tps": m.verify_limit_tps(),
        "fraction_of_limit": m.fraction_of_limit(),
        "sigverify_tps": m.sigverify_tps(),
        "sigverify_over_limit": m.sigverify_tps() / m.verify_limit_tps(),
        "zebra_tps": m.zebra_tps(),
        "sigverify_over_zebra": m.sigverify_tps() / m.zebra_tps(),
        "e2e_over_zebra": m.e2e_tps() / m.zebra_tps(),
        "serial_exec_tps": m.exec.serial_tps(),
        "parallel_exec_tps": m.exec.parallel_tps(),
        "parallel_over_serial": m.exec.speedup(),
        "parallel_exec_tps_per_core": m.exec.parallel_tps() / m.threads as f64,
        "graph_build_ms_per_block": 1e3 * m.exec.graph_s / m.txs.div_ceil(args.block_size as usize) as f64,
        "graph_exec_tps": m.txs as f64 / m.exec.graph_exec_s,
        "state_apply_tps": m.exec.apply_tps(),
        "commit_tps": m.commit_tps(),
        "commit_gb_per_s": m.commit_bytes as f64 / m.commit_s / 1e9,
    })
}

fn print_row(row: &Row, args: &Args, load: LoadAverages) {
    let m = &row.measures;
    let shown = |l: Option<f64>| l.map_or("unknown".to_string(), |l| format!("{l:.2}"));
    println!(
        "Overall workload: {} ({} accounts, {} txs, blocks of {}, {} threads, durability {}, load average {} before, {} after)",
        row.workload,
        row.accounts,
        m.txs,
        args.block_size,
        m.threads,
        args.durability,
        shown(load.0),
        shown(load.1)
    );
    println!("Overall TPS: {:.0} tx/s", m.e2e_tps());
    println!("Overall verify limit TPS: {:.0} tx/s", m.verify_limit_tps());
    println!("Overall fraction of limit: {:.3}", m.fraction_of_limit());
    println!("Overall sigverify stage TPS: {:.0} tx/s", m.sigverify_tps());
    println!("Overall sigverify over limit: {:.3}", m.sigverify_tps() / m.verify_limit_tps());
    println!("Overall ed25519-zebra TPS: {:.0} tx/s", m.zebra_tps());
    println!("Overall sigverify over zebra: {:.3}", m.sigverify_tps() / m.zebra_tps());
    println!("Overall serial exec TPS: {:.0} tx/s", m.exec.serial_tps());
    println!("Overall parallel exec TPS: {:.0} tx/s", m.exec.parallel_tps());
    println!("Overall parallel over serial: {:.3} x", m.exec.speedup());
    println!("Overall parallel exec TPS per core: {:.0} tx/s", m.exec.parallel_tps() / m.threads as f64);
    println!(
        "Overall conflict graph build: {:.3} ms per block",
        1e3 * m.exec.graph_s / m.txs.div_ceil(args.block_size as usize) as f64
    );
    println!("Overall execute over prebuilt graph TPS: {:.0} tx/s", m.txs as f64 / m.exec.graph_exec_s);
    println!("Overall state apply TPS: {:.0} tx/s", m.exec.apply_tps());
    println!("Overall commit TPS: {:.0} tx/s", m.commit_tps());
    println!("Overall commit throughput: {:.3} GB/s", m.commit_bytes as f64 / m.commit_s / 1e9);
}
