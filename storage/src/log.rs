//! The commit log: open with recovery, append with a durability policy, read.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::error::LogError;
use crate::format::{
    record_size_bytes, DurableClaim, RecordHeader, RECORD_HEADER_SIZE_BYTES, SEGMENT_HEADER_SIZE_BYTES,
};
use crate::scan::{scan_log, SegmentSummary, TornTail, VerifyReport, ZeroRange};
use crate::segment::{self, create_segment, fsync_dir, list_dir, read_record, ActiveSegment, SegmentFile, Step};
use crate::{
    BATCH_BLOCKS_DEFAULT, BATCH_BLOCKS_MAX, BATCH_INTERVAL_MS_DEFAULT, RECORD_SIZE_MAX, SEALED_UNSYNCED_SEGMENTS_MAX,
    SEGMENT_COUNT_MAX, SEGMENT_SIZE_BYTES_DEFAULT, SEGMENT_SIZE_BYTES_MAX, SEGMENT_SIZE_BYTES_MIN,
};

const LOCK_FILE_NAME: &str = "LOCK";
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// When appended records become durable. See the crate docs for what each
/// mode promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Leave records in the page cache; `sync()` or the OS writes them back.
    None,
    /// Group commit: sync after `blocks_max` appends, or at the first append
    /// (or `sync_if_due`) once `interval_ms` have passed since the last sync.
    Batch { blocks_max: u32, interval_ms: u64 },
    /// Sync every record before `append` returns.
    Sync,
}

impl Durability {
    /// `Batch` with the default limits.
    pub const BATCH_DEFAULT: Durability =
        Durability::Batch { blocks_max: BATCH_BLOCKS_DEFAULT, interval_ms: BATCH_INTERVAL_MS_DEFAULT };
}

impl FromStr for Durability {
    type Err = LogError;

    /// Parses `none`, `batch` (default limits) or `sync`.
    fn from_str(text: &str) -> Result<Durability, LogError> {
        match text {
            "none" => Ok(Durability::None),
            "batch" => Ok(Durability::BATCH_DEFAULT),
            "sync" => Ok(Durability::Sync),
            other => Err(LogError::InvalidConfig {
                reason: format!("durability must be none, batch or sync, not {other:?}"),
            }),
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::None => f.write_str("none"),
            Durability::Batch { .. } => f.write_str("batch"),
            Durability::Sync => f.write_str("sync"),
        }
    }
}

/// Configuration of a `CommitLog`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub dir: PathBuf,
    /// Size of each new segment file. Existing segments keep the size in
    /// their header.
    pub segment_size_bytes: u64,
    pub durability: Durability,
    /// Largest payload `append` accepts.
    pub record_size_max: u64,
}

impl LogConfig {
    /// Defaults: 64 MiB segments, `sync` durability (the one mode that never
    /// loses an acknowledged record; choose `batch` for throughput), 16 MiB
    /// records.
    pub fn new(dir: impl Into<PathBuf>) -> LogConfig {
        LogConfig {
            dir: dir.into(),
            segment_size_bytes: SEGMENT_SIZE_BYTES_DEFAULT,
            durability: Durability::Sync,
            record_size_max: RECORD_SIZE_MAX,
        }
    }

    /// Checks every limit; `open` calls this.
    pub fn validate(&self) -> Result<(), LogError> {
        let invalid = |reason: String| Err(LogError::InvalidConfig { reason });
        let size = self.segment_size_bytes;
        if !(SEGMENT_SIZE_BYTES_MIN..=SEGMENT_SIZE_BYTES_MAX).contains(&size) || !size.is_multiple_of(8) {
            return invalid(format!(
                "segment_size_bytes {size} must be a multiple of 8 in {SEGMENT_SIZE_BYTES_MIN}..={SEGMENT_SIZE_BYTES_MAX}"
            ));
        }
        if self.record_size_max > u64::from(u32::MAX)
            || record_size_bytes(self.record_size_max) > size - SEGMENT_HEADER_SIZE_BYTES
        {
            return invalid(format!(
                "record_size_max {} plus a {RECORD_HEADER_SIZE_BYTES}-byte header must fit in a segment of {size} bytes",
                self.record_size_max
            ));
        }
        if let Durability::Batch { blocks_max, .. } = self.durability {
            if !(1..=BATCH_BLOCKS_MAX).contains(&blocks_max) {
                return invalid(format!("batch blocks_max {blocks_max} must be in 1..={BATCH_BLOCKS_MAX}"));
            }
        }
        Ok(())
    }
}

