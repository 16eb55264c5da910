//! `sluice node`: Sluice as a CometBFT 0.38 application over ABCI++.
//!
//! CometBFT orders and replicates blocks; Sluice verifies, executes and
//! commits them. Sluice runs no consensus of its own.
//!
//! | module | owns |
//! |---|---|
//! | [`server`] | the ABCI socket protocol: framing, connections, limits, idle eviction |
//! | [`app`] | one handler per ABCI call over the engine's `Chain` |
//! | [`query`] | the Query paths and the account JSON they answer |
//! | [`tx_status`] | recent committed results by hash, for Query `/tx/<hash>` |
//! | [`mempool`] | the pending per-signer nonce and balance that CheckTx and the pool admit against |
//! | [`pool`] | the application-owned transaction pool (CometBFT `mempool.type = "nop"`) |
//! | [`ingest_http`] | the ingest endpoint that fills the pool over HTTP |
//! | [`statesync`] | snapshots served to peers in chunks, and restored from them |
//! | [`metrics`] | Prometheus counters and latencies, and their HTTP endpoint |
//! | [`config`] | the TOML configuration and its limits |
//! | [`error`] | [`NodeError`], why [`run`] returned, wrapping each module's own error |
//!
//! A chain with programs of its own runs the node with its registry:
//! [`run`] takes the [`ProgramRegistry`] (`ProgramRegistry::native()` plus
//! the chain's programs; `engine/examples/counter_chain.rs` is a whole
//! chain). Genesis comes from `app_state` in CometBFT's genesis.json
//! ([`crate::genesis`]).
//!
//! # ABCI result codes
//!
//! Code 0 is success. Execution errors keep their stable
//! `ExecError::code` (1–99, 1000+). Failures before execution use the
//! node's own range, 100–199:
//!
//! | code | name | meaning |
//! |---|---|---|
//! | 101 | `decode.<kind>` | the bytes are not a v1 transaction |
//! | 102 | `signature.<kind>` | the signature does not verify for this chain id |
//! | 103 | `mempool_full` | a CheckTx limit (`signers_max`, `pending_txs_max`) is reached |
//! | 104 | `not_initialized` | InitChain has not run |
//! | 105 | `duplicate` | the same signature bytes within the replay window |
//! | 106 | `block_full` | past the part of its block whose record fits `BLOCK_RECORD_BYTES_MAX`: not executed, send it again |
//! | 110 | `bad_path` | Query path is not `/account/<hex id>` or `/tx/<hex hash>` |
//! | 111 | `bad_account_id` | the id is not 64 hex digits |
//! | 112 | `tx_not_found` | Query `/tx/<hash>`: not among the recent results the node holds |
//! | 113 | `bad_tx_hash` | Query `/tx/<hash>`: the hash is not 64 hex digits |

pub mod app;
pub mod config;
pub mod error;
pub mod ingest_http;
pub mod mempool;
pub mod metrics;
pub mod pool;
pub mod query;
pub mod server;
pub mod statesync;
pub mod tx_status;

use std::sync::Arc;

pub use config::{ConfigError, LogConfig, LogFormat, NodeConfig, NodeOverrides};
pub use error::{EndpointError, NodeError};

use tracing::info;

use crate::ingest::{self, Rejection};
use crate::program::ProgramRegistry;
use crate::sigverify::{VerifiedCache, BATCH_SIZE_DEFAULT};
use crate::tx::{ChainId, Transaction};

pub const CODE_DECODE: u32 = 101;
pub const CODE_BAD_SIGNATURE: u32 = 102;
pub const CODE_MEMPOOL_FULL: u32 = 103;
pub const CODE_NOT_INITIALIZED: u32 = 104;
pub const CODE_DUPLICATE: u32 = 105;
/// The block's record would exceed `BLOCK_RECORD_BYTES_MAX`: this
/// transaction, past the part of the block that fits, was not executed.
pub const CODE_BLOCK_FULL: u32 = 106;
pub const CODE_QUERY_BAD_PATH: u32 = 110;
pub const CODE_QUERY_BAD_ID: u32 = 111;
pub const CODE_QUERY_TX_NOT_FOUND: u32 = 112;
pub const CODE_QUERY_BAD_TX_HASH: u32 = 113;

/// Decodes and verifies one transaction (CheckTx). A success lands in the
/// verified-signature cache, so FinalizeBlock need not verify it again.
pub fn verify_one(bytes: &[u8], chain: &ChainId) -> Result<Transaction, Rejection> {
    verify_batch(std::slice::from_ref(&bytes.to_vec()), chain).pop().expect("one verdict per input")
}

