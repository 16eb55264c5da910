//! The node's ingest endpoint: transactions in over HTTP, into the
//! application-owned pool ([`super::pool`]), for a chain whose CometBFT
//! runs `mempool.type = "nop"`.
//!
//! Three requests (docs/operations.md, "Submit transactions"):
//!
//! - `POST /v1/txs`, body `application/octet-stream`: transactions as
//!   frames of a 4-byte little-endian length and that many bytes
//!   (docs/format.md §15). One request carries up to
//!   [`REQUEST_TXS_MAX`] transactions, verified together in batches on
//!   every core. The answer is JSON: how many were admitted, each refusal
//!   by index with its ABCI code and log, and the pool's size.
//! - `POST /` with a JSON-RPC 2.0 `broadcast_tx_sync` or
//!   `broadcast_tx_async` call: CometBFT's own method and answer, so a
//!   client written for CometBFT's RPC submits here unchanged.
//! - `GET /v1/pool`: the pool's size and limits.
//!
//! Every answer is JSON. A malformed request gets HTTP 400 naming the
//! byte offset or JSON field; a body past `request_bytes_max` gets 413
//! and nothing of it is admitted.
//!
//! No read timeout (a known gap): tiny_http 0.12 reads each connection on
//! a thread of its own pool, which grows without bound, and exposes
//! neither the accepted sockets nor a timeout setting. So a client that
//! connects and sends nothing holds one of tiny_http's threads, and one
//! whose body stalls holds one of the `threads` workers (in `read_body`),
//! until it closes. A timeout set on the listening socket would reach the
//! accepted ones on Linux, but would also time out tiny_http's accept
//! loop, which stops at its first error. Closing the gap means serving
//! HTTP without tiny_http (as `metrics` does) or another server crate.

use std::io::Read;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::app::{IngestOutcome, Node};
use super::error::EndpointError;
use crate::ingest::parse_frames;
pub use crate::limits::{
    INGEST_REQUEST_BYTES_MAX_DEFAULT, INGEST_REQUEST_BYTES_MAX_LIMIT, INGEST_THREADS_DEFAULT, INGEST_THREADS_LIMIT,
    REQUEST_TXS_MAX,
};

/// A request the endpoint refuses whole, with its HTTP status.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestError {
    pub status: u16,
    pub error: &'static str,
    pub reason: String,
}

impl RequestError {
    fn bad(error: &'static str, reason: String) -> RequestError {
        RequestError { status: 400, error, reason }
    }
}

/// The JSON answer to `POST /v1/txs`.
pub fn outcome_json(outcome: &IngestOutcome) -> Value {
    let rejected: Vec<Value> = outcome
        .verdicts
        .iter()
        .enumerate()
        .filter_map(|(index, verdict)| {
            verdict.as_ref().err().map(|(code, log)| json!({"index": index, "code": code, "log": log}))
        })
        .collect();
    json!({
        "accepted": outcome.verdicts.len() - rejected.len(),
        "rejected": rejected,
        "pool_txs": outcome.pool_txs,
        "pool_bytes": outcome.pool_bytes,
    })
}

/// Starts `threads` workers answering ingest requests on `addr`; returns
/// the bound address.
pub fn serve(
    addr: &str,
    node: Arc<Node>,
    threads: u32,
    body_bytes_max: u64,
) -> Result<std::net::SocketAddr, EndpointError> {
    const ENDPOINT: &str = "ingest";
    assert!((1..=INGEST_THREADS_LIMIT).contains(&threads));
    let server = tiny_http::Server::http(addr).map_err(|e| EndpointError::bind(ENDPOINT, addr, e))?;
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| EndpointError::NotAnIpAddress { endpoint: ENDPOINT, addr: addr.to_string() })?;
    let server = Arc::new(server);
    for worker in 0..threads {
        let (server, node) = (server.clone(), node.clone());
        std::thread::Builder::new()
            .name(format!("sluice-ingest-{worker}"))
            .spawn(move || loop {
                match server.recv() {
                    Ok(request) => answer(request, &node, body_bytes_max),
                    Err(e) => tracing::warn!(error = %e, "ingest: accepting a request failed"),
                }
            })
            .map_err(|source| EndpointError::Thread { endpoint: ENDPOINT, what: "a worker", source })?;
    }
    Ok(local)
}

