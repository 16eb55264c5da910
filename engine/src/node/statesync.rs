//! State sync: serving the store's snapshots to CometBFT peers in chunks,
//! and restoring one offered by a peer (ListSnapshots, LoadSnapshotChunk,
//! OfferSnapshot, ApplySnapshotChunk).
//!
//! A served snapshot is exactly the bytes of a `BlockStore` snapshot
//! (docs/format.md §8), cut into chunks of `SNAPSHOT_CHUNK_BYTES`. Nothing
//! a peer sends is trusted except through CometBFT's light client, which
//! vouches for one thing: the app hash at the snapshot's height. So:
//!
//! * the metadata names each chunk's blake3 hash, and a chunk that does not
//!   match is refetched from another peer (`RETRY`, its sender rejected);
//! * the assembled bytes must hash to the snapshot's `hash`, decode, sit at
//!   the offered height, and rebuild a state whose root equals the trusted
//!   app hash; anything else rejects the whole snapshot (`REJECT_SNAPSHOT`),
//!   and CometBFT tries another.
//!
//! The chain id and genesis hash ride in the metadata and are not covered
//! by the app hash (which is the state root alone). A snapshot that lies
//! about them builds a node whose first block with a transaction computes
//! another app hash than the chain's, which CometBFT detects and halts on;
//! it cannot make the node accept a state the chain did not commit.
//! Format: docs/format.md §14.

use std::collections::btree_map::{BTreeMap, Entry};
use std::error::Error;
use std::fmt;
use std::path::Path;

use tendermint_proto::v0_38::abci::{
    response_apply_snapshot_chunk::Result as ApplyResult, response_offer_snapshot::Result as OfferResult, Snapshot,
};

use crate::byte_reader::{ByteReader, Truncated};
use crate::limits::METADATA_BYTES_MAX;
pub use crate::limits::{SNAPSHOT_CHUNKS_MAX, SNAPSHOT_CHUNK_BYTES};
use crate::persist::{decode_snapshot, RecordError, SnapshotContents};
use crate::state::State;
use crate::tx::{ChainId, ChainIdError};
use sluice_storage::SnapshotStore;

/// The snapshot format this node serves and restores.
pub const SNAPSHOT_FORMAT: u32 = 1;
/// Version byte at offset 0 of the metadata.
const METADATA_VERSION: u8 = 1;

/// What a snapshot's metadata says: who the chain is, the root the state
/// must rebuild, and the hash of every chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMetadata {
    pub chain_id: ChainId,
    /// `blake3(app_state)` of the chain's genesis.
    pub app_state_hash: [u8; 32],
    pub state_root: [u8; 32],
    pub chunk_hashes: Vec<[u8; 32]>,
}

impl SnapshotMetadata {
    /// `version u8 | chain_id_len u8 | chain_id | app_state_hash [32] |
    /// state_root [32] | chunks u32 | chunk_hash [32] × chunks`.
    pub fn encode(&self) -> Vec<u8> {
        let chain = self.chain_id.as_str().as_bytes();
        let mut out = Vec::with_capacity(METADATA_BYTES_MAX.min(128 + 32 * self.chunk_hashes.len()));
        out.push(METADATA_VERSION);
        out.push(chain.len() as u8);
        out.extend_from_slice(chain);
        out.extend_from_slice(&self.app_state_hash);
        out.extend_from_slice(&self.state_root);
        out.extend_from_slice(&(self.chunk_hashes.len() as u32).to_le_bytes());
        for hash in &self.chunk_hashes {
            out.extend_from_slice(hash);
        }
        out
    }

