//! Integration tests of the commit log on real files: round trip, torn tails,
//! corruption, shortened segments, limits.

mod common;

use std::fs;

use common::*;
use sluice_storage::format::{DurableClaim, RecordHeader, RECORD_HEADER_SIZE_BYTES};
use sluice_storage::{verify_log, CommitLog, Durability, LogConfig, LogError, RecordMeta};

#[test]
fn round_trip_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, report) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    assert!(report.created);
    assert_eq!(report.records, 0);
    let metas = append_range(&mut log, 0..40);
    assert!(log.segments().len() >= 4, "tiny segments must roll: {}", log.segments().len());
    assert_eq!(metas[0].segment, 0);
    assert_prefix(&read_all(&log), 40);
    log.sync().unwrap();
    let last = log.last().unwrap();
    drop(log);

    let (mut log, report) = CommitLog::open(config(dir.path(), Durability::Sync)).unwrap();
    assert_eq!(report.records, 40);
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.last, Some(last));
    assert_eq!(log.last(), Some(last));
    // Chain continuity across reopen: the iterator re-checks every link.
    append_range(&mut log, 40..60);
    assert_prefix(&read_all(&log), 60);
    drop(log);

    let verified = verify_log(dir.path()).unwrap();
    assert_eq!(verified.records, 60);
    assert_eq!(verified.torn_tail_bytes, 0);
    assert_eq!(verified.segments as usize, fs::read_dir(dir.path()).unwrap().count() - 1);
    // minus LOCK
}

#[test]
fn records_from_height_skips_to_the_snapshot_point() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    append_range(&mut log, 0..50);
    for h in [0, 7, 13, 24, 25, 100] {
        let got: Vec<_> = log.records_from_height(h).map(|r| r.unwrap()).collect();
        let want: Vec<u64> = (0..50).filter(|&i| height(i) > h).collect();
        assert_eq!(got.len(), want.len(), "height {h}");
        for (record, i) in got.iter().zip(want) {
            assert_eq!(record.payload, payload(i));
            assert_eq!(record.meta.height, height(i));
        }
    }
}

#[test]
fn same_height_is_allowed_lower_height_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    log.append(1, 5, b"block").unwrap();
    log.append(2, 5, b"receipts").unwrap();
    match log.append(1, 4, b"old") {
        Err(LogError::HeightRegression { last: 5, got: 4 }) => {}
        other => panic!("expected HeightRegression, got {other:?}"),
    }
    assert_eq!(log.record_count(), 2);
}

#[test]
fn record_too_large_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    let big = vec![0u8; RECORD_SIZE_MAX_TEST as usize + 1];
    match log.append(0, 0, &big) {
        Err(LogError::RecordTooLarge { len, max }) => {
            assert_eq!(len, RECORD_SIZE_MAX_TEST + 1);
            assert_eq!(max, RECORD_SIZE_MAX_TEST);
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    // The largest allowed record fits a fresh segment.
    log.append(0, 0, &big[..RECORD_SIZE_MAX_TEST as usize]).unwrap();
    log.append(0, 0, &big[..RECORD_SIZE_MAX_TEST as usize]).unwrap();
}

#[test]
fn invalid_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = config(dir.path(), Durability::None);
    bad.segment_size_bytes = 100;
    assert!(matches!(CommitLog::open(bad), Err(LogError::InvalidConfig { .. })));
    let mut bad = config(dir.path(), Durability::None);
    bad.record_size_max = bad.segment_size_bytes;
    assert!(matches!(CommitLog::open(bad), Err(LogError::InvalidConfig { .. })));
    let bad = config(dir.path(), Durability::Batch { blocks_max: 0, interval_ms: 1 });
    assert!(matches!(CommitLog::open(bad), Err(LogError::InvalidConfig { .. })));
    LogConfig::new(dir.path()).validate().unwrap();
}

#[test]
fn durability_parses_and_displays() {
    assert_eq!("none".parse::<Durability>().unwrap(), Durability::None);
    assert_eq!("sync".parse::<Durability>().unwrap(), Durability::Sync);
    assert_eq!("batch".parse::<Durability>().unwrap(), Durability::BATCH_DEFAULT);
    assert!("fsync".parse::<Durability>().is_err());
    for mode in ["none", "batch", "sync"] {
        assert_eq!(mode.parse::<Durability>().unwrap().to_string(), mode);
    }
}

