//! `sluice`: the command-line front end of the Sluice engine.
//!
//! `run`, `verify` and `replay` are here; `node` and its flags too;
//! `genesis` is in genesis_commands.rs, and the client for people
//! (`keys`, `tx`, `query`) in client_commands.rs.

mod calibrate;
mod client_commands;
mod genesis_commands;
mod load_commands;
mod output;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use sluice_engine::chain::Chain;
use sluice_engine::exec::ExecutorKind;
use sluice_engine::memory::{MemoryReport, Rss, RssSampler, RSS_SAMPLE_INTERVAL_MS};
use sluice_engine::persist::{
    self, BlockStore, GenesisParams, OpenTimings, ReplayOptions, ReplayReport, ResumeReport, Resumed, StoreConfig,
    StoreOrigin,
};
use sluice_engine::pipeline::{run_pipeline, CommitSink, CommittedBlock, PipelineConfig, PipelineReport, StageMetrics};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::source::{cut_blocks, spawn_generator, GeneratorConfig};
use sluice_engine::state::GenesisKeys;
use sluice_engine::tx::ChainId;
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec, WorkloadStream};
use sluice_storage::Durability;

use crate::output::{errln, outln};

// mimalloc: the pipeline allocates many small per-transaction buffers
// across threads, where the system allocator's arenas contend.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Worker threads are capped: beyond this, scheduling overhead and memory
/// per thread outgrow any machine Sluice targets.
const THREADS_MAX: i64 = 1024;

/// Block size is capped at the engine's BLOCK_TXS_MAX.
const BLOCK_SIZE_MAX: u64 = sluice_engine::block::BLOCK_TXS_MAX as u64;

/// `--txs` when neither it nor `--duration` is given.
const RUN_TXS_DEFAULT: u64 = 50_000;

/// Without `--duration`, a run of at most this many transactions signs its
/// whole workload before the pipeline starts, so that `tps` measures the
/// engine rather than the signing a chain's clients would do. The signed
/// workload is held in memory, about 200 bytes per transfer, so about
/// 200 MB at this limit; above it (or with `--duration`) the run streams
/// instead, in bounded memory. `--pregenerate` signs ahead up to
/// `WORKLOAD_TXS_MAX` (about 2 GB).
const SIGN_AHEAD_TXS_MAX: u64 = 1_000_000;

/// Signing ahead draws and signs this many transactions at a time: enough
/// to keep every worker thread signing, few enough that the progress bar
/// moves. The size does not change a byte (`WorkloadStream::next_batch`).
const SIGN_AHEAD_BATCH_TXS_MAX: u64 = 10_000;

/// One `sluice run --duration` lasts at most a day. A longer soak is a
/// series of runs on the same `--data`, each resuming the last.
const RUN_DURATION_S_MAX: u64 = 86_400;

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
    /// Sign seeded transfers (ahead of the pipeline, or block by block for
    /// long runs), run them through the engine, and print a summary beside
    /// this machine's measured verification limit.
    Run(RunArgs),
    /// Check every record of a data directory, read-only: checksums and hash
    /// chain, then that every block record decodes, follows its parent, and
    /// matches its transactions and receipts roots. Exits non-zero, naming
    /// the segment and byte offset (or the height), on any damage.
    Verify(VerifyArgs),
    /// Rebuild state from a data directory, read-only: from the newest
    /// snapshot plus the deltas of later blocks (or by re-executing every
    /// block from genesis with --reexecute), failing if any root differs
    /// from the block headers.
    Replay(ReplayArgs),
    /// Serve CometBFT 0.38 over ABCI++: verify, execute and commit the
    /// blocks it orders. Genesis comes from app_state in CometBFT's
    /// genesis.json at InitChain (`sluice genesis`); see docs/operations.md,
    /// "Run a chain".
    Node(NodeArgs),
    /// Write and check a chain's genesis: accounts in app_state of
    /// CometBFT's genesis.json.
    #[command(subcommand)]
    Genesis(genesis_commands::GenesisCommand),
    /// Make key files and show their account ids.
    #[command(subcommand)]
    Keys(client_commands::KeysCommand),
    /// Sign a transaction, submit it through a node's CometBFT RPC, and wait
    /// until it is committed.
    #[command(subcommand)]
    Tx(client_commands::TxCommand),
    /// Read accounts from a node's CometBFT RPC.
    #[command(subcommand)]
    Query(client_commands::QueryCommand),
    /// Benchmark a chain: fund load accounts in genesis.json
    /// (--fund-genesis), then submit signed transfers as fast as the chain
    /// takes them and count what committed, read back from the blocks.
    Load(load_commands::LoadArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// Data directory written by `sluice run --data DIR`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReplayArgs {
    /// Data directory written by `sluice run --data DIR`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Re-execute every block's transactions from genesis (verifying each
    /// signature) instead of applying the stored deltas: the full audit.
    #[arg(long)]
    reexecute: bool,
    /// Ignore snapshots and apply every block's delta from genesis.
    #[arg(long, conflicts_with = "reexecute")]
    from_genesis: bool,
    /// Block executor for --reexecute: parallel or serial.
    #[arg(long, default_value = "parallel")]
    executor: ExecutorKind,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=THREADS_MAX))]
    threads: Option<u16>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(after_help = "The config file's keys, limits and defaults are listed in docs/operations.md \
                        (\"Node configuration\"). Logs go to stderr: one line at startup saying what is \
                        served, one per committed block at info level.")]
