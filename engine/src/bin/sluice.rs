//! `sluice`: the command-line front end of the Sluice engine.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use sluice_engine::chain::Chain;
use sluice_engine::exec::ExecutorKind;
use sluice_engine::pipeline::{run_pipeline, CommitSink, CommittedBlock, DiscardSink, PipelineConfig, PipelineReport};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::tx::ChainId;
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};

// mimalloc: the pipeline allocates many small per-transaction buffers
// across threads, where the system allocator's arenas contend.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Worker threads are capped: beyond this, scheduling overhead and memory
/// per thread outgrow any machine Sluice targets.
const THREADS_MAX: i64 = 1024;

/// Block size is capped at the engine's BLOCK_TXS_MAX.
const BLOCK_SIZE_MAX: u64 = sluice_engine::block::BLOCK_TXS_MAX as u64;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: a high-throughput transaction processing engine",
    long_about = "Sluice verifies ed25519 signatures in batches, executes transactions against \
                  account state, and produces hash-chained blocks with a lattice-hash state root."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a seeded workload of signed transfers, run it through the
    /// engine block by block, and print a summary.
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Transactions to generate and run.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=workload::WORKLOAD_TXS_MAX))]
    txs: u64,
    /// Genesis accounts [default: 100000, or 2 for `hot`].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=sluice_engine::state::GENESIS_ACCOUNTS_MAX as i64))]
    accounts: Option<u32>,
    /// Transactions per block.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=BLOCK_SIZE_MAX))]
    block_size: u64,
    /// Access pattern: uniform, hot (every tx shares one account), zipf (s = 1.0), or groups:K (K disjoint groups).
    #[arg(long, default_value = "uniform")]
    workload: WorkloadKind,
    /// Seed for genesis keys and the workload; the same seed gives the same state root on every machine.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Chain id signed into every transaction (1..=64 printable ASCII bytes).
    #[arg(long, default_value = "sluice-local")]
    chain_id: String,
    /// Block executor: parallel (conflict graph on a worker pool) or serial (the reference).
    #[arg(long, default_value = "parallel")]
    executor: ExecutorKind,
    /// Worker threads for verification and execution [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=THREADS_MAX))]
    threads: Option<u16>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sluice: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    let threads =
        args.threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sluice-worker-{i}"))
        .build()
        .map_err(|e| format!("cannot start {threads} worker threads: {e}"))?;
    let spec = WorkloadSpec {
        kind: args.workload,
        accounts: args.accounts.unwrap_or(args.workload.default_accounts()),
        txs: args.txs,
        seed: args.seed,
        chain: ChainId::new(&args.chain_id)?,
    };
    let generate_start = Instant::now();
    let workload = pool.install(|| workload::generate(&spec))?;
    let mut chain = Chain::new(pool.install(|| workload.genesis.state()), ProgramRegistry::native(), args.executor);
    let generate_s = generate_start.elapsed().as_secs_f64();

    let blocks = split_blocks(workload.txs, args.block_size as usize);
    let progress = Progress::new(blocks.len() as u64, args.json);
    let mut sink = ProgressSink { inner: DiscardSink, progress: &progress };
    let config = PipelineConfig { chain: spec.chain.clone(), ..PipelineConfig::default() };
    let report = run_pipeline(&mut chain, blocks.into_iter(), &mut sink, &pool, &config).map_err(|e| e.to_string())?;
    progress.finish();
    let summary = Summary { spec: &spec, chain: &chain, report: &report, threads, generate_s };
    if args.json {
        println!("{}", summary.json());
    } else {
        summary.print_human();
    }
    Ok(())
}

/// Moves the transactions into blocks without copying their bytes.
fn split_blocks(txs: Vec<Vec<u8>>, block_size: usize) -> Vec<Vec<Vec<u8>>> {
    let mut blocks = Vec::with_capacity(txs.len().div_ceil(block_size));
    let mut txs = txs.into_iter().peekable();
    while txs.peek().is_some() {
        blocks.push(txs.by_ref().take(block_size).collect());
    }
    blocks
}

