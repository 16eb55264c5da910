//! The client for people: key files, and transactions and queries over
//! CometBFT's JSON-RPC (`sluice keys`, `sluice tx`, `sluice query`).
//!
//! | module | owns |
//! |---|---|
//! | [`ingest`] | [`IngestClient`]: transactions to a node's ingest endpoint |
//! | [`keys`] | the key file: format, mode 0600, never overwritten |
//! | [`rpc`] | [`CometRpc`]: status, abci_query, broadcast, tx lookup, blocks |
//! | [`send`] | building, signing, submitting and waiting for a transaction |
//! | [`load`] | `sluice load`: funding load accounts, and the chain benchmark |
//!
//! Every failure is a [`ClientError`] with a stable name; nothing is sent
//! until the input has been checked. Every network call has a timeout and
//! every wait a deadline.

pub mod ingest;
pub mod keys;
pub mod load;
pub mod rpc;
pub mod send;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::account::AccountId;

pub use ingest::IngestClient;
pub use keys::{KeyFile, KeyFileError};
pub use rpc::{AccountView, CometRpc, RPC_URL_DEFAULT};
pub use send::{Prepared, TxOutcome};

/// Why a client command failed. Each kind has a stable [`name`](Self::name)
/// that leads its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// A command-line value is unusable; `field` names the flag.
    InvalidInput { field: String, reason: String },
    /// The key file does not hold a Sluice key; `reason` names the field.
    KeyFile { path: PathBuf, reason: String },
    /// The key file can be read by others than its owner.
    KeyFilePermissions { path: PathBuf, mode: u32 },
    /// `keys new` never overwrites a file.
    KeyFileExists { path: PathBuf },
    /// Nothing answered at the RPC address.
    NodeDown { url: String, reason: String },
    /// The node took longer than the deadline.
    Timeout { url: String, what: String, after: Duration },
    /// The node answered with a JSON-RPC error.
    Rpc { url: String, method: String, message: String },
    /// The node's answer is not what CometBFT's RPC sends.
    BadResponse { url: String, method: String, reason: String },
    /// The signer's account is not in state: it cannot pay a fee.
    UnknownAccount { id: AccountId, height: u64 },
    /// The node refused the query (its ABCI code and log).
    Query { code: u32, log: String },
    /// CheckTx refused the transaction: it was not added to the mempool.
    Rejected { hash: String, code: u32, log: String },
    /// The transaction was committed, and its execution failed.
    Failed { hash: String, height: u64, code: u32, log: String },
    /// The transaction was accepted but not committed within the deadline.
    NotCommitted { hash: String, after: Duration },
    /// The node does not index transactions, so a commit cannot be confirmed.
    TxIndexDisabled { url: String },
}

impl ClientError {
    pub fn name(&self) -> &'static str {
        match self {
            ClientError::InvalidInput { .. } => "invalid_input",
            ClientError::KeyFile { .. } => "key_file",
            ClientError::KeyFilePermissions { .. } => "key_file_permissions",
            ClientError::KeyFileExists { .. } => "key_file_exists",
            ClientError::NodeDown { .. } => "node_down",
            ClientError::Timeout { .. } => "timeout",
            ClientError::Rpc { .. } => "rpc_error",
            ClientError::BadResponse { .. } => "bad_response",
            ClientError::UnknownAccount { .. } => "unknown_account",
            ClientError::Query { .. } => "query_failed",
            ClientError::Rejected { .. } => "rejected",
            ClientError::Failed { .. } => "failed",
            ClientError::NotCommitted { .. } => "not_committed",
            ClientError::TxIndexDisabled { .. } => "tx_index_disabled",
        }
    }

    /// An unusable value of `field` (a flag name, or what was being built).
    pub fn invalid(field: &str, reason: impl Into<String>) -> ClientError {
        ClientError::InvalidInput { field: field.to_string(), reason: reason.into() }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name())?;
        match self {
            ClientError::InvalidInput { field, reason } => write!(f, "{field}: {reason}; nothing was sent"),
            ClientError::KeyFile { path, reason } => write!(f, "{}: {reason}", path.display()),
            ClientError::KeyFilePermissions { path, mode } => write!(
                f,
                "{} has mode {mode:04o}: a key file must be readable by its owner only (chmod 600 {})",
                path.display(),
                path.display()
            ),
            ClientError::KeyFileExists { path } => {
                write!(f, "{} exists; a key file is never overwritten: choose another --out", path.display())
            }
            ClientError::NodeDown { url, reason } => {
                write!(f, "cannot reach the node's RPC at {url}: {reason} (is it running? --rpc sets the address)")
            }
            ClientError::Timeout { url, what, after } => {
                write!(f, "{what} at {url} did not answer within {:.1} s", after.as_secs_f64())
            }
            ClientError::Rpc { url, method, message } => write!(f, "{method} at {url}: {message}"),
            ClientError::BadResponse { url, method, reason } => write!(f, "{method} at {url}: {reason}"),
            ClientError::UnknownAccount { id, height } => write!(
                f,
                "account {} does not exist at height {height}: it has never been funded, so it cannot pay a fee",
                hex::encode(id.0)
            ),
            ClientError::Query { code, log } => write!(f, "the node answered code {code}: {log}"),
            ClientError::Rejected { hash, code, log } => {
                write!(
                    f,
                    "CheckTx refused transaction {hash} with code {code} ({log}); it was not added to the mempool"
                )
            }
            ClientError::Failed { hash, height, code, log } => {
                write!(f, "transaction {hash} was committed at height {height} and failed with code {code} ({log})")
            }
            ClientError::NotCommitted { hash, after } => write!(
                f,
                "transaction {hash} was accepted but not committed within {:.1} s; \
                 look it up later with `curl '<rpc>/tx?hash=0x{hash}'`",
                after.as_secs_f64()
            ),
            ClientError::TxIndexDisabled { url } => write!(
                f,
                "the node at {url} does not index transactions ([tx_index] indexer = \"null\"), \
                 so the commit cannot be confirmed"
            ),
        }
    }
}

impl std::error::Error for ClientError {}