/// Where a record is and what it is, without its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    pub kind: u8,
    pub height: u64,
    /// The record hash the next record chains to.
    pub hash: [u8; 32],
    pub segment: u64,
    /// Byte offset of the record header within its segment.
    pub offset: u64,
    pub payload_len: u32,
}

impl RecordMeta {
    pub(crate) fn from_header(header: &RecordHeader, segment: u64, offset: u64) -> RecordMeta {
        RecordMeta {
            kind: header.kind,
            height: header.height,
            hash: header.record_hash,
            segment,
            offset,
            payload_len: header.payload_len,
        }
    }
}

/// A record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub meta: RecordMeta,
    pub payload: Vec<u8>,
}

/// What `CommitLog::open` found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: u64,
    pub records: u64,
    pub last: Option<RecordMeta>,
    /// The torn tail that was cut (zeroed and synced), if there was one.
    pub torn_tail: Option<TornTail>,
    /// Leftover temporary segment files that were removed.
    pub temp_files_removed: Vec<PathBuf>,
    /// True if the directory held no segment and segment 0 was created.
    pub created: bool,
}

/// When a sync happens, relative to the bytes it makes durable.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPhase {
    Before,
    After,
}

/// A sync point, reported to a test hook: `[offset, offset + len)` of `path`
/// is about to become (`Before`) or has become (`After`) durable. A new
/// segment reports `After` for its whole file once its directory entry is
/// durable.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct SyncEvent<'a> {
    pub phase: SyncPhase,
    pub path: &'a Path,
    pub offset: u64,
    pub len: u64,
}

