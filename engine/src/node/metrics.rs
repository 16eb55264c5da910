//! Prometheus metrics, served as text exposition format 0.0.4 over a
//! tiny HTTP responder on std::net (one request per connection, served
//! one at a time: a scrape every few seconds needs nothing more).
//!
//! Every value is an atomic, so the ABCI threads record without locks.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use super::error::EndpointError;
use crate::limits::HTTP_REQUEST_BYTES_MAX;

/// Latency histogram bucket bounds, in seconds: CheckTx lives in the tens
/// of microseconds, FinalizeBlock and Commit in milliseconds to seconds.
const BUCKETS_SECONDS: [f64; 12] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0];
/// A client that does not send its request within this is dropped, so one
/// stuck client cannot hold the (single-threaded) responder for long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// Count and latency of one ABCI stage.
#[derive(Default)]
pub struct Stage {
    count: AtomicU64,
    sum_nanos: AtomicU64,
    buckets: [AtomicU64; BUCKETS_SECONDS.len()],
}

impl Stage {
    pub fn observe(&self, elapsed: Duration) {
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS_SECONDS) {
            if seconds <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name}_seconds {help}\n# TYPE {name}_seconds histogram");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS_SECONDS) {
            let _ = writeln!(out, "{name}_seconds_bucket{{le=\"{bound}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_seconds_sum {}", self.sum_nanos.load(Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_seconds_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    pub checktx: Stage,
    pub checktx_rejected_total: AtomicU64,
    pub prepare_proposal: Stage,
    pub process_proposal: Stage,
    pub finalize: Stage,
    pub finalize_txs_total: AtomicU64,
    pub finalize_txs_failed_total: AtomicU64,
    pub commit: Stage,
    pub committed_height: AtomicU64,
    pub mempool_pending_txs: AtomicU64,
    pub mempool_signers: AtomicU64,
    pub abci_exceptions_total: AtomicU64,
    pub queries_total: AtomicU64,
    /// Accounts the genesis listed or seeded; 0 before InitChain.
    pub genesis_accounts: AtomicU64,
    /// Programs the chain runs, native ones included.
    pub programs: AtomicU64,
    /// Height of the snapshot the node's state was rebuilt from at startup; 0: none.
    pub startup_snapshot_height: AtomicU64,
    /// Blocks whose deltas were applied at startup after that snapshot.
    pub startup_blocks_replayed: AtomicU64,
    pub snapshot_write: Stage,
    /// Snapshots that failed to write (the block was committed regardless).
    pub snapshot_write_failed_total: AtomicU64,
    pub snapshot_chunks_served_total: AtomicU64,
    /// Chunks that did not match their hash, and snapshots that did not check out.
    pub snapshot_chunks_rejected_total: AtomicU64,
    /// Height of the snapshot state sync restored; 0: none.
    pub statesync_restored_height: AtomicU64,
    /// One ingest request: verification and admission.
    pub ingest: Stage,
    pub ingest_accepted_total: AtomicU64,
    pub ingest_rejected_total: AtomicU64,
    /// Ingest requests refused whole (bad framing, too large, unknown path).
    pub ingest_requests_refused_total: AtomicU64,
    pub pool_txs: AtomicU64,
    pub pool_bytes: AtomicU64,
    /// Pooled transactions dropped at Commit because they no longer execute.
    pub pool_evicted_total: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let version = env!("CARGO_PKG_VERSION");
        let _ = writeln!(
            out,
            "# HELP sluice_node_info the running sluice version\n# TYPE sluice_node_info gauge\nsluice_node_info{{version=\"{version}\"}} 1"
        );
        self.checktx.render(&mut out, "sluice_checktx", "CheckTx latency");
        self.prepare_proposal.render(&mut out, "sluice_prepare_proposal", "PrepareProposal latency");
        self.process_proposal.render(&mut out, "sluice_process_proposal", "ProcessProposal latency");
        self.finalize.render(&mut out, "sluice_finalize_block", "FinalizeBlock latency");
        self.commit.render(&mut out, "sluice_commit", "Commit latency, including the durable write");
        self.snapshot_write.render(&mut out, "sluice_snapshot_write", "writing a state snapshot, inside Commit");
        self.ingest.render(&mut out, "sluice_ingest", "one ingest request: verification and pool admission");
        let counters = [
            (
                "sluice_checktx_rejected_total",
                "CheckTx calls answered with a non-zero code",
                &self.checktx_rejected_total,
            ),
            ("sluice_finalize_txs_total", "transactions in finalized blocks", &self.finalize_txs_total),
            (
                "sluice_finalize_txs_failed_total",
                "finalized transactions with a non-zero code",
                &self.finalize_txs_failed_total,
            ),
            ("sluice_abci_exceptions_total", "ABCI requests answered with an exception", &self.abci_exceptions_total),
            ("sluice_queries_total", "ABCI Query requests (abci_query)", &self.queries_total),
            (
                "sluice_snapshot_write_failed_total",
                "snapshots that failed to write (the block was committed regardless)",
                &self.snapshot_write_failed_total,
            ),
            (
                "sluice_snapshot_chunks_served_total",
                "snapshot chunks served to state-syncing peers",
                &self.snapshot_chunks_served_total,
            ),
            (
                "sluice_snapshot_chunks_rejected_total",
                "state sync chunks refetched for a bad hash, and snapshots rejected",
                &self.snapshot_chunks_rejected_total,
            ),
            ("sluice_ingest_accepted_total", "transactions admitted to the pool", &self.ingest_accepted_total),
            (
                "sluice_ingest_rejected_total",
                "ingested transactions refused, each with its code",
                &self.ingest_rejected_total,
            ),
            (
                "sluice_ingest_requests_refused_total",
                "ingest requests refused whole (framing, size, path)",
                &self.ingest_requests_refused_total,
            ),
            (
                "sluice_pool_evicted_total",
                "pooled transactions dropped at Commit because they no longer execute",
                &self.pool_evicted_total,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Relaxed));
        }
        let gauges = [
            ("sluice_committed_height", "height of the last committed block", &self.committed_height),
            (
                "sluice_mempool_pending_txs",
                "transactions admitted by CheckTx since the last Commit",
                &self.mempool_pending_txs,
            ),
            ("sluice_mempool_signers", "distinct signers with pending transactions", &self.mempool_signers),
            ("sluice_pool_txs", "transactions in the ingest pool", &self.pool_txs),
            ("sluice_pool_bytes", "bytes of the transactions in the ingest pool", &self.pool_bytes),
            (
                "sluice_genesis_accounts",
                "accounts in the genesis app_state (0 before InitChain)",
                &self.genesis_accounts,
            ),
            ("sluice_programs", "programs the chain runs, native ones included", &self.programs),
            (
                "sluice_startup_snapshot_height",
                "height of the snapshot state was rebuilt from at startup (0: none)",
                &self.startup_snapshot_height,
            ),
            (
                "sluice_startup_blocks_replayed",
                "blocks whose deltas were applied at startup after that snapshot",
                &self.startup_blocks_replayed,
            ),
            (
                "sluice_statesync_restored_height",
                "height of the snapshot state sync restored (0: none)",
                &self.statesync_restored_height,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", value.load(Relaxed));
        }
        out
    }
}

/// Binds `addr` and serves `GET /metrics` on a background thread.
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<std::net::SocketAddr, EndpointError> {
    const ENDPOINT: &str = "metrics";
    let listener = TcpListener::bind(addr).map_err(|e| EndpointError::bind(ENDPOINT, addr, e))?;
    let local = listener.local_addr().map_err(|source| EndpointError::LocalAddr { endpoint: ENDPOINT, source })?;
    std::thread::Builder::new()
        .name("sluice-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = respond(stream, &metrics) {
                    tracing::debug!(error = %e, "metrics client");
                }
            }
        })
        .map_err(|source| EndpointError::Thread { endpoint: ENDPOINT, what: "thread", source })?;
    Ok(local)
}

fn respond(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk)?;
        if n == 0 || request.len() + n > HTTP_REQUEST_BYTES_MAX {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let (status, body) = if request.starts_with(b"GET /metrics ") || request.starts_with(b"GET / ") {
        ("200 OK", metrics.render())
    } else {
        ("404 Not Found", "only GET /metrics is served\n".to_string())
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    stream.write_all(body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_returns_exposition_text() {
        let metrics = Arc::new(Metrics::default());
        metrics.checktx.observe(Duration::from_micros(70));
        metrics.committed_height.store(7, Relaxed);
        let addr = serve("127.0.0.1:0", metrics).unwrap();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.contains("sluice_committed_height 7"));
        assert!(response.contains("sluice_checktx_seconds_bucket{le=\"0.0001\"} 1"));
        assert!(response.contains("sluice_checktx_seconds_bucket{le=\"0.00005\"} 0"));
    }
}
