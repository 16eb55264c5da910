//! Periodic full-state snapshots, stored as opaque bytes.
//!
//! Each snapshot is one file `snapshot-NNNNNNNNNNNNNNNNNNNN.snap` (20-digit
//! height). It is written atomically: temporary file, write, fsync, rename,
//! fsync of the directory. A reader therefore sees either the whole old set of
//! snapshots or the whole new one, and a crash mid-write leaves only a
//! `.tmp` file, which the next `open` removes.
//!
//! ## Snapshot header (96 bytes, then `state_len` bytes of state)
//!
//! | offset | size | field | value / why |
//! |---:|---:|---|---|
//! | 0 | 8 | `magic` | ASCII `SLUICSNP`. |
//! | 8 | 2 | `format_version` | `u16`, currently `1`. |
//! | 10 | 6 | `reserved` | zero. |
//! | 16 | 8 | `height` | `u64`; must equal the height in the file name (catches a renamed file). |
//! | 24 | 8 | `state_len` | `u64`; must equal file length − 96, so a read never allocates more than the file holds, and at most `SNAPSHOT_SIZE_BYTES_MAX`. |
//! | 32 | 32 | `state_checksum` | `blake3(state)`. |
//! | 64 | 32 | `header_checksum` | `blake3(bytes 0..64)`. Checked before `state_len` is trusted. |
//!
//! Integers are little-endian. Only the newest `kept_max` snapshots (by
//! height) are kept; older ones are deleted after each successful write.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::segment::fsync_dir;
use crate::{SNAPSHOTS_KEPT_MAX, SNAPSHOT_SIZE_BYTES_MAX};

const MAGIC: [u8; 8] = *b"SLUICSNP";
const VERSION: u16 = 1;
const HEADER_SIZE_BYTES: usize = 96;
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".snap.tmp";
const HEIGHT_DIGITS: usize = 20;

/// A directory of snapshots.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    kept_max: usize,
    /// Set by `open_read_only`: `write` refuses, nothing is created or removed.
    read_only: bool,
    /// A height `prune` never removes (see `pin`).
    pinned: Option<u64>,
}

/// Result of looking for the newest valid snapshot.
#[derive(Debug, Default)]
pub struct SnapshotScan {
    /// Height and state of the newest snapshot that checks out.
    pub newest: Option<(u64, Vec<u8>)>,
    /// Newer snapshots that were skipped because they are damaged, with why.
    pub damaged: Vec<LogError>,
}

impl SnapshotStore {
    /// Opens (creating if needed) the snapshot directory, keeping at most
    /// `kept_max` (1..=`SNAPSHOTS_KEPT_MAX`) snapshots. Removes leftover
    /// temporary files from interrupted writes.
    pub fn open(dir: impl Into<PathBuf>, kept_max: usize) -> Result<SnapshotStore, LogError> {
        let dir = dir.into();
        if !(1..=SNAPSHOTS_KEPT_MAX).contains(&kept_max) {
            return Err(LogError::InvalidConfig {
                reason: format!("snapshots kept_max {kept_max} must be in 1..={SNAPSHOTS_KEPT_MAX}"),
            });
        }
        fs::create_dir_all(&dir).map_err(|e| LogError::io("create_dir", &dir, e))?;
        let store = SnapshotStore { dir, kept_max, read_only: false, pinned: None };
        store.remove_temp_files()?;
        Ok(store)
    }