/// Test hook observing sync points (the crash-model tests use it to keep the
/// image a power cut would leave).
#[doc(hidden)]
pub type SyncHook = Box<dyn FnMut(SyncEvent<'_>) + Send>;

/// A sealed segment written in `None` mode and not yet synced.
struct SealedDirty {
    path: PathBuf,
    file: File,
    offset: u64,
    len: u64,
}

/// The append-only, hash-chained, segmented commit log.
pub struct CommitLog {
    config: LogConfig,
    _lock: File,
    segments: Vec<SegmentSummary>,
    active: ActiveSegment,
    write_offset: u64,
    synced_offset: u64,
    last: Option<RecordMeta>,
    records: u64,
    unsynced_appends: u32,
    last_sync: Instant,
    sealed_dirty: Vec<SealedDirty>,
    /// Set after a failed sync: the page cache can no longer be trusted to
    /// match the disk (fsync errors are not sticky), so every later call fails
    /// until the log is reopened and recovered.
    poisoned: Option<String>,
    hook: Option<SyncHook>,
}

impl fmt::Debug for CommitLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitLog")
            .field("dir", &self.config.dir)
            .field("durability", &self.config.durability)
            .field("segments", &self.segments.len())
            .field("records", &self.records)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl CommitLog {
    /// Opens (creating the directory and segment 0 if needed), scans and
    /// validates every segment, cuts a torn tail, and refuses damage in the
    /// middle with `Corrupt`. See the crate docs for the rule.
    pub fn open(config: LogConfig) -> Result<(CommitLog, RecoveryReport), LogError> {
        CommitLog::open_inner(config, None)
    }

    /// `open` with a hook called at every sync point. For crash-model tests.
    #[doc(hidden)]
    pub fn open_with_sync_hook(config: LogConfig, hook: SyncHook) -> Result<(CommitLog, RecoveryReport), LogError> {
        CommitLog::open_inner(config, Some(hook))
    }

    fn open_inner(config: LogConfig, mut hook: Option<SyncHook>) -> Result<(CommitLog, RecoveryReport), LogError> {
        config.validate()?;
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| LogError::io("create_dir", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let temp_files_removed = remove_temp_files(&dir)?;
        let mut scan = scan_log(&dir, config.segment_size_bytes)?;
        for range in &scan.zero_ranges {
            zero_range(&dir, range, &mut hook)?;
        }
        // What recovery found may still sit only in the page cache (after a
        // `kill -9` under `none` or `batch`). New records will claim it durable
        // (their `durable_offset`), so make it so first. Open has just read
        // every byte of every record, so one fdatasync per segment is small
        // beside that.
        sync_segments(&dir, &scan.segments, &mut hook)?;
        let created = scan.segments.is_empty();
        if created {
            let path = create_segment(&dir, 0, config.segment_size_bytes, true)?;
            emit(&mut hook, SyncPhase::After, &path, 0, config.segment_size_bytes);
            scan.segments.push(SegmentSummary::new_empty(0, config.segment_size_bytes));
        }
        let tail = scan.segments.last().expect("at least one segment").clone();
        let active = ActiveSegment::open(&dir, tail.index, tail.size_bytes)?;
        let report = RecoveryReport {
            segments: scan.segments.len() as u64,
            records: scan.records,
            last: scan.last,
            torn_tail: scan.torn,
            temp_files_removed,
            created,
        };
        let log = CommitLog {
            config,
            _lock: lock,
            segments: scan.segments,
            active,
            write_offset: tail.end_offset,
            synced_offset: tail.end_offset,
            last: scan.last,
            records: scan.records,
            unsynced_appends: 0,
            last_sync: Instant::now(),
            sealed_dirty: Vec::new(),
            poisoned: None,
            hook,
        };
        Ok((log, report))
    }

    /// Appends a record chained to the previous one, then applies the
    /// durability policy. Heights must not decrease.
    ///
    /// Errors before the record is written (`RecordTooLarge`,
    /// `HeightRegression`, `DiskFull` from starting a segment,
    /// `SegmentShortened`) leave the log unchanged and usable. An error from
    /// the durability step means the record was written but its durability is
    /// unknown; the log is then `Poisoned` and must be reopened.
    pub fn append(&mut self, kind: u8, height: u64, payload: &[u8]) -> Result<RecordMeta, LogError> {
        self.check_poisoned()?;
        let len = payload.len() as u64;
        if len > self.config.record_size_max {
            return Err(LogError::RecordTooLarge { len, max: self.config.record_size_max });
        }
        if let Some(last) = self.last {
            if height < last.height {
                return Err(LogError::HeightRegression { last: last.height, got: height });
            }
        }
        let size = record_size_bytes(len);
        if self.write_offset + size > self.active.size_bytes {
            self.roll()?;
        }
        assert!(self.write_offset + size <= self.active.size_bytes, "record must fit a fresh segment");
        self.active.check_length()?;
        let prev_hash = self.last.map_or([0u8; 32], |meta| meta.hash);
        let header = RecordHeader::new(kind, height, prev_hash, payload, self.durable_claim());
        self.write_record(&header, payload);
        let meta = RecordMeta::from_header(&header, self.active.index, self.write_offset);
        self.write_offset += size;
        self.segments.last_mut().expect("active summary").push(&header);
        debug_assert_eq!(self.segments.last().map(|s| s.end_offset), Some(self.write_offset));
        self.last = Some(meta);
        self.records += 1;
        self.apply_durability()?;
        Ok(meta)
    }

    /// What is durable right now, as the next record will claim it. The
    /// claim must never run ahead of the disk: recovery refuses a hole that
    /// a surviving claim covers.
    fn durable_claim(&self) -> DurableClaim {
        debug_assert!(self.synced_offset <= self.write_offset);
        // After a roll under `none` that failed to create the next segment,
        // the active segment's unsynced bytes wait in `sealed_dirty` and
        // `synced_offset` has moved past them; a smaller record may still be
        // appended here, and its claim must stop where the disk does.
        let durable_offset = match self.sealed_dirty.last() {
            Some(queued) if queued.path == self.active.path => queued.offset,
            _ => self.synced_offset,
        };
        let offset = u32::try_from(durable_offset).expect("segment offsets fit u32 (SEGMENT_SIZE_BYTES_MAX)");
        DurableClaim { earlier_segments: self.sealed_dirty.is_empty(), offset }
    }

    fn write_record(&mut self, header: &RecordHeader, payload: &[u8]) {
        let start = self.write_offset as usize;
        let payload_start = start + RECORD_HEADER_SIZE_BYTES as usize;
        let payload_end = payload_start + payload.len();
        let record_end = start + header.record_size_bytes() as usize;
        let map = &mut self.active.map[..];
        let encoded = header.encode();
        map[start..payload_start].copy_from_slice(&encoded);
        map[payload_start..payload_end].copy_from_slice(payload);
        map[payload_end..record_end].fill(0);
        // Pair assertion: the header reads back as what we meant to write.
        let mut written = [0u8; RECORD_HEADER_SIZE_BYTES as usize];
        written.copy_from_slice(&map[start..payload_start]);
        assert_eq!(RecordHeader::decode(&written).as_ref(), Ok(header), "header did not read back");
        debug_assert_eq!(blake3::hash(&map[payload_start..payload_end]).as_bytes(), &header.payload_checksum);
    }

    /// Seals the active segment and starts the next one. The new segment is
    /// durable (file and directory fsync) before any record goes into it.
    fn roll(&mut self) -> Result<(), LogError> {
        let next = self.active.index + 1;
        if next >= SEGMENT_COUNT_MAX {
            return Err(LogError::TooManySegments { count: next + 1, max: SEGMENT_COUNT_MAX });
        }
        if self.config.durability == Durability::None {
            self.remember_sealed_dirty()?;
        } else {
            // Batch and sync modes keep the invariant "only the active
            // segment can hold unsynced bytes".
            self.flush_active()?;
        }
        let size = self.config.segment_size_bytes;
        let earlier_segments_durable = self.sealed_dirty.is_empty();
        let path = create_segment(&self.config.dir, next, size, earlier_segments_durable)?;
        emit(&mut self.hook, SyncPhase::After, &path, 0, size);
        self.active = ActiveSegment::open(&self.config.dir, next, size)?;
        self.segments.push(SegmentSummary::new_empty(next, size));
        self.write_offset = SEGMENT_HEADER_SIZE_BYTES;
        self.synced_offset = SEGMENT_HEADER_SIZE_BYTES;
        Ok(())
    }

    fn remember_sealed_dirty(&mut self) -> Result<(), LogError> {
        let len = self.write_offset - self.synced_offset;
        if len == 0 {
            return Ok(());
        }
        let file = self.active.file.try_clone().map_err(|e| LogError::io("dup", &self.active.path, e))?;
        let sealed = SealedDirty { path: self.active.path.clone(), file, offset: self.synced_offset, len };
        self.sealed_dirty.push(sealed);
        // The bytes are tracked by `sealed_dirty` now; a retried roll (after
        // a failed segment creation) must not queue them twice.
        self.synced_offset = self.write_offset;
        if self.sealed_dirty.len() > SEALED_UNSYNCED_SEGMENTS_MAX {
            // Each entry holds a file handle, so a long `none` run without a
            // `sync()` would otherwise hold one per segment until exit.
            // Syncing the oldest early is allowed: `none` promises nothing
            // about when bytes reach the disk, only that nothing waits for it.
            let oldest = self.sealed_dirty.remove(0);
            let result = sync_sealed(&mut self.hook, &oldest);
            if let Err(error) = &result {
                self.poisoned = Some(error.to_string());
            }
            result?;
        }
        Ok(())
    }

    /// Sealed segments written under `none` and not yet synced (at most
    /// `SEALED_UNSYNCED_SEGMENTS_MAX`, each holding one file handle).
    pub fn unsynced_sealed_segments(&self) -> usize {
        self.sealed_dirty.len()
    }

    fn apply_durability(&mut self) -> Result<(), LogError> {
        match self.config.durability {
            Durability::None => Ok(()),
            Durability::Sync => self.sync(),
            Durability::Batch { blocks_max, .. } => {
                self.unsynced_appends += 1;
                if self.unsynced_appends >= blocks_max {
                    self.sync()
                } else {
                    self.sync_if_due()
                }
            }
        }
    }

    /// In `Batch` mode, syncs if the interval has passed since the last sync.
    /// Call it from an idle timer so that the time bound holds even when no
    /// appends arrive. A no-op in the other modes.
    pub fn sync_if_due(&mut self) -> Result<(), LogError> {
        if let Durability::Batch { interval_ms, .. } = self.config.durability {
            if self.has_unsynced() && self.last_sync.elapsed() >= Duration::from_millis(interval_ms) {
                return self.sync();
            }
        }
        Ok(())
    }

    fn has_unsynced(&self) -> bool {
        self.write_offset > self.synced_offset || !self.sealed_dirty.is_empty()
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.check_poisoned()?;
        let result = self.sync_inner();
        if let Err(error) = &result {
            self.poisoned = Some(error.to_string());
        }
        result
    }

    fn sync_inner(&mut self) -> Result<(), LogError> {
        for sealed in std::mem::take(&mut self.sealed_dirty) {
            sync_sealed(&mut self.hook, &sealed)?;
        }
        self.flush_active()?;
        self.unsynced_appends = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn flush_active(&mut self) -> Result<(), LogError> {
        let (offset, len) = (self.synced_offset, self.write_offset - self.synced_offset);
        if len == 0 {
            return Ok(());
        }
        emit(&mut self.hook, SyncPhase::Before, &self.active.path, offset, len);
        self.active.flush(offset, len)?;
        emit(&mut self.hook, SyncPhase::After, &self.active.path, offset, len);
        self.synced_offset = self.write_offset;
        Ok(())
    }

    fn check_poisoned(&self) -> Result<(), LogError> {
        match &self.poisoned {
            None => Ok(()),
            Some(reason) => Err(LogError::Poisoned { reason: reason.clone() }),
        }
    }

    /// The last record, if any.
    pub fn last(&self) -> Option<RecordMeta> {
        self.last
    }

    /// Number of records in the log.
    pub fn record_count(&self) -> u64 {
        self.records
    }

    /// Per-segment summaries, in index order; the last is the active segment.
    pub fn segments(&self) -> &[SegmentSummary] {
        &self.segments
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Every record from the start, re-verified as it is read.
    pub fn records(&self) -> RecordIter<'_> {
        RecordIter::new(&self.config.dir, &self.segments, 0, None)
    }

    /// Records with `height > height_exclusive`: what replay after a snapshot
    /// at that height needs. Whole segments below the height are skipped via
    /// the in-memory summaries, and records below it by header alone.
    pub fn records_from_height(&self, height_exclusive: u64) -> RecordIter<'_> {
        records_from_height(&self.config.dir, &self.segments, height_exclusive)
    }
}

fn records_from_height<'a>(dir: &'a Path, segments: &'a [SegmentSummary], height_exclusive: u64) -> RecordIter<'a> {
    let start = segments
        .iter()
        .position(|summary| summary.last_height.is_some_and(|last| last > height_exclusive))
        .unwrap_or(segments.len());
    RecordIter::new(dir, segments, start, Some(height_exclusive))
}

/// Read-only access to the records of a log, for tools that must not change
/// what they inspect (`verify`, `replay`): it neither locks, nor creates, nor
/// cuts a torn tail. It reads the whole records that `verify_log` accepts,
/// stopping where a torn tail would start; damage in the middle is refused
/// with `Corrupt`, exactly as `CommitLog::open` would.
///
/// A writer may run beside it; records appended after `open` are not seen,
/// and a record being written at that moment may show as a torn tail.
#[derive(Debug)]
pub struct LogReader {
    dir: PathBuf,
    segments: Vec<SegmentSummary>,
    report: VerifyReport,
}

impl LogReader {
    /// Scans and checks the whole log in `dir` (see `verify_log`).
    pub fn open(dir: impl Into<PathBuf>) -> Result<LogReader, LogError> {
        let dir = dir.into();
        let scan = scan_log(&dir, SEGMENT_SIZE_BYTES_DEFAULT)?;
        let report = VerifyReport::from_scan(&scan);
        Ok(LogReader { dir, segments: scan.segments, report })
    }

    /// What the scan found: records, last record, torn tail.
    pub fn report(&self) -> &VerifyReport {
        &self.report
    }

    /// Every whole record from the start, re-verified as it is read.
    pub fn records(&self) -> RecordIter<'_> {
        RecordIter::new(&self.dir, &self.segments, 0, None)
    }

    /// Records with `height > height_exclusive`.
    pub fn records_from_height(&self, height_exclusive: u64) -> RecordIter<'_> {
        records_from_height(&self.dir, &self.segments, height_exclusive)
    }
}