    /// Total: any bytes give metadata or a reason, never a panic or an
    /// allocation beyond the input's size.
    pub fn decode(bytes: &[u8]) -> Result<SnapshotMetadata, MetadataError> {
        use MetadataErrorKind::*;
        if bytes.len() > METADATA_BYTES_MAX {
            return Err(MetadataError { offset: 0, kind: TooLarge { len: bytes.len() } });
        }
        let mut r = ByteReader::<MetadataError>::new(bytes);
        let offset = r.offset();
        let version = r.u8("version")?;
        if version != METADATA_VERSION {
            return Err(MetadataError { offset, kind: UnsupportedVersion { version } });
        }
        let chain_len = usize::from(r.u8("chain id length")?);
        let offset = r.offset();
        let chain = r.take(chain_len, "chain id")?;
        let chain = std::str::from_utf8(chain).map_err(|_| MetadataError { offset, kind: ChainIdNotUtf8 })?;
        let chain_id = ChainId::new(chain).map_err(|error| MetadataError { offset, kind: InvalidChainId(error) })?;
        let app_state_hash = r.array("app_state hash")?;
        let state_root = r.array("state root")?;
        let offset = r.offset();
        let count = r.u32("chunk count")?;
        if count == 0 || count > SNAPSHOT_CHUNKS_MAX {
            return Err(MetadataError { offset, kind: ChunkCount { count } });
        }
        let hashes = r.take(32 * count as usize, "chunk hashes")?;
        let chunk_hashes = hashes.chunks_exact(32).map(|hash| hash.try_into().expect("32 bytes")).collect();
        if r.remaining() != 0 {
            return Err(MetadataError { offset: r.offset(), kind: TrailingBytes { count: r.remaining() } });
        }
        Ok(SnapshotMetadata { chain_id, app_state_hash, state_root, chunk_hashes })
    }
}

impl From<Truncated> for MetadataError {
    fn from(short: Truncated) -> MetadataError {
        MetadataError { offset: short.offset, kind: MetadataErrorKind::Truncated { field: short.field } }
    }
}

/// Why snapshot metadata does not decode, and the byte offset of the field
/// that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataError {
    pub offset: usize,
    pub kind: MetadataErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataErrorKind {
    /// Over the largest metadata a snapshot the store writes can have.
    TooLarge {
        len: usize,
    },
    /// The bytes end inside `field`.
    Truncated {
        field: &'static str,
    },
    UnsupportedVersion {
        version: u8,
    },
    ChainIdNotUtf8,
    /// A chain id that transactions cannot be signed over.
    InvalidChainId(ChainIdError),
    /// Not `1..=SNAPSHOT_CHUNKS_MAX`.
    ChunkCount {
        count: u32,
    },
    TrailingBytes {
        count: usize,
    },
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MetadataErrorKind::*;
        match &self.kind {
            TooLarge { len } => write!(f, "metadata of {len} bytes exceeds {METADATA_BYTES_MAX}"),
            Truncated { field } => write!(f, "metadata ends inside {field} at byte {}", self.offset),
            UnsupportedVersion { .. } => write!(f, "metadata version is not {METADATA_VERSION}"),
            ChainIdNotUtf8 => f.write_str("chain id is not UTF-8"),
            InvalidChainId(error) => write!(f, "chain id: {error}"),
            ChunkCount { count } => write!(f, "{count} chunks: must be 1..={SNAPSHOT_CHUNKS_MAX}"),
            TrailingBytes { count } => write!(f, "{count} trailing bytes after the chunk hashes"),
        }
    }
}

impl Error for MetadataError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            MetadataErrorKind::InvalidChainId(error) => Some(error),
            _ => None,
        }
    }
}

/// What a restored snapshot must say about its chain, when the operator
/// pinned it (`[statesync]` in sluice.toml); `None`: taken on trust.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedIdentity {
    pub chain_id: Option<ChainId>,
    pub app_state_hash: Option<[u8; 32]>,
}

/// Who the serving chain is, for the metadata.
#[derive(Clone, Debug)]
pub struct ChainIdentity {
    pub chain_id: ChainId,
    pub app_state_hash: [u8; 32],
}

/// The serving side: describes a store's snapshots and hands out their
/// chunks. It reads the snapshot directory itself, so the node serves
/// peers without holding the application's lock: a peer asking for
/// chunks never stalls FinalizeBlock. Describing a snapshot reads and
/// hashes it whole, so each is described once and kept; a chunk is read
/// alone, from its offset.
#[derive(Default)]
pub struct SnapshotServer {
    described: BTreeMap<u64, Snapshot>,
}

impl SnapshotServer {
    /// The snapshots in `dir` that read back intact, newest first. A
    /// damaged one is left out: it would only be rejected by the peer.
    pub fn list(&mut self, dir: &Path, identity: &ChainIdentity) -> Vec<Snapshot> {
        let Ok(snapshots) = SnapshotStore::open_read_only(dir) else { return Vec::new() };
        let heights = snapshots.heights().unwrap_or_default();
        self.described.retain(|height, _| heights.contains(height));
        let mut listed = Vec::with_capacity(heights.len());
        for height in heights.into_iter().rev() {
            if let Entry::Vacant(slot) = self.described.entry(height) {
                let Ok(bytes) = snapshots.read(height) else { continue };
                let Some(snapshot) = describe(height, &bytes, identity) else { continue };
                slot.insert(snapshot);
            }
            listed.extend(self.described.get(&height).cloned());
        }
        listed
    }
}

