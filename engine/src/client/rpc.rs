//! CometBFT's JSON-RPC, as the client and the tests use it.
//!
//! Every call is a JSON-RPC 2.0 POST to the node's RPC address (CometBFT's
//! `[rpc] laddr`, `http://127.0.0.1:26657` by default), with a timeout and a
//! bound on the response size. Byte strings go out as base64, as CometBFT's
//! JSON-RPC expects for `[]byte` parameters.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::ClientError;
use crate::account::AccountId;

/// CometBFT's default RPC address.
pub const RPC_URL_DEFAULT: &str = "http://127.0.0.1:26657";
/// The node's Query codes for `/tx/<hash>` (`node::CODE_QUERY_*`).
const QUERY_BAD_PATH: u32 = 110;
const QUERY_TX_NOT_FOUND: u32 = 112;

/// A CometBFT node's RPC endpoint.
pub struct CometRpc {
    url: String,
    agent: ureq::Agent,
    timeout: Duration,
}

/// `status`: what identifies the chain and how far it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    pub chain_id: String,
    pub latest_height: u64,
    pub catching_up: bool,
}

/// `abci_query`'s response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResponse {
    pub code: u32,
    pub log: String,
    pub value: Vec<u8>,
    pub height: u64,
}

/// `broadcast_tx_sync`: CheckTx's verdict and CometBFT's hash of the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    pub code: u32,
    pub log: String,
    /// SHA-256 of the transaction, upper-case hex: what `tx` looks up.
    pub hash: String,
}

/// `tx`: a committed transaction's place and result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedTx {
    pub height: u64,
    pub index: u32,
    pub code: u32,
    pub log: String,
}

/// `block`: a block's transactions and the app hash in its header (the
/// state after the previous block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockView {
    pub txs: Vec<Vec<u8>>,
    /// Lower-case hex.
    pub app_hash: String,
}

/// An account as the node's `/account/<id>` query answers it
/// (`node::query`): the typed fields, and the whole JSON object.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountView {
    pub id: AccountId,
    pub exists: bool,
    pub balance: u64,
    pub nonce: u64,
    pub owner: u16,
    /// The height the answer is at.
    pub height: u64,
    pub json: Value,
}