impl Drop for CommitLog {
    /// Best effort: in `Batch` mode, sync what the last batch left. Errors
    /// cannot be reported here; call `sync()` to see them.
    fn drop(&mut self) {
        if self.config.durability != Durability::None && self.poisoned.is_none() {
            let _ = self.sync();
        }
    }
}

fn sync_sealed(hook: &mut Option<SyncHook>, sealed: &SealedDirty) -> Result<(), LogError> {
    emit(hook, SyncPhase::Before, &sealed.path, sealed.offset, sealed.len);
    sealed.file.sync_data().map_err(|e| LogError::io("fdatasync", &sealed.path, e))?;
    emit(hook, SyncPhase::After, &sealed.path, sealed.offset, sealed.len);
    Ok(())
}

/// fdatasync of every segment, at open: afterwards everything recovery kept is
/// on disk, whatever the mode that wrote it.
fn sync_segments(dir: &Path, segments: &[SegmentSummary], hook: &mut Option<SyncHook>) -> Result<(), LogError> {
    for summary in segments {
        let path = segment::segment_path(dir, summary.index);
        let file = File::open(&path).map_err(|e| LogError::io("open", &path, e))?;
        file.sync_data().map_err(|e| LogError::io("fdatasync", &path, e))?;
        emit(hook, SyncPhase::After, &path, 0, summary.size_bytes);
    }
    Ok(())
}

