//! Full disk: preallocation failing must be a named error, not a crash.
//!
//! A real full file system is impractical in a test (it needs a mount, or
//! filling the disk the test runs on). Instead a child process lowers
//! `RLIMIT_FSIZE` with `SIGXFSZ` ignored: the kernel then refuses
//! `posix_fallocate` beyond the limit with `EFBIG`, through the same code path
//! (`preallocate`) that `ENOSPC` takes. The limit is per process, so the test
//! re-runs itself as a child to keep it away from the other tests.

mod common;

use std::process::Command;

use common::*;
use sluice_storage::format::RecordHeader;
use sluice_storage::{verify_log, CommitLog, Durability, LogError, SnapshotStore};

const CHILD_ENV: &str = "SLUICE_STORAGE_DISK_FULL_DIR";
const FILE_SIZE_LIMIT_BYTES: u64 = 4096;
const CHILD_OK: &str = "disk-full-child-ok";

#[test]
fn disk_full_is_a_named_error() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(std::path::Path::new(&dir));
        println!("{CHILD_OK}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A log with 2 KiB segments, made before any limit applies.
    let (mut log, _) = CommitLog::open(config(dir.path(), Durability::Sync)).unwrap();
    append_range(&mut log, 0..3);
    drop(log);
    // An empty `none` log, its 2 KiB segment made before the limit too.
    drop(CommitLog::open(config(&dir.path().join("none"), Durability::None)).unwrap());

    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "disk_full_is_a_named_error", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stdout.contains(CHILD_OK), "child failed:\n{stdout}\n{stderr}");

    // Nothing acknowledged was harmed by the failed segment creation.
    let report = verify_log(dir.path()).unwrap();
    assert_eq!((report.torn_tail_bytes, report.temp_files.len()), (0, 0));
    let (log, _) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    assert_prefix(&read_all(&log), report.records);
    assert!(report.records >= 3);
}

fn child(dir: &std::path::Path) {
    limit_file_size(FILE_SIZE_LIMIT_BYTES);
    // New segments of 8 KiB exceed the limit; the existing 2 KiB ones do not.
    let mut big = config(dir, Durability::Sync);
    big.segment_size_bytes = 8192;
    let (mut log, _) = CommitLog::open(big).unwrap();
    let mut appended = 3;
    let error = loop {
        match log.append(kind(appended), height(appended), &payload(appended)) {
            Ok(_) => appended += 1,
            Err(error) => break error,
        }
        assert!(appended < 100, "the segment never filled up");
    };
    assert!(matches!(error, LogError::DiskFull { bytes: 8192, .. }), "{error}");
    // The log stays usable: the next append fails the same way, not worse.
    let retry = log.append(kind(appended), height(appended), &payload(appended));
    assert!(matches!(retry, Err(LogError::DiskFull { .. })), "{retry:?}");
    drop(log);

    // A fresh log whose very first segment cannot be preallocated.
    let fresh = dir.join("fresh");
    let mut fresh_config = config(&fresh, Durability::Sync);
    fresh_config.segment_size_bytes = 8192;
    assert!(matches!(CommitLog::open(fresh_config), Err(LogError::DiskFull { .. })));

    claims_stay_true_after_a_failed_roll_under_none(&dir.join("none"));

    let store = SnapshotStore::open(dir.join("snapshots"), 2).unwrap();
    let result = store.write(1, &vec![7u8; 2 * FILE_SIZE_LIMIT_BYTES as usize]);
    assert!(matches!(result, Err(LogError::DiskFull { .. })), "{result:?}");
    assert_eq!(store.heights().unwrap(), Vec::<u64>::new());
}

/// Under `none`, a failed roll queues the active segment's unsynced bytes
/// for a later sync. A smaller record that still fits the segment must not
/// claim those bytes durable: recovery would then refuse a power cut that
/// lost them.
fn claims_stay_true_after_a_failed_roll_under_none(dir: &std::path::Path) {
    let mut none = config(dir, Durability::None);
    none.segment_size_bytes = 8192;
    let (mut log, _) = CommitLog::open(none).unwrap();
    let big = vec![5u8; 300];
    let error = loop {
        if let Err(error) = log.append(1, 1, &big) {
            break error;
        }
    };
    assert!(matches!(error, LogError::DiskFull { .. }), "{error}");
    let small = log.append(1, 1, b"").expect("a record that fits the segment");
    drop(log);
    let bytes = std::fs::read(dir.join("00000000000000000000.seg")).unwrap();
    let at = small.offset as usize;
    let header: [u8; 128] = bytes[at..at + 128].try_into().unwrap();
    let claim = RecordHeader::decode(&header).unwrap().durable;
    assert_eq!(claim.offset, 64, "nothing after the segment header was synced: {claim:?}");
}

#[allow(unsafe_code)] // setrlimit(2) and signal(2): a simulated full disk
fn limit_file_size(bytes: u64) {
    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
    // SAFETY: plain syscalls affecting only this (child) process. Ignoring
    // SIGXFSZ turns "killed for exceeding the limit" into an EFBIG return.
    unsafe {
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}