/// Chunk `index` of snapshot `height` in `dir`; empty if there is no such
/// chunk (CometBFT then asks another peer).
pub fn load_chunk(dir: &Path, height: u64, format: u32, index: u32) -> Vec<u8> {
    if format != SNAPSHOT_FORMAT || index >= SNAPSHOT_CHUNKS_MAX {
        return Vec::new();
    }
    let offset = u64::from(index) * SNAPSHOT_CHUNK_BYTES as u64;
    SnapshotStore::open_read_only(dir)
        .and_then(|snapshots| snapshots.read_range(height, offset, SNAPSHOT_CHUNK_BYTES))
        .unwrap_or_default()
}

/// The CometBFT description of snapshot bytes; `None` if they do not
/// decode or are too large to serve.
fn describe(height: u64, bytes: &[u8], identity: &ChainIdentity) -> Option<Snapshot> {
    let chunks = bytes.len().div_ceil(SNAPSHOT_CHUNK_BYTES);
    if chunks == 0 || chunks > SNAPSHOT_CHUNKS_MAX as usize {
        return None;
    }
    let contents = decode_snapshot(bytes).ok()?;
    let metadata = SnapshotMetadata {
        chain_id: identity.chain_id.clone(),
        app_state_hash: identity.app_state_hash,
        state_root: contents.state_root,
        chunk_hashes: bytes.chunks(SNAPSHOT_CHUNK_BYTES).map(|chunk| *blake3::hash(chunk).as_bytes()).collect(),
    };
    Some(Snapshot {
        height,
        format: SNAPSHOT_FORMAT,
        chunks: chunks as u32,
        hash: blake3::hash(bytes).as_bytes().to_vec().into(),
        metadata: metadata.encode().into(),
    })
}

/// A snapshot being restored: accepted by OfferSnapshot, filled by
/// ApplySnapshotChunk.
pub struct Restore {
    pub height: u64,
    hash: [u8; 32],
    /// The app hash CometBFT's light client trusts at `height`.
    pub trusted_app_hash: [u8; 32],
    pub metadata: SnapshotMetadata,
    chunks: Vec<Option<Vec<u8>>>,
    received: usize,
}

/// What ApplySnapshotChunk should answer.
pub enum ChunkVerdict {
    /// Stored; more chunks to come.
    Accepted,
    /// The last chunk: the snapshot is whole, checked, and decoded.
    Complete(Box<RestoredSnapshot>),
    /// Bad chunk: fetch it again from someone else.
    Refetch { index: u32, reason: RestoreError },
    /// The snapshot as a whole is bad.
    Reject(RestoreError),
}

/// A whole snapshot whose state rebuilt the trusted app hash.
pub struct RestoredSnapshot {
    /// The snapshot's bytes, as the store keeps them.
    pub bytes: Vec<u8>,
    pub height: u64,
    /// Hash of the Sluice block at `height`, as the snapshot says.
    pub block_hash: [u8; 32],
    pub state: State,
}