struct NodeArgs {
    /// ABCI listen address, CometBFT's proxy_app [default: 127.0.0.1:26658, or [abci] listen].
    #[arg(long, value_name = "ADDR")]
    abci: Option<String>,
    /// Data directory: the block log and snapshots [or [storage] data].
    #[arg(long, value_name = "DIR")]
    data: Option<std::path::PathBuf>,
    /// TOML configuration file; flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Prometheus metrics listen address, e.g. 127.0.0.1:26660 [or [metrics] listen].
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Ingest endpoint listen address, e.g. 127.0.0.1:26659: transactions
    /// over HTTP into the node's own pool, for CometBFT's
    /// mempool.type = "nop" [or [ingest] listen; absent: off].
    #[arg(long, value_name = "ADDR")]
    ingest: Option<String>,
    /// Log filter: a level (error, warn, info, debug, trace) or per-module
    /// directives such as "info,sluice_engine::node=debug" [default: RUST_LOG,
    /// else [log] level, else info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Log lines as plain text or one JSON object each [or [log] format].
    #[arg(long, value_name = "plain|json")]
    log_format: Option<sluice_engine::node::LogFormat>,
}

#[derive(Args)]
struct RunArgs {
    /// Transactions to generate and run [default: 50000; with --duration,
    /// as many as the time allows].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=workload::WORKLOAD_STREAM_TXS_MAX))]
    txs: Option<u64>,
    /// Keep generating blocks for SECS seconds (1..=86400), then stop: blocks
    /// already in the pipeline still commit, so the run ends a few blocks
    /// later. With --txs as well, whichever limit comes first ends the run.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=RUN_DURATION_S_MAX))]
    duration: Option<u64>,
    /// Generate and sign the whole workload before the pipeline starts, so
    /// that signing is not counted in elapsed_s and tps. This is the default
    /// up to 1000000 transactions (SIGN_AHEAD_TXS_MAX, about 200 MB held);
    /// the flag forces it above, up to 10000000 (about 2 GB), memory growing
    /// with --txs.
    #[arg(long, visible_alias = "sign-ahead", conflicts_with = "duration")]
    pregenerate: bool,
    /// Generate and sign each block while earlier ones run, in bounded
    /// memory, signing on the worker threads that verify and execute (so
    /// tps counts signing too). The default with --duration or above
    /// 1000000 transactions.
    #[arg(long, conflicts_with = "pregenerate")]
    stream: bool,
    /// Genesis accounts [default: 100000, or 2 for `hot`].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=sluice_engine::state::GENESIS_ACCOUNTS_MAX as i64))]
    accounts: Option<u32>,
    /// Transactions per block. A block also ends before its transactions
    /// pass 16 MiB (BLOCK_TX_BYTES_MAX), so that its record fits the log.
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
    /// With fewer than 4 threads, or few independent transactions, the parallel executor
    /// runs a block in order over its dense working set, the other threads loading
    /// accounts and building the delta: measured faster there (docs/benchmarks.md).
    #[arg(long, default_value = "parallel")]
    executor: ExecutorKind,
    /// Worker threads for verification and execution [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=THREADS_MAX))]
    threads: Option<u16>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Persist every block into DIR (DIR/log, DIR/snapshots). Running again
    /// on the same DIR resumes after the last committed block and continues
    /// with new transactions [default: a temporary directory, removed at exit].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// When a block counts as committed: none (in the page cache: survives
    /// kill -9, not power loss), batch (group commit: fsync every 64 blocks
    /// or 50 ms; power loss loses at most that window), or sync (fsync
    /// before each block is reported: survives power loss).
    #[arg(long, default_value = "batch")]
    durability: Durability,
    /// Write a full state snapshot after every N-th block, so a restart
    /// replays at most N-1 blocks' deltas.
    #[arg(long, value_name = "N", default_value_t = persist::store::SNAPSHOT_INTERVAL_BLOCKS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_interval: u64,
    /// Print `committed height=H hash=HEX` on stderr once each block is committed.
    #[arg(long)]
    print_commits: bool,
    /// Log segment size in bytes (tests use small segments).
    #[arg(long, hide = true, default_value_t = persist::store::STORE_SEGMENT_SIZE_BYTES_DEFAULT)]
    segment_size_bytes: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Verify(args) => verify(args),
        Command::Replay(args) => replay(args),
        Command::Node(args) => node(args),
        Command::Genesis(command) => genesis_commands::genesis(command),
        Command::Keys(command) => client_commands::keys(command),
        Command::Tx(command) => client_commands::tx(command),
        Command::Query(command) => client_commands::query(command),
        Command::Load(args) => load_commands::load(args),
    };
    // A reader that left early (`sluice verify | head`) is no failure;
    // any other error writing stdout is.
    match result.and(output::finish()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            errln!("sluice: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn node(args: NodeArgs) -> Result<(), String> {
    let overrides = sluice_engine::node::NodeOverrides {
        abci: args.abci,
        data: args.data,
        metrics: args.metrics,
        ingest: args.ingest,
        log_level: args.log_level,
        log_format: args.log_format,
    };
    let config = sluice_engine::node::NodeConfig::load(args.config.as_deref(), overrides)?;
    sluice_engine::node::run(config, ProgramRegistry::native())
}

/// The rayon pool that verification and execution share: `threads`
/// workers, or one per core.
fn worker_pool(threads: Option<u16>) -> Result<(rayon::ThreadPool, usize), String> {
    let threads =
        threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sluice-worker-{i}"))
        .build()
        .map_err(|e| format!("cannot start {threads} worker threads: {e}"))?;
    Ok((pool, threads))
}

fn run(args: RunArgs) -> Result<(), String> {
    let started = Instant::now();
    let (pool, threads) = worker_pool(args.threads)?;
    let spec = WorkloadSpec {
        kind: args.workload,
        accounts: args.accounts.unwrap_or(args.workload.default_accounts()),
        txs: args.txs_limit(),
        seed: args.seed,
        chain: ChainId::new(&args.chain_id)?,
    };
    // Before opening the store, whose genesis takes seconds to derive.
    match args.signs_ahead() {
        true => spec.validate()?,
        false => spec.validate_shape()?,
    }
    // The store needs the genesis state only when it is new or has no usable
    // snapshot, and the workload needs only the keys it signs for and sends
    // to: both draw on one set of lazily derived keys, so each key is derived
    // at most once, and only if something uses it.
    let keys = Arc::new(GenesisKeys::new(spec.seed, spec.accounts)?);
    let open_start = Instant::now();
    let (mut persistence, resumed) = pool.install(|| Persistence::open(&args, &spec, &keys))?;
    persistence.info.open_s = open_start.elapsed().as_secs_f64();
    let sampler = RssSampler::start(Duration::from_millis(RSS_SAMPLE_INTERVAL_MS))?;
    // The feed takes the keys: a stream derives the ones its blocks touch
    // as it goes, and signing ahead frees them once it has signed.
    let feed = pool.install(|| Feed::prepare(&args, &spec, keys, &resumed))?;
    // After signing, so that the two do not share the cores.
    let calibration = calibrate::calibrate(&pool, &spec.chain)?;
    let mut chain =
        Chain::resume(resumed.state, ProgramRegistry::native(), args.executor, resumed.height, resumed.last_hash);
    let progress = Progress::new(feed.blocks(&args), args.json);
    let mut sink = ProgressSink { inner: persistence, progress: &progress, first_commit: None };
    let config = PipelineConfig {
        chain: spec.chain.clone(),
        snapshot_interval_blocks: args.snapshot_interval,
        block_record_bytes_max: sink.inner.store.block_record_bytes_max(),
        ..PipelineConfig::default()
    };
    let pipeline_start = Instant::now();
    let (report, generation) = feed.run(&mut chain, &mut sink, &pool, &config, &args)?;
    progress.finish();
    let startup = Startup {
        pipeline_start_s: (pipeline_start - started).as_secs_f64(),
        first_block_s: sink.first_commit.map(|at| (at - started).as_secs_f64()),
        calibrate_s: calibration.elapsed.as_secs_f64(),
        verify_limit_tps: calibration.limit_tps,
    };
    let mut persistence = sink.inner;
    persistence.finish()?;
    let memory = sampler.finish();
    let persisted = &persistence.info;
    let summary = Summary {
        spec: &spec,
        args: &args,
        chain: &chain,
        report: &report,
        threads,
        generation,
        startup,
        memory,
        persisted,
    };
    if args.json {
        outln!("{}", summary.json());
    } else {
        summary.print_human();
    }
    Ok(())
}

impl RunArgs {
    /// The most transactions this run may send: `--txs`, else the default,
    /// or, with `--duration`, as many as a stream may hold.
    fn txs_limit(&self) -> u64 {
        let unset = if self.duration.is_some() { workload::WORKLOAD_STREAM_TXS_MAX } else { RUN_TXS_DEFAULT };
        self.txs.unwrap_or(unset)
    }

    /// Whether the run signs its whole workload before the pipeline starts:
    /// when asked (`--pregenerate`), or by default when it has no duration
    /// and at most `SIGN_AHEAD_TXS_MAX` transactions.
    fn signs_ahead(&self) -> bool {
        self.pregenerate || (!self.stream && self.duration.is_none() && self.txs_limit() <= SIGN_AHEAD_TXS_MAX)
    }
}

/// Where the pipeline's blocks come from.
enum Feed {
    /// Generated and signed before the pipeline starts (the default up to
    /// `SIGN_AHEAD_TXS_MAX`, or `--pregenerate`).
    Pregenerated { blocks: Vec<Vec<Vec<u8>>>, generate_s: f64, genesis_keys_derived: usize },
    /// Drawn and signed block by block while the pipeline runs. Boxed: the
    /// RNG's buffer makes the stream hundreds of bytes.
    Streamed(Box<WorkloadStream>),
}

/// How the workload was generated, for the summary.
struct Generation {
    /// Seconds spent drawing and signing transactions, deriving the genesis
    /// keys they need.
    generate_s: f64,
    /// The generator thread's metrics, when blocks were streamed.
    stage: Option<StageMetrics>,
    /// Genesis keys derived by this run: by opening the store (all of them,
    /// when it had to build the genesis state) and by the workload (those of
    /// the accounts it touched).
    genesis_keys_derived: usize,
}

impl Feed {
    /// `keys` are the genesis keys the store was opened with: the stream
    /// keeps them and derives the ones its blocks touch; signing ahead
    /// derives what it signs with, then frees them (hundreds of bytes per
    /// account) before the pipeline runs. Runs on the worker pool.
    fn prepare(args: &RunArgs, spec: &WorkloadSpec, keys: Arc<GenesisKeys>, resumed: &Resumed) -> Result<Feed, String> {
        if !args.signs_ahead() {
            let stream = WorkloadStream::resumed(spec, keys, &resumed.state, resumed.height)?;
            return Ok(Feed::Streamed(Box::new(stream)));
        }
        // What `workload::generate_resumed` does, a batch at a time so that
        // a terminal can watch it: batches give the same bytes as one call,
        // and the blocks are cut from the whole, as before.
        let start = Instant::now();
        spec.validate()?;
        let mut stream = WorkloadStream::resumed(spec, keys, &resumed.state, resumed.height)?;
        let total = stream.remaining();
        let batch = usize::try_from(SIGN_AHEAD_BATCH_TXS_MAX).expect("a small constant");
        let mut txs = Vec::with_capacity(usize::try_from(total).map_err(|_| "--txs does not fit in memory")?);
        let progress = Progress::signing(total, args.json);
        while stream.remaining() > 0 {
            let signed = stream.next_batch(batch);
            progress.advance(signed.len() as u64);
            txs.extend(signed);
        }
        progress.finish();
        let genesis_keys_derived = stream.keys().derived();
        drop(stream);
        let blocks = cut_blocks(txs, args.block_size as usize);
        let generate_s = start.elapsed().as_secs_f64();
        Ok(Feed::Pregenerated { blocks, generate_s, genesis_keys_derived })
    }

    /// Blocks the run will commit, when known before it starts (not when
    /// a duration ends it).
    fn blocks(&self, args: &RunArgs) -> Option<u64> {
        match self {
            Feed::Pregenerated { blocks, .. } => Some(blocks.len() as u64),
            Feed::Streamed(_) if args.duration.is_some() => None,
            Feed::Streamed(stream) => Some(stream.remaining().div_ceil(args.block_size)),
        }
    }

    fn run(
        self,
        chain: &mut Chain,
        sink: &mut dyn CommitSink,
        pool: &rayon::ThreadPool,
        config: &PipelineConfig,
        args: &RunArgs,
    ) -> Result<(PipelineReport, Generation), String> {
        let stream = match self {
            Feed::Streamed(stream) => stream,
            Feed::Pregenerated { blocks, generate_s, genesis_keys_derived } => {
                let report = run_pipeline(chain, blocks.into_iter(), sink, pool, config).map_err(|e| e.to_string())?;
                return Ok((report, Generation { generate_s, stage: None, genesis_keys_derived }));
            }
        };
        // The stream moves to the generator thread; this handle counts the
        // keys derived once it is done, and frees them on return.
        let keys = Arc::clone(stream.keys());
        let plan = GeneratorConfig {
            block_size: args.block_size as usize,
            channel_blocks_max: config.channel_blocks_max,
            deadline: args.duration.map(|secs| Instant::now() + Duration::from_secs(secs)),
        };
        std::thread::scope(|scope| {
            let (blocks, generator) = spawn_generator(scope, *stream, plan, pool)?;
            let result = run_pipeline(chain, blocks.into_iter(), sink, pool, config);
            // The pipeline dropped the receiver, so the generator has stopped
            // or stops at its next send; a pipeline error names the cause.
            let stage = generator.join();
            let report = result.map_err(|e| e.to_string())?;
            let stage = stage?;
            let genesis_keys_derived = keys.derived();
            Ok((report, Generation { generate_s: stage.busy_s, stage: Some(stage), genesis_keys_derived }))
        })
    }
}

/// A progress bar on a terminal; nothing when piped or with `--json`, so
/// scripted output stays clean.
struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar towards `txs` signed transactions, for signing ahead.
    fn signing(txs: u64, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let template = "{spinner} signing {len} transactions [{bar:40}] {pos}/{len} {per_sec} ETA {eta}";
        let style = ProgressStyle::with_template(template).expect("static progress template is valid");
        let bar = ProgressBar::new(txs);
        bar.set_style(style.progress_chars("=> "));
        Progress(Some(bar))
    }

    /// A bar towards `blocks`, or a counter when the total is unknown.
    fn new(blocks: Option<u64>, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let (bar, template) = match blocks {
            Some(blocks) => {
                (ProgressBar::new(blocks), "{spinner} committing blocks [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
            }
            None => (ProgressBar::no_length(), "{spinner} committing blocks {pos} {per_sec}, {elapsed} elapsed"),
        };
        let style = ProgressStyle::with_template(template).expect("static progress template is valid");
        bar.set_style(style.progress_chars("=> "));
        Progress(Some(bar))
    }

    fn tick(&self) {
        self.advance(1);
    }

    fn advance(&self, by: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(by);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Counts committed blocks on the progress bar, then hands them on; notes
/// when the first one was committed.
struct ProgressSink<'a, S: CommitSink> {
    inner: S,
    progress: &'a Progress,
    first_commit: Option<Instant>,
}

impl<S: CommitSink> CommitSink for ProgressSink<'_, S> {
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), String> {
        self.inner.commit(block)?;
        self.first_commit.get_or_insert_with(Instant::now);
        self.progress.tick();
        Ok(())
    }
}

