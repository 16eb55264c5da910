//! `sluice`: the command-line front end of the Sluice engine.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use sluice_engine::chain::Chain;
use sluice_engine::exec::{ExecutorKind, TxStatus};
use sluice_engine::ingest::{self, RejectionCounts};
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
    /// Serve CometBFT 0.38 over ABCI++: verify, execute and commit the
    /// blocks it orders (see docs/operations.md).
    Node(NodeArgs),
}

#[derive(Args)]
struct NodeArgs {
    /// ABCI listen address [default: 127.0.0.1:26658, or [abci] listen].
    #[arg(long)]
    abci: Option<String>,
    /// Data directory for the committed-block journal [or [storage] data].
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// TOML configuration file; flags override it.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Prometheus metrics listen address, e.g. 127.0.0.1:26660 [or [metrics] listen].
    #[arg(long)]
    metrics: Option<String>,
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
        Command::Node(args) => node(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sluice: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn node(args: NodeArgs) -> Result<(), String> {
    let overrides = sluice_engine::node::NodeOverrides { abci: args.abci, data: args.data, metrics: args.metrics };
    let config = sluice_engine::node::NodeConfig::load(args.config.as_deref(), overrides)?;
    sluice_engine::node::run(config)
}

#[derive(Default)]
struct RunTotals {
    ok: u64,
    failed: u64,
    executed: u64,
    rejected: RejectionCounts,
    failures: std::collections::BTreeMap<&'static str, u64>,
}

fn run(args: RunArgs) -> Result<(), String> {
    let threads =
        args.threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sluice-worker-{i}"))
        .build()
        .map_err(|e| format!("cannot start {threads} worker threads: {e}"))?;
    pool.install(|| run_on_pool(args, threads))
}

fn run_on_pool(args: RunArgs, threads: usize) -> Result<(), String> {
    let spec = WorkloadSpec {
        kind: args.workload,
        accounts: args.accounts.unwrap_or(args.workload.default_accounts()),
        txs: args.txs,
        seed: args.seed,
        chain: ChainId::new(&args.chain_id)?,
    };
    let generate_start = Instant::now();
    let workload = workload::generate(&spec)?;
    let mut chain = Chain::new(workload.genesis.state(), ProgramRegistry::native(), args.executor);
    let generate_s = generate_start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut totals = RunTotals::default();
    for raw_block in workload.txs.chunks(args.block_size as usize) {
        let verified = ingest::verify_transactions(raw_block, &spec.chain);
        let txs = ingest::partition(verified, &mut totals.rejected);
        let block = chain.execute_block(&txs)?;
        tally(&mut totals, &block.outcome.receipts);
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let summary = Summary { spec: &spec, chain: &chain, totals: &totals, threads, generate_s, elapsed_s };
    if args.json {
        println!("{}", summary.json());
    } else {
        summary.print_human();
    }
    Ok(())
}

fn tally(totals: &mut RunTotals, receipts: &[sluice_engine::exec::Receipt]) {
    for receipt in receipts {
        totals.executed += 1;
        match receipt.status {
            TxStatus::Ok => totals.ok += 1,
            TxStatus::Failed { error, .. } | TxStatus::Rejected { error } => {
                totals.failed += 1;
                *totals.failures.entry(error.name()).or_default() += 1;
            }
        }
    }
}

struct Summary<'a> {
    spec: &'a WorkloadSpec,
    chain: &'a Chain,
    totals: &'a RunTotals,
    threads: usize,
    generate_s: f64,
    elapsed_s: f64,
}

impl Summary<'_> {
    fn tps(&self) -> f64 {
        self.spec.txs as f64 / self.elapsed_s.max(f64::MIN_POSITIVE)
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "workload": self.spec.kind.to_string(),
            "accounts": self.spec.accounts,
            "seed": self.spec.seed,
            "executor": self.chain.executor.to_string(),
            "threads": self.threads,
            "txs": self.spec.txs,
            "blocks": self.chain.height,
            "height": self.chain.height,
            "state_root": hex::encode(self.chain.state.root()),
            "block_hash": hex::encode(self.chain.last_hash),
            "executed": self.totals.executed,
            "ok": self.totals.ok,
            "failed": self.totals.failed,
            "failures": self.totals.failures,
            "rejected": self.totals.rejected,
            "generate_s": self.generate_s,
            "elapsed_s": self.elapsed_s,
            "tps": self.tps(),
        })
    }

    fn print_human(&self) {
        let t = self.totals;
        println!(
            "sluice run: workload {}, {} accounts, {} txs, seed {}",
            self.spec.kind, self.spec.accounts, self.spec.txs, self.spec.seed
        );
        println!("  executor {} on {} threads", self.chain.executor, self.threads);
        println!("  generated and signed in {:.2} s (not counted below)", self.generate_s);
        println!("  blocks      {} (height {})", self.chain.height, self.chain.height);
        println!("  executed    {} (ok {}, failed {})", t.executed, t.ok, t.failed);
        for (reason, count) in &t.failures {
            println!("    failed    {reason}: {count}");
        }
        let rejected: u64 = t.rejected.values().sum();
        println!("  rejected    {rejected} before execution");
        for (reason, count) in &t.rejected {
            println!("    rejected  {reason}: {count}");
        }
        println!("  elapsed     {:.3} s, {:.0} tx/s", self.elapsed_s, self.tps());
        println!("  state_root  {}", hex::encode(self.chain.state.root()));
        println!("  block_hash  {}", hex::encode(self.chain.last_hash));
    }
}
