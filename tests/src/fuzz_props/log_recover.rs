//! `log_recover`: recovery keeps exactly the undamaged prefix, or refuses.
//!
//! A valid log with small segments is written under `sync` or `none`, its
//! files are damaged (byte flips inside records or anywhere, zeroed tails as
//! a torn write leaves them, truncated files), and then the log is verified
//! and opened. The expected outcome is computed from the damage alone, so the
//! property is exact rather than "did not crash". Let `P` be the first
//! damaged byte in log order and `d` the number of records that end before
//! `P`:
//!
//! * no damage: open succeeds with every record and cuts nothing;
//! * a segment header damaged or a file shortened: refused with a named
//!   error (a bad header is never a torn write; a short file is never read);
//! * under `sync`, some record after `P` still intact: refused with
//!   `Corrupt`, because that record claims `P` durable (it was written after
//!   `P` was synced), so `P` is damage, not a lost write;
//! * under `sync` otherwise: opened as below, or refused with `Corrupt` when a
//!   later segment exists, whose header claims the damaged one durable;
//! * under `none` (no record claims anything durable) or with nothing
//!   claiming `P`: open succeeds with exactly records `0..d`, payloads equal
//!   to what was appended, and any cut it reports starts at or after the
//!   record boundary before `P`.
//!
//! Where exactly a cut or a `Corrupt` is reported depends on how the scanner
//! reads zeroed space: a zeroed record is a clean end of its segment, not
//! damage, so the first non-whole place may lie further on (a later segment,
//! or the hash-chain break at the next intact record). The checks therefore
//! bound the reported place: never before the undamaged prefix ends, and for
//! `Corrupt` never after the first intact record that a cut would drop.
//!
//! After a successful open, `verify_log` agrees, a second open finds a clean
//! log, and an append after recovery survives a reopen.

use std::fs;
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use sluice_storage::format::{record_size_bytes, RECORD_HEADER_SIZE_BYTES, SEGMENT_HEADER_SIZE_BYTES};
use sluice_storage::{verify_log, CommitLog, Durability, LogConfig, LogError, Record, RecordMeta};

const RECORDS_MAX: usize = 40;
const DAMAGE_MAX: usize = 6;
/// Tiny segments, so a few dozen records span many segments and damage
/// lands near segment boundaries often.
const SEGMENT_SIZES: [u64; 4] = [512, 768, 1024, 2048];

#[derive(Arbitrary, Debug)]
struct Input {
    /// Segment size index in the low bits; the top bit picks `sync`
    /// durability (claims in every record) over `none` (no claims).
    segment_size: u8,
    records: Vec<RecordSpec>,
    damage: Vec<Damage>,
}

#[derive(Arbitrary, Debug)]
struct RecordSpec {
    kind: u8,
    /// Height grows by `height_step % 3`: equal heights are legal.
    height_step: u8,
    len: u16,
    fill: u8,
}

#[derive(Arbitrary, Debug)]
enum Damage {
    /// Xor one byte of record `record % n`, at `within` its span.
    FlipInRecord { record: u8, within: u16, xor: u8 },
    /// Xor one byte anywhere in a segment (headers and zero space included).
    Flip { segment: u8, offset: u16, xor: u8 },
    /// Zero from a byte of a record to the end of the log: a torn write.
    TornFrom { record: u8, within: u16 },
    /// Shorten a segment file.
    Truncate { segment: u8, len: u16 },
}

/// An appended record: what the recovered log must give back.
struct Appended {
    meta: RecordMeta,
    payload: Vec<u8>,
}

impl Appended {
    fn end(&self) -> u64 {
        self.meta.offset + record_size_bytes(self.meta.payload_len as u64)
    }
}

pub fn log_recover(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let dir = scratch_dir();
    let segment_size = SEGMENT_SIZES[input.segment_size as usize % SEGMENT_SIZES.len()];
    let durability = if input.segment_size & 0x80 != 0 { Durability::Sync } else { Durability::None };
    let config = config(dir.path(), segment_size, durability);
    let appended = write_log(&config, &input.records);
    if appended.is_empty() {
        return;
    }
    let original = read_segments(dir.path());
    let mut damaged = original.clone();
    for damage in input.damage.iter().take(DAMAGE_MAX) {
        apply(damage, &mut damaged, &appended);
    }
    for (index, bytes) in damaged.iter().enumerate() {
        let path = segment_path(dir.path(), index as u64);
        if bytes != &original[index] {
            fs::write(&path, bytes).expect("write damaged segment");
        }
    }
    let expected = Expected::from_damage(&original, &damaged, &appended, durability == Durability::Sync);
    check_recovery(&config, &appended, &expected);
}

fn scratch_dir() -> tempfile::TempDir {
    // tmpfs where there is one: recovery fsyncs, and on a disk that is
    // most of an iteration's time.
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("sluice-fuzz-log").tempdir_in(shm);
    builder.or_else(|_| tempfile::tempdir()).expect("create a scratch directory")
}

