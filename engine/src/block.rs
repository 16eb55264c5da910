//! Block headers, their hash, and the Merkle roots they commit to.
//!
//! A header binds a block's position (height, parent hash) to its content
//! (transactions root, receipts root) and its result (state root). The
//! block hash is blake3 of the header's fixed 141-byte encoding, so two
//! nodes agree on a block hash exactly when they agree on all of it.

use std::fmt;

use crate::exec::Receipt;
pub use crate::limits::{BLOCK_TXS_MAX, BLOCK_TX_BYTES_MAX};

pub const BLOCK_HEADER_VERSION: u8 = 1;
pub const BLOCK_HEADER_BYTES: usize = 1 + 8 + 32 * 4 + 4;

/// Why a block is refused before anything of it runs: it is over
/// `BLOCK_TXS_MAX` transactions or `BLOCK_TX_BYTES_MAX` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockLimitError {
    TooManyTxs { count: usize },
    TooManyBytes { bytes: usize },
}

impl BlockLimitError {
    /// A stable snake_case name, for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            BlockLimitError::TooManyTxs { .. } => "block_too_many_txs",
            BlockLimitError::TooManyBytes { .. } => "block_too_large",
        }
    }
}

impl fmt::Display for BlockLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockLimitError::TooManyTxs { count } => {
                write!(f, "{}: {count} transactions, over BLOCK_TXS_MAX {BLOCK_TXS_MAX}", self.name())
            }
            BlockLimitError::TooManyBytes { bytes } => write!(
                f,
                "{}: {bytes} bytes of transactions, over BLOCK_TX_BYTES_MAX {BLOCK_TX_BYTES_MAX}",
                self.name()
            ),
        }
    }
}

impl std::error::Error for BlockLimitError {}

/// Checks a block's transactions against `BLOCK_TXS_MAX` and
/// `BLOCK_TX_BYTES_MAX`; returns their bytes.
pub fn check_block_limits<T: AsRef<[u8]>>(txs: &[T]) -> Result<usize, BlockLimitError> {
    if txs.len() > BLOCK_TXS_MAX {
        return Err(BlockLimitError::TooManyTxs { count: txs.len() });
    }
    let bytes: usize = txs.iter().map(|tx| tx.as_ref().len()).sum();
    if bytes > BLOCK_TX_BYTES_MAX {
        return Err(BlockLimitError::TooManyBytes { bytes });
    }
    Ok(bytes)
}

/// Why bytes are not a block header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BlockHeaderError {
    /// Not `BLOCK_HEADER_BYTES` long.
    Length { len: usize },
    /// Byte 0, the version, is not `BLOCK_HEADER_VERSION`.
    UnsupportedVersion { version: u8 },
}

impl fmt::Display for BlockHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockHeaderError::Length { len } => write!(f, "block header is {len} bytes, expected {BLOCK_HEADER_BYTES}"),
            BlockHeaderError::UnsupportedVersion { version } => {
                write!(f, "block header byte 0: version {version} is not {BLOCK_HEADER_VERSION}")
            }
        }
    }
}

impl std::error::Error for BlockHeaderError {}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BlockHeader {
    pub height: u64,
    pub parent_hash: [u8; 32],
    pub tx_root: [u8; 32],
    pub receipts_root: [u8; 32],
    pub state_root: [u8; 32],
    pub tx_count: u32,
}

impl BlockHeader {
    /// `version u8 | height u64 LE | parent_hash | tx_root | receipts_root | state_root | tx_count u32 LE`.
    pub fn encode(&self) -> [u8; BLOCK_HEADER_BYTES] {
        let mut out = [0u8; BLOCK_HEADER_BYTES];
        out[0] = BLOCK_HEADER_VERSION;
        out[1..9].copy_from_slice(&self.height.to_le_bytes());
        out[9..41].copy_from_slice(&self.parent_hash);
        out[41..73].copy_from_slice(&self.tx_root);
        out[73..105].copy_from_slice(&self.receipts_root);
        out[105..137].copy_from_slice(&self.state_root);
        out[137..141].copy_from_slice(&self.tx_count.to_le_bytes());
        debug_assert_eq!(BlockHeader::decode(&out).as_ref(), Ok(self), "a header reads back as written");
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<BlockHeader, BlockHeaderError> {
        let bytes: &[u8; BLOCK_HEADER_BYTES] =
            bytes.try_into().map_err(|_| BlockHeaderError::Length { len: bytes.len() })?;
        if bytes[0] != BLOCK_HEADER_VERSION {
            return Err(BlockHeaderError::UnsupportedVersion { version: bytes[0] });
        }
        let h32 = |at: usize| -> [u8; 32] { bytes[at..at + 32].try_into().expect("32 bytes") };
        Ok(BlockHeader {
            height: u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes")),
            parent_hash: h32(9),
            tx_root: h32(41),
            receipts_root: h32(73),
            state_root: h32(105),
            tx_count: u32::from_le_bytes(bytes[137..141].try_into().expect("4 bytes")),
        })
    }

    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.encode()).as_bytes()
    }
}