#[test]
fn second_writer_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, _) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    assert!(matches!(CommitLog::open(config(dir.path(), Durability::None)), Err(LogError::Locked { .. })));
}

#[test]
fn batch_mode_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let durability = Durability::Batch { blocks_max: 4, interval_ms: 1_000_000 };
    let (mut log, _) = CommitLog::open(config(dir.path(), durability)).unwrap();
    append_range(&mut log, 0..30);
    log.sync_if_due().unwrap();
    drop(log); // Drop syncs the partial batch.
    let (log, report) = CommitLog::open(config(dir.path(), durability)).unwrap();
    assert_eq!(report.records, 30);
    assert_prefix(&read_all(&log), 30);
}

/// Builds a log of `count` records in `dir` and returns their metas.
/// A log of `count` records written under `sync`, where every record claims
/// the ones before it durable, so damage before the last one is provable.
fn build(dir: &std::path::Path, count: u64) -> Vec<RecordMeta> {
    build_with(dir, count, Durability::Sync)
}

fn build_with(dir: &std::path::Path, count: u64, durability: Durability) -> Vec<RecordMeta> {
    let (mut log, _) = CommitLog::open(config(dir, durability)).unwrap();
    let metas = append_range(&mut log, 0..count);
    log.sync().unwrap();
    metas
}

fn record_size(meta: &RecordMeta) -> u64 {
    RECORD_HEADER_SIZE_BYTES + u64::from(meta.payload_len).div_ceil(8) * 8
}

#[test]
fn torn_tail_at_every_byte_recovers_the_previous_records() {
    let source = tempfile::tempdir().unwrap();
    let count = 9; // record 8 has a 296-byte payload
    let metas = build(source.path(), count);
    let last = *metas.last().unwrap();
    let whole_bytes = RECORD_HEADER_SIZE_BYTES + u64::from(last.payload_len);
    let segment_len = fs::metadata(segment_file(source.path(), last.segment)).unwrap().len();
    let mut rng = Rng::new(7);
    for cut in 0..record_size(&last) {
        for garbage in [false, true] {
            let work = tempfile::tempdir().unwrap();
            copy_dir(source.path(), work.path());
            let path = segment_file(work.path(), last.segment);
            // Bytes from `cut` on were never written: zeros, or garbage.
            let tail_len = segment_len - (last.offset + cut);
            let tail: Vec<u8> = if garbage {
                (0..tail_len.min(512)).map(|_| rng.next_u64() as u8 | 1).collect()
            } else {
                vec![0u8; (record_size(&last) - cut) as usize]
            };
            patch(&path, last.offset + cut, &tail);
            let intact = cut >= whole_bytes && !garbage;
            let want = if intact { count } else { count - 1 };

            let verified = verify_log(work.path()).unwrap();
            assert_eq!(verified.records, want, "verify, cut {cut} garbage {garbage}");
            let (mut log, report) = CommitLog::open(config(work.path(), Durability::None)).unwrap();
            assert_eq!(report.records, want, "cut {cut} garbage {garbage}");
            if want < count && (cut > 0 || garbage) {
                let torn = report.torn_tail.as_ref().expect("torn tail reported");
                assert_eq!((torn.segment_index, torn.offset), (last.segment, last.offset));
            }
            assert_eq!(report.torn_tail.as_ref().map_or(0, |t| t.bytes), verified.torn_tail_bytes);
            // Appends continue on the recovered chain.
            append_range(&mut log, want..count + 2);
            assert_prefix(&read_all(&log), count + 2);
            drop(log);
            let verified = verify_log(work.path()).unwrap();
            assert_eq!((verified.records, verified.torn_tail_bytes), (count + 2, 0));
        }
    }
}