impl Restore {
    /// Checks an offer: our format, a sane chunk count, metadata that
    /// decodes and names the same chunk count and the trusted root.
    pub fn offer(
        snapshot: &Snapshot,
        app_hash: &[u8],
        trusted: &TrustedIdentity,
    ) -> Result<Restore, (OfferResult, RestoreError)> {
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err((OfferResult::RejectFormat, RestoreError::Format { format: snapshot.format }));
        }
        let reject = |reason: RestoreError| (OfferResult::Reject, reason);
        let trusted_app_hash: [u8; 32] =
            app_hash.try_into().map_err(|_| reject(RestoreError::TrustedAppHashLength { len: app_hash.len() }))?;
        let hash: [u8; 32] = snapshot
            .hash
            .as_ref()
            .try_into()
            .map_err(|_| reject(RestoreError::SnapshotHashLength { len: snapshot.hash.len() }))?;
        if snapshot.height == 0 {
            return Err(reject(RestoreError::HeightZero));
        }
        let metadata = SnapshotMetadata::decode(&snapshot.metadata).map_err(|e| reject(RestoreError::Metadata(e)))?;
        if metadata.chunk_hashes.len() != snapshot.chunks as usize {
            let hashed = metadata.chunk_hashes.len();
            return Err(reject(RestoreError::ChunkCountMismatch { offered: snapshot.chunks, hashed }));
        }
        if metadata.state_root != trusted_app_hash {
            return Err(reject(RestoreError::StateRootNotTrusted));
        }
        if trusted.chain_id.as_ref().is_some_and(|chain_id| *chain_id != metadata.chain_id) {
            return Err(reject(RestoreError::ChainIdNotPinned { chain_id: metadata.chain_id }));
        }
        if trusted.app_state_hash.is_some_and(|hash| hash != metadata.app_state_hash) {
            return Err(reject(RestoreError::GenesisHashNotPinned { hash: metadata.app_state_hash }));
        }
        let chunks = vec![None; metadata.chunk_hashes.len()];
        Ok(Restore { height: snapshot.height, hash, trusted_app_hash, metadata, chunks, received: 0 })
    }

    /// Takes chunk `index`. A chunk already held is accepted again without
    /// change (CometBFT may re-deliver one it refetched).
    pub fn apply(&mut self, index: u32, chunk: Vec<u8>) -> ChunkVerdict {
        let Some(expected) = self.metadata.chunk_hashes.get(index as usize) else {
            return ChunkVerdict::Reject(RestoreError::NoSuchChunk { index, chunks: self.chunks.len() });
        };
        if chunk.len() > SNAPSHOT_CHUNK_BYTES || blake3::hash(&chunk).as_bytes() != expected {
            let reason = RestoreError::ChunkHashMismatch { index, len: chunk.len() };
            return ChunkVerdict::Refetch { index, reason };
        }
        let slot = &mut self.chunks[index as usize];
        if slot.is_none() {
            *slot = Some(chunk);
            self.received += 1;
        }
        if self.received < self.chunks.len() {
            return ChunkVerdict::Accepted;
        }
        match self.assemble() {
            Ok(restored) => ChunkVerdict::Complete(Box::new(restored)),
            Err(reason) => ChunkVerdict::Reject(reason),
        }
    }

    fn assemble(&mut self) -> Result<RestoredSnapshot, RestoreError> {
        let total: usize = self.chunks.iter().flatten().map(Vec::len).sum();
        let mut bytes = Vec::with_capacity(total);
        for chunk in self.chunks.drain(..).flatten() {
            bytes.extend_from_slice(&chunk);
        }
        if *blake3::hash(&bytes).as_bytes() != self.hash {
            return Err(RestoreError::SnapshotHashMismatch);
        }
        let contents = decode_snapshot(&bytes).map_err(RestoreError::Decode)?;
        if contents.height != self.height {
            return Err(RestoreError::HeightMismatch { held: contents.height, offered: self.height });
        }
        let SnapshotContents { height, block_hash, state_root, accounts } = contents;
        let state = State::from_accounts(accounts);
        if state_root != self.trusted_app_hash || state.root() != self.trusted_app_hash {
            return Err(RestoreError::StateRootMismatch { height });
        }
        Ok(RestoredSnapshot { bytes, height, block_hash, state })
    }
}

