//! On-disk byte layout of segments and records.
//!
//! Every integer is little-endian: every machine Sluice targets is
//! little-endian, so encoding is a copy, and a fixed order means one encoding.
//! Every reserved byte and every padding byte must be zero; a decoder rejects
//! anything else, so each header has exactly one valid encoding
//! (design invariant 4).
//!
//! ## Segment file
//!
//! A segment is a fixed-size file named by its index in 20 decimal digits,
//! e.g. `00000000000000000007.seg` (20 digits hold any `u64`, and the names sort
//! lexically in index order). It is preallocated to its full size, starts with a
//! 64-byte segment header, and then holds records back to back, each aligned to
//! 8 bytes. The unused rest of the file is zero.
//!
//! ### Segment header (64 bytes, at offset 0)
//!
//! | offset | size | field | value / why |
//! |---:|---:|---|---|
//! | 0 | 8 | `magic` | ASCII `SLUICSEG`. Rejects a file that is not a Sluice segment before anything else is trusted. |
//! | 8 | 2 | `format_version` | `u16`, currently `2` (version 1 is read too: its byte 10 and its records' bytes 17..24 are zero, which claims nothing). Lets a future layout be told apart instead of misread. |
//! | 10 | 1 | `flags` | bit 0 `EARLIER_SEGMENTS_DURABLE`: every earlier segment was durable, through its last record, before this segment was created. Recovery uses it to tell a lost unsynced write from damage (see [`crate::scan`]). Other bits must be zero. |
//! | 11 | 5 | `reserved` | zero. Room for more without changing the header size; must be zero so the encoding stays unique. |
//! | 16 | 8 | `segment_index` | `u64`, equal to the index in the file name. Catches a renamed or copied segment. |
//! | 24 | 8 | `segment_size_bytes` | `u64`, the full file size. The file length is checked against it *before* anything is read or mapped, so a shortened file gives `SegmentShortened` instead of SIGBUS. |
//! | 32 | 16 | `reserved` | zero. Same reason as above. |
//! | 48 | 16 | `header_checksum` | first 16 bytes of `blake3(bytes 0..48)`. 128 bits is ample against random damage; the header is not part of the hash chain, so it needs no collision resistance. |
//!
//! The header size is a multiple of 8, so the first record starts aligned.
//! A segment is written to a temporary name, preallocated, given its header,
//! fsynced, renamed into place and the directory fsynced: a segment file that
//! has its final name therefore always has a whole header, and a bad header is
//! always damage, never a torn write.
//!
//! ## Record
//!
//! A record is a 128-byte header followed by `payload_len` payload bytes and
//! then zero padding up to the next multiple of 8. A record never spans two
//! segments: if it does not fit in the rest of the active segment, a new
//! segment is started and the rest of the old one stays zero.
//!
//! ### Record header (128 bytes)
//!
//! | offset | size | field | value / why |
//! |---:|---:|---|---|
//! | 0 | 8 | `magic` | ASCII `SLUICREC`. Cheap first filter; 8 bytes make a false match in garbage unlikely before the checksums even run. Zero-filled space never matches, which is how the end of the records is found. |
//! | 8 | 4 | `payload_len` | `u32`, payload bytes, excluding padding. Bounded by the segment size, so 32 bits suffice. |
//! | 12 | 4 | `length_checksum` | `u32`, first 4 bytes of `blake3("sluice.record.length.v1" ‖ payload_len as u32 LE)`. Lets a reader reject a torn or flipped length *before* using it to size a read. It is never zero-valued for length 0, so a zeroed header never passes. |
//! | 16 | 1 | `kind` | `u8`, opaque to storage (block, receipt, …). |
//! | 17 | 1 | `flags` | bit 0 `EARLIER_SEGMENTS_DURABLE`: every earlier segment was durable, through its last record, when this record was written. Other bits must be zero. |
//! | 18 | 2 | `reserved` | zero; must be zero for a unique encoding. |
//! | 20 | 4 | `durable_offset` | `u32`: bytes `[0, durable_offset)` of this record's segment were durable (synced) when this record was written; 0 claims nothing. Never more than the record's own offset. A record that survives a crash thereby proves which earlier bytes no crash could have lost, so a hole there is damage, and a hole beyond it is a lost unsynced write (see [`crate::scan`]). 32 bits hold any offset in a segment of at most 1 GiB. |
//! | 24 | 8 | `height` | `u64`. Non-decreasing along the log: several records (of different kinds) may share a height. |
//! | 32 | 32 | `prev_hash` | `record_hash` of the previous record in the log, all zero for the first record (genesis). This is the hash chain: a record cannot be removed, reordered or replaced in the middle without breaking the next link. |
//! | 64 | 32 | `payload_checksum` | `blake3(payload)`. Detects a torn or damaged payload. |
//! | 96 | 32 | `record_hash` | `blake3(bytes 0..96)`. Doubles as the header checksum, and because it covers `payload_checksum` and `prev_hash` it commits to the payload and to the whole history; the next record chains to it. |
//!
//! 128 bytes is a multiple of 8 (keeps the payload aligned) and two cache lines.