#[test]
fn torn_tail_spanning_a_new_empty_segment_is_cut() {
    // None mode on power loss: the sealed segment's tail was lost although the
    // next segment (created durably, but while the sealed one was unsynced)
    // exists. No claim covers the hole: torn.
    let source = tempfile::tempdir().unwrap();
    let metas = build_with(source.path(), 20, Durability::None);
    let last_segment = metas.last().unwrap().segment;
    let first_in_last = metas.iter().position(|m| m.segment == last_segment).unwrap();
    let victim = metas[first_in_last - 1]; // last record of the previous segment
    let path = segment_file(source.path(), last_segment);
    let zeros = vec![0u8; 2048 - 64];
    patch(&path, 64, &zeros);
    let victim_path = segment_file(source.path(), victim.segment);
    patch(&victim_path, victim.offset + 24, &[read_byte(&victim_path, victim.offset + 24) ^ 0xAA]);
    let (log, report) = CommitLog::open(config(source.path(), Durability::None)).unwrap();
    assert_eq!(report.records, first_in_last as u64 - 1);
    let torn = report.torn_tail.unwrap();
    assert_eq!((torn.segment_index, torn.offset), (victim.segment, victim.offset));
    assert_eq!(log.segments().len() as u64, last_segment + 1);
    assert_prefix(&read_all(&log), first_in_last as u64 - 1);
}

fn expect_corrupt(result: Result<impl std::fmt::Debug, LogError>, segment: u64, offset: u64, context: &str) {
    match result {
        Err(LogError::Corrupt { segment_index, offset: at, segment: path, .. }) => {
            assert_eq!((segment_index, at), (segment, offset), "{context}");
            assert!(path.ends_with(format!("{segment:020}.seg")), "{context}: {path:?}");
        }
        other => panic!("{context}: expected Corrupt at {segment}:{offset}, got {other:?}"),
    }
}

#[test]
fn flipped_bytes_before_the_tail_are_reported_with_segment_and_offset() {
    let source = tempfile::tempdir().unwrap();
    let metas = build(source.path(), 30);
    let mut rng = Rng::new(0x5EED);
    for round in 0..150 {
        // Any byte of any record but the last.
        let victim = metas[rng.below(metas.len() as u64 - 1) as usize];
        let within = rng.below(record_size(&victim));
        let mask = (rng.below(255) + 1) as u8;
        let work = tempfile::tempdir().unwrap();
        copy_dir(source.path(), work.path());
        let path = segment_file(work.path(), victim.segment);
        let old = read_byte(&path, victim.offset + within);
        patch(&path, victim.offset + within, &[old ^ mask]);
        let context = format!("round {round}: record at {}:{} byte {within}", victim.segment, victim.offset);
        expect_corrupt(verify_log(work.path()), victim.segment, victim.offset, &context);
        expect_corrupt(CommitLog::open(config(work.path(), Durability::None)), victim.segment, victim.offset, &context);
    }
}

#[test]
fn flipped_bytes_in_the_last_record_or_after_it_are_a_torn_tail() {
    let source = tempfile::tempdir().unwrap();
    let metas = build(source.path(), 30);
    let last = *metas.last().unwrap();
    let end = last.offset + record_size(&last);
    assert!(end < 2048, "the test needs room after the last record");
    let mut rng = Rng::new(99);
    for round in 0..60 {
        let work = tempfile::tempdir().unwrap();
        copy_dir(source.path(), work.path());
        let path = segment_file(work.path(), last.segment);
        let in_last = round % 2 == 0;
        let at = if in_last { last.offset + rng.below(record_size(&last)) } else { end + rng.below(2048 - end) };
        patch(&path, at, &[read_byte(&path, at) ^ 0x10]);
        let want = if in_last { 29 } else { 30 };
        let before = fs::read(&path).unwrap();
        let verified = verify_log(work.path()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), before, "verify_log must not modify files");
        assert_eq!(verified.records, want, "round {round} at {at}");
        assert!(verified.torn_tail_bytes > 0);
        let (log, report) = CommitLog::open(config(work.path(), Durability::None)).unwrap();
        assert_eq!(report.records, want);
        assert_prefix(&read_all(&log), want);
    }
}

#[test]
fn damaged_segment_header_is_corrupt_at_offset_zero() {
    let source = tempfile::tempdir().unwrap();
    build(source.path(), 30);
    for (segment, at) in [(0u64, 0u64), (1, 20), (2, 63)] {
        let work = tempfile::tempdir().unwrap();
        copy_dir(source.path(), work.path());
        let path = segment_file(work.path(), segment);
        patch(&path, at, &[read_byte(&path, at) ^ 1]);
        expect_corrupt(verify_log(work.path()), segment, 0, "segment header");
    }
}

