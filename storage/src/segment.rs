//! Segment files: creation (preallocated, durable before use), read access by
//! `pread`, and the writable memory map of the active segment.
//!
//! Reads never go through a memory map. `pread` on a file that someone
//! shortened returns a short read, which becomes `SegmentShortened`; a read
//! through a map would raise SIGBUS instead. Only the active segment is mapped,
//! for writing.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use crate::error::LogError;
use crate::format::{
    HeaderError, RecordHeader, SegmentHeader, RECORD_ALIGN_BYTES, RECORD_HEADER_SIZE_BYTES, RECORD_MAGIC,
    SEGMENT_HEADER_SIZE_BYTES,
};

const SEGMENT_SUFFIX: &str = ".seg";
const TEMP_SUFFIX: &str = ".seg.tmp";
const SEGMENT_NAME_DIGITS: usize = 20;
/// Region scans read this much per `pread`: large enough to amortise the
/// syscall, small enough to be a harmless allocation.
const SCAN_CHUNK_BYTES: u64 = 1 << 20;

pub(crate) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}{SEGMENT_SUFFIX}"))
}

/// What the log directory holds: segment indices (sorted) and leftover
/// temporary files from an interrupted segment creation.
pub(crate) struct DirListing {
    pub segment_indices: Vec<u64>,
    pub temp_files: Vec<PathBuf>,
}