/// What a run did before its pipeline ran, and how far this machine's
/// verification goes, for the summary.
struct Startup {
    /// From the start of `run` to the start of the pipeline: opening the
    /// store, signing ahead and calibrating.
    pipeline_start_s: f64,
    /// From the start of `run` to the first committed block; none when no
    /// block was committed.
    first_block_s: Option<f64>,
    /// The calibration, signing its messages included.
    calibrate_s: f64,
    /// Raw batch verification on the worker pool, signatures per second.
    verify_limit_tps: f64,
}

struct Summary<'a> {
    spec: &'a WorkloadSpec,
    args: &'a RunArgs,
    chain: &'a Chain,
    report: &'a PipelineReport,
    threads: usize,
    generation: Generation,
    startup: Startup,
    memory: MemoryReport,
    persisted: &'a PersistInfo,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Summary<'_> {
    fn tps(&self) -> f64 {
        self.report.txs_in as f64 / self.report.elapsed_s.max(f64::MIN_POSITIVE)
    }

    /// End-to-end throughput over the calibrated verification limit.
    fn fraction_of_limit(&self) -> f64 {
        self.tps() / self.startup.verify_limit_tps.max(f64::MIN_POSITIVE)
    }

    /// Seconds signed ahead, before the pipeline: none when streamed.
    fn signed_ahead_s(&self) -> Option<f64> {
        self.generation.stage.is_none().then_some(self.generation.generate_s)
    }

    /// The generator (when streamed) and the pipeline's stages, in order.
    fn stages(&self) -> impl Iterator<Item = &StageMetrics> {
        self.generation.stage.iter().chain(&self.report.stages)
    }

    /// The stage with the most busy time, the generator included: when
    /// signing is what bounded the run, the summary says so.
    fn bottleneck(&self) -> Option<&StageMetrics> {
        self.stages().max_by(|a, b| a.busy_s.total_cmp(&b.busy_s))
    }

    fn generation_mode(&self) -> &'static str {
        if self.generation.stage.is_some() {
            "streamed"
        } else {
            "pregenerated"
        }
    }

    fn json(&self) -> serde_json::Value {
        let r = self.report;
        let stages: serde_json::Map<String, serde_json::Value> =
            self.stages().map(|s| (s.name.to_string(), json!(s.busy_s))).collect();
        let mut value = json!({
            "workload": self.spec.kind.to_string(),
            "accounts": self.spec.accounts,
            "seed": self.spec.seed,
            "executor": self.chain.executor.to_string(),
            "threads": self.threads,
            "txs": r.txs_in,
            "duration_s": self.args.duration,
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
            "bottleneck": self.bottleneck().map(|s| s.name),
            "latency_ms_p50": r.latency_ms_quantile(0.50),
            "latency_ms_p99": r.latency_ms_quantile(0.99),
            "generation": self.generation_mode(),
            "generate_s": self.generation.generate_s,
            "genesis_keys_derived": self.generation.genesis_keys_derived,
            "elapsed_s": r.elapsed_s,
            "tps": self.tps(),
            "verify_limit_tps": self.startup.verify_limit_tps,
            "fraction_of_limit": self.fraction_of_limit(),
            "calibrate_s": self.startup.calibrate_s,
            "pipeline_start_s": self.startup.pipeline_start_s,
            "first_block_s": self.startup.first_block_s,
            "data_dir": self.persisted.data_dir.display().to_string(),
            "durability": self.persisted.durability.to_string(),
            "resumed_from_height": self.persisted.resumed_from_height,
            "open_s": self.persisted.open_s,
            "open": self.persisted.open_json(),
            "commit_s": self.persisted.commit_s,
            "appended_bytes": self.persisted.appended_bytes,
        });
        if let Some(object) = value.as_object_mut() {
            object.extend(memory_json(&self.memory));
        }
        value
    }

    fn print_human(&self) {
        let r = self.report;
        outln!(
            "sluice run: workload {}, {} accounts, {} txs, seed {}",
            self.spec.kind,
            self.spec.accounts,
            r.txs_in,
            self.spec.seed
        );
        outln!("  executor    {} on {} threads", self.chain.executor, self.threads);
        self.print_generation();
        outln!("  genesis     {} of {} keys derived", self.generation.genesis_keys_derived, self.spec.accounts);
        self.persisted.print_human();
        self.print_startup();
        outln!("  blocks      {} (height {})", r.blocks, self.chain.height);
        outln!("  executed    {} (ok {}, failed {})", r.executed, r.ok, r.failed);
        for (reason, count) in &r.failures {
            outln!("    failed    {reason}: {count}");
        }
        let rejected: u64 = r.rejected.values().sum();
        outln!("  rejected    {rejected} before execution");
        for (reason, count) in &r.rejected {
            outln!("    rejected  {reason}: {count}");
        }
        outln!("  elapsed     {:.3} s, {:.0} tx/s end to end", r.elapsed_s, self.tps());
        outln!(
            "  limit       {:.0} tx/s raw ed25519 verification on {} threads (calibrated in this run); \
             end to end is {:.2} of it",
            self.startup.verify_limit_tps,
            self.threads,
            self.fraction_of_limit()
        );
        let (p50, p99) = (r.latency_ms_quantile(0.5), r.latency_ms_quantile(0.99));
        outln!("  latency     p50 {p50:.1} ms, p99 {p99:.1} ms per block");
        outln!("  stages      busy / idle / blocked seconds, mean input queue");
        for s in self.stages() {
            let queue = s.queue_depth_mean();
            outln!("    {:<10}{:>8.3} {:>8.3} {:>8.3}   {queue:.1}", s.name, s.busy_s, s.idle_s, s.blocked_s);
        }
        if let Some(b) = self.bottleneck() {
            outln!("  bounded by  {} ({:.3} s busy of {:.3} s)", b.name, b.busy_s, r.elapsed_s);
        }
        print_memory(&self.memory);
        outln!("  state_root  {}", hex::encode(self.chain.state.root()));
        outln!("  block_hash  {}", hex::encode(self.chain.last_hash));
    }

    fn print_generation(&self) {
        let secs = self.generation.generate_s;
        match self.generation.stage {
            Some(_) => outln!(
                "  generated   block by block: {secs:.2} s drawing and signing on the worker threads, \
                 alongside the pipeline (counted below, as stage generate)"
            ),
            None => outln!("  generated   signed ahead in {secs:.2} s before the pipeline (not counted below)"),
        }
        if let Some(limit) = self.args.duration {
            outln!("  duration    {limit} s of generating blocks (--duration)");
        }
    }

    /// What came before the first block: the parts of the time to it.
    fn print_startup(&self) {
        let s = &self.startup;
        let first = match s.first_block_s {
            Some(t) => format!("first block committed {t:.2} s after start"),
            None => format!("no block committed; the pipeline started {:.2} s after start", s.pipeline_start_s),
        };
        let signing = match self.signed_ahead_s() {
            Some(secs) => format!("signing {secs:.2} s"),
            None => "signing block by block".to_string(),
        };
        let (open, cal) = (self.persisted.open_s, s.calibrate_s);
        outln!("  startup     {first}: open {open:.2} s, {signing}, calibration {cal:.2} s");
    }
}