/// Why an offered snapshot, or a chunk of it, is refused.
#[derive(Debug)]
pub enum RestoreError {
    /// Not [`SNAPSHOT_FORMAT`].
    Format {
        format: u32,
    },
    /// The app hash CometBFT's light client trusts is not 32 bytes.
    TrustedAppHashLength {
        len: usize,
    },
    SnapshotHashLength {
        len: usize,
    },
    HeightZero,
    Metadata(MetadataError),
    /// The offer's chunk count is not the metadata's.
    ChunkCountMismatch {
        offered: u32,
        hashed: usize,
    },
    /// The metadata's state root is not the trusted app hash.
    StateRootNotTrusted,
    /// Another chain id than `statesync.chain_id` pins.
    ChainIdNotPinned {
        chain_id: ChainId,
    },
    /// Another genesis hash than `statesync.genesis_hash` pins.
    GenesisHashNotPinned {
        hash: [u8; 32],
    },
    /// A chunk index past the snapshot's chunks.
    NoSuchChunk {
        index: u32,
        chunks: usize,
    },
    /// A chunk that does not hash to the metadata's hash for it.
    ChunkHashMismatch {
        index: u32,
        len: usize,
    },
    /// The assembled bytes do not hash to the snapshot's hash.
    SnapshotHashMismatch,
    /// The assembled bytes are not a snapshot.
    Decode(RecordError),
    HeightMismatch {
        held: u64,
        offered: u64,
    },
    /// The snapshot's state does not rebuild the trusted app hash.
    StateRootMismatch {
        height: u64,
    },
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Format { format } => write!(f, "format {format} is not {SNAPSHOT_FORMAT}"),
            RestoreError::TrustedAppHashLength { len } => write!(f, "trusted app hash has {len} bytes"),
            RestoreError::SnapshotHashLength { .. } => f.write_str("snapshot hash is not 32 bytes"),
            RestoreError::HeightZero => f.write_str("height 0"),
            RestoreError::Metadata(error) => error.fmt(f),
            RestoreError::ChunkCountMismatch { offered, hashed } => {
                write!(f, "{offered} chunks offered, metadata hashes {hashed}")
            }
            RestoreError::StateRootNotTrusted => f.write_str("the metadata's state root is not the trusted app hash"),
            RestoreError::ChainIdNotPinned { chain_id } => {
                write!(f, "chain id {:?} is not statesync.chain_id", chain_id.as_str())
            }
            RestoreError::GenesisHashNotPinned { hash } => {
                write!(f, "genesis hash {} is not statesync.genesis_hash", hex::encode(hash))
            }
            RestoreError::NoSuchChunk { index, chunks } => write!(f, "chunk {index} of {chunks} does not exist"),
            RestoreError::ChunkHashMismatch { index, len } => {
                write!(f, "chunk {index} ({len} bytes) does not match its hash in the metadata")
            }
            RestoreError::SnapshotHashMismatch => f.write_str("the assembled snapshot does not match its hash"),
            RestoreError::Decode(error) => write!(f, "the snapshot does not decode: {error}"),
            RestoreError::HeightMismatch { held, offered } => {
                write!(f, "the snapshot holds height {held}, offered as {offered}")
            }
            RestoreError::StateRootMismatch { .. } => {
                f.write_str("the snapshot's state does not rebuild the trusted app hash")
            }
        }
    }
}

impl Error for RestoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            // Shown as its own message: what comes next is its source.
            RestoreError::Metadata(error) => error.source(),
            RestoreError::Decode(error) => Some(error),
            _ => None,
        }
    }
}