fn emit(hook: &mut Option<SyncHook>, phase: SyncPhase, path: &Path, offset: u64, len: u64) {
    if let Some(hook) = hook.as_mut() {
        hook(SyncEvent { phase, path, offset, len });
    }
}

/// Takes an exclusive `flock` on `dir/LOCK`, held for the log's lifetime, so
/// that no two writers map the same segments (part of the map's safety case).
#[allow(unsafe_code)] // flock(2) on a descriptor we own
fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LogError::io("open", &path, e))?;
    // SAFETY: plain syscall on a file descriptor we own for the whole call.
    let code = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if code != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(LogError::Locked { path });
        }
        return Err(LogError::io("flock", &path, error));
    }
    Ok(file)
}

fn remove_temp_files(dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    let temp_files = list_dir(dir)?.temp_files;
    for path in &temp_files {
        fs::remove_file(path).map_err(|e| LogError::io("remove", path, e))?;
    }
    if !temp_files.is_empty() {
        fsync_dir(dir)?;
    }
    Ok(temp_files)
}

/// Overwrites a torn tail with zeros and syncs it, so that the zero-filled
/// "normal end" holds again before anything new is appended after it.
fn zero_range(dir: &Path, range: &ZeroRange, hook: &mut Option<SyncHook>) -> Result<(), LogError> {
    let path = segment::segment_path(dir, range.segment_index);
    let file = OpenOptions::new().write(true).open(&path).map_err(|e| LogError::io("open", &path, e))?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut offset = range.start;
    while offset < range.end {
        let len = (range.end - offset).min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all_at(&zeros[..len], offset).map_err(|e| LogError::io("write zeros", &path, e))?;
        offset += len as u64;
    }
    emit(hook, SyncPhase::Before, &path, range.start, range.end - range.start);
    file.sync_data().map_err(|e| LogError::io("fdatasync", &path, e))?;
    emit(hook, SyncPhase::After, &path, range.start, range.end - range.start);
    Ok(())
}

