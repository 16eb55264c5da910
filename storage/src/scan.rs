//! Reading the whole log: validation, the torn-tail rule, and verification.
//!
//! ## The recovery rule
//!
//! Segments are read in index order, and records within a segment from the
//! first one on. Every record must be whole (header hash, length checksum,
//! payload checksum, zero padding), must chain to the record before it
//! (`prev_hash`), and must not lower the height. The records of a segment end
//! at the first all-zero header, or where no header fits any more.
//!
//! Reading stops at the first place `P` (segment `s`, byte offset `o`) that is
//! not a whole record, or at a clean end whose rest of segment is not all zero.
//! The question is then whether `P` was ever durable. A power cut may lose any
//! unsynced write, in any order (the kernel writes dirty pages back in no
//! promised order), so a hole followed by valid records is what `none` and
//! `batch` leave after a power loss, and it is not damage. A hole in bytes
//! that were synced is damage. The log tells the two apart by what each write
//! says about the ones before it (format version 2):
//!
//! * every record header carries a **durability claim**: `durable_offset`,
//!   how far its own segment was synced when it was written, and the flag
//!   `EARLIER_SEGMENTS_DURABLE`, whether every earlier segment was;
//! * every segment header carries the same flag for the moment the segment was
//!   created (in `batch` and `sync` the active segment is synced before a new
//!   one is created, so it is always set there).
//!
//! The rest of the log after `P` is searched, at *every* aligned offset of the
//! rest of segment `s` and of every later segment, for a whole valid record
//! whose claim covers `P`, and every later segment header is read:
//!
//! * a claim covers `P`: something written after `P` was durable survives, so
//!   `P` was durable too and the log is **damaged**. Both `open` and
//!   `verify_log` refuse with `LogError::Corrupt` naming segment `s` and offset
//!   `o`. A record after `P` is never skipped to.
//! * no claim covers `P`: nothing after `P` was durable, so `P` is a **torn
//!   tail**: the remains of writes a crash cut short or lost. Everything from
//!   `P` on is cut (overwritten with zeros and synced) by `CommitLog::open`,
//!   and reported (segment, offset, bytes, and how many whole records beyond
//!   `P` were cut with it), by `verify_log` without touching the files. No
//!   durability mode promised any of it.
//!
//! Why claims in the records rather than a separate watermark file: the claim
//! rides in a header that is written anyway, so it costs no extra write and no
//! extra sync, and it is covered by the record hash like everything else.
//!
//! One hole reads as clean zeros: the last records of a segment lost whole,
//! after which the segment seems to end normally. The next segment's first
//! record then does not chain; that place is classified as a hole right after
//! the last whole record, by the same rule.
//!
//! Some damage is never a torn tail: a bad segment header (segments get their
//! final name only once their header is durable), a whole record whose
//! `prev_hash` does not match anywhere but at the start of a segment (a torn
//! or lost write cannot produce a whole record that follows a whole record
//! it does not chain to), and a height that goes down. These are `Corrupt`
//! wherever they are.
//!
//! Limits of the rule, stated honestly: (1) damage to durable records with no
//! later durable-claiming write surviving after it (the last record under
//! `sync`, the last group commit under `batch`) looks exactly like a lost
//! write and is cut; the report names the offset, the bytes and the records,
//! so an operator can tell that something went away. Only a copy kept outside
//! this log (another replica) can restore it. (2) A torn record whose
//! *payload* happens to embed a complete valid record with a covering claim at
//! an aligned offset (an adversarial payload) makes the tail look like
//! damage; the log then refuses to open instead of cutting. Both failures are
//! on the safe side of "never silently skip".

use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::format::{RecordHeader, SEGMENT_HEADER_SIZE_BYTES};
use crate::segment::{list_dir, read_record, scan_region, LogPosition, SegmentFile, Step};
use crate::{RecordMeta, SEGMENT_COUNT_MAX};

/// Per-segment facts learned by a scan and kept up to date by `append`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub index: u64,
    pub size_bytes: u64,
    pub records: u64,
    pub first_height: Option<u64>,
    pub last_height: Option<u64>,
    /// One past the last valid record (the segment header size if empty).
    pub end_offset: u64,
}

impl SegmentSummary {
    fn empty(index: u64, size_bytes: u64) -> SegmentSummary {
        SegmentSummary {
            index,
            size_bytes,
            records: 0,
            first_height: None,
            last_height: None,
            end_offset: SEGMENT_HEADER_SIZE_BYTES,
        }
    }

    pub(crate) fn new_empty(index: u64, size_bytes: u64) -> SegmentSummary {
        SegmentSummary::empty(index, size_bytes)
    }

    pub(crate) fn push(&mut self, header: &RecordHeader) {
        self.records += 1;
        self.first_height.get_or_insert(header.height);
        self.last_height = Some(header.height);
        self.end_offset += header.record_size_bytes();
    }
}

