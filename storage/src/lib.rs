//! `sluice-storage`: a segmented, memory-mapped, append-only, hash-chained
//! commit log, plus a store for periodic state snapshots.
//!
//! Storage knows nothing about transactions. A record is an opaque payload
//! with a `kind` (`u8`) and a `height` (`u64`). Heights never decrease along
//! the log, but several records (of different kinds) may share a height.
//!
//! # Layout
//!
//! A log is a directory of fixed-size segment files `NNNNNNNNNNNNNNNNNNNN.seg`
//! (20-digit index, from 0 without gaps) and a `LOCK` file. The byte layout of
//! segment headers and record headers is in the [`format`] module, as tables.
//!
//! * **Preallocation.** Segments are preallocated for real with
//!   `posix_fallocate`, not made sparse: writing through a map into a hole on a
//!   full disk is a SIGBUS (or a lost write) long after `append` returned. A
//!   full disk therefore shows up in exactly one place, segment creation, as
//!   [`LogError::DiskFull`]. Zero-writing would also work but doubles the I/O.
//! * **Growing.** A new segment is written under a temporary name,
//!   preallocated, given its header, fsynced, renamed, and the directory is
//!   fsynced, all before any record is written into it.
//! * **Writing** goes through a writable map of the active segment only.
//! * **Reading** (recovery, verification, iteration) uses `pread`, after the
//!   file length was checked against the segment header: a shortened file is
//!   [`LogError::SegmentShortened`], never a SIGBUS.
//!
//! # Durability modes
//!
//! | mode | `append` returns after | survives `kill -9` | survives power loss |
//! |---|---|---|---|
//! | `none` | copying into the map (page cache) | yes: the pages belong to the kernel, not the process | no guarantee: anything not yet written back by the kernel may be lost, in any order; recovery opens at the valid prefix before the first lost write (see [`scan`]) |
//! | `batch { blocks_max: N, interval_ms: T }` | copying; every N-th append, or the first append once T ms have passed since the last sync, also syncs (group commit) | yes | loses at most the records appended since the last sync: fewer than N records, appended in the T ms before the latest append, however the kernel ordered their writeback. If appends stop, call [`CommitLog::sync_if_due`] from a timer (or `sync()`) to keep the time bound |
//! | `sync` | `msync(MS_SYNC)` of the record's bytes | yes | nothing acknowledged is lost |
//!
//! `msync(MS_SYNC)` on Linux writes back and waits for the dirty pages of the
//! range, with `fdatasync` semantics. Because segments are preallocated, no
//! metadata beyond extent state changes, and `fdatasync` covers that.
//! After a failed sync the log is [`LogError::Poisoned`]: Linux may drop the
//! dirty pages and report the error only once, so the only safe course is to
//! reopen and let recovery look at what is really on disk.
//!
//! # Recovery
//!
//! See [`scan`] for the exact rule. In short: the log is read in order; at the
//! first place that is not a whole, chained record, the rest of the log is
//! searched for a write made after that place was durable: every record
//! header says how far the log was synced when it was written. None: a torn
//! tail (or writes lost out of order), cut and reported. Any: damage, refused
//! with [`LogError::Corrupt`] naming the segment and byte offset. Zeroed space
//! after the last record is the normal end of a segment. After recovery,
//! `open` syncs every segment, so what it kept is durable whatever the mode
//! that wrote it.
//!
//! # SIGBUS: the residual race
//!
//! A memory map of a file that someone truncates raises SIGBUS on the next
//! touch of a page past the new end. This crate (1) never maps for reading,
//! (2) checks the length before mapping the active segment and with `fstat`
//! before every append, and (3) holds an exclusive `flock` on the directory so
//! that no other cooperating process opens the log for writing. A process
//! that ignores the lock and truncates the active segment between the `fstat`
//! and the copy can still crash the writer with SIGBUS. That window cannot be
//! closed from user space short of not using maps; it is accepted.
//!
//! # Limits
//!
//! Every limit is a named constant below; exceeding one gives a named error.

pub mod error;
pub mod format;
mod log;
pub mod scan;
mod segment;
pub mod snapshot;

pub use crate::error::LogError;
pub use crate::log::{CommitLog, Durability, LogConfig, LogReader, Record, RecordIter, RecordMeta, RecoveryReport};
#[doc(hidden)]
pub use crate::log::{SyncEvent, SyncHook, SyncPhase};
pub use crate::scan::{verify_log, SegmentSummary, TornTail, VerifyReport};
pub use crate::snapshot::{SnapshotScan, SnapshotStore};

/// Default size of a new segment file: large enough that segment creation
/// (two fsyncs) is rare, small enough to preallocate quickly.
pub const SEGMENT_SIZE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
/// Smallest segment size accepted (tests use tiny segments).
pub const SEGMENT_SIZE_BYTES_MIN: u64 = 512;
/// Largest segment size accepted; also bounds every read buffer of the log.
pub const SEGMENT_SIZE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// Default `LogConfig::record_size_max`: a 10k-transaction block is ~2 MB,
/// blocks carrying state deltas more; 16 MiB leaves room.
pub const RECORD_SIZE_MAX: u64 = 16 * 1024 * 1024;
/// Most segment files a log may have (64 TiB at the default segment size).
pub const SEGMENT_COUNT_MAX: u64 = 1 << 20;
/// Most sealed segments `Durability::None` leaves unsynced, each holding a
/// file handle; the oldest is synced when one more is sealed.
pub const SEALED_UNSYNCED_SEGMENTS_MAX: usize = 4;
/// Default group-commit size for `Durability::Batch`.
pub const BATCH_BLOCKS_DEFAULT: u32 = 64;
/// Largest group-commit size accepted.
pub const BATCH_BLOCKS_MAX: u32 = 1 << 16;
/// Default group-commit interval for `Durability::Batch`.
pub const BATCH_INTERVAL_MS_DEFAULT: u64 = 50;
/// Most snapshots a `SnapshotStore` may keep.
pub const SNAPSHOTS_KEPT_MAX: usize = 64;
/// Default number of snapshots kept.
pub const SNAPSHOTS_KEPT_DEFAULT: usize = 3;
/// Largest snapshot accepted on write and on read (bounds the read buffer).
pub const SNAPSHOT_SIZE_BYTES_MAX: u64 = 8 * 1024 * 1024 * 1024;