fn config(dir: &Path, segment_size: u64, durability: Durability) -> LogConfig {
    let mut config = LogConfig::new(dir);
    config.segment_size_bytes = segment_size;
    config.record_size_max = segment_size - SEGMENT_HEADER_SIZE_BYTES - RECORD_HEADER_SIZE_BYTES;
    config.durability = durability;
    config
}

fn write_log(config: &LogConfig, specs: &[RecordSpec]) -> Vec<Appended> {
    let (mut log, report) = CommitLog::open(config.clone()).expect("create a fresh log");
    assert!(report.created);
    let mut height = 0u64;
    let mut appended = vec![];
    for (i, spec) in specs.iter().take(RECORDS_MAX).enumerate() {
        height += u64::from(spec.height_step % 3);
        let len = spec.len as usize % (config.record_size_max as usize + 1);
        let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j * (spec.fill as usize | 1)) as u8).collect();
        let meta = log.append(spec.kind, height, &payload).expect("append to a healthy log");
        appended.push(Appended { meta, payload });
    }
    appended
}

fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.seg"))
}

fn read_segments(dir: &Path) -> Vec<Vec<u8>> {
    (0..).map(|i| segment_path(dir, i)).take_while(|p| p.exists()).map(|p| fs::read(p).expect("read")).collect()
}

fn apply(damage: &Damage, segments: &mut [Vec<u8>], appended: &[Appended]) {
    let pick_record = |record: u8| &appended[record as usize % appended.len()];
    match *damage {
        Damage::FlipInRecord { record, within, xor } => {
            let record = pick_record(record);
            let span = record.end() - record.meta.offset;
            let at = (record.meta.offset + within as u64 % span) as usize;
            if let Some(byte) = segments[record.meta.segment as usize].get_mut(at) {
                *byte ^= xor;
            }
        }
        Damage::Flip { segment, offset, xor } => {
            let bytes = &mut segments[segment as usize % segments.len()];
            if !bytes.is_empty() {
                let at = offset as usize % bytes.len();
                bytes[at] ^= xor;
            }
        }
        Damage::TornFrom { record, within } => {
            let record = pick_record(record);
            let span = record.end() - record.meta.offset;
            let from = (record.meta.offset + within as u64 % span) as usize;
            let first = record.meta.segment as usize;
            for (index, bytes) in segments.iter_mut().enumerate().skip(first) {
                let start = if index == first { from.min(bytes.len()) } else { SEGMENT_HEADER_SIZE_BYTES as usize };
                let start = start.min(bytes.len());
                bytes[start..].fill(0);
            }
        }
        Damage::Truncate { segment, len } => {
            let bytes = &mut segments[segment as usize % segments.len()];
            bytes.truncate(len as usize % (bytes.len() + 1));
        }
    }
}

/// What recovery must do, derived from the damage.
#[derive(Debug)]
struct Expected {
    /// First damaged byte, (segment, offset), in log order.
    first_damage: Option<(u64, u64)>,
    /// Records that end before the first damage: the undamaged prefix.
    prefix: usize,
    /// The record boundary at or before the first damage: no cut or
    /// `Corrupt` may be reported before it.
    cut_at: Option<(u64, u64)>,
    /// A record at or after the first damage whose bytes are all intact.
    intact_after: Option<usize>,
    /// A segment header changed or a file got shorter.
    segment_damaged: bool,
    /// The log was written under `sync`: every record claims the bytes
    /// before it durable, and every segment header the segments before it.
    claims: bool,
    /// Segments in the log.
    segments: u64,
}

impl Expected {
    fn from_damage(original: &[Vec<u8>], damaged: &[Vec<u8>], appended: &[Appended], claims: bool) -> Expected {
        let segments = original.len() as u64;
        let first_damage = original.iter().zip(damaged).enumerate().find_map(|(index, (before, after))| {
            let common = before.len().min(after.len());
            let at = (0..common).find(|&i| before[i] != after[i]);
            let at = at.or((before.len() != after.len()).then_some(common));
            at.map(|offset| (index as u64, offset as u64))
        });
        let segment_damaged = original.iter().zip(damaged).any(|(before, after)| {
            let header = SEGMENT_HEADER_SIZE_BYTES as usize;
            before.len() != after.len() || before[..header] != after[..header]
        });
        let Some((segment, offset)) = first_damage else {
            return Expected {
                first_damage,
                prefix: appended.len(),
                cut_at: None,
                intact_after: None,
                segment_damaged,
                claims,
                segments,
            };
        };
        let ends_before = |r: &Appended| (r.meta.segment, r.end()) <= (segment, offset);
        let prefix = appended.iter().take_while(|r| ends_before(r)).count();
        let cut_offset = appended
            .iter()
            .filter(|r| r.meta.segment == segment && r.end() <= offset)
            .map(Appended::end)
            .max()
            .unwrap_or(SEGMENT_HEADER_SIZE_BYTES);
        let intact = |r: &Appended| {
            let (start, end) = (r.meta.offset as usize, r.end() as usize);
            let after = &damaged[r.meta.segment as usize];
            after.len() >= end && after[start..end] == original[r.meta.segment as usize][start..end]
        };
        let intact_after = (prefix..appended.len()).find(|&i| intact(&appended[i]));
        Expected {
            first_damage,
            prefix,
            cut_at: Some((segment, cut_offset)),
            intact_after,
            segment_damaged,
            claims,
            segments,
        }
    }