/// Magic at offset 0 of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SLUICSEG";
/// Magic at offset 0 of every record header.
pub const RECORD_MAGIC: [u8; 8] = *b"SLUICREC";
/// Current on-disk format version (segments): 2 added the durability claims
/// (segment byte 10, record bytes 17 and 20..24).
pub const FORMAT_VERSION: u16 = 2;
/// Oldest format version still read. Version 1 wrote zeros where version 2
/// keeps its durability claims, and zeros claim nothing.
pub const FORMAT_VERSION_MIN: u16 = 1;
/// Flag bit (segment header byte 10, record header byte 17): every earlier
/// segment was durable through its last record.
pub const FLAG_EARLIER_SEGMENTS_DURABLE: u8 = 1;
/// Size of the segment header; records start at this offset.
pub const SEGMENT_HEADER_SIZE_BYTES: u64 = 64;
/// Size of a record header.
pub const RECORD_HEADER_SIZE_BYTES: u64 = 128;
/// Records start at multiples of this offset within a segment.
pub const RECORD_ALIGN_BYTES: u64 = 8;

const SEGMENT_HEADER_CHECKSUM_OFFSET: usize = 48;
const RECORD_HASH_OFFSET: usize = 96;
const LENGTH_CHECKSUM_DOMAIN: &[u8] = b"sluice.record.length.v1";

const _: () = assert!(SEGMENT_HEADER_SIZE_BYTES.is_multiple_of(RECORD_ALIGN_BYTES));
const _: () = assert!(RECORD_HEADER_SIZE_BYTES.is_multiple_of(RECORD_ALIGN_BYTES));
// `durable_offset` is a u32, so every offset of the largest segment must fit.
const _: () = assert!(crate::SEGMENT_SIZE_BYTES_MAX <= u32::MAX as u64);

/// Decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub segment_index: u64,
    pub segment_size_bytes: u64,
    /// Every earlier segment was durable through its last record before this
    /// one was created.
    pub earlier_segments_durable: bool,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_SIZE_BYTES as usize] {
        let mut bytes = [0u8; SEGMENT_HEADER_SIZE_BYTES as usize];
        bytes[0..8].copy_from_slice(&SEGMENT_MAGIC);
        bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[10] = if self.earlier_segments_durable { FLAG_EARLIER_SEGMENTS_DURABLE } else { 0 };
        bytes[16..24].copy_from_slice(&self.segment_index.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.segment_size_bytes.to_le_bytes());
        let checksum = segment_header_checksum(&bytes);
        bytes[SEGMENT_HEADER_CHECKSUM_OFFSET..].copy_from_slice(&checksum);
        // Pair assertion: what we write must decode to what we meant.
        debug_assert_eq!(SegmentHeader::decode(&bytes), Ok(*self));
        bytes
    }

    /// Decodes and checks a segment header. Never panics.
    pub fn decode(bytes: &[u8; SEGMENT_HEADER_SIZE_BYTES as usize]) -> Result<Self, &'static str> {
        if bytes[0..8] != SEGMENT_MAGIC {
            return Err("bad segment magic");
        }
        if segment_header_checksum(bytes) != bytes[SEGMENT_HEADER_CHECKSUM_OFFSET..] {
            return Err("segment header checksum mismatch");
        }
        let version = u16_at(bytes, 8);
        if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
            return Err("unsupported segment format version");
        }
        if bytes[10] & !FLAG_EARLIER_SEGMENTS_DURABLE != 0 {
            return Err("segment header flags has unknown bits set");
        }
        if bytes[11..16].iter().chain(&bytes[32..48]).any(|&b| b != 0) {
            return Err("segment header reserved bytes are not zero");
        }
        Ok(SegmentHeader {
            segment_index: u64_at(bytes, 16),
            segment_size_bytes: u64_at(bytes, 24),
            earlier_segments_durable: bytes[10] & FLAG_EARLIER_SEGMENTS_DURABLE != 0,
        })
    }
}