/// The memory fields of `sluice run --json`: start, peak and end of the
/// resident set, its anonymous part (heap) and mapped-file part, and the
/// sampled series. Null where the figures cannot be read (not Linux).
fn memory_json(memory: &MemoryReport) -> serde_json::Map<String, serde_json::Value> {
    let field = |rss: Option<Rss>, pick: fn(Rss) -> u64| json!(rss.map(pick));
    let series: Vec<serde_json::Value> = memory
        .series
        .iter()
        .map(|p| json!({"t_s": p.t_s, "rss_bytes": p.rss.total_bytes, "rss_anon_bytes": p.rss.anon_bytes, "rss_file_bytes": p.rss.file_bytes}))
        .collect();
    let total: fn(Rss) -> u64 = |r| r.total_bytes;
    let anon: fn(Rss) -> u64 = |r| r.anon_bytes;
    let file: fn(Rss) -> u64 = |r| r.file_bytes;
    let pairs = [
        ("rss_bytes_start", field(memory.start, total)),
        ("rss_bytes_max", field(memory.max, total)),
        ("rss_bytes_end", field(memory.end, total)),
        ("rss_anon_bytes_start", field(memory.start, anon)),
        ("rss_anon_bytes_max", field(memory.max, anon)),
        ("rss_anon_bytes_end", field(memory.end, anon)),
        ("rss_file_bytes_max", field(memory.max, file)),
        ("rss_samples", json!(memory.samples)),
        ("rss_series", json!(series)),
    ];
    pairs.into_iter().map(|(name, value)| (name.to_string(), value)).collect()
}