/// Decodes and verifies a block's transactions in parallel, in order
/// (PrepareProposal, ProcessProposal, FinalizeBlock, replay). Signatures
/// already verified at CheckTx are found in the verified-signature cache
/// and not verified again.
pub fn verify_batch(raw: &[Vec<u8>], chain: &ChainId) -> Vec<Result<Transaction, Rejection>> {
    let decoded = ingest::decode_all(raw.to_vec());
    let verified = ingest::verify_decoded(decoded, chain, BATCH_SIZE_DEFAULT, Some(verified_cache()));
    verified.into_iter().map(|r| r.map(|d| d.tx)).collect()
}

/// The process's verified-signature cache. One per process is right: a
/// node serves one chain, and the key is the hash of the transaction's
/// exact bytes, so an entry vouches for nothing but those bytes.
fn verified_cache() -> &'static VerifiedCache {
    static CACHE: std::sync::OnceLock<VerifiedCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(VerifiedCache::new)
}

/// Runs the node until the process is killed: starts logging, opens the
/// store (rebuilding state from its newest snapshot and the deltas after
/// it), starts metrics, then serves ABCI.
///
/// `programs` are the chain's programs: `ProgramRegistry::native()` for
/// `sluice node`, plus its own for a chain that registers some. Every
/// validator of a chain must run the same ones, or their app hashes part.
pub fn run(config: NodeConfig, programs: ProgramRegistry) -> Result<(), NodeError> {
    config.validate()?;
    init_logging(&config.log)?;
    if config.execution.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(config.execution.threads as usize)
            .thread_name(|i| format!("sluice-worker-{i}"))
            .build_global()
            .map_err(NodeError::WorkerThreads)?;
    }
    let open_start = std::time::Instant::now();
    let app = app::App::open(config.clone(), programs)?;
    let open_elapsed = open_start.elapsed();
    let metrics = Arc::new(metrics::Metrics::default());
    let node = Arc::new(app::Node::new(app, metrics.clone()));
    let metrics_addr = match &config.metrics.listen {
        Some(addr) => Some(metrics::serve(addr, metrics)?),
        None => None,
    };
    let ingest_addr = match &config.ingest.listen {
        Some(addr) => {
            Some(ingest_http::serve(addr, node.clone(), config.ingest.threads, config.ingest.request_bytes_max)?)
        }
        None => None,
    };
    let description = node.describe()?;
    let server = server::Server::bind(&config.abci.listen, node, server::ServerLimits::from_config(&config.abci))?;
    let data = config.storage.data.as_deref().map(|d| d.display().to_string()).unwrap_or_default();
    let unknown = || "unknown until InitChain or state sync".to_string();
    let startup = description.startup.unwrap_or_default();
    info!(
        version = env!("CARGO_PKG_VERSION"),
        abci = %server.local_addr()?,
        metrics = %metrics_addr.map_or("off".to_string(), |a| format!("http://{a}/metrics")),
        ingest = %ingest_addr.map_or("off".to_string(), |a| format!("http://{a}")),
        data = %data,
        durability = %config.storage.durability,
        chain_id = %description.chain_id.unwrap_or_else(unknown),
        genesis_hash = %description.app_state_hash.map_or_else(unknown, hex::encode),
        height = description.height,
        app_hash = %hex::encode(description.app_hash),
        programs = %description.programs,
        snapshot_height = %startup.snapshot_height.map_or("none".to_string(), |h| h.to_string()),
        blocks_replayed = startup.blocks_replayed,
        txs_replayed = startup.txs_replayed,
        open_ms = open_elapsed.as_millis() as u64,
        log_scan_ms = startup.timings.log_scan.as_millis() as u64,
        snapshot_load_ms = startup.timings.snapshot_load.as_millis() as u64,
        genesis_state_ms = startup.timings.genesis_state.as_millis() as u64,
        delta_replay_ms = startup.timings.delta_replay.as_millis() as u64,
        "sluice node serving CometBFT over ABCI"
    );
    Ok(server.serve()?)
}

/// Installs the process's log subscriber: `config.level` as the filter,
/// plain or JSON lines on stderr. A subscriber installed earlier (by a
/// chain that embeds the node and logs its own way) is kept.
pub fn init_logging(config: &LogConfig) -> Result<(), ConfigError> {
    use std::io::IsTerminal;
    let filter = config::log_filter(&config.level)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_installed = match config.format {
        LogFormat::Plain => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests;
