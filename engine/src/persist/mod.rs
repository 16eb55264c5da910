//! Persistence: blocks as records in the commit log, state snapshots,
//! resuming after a restart or a crash, and the read-only audits `verify`
//! and `replay`.
//!
//! A store directory holds two things:
//!
//! ```text
//! DIR/log/        sluice-storage CommitLog: origin record (genesis, or a state-sync restore), then one block record per block
//! DIR/snapshots/  sluice-storage SnapshotStore: full state every N blocks
//! ```
//!
//! The log is the source of truth. Snapshots only shorten a restart: a
//! snapshot that is damaged, ahead of the log, or disagrees with the log is
//! skipped (and reported), and state is rebuilt from an older one or from
//! genesis. Because every block record carries its state delta, rebuilding
//! never re-executes; [`replay_reexecute`] is the audit that does.
//!
//! | module | owns |
//! |---|---|
//! | [`codec`] | byte layout of block records, origin records and snapshots (docs/format.md §8) |
//! | [`store`] | [`BlockStore`]: open or resume, commit, snapshot |
//! | [`audit`] | [`verify_store`], [`replay_from_deltas`], [`replay_reexecute`] |

use std::fmt;

use sluice_storage::LogError;

use crate::genesis::GenesisError;
use crate::state::GenesisKeysError;

pub mod audit;
pub mod codec;
pub mod store;

pub use audit::{replay_from_deltas, replay_reexecute, verify_store, ReplayOptions, ReplayReport, StoreVerifyReport};
pub use codec::{
    block_record_bytes, decode_block_record, decode_snapshot, encode_snapshot, AppStateGenesis, BlockRecord,
    BlockRecordCheckError, BlockRecordCheckKind, BlockRecordRef, GenesisParams, OriginRecord, RecordError,
    RecordErrorKind, RestoredBase, SnapshotContents, StoreOrigin,
};
pub use store::{BlockStore, OpenTimings, ResumeReport, Resumed, StoreConfig};

/// Record kind of a seeded genesis record (`sluice run`): the first record of its log, at height 0.
pub const RECORD_KIND_GENESIS: u8 = 1;
/// Record kind of a block record, at the block's height.
pub const RECORD_KIND_BLOCK: u8 = 2;
/// Record kind of an app-state genesis record (`sluice node` after InitChain), at height 0.
pub const RECORD_KIND_GENESIS_APP_STATE: u8 = 3;
/// Record kind of a restored base (`sluice node` after state sync), at the snapshot's height.
pub const RECORD_KIND_RESTORED: u8 = 4;

/// Subdirectory of a store holding the commit log.
pub const LOG_DIR_NAME: &str = "log";
/// Subdirectory of a store holding the snapshots.
pub const SNAPSHOTS_DIR_NAME: &str = "snapshots";