fn segment_header_checksum(bytes: &[u8; SEGMENT_HEADER_SIZE_BYTES as usize]) -> [u8; 16] {
    let hash = blake3::hash(&bytes[..SEGMENT_HEADER_CHECKSUM_OFFSET]);
    let mut checksum = [0u8; 16];
    checksum.copy_from_slice(&hash.as_bytes()[..16]);
    checksum
}

/// Decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub payload_len: u32,
    pub kind: u8,
    pub durable: DurableClaim,
    pub height: u64,
    pub prev_hash: [u8; 32],
    pub payload_checksum: [u8; 32],
    pub record_hash: [u8; 32],
}

/// What was durable when a record was written: the claim each record makes
/// about the bytes before it (record header bytes 17 and 20..24).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurableClaim {
    /// Every earlier segment was durable through its last record.
    pub earlier_segments: bool,
    /// Bytes `[0, offset)` of the record's own segment were durable.
    pub offset: u32,
}

impl DurableClaim {
    /// Claims nothing: what a version 1 record reads as.
    pub const NONE: DurableClaim = DurableClaim { earlier_segments: false, offset: 0 };

    /// True if this claim, made by a record in segment `claim_segment`, says
    /// that byte `offset` of segment `segment` was durable.
    pub fn covers(&self, claim_segment: u64, segment: u64, offset: u64) -> bool {
        match segment.cmp(&claim_segment) {
            std::cmp::Ordering::Less => self.earlier_segments,
            std::cmp::Ordering::Equal => offset < u64::from(self.offset),
            std::cmp::Ordering::Greater => false,
        }
    }
}

/// Why a record header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The 128 bytes are all zero: the normal end of records in a segment.
    Zero,
    /// Anything else: torn or damaged.
    Invalid(&'static str),
}

impl RecordHeader {
    /// Builds the header for `payload`, computing its checksum and hash.
    /// `payload.len()` must already be checked to fit in a `u32`.
    pub fn new(kind: u8, height: u64, prev_hash: [u8; 32], payload: &[u8], durable: DurableClaim) -> Self {
        let payload_len = u32::try_from(payload.len()).expect("payload length checked by caller");
        let mut header = RecordHeader {
            payload_len,
            kind,
            durable,
            height,
            prev_hash,
            payload_checksum: *blake3::hash(payload).as_bytes(),
            record_hash: [0u8; 32],
        };
        let bytes = header.encode_unhashed();
        header.record_hash = record_hash(&bytes);
        header
    }