#[test]
fn broken_hash_chain_is_corrupt_even_at_the_tail() {
    // A whole, self-consistent record that links to the wrong predecessor
    // cannot come from a torn write, so it is damage, not a tail to cut.
    let dir = tempfile::tempdir().unwrap();
    let metas = build(dir.path(), 5);
    let last = metas[4];
    let forged = RecordHeader::new(last.kind, last.height, [9u8; 32], &payload(4), DurableClaim::NONE).encode();
    patch(&segment_file(dir.path(), last.segment), last.offset, &forged);
    expect_corrupt(verify_log(dir.path()), last.segment, last.offset, "chain");
    expect_corrupt(CommitLog::open(config(dir.path(), Durability::None)), last.segment, last.offset, "chain");
}

#[test]
fn shortened_segment_is_a_named_error_not_sigbus() {
    let source = tempfile::tempdir().unwrap();
    let metas = build(source.path(), 30);
    let last_segment = metas.last().unwrap().segment;
    for (segment, new_len) in [(0, 1000), (1, 10), (last_segment, 2047), (last_segment, 0)] {
        let work = tempfile::tempdir().unwrap();
        copy_dir(source.path(), work.path());
        let path = segment_file(work.path(), segment);
        fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(new_len).unwrap();
        for result in
            [verify_log(work.path()).map(|_| ()), CommitLog::open(config(work.path(), Durability::None)).map(|_| ())]
        {
            match result {
                Err(LogError::SegmentShortened { segment: p, expected: 2048, actual }) => {
                    assert_eq!(actual, new_len);
                    assert_eq!(p, path);
                }
                other => panic!("segment {segment} len {new_len}: got {other:?}"),
            }
        }
    }
}

#[test]
fn append_refuses_a_segment_shortened_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    log.append(0, 0, b"first").unwrap();
    let active = segment_file(dir.path(), log.last().unwrap().segment);
    fs::OpenOptions::new().write(true).open(&active).unwrap().set_len(100).unwrap();
    match log.append(0, 1, b"second") {
        Err(LogError::SegmentShortened { expected: 2048, actual: 100, .. }) => {}
        other => panic!("expected SegmentShortened, got {other:?}"),
    }
}

#[test]
fn missing_segment_and_leftover_temp_file() {
    let source = tempfile::tempdir().unwrap();
    build(source.path(), 30);
    let work = tempfile::tempdir().unwrap();
    copy_dir(source.path(), work.path());
    fs::remove_file(segment_file(work.path(), 1)).unwrap();
    assert!(matches!(verify_log(work.path()), Err(LogError::SegmentMissing { index: 1, .. })));

    let work = tempfile::tempdir().unwrap();
    copy_dir(source.path(), work.path());
    let temp = work.path().join(format!("{:020}.seg.tmp", 99));
    fs::write(&temp, b"half-made segment").unwrap();
    assert_eq!(verify_log(work.path()).unwrap().temp_files, vec![temp.clone()]);
    let (_log, report) = CommitLog::open(config(work.path(), Durability::None)).unwrap();
    assert_eq!(report.temp_files_removed, vec![temp.clone()]);
    assert_eq!(report.records, 30);
    assert!(!temp.exists());
}

#[test]
fn errors_display_segment_and_offset() {
    let error = LogError::Corrupt {
        segment: "/log/00000000000000000003.seg".into(),
        segment_index: 3,
        offset: 4096,
        reason: "payload checksum mismatch".into(),
    };
    let text = error.to_string();
    assert!(text.contains("00000000000000000003.seg") && text.contains("4096"), "{text}");
}

/// Only the active segment is mapped: a sealed segment's map is dropped
/// when the log rolls, so the file pages a long run touched leave the
/// process's resident set with it, and resident memory stays bounded by one
/// segment however long the log grows.
#[test]
#[cfg(target_os = "linux")]
fn only_the_active_segment_stays_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = CommitLog::open(config(dir.path(), Durability::Sync)).unwrap();
    append_range(&mut log, 0..40);
    assert!(log.segments().len() >= 4, "tiny segments must roll: {}", log.segments().len());
    let maps = fs::read_to_string("/proc/self/maps").unwrap();
    let dir_name = dir.path().to_str().unwrap();
    let mapped: Vec<&str> = maps.lines().filter(|line| line.contains(dir_name)).collect();
    assert_eq!(mapped.len(), 1, "expected only the active segment mapped: {mapped:#?}");
    let active = segment_file(dir.path(), log.segments().len() as u64 - 1);
    assert!(mapped[0].ends_with(active.to_str().unwrap()), "{mapped:?}");
}