    /// Opens an existing snapshot directory for reading only: creates,
    /// removes and writes nothing, so inspection tools (`verify`, `replay`)
    /// leave the directory exactly as they found it. `write` then refuses.
    pub fn open_read_only(dir: impl Into<PathBuf>) -> Result<SnapshotStore, LogError> {
        let dir = dir.into();
        fs::metadata(&dir).map_err(|e| LogError::io("stat", &dir, e))?;
        Ok(SnapshotStore { dir, kept_max: SNAPSHOTS_KEPT_MAX, read_only: true, pinned: None })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the snapshot for `height` atomically, then prunes to the newest
    /// `kept_max`. Returns the path of the new snapshot.
    pub fn write(&self, height: u64, state: &[u8]) -> Result<PathBuf, LogError> {
        if self.read_only {
            return Err(LogError::InvalidConfig {
                reason: format!("snapshot store {} is open read-only", self.dir.display()),
            });
        }
        let len = state.len() as u64;
        if len > SNAPSHOT_SIZE_BYTES_MAX {
            return Err(LogError::SnapshotTooLarge { len, max: SNAPSHOT_SIZE_BYTES_MAX });
        }
        let header = encode_header(height, state);
        // Pair assertion: the header we are about to write must decode.
        assert_eq!(decode_header(&header), Ok((height, len, *blake3::hash(state).as_bytes())));
        let path = self.path_for(height);
        let temp = self.dir.join(format!("{PREFIX}{height:020}{TEMP_SUFFIX}"));
        let written = write_file(&temp, &header, state);
        if let Err(error) = written {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        fs::rename(&temp, &path).map_err(|e| LogError::io("rename", &temp, e))?;
        fsync_dir(&self.dir)?;
        self.prune()?;
        Ok(path)
    }

    /// The newest snapshot that checks out, skipping damaged newer ones.
    pub fn newest_valid(&self) -> Result<Option<(u64, Vec<u8>)>, LogError> {
        Ok(self.scan()?.newest)
    }

    /// Like `newest_valid`, also reporting the damaged snapshots skipped.
    pub fn scan(&self) -> Result<SnapshotScan, LogError> {
        let mut scan = SnapshotScan::default();
        for height in self.heights()?.into_iter().rev() {
            match self.read(height) {
                Ok(state) => {
                    scan.newest = Some((height, state));
                    break;
                }
                Err(error @ LogError::SnapshotCorrupt { .. }) => scan.damaged.push(error),
                Err(error) => return Err(error),
            }
        }
        Ok(scan)
    }

    /// Heights of all snapshot files present, ascending (valid or not).
    pub fn heights(&self) -> Result<Vec<u64>, LogError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| LogError::io("read_dir", &self.dir, e))?;
        let mut heights = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| LogError::io("read_dir", &self.dir, e))?;
            if let Some(height) = entry.file_name().to_str().and_then(parse_name) {
                heights.push(height);
            }
        }
        heights.sort_unstable();
        Ok(heights)
    }

    pub fn path_for(&self, height: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{height:020}{SUFFIX}"))
    }

    /// Reads and checks the snapshot at `height`. Damage is `SnapshotCorrupt`.
    pub fn read(&self, height: u64) -> Result<Vec<u8>, LogError> {
        let (mut file, state_len, checksum) = self.open_checked(height)?;
        let path = self.path_for(height);
        let corrupt = |reason: &str| LogError::SnapshotCorrupt { path: path.clone(), reason: reason.to_string() };
        // Bounded: equals the bytes the file holds, and at most the max.
        let mut state = vec![0u8; state_len as usize];
        file.read_exact(&mut state).map_err(|e| LogError::io("read", &path, e))?;
        if *blake3::hash(&state).as_bytes() != checksum {
            return Err(corrupt("state checksum mismatch"));
        }
        Ok(state)
    }

    /// Bytes `offset..offset + len` of the state of snapshot `height`
    /// (fewer at its end; none past it), after checking the header but not
    /// the whole state's checksum: what serves one piece of a large
    /// snapshot without reading all of it. The reader must check the piece
    /// itself (state sync does, by a hash per chunk).
    pub fn read_range(&self, height: u64, offset: u64, len: usize) -> Result<Vec<u8>, LogError> {
        use std::os::unix::fs::FileExt;
        let (file, state_len, _) = self.open_checked(height)?;
        let end = offset.saturating_add(len as u64).min(state_len);
        if offset >= end {
            return Ok(Vec::new());
        }
        // Bounded: at most `len`, and inside the state (offset < end ≤ state_len).
        let mut piece = vec![0u8; (end - offset) as usize];
        let path = self.path_for(height);
        file.read_exact_at(&mut piece, HEADER_SIZE_BYTES as u64 + offset)
            .map_err(|e| LogError::io("read", &path, e))?;
        Ok(piece)
    }

    /// Opens snapshot `height` and checks its header against the file name
    /// and length; the file is left positioned at the state's first byte.
    fn open_checked(&self, height: u64) -> Result<(File, u64, [u8; 32]), LogError> {
        let path = self.path_for(height);
        let corrupt = |reason: &str| LogError::SnapshotCorrupt { path: path.clone(), reason: reason.to_string() };
        let mut file = File::open(&path).map_err(|e| LogError::io("open", &path, e))?;
        let file_len = file.metadata().map_err(|e| LogError::io("stat", &path, e))?.len();
        if file_len < HEADER_SIZE_BYTES as u64 {
            return Err(corrupt("shorter than the snapshot header"));
        }
        let mut header = [0u8; HEADER_SIZE_BYTES];
        file.read_exact(&mut header).map_err(|e| LogError::io("read", &path, e))?;
        let (stored_height, state_len, checksum) = decode_header(&header).map_err(corrupt)?;
        if stored_height != height {
            return Err(corrupt("height in header does not match the file name"));
        }
        if state_len != file_len - HEADER_SIZE_BYTES as u64 || state_len > SNAPSHOT_SIZE_BYTES_MAX {
            return Err(corrupt("state length does not match the file length"));
        }
        Ok((file, state_len, checksum))
    }

    /// Keeps the snapshot at `height` whatever `kept_max` says: it is the
    /// base a store was restored from, which nothing else can rebuild.
    /// It does not count against `kept_max`.
    pub fn pin(&mut self, height: u64) {
        self.pinned = Some(height);
    }

    /// Removes every snapshot file: for a store being created, whose
    /// directory may hold leftovers of an earlier attempt.
    pub fn clear(&self) -> Result<(), LogError> {
        for height in self.heights()? {
            let path = self.path_for(height);
            fs::remove_file(&path).map_err(|e| LogError::io("remove", &path, e))?;
        }
        fsync_dir(&self.dir)
    }

    fn prune(&self) -> Result<(), LogError> {
        let heights: Vec<u64> = self.heights()?.into_iter().filter(|h| Some(*h) != self.pinned).collect();
        let excess = heights.len().saturating_sub(self.kept_max);
        for &height in &heights[..excess] {
            let path = self.path_for(height);
            fs::remove_file(&path).map_err(|e| LogError::io("remove", &path, e))?;
        }
        if excess > 0 {
            fsync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn remove_temp_files(&self) -> Result<(), LogError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| LogError::io("read_dir", &self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LogError::io("read_dir", &self.dir, e))?;
            let is_temp = entry.file_name().to_str().is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(TEMP_SUFFIX));
            if is_temp {
                let path = entry.path();
                fs::remove_file(&path).map_err(|e| LogError::io("remove", &path, e))?;
            }
        }
        Ok(())
    }
}