    fn must_open(&self) -> bool {
        self.first_damage.is_none() || (!self.segment_damaged && !self.claims)
    }

    fn must_refuse(&self) -> bool {
        self.first_damage.is_some() && (self.segment_damaged || (self.claims && self.intact_after.is_some()))
    }

    /// Under `sync`, damage with no intact record after it may still be
    /// refused: a later segment's header claims the damaged segment durable.
    fn may_refuse_at(&self, segment: u64) -> bool {
        self.claims && segment + 1 < self.segments
    }
}

fn check_recovery(config: &LogConfig, appended: &[Appended], expected: &Expected) {
    let verified = verify_log(&config.dir);
    let opened = CommitLog::open(config.clone());
    let context = || format!("{expected:?}, {} records appended", appended.len());
    match opened {
        Ok((log, report)) => {
            assert!(!expected.must_refuse(), "open accepted a log it must refuse: {}", context());
            let records: Vec<Record> = log.records().collect::<Result<_, _>>().unwrap_or_else(|e| {
                panic!("reading a recovered log failed: {e}; {}", context());
            });
            assert_prefix(&records, appended, expected.prefix, "after open");
            assert_eq!(report.records, expected.prefix as u64, "open reports the records it kept");
            match (&report.torn_tail, expected.cut_at) {
                (None, _) => {}
                (Some(torn), Some(cut_at)) => {
                    let at = (torn.segment_index, torn.offset);
                    assert!(at >= cut_at, "cut {torn:?} inside the undamaged prefix; {}", context());
                }
                (Some(torn), None) => panic!("torn tail {torn:?} cut from an undamaged log"),
            }
            let verify_report = verified.unwrap_or_else(|e| panic!("open recovered but verify_log refused: {e}"));
            assert_eq!(verify_report.records, expected.prefix as u64, "verify_log and open agree");
            reopen_and_append(config, log, appended, expected.prefix);
        }
        Err(error) => {
            assert!(!expected.must_open(), "open refused a log it must recover: {error}; {}", context());
            assert!(verified.is_err(), "open refused ({error}) but verify_log accepted");
            match &error {
                LogError::Corrupt { segment_index, offset, .. } => {
                    let claimed = expected.must_refuse() || expected.may_refuse_at(*segment_index);
                    assert!(claimed, "Corrupt at {segment_index} with nothing claiming it durable; {}", context());
                    // Reported between the end of the undamaged prefix and
                    // the first intact record a cut would have dropped.
                    if !expected.segment_damaged {
                        let at = (*segment_index, *offset);
                        let cut_at = expected.cut_at.expect("damage exists");
                        assert!(at >= cut_at, "Corrupt at {at:?} inside the undamaged prefix; {}", context());
                        if let Some(j) = expected.intact_after {
                            let intact = (appended[j].meta.segment, appended[j].meta.offset);
                            assert!(at <= intact, "Corrupt at {at:?} after intact record {j}; {}", context());
                        }
                    }
                }
                LogError::SegmentShortened { .. } => {
                    assert!(expected.segment_damaged, "SegmentShortened without a shortened file: {error}");
                }
                other => panic!("recovery failed with an unexpected error: {other}; {}", context()),
            }
        }
    }
}

fn assert_prefix(records: &[Record], appended: &[Appended], count: usize, when: &str) {
    assert_eq!(records.len(), count, "{when}: recovered {} records, the undamaged prefix is {count}", records.len());
    for (i, (record, original)) in records.iter().zip(appended).enumerate() {
        assert!(record.payload == original.payload, "{when}: record {i} payload differs from what was appended");
        assert_eq!(record.meta.kind, original.meta.kind, "{when}: record {i} kind");
        assert_eq!(record.meta.height, original.meta.height, "{when}: record {i} height");
        assert_eq!(record.meta.hash, original.meta.hash, "{when}: record {i} hash");
    }
}

/// A recovered log is clean on reopen and accepts appends that persist.
fn reopen_and_append(config: &LogConfig, log: CommitLog, appended: &[Appended], prefix: usize) {
    drop(log);
    let (mut log, report) = CommitLog::open(config.clone()).expect("reopen a recovered log");
    assert!(report.torn_tail.is_none(), "second open found a torn tail: {:?}", report.torn_tail);
    assert_eq!(report.records, prefix as u64);
    let height = if prefix == 0 { 0 } else { appended[prefix - 1].meta.height };
    log.append(7, height, b"after recovery").expect("append after recovery");
    drop(log);
    let (log, _) = CommitLog::open(config.clone()).expect("reopen after appending");
    let records: Vec<Record> = log.records().collect::<Result<_, _>>().expect("read back");
    assert_prefix(&records[..prefix], appended, prefix, "after append");
    assert_eq!(records.len(), prefix + 1);
    assert_eq!(records[prefix].payload, b"after recovery");
}