fn print_memory(memory: &MemoryReport) {
    let (Some(start), Some(max), Some(end)) = (memory.start, memory.max, memory.end) else {
        outln!("  memory      not sampled (needs Linux /proc/self/status)");
        return;
    };
    let mib = |bytes: u64| bytes as f64 / MIB;
    outln!(
        "  memory      peak RSS {:.1} MiB (start {:.1}, end {:.1}); heap (anon) peak {:.1} MiB, mapped files peak {:.1} MiB",
        mib(max.total_bytes),
        mib(start.total_bytes),
        mib(end.total_bytes),
        mib(max.anon_bytes),
        mib(max.file_bytes)
    );
}

/// Where and how a run persists, for its summary.
struct PersistInfo {
    data_dir: PathBuf,
    /// Set when `data_dir` is a temporary directory removed at exit.
    temporary: bool,
    durability: Durability,
    resumed_from_height: u64,
    /// Opening the store: recovering the log and rebuilding state, until the
    /// next block can execute (the restart time).
    open_s: f64,
    /// What opening found (snapshot used or skipped, torn tail, blocks
    /// replayed) and where `open_s` went.
    open: ResumeReport,
    /// Time spent in commit (encode, append, durability, snapshots).
    commit_s: f64,
    /// Log bytes appended by this run (record headers and padding included).
    appended_bytes: u64,
}