/// Everything that can go wrong persisting, resuming, verifying or
/// replaying. Errors about a record name its height and where it is
/// (segment index and byte offset of the record header).
#[derive(Debug)]
#[non_exhaustive]
pub enum PersistError {
    /// The log or the snapshot store failed (I/O, damage with its offset).
    Log(LogError),
    /// A record's payload did not decode.
    Record { height: u64, segment: u64, offset: u64, error: RecordError },
    /// A block record does not continue the chain (height or parent hash).
    Chain { height: u64, segment: u64, offset: u64, reason: String },
    /// A root recomputed from the log differs from the one in the block header.
    RootMismatch { height: u64, root: &'static str, header: [u8; 32], computed: [u8; 32] },
    /// A record kind this engine does not write.
    UnknownRecordKind { kind: u8, height: u64, segment: u64, offset: u64 },
    /// The log does not start with a valid origin record (genesis or restored base).
    Genesis { reason: String },
    /// The store was created with other genesis parameters.
    GenesisMismatch { stored: Box<StoreOrigin>, given: GenesisParams },
    /// `commit` or `write_snapshot` was called with inconsistent data.
    InvalidBlock { reason: String },
    /// A block handed to `commit` would not make a valid record.
    BlockCheck(BlockRecordCheckError),
    /// The state at the log's origin cannot be built.
    OriginState(OriginStateError),
    /// Re-executing a block did not reproduce it.
    Reexecute { height: u64, reason: String },
}

impl From<BlockRecordCheckError> for PersistError {
    fn from(error: BlockRecordCheckError) -> PersistError {
        PersistError::BlockCheck(error)
    }
}

impl From<OriginStateError> for PersistError {
    fn from(error: OriginStateError) -> PersistError {
        PersistError::OriginState(error)
    }
}

impl From<LogError> for PersistError {
    fn from(error: LogError) -> PersistError {
        PersistError::Log(error)
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistError::Log(error) => write!(f, "{error}"),
            PersistError::Record { height, segment, offset, error } => write!(
                f,
                "record at height {height} (segment {segment}, byte offset {offset}) does not decode: {error}"
            ),
            PersistError::Chain { height, segment, offset, reason } => {
                write!(f, "block at height {height} (segment {segment}, byte offset {offset}): {reason}")
            }
            PersistError::RootMismatch { height, root, header, computed } => write!(
                f,
                "{root} root mismatch at height {height}: header has {}, recomputed {}",
                hex::encode(header),
                hex::encode(computed)
            ),
            PersistError::UnknownRecordKind { kind, height, segment, offset } => {
                write!(f, "unknown record kind {kind} at height {height} (segment {segment}, byte offset {offset})")
            }
            PersistError::Genesis { reason } => write!(f, "genesis: {reason}"),
            PersistError::GenesisMismatch { stored, given } => write!(
                f,
                "the data directory was created with {stored}, but this run asks for {given}; \
                 use the same --seed, --accounts and --chain-id, or another --data directory"
            ),
            PersistError::InvalidBlock { reason } => write!(f, "invalid block: {reason}"),
            PersistError::BlockCheck(error) => write!(f, "invalid block: {error}"),
            PersistError::OriginState(error) => write!(f, "genesis: {error}"),
            PersistError::Reexecute { height, reason } => write!(f, "re-executing block {height}: {reason}"),
        }
    }
}

impl std::error::Error for PersistError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PersistError::Log(error) => Some(error),
            PersistError::Record { error, .. } => Some(error),
            PersistError::BlockCheck(error) => Some(error),
            PersistError::OriginState(error) => Some(error),
            _ => None,
        }
    }
}

/// Why the state at a store's origin could not be built: genesis from its
/// parameters or its `app_state`, or a restored store's base snapshot.
#[derive(Debug)]
pub enum OriginStateError {
    /// A seeded genesis whose parameters are out of range.
    Seeded(GenesisKeysError),
    /// A genesis `app_state` that does not build a state.
    AppState(GenesisError),
    /// The base snapshot at `height` cannot be read: there is no snapshot
    /// store to read it from, or reading failed with `error`.
    BaseSnapshotUnreadable { height: u64, error: Option<LogError> },
    /// The base snapshot at `height` was read but does not decode.
    BaseSnapshotUndecodable { height: u64, error: RecordError },
    /// The base snapshot file for `height` holds the state after block
    /// `holds`, or after another block at that height.
    BaseSnapshotMismatch { height: u64, holds: u64 },
}

impl fmt::Display for OriginStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginStateError::Seeded(error) => write!(f, "{error}"),
            OriginStateError::AppState(error) => write!(f, "app_state: {error}"),
            OriginStateError::BaseSnapshotUnreadable { height, error } => {
                write!(f, "restored by state sync at height {height}, and its base snapshot is not readable")?;
                match error {
                    Some(error) => write!(f, ": {error}"),
                    None => Ok(()),
                }
            }
            OriginStateError::BaseSnapshotUndecodable { height, error } => write!(f, "base snapshot {height}: {error}"),
            OriginStateError::BaseSnapshotMismatch { height, holds } => {
                write!(f, "base snapshot {height} holds height {holds} and another block")
            }
        }
    }
}

impl std::error::Error for OriginStateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OriginStateError::Seeded(error) => Some(error),
            OriginStateError::AppState(error) => Some(error),
            OriginStateError::BaseSnapshotUnreadable { error: Some(error), .. } => Some(error),
            OriginStateError::BaseSnapshotUndecodable { error, .. } => Some(error),
            _ => None,
        }
    }
}