fn write_file(temp: &Path, header: &[u8; HEADER_SIZE_BYTES], state: &[u8]) -> Result<(), LogError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .map_err(|e| LogError::io("create", temp, e))?;
    let full = |e: std::io::Error| match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => {
            LogError::DiskFull { path: temp.to_path_buf(), bytes: (HEADER_SIZE_BYTES + state.len()) as u64, source: e }
        }
        _ => LogError::io("write", temp, e),
    };
    file.write_all(header).map_err(full)?;
    file.write_all(state).map_err(full)?;
    file.sync_all().map_err(|e| LogError::io("fsync", temp, e))
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != HEIGHT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn encode_header(height: u64, state: &[u8]) -> [u8; HEADER_SIZE_BYTES] {
    let mut bytes = [0u8; HEADER_SIZE_BYTES];
    bytes[0..8].copy_from_slice(&MAGIC);
    bytes[8..10].copy_from_slice(&VERSION.to_le_bytes());
    bytes[16..24].copy_from_slice(&height.to_le_bytes());
    bytes[24..32].copy_from_slice(&(state.len() as u64).to_le_bytes());
    bytes[32..64].copy_from_slice(blake3::hash(state).as_bytes());
    let checksum = blake3::hash(&bytes[..64]);
    bytes[64..96].copy_from_slice(checksum.as_bytes());
    bytes
}

/// Returns `(height, state_len, state_checksum)`. Never panics.
fn decode_header(bytes: &[u8; HEADER_SIZE_BYTES]) -> Result<(u64, u64, [u8; 32]), &'static str> {
    if bytes[0..8] != MAGIC {
        return Err("bad snapshot magic");
    }
    if blake3::hash(&bytes[..64]).as_bytes()[..] != bytes[64..96] {
        return Err("snapshot header checksum mismatch");
    }
    if bytes[8..10] != VERSION.to_le_bytes() {
        return Err("unsupported snapshot format version");
    }
    if bytes[10..16].iter().any(|&b| b != 0) {
        return Err("snapshot reserved bytes are not zero");
    }
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[16..24]);
    let height = u64::from_le_bytes(word);
    word.copy_from_slice(&bytes[24..32]);
    let state_len = u64::from_le_bytes(word);
    let mut checksum = [0u8; 32];
    checksum.copy_from_slice(&bytes[32..64]);
    Ok((height, state_len, checksum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_every_flip_rejected() {
        let header = encode_header(42, b"state");
        assert_eq!(decode_header(&header), Ok((42, 5, *blake3::hash(b"state").as_bytes())));
        for i in 0..HEADER_SIZE_BYTES {
            let mut damaged = header;
            damaged[i] ^= 0x04;
            assert!(decode_header(&damaged).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn ranges_read_back_the_state_and_stop_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path(), 2).unwrap();
        store.write(3, b"0123456789").unwrap();
        assert_eq!(store.read_range(3, 2, 4).unwrap(), b"2345");
        assert_eq!(store.read_range(3, 8, 4).unwrap(), b"89", "cut at the end");
        assert!(store.read_range(3, 10, 4).unwrap().is_empty(), "past the end");
        assert!(store.read_range(3, u64::MAX, 4).unwrap().is_empty());
        assert!(store.read_range(4, 0, 4).is_err(), "no such snapshot");
    }

    #[test]
    fn a_pinned_snapshot_survives_pruning_and_clear_removes_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SnapshotStore::open(dir.path(), 2).unwrap();
        store.pin(1);
        for height in 1..=5 {
            store.write(height, b"state").unwrap();
        }
        assert_eq!(store.heights().unwrap(), vec![1, 4, 5], "the pinned one is kept and does not count");
        store.clear().unwrap();
        assert!(store.heights().unwrap().is_empty());
    }

    #[test]
    fn names_parse_strictly() {
        assert_eq!(parse_name("snapshot-00000000000000000007.snap"), Some(7));
        assert_eq!(parse_name("snapshot-7.snap"), None);
        assert_eq!(parse_name("snapshot-00000000000000000007.snap.tmp"), None);
    }
}