impl PersistInfo {
    fn print_human(&self) {
        let dir = self.data_dir.display();
        if self.temporary {
            outln!("  data        {dir} (temporary, removed at exit; pass --data DIR to keep it)");
        } else {
            outln!("  data        {dir}");
        }
        outln!("  durability  {}", self.durability);
        if self.resumed_from_height > 0 {
            let from = self.open.snapshot_height.map_or("genesis".to_string(), |h| format!("snapshot {h}"));
            outln!("  resumed     after height {} (state rebuilt from {from})", self.resumed_from_height);
        }
        if self.open.torn_tail_bytes > 0 {
            outln!("  recovered   cut a torn tail of {} bytes", self.open.torn_tail_bytes);
        }
        for skipped in &self.open.snapshots_skipped {
            outln!("  skipped     {skipped}");
        }
        let t = &self.open.timings;
        outln!(
            "  opened      in {:.3} s: log scan {:.3} s, snapshot {:.3} s, genesis {:.3} s, {} blocks' deltas {:.3} s",
            self.open_s,
            t.log_scan.as_secs_f64(),
            t.snapshot_load.as_secs_f64(),
            t.genesis_state.as_secs_f64(),
            self.open.blocks_replayed,
            t.delta_replay.as_secs_f64()
        );
    }

