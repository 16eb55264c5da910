//! The command line: `Cli` and its `Command`s, the flags of `run`,
//! `verify`, `replay` and `node`, the flag groups several commands share
//! (defined once here, flattened into each), and what the flags of `run`
//! mean together (`RunArgs::txs_limit`, `RunArgs::signs_ahead`).
//!
//! The subcommand families with a file of their own declare their flags
//! there: `genesis` in genesis_commands.rs, `keys`, `tx` and `query` in
//! client_commands.rs, `load` in load_commands.rs; they share the groups
//! below too.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use sluice_engine::exec::ExecutorKind;
use sluice_engine::persist;
use sluice_engine::workload::{self, WorkloadKind};
use sluice_storage::Durability;

use crate::{client_commands, genesis_commands, load_commands};

// The run's limits live with the engine's, in `sluice_engine::limits`.
pub use sluice_engine::limits::{RUN_DURATION_S_MAX, RUN_TXS_DEFAULT, SIGN_AHEAD_TXS_MAX};

/// Worker threads (`--threads`), as clap's ranges take them.
const THREADS_MAX: i64 = sluice_engine::limits::THREADS_MAX as i64;

/// Block size is capped at the engine's BLOCK_TXS_MAX.
pub const BLOCK_SIZE_MAX: u64 = sluice_engine::block::BLOCK_TXS_MAX as u64;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: a high-throughput transaction processing engine",
    long_about = "Sluice verifies ed25519 signatures in batches, executes transactions against \
                  account state, and produces hash-chained blocks with a lattice-hash state root."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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

/// How blocks are executed, and on how many threads: `run` and `replay`.
#[derive(Args)]
pub struct ExecutionFlags {
    /// Block executor: parallel (conflict graph on a worker pool) or serial (the reference).
    /// With fewer than 4 threads, or few independent transactions, the parallel executor
    /// runs a block in order over its dense working set, the other threads loading
    /// accounts and building the delta: measured faster there (docs/benchmarks.md).
    #[arg(long, default_value = "parallel")]
    pub executor: ExecutorKind,
    /// Worker threads for verification and execution [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=THREADS_MAX))]
    pub threads: Option<u16>,
}

/// How a command prints: every command with a human summary takes it.
#[derive(Args)]
pub struct OutputFlags {
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// The flags of `sluice verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// Data directory written by `sluice run --data DIR`.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// The flags of `sluice replay`.
#[derive(Args)]
// Only --reexecute executes blocks; replaying deltas uses the threads alone.
#[command(
    mut_arg("executor", |arg| arg.help("Block executor for --reexecute: parallel or serial")),
    mut_arg("threads", |arg| arg.help("Worker threads [default: all cores]"))
)]
pub struct ReplayArgs {
    /// Data directory written by `sluice run --data DIR`.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Re-execute every block's transactions from genesis (verifying each
    /// signature) instead of applying the stored deltas: the full audit.
    #[arg(long)]
    pub reexecute: bool,
    /// Ignore snapshots and apply every block's delta from genesis.
    #[arg(long, conflicts_with = "reexecute")]
    pub from_genesis: bool,
    #[command(flatten)]
    pub execution: ExecutionFlags,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// The flags of `sluice node`; each overrides its key in the config file.
#[derive(Args)]
#[command(after_help = "The config file's keys, limits and defaults are listed in docs/operations.md \
                        (\"Node configuration\"). Logs go to stderr: one line at startup saying what is \
                        served, one per committed block at info level.")]
pub struct NodeArgs {
    /// ABCI listen address, CometBFT's proxy_app [default: 127.0.0.1:26658, or [abci] listen].
    #[arg(long, value_name = "ADDR")]
    pub abci: Option<String>,
    /// Data directory: the block log and snapshots [or [storage] data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// TOML configuration file; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Prometheus metrics listen address, e.g. 127.0.0.1:26660 [or [metrics] listen].
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Ingest endpoint listen address, e.g. 127.0.0.1:26659: transactions
    /// over HTTP into the node's own pool, for CometBFT's
    /// mempool.type = "nop" [or [ingest] listen; absent: off].
    #[arg(long, value_name = "ADDR")]
    pub ingest: Option<String>,
    /// Log filter: a level (error, warn, info, debug, trace) or per-module
    /// directives such as "info,sluice_engine::node=debug" [default: RUST_LOG,
    /// else [log] level, else info].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log lines as plain text or one JSON object each [or [log] format].
    #[arg(long, value_name = "plain|json")]
    pub log_format: Option<sluice_engine::node::LogFormat>,
}

