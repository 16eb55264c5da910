//! `sluice node`: Sluice as a CometBFT 0.38 application over ABCI++.
//!
//! CometBFT orders and replicates blocks; Sluice verifies, executes and
//! commits them. Sluice runs no consensus of its own.
//!
//! | module | owns |
//! |---|---|
//! | [`server`] | the ABCI socket protocol: framing, connections, limits |
//! | [`app`] | one handler per ABCI call over the engine's `Chain` |
//! | [`mempool`] | CheckTx's pending per-signer nonce and balance |
//! | [`journal`] | the durable record Commit writes and restart replays |
//! | [`metrics`] | Prometheus counters and latencies, and their HTTP endpoint |
//! | [`config`] | the TOML configuration and its limits |
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
//! | 110 | `bad_path` | Query path is not `/account/<hex id>` |
//! | 111 | `bad_account_id` | the id is not 64 hex digits |

pub mod app;
pub mod config;
pub mod journal;
pub mod mempool;
pub mod metrics;
pub mod server;

use std::sync::Arc;

pub use config::{NodeConfig, NodeOverrides};

use crate::ingest::{self, Rejection};
use crate::sigverify::{VerifiedCache, BATCH_SIZE_DEFAULT};
use crate::tx::{ChainId, Transaction};

pub const CODE_DECODE: u32 = 101;
pub const CODE_BAD_SIGNATURE: u32 = 102;
pub const CODE_MEMPOOL_FULL: u32 = 103;
pub const CODE_NOT_INITIALIZED: u32 = 104;
pub const CODE_DUPLICATE: u32 = 105;
pub const CODE_QUERY_BAD_PATH: u32 = 110;
pub const CODE_QUERY_BAD_ID: u32 = 111;

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

/// Runs the node until the process is killed: opens (and replays) the
/// journal, starts metrics, then serves ABCI.
pub fn run(config: NodeConfig) -> Result<(), String> {
    config.validate()?;
    if config.execution.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(config.execution.threads as usize)
            .thread_name(|i| format!("sluice-worker-{i}"))
            .build_global()
            .map_err(|e| format!("cannot start worker threads: {e}"))?;
    }
    let app = app::App::open(config.clone())?;
    let (height, app_hash) = app.committed();
    let metrics = Arc::new(metrics::Metrics::default());
    let node = Arc::new(app::Node::new(app, metrics.clone()));
    if let Some(addr) = &config.metrics.listen {
        let local = metrics::serve(addr, metrics)?;
        eprintln!("sluice node: metrics on http://{local}/metrics");
    }
    let server =
        server::Server::bind(&config.abci.listen, node, config.abci.connections_max, config.abci.request_bytes_max)?;
    eprintln!(
        "sluice node: abci on {}, committed height {height}, app hash {}",
        server.local_addr()?,
        hex::encode(app_hash)
    );
    server.serve()
}

#[cfg(test)]
mod tests;