    fn encode_unhashed(&self) -> [u8; RECORD_HEADER_SIZE_BYTES as usize] {
        let mut bytes = [0u8; RECORD_HEADER_SIZE_BYTES as usize];
        bytes[0..8].copy_from_slice(&RECORD_MAGIC);
        bytes[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        bytes[12..16].copy_from_slice(&length_checksum(self.payload_len).to_le_bytes());
        bytes[16] = self.kind;
        bytes[17] = if self.durable.earlier_segments { FLAG_EARLIER_SEGMENTS_DURABLE } else { 0 };
        bytes[20..24].copy_from_slice(&self.durable.offset.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.height.to_le_bytes());
        bytes[32..64].copy_from_slice(&self.prev_hash);
        bytes[64..96].copy_from_slice(&self.payload_checksum);
        bytes
    }

    pub fn encode(&self) -> [u8; RECORD_HEADER_SIZE_BYTES as usize] {
        let mut bytes = self.encode_unhashed();
        assert_eq!(record_hash(&bytes), self.record_hash, "record hash is stale");
        bytes[RECORD_HASH_OFFSET..].copy_from_slice(&self.record_hash);
        bytes
    }

    /// Decodes and checks a record header (not the payload). Never panics.
    ///
    /// Order matters: the length is checked against its own checksum before
    /// it can be used by anyone, and the whole header against `record_hash`.
    pub fn decode(bytes: &[u8; RECORD_HEADER_SIZE_BYTES as usize]) -> Result<Self, HeaderError> {
        if bytes.iter().all(|&b| b == 0) {
            return Err(HeaderError::Zero);
        }
        if bytes[0..8] != RECORD_MAGIC {
            return Err(HeaderError::Invalid("bad record magic"));
        }
        let payload_len = u32_at(bytes, 8);
        if length_checksum(payload_len) != u32_at(bytes, 12) {
            return Err(HeaderError::Invalid("record length checksum mismatch"));
        }
        if bytes[17] & !FLAG_EARLIER_SEGMENTS_DURABLE != 0 {
            return Err(HeaderError::Invalid("record flags has unknown bits set"));
        }
        if bytes[18..20].iter().any(|&b| b != 0) {
            return Err(HeaderError::Invalid("record reserved bytes are not zero"));
        }
        let durable_offset = u32_at(bytes, 20);
        if !durable_offset.is_multiple_of(RECORD_ALIGN_BYTES as u32) {
            return Err(HeaderError::Invalid("record durable_offset is not aligned"));
        }
        let stored_hash: [u8; 32] = array_at(bytes, RECORD_HASH_OFFSET);
        if record_hash(bytes) != stored_hash {
            return Err(HeaderError::Invalid("record header hash mismatch"));
        }
        Ok(RecordHeader {
            payload_len,
            kind: bytes[16],
            durable: DurableClaim {
                earlier_segments: bytes[17] & FLAG_EARLIER_SEGMENTS_DURABLE != 0,
                offset: durable_offset,
            },
            height: u64_at(bytes, 24),
            prev_hash: array_at(bytes, 32),
            payload_checksum: array_at(bytes, 64),
            record_hash: stored_hash,
        })
    }

    /// Bytes the whole record occupies: header, payload and padding.
    pub fn record_size_bytes(&self) -> u64 {
        record_size_bytes(u64::from(self.payload_len))
    }
}

/// Bytes a record with `payload_len` payload bytes occupies in a segment.
pub fn record_size_bytes(payload_len: u64) -> u64 {
    RECORD_HEADER_SIZE_BYTES + align_up(payload_len)
}

/// Rounds up to `RECORD_ALIGN_BYTES`. Callers bound `value` far below `u64::MAX`.
pub fn align_up(value: u64) -> u64 {
    value.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES
}

fn length_checksum(payload_len: u32) -> u32 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(LENGTH_CHECKSUM_DOMAIN);
    hasher.update(&payload_len.to_le_bytes());
    let hash = hasher.finalize();
    u32_at(hash.as_bytes(), 0)
}

fn record_hash(bytes: &[u8; RECORD_HEADER_SIZE_BYTES as usize]) -> [u8; 32] {
    *blake3::hash(&bytes[..RECORD_HASH_OFFSET]).as_bytes()
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes(array_at(bytes, offset))
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(array_at(bytes, offset))
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(array_at(bytes, offset))
}