pub(crate) fn list_dir(dir: &Path) -> Result<DirListing, LogError> {
    let mut listing = DirListing { segment_indices: Vec::new(), temp_files: Vec::new() };
    let entries = fs::read_dir(dir).map_err(|e| LogError::io("read_dir", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("read_dir", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TEMP_SUFFIX) {
            listing.temp_files.push(entry.path());
        } else if let Some(index) = parse_segment_name(name) {
            listing.segment_indices.push(index);
        }
        // Anything else (the lock file, an operator's notes) is not ours to judge.
    }
    listing.segment_indices.sort_unstable();
    Ok(listing)
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), LogError> {
    let handle = File::open(dir).map_err(|e| LogError::io("open dir", dir, e))?;
    handle.sync_all().map_err(|e| LogError::io("fsync dir", dir, e))
}

/// Creates segment `index` durably: temp file, real preallocation, header,
/// fsync, rename, directory fsync. Only after all of that does the segment
/// exist under its final name, so no record can ever be written into (or
/// refer to) a segment that a crash could take away. `earlier_segments_durable`
/// goes into the header: the caller's claim that every earlier segment is
/// durable through its last record.
pub(crate) fn create_segment(
    dir: &Path,
    index: u64,
    segment_size_bytes: u64,
    earlier_segments_durable: bool,
) -> Result<PathBuf, LogError> {
    let path = segment_path(dir, index);
    let temp = dir.join(format!("{index:020}{TEMP_SUFFIX}"));
    let header = SegmentHeader { segment_index: index, segment_size_bytes, earlier_segments_durable };
    let result = create_segment_temp(&temp, &header);
    if let Err(error) = result {
        // Best effort: a leftover temp file is also removed by the next open.
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    fs::rename(&temp, &path).map_err(|e| LogError::io("rename", &temp, e))?;
    fsync_dir(dir)?;
    Ok(path)
}

fn create_segment_temp(temp: &Path, header: &SegmentHeader) -> Result<(), LogError> {
    let segment_size_bytes = header.segment_size_bytes;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .map_err(|e| LogError::io("create", temp, e))?;
    preallocate(&file, temp, segment_size_bytes)?;
    file.write_all_at(&header.encode(), 0).map_err(|e| LogError::io("write header", temp, e))?;
    file.sync_all().map_err(|e| LogError::io("fsync", temp, e))?;
    let actual = file.metadata().map_err(|e| LogError::io("stat", temp, e))?.len();
    assert_eq!(actual, segment_size_bytes, "preallocated segment has the wrong length");
    Ok(())
}

/// Reserves real blocks for the whole segment with `posix_fallocate`.
///
/// Why not a sparse file (`set_len`)? Writing through a map into a hole needs a
/// block at page-fault or writeback time; on a full disk that is a SIGBUS or a
/// lost write long after `append` returned. Why not write zeros? It doubles
/// the I/O of every segment. `posix_fallocate` reserves the blocks up front
/// (as unwritten extents on ext4/xfs, which read as zeros), so the only place
/// a full disk can show up is here, as `DiskFull`. Where the file system lacks
/// `fallocate`, glibc falls back to writing one byte per block, which also
/// allocates for real. Copy-on-write file systems (btrfs, zfs) cannot promise
/// space for later overwrites at all; that is a documented limit.
#[allow(unsafe_code)] // posix_fallocate(2) on a descriptor we own
pub(crate) fn preallocate(file: &File, path: &Path, bytes: u64) -> Result<(), LogError> {
    let len = libc::off_t::try_from(bytes)
        .map_err(|_| LogError::InvalidConfig { reason: format!("segment size {bytes} does not fit off_t") })?;
    // SAFETY: plain syscall on a file descriptor we own for the whole call.
    let code = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if code == 0 {
        return Ok(());
    }
    let source = io::Error::from_raw_os_error(code);
    match code {
        libc::ENOSPC | libc::EDQUOT | libc::EFBIG => {
            Err(LogError::DiskFull { path: path.to_path_buf(), bytes, source })
        }
        _ => Err(LogError::io("posix_fallocate", path, source)),
    }
}

/// A segment opened for reading by `pread`, with its header checked and its
/// length checked against the header.
pub(crate) struct SegmentFile {
    pub index: u64,
    pub path: PathBuf,
    pub file: File,
    pub size_bytes: u64,
    /// The header's claim: every earlier segment was durable when this one
    /// was created.
    pub earlier_segments_durable: bool,
}

impl SegmentFile {
    /// Opens segment `index` in `dir`. `size_hint_bytes` is only used to report
    /// the expected size when the file is too short to hold even a header.
    pub fn open(dir: &Path, index: u64, size_hint_bytes: u64) -> Result<SegmentFile, LogError> {
        let path = segment_path(dir, index);
        let file = File::open(&path).map_err(|e| LogError::io("open", &path, e))?;
        let actual = file.metadata().map_err(|e| LogError::io("stat", &path, e))?.len();
        if actual < SEGMENT_HEADER_SIZE_BYTES {
            return Err(LogError::SegmentShortened { segment: path, expected: size_hint_bytes, actual });
        }
        let mut bytes = [0u8; SEGMENT_HEADER_SIZE_BYTES as usize];
        read_exact_at(&file, &path, &mut bytes, 0)?;
        let header = SegmentHeader::decode(&bytes).map_err(|reason| LogError::corrupt(&path, index, 0, reason))?;
        check_header(&path, index, &header)?;
        let expected = header.segment_size_bytes;
        if actual < expected {
            return Err(LogError::SegmentShortened { segment: path, expected, actual });
        }
        if actual > expected {
            let reason = format!("segment file is {actual} bytes, longer than its header's {expected}");
            return Err(LogError::corrupt(&path, index, expected, reason));
        }
        Ok(SegmentFile {
            index,
            path,
            file,
            size_bytes: expected,
            earlier_segments_durable: header.earlier_segments_durable,
        })
    }

    /// Reads exactly `buf.len()` bytes at `offset`. A short read means the
    /// file was shortened after it was opened.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), LogError> {
        read_exact_at(&self.file, &self.path, buf, offset).map_err(|error| match error {
            LogError::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
                let actual = self.file.metadata().map(|m| m.len()).unwrap_or(0);
                LogError::SegmentShortened { segment: self.path.clone(), expected: self.size_bytes, actual }
            }
            other => other,
        })
    }

    pub fn corrupt(&self, offset: u64, reason: impl Into<String>) -> LogError {
        LogError::corrupt(&self.path, self.index, offset, reason)
    }
}

fn check_header(path: &Path, index: u64, header: &SegmentHeader) -> Result<(), LogError> {
    if header.segment_index != index {
        let reason = format!("header says segment {}, file name says {index}", header.segment_index);
        return Err(LogError::corrupt(path, index, 16, reason));
    }
    let size = header.segment_size_bytes;
    if !(crate::SEGMENT_SIZE_BYTES_MIN..=crate::SEGMENT_SIZE_BYTES_MAX).contains(&size)
        || !size.is_multiple_of(RECORD_ALIGN_BYTES)
    {
        return Err(LogError::corrupt(path, index, 24, format!("segment size {size} out of range")));
    }
    Ok(())
}

fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<(), LogError> {
    file.read_exact_at(buf, offset).map_err(|e| LogError::io("pread", path, e))
}