/// The flags of `sluice run`.
#[derive(Args)]
pub struct RunArgs {
    /// Transactions to generate and run [default: 50000; with --duration,
    /// as many as the time allows].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=workload::WORKLOAD_STREAM_TXS_MAX))]
    pub txs: Option<u64>,
    /// Keep generating blocks for SECS seconds (1..=86400), then stop: blocks
    /// already in the pipeline still commit, so the run ends a few blocks
    /// later. With --txs as well, whichever limit comes first ends the run.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=RUN_DURATION_S_MAX))]
    pub duration: Option<u64>,
    /// Generate and sign the whole workload before the pipeline starts, so
    /// that signing is not counted in elapsed_s and tps. This is the default
    /// up to 1000000 transactions (SIGN_AHEAD_TXS_MAX, about 200 MB held);
    /// the flag forces it above, up to 10000000 (about 2 GB), memory growing
    /// with --txs.
    #[arg(long, visible_alias = "sign-ahead", conflicts_with = "duration")]
    pub pregenerate: bool,
    /// Generate and sign each block while earlier ones run, in bounded
    /// memory, signing on the worker threads that verify and execute (so
    /// tps counts signing too). The default with --duration or above
    /// 1000000 transactions.
    #[arg(long, conflicts_with = "pregenerate")]
    pub stream: bool,
    /// Genesis accounts [default: 100000, or 2 for `hot`].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=sluice_engine::state::GENESIS_ACCOUNTS_MAX as i64))]
    pub accounts: Option<u32>,
    /// Transactions per block. A block also ends before its transactions
    /// pass 16 MiB (BLOCK_TX_BYTES_MAX), so that its record fits the log.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=BLOCK_SIZE_MAX))]
    pub block_size: u64,
    /// Access pattern: uniform, hot (every tx shares one account), zipf (s = 1.0), or groups:K (K disjoint groups).
    #[arg(long, default_value = "uniform")]
    pub workload: WorkloadKind,
    /// Seed for genesis keys and the workload; the same seed gives the same state root on every machine.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Chain id signed into every transaction (1..=64 printable ASCII bytes).
    #[arg(long, default_value = "sluice-local")]
    pub chain_id: String,
    #[command(flatten)]
    pub execution: ExecutionFlags,
    #[command(flatten)]
    pub output: OutputFlags,
    /// Persist every block into DIR (DIR/log, DIR/snapshots). Running again
    /// on the same DIR resumes after the last committed block and continues
    /// with new transactions [default: a temporary directory, removed at exit].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// When a block counts as committed: none (in the page cache: survives
    /// kill -9, not power loss), batch (group commit: fsync every 64 blocks
    /// or 50 ms; power loss loses at most that window), or sync (fsync
    /// before each block is reported: survives power loss).
    #[arg(long, default_value = "batch")]
    pub durability: Durability,
    /// Write a full state snapshot after every N-th block, so a restart
    /// replays at most N-1 blocks' deltas.
    #[arg(long, value_name = "N", default_value_t = persist::store::SNAPSHOT_INTERVAL_BLOCKS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_interval: u64,
    /// Print `committed height=H hash=HEX` on stderr once each block is committed.
    #[arg(long)]
    pub print_commits: bool,
    /// Log segment size in bytes (tests use small segments).
    #[arg(long, hide = true, default_value_t = persist::store::STORE_SEGMENT_SIZE_BYTES_DEFAULT)]
    pub segment_size_bytes: u64,
}

impl RunArgs {
    /// The most transactions this run may send: `--txs`, else the default,
    /// or, with `--duration`, as many as a stream may hold.
    pub fn txs_limit(&self) -> u64 {
        let unset = if self.duration.is_some() { workload::WORKLOAD_STREAM_TXS_MAX } else { RUN_TXS_DEFAULT };
        self.txs.unwrap_or(unset)
    }

    /// Whether the run signs its whole workload before the pipeline starts:
    /// when asked (`--pregenerate`), or by default when it has no duration
    /// and at most `SIGN_AHEAD_TXS_MAX` transactions.
    pub fn signs_ahead(&self) -> bool {
        self.pregenerate || (!self.stream && self.duration.is_none() && self.txs_limit() <= SIGN_AHEAD_TXS_MAX)
    }
}