impl CometRpc {
    /// An endpoint at `url` (`http://` or `https://`), each request bounded
    /// by `timeout` (at most [`RPC_REQUEST_TIMEOUT_MAX`]).
    pub fn new(url: &str, timeout: Duration) -> Result<CometRpc, ClientError> {
        let url = url.trim_end_matches('/').to_string();
        let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        if rest.is_none_or(|host| host.is_empty()) {
            return Err(ClientError::invalid("--rpc", format!("{url:?} is not an http:// or https:// address")));
        }
        let timeout = timeout.min(RPC_REQUEST_TIMEOUT_MAX);
        let agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        Ok(CometRpc { url, agent, timeout })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and returns its `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut response = self.agent.post(&self.url).send_json(&body).map_err(|e| self.transport(method, e))?;
        let status = response.status();
        let reply: Value =
            response.body_mut().with_config().limit(RPC_RESPONSE_BYTES_MAX).read_json().map_err(|e| match e {
                ureq::Error::Timeout(_) => self.transport(method, e),
                e => self.bad(method, format!("HTTP {status}, body is not a JSON-RPC answer: {e}")),
            })?;
        if let Some(error) = reply.get("error") {
            let message = error["message"].as_str().unwrap_or("error");
            let data = error["data"].as_str().unwrap_or_default();
            return Err(ClientError::Rpc {
                url: self.url.clone(),
                method: method.into(),
                message: format!("{message}: {data}"),
            });
        }
        reply.get("result").cloned().ok_or_else(|| self.bad(method, format!("HTTP {status}, no `result` in {reply}")))
    }

    fn transport(&self, method: &str, error: ureq::Error) -> ClientError {
        let timed_out = match &error {
            ureq::Error::Timeout(_) => true,
            ureq::Error::Io(e) => matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock),
            _ => false,
        };
        match error {
            _ if timed_out => ClientError::Timeout { url: self.url.clone(), what: method.into(), after: self.timeout },
            ureq::Error::BadUri(reason) => ClientError::invalid("--rpc", format!("{}: {reason}", self.url)),
            error => ClientError::NodeDown { url: self.url.clone(), reason: error.to_string() },
        }
    }

    fn bad(&self, method: &str, reason: impl Into<String>) -> ClientError {
        ClientError::BadResponse { url: self.url.clone(), method: method.into(), reason: reason.into() }
    }

    pub fn status(&self) -> Result<NodeStatus, ClientError> {
        let result = self.call("status", json!({}))?;
        let chain_id = result.pointer("/node_info/network").and_then(Value::as_str);
        let height = result.pointer("/sync_info/latest_block_height").and_then(number);
        match (chain_id, height) {
            (Some(chain_id), Some(latest_height)) => Ok(NodeStatus {
                chain_id: chain_id.to_string(),
                latest_height,
                catching_up: result.pointer("/sync_info/catching_up").and_then(Value::as_bool).unwrap_or(false),
            }),
            _ => Err(self.bad("status", "no node_info.network or sync_info.latest_block_height")),
        }
    }

    pub fn abci_query(&self, path: &str) -> Result<QueryResponse, ClientError> {
        let result = self.call("abci_query", json!({"path": path, "data": "", "height": "0", "prove": false}))?;
        let response = &result["response"];
        let value = match response["value"].as_str() {
            None => Vec::new(),
            Some(text) => BASE64.decode(text).map_err(|e| self.bad("abci_query", format!("value: {e}")))?,
        };
        Ok(QueryResponse {
            code: response["code"].as_u64().unwrap_or(0) as u32,
            log: response["log"].as_str().unwrap_or_default().to_string(),
            value,
            height: number(&response["height"]).unwrap_or(0),
        })
    }

    /// The node's `/account/<id>` query. An account not in state comes back
    /// with `exists: false`, not as an error.
    pub fn account(&self, id: &AccountId) -> Result<AccountView, ClientError> {
        let response = self.abci_query(&format!("/account/{}", hex::encode(id.0)))?;
        if response.code != 0 {
            return Err(ClientError::Query { code: response.code, log: response.log });
        }
        let json: Value = serde_json::from_slice(&response.value)
            .map_err(|e| self.bad("abci_query", format!("the account is not JSON: {e}")))?;
        let field = |name: &str| json[name].as_u64().ok_or_else(|| self.bad("abci_query", format!("no `{name}`")));
        Ok(AccountView {
            id: *id,
            exists: json["exists"].as_bool().unwrap_or(true),
            balance: field("balance")?,
            nonce: field("nonce")?,
            owner: field("owner")? as u16,
            height: response.height,
            json,
        })
    }

    pub fn broadcast_tx_sync(&self, tx: &[u8]) -> Result<Broadcast, ClientError> {
        let result = self.call("broadcast_tx_sync", json!({"tx": BASE64.encode(tx)}))?;
        Ok(Broadcast {
            code: result["code"].as_u64().unwrap_or(0) as u32,
            log: result["log"].as_str().unwrap_or_default().to_string(),
            hash: result["hash"].as_str().ok_or_else(|| self.bad("broadcast_tx_sync", "no `hash`"))?.to_string(),
        })
    }

    /// The committed transaction with CometBFT hash `hash` (SHA-256 of its
    /// bytes), or `None` while it is not committed.
    pub fn tx(&self, hash: &[u8; 32]) -> Result<Option<CommittedTx>, ClientError> {
        match self.call("tx", json!({"hash": BASE64.encode(hash), "prove": false})) {
            Ok(result) => {
                let tx_result = &result["tx_result"];
                Ok(Some(CommittedTx {
                    height: number(&result["height"]).ok_or_else(|| self.bad("tx", "no `height`"))?,
                    index: result["index"].as_u64().unwrap_or(0) as u32,
                    code: tx_result["code"].as_u64().unwrap_or(0) as u32,
                    log: tx_result["log"].as_str().unwrap_or_default().to_string(),
                }))
            }
            Err(ClientError::Rpc { message, .. }) if message.contains("not found") => Ok(None),
            Err(ClientError::Rpc { message, .. }) if message.contains("indexing is disabled") => {
                Err(ClientError::TxIndexDisabled { url: self.url.clone() })
            }
            Err(error) => Err(error),
        }
    }

    /// Several calls in one JSON-RPC batch request (CometBFT answers a
    /// JSON array in the same order); each answer is the call's `result`
    /// or its error.
    pub fn call_batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value, ClientError>>, ClientError> {
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, (method, params))| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .collect();
        let method = calls.first().map_or("batch", |(method, _)| *method);
        let mut response = self.agent.post(&self.url).send_json(&body).map_err(|e| self.transport(method, e))?;
        let reply: Value = response
            .body_mut()
            .with_config()
            .limit(RPC_RESPONSE_BYTES_MAX)
            .read_json()
            .map_err(|e| self.bad(method, format!("the batch answer is not JSON: {e}")))?;
        let replies = match reply {
            Value::Array(replies) => replies,
            refused => {
                let message = refused.pointer("/error/data").or(refused.pointer("/error/message"));
                return Err(ClientError::Rpc {
                    url: self.url.clone(),
                    method: format!("a batch of {} {method} calls", calls.len()),
                    message: format!(
                        "{} (CometBFT's [rpc] max_request_batch_size bounds a batch; its default is 10)",
                        message.and_then(Value::as_str).unwrap_or("refused")
                    ),
                });
            }
        };
        if replies.len() != calls.len() {
            return Err(self.bad(method, format!("{} answers to {} calls", replies.len(), calls.len())));
        }
        let mut ordered: Vec<Option<Result<Value, ClientError>>> = (0..calls.len()).map(|_| None).collect();
        for reply in replies {
            let id = reply["id"].as_u64().filter(|&id| (id as usize) < calls.len());
            let id = id.ok_or_else(|| self.bad(method, format!("an answer with an unknown id: {}", reply["id"])))?;
            let answer = match (reply.get("result"), reply.get("error")) {
                (_, Some(error)) => Err(ClientError::Rpc {
                    url: self.url.clone(),
                    method: calls[id as usize].0.to_string(),
                    message: format!(
                        "{}: {}",
                        error["message"].as_str().unwrap_or("error"),
                        error["data"].as_str().unwrap_or_default()
                    ),
                }),
                (Some(result), None) => Ok(result.clone()),
                (None, None) => Err(self.bad(method, "an answer with neither result nor error")),
            };
            ordered[id as usize] = Some(answer);
        }
        ordered.into_iter().map(|a| a.ok_or_else(|| self.bad(method, "a call went unanswered"))).collect()
    }

    /// The result codes of the transactions in block `height`, in block order.
    pub fn block_result_codes(&self, height: u64) -> Result<Vec<u32>, ClientError> {
        let result = self.call("block_results", json!({"height": height.to_string()}))?;
        Ok(match result["txs_results"].as_array() {
            None => Vec::new(),
            Some(results) => results.iter().map(|r| r["code"].as_u64().unwrap_or(0) as u32).collect(),
        })
    }

    /// Transactions in CometBFT's own mempool (`num_unconfirmed_txs`).
    pub fn unconfirmed_txs(&self) -> Result<u64, ClientError> {
        let result = self.call("num_unconfirmed_txs", json!({}))?;
        number(&result["total"]).ok_or_else(|| self.bad("num_unconfirmed_txs", "no `total`"))
    }

    /// The committed transaction with CometBFT hash `hash`, from the
    /// node's recent results (Query `/tx/<hash>`), which need no CometBFT
    /// indexer; `None` while it is not among them. A node that does not
    /// know the path (code 110) is asked CometBFT's `tx` instead.
    pub fn committed_tx(&self, hash: &[u8; 32]) -> Result<Option<CommittedTx>, ClientError> {
        let response = self.abci_query(&format!("/tx/{}", hex::encode_upper(hash)))?;
        match response.code {
            0 => {
                let json: Value = serde_json::from_slice(&response.value)
                    .map_err(|e| self.bad("abci_query", format!("the result is not JSON: {e}")))?;
                let field =
                    |name: &str| json[name].as_u64().ok_or_else(|| self.bad("abci_query", format!("no `{name}`")));
                Ok(Some(CommittedTx {
                    height: field("height")?,
                    index: field("index")? as u32,
                    code: field("code")? as u32,
                    log: json["log"].as_str().unwrap_or_default().to_string(),
                }))
            }
            QUERY_TX_NOT_FOUND => Ok(None),
            QUERY_BAD_PATH => self.tx(hash),
            code => Err(ClientError::Query { code, log: response.log }),
        }
    }

    pub fn block(&self, height: u64) -> Result<BlockView, ClientError> {
        let result = self.call("block", json!({"height": height.to_string()}))?;
        let block = &result["block"];
        let app_hash = block.pointer("/header/app_hash").and_then(Value::as_str);
        let app_hash = app_hash.ok_or_else(|| self.bad("block", format!("no block {height}")))?.to_lowercase();
        let txs = match block.pointer("/data/txs").and_then(Value::as_array) {
            None => Vec::new(),
            Some(txs) => txs
                .iter()
                .map(|tx| BASE64.decode(tx.as_str().unwrap_or_default()))
                .collect::<Result<_, _>>()
                .map_err(|e| self.bad("block", format!("tx is not base64: {e}")))?,
        };
        Ok(BlockView { txs, app_hash })
    }
}

/// CometBFT writes 64-bit integers as decimal strings; accept numbers too.
fn number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str()?.parse().ok())
}

pub use crate::limits::{RPC_REQUEST_TIMEOUT_MAX, RPC_RESPONSE_BYTES_MAX};
pub use crate::tx::comet_tx_hash;

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn addresses_are_checked_before_anything_is_sent() {
        for bad in ["127.0.0.1:26657", "ftp://x", "http://"] {
            assert_eq!(
                CometRpc::new(bad, Duration::from_secs(1)).err().map(|e| e.name()),
                Some("invalid_input"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_closed_port_is_node_down_and_a_silent_one_times_out() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let error = CometRpc::new(&url, Duration::from_secs(2)).unwrap().status().unwrap_err();
        assert_eq!(error.name(), "node_down", "{error}");
        assert!(error.to_string().contains(&url), "{error}");

        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let holder = std::thread::spawn(move || {
            let (mut stream, _) = silent.accept().unwrap();
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer);
            std::thread::sleep(Duration::from_secs(3));
            let _ = stream.write_all(b"");
        });
        let error = CometRpc::new(&url, Duration::from_millis(500)).unwrap().status().unwrap_err();
        assert_eq!(error.name(), "timeout", "{error}");
        holder.join().unwrap();
    }
}