/// One step of reading a segment at some offset.
pub(crate) enum Step {
    /// A whole, self-consistent record (header and payload checksums hold).
    /// Chain and height are the caller's to check.
    Record(RecordHeader),
    /// A zero header, or no room left for a header: the normal end of records.
    End,
    /// Something that is not a whole record: torn or damaged.
    Invalid(&'static str),
}

/// Reads the record at `offset`. If `payload` is given, the payload is read
/// into it and its checksum verified; otherwise only the header is checked
/// (used to skip records cheaply). The payload allocation is bounded by the
/// segment size, because the length is checked to fit before it is used.
pub(crate) fn read_record(segment: &SegmentFile, offset: u64, payload: Option<&mut Vec<u8>>) -> Result<Step, LogError> {
    debug_assert_eq!(offset % RECORD_ALIGN_BYTES, 0);
    if offset + RECORD_HEADER_SIZE_BYTES > segment.size_bytes {
        return Ok(Step::End);
    }
    let mut bytes = [0u8; RECORD_HEADER_SIZE_BYTES as usize];
    segment.read_at(&mut bytes, offset)?;
    let header = match RecordHeader::decode(&bytes) {
        Ok(header) => header,
        Err(HeaderError::Zero) => return Ok(Step::End),
        Err(HeaderError::Invalid(reason)) => return Ok(Step::Invalid(reason)),
    };
    if offset + header.record_size_bytes() > segment.size_bytes {
        return Ok(Step::Invalid("record extends past the end of the segment"));
    }
    let Some(payload) = payload else {
        return Ok(Step::Record(header));
    };
    // No `clear()` first: `read_at` overwrites every byte or fails, so
    // zeroing a reused buffer before each read (2.75 MB per 10,000-transfer
    // block, the whole log on a recovery scan) is wasted work. `resize`
    // only writes the bytes it adds.
    payload.resize(header.payload_len as usize, 0);
    segment.read_at(payload, offset + RECORD_HEADER_SIZE_BYTES)?;
    if *blake3::hash(payload).as_bytes() != header.payload_checksum {
        return Ok(Step::Invalid("payload checksum mismatch"));
    }
    if !padding_is_zero(segment, offset, &header)? {
        return Ok(Step::Invalid("record padding is not zero"));
    }
    Ok(Step::Record(header))
}

fn padding_is_zero(segment: &SegmentFile, offset: u64, header: &RecordHeader) -> Result<bool, LogError> {
    let payload_end = offset + RECORD_HEADER_SIZE_BYTES + u64::from(header.payload_len);
    let record_end = offset + header.record_size_bytes();
    let mut padding = [0u8; RECORD_ALIGN_BYTES as usize];
    let padding = &mut padding[..(record_end - payload_end) as usize];
    segment.read_at(padding, payload_end)?;
    Ok(padding.iter().all(|&b| b == 0))
}

/// A place in the log: segment index and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogPosition {
    pub segment: u64,
    pub offset: u64,
}

/// What lies in a byte range after the last good record.
#[derive(Debug, Default)]
pub(crate) struct Region {
    /// One past the last non-zero byte, if any byte is non-zero.
    pub nonzero_end: Option<u64>,
    /// The first whole valid record whose durability claim covers the hole
    /// being classified: proof that the hole was durable, so it is damage.
    pub proof_at: Option<u64>,
    /// Whole valid records found before any proof: writes that reached the
    /// disk although an earlier, unsynced one did not.
    pub records: u64,
}

/// Scans `[start, segment end)` for non-zero bytes and, if `hole` is given,
/// for whole valid records at every aligned offset, stopping at the first
/// whose durability claim covers `hole`. This is how recovery tells a lost
/// unsynced write (valid records beyond it, none claiming it durable) from
/// damage (a record written after the hole was durable survives).
pub(crate) fn scan_region(segment: &SegmentFile, start: u64, hole: Option<LogPosition>) -> Result<Region, LogError> {
    debug_assert_eq!(start % RECORD_ALIGN_BYTES, 0);
    let mut region = Region::default();
    let mut chunk = Vec::new();
    let mut payload = Vec::new();
    let mut chunk_start = start;
    while chunk_start < segment.size_bytes {
        let chunk_len = SCAN_CHUNK_BYTES.min(segment.size_bytes - chunk_start);
        chunk.resize(chunk_len as usize, 0);
        segment.read_at(&mut chunk, chunk_start)?;
        if let Some(last) = chunk.iter().rposition(|&b| b != 0) {
            region.nonzero_end = Some(chunk_start + last as u64 + 1);
        }
        if let (Some(hole), None) = (hole, region.proof_at) {
            // Chunks start aligned and the magic is one aligned word, so a
            // magic never straddles two chunks.
            for (word_index, word) in chunk.chunks_exact(RECORD_ALIGN_BYTES as usize).enumerate() {
                if word != RECORD_MAGIC {
                    continue;
                }
                let offset = chunk_start + word_index as u64 * RECORD_ALIGN_BYTES;
                if let Step::Record(header) = read_record(segment, offset, Some(&mut payload))? {
                    if header.durable.covers(segment.index, hole.segment, hole.offset) {
                        region.proof_at = Some(offset);
                        break;
                    }
                    region.records += 1;
                }
            }
        }
        chunk_start += chunk_len;
    }
    Ok(region)
}