    fn open_json(&self) -> serde_json::Value {
        let mut value = timings_json(&self.open.timings);
        value["snapshot_height"] = json!(self.open.snapshot_height);
        value["blocks_replayed"] = json!(self.open.blocks_replayed);
        value["txs_replayed"] = json!(self.open.txs_replayed);
        value
    }
}

/// The parts of opening a store (or of a replay), in seconds.
fn timings_json(t: &OpenTimings) -> serde_json::Value {
    json!({
        "log_scan_s": t.log_scan.as_secs_f64(),
        "snapshot_load_s": t.snapshot_load.as_secs_f64(),
        "genesis_state_s": t.genesis_state.as_secs_f64(),
        "delta_replay_s": t.delta_replay.as_secs_f64(),
    })
}

/// The block store a run commits to, and the temporary directory holding it
/// when no --data was given (removed when this is dropped).
struct Persistence {
    store: BlockStore,
    info: PersistInfo,
    print_commits: bool,
    _temp: Option<tempfile::TempDir>,
}

impl Persistence {
    fn open(args: &RunArgs, spec: &WorkloadSpec, keys: &GenesisKeys) -> Result<(Persistence, Resumed), String> {
        let (dir, temp) = match &args.data {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("sluice-run-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary data directory: {e}"))?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let genesis = GenesisParams { chain_id: spec.chain.clone(), seed: spec.seed, accounts: spec.accounts };
        let config = StoreConfig {
            snapshot_interval_blocks: args.snapshot_interval,
            segment_size_bytes: args.segment_size_bytes,
            ..StoreConfig::new(args.durability)
        };
        let (store, resumed) = BlockStore::open_with_genesis_keys(&dir, config, &genesis, keys)
            .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        let info = PersistInfo {
            data_dir: dir,
            temporary: temp.is_some(),
            durability: args.durability,
            resumed_from_height: resumed.height,
            open_s: 0.0,
            open: resumed.report.clone(),
            commit_s: 0.0,
            appended_bytes: 0,
        };
        Ok((Persistence { store, info, print_commits: args.print_commits, _temp: temp }, resumed))
    }

    /// Makes the run's last blocks durable before reporting success (except
    /// with durability none, which leaves that to the kernel).
    fn finish(&mut self) -> Result<(), String> {
        let start = Instant::now();
        if self.info.durability != Durability::None {
            self.store.sync().map_err(|e| e.to_string())?;
        }
        self.info.commit_s += start.elapsed().as_secs_f64();
        Ok(())
    }
}

impl CommitSink for Persistence {
    /// Commits through the store; the commit line is printed only after the
    /// log accepted the block under the run's durability mode.
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), String> {
        let start = Instant::now();
        let appended_before = self.store.appended_bytes();
        CommitSink::commit(&mut self.store, block)?;
        self.info.appended_bytes += self.store.appended_bytes() - appended_before;
        if self.print_commits {
            // One write per line, so a kill between lines never leaves half a claim.
            let header = &block.header;
            let line = format!("committed height={} hash={}\n", header.height, hex::encode(header.hash()));
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        self.info.commit_s += start.elapsed().as_secs_f64();
        Ok(())
    }
}