/// Where a torn tail starts and how much of it there is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    pub segment_index: u64,
    /// Byte offset in `segment` of the first byte that is not part of a whole record.
    pub offset: u64,
    /// Non-zero bytes from `offset` on (in this and any later segment) that
    /// are cut: the span from each start to its last non-zero byte.
    pub bytes: u64,
    /// Whole, valid records found beyond `offset` and cut with it: writes
    /// that reached the disk out of order while an earlier, unsynced one did
    /// not. None of them was durable (none claims `offset` durable), so the
    /// durability mode never promised them.
    pub records_cut: u64,
    /// Why the record at `offset` was not whole.
    pub reason: String,
}

/// A byte range to zero when cutting a torn tail.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ZeroRange {
    pub segment_index: u64,
    pub start: u64,
    pub end: u64,
}

pub(crate) struct Scan {
    pub segments: Vec<SegmentSummary>,
    pub records: u64,
    pub last: Option<RecordMeta>,
    pub torn: Option<TornTail>,
    pub zero_ranges: Vec<ZeroRange>,
    pub temp_files: Vec<PathBuf>,
}

/// Reads and checks the whole log in `dir` without modifying anything.
/// `size_hint_bytes` is only used in `SegmentShortened` for a file too short
/// to hold a header.
pub(crate) fn scan_log(dir: &Path, size_hint_bytes: u64) -> Result<Scan, LogError> {
    let listing = list_dir(dir)?;
    let count = listing.segment_indices.len() as u64;
    if count > SEGMENT_COUNT_MAX {
        return Err(LogError::TooManySegments { count, max: SEGMENT_COUNT_MAX });
    }
    for (position, &index) in listing.segment_indices.iter().enumerate() {
        if index != position as u64 {
            return Err(LogError::SegmentMissing { dir: dir.to_path_buf(), index: position as u64 });
        }
    }
    let mut scan = Scan {
        segments: Vec::new(),
        records: 0,
        last: None,
        torn: None,
        zero_ranges: Vec::new(),
        temp_files: listing.temp_files,
    };
    let mut payload = Vec::new();
    // For a file too short to hold a header, the best guess of its intended
    // size is the size of the segment before it.
    let mut size_hint_bytes = size_hint_bytes;
    for index in 0..count {
        let segment = SegmentFile::open(dir, index, size_hint_bytes)?;
        size_hint_bytes = segment.size_bytes;
        let mut summary = SegmentSummary::empty(index, segment.size_bytes);
        match scan_segment(&segment, &mut summary, &mut scan, &mut payload)? {
            SegmentEnd::Clean => scan.segments.push(summary),
            SegmentEnd::Stop { offset, reason } => {
                scan.segments.push(summary);
                classify_tail(dir, &segment, offset, reason, count, size_hint_bytes, &mut scan)?;
                break;
            }
            SegmentEnd::UnchainedStart => {
                classify_unchained_start(dir, index, count, size_hint_bytes, &mut scan)?;
                break;
            }
        }
    }
    Ok(scan)
}

/// How the records of one segment ended.
enum SegmentEnd {
    /// At zeros that run to the end of the segment.
    Clean,
    /// At `offset`, which is not a whole record, or after which non-zero
    /// bytes follow.
    Stop { offset: u64, reason: String },
    /// The segment's first record is whole but does not chain to the last
    /// record before it, although every earlier segment ended cleanly.
    UnchainedStart,
}

/// The first record of segment `index` does not chain to the last record
/// of the segments before it, which all ended in clean zeros. The writes
/// between them are missing: the last records of an earlier segment, lost
/// whole in a power cut (writeback in any order can lose them and keep
/// their successors), or erased by damage. The hole starts right after the
/// last whole record, and the recovery rule decides from there, as for any
/// other hole.
fn classify_unchained_start(
    dir: &Path,
    index: u64,
    count: u64,
    size_hint_bytes: u64,
    scan: &mut Scan,
) -> Result<(), LogError> {
    let (hole_segment, hole_offset) = scan.last.map_or((0, SEGMENT_HEADER_SIZE_BYTES), |last| {
        (last.segment, last.offset + crate::format::record_size_bytes(u64::from(last.payload_len)))
    });
    debug_assert!(hole_segment < index);
    // The summaries after the hole's segment are of empty segments; the
    // rule pushes them again as it reads them.
    scan.segments.truncate(hole_segment as usize + 1);
    let segment = SegmentFile::open(dir, hole_segment, size_hint_bytes)?;
    let reason = format!("the first record of segment {index} does not chain to the record before this offset");
    classify_tail(dir, &segment, hole_offset, reason, count, size_hint_bytes, scan)
}