/// Iterator over records, reading segments by `pread` and re-verifying each
/// record (checksums and chain) as it goes. Yields an error, then stops, on
/// anything unexpected.
pub struct RecordIter<'a> {
    dir: &'a Path,
    segments: &'a [SegmentSummary],
    position: usize,
    offset: u64,
    segment: Option<SegmentFile>,
    height_exclusive: Option<u64>,
    prev_hash: Option<[u8; 32]>,
    done: bool,
}

impl<'a> RecordIter<'a> {
    fn new(
        dir: &'a Path,
        segments: &'a [SegmentSummary],
        position: usize,
        height_exclusive: Option<u64>,
    ) -> RecordIter<'a> {
        let prev_hash = (position == 0).then_some([0u8; 32]);
        RecordIter {
            dir,
            segments,
            position,
            offset: SEGMENT_HEADER_SIZE_BYTES,
            segment: None,
            height_exclusive,
            prev_hash,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<Record>, LogError> {
        loop {
            let Some(summary) = self.segments.get(self.position) else {
                return Ok(None);
            };
            if self.offset >= summary.end_offset {
                self.position += 1;
                self.offset = SEGMENT_HEADER_SIZE_BYTES;
                self.segment = None;
                continue;
            }
            if self.segment.is_none() {
                self.segment = Some(SegmentFile::open(self.dir, summary.index, summary.size_bytes)?);
            }
            let segment = self.segment.as_ref().expect("opened above");
            let header = expect_record(segment, self.offset, None)?;
            let offset = self.offset;
            self.offset += header.record_size_bytes();
            if let Some(prev_hash) = self.prev_hash {
                if header.prev_hash != prev_hash {
                    return Err(segment.corrupt(offset, "hash chain broken: prev_hash does not match"));
                }
            }
            self.prev_hash = Some(header.record_hash);
            if self.height_exclusive.is_some_and(|h| header.height <= h) {
                continue;
            }
            let mut payload = Vec::new();
            let read = expect_record(segment, offset, Some(&mut payload))?;
            if read != header {
                return Err(segment.corrupt(offset, "record changed while being read"));
            }
            let meta = RecordMeta::from_header(&header, segment.index, offset);
            return Ok(Some(Record { meta, payload }));
        }
    }
}

fn expect_record(segment: &SegmentFile, offset: u64, payload: Option<&mut Vec<u8>>) -> Result<RecordHeader, LogError> {
    match read_record(segment, offset, payload)? {
        Step::Record(header) => Ok(header),
        Step::End => Err(segment.corrupt(offset, "record expected, found the end of the segment")),
        Step::Invalid(reason) => Err(segment.corrupt(offset, reason)),
    }
}

impl Iterator for RecordIter<'_> {
    type Item = Result<Record, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}