/// Callers pass constant offsets inside fixed-size arrays, so the slice is in
/// bounds by construction.
fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[offset..offset + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_header_round_trip() {
        let header = SegmentHeader { segment_index: 7, segment_size_bytes: 4096, earlier_segments_durable: true };
        let bytes = header.encode();
        assert_eq!(&bytes[0..8], b"SLUICSEG");
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
    }

    #[test]
    fn segment_header_rejects_every_single_byte_flip() {
        let bytes =
            SegmentHeader { segment_index: 3, segment_size_bytes: 1 << 20, earlier_segments_durable: false }.encode();
        for i in 0..bytes.len() {
            let mut damaged = bytes;
            damaged[i] ^= 0x01;
            assert!(SegmentHeader::decode(&damaged).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn version_1_headers_still_read_and_unknown_flags_do_not() {
        let header = SegmentHeader { segment_index: 2, segment_size_bytes: 4096, earlier_segments_durable: false };
        let mut bytes = header.encode();
        bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
        let checksum = segment_header_checksum(&bytes);
        bytes[SEGMENT_HEADER_CHECKSUM_OFFSET..].copy_from_slice(&checksum);
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        bytes[10] = 0b10;
        let checksum = segment_header_checksum(&bytes);
        bytes[SEGMENT_HEADER_CHECKSUM_OFFSET..].copy_from_slice(&checksum);
        assert_eq!(SegmentHeader::decode(&bytes), Err("segment header flags has unknown bits set"));
        let mut record = RecordHeader::new(1, 5, [0u8; 32], b"abc", DurableClaim::NONE).encode();
        record[17] = 0b100;
        let hash = record_hash(&record);
        record[RECORD_HASH_OFFSET..].copy_from_slice(&hash);
        assert_eq!(RecordHeader::decode(&record), Err(HeaderError::Invalid("record flags has unknown bits set")));
    }

    #[test]
    fn claims_cover_only_what_they_say() {
        let claim = DurableClaim { earlier_segments: true, offset: 512 };
        assert!(claim.covers(3, 2, 1 << 20));
        assert!(claim.covers(3, 3, 504));
        assert!(!claim.covers(3, 3, 512));
        assert!(!claim.covers(3, 4, 64));
        assert!(!DurableClaim::NONE.covers(3, 2, 64));
        assert!(!DurableClaim::NONE.covers(3, 3, 64));
    }

    #[test]
    fn record_header_round_trip() {
        let header =
            RecordHeader::new(2, 99, [7u8; 32], b"payload", DurableClaim { earlier_segments: true, offset: 4096 });
        let bytes = header.encode();
        assert_eq!(&bytes[0..8], b"SLUICREC");
        assert_eq!(RecordHeader::decode(&bytes), Ok(header));
        assert_eq!(header.record_size_bytes(), 128 + 8);
    }

    #[test]
    fn record_header_rejects_every_single_byte_flip() {
        let bytes = RecordHeader::new(1, 5, [0u8; 32], b"abc", DurableClaim::NONE).encode();
        for i in 0..bytes.len() {
            let mut damaged = bytes;
            damaged[i] ^= 0x80;
            assert!(matches!(RecordHeader::decode(&damaged), Err(HeaderError::Invalid(_))), "flip at {i} accepted");
        }
    }

    #[test]
    fn zero_header_is_end_not_record() {
        let zero = [0u8; RECORD_HEADER_SIZE_BYTES as usize];
        assert_eq!(RecordHeader::decode(&zero), Err(HeaderError::Zero));
        assert_ne!(length_checksum(0), 0);
    }

    #[test]
    fn torn_length_is_caught_by_length_checksum() {
        let mut bytes = RecordHeader::new(1, 5, [0u8; 32], &[1u8; 300], DurableClaim::NONE).encode();
        bytes[9] ^= 0x01; // payload_len byte 1
        assert_eq!(RecordHeader::decode(&bytes), Err(HeaderError::Invalid("record length checksum mismatch")));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 128)) {
            let mut array = [0u8; 128];
            array.copy_from_slice(&bytes);
            let _ = RecordHeader::decode(&array);
            let mut seg = [0u8; 64];
            seg.copy_from_slice(&bytes[..64]);
            let _ = SegmentHeader::decode(&seg);
        }
    }
}