/// Reads the records of one segment, up to where they end.
fn scan_segment(
    segment: &SegmentFile,
    summary: &mut SegmentSummary,
    scan: &mut Scan,
    payload: &mut Vec<u8>,
) -> Result<SegmentEnd, LogError> {
    let mut offset = SEGMENT_HEADER_SIZE_BYTES;
    loop {
        match read_record(segment, offset, Some(payload))? {
            Step::Record(header) => {
                let expected_prev = scan.last.map_or([0u8; 32], |meta| meta.hash);
                if offset == SEGMENT_HEADER_SIZE_BYTES && segment.index > 0 && header.prev_hash != expected_prev {
                    return Ok(SegmentEnd::UnchainedStart);
                }
                let meta = check_link(segment, offset, &header, scan.last.as_ref())?;
                summary.push(&header);
                scan.records += 1;
                scan.last = Some(meta);
                offset += header.record_size_bytes();
            }
            Step::End => {
                let region = scan_region(segment, offset, None)?;
                if region.nonzero_end.is_none() {
                    return Ok(SegmentEnd::Clean);
                }
                let reason = "non-zero bytes after the last record".to_string();
                return Ok(SegmentEnd::Stop { offset, reason });
            }
            Step::Invalid(reason) => return Ok(SegmentEnd::Stop { offset, reason: reason.to_string() }),
        }
    }
}

/// Checks the hash chain and height order. A whole record that fails either
/// cannot be the product of a torn write, so this is always `Corrupt`.
fn check_link(
    segment: &SegmentFile,
    offset: u64,
    header: &RecordHeader,
    previous: Option<&RecordMeta>,
) -> Result<RecordMeta, LogError> {
    let expected_prev = previous.map_or([0u8; 32], |meta| meta.hash);
    if header.prev_hash != expected_prev {
        return Err(segment.corrupt(offset, "hash chain broken: prev_hash does not match the previous record"));
    }
    if let Some(previous) = previous {
        if header.height < previous.height {
            let reason = format!("height {} is below the previous record's {}", header.height, previous.height);
            return Err(segment.corrupt(offset, reason));
        }
    }
    Ok(RecordMeta::from_header(header, segment.index, offset))
}

/// Applies the recovery rule at `offset` in `segment`: damage if anything
/// written after that offset was durable survives (a later record or segment
/// header whose durability claim covers it), a torn tail to cut otherwise.
fn classify_tail(
    dir: &Path,
    segment: &SegmentFile,
    offset: u64,
    reason: String,
    count: u64,
    size_hint_bytes: u64,
    scan: &mut Scan,
) -> Result<(), LogError> {
    let hole = LogPosition { segment: segment.index, offset };
    let region = scan_region(segment, offset, Some(hole))?;
    if let Some(at) = region.proof_at {
        let reason = format!(
            "{reason}; the record at offset {at} of the same segment was written after this offset was durable"
        );
        return Err(segment.corrupt(offset, reason));
    }
    let mut records_cut = region.records;
    let mut zero_ranges = Vec::new();
    if let Some(end) = region.nonzero_end {
        zero_ranges.push(ZeroRange { segment_index: segment.index, start: offset, end });
    }
    for index in segment.index + 1..count {
        let later = SegmentFile::open(dir, index, size_hint_bytes)?;
        if later.earlier_segments_durable {
            let reason = format!("{reason}; segment {index} was created after this segment was durable");
            return Err(segment.corrupt(offset, reason));
        }
        let later_region = scan_region(&later, SEGMENT_HEADER_SIZE_BYTES, Some(hole))?;
        if let Some(at) = later_region.proof_at {
            let reason = format!(
                "{reason}; the record at offset {at} of segment {index} was written after this segment was durable"
            );
            return Err(segment.corrupt(offset, reason));
        }
        records_cut += later_region.records;
        if let Some(end) = later_region.nonzero_end {
            zero_ranges.push(ZeroRange { segment_index: index, start: SEGMENT_HEADER_SIZE_BYTES, end });
        }
        scan.segments.push(SegmentSummary::empty(index, later.size_bytes));
    }
    let bytes = zero_ranges.iter().map(|range| range.end - range.start).sum();
    scan.torn = Some(TornTail {
        segment: segment.path.clone(),
        segment_index: segment.index,
        offset,
        bytes,
        records_cut,
        reason,
    });
    scan.zero_ranges = zero_ranges;
    Ok(())
}

/// Result of `verify_log`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: u64,
    pub records: u64,
    pub last: Option<RecordMeta>,
    /// Bytes a reopen would cut as a torn tail (0 if the log ends cleanly).
    pub torn_tail_bytes: u64,
    pub torn_tail: Option<TornTail>,
    /// Leftover temporary segment files from an interrupted segment creation.
    pub temp_files: Vec<PathBuf>,
}

/// Read-only full check of every segment header, every record (header,
/// length, payload checksum, padding) and the hash chain. Never modifies,
/// creates or locks anything, so it can run beside a live writer; a record
/// being written at that moment may then show as a torn tail.
pub fn verify_log(dir: &Path) -> Result<VerifyReport, LogError> {
    let scan = scan_log(dir, crate::SEGMENT_SIZE_BYTES_DEFAULT)?;
    Ok(VerifyReport::from_scan(&scan))
}

impl VerifyReport {
    pub(crate) fn from_scan(scan: &Scan) -> VerifyReport {
        VerifyReport {
            segments: scan.segments.len() as u64,
            records: scan.records,
            last: scan.last,
            torn_tail_bytes: scan.torn.as_ref().map_or(0, |torn| torn.bytes),
            torn_tail: scan.torn.clone(),
            temp_files: scan.temp_files.clone(),
        }
    }
}
