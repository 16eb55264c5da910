//! The node's ingest endpoint, as a client sees it (`[ingest] listen`;
//! the server is `node::ingest_http`): framed transactions in, one
//! verdict per transaction out.

use std::time::Duration;

use serde_json::Value;

use super::rpc::RPC_REQUEST_TIMEOUT_MAX;
use super::ClientError;
use crate::ingest::encode_frames;

/// A node's ingest endpoint, e.g. `http://127.0.0.1:26659`.
pub struct IngestClient {
    url: String,
    agent: ureq::Agent,
}

impl IngestClient {
    /// Each request is bounded by `timeout` (at most `RPC_REQUEST_TIMEOUT_MAX`).
    pub fn new(url: &str, timeout: Duration) -> Result<IngestClient, ClientError> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::invalid("--ingest", format!("{url:?} is not an http:// or https:// address")));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout.min(RPC_REQUEST_TIMEOUT_MAX)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(IngestClient { url, agent })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts `body` to `path`; returns the HTTP status and the JSON answer.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<(u16, Value), ClientError> {
        let url = format!("{}{path}", self.url);
        let mut response = self
            .agent
            .post(&url)
            .header("Content-Type", content_type)
            .send(body)
            .map_err(|e| ClientError::NodeDown { url: url.clone(), reason: e.to_string() })?;
        let status = response.status().as_u16();
        let answer =
            response.body_mut().read_json().map_err(|e| self.bad(path, format!("HTTP {status}: not JSON: {e}")))?;
        Ok((status, answer))
    }

    /// Submits `txs` in one `POST /v1/txs`; each gets its ABCI code and
    /// log, code 0 for admitted.
    pub fn submit(&self, txs: &[&[u8]]) -> Result<Vec<(u32, String)>, ClientError> {
        let body = encode_frames(txs.iter().copied());
        let (status, answer) = self.post("/v1/txs", "application/octet-stream", &body)?;
        if status != 200 {
            return Err(self.bad("/v1/txs", format!("HTTP {status}: {answer}")));
        }
        let mut verdicts = vec![(0, String::new()); txs.len()];
        for rejected in answer["rejected"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let index = rejected["index"].as_u64().filter(|&i| (i as usize) < txs.len());
            let index = index.ok_or_else(|| self.bad("/v1/txs", format!("an index out of range in {rejected}")))?;
            let code = rejected["code"].as_u64().and_then(|c| u32::try_from(c).ok()).filter(|&c| c != 0);
            let code = code.ok_or_else(|| self.bad("/v1/txs", format!("no non-zero code in {rejected}")))?;
            verdicts[index as usize] = (code, rejected["log"].as_str().unwrap_or_default().to_string());
        }
        Ok(verdicts)
    }

    /// Transactions in the node's pool (`GET /v1/pool`).
    pub fn pool_txs(&self) -> Result<u64, ClientError> {
        let url = format!("{}/v1/pool", self.url);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| ClientError::NodeDown { url: url.clone(), reason: e.to_string() })?;
        let answer: Value =
            response.body_mut().read_json().map_err(|e| self.bad("/v1/pool", format!("not JSON: {e}")))?;
        answer["pool_txs"].as_u64().ok_or_else(|| self.bad("/v1/pool", format!("no pool_txs in {answer}")))
    }

    fn bad(&self, path: &str, reason: String) -> ClientError {
        ClientError::BadResponse { url: self.url.clone(), method: path.to_string(), reason }
    }
}