fn verify(args: VerifyArgs) -> Result<(), String> {
    let start = Instant::now();
    let report = persist::verify_store(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let elapsed_s = start.elapsed().as_secs_f64();
    let tps = report.txs as f64 / elapsed_s.max(f64::MIN_POSITIVE);
    // No origin: the log holds no record. Nothing was committed, which is
    // not damage: the next `sluice run` starts the store afresh.
    let origin = report.origin.as_ref();
    if args.json {
        let value = json!({
            "intact": true,
            "empty": origin.is_none(),
            "data_dir": args.data.display().to_string(),
            "height": report.height,
            "block_hash": origin.map(|_| hex::encode(report.block_hash)),
            "state_root": origin.map(|_| hex::encode(report.state_root)),
            "records": report.records,
            "segments": report.segments,
            "txs": report.txs,
            "torn_tail_bytes": report.torn_tail_bytes,
            "chain_id": origin.map(|origin| origin.chain_id().as_str()),
            "origin": origin.map(origin_json),
            "elapsed_s": elapsed_s,
            "tps": tps,
        });
        outln!("{value}");
        return Ok(());
    }
    match origin {
        Some(origin) => {
            outln!("sluice verify: {} is intact", args.data.display());
            outln!("  origin      {origin}");
        }
        None => {
            outln!("sluice verify: {} is intact and empty: nothing was committed", args.data.display());
            outln!("  origin      none: the log holds no record (a first run stopped before its genesis record)");
        }
    }
    outln!("  records     {} in {} segments", report.records, report.segments);
    outln!("  height      {} ({} txs)", report.height, report.txs);
    if origin.is_some() {
        outln!("  block_hash  {}", hex::encode(report.block_hash));
        outln!("  state_root  {}", hex::encode(report.state_root));
    }
    outln!("  elapsed     {elapsed_s:.3} s, {tps:.0} tx/s");
    if report.torn_tail_bytes > 0 {
        outln!("  torn tail   {} bytes after the last whole record (cut by the next run)", report.torn_tail_bytes);
    }
    if origin.is_none() {
        outln!("  next        the next `sluice run` (or a node's InitChain or state sync) starts it afresh");
    }
    Ok(())
}

/// What a store's chain starts from, for `verify --json`.
fn origin_json(origin: &StoreOrigin) -> serde_json::Value {
    match origin {
        StoreOrigin::Seeded(params) => json!({"kind": "seeded", "seed": params.seed, "accounts": params.accounts}),
        StoreOrigin::AppState(genesis) => json!({
            "kind": "app_state",
            "app_state_hash": hex::encode(sluice_engine::genesis::app_state_hash(&genesis.app_state)),
            "app_state_bytes": genesis.app_state.len(),
        }),
        StoreOrigin::Restored(base) => json!({
            "kind": "restored",
            "app_state_hash": hex::encode(base.app_state_hash),
            "height": base.height,
            "block_hash": hex::encode(base.block_hash),
        }),
    }
}

fn replay(args: ReplayArgs) -> Result<(), String> {
    let (pool, _) = worker_pool(args.threads)?;
    let report = pool
        .install(|| match args.reexecute {
            true => persist::replay_reexecute(&args.data, args.executor, &ProgramRegistry::native()),
            false => persist::replay_from_deltas(&args.data, ReplayOptions { from_genesis: args.from_genesis }),
        })
        .map_err(|e| format!("{}: {e}", args.data.display()))?;
    let mode = if args.reexecute { "reexecute" } else { "deltas" };
    print_replay(&args, mode, &report);
    Ok(())
}

fn print_replay(args: &ReplayArgs, mode: &str, report: &ReplayReport) {
    if args.json {
        let value = json!({
            "mode": mode,
            "data_dir": args.data.display().to_string(),
            "height": report.height,
            "block_hash": hex::encode(report.block_hash),
            "state_root": hex::encode(report.state_root),
            "start_height": report.start_height,
            "blocks": report.blocks,
            "txs": report.txs,
            "elapsed_s": report.elapsed.as_secs_f64(),
            "tps": report.tps(),
            "torn_tail_bytes": report.torn_tail_bytes,
            "snapshots_skipped": report.snapshots_skipped,
            "timings": timings_json(&report.timings),
        });
        outln!("{value}");
        return;
    }
    outln!("sluice replay ({mode}): {}", args.data.display());
    outln!("  from        height {}", report.start_height);
    outln!("  replayed    {} blocks, {} txs", report.blocks, report.txs);
    outln!("  height      {}", report.height);
    outln!("  block_hash  {}", hex::encode(report.block_hash));
    outln!("  state_root  {} (matches every block header)", hex::encode(report.state_root));
    outln!("  elapsed     {:.3} s, {:.0} tx/s", report.elapsed.as_secs_f64(), report.tps());
    let t = &report.timings;
    let (scan, genesis) = (t.log_scan.as_secs_f64(), t.genesis_state.as_secs_f64());
    if args.reexecute {
        outln!("  of which    log scan {scan:.3} s, genesis {genesis:.3} s, the rest verifying and executing");
    } else {
        let (snapshot, deltas) = (t.snapshot_load.as_secs_f64(), t.delta_replay.as_secs_f64());
        outln!("  of which    log scan {scan:.3} s, snapshot {snapshot:.3} s, genesis {genesis:.3} s, deltas {deltas:.3} s");
    }
    for skipped in &report.snapshots_skipped {
        outln!("  skipped     {skipped}");
    }
}
