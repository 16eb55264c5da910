//! Named errors. Every error that concerns a place on disk names the file and,
//! where there is one, the byte offset, so an operator can find the damage.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the log and the snapshot store.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// A system call failed. `op` names the operation (e.g. `"open"`, `"msync"`).
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A record or segment header is damaged somewhere other than a torn tail.
    Corrupt {
        segment: PathBuf,
        segment_index: u64,
        offset: u64,
        reason: String,
    },
    /// `append` was given a payload over `LogConfig::record_size_max`.
    RecordTooLarge { len: u64, max: u64 },
    /// A segment file is shorter than its header (or the configuration) says.
    /// Checked before any read or mapping, so this replaces a SIGBUS.
    SegmentShortened {
        segment: PathBuf,
        expected: u64,
        actual: u64,
    },
    /// Preallocation failed for lack of space (`ENOSPC`, `EDQUOT`, or `EFBIG`
    /// from a file size limit). Nothing was written into the log.
    DiskFull {
        path: PathBuf,
        bytes: u64,
        source: io::Error,
    },
    /// `append` was given a height below the last record's height.
    HeightRegression { last: u64, got: u64 },
    /// Segment files are not numbered 0, 1, 2, … without gaps.
    SegmentMissing { dir: PathBuf, index: u64 },
    /// More segments than `SEGMENT_COUNT_MAX`.
    TooManySegments { count: u64, max: u64 },
    /// Another `CommitLog` holds the directory lock.
    Locked { path: PathBuf },
    /// An earlier sync failed; the log must be reopened (and recovered)
    /// before it accepts more work, because after a failed fsync the page
    /// cache no longer tells what is on disk.
    Poisoned { reason: String },
    /// A `LogConfig` or `SnapshotStore` parameter is out of range.
    InvalidConfig { reason: String },
    /// A snapshot file is damaged (reported, then skipped by `newest_valid`).
    SnapshotCorrupt { path: PathBuf, reason: String },
    /// A snapshot is larger than `SNAPSHOT_SIZE_BYTES_MAX`.
    SnapshotTooLarge { len: u64, max: u64 },
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> LogError {
        LogError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(
        segment: &Path,
        segment_index: u64,
        offset: u64,
        reason: impl Into<String>,
    ) -> LogError {
        LogError::Corrupt {
            segment: segment.to_path_buf(),
            segment_index,
            offset,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            LogError::Corrupt {
                segment,
                segment_index,
                offset,
                reason,
            } => write!(
                f,
                "log corrupt in segment {segment_index} ({}) at byte offset {offset}: {reason}",
                segment.display()
            ),
            LogError::RecordTooLarge { len, max } => {
                write!(
                    f,
                    "record payload of {len} bytes exceeds the limit of {max} bytes"
                )
            }
            LogError::SegmentShortened {
                segment,
                expected,
                actual,
            } => write!(
                f,
                "segment {} is {actual} bytes long, expected {expected}: it was truncated",
                segment.display()
            ),
            LogError::DiskFull {
                path,
                bytes,
                source,
            } => {
                write!(
                    f,
                    "no space to preallocate {bytes} bytes for {}: {source}",
                    path.display()
                )
            }
            LogError::HeightRegression { last, got } => {
                write!(f, "record height {got} is below the last height {last}; heights must not decrease")
            }
            LogError::SegmentMissing { dir, index } => {
                write!(f, "segment {index} is missing from {}", dir.display())
            }
            LogError::TooManySegments { count, max } => {
                write!(f, "log would have {count} segments, the limit is {max}")
            }
            LogError::Locked { path } => {
                write!(f, "log is locked by another process: {}", path.display())
            }
            LogError::Poisoned { reason } => {
                write!(
                    f,
                    "log unusable after a failed sync ({reason}); reopen it to recover"
                )
            }
            LogError::InvalidConfig { reason } => write!(f, "invalid configuration: {reason}"),
            LogError::SnapshotCorrupt { path, reason } => {
                write!(f, "snapshot {} is corrupt: {reason}", path.display())
            }
            LogError::SnapshotTooLarge { len, max } => {
                write!(
                    f,
                    "snapshot of {len} bytes exceeds the limit of {max} bytes"
                )
            }
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io { source, .. } | LogError::DiskFull { source, .. } => Some(source),
            _ => None,
        }
    }
}
