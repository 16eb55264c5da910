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
//! Then the rest of the log is searched, at *every* aligned offset of the rest
//! of segment `s` and of every later segment, for any whole valid record:
//!
//! * none found: `P` is a **torn tail**, the remains of a write that a crash
//!   cut short. Everything from `P` on is cut (overwritten with zeros and
//!   synced) by `CommitLog::open`, and reported (segment, offset, bytes), by
//!   `verify_log` without touching the files;
//! * one found: the log is **damaged in the middle**. Both `open` and
//!   `verify_log` refuse with `LogError::Corrupt` naming segment `s` and offset
//!   `o`. A record after `P` is never skipped to, and never dropped silently.
//!
//! Some damage is never a torn tail: a bad segment header (segments get their
//! final name only once their header is durable), a whole record whose
//! `prev_hash` does not match (a torn write cannot produce a whole record), and
//! a height that goes down. These are `Corrupt` wherever they are.
//!
//! Limits of the rule, stated honestly: (1) damage to the very last record(s)
//! with nothing valid after it looks exactly like a torn write and is cut; the
//! report says how many bytes, so an operator running `sync` durability can
//! tell that acknowledged data went away. (2) A torn record whose *payload*
//! happens to embed a complete valid record at an aligned offset (an
//! adversarial payload) makes the tail look like damage in the middle; the log
//! then refuses to open instead of cutting. Both failures are on the safe side
//! of "never silently skip".

use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::format::{RecordHeader, SEGMENT_HEADER_SIZE_BYTES};
use crate::segment::{list_dir, read_record, scan_region, SegmentFile, Step};
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
        let stop = scan_segment(&segment, &mut summary, &mut scan, &mut payload)?;
        scan.segments.push(summary);
        if let Some((offset, reason)) = stop {
            classify_tail(dir, &segment, offset, reason, count, size_hint_bytes, &mut scan)?;
            break;
        }
    }
    Ok(scan)
}

/// Reads the records of one segment. Returns `Some((offset, reason))` where
/// the records stop being whole and the rest is not clean zeros.
fn scan_segment(
    segment: &SegmentFile,
    summary: &mut SegmentSummary,
    scan: &mut Scan,
    payload: &mut Vec<u8>,
) -> Result<Option<(u64, String)>, LogError> {
    let mut offset = SEGMENT_HEADER_SIZE_BYTES;
    loop {
        match read_record(segment, offset, Some(payload))? {
            Step::Record(header) => {
                let meta = check_link(segment, offset, &header, scan.last.as_ref())?;
                summary.push(&header);
                scan.records += 1;
                scan.last = Some(meta);
                offset += header.record_size_bytes();
            }
            Step::End => {
                let region = scan_region(segment, offset)?;
                if region.nonzero_end.is_none() {
                    return Ok(None);
                }
                return Ok(Some((offset, "non-zero bytes after the last record".to_string())));
            }
            Step::Invalid(reason) => return Ok(Some((offset, reason.to_string()))),
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

/// Applies the recovery rule at `offset` in `segment`: torn tail if no whole
/// valid record exists anywhere after it, damage in the middle otherwise.
fn classify_tail(
    dir: &Path,
    segment: &SegmentFile,
    offset: u64,
    reason: String,
    count: u64,
    size_hint_bytes: u64,
    scan: &mut Scan,
) -> Result<(), LogError> {
    let region = scan_region(segment, offset)?;
    if let Some(at) = region.valid_record_at {
        let reason = format!("{reason}; a valid record follows at offset {at} of the same segment");
        return Err(segment.corrupt(offset, reason));
    }
    let mut zero_ranges = Vec::new();
    if let Some(end) = region.nonzero_end {
        zero_ranges.push(ZeroRange { segment_index: segment.index, start: offset, end });
    }
    for index in segment.index + 1..count {
        let later = SegmentFile::open(dir, index, size_hint_bytes)?;
        let later_region = scan_region(&later, SEGMENT_HEADER_SIZE_BYTES)?;
        if let Some(at) = later_region.valid_record_at {
            let reason = format!("{reason}; segment {index} holds a valid record at offset {at}");
            return Err(segment.corrupt(offset, reason));
        }
        if let Some(end) = later_region.nonzero_end {
            zero_ranges.push(ZeroRange { segment_index: index, start: SEGMENT_HEADER_SIZE_BYTES, end });
        }
        scan.segments.push(SegmentSummary::empty(index, later.size_bytes));
    }
    let bytes = zero_ranges.iter().map(|range| range.end - range.start).sum();
    scan.torn = Some(TornTail { segment: segment.path.clone(), segment_index: segment.index, offset, bytes, reason });
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