#[test]
fn a_hole_covered_by_a_later_segment_header_is_damage() {
    // Under `sync`, a segment is created only after the one before it is
    // durable, and its header says so. Losing the last record of a sealed
    // segment is then damage, even though no record follows the hole.
    let source = tempfile::tempdir().unwrap();
    let metas = build(source.path(), 20);
    let last_segment = metas.last().unwrap().segment;
    let first_in_last = metas.iter().position(|m| m.segment == last_segment).unwrap();
    let victim = metas[first_in_last - 1];
    let path = segment_file(source.path(), last_segment);
    patch(&path, 64, &vec![0u8; 2048 - 64]);
    patch(&segment_file(source.path(), victim.segment), victim.offset, &[0u8; 128]);
    expect_corrupt(verify_log(source.path()), victim.segment, victim.offset, "covered by a segment header");
    expect_corrupt(CommitLog::open(config(source.path(), Durability::None)), victim.segment, victim.offset, "open");
}

#[test]
fn none_mode_holds_a_bounded_number_of_unsynced_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    for i in 0..200 {
        append_range(&mut log, i..i + 1);
        assert!(log.unsynced_sealed_segments() <= sluice_storage::SEALED_UNSYNCED_SEGMENTS_MAX);
    }
    assert!(log.segments().len() > sluice_storage::SEALED_UNSYNCED_SEGMENTS_MAX + 4);
    assert_eq!(log.unsynced_sealed_segments(), sluice_storage::SEALED_UNSYNCED_SEGMENTS_MAX);
    log.sync().unwrap();
    assert_eq!(log.unsynced_sealed_segments(), 0);
    drop(log);
    let (log, report) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    assert_eq!((report.records, report.torn_tail), (200, None));
    assert_prefix(&read_all(&log), 200);
}

/// The last records of segment `victim_segment` (of a log built under
/// `durability`) are zeroed, as a power cut that lost them whole leaves
/// them, while the next segment's records survive.
fn lose_the_end_of_a_sealed_segment(durability: Durability) -> (tempfile::TempDir, Vec<RecordMeta>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let metas = build_with(dir.path(), 30, durability);
    assert!(metas.last().unwrap().segment >= 2);
    let first_in_1 = metas.iter().position(|m| m.segment == 1).unwrap();
    let first_in_2 = metas.iter().position(|m| m.segment == 2).unwrap();
    let lost_from = first_in_1 + (first_in_2 - first_in_1) / 2;
    let start = metas[lost_from].offset;
    patch(&segment_file(dir.path(), 1), start, &vec![0u8; (2048 - start) as usize]);
    (dir, metas, lost_from)
}

#[test]
fn records_lost_whole_at_the_end_of_a_segment_are_a_hole_not_damage_under_none() {
    // Found by the storage-fault simulator (seed 56012): the segment looked
    // like it ended cleanly, and the next one's first record failed the
    // chain check, which used to be `Corrupt` everywhere.
    let (dir, metas, lost_from) = lose_the_end_of_a_sealed_segment(Durability::None);
    let verified = verify_log(dir.path()).unwrap();
    let (log, report) = CommitLog::open(config(dir.path(), Durability::None)).unwrap();
    assert_eq!((verified.records, report.records), (lost_from as u64, lost_from as u64));
    let torn = report.torn_tail.unwrap();
    assert_eq!((torn.segment_index, torn.offset), (1, metas[lost_from].offset));
    assert!(torn.records_cut > 0, "{torn:?}");
    assert_prefix(&read_all(&log), lost_from as u64);
}

#[test]
fn records_lost_at_the_end_of_a_synced_segment_are_damage() {
    // Under `sync`, segment 2 was created only after segment 1 was durable,
    // and its header says so.
    let (dir, metas, lost_from) = lose_the_end_of_a_sealed_segment(Durability::Sync);
    let at = metas[lost_from].offset;
    expect_corrupt(verify_log(dir.path()), 1, at, "verify");
    expect_corrupt(CommitLog::open(config(dir.path(), Durability::None)), 1, at, "open");
}