/// The answer to ApplySnapshotChunk for a verdict: a bad chunk is
/// refetched and its sender rejected, so CometBFT asks another peer.
pub fn apply_result(verdict: &ChunkVerdict) -> ApplyResult {
    match verdict {
        ChunkVerdict::Accepted | ChunkVerdict::Complete(_) => ApplyResult::Accept,
        ChunkVerdict::Refetch { .. } => ApplyResult::Retry,
        ChunkVerdict::Reject(_) => ApplyResult::RejectSnapshot,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn metadata(chunks: usize) -> SnapshotMetadata {
        SnapshotMetadata {
            chain_id: ChainId::new("statesync-test").unwrap(),
            app_state_hash: [1; 32],
            state_root: [2; 32],
            chunk_hashes: (0..chunks).map(|i| [i as u8; 32]).collect(),
        }
    }

    /// A snapshot at `height` as a peer would offer it, with `meta`'s chunks.
    fn offered(height: u64, meta: &SnapshotMetadata, hash: Vec<u8>) -> Snapshot {
        let chunks = meta.chunk_hashes.len() as u32;
        Snapshot { height, format: SNAPSHOT_FORMAT, chunks, hash: hash.into(), metadata: meta.encode().into() }
    }

    #[test]
    fn metadata_round_trips_and_every_truncation_is_named() {
        let original = metadata(3);
        let bytes = original.encode();
        assert_eq!(SnapshotMetadata::decode(&bytes).unwrap(), original);
        for len in 0..bytes.len() {
            assert!(SnapshotMetadata::decode(&bytes[..len]).is_err(), "cut at {len}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        let error = SnapshotMetadata::decode(&trailing).unwrap_err();
        assert!(error.to_string().contains("trailing"), "{error}");
        assert_eq!((error.offset, error.kind), (bytes.len(), MetadataErrorKind::TrailingBytes { count: 1 }));
        let cut = SnapshotMetadata::decode(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(matches!(cut.kind, MetadataErrorKind::Truncated { field: "chunk hashes" }), "{cut}");
        assert!(SnapshotMetadata::decode(&metadata(0).encode()).unwrap_err().to_string().contains("0 chunks"));
        let too_many = metadata(SNAPSHOT_CHUNKS_MAX as usize + 1).encode();
        assert!(SnapshotMetadata::decode(&too_many).is_err());
    }

    #[test]
    fn offers_are_checked_before_anything_is_kept() {
        let meta = metadata(2);
        let snapshot = offered(7, &meta, vec![0; 32]);
        assert!(Restore::offer(&snapshot, &meta.state_root, &TrustedIdentity::default()).is_ok());
        let refused = |snapshot: &Snapshot, app_hash: &[u8]| {
            Restore::offer(snapshot, app_hash, &TrustedIdentity::default()).err().unwrap().0
        };
        assert_eq!(refused(&snapshot, &[9; 32]), OfferResult::Reject, "not the trusted root");
        assert_eq!(refused(&snapshot, &[2; 31]), OfferResult::Reject, "app hash length");
        assert_eq!(refused(&Snapshot { chunks: 3, ..snapshot.clone() }, &[2; 32]), OfferResult::Reject);
        assert_eq!(refused(&Snapshot { height: 0, ..snapshot.clone() }, &[2; 32]), OfferResult::Reject);
        assert_eq!(refused(&Snapshot { hash: vec![0; 5].into(), ..snapshot.clone() }, &[2; 32]), OfferResult::Reject);
        assert_eq!(refused(&Snapshot { format: 2, ..snapshot.clone() }, &[2; 32]), OfferResult::RejectFormat);
        // Pinned by the operator: another chain id or genesis is refused.
        let pinned = |chain: &str, hash: [u8; 32]| TrustedIdentity {
            chain_id: Some(ChainId::new(chain).unwrap()),
            app_state_hash: Some(hash),
        };
        assert!(Restore::offer(&snapshot, &meta.state_root, &pinned("statesync-test", [1; 32])).is_ok());
        for trusted in [pinned("other-chain", [1; 32]), pinned("statesync-test", [7; 32])] {
            let (result, reason) = Restore::offer(&snapshot, &meta.state_root, &trusted).err().unwrap();
            assert_eq!(result, OfferResult::Reject, "{reason}");
            assert!(reason.to_string().contains("statesync."), "{reason}");
        }
    }

    #[test]
    fn a_bad_chunk_is_refetched_and_a_missing_index_rejects() {
        let chunk = vec![5u8; 100];
        let meta = SnapshotMetadata { chunk_hashes: vec![*blake3::hash(&chunk).as_bytes(); 2], ..metadata(2) };
        let snapshot = offered(7, &meta, vec![0; 32]);
        let mut restore = Restore::offer(&snapshot, &meta.state_root, &TrustedIdentity::default()).unwrap();
        assert!(matches!(restore.apply(0, vec![6u8; 100]), ChunkVerdict::Refetch { index: 0, .. }));
        assert!(matches!(restore.apply(0, chunk.clone()), ChunkVerdict::Accepted));
        assert!(matches!(restore.apply(0, chunk.clone()), ChunkVerdict::Accepted), "a repeat changes nothing");
        assert!(matches!(restore.apply(2, chunk.clone()), ChunkVerdict::Reject(_)));
        // The last chunk completes it, but the whole does not hash to the
        // snapshot's hash (zeros here): rejected whole.
        assert!(matches!(restore.apply(1, chunk), ChunkVerdict::Reject(reason) if reason.to_string().contains("hash")));
    }

    proptest! {
        #[test]
        fn arbitrary_metadata_and_chunks_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            index in 0u32..4,
        ) {
            let _ = SnapshotMetadata::decode(&bytes);
            let meta = metadata(3);
            let snapshot = offered(1, &meta, blake3::hash(&bytes).as_bytes().to_vec());
            let mut restore = Restore::offer(&snapshot, &meta.state_root, &TrustedIdentity::default()).unwrap();
            let _ = restore.apply(index, bytes);
        }
    }
}
