//! Snapshot store on real files: atomic write, newest-valid selection,
//! bounded retention.

use std::fs;

use sluice_storage::{LogError, SnapshotStore, SNAPSHOTS_KEPT_MAX};

fn state(height: u64) -> Vec<u8> {
    (0..1000 + height as usize)
        .map(|i| (i as u64 * 13 + height) as u8)
        .collect()
}

#[test]
fn write_then_read_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path().join("snapshots"), 3).unwrap();
    assert_eq!(store.newest_valid().unwrap(), None);
    for height in [10, 20, 30] {
        store.write(height, &state(height)).unwrap();
    }
    assert_eq!(store.newest_valid().unwrap(), Some((30, state(30))));
    // No temporary file is left behind by a completed write.
    let names: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_str().unwrap().ends_with(".tmp")),
        "{names:?}"
    );
}

#[test]
fn corrupted_newest_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 4).unwrap();
    for height in [1, 2, 3] {
        store.write(height, &state(height)).unwrap();
    }
    // Damage the state of the newest and truncate the second newest.
    let newest = store.path_for(3);
    let mut bytes = fs::read(&newest).unwrap();
    bytes[500] ^= 0x01;
    fs::write(&newest, bytes).unwrap();
    let second = store.path_for(2);
    let len = fs::metadata(&second).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&second)
        .unwrap()
        .set_len(len - 1)
        .unwrap();

    let scan = store.scan().unwrap();
    assert_eq!(scan.newest, Some((1, state(1))));
    assert_eq!(scan.damaged.len(), 2);
    for error in &scan.damaged {
        assert!(matches!(error, LogError::SnapshotCorrupt { .. }), "{error}");
    }
    assert_eq!(store.newest_valid().unwrap(), Some((1, state(1))));
}

#[test]
fn garbage_and_renamed_snapshots_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 4).unwrap();
    store.write(5, &state(5)).unwrap();
    fs::copy(store.path_for(5), store.path_for(9)).unwrap(); // wrong height in name
    fs::write(store.path_for(8), b"short").unwrap();
    fs::write(store.path_for(7), vec![0xFFu8; 4096]).unwrap();
    let scan = store.scan().unwrap();
    assert_eq!(scan.newest, Some((5, state(5))));
    assert_eq!(scan.damaged.len(), 3);
}

#[test]
fn retention_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    for height in 0..10 {
        store.write(height * 100, &state(height)).unwrap();
    }
    assert_eq!(store.heights().unwrap(), vec![800, 900]);
    assert!(SnapshotStore::open(dir.path(), 0).is_err());
    assert!(SnapshotStore::open(dir.path(), SNAPSHOTS_KEPT_MAX + 1).is_err());
}

#[test]
fn interrupted_write_leaves_only_a_temp_file_which_open_removes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 3).unwrap();
    store.write(1, &state(1)).unwrap();
    // What a crash between create and rename leaves behind.
    let temp = dir.path().join(format!("snapshot-{:020}.snap.tmp", 2));
    fs::write(&temp, &state(2)[..100]).unwrap();
    assert_eq!(store.newest_valid().unwrap(), Some((1, state(1))));
    let store = SnapshotStore::open(dir.path(), 3).unwrap();
    assert!(!temp.exists());
    assert_eq!(store.heights().unwrap(), vec![1]);
}