/// A progress bar on a terminal; nothing when piped or with `--json`, so
/// scripted output stays clean.
struct Progress(Option<ProgressBar>);

impl Progress {
    fn new(blocks: u64, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new(blocks);
        let style =
            ProgressStyle::with_template("{spinner} committing blocks [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
                .expect("static progress template is valid");
        bar.set_style(style.progress_chars("=> "));
        Progress(Some(bar))
    }

    fn tick(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Counts committed blocks on the progress bar, then hands them on.
struct ProgressSink<'a, S: CommitSink> {
    inner: S,
    progress: &'a Progress,
}

impl<S: CommitSink> CommitSink for ProgressSink<'_, S> {
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), String> {
        self.inner.commit(block)?;
        self.progress.tick();
        Ok(())
    }
}

struct Summary<'a> {
    spec: &'a WorkloadSpec,
    chain: &'a Chain,
    report: &'a PipelineReport,
    threads: usize,
    generate_s: f64,
}

impl Summary<'_> {
    fn tps(&self) -> f64 {
        self.report.txs_in as f64 / self.report.elapsed_s.max(f64::MIN_POSITIVE)
    }

    fn json(&self) -> serde_json::Value {
        let r = self.report;
        let stages: serde_json::Map<String, serde_json::Value> =
            r.stages.iter().map(|s| (s.name.to_string(), json!(s.busy_s))).collect();
        json!({
            "workload": self.spec.kind.to_string(),
            "accounts": self.spec.accounts,
            "seed": self.spec.seed,
            "executor": self.chain.executor.to_string(),
            "threads": self.threads,
            "txs": self.spec.txs,
            "blocks": r.blocks,
            "height": self.chain.height,
            "state_root": hex::encode(self.chain.state.root()),
            "block_hash": hex::encode(self.chain.last_hash),
            "executed": r.executed,
            "ok": r.ok,
            "failed": r.failed,
            "failures": r.failures,
            "rejected": r.rejected,
            "stages": stages,
            "bottleneck": r.bottleneck().map(|s| s.name),
            "latency_ms_p50": r.latency_ms_quantile(0.50),
            "latency_ms_p99": r.latency_ms_quantile(0.99),
            "generate_s": self.generate_s,
            "elapsed_s": r.elapsed_s,
            "tps": self.tps(),
        })
    }

    fn print_human(&self) {
        let r = self.report;
        println!(
            "sluice run: workload {}, {} accounts, {} txs, seed {}",
            self.spec.kind, self.spec.accounts, self.spec.txs, self.spec.seed
        );
        println!("  executor    {} on {} threads", self.chain.executor, self.threads);
        println!("  generated and signed in {:.2} s (not counted below)", self.generate_s);
        println!("  blocks      {} (height {})", r.blocks, self.chain.height);
        println!("  executed    {} (ok {}, failed {})", r.executed, r.ok, r.failed);
        for (reason, count) in &r.failures {
            println!("    failed    {reason}: {count}");
        }
        let rejected: u64 = r.rejected.values().sum();
        println!("  rejected    {rejected} before execution");
        for (reason, count) in &r.rejected {
            println!("    rejected  {reason}: {count}");
        }
        println!("  elapsed     {:.3} s, {:.0} tx/s end to end", r.elapsed_s, self.tps());
        let (p50, p99) = (r.latency_ms_quantile(0.5), r.latency_ms_quantile(0.99));
        println!("  latency     p50 {p50:.1} ms, p99 {p99:.1} ms per block");
        println!("  stages      busy / idle / blocked seconds, mean input queue");
        for s in &r.stages {
            let queue = s.queue_depth_mean();
            println!("    {:<10}{:>8.3} {:>8.3} {:>8.3}   {queue:.1}", s.name, s.busy_s, s.idle_s, s.blocked_s);
        }
        if let Some(b) = r.bottleneck() {
            println!("  bounded by  {} ({:.3} s busy of {:.3} s)", b.name, b.busy_s, r.elapsed_s);
        }
        println!("  state_root  {}", hex::encode(self.chain.state.root()));
        println!("  block_hash  {}", hex::encode(self.chain.last_hash));
    }
}