/// The writable map of the active segment.
pub(crate) struct ActiveSegment {
    pub index: u64,
    pub path: PathBuf,
    pub file: File,
    pub map: MmapMut,
    pub size_bytes: u64,
}

impl ActiveSegment {
    /// Opens and maps an existing, already validated segment for writing.
    #[allow(unsafe_code)] // the memory map (memmap2 is unsafe to map)
    pub fn open(dir: &Path, index: u64, size_bytes: u64) -> Result<ActiveSegment, LogError> {
        let path = segment_path(dir, index);
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| LogError::io("open", &path, e))?;
        let active_len = file.metadata().map_err(|e| LogError::io("stat", &path, e))?.len();
        if active_len != size_bytes {
            return Err(LogError::SegmentShortened { segment: path, expected: size_bytes, actual: active_len });
        }
        // SAFETY: memmap2 requires that the mapped file is not truncated or
        // modified outside this process while the map lives. (1) We checked,
        // just above, that the file is exactly `size_bytes` long, and every
        // access through the map is within `0..size_bytes` (slice bounds are
        // checked), so no access touches a page past the end of the file.
        // (2) The log directory is locked with `flock(LOCK_EX)` for the
        // lifetime of the `CommitLog`, so no other cooperating process maps or
        // writes it. (3) Segments are never truncated by this crate. The
        // residual race: a non-cooperating process truncating the file while it
        // is mapped would make the next touch of a lost page raise SIGBUS.
        // `append` re-checks the length with `fstat` before writing, which
        // narrows but cannot close that window; see the crate docs.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| LogError::io("mmap", &path, e))?;
        assert_eq!(map.len() as u64, size_bytes);
        Ok(ActiveSegment { index, path, file, map, size_bytes })
    }

    /// Fails with `SegmentShortened` if the file shrank since it was mapped.
    pub fn check_length(&self) -> Result<(), LogError> {
        let actual = self.file.metadata().map_err(|e| LogError::io("stat", &self.path, e))?.len();
        if actual < self.size_bytes {
            return Err(LogError::SegmentShortened { segment: self.path.clone(), expected: self.size_bytes, actual });
        }
        Ok(())
    }

    /// msync(MS_SYNC) of `[offset, offset + len)`. On Linux this writes back
    /// the dirty pages of the range and waits for them (fdatasync semantics
    /// for the range), which is what makes an appended record durable.
    pub fn flush(&self, offset: u64, len: u64) -> Result<(), LogError> {
        if len == 0 {
            return Ok(());
        }
        self.map.flush_range(offset as usize, len as usize).map_err(|e| LogError::io("msync", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_reject_lookalikes() {
        let path = segment_path(Path::new("/x"), 42);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "00000000000000000042.seg");
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.seg"), None);
        assert_eq!(parse_segment_name("99999999999999999999.seg"), None); // > u64::MAX
    }

    #[test]
    fn created_segment_is_preallocated_not_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let size = 1 << 20;
        let path = create_segment(dir.path(), 0, size, true).unwrap();
        let metadata = fs::metadata(&path).unwrap();
        assert_eq!(metadata.len(), size);
        use std::os::unix::fs::MetadataExt;
        // st_blocks counts 512-byte units actually allocated.
        assert!(metadata.blocks() * 512 >= size, "segment is sparse: {} blocks", metadata.blocks());
        let segment = SegmentFile::open(dir.path(), 0, size).unwrap();
        assert_eq!(segment.size_bytes, size);
    }

    #[test]
    fn mapped_writes_are_visible_to_pread() {
        // Exercises the `unsafe` map: bytes written through it must be what a
        // later `pread` (the read path) sees, and the flush must succeed.
        let dir = tempfile::tempdir().unwrap();
        let size = 64 * 1024;
        create_segment(dir.path(), 0, size, true).unwrap();
        let mut active = ActiveSegment::open(dir.path(), 0, size).unwrap();
        active.map[4096..4100].copy_from_slice(b"abcd");
        active.flush(4096, 4).unwrap();
        let segment = SegmentFile::open(dir.path(), 0, size).unwrap();
        let mut buf = [0u8; 4];
        segment.read_at(&mut buf, 4096).unwrap();
        assert_eq!(&buf, b"abcd");
        active.check_length().unwrap();
    }
}