fn answer(mut request: tiny_http::Request, node: &Node, body_bytes_max: u64) {
    let method = request.method().clone();
    let url = request.url().to_string();
    let result = match (method, url.as_str()) {
        (tiny_http::Method::Post, "/v1/txs") => {
            read_body(&mut request, body_bytes_max).and_then(|body| submit_frames(node, &body))
        }
        (tiny_http::Method::Post, "/") => {
            read_body(&mut request, body_bytes_max).and_then(|body| json_rpc(node, &body))
        }
        (tiny_http::Method::Get, "/v1/pool") => Ok(pool_json(node)),
        _ => Err(RequestError {
            status: 404,
            error: "not_found",
            reason: format!(
                "{} {url}: the ingest endpoint serves POST /v1/txs, POST / (JSON-RPC) and GET /v1/pool",
                request.method()
            ),
        }),
    };
    let (status, body) = match result {
        Ok(body) => (200, body),
        Err(e) => {
            node.metrics.ingest_requests_refused_total.fetch_add(1, Relaxed);
            (e.status, json!({"error": e.error, "reason": e.reason}))
        }
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]).expect("valid header");
    let response = tiny_http::Response::from_string(body.to_string()).with_status_code(status).with_header(header);
    if let Err(e) = request.respond(response) {
        tracing::debug!(error = %e, "ingest: the client left before its answer");
    }
}

/// The whole body, refusing one past `max` bytes before reading it.
fn read_body(request: &mut tiny_http::Request, max: u64) -> Result<Vec<u8>, RequestError> {
    let too_large = |bytes: String| RequestError {
        status: 413,
        error: "body_too_large",
        reason: format!("the body is {bytes} bytes; request_bytes_max is {max}"),
    };
    if let Some(length) = request.body_length() {
        if length as u64 > max {
            return Err(too_large(length.to_string()));
        }
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(max + 1)
        .read_to_end(&mut body)
        .map_err(|e| RequestError::bad("bad_body", format!("reading the body: {e}")))?;
    if body.len() as u64 > max {
        return Err(too_large(format!("more than {max}")));
    }
    Ok(body)
}

fn submit_frames(node: &Node, body: &[u8]) -> Result<Value, RequestError> {
    let txs = parse_frames(body, REQUEST_TXS_MAX).map_err(|e| {
        RequestError::bad("bad_frame", format!("byte offset {}: {}; nothing was admitted", e.offset, e.reason))
    })?;
    Ok(outcome_json(&node.ingest(txs)))
}

fn pool_json(node: &Node) -> Value {
    let pool = node.pool_status();
    json!({
        "pool_txs": pool.txs,
        "pool_bytes": pool.bytes,
        "pool_txs_max": pool.txs_max,
        "pool_bytes_max": pool.bytes_max,
    })
}

/// CometBFT's `broadcast_tx_sync` and `broadcast_tx_async`: both answer
/// after the node's verdict, in CometBFT's result shape.
fn json_rpc(node: &Node, body: &[u8]) -> Result<Value, RequestError> {
    let call: Value = serde_json::from_slice(body)
        .map_err(|e| RequestError::bad("bad_json", format!("the body is not JSON: {e}")))?;
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let method = call.get("method").and_then(Value::as_str).unwrap_or_default();
    if method != "broadcast_tx_sync" && method != "broadcast_tx_async" {
        let message = format!("method {method:?}: the ingest endpoint serves broadcast_tx_sync and broadcast_tx_async");
        return Ok(json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": message}}));
    }
    let tx = call.pointer("/params/tx").and_then(Value::as_str).ok_or_else(|| {
        RequestError::bad("bad_params", "params.tx: expected the transaction as a base64 string".to_string())
    })?;
    let tx = BASE64.decode(tx).map_err(|e| RequestError::bad("bad_params", format!("params.tx: not base64: {e}")))?;
    let hash = hex::encode_upper(crate::tx::comet_tx_hash(&tx));
    let outcome = node.ingest(vec![tx]);
    let (code, log) = match outcome.verdicts.into_iter().next().expect("one verdict per tx") {
        Ok(()) => (0, String::new()),
        Err((code, log)) => (code, log),
    };
    let result = json!({"code": code, "data": "", "log": log, "codespace": "", "hash": hash});
    Ok(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::encode_frames;
    use crate::tx::TX_BYTES_MAX;

    #[test]
    fn frames_round_trip_and_name_the_bad_offset() {
        let txs: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![4; 100]];
        let body = encode_frames(txs.iter().map(Vec::as_slice));
        assert_eq!(parse_frames(&body, 2).unwrap(), txs);
        assert_eq!(parse_frames(&[], 2).unwrap(), Vec::<Vec<u8>>::new());
        let cut = parse_frames(&body[..body.len() - 1], 2).unwrap_err();
        assert_eq!(cut.offset, 7, "{cut:?}");
        assert_eq!(parse_frames(&body[..9], 2).unwrap_err().offset, 7);
        assert!(parse_frames(&[0, 0, 0, 0], 2).unwrap_err().reason.contains("frame length 0"));
        assert_eq!(parse_frames(&(TX_BYTES_MAX as u32 + 1).to_le_bytes(), 2).unwrap_err().offset, 0);
        assert!(parse_frames(&body, 1).unwrap_err().reason.contains("more than 1"));
        let many = encode_frames(std::iter::repeat_n(&[7u8][..], 3));
        assert_eq!(parse_frames(&many, 2).unwrap_err().offset, 10);
    }
}