/// Binary Merkle root of `leaves` (each already a 32-byte hash).
///
/// Leaves and inner nodes hash under different prefixes (0x00, 0x01), so a
/// node can never pass for a leaf (the second-preimage attack on naive
/// Merkle trees). An odd node at the end of a level moves up unchanged.
/// The empty tree's root is blake3 of the single byte 0x02.
pub fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.is_empty() {
        return *blake3::hash(&[0x02]).as_bytes();
    }
    let mut level: Vec<[u8; 32]> = leaves.iter().map(|leaf| hash_prefixed(0x00, &[leaf])).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => hash_prefixed(0x01, &[left, right]),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
    }
    level[0]
}

fn hash_prefixed(prefix: u8, parts: &[&[u8; 32]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[prefix]);
    for part in parts {
        hasher.update(*part);
    }
    *hasher.finalize().as_bytes()
}

pub fn receipts_root(receipts: &[Receipt]) -> [u8; 32] {
    let leaves: Vec<[u8; 32]> = receipts.iter().map(|r| *blake3::hash(&r.encode()).as_bytes()).collect();
    merkle_root(&leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_hash_covers_every_field() {
        let header = BlockHeader {
            height: 9,
            parent_hash: [1; 32],
            tx_root: [2; 32],
            receipts_root: [3; 32],
            state_root: [4; 32],
            tx_count: 5,
        };
        assert_eq!(BlockHeader::decode(&header.encode()), Ok(header));
        let encoded = header.encode();
        for i in 0..BLOCK_HEADER_BYTES {
            let mut flipped = encoded;
            flipped[i] ^= 1;
            assert_ne!(blake3::hash(&flipped).as_bytes(), &header.hash());
        }
        assert_eq!(BlockHeader::decode(&encoded[1..]), Err(BlockHeaderError::Length { len: BLOCK_HEADER_BYTES - 1 }));
        let mut bad_version = encoded;
        bad_version[0] = 2;
        assert_eq!(BlockHeader::decode(&bad_version), Err(BlockHeaderError::UnsupportedVersion { version: 2 }));
    }

    #[test]
    fn block_limits_are_checked_by_count_and_by_bytes() {
        let at_count = vec![vec![0u8; 1]; BLOCK_TXS_MAX];
        assert_eq!(check_block_limits(&at_count), Ok(BLOCK_TXS_MAX));
        let over_count = vec![vec![0u8; 1]; BLOCK_TXS_MAX + 1];
        let error = check_block_limits(&over_count).unwrap_err();
        assert_eq!(error, BlockLimitError::TooManyTxs { count: BLOCK_TXS_MAX + 1 });
        assert!(error.to_string().starts_with("block_too_many_txs: 100001 transactions"), "{error}");
        let at_bytes = [vec![0u8; BLOCK_TX_BYTES_MAX - 1], vec![0u8; 1]];
        assert_eq!(check_block_limits(&at_bytes), Ok(BLOCK_TX_BYTES_MAX));
        let over_bytes = [vec![0u8; BLOCK_TX_BYTES_MAX], vec![0u8; 1]];
        let error = check_block_limits(&over_bytes).unwrap_err();
        assert_eq!(error, BlockLimitError::TooManyBytes { bytes: BLOCK_TX_BYTES_MAX + 1 });
        assert_eq!(error.name(), "block_too_large");
    }

    #[test]
    fn merkle_root_depends_on_order_and_count() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert_ne!(merkle_root(&[a, b]), merkle_root(&[b, a]));
        assert_ne!(merkle_root(&[a]), merkle_root(&[a, a]));
        assert_ne!(merkle_root(&[]), merkle_root(&[a]));
        assert_ne!(merkle_root(&[a]), a, "a leaf is hashed, not passed through");
        let three = merkle_root(&[a, b, a]);
        assert_ne!(three, merkle_root(&[a, b]));
    }
}
