//! The node's durable record: what Commit writes and restart replays.
//!
//! Two record kinds in a `sluice_storage::CommitLog` under `DATA/chain`:
//!
//! | kind | height | payload |
//! |---|---|---|
//! | `JOURNAL_KIND_GENESIS` (0x12) | 0 | `chain_id_len u8 | chain_id | app_state_hash [32] | state_root [32] | app_state_len u32 | app_state` |
//! | `JOURNAL_KIND_BLOCK` (0x11) | CometBFT height | `app_hash [32] | tx_count u32 | (tx_len u32 | tx)*` |
//!
//! The genesis record holds InitChain's `app_state` bytes themselves, so a
//! data directory restarts without the genesis.json it began from; restart
//! checks them against their hash and the state they build against the
//! root. Kind 0x10, the seeded genesis record of earlier versions, is
//! refused by name.
//!
//! A block record holds the block's transactions exactly as CometBFT
//! delivered them, undecodable ones included, so that replay runs the very
//! same FinalizeBlock logic and checks that it reproduces `app_hash`.
//! Restart therefore costs re-execution of every block; the shared
//! `BlockStore`, with snapshots, is to replace this module without
//! changing the node: it only calls `open`, `blocks`, `append_genesis`
//! and `append_block`.

use std::path::Path;

use sluice_storage::{CommitLog, Durability, LogConfig};

use crate::block::BLOCK_TXS_MAX;
use crate::genesis::{app_state_hash, GENESIS_APP_STATE_BYTES_MAX};

/// The genesis record of versions that derived genesis from a seed in
/// sluice.toml; refused, since this version builds it from `app_state`.
pub const JOURNAL_KIND_GENESIS_SEEDED: u8 = 0x10;
pub const JOURNAL_KIND_BLOCK: u8 = 0x11;
pub const JOURNAL_KIND_GENESIS: u8 = 0x12;
/// Record payloads: CometBFT's 21 MiB default block plus per-tx framing,
/// with headroom; it also holds the largest genesis app state. Segments
/// are sized to hold one such record.
pub const JOURNAL_RECORD_BYTES_MAX: u64 = 48 * 1024 * 1024;
const JOURNAL_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const JOURNAL_DIR_NAME: &str = "chain";
const _: () = assert!(GENESIS_APP_STATE_BYTES_MAX as u64 + 1024 <= JOURNAL_RECORD_BYTES_MAX);

/// The genesis a journal's chain started from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisRecord {
    pub chain_id: String,
    /// `blake3(app_state)`: identifies the genesis, compared at InitChain.
    pub app_state_hash: [u8; 32],
    /// Root of the state `app_state` builds.
    pub state_root: [u8; 32],
    /// InitChain's `app_state_bytes`, exactly.
    pub app_state: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    pub height: u64,
    pub app_hash: [u8; 32],
    pub txs: Vec<Vec<u8>>,
}

pub struct Journal {
    log: CommitLog,
}

impl Journal {
    pub fn open(data_dir: &Path, durability: Durability) -> Result<Journal, String> {
        let dir = data_dir.join(JOURNAL_DIR_NAME);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut config = LogConfig::new(&dir);
        config.durability = durability;
        config.segment_size_bytes = JOURNAL_SEGMENT_BYTES;
        config.record_size_max = JOURNAL_RECORD_BYTES_MAX;
        let (log, _report) = CommitLog::open(config).map_err(|e| format!("journal {}: {e}", dir.display()))?;
        Ok(Journal { log })
    }

    /// The genesis record, if InitChain has been journaled.
    pub fn genesis(&self) -> Result<Option<GenesisRecord>, String> {
        match self.log.records().next() {
            None => Ok(None),
            Some(Err(e)) => Err(format!("journal: {e}")),
            Some(Ok(record)) if record.meta.kind == JOURNAL_KIND_GENESIS => {
                GenesisRecord::decode(&record.payload).map(Some)
            }
            Some(Ok(record)) if record.meta.kind == JOURNAL_KIND_GENESIS_SEEDED => {
                Err("journal: written by an earlier sluice whose genesis came from [genesis] seed in sluice.toml; \
                 this version builds genesis from app_state in CometBFT's genesis.json: start the chain again \
                 in a new data directory (see docs/operations.md, \"Run a chain\")"
                    .to_string())
            }
            Some(Ok(record)) => Err(format!("journal: first record has kind {:#x}, not genesis", record.meta.kind)),
        }
    }

    /// Every block record in height order.
    pub fn blocks(&self) -> impl Iterator<Item = Result<BlockRecord, String>> + '_ {
        self.log.records().filter_map(|record| match record {
            Err(e) => Some(Err(format!("journal: {e}"))),
            Ok(record) if record.meta.kind == JOURNAL_KIND_BLOCK => {
                Some(BlockRecord::decode(record.meta.height, &record.payload))
            }
            Ok(_) => None,
        })
    }

    pub fn append_genesis(&mut self, genesis: &GenesisRecord) -> Result<(), String> {
        self.append(JOURNAL_KIND_GENESIS, 0, &genesis.encode())
    }

    /// Returns once the record is as durable as the configured mode makes it.
    pub fn append_block(&mut self, block: &BlockRecord) -> Result<(), String> {
        self.append(JOURNAL_KIND_BLOCK, block.height, &block.encode())
    }

    fn append(&mut self, kind: u8, height: u64, payload: &[u8]) -> Result<(), String> {
        self.log.append(kind, height, payload).map(|_| ()).map_err(|e| format!("journal append: {e}"))
    }
}

impl GenesisRecord {
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.chain_id.len() <= u8::MAX as usize, "chain ids are validated to 64 bytes");
        assert!(self.app_state.len() <= GENESIS_APP_STATE_BYTES_MAX, "InitChain checks the app state's size");
        let mut out = Vec::with_capacity(1 + self.chain_id.len() + 64 + 4 + self.app_state.len());
        out.push(self.chain_id.len() as u8);
        out.extend_from_slice(self.chain_id.as_bytes());
        out.extend_from_slice(&self.app_state_hash);
        out.extend_from_slice(&self.state_root);
        out.extend_from_slice(&(self.app_state.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.app_state);
        out
    }

    /// Decodes the record and checks the app state against its hash.
    pub fn decode(bytes: &[u8]) -> Result<GenesisRecord, String> {
        let mut reader = Reader { bytes, offset: 0 };
        let len = reader.take_array::<1>()?[0] as usize;
        let chain_id =
            String::from_utf8(reader.take(len)?.to_vec()).map_err(|_| "genesis record: chain id not UTF-8")?;
        let hash = reader.take_array::<32>()?;
        let state_root = reader.take_array::<32>()?;
        let app_state_len = u32::from_le_bytes(reader.take_array()?) as usize;
        if app_state_len > GENESIS_APP_STATE_BYTES_MAX {
            return Err(format!("genesis record: app state of {app_state_len} bytes exceeds the limit"));
        }
        let app_state = reader.take(app_state_len)?.to_vec();
        reader.finish()?;
        if app_state_hash(&app_state) != hash {
            return Err("genesis record: the app state does not match its hash".to_string());
        }
        Ok(GenesisRecord { chain_id, app_state_hash: hash, state_root, app_state })
    }
}

impl BlockRecord {
    pub fn encode(&self) -> Vec<u8> {
        let bytes: usize = self.txs.iter().map(|tx| 4 + tx.len()).sum();
        let mut out = Vec::with_capacity(36 + bytes);
        out.extend_from_slice(&self.app_hash);
        out.extend_from_slice(&(self.txs.len() as u32).to_le_bytes());
        for tx in &self.txs {
            out.extend_from_slice(&(tx.len() as u32).to_le_bytes());
            out.extend_from_slice(tx);
        }
        out
    }

    pub fn decode(height: u64, bytes: &[u8]) -> Result<BlockRecord, String> {
        let mut reader = Reader { bytes, offset: 0 };
        let app_hash = reader.take_array::<32>()?;
        let count = u32::from_le_bytes(reader.take_array()?) as usize;
        if count > BLOCK_TXS_MAX {
            return Err(format!("block record at height {height}: {count} txs exceeds BLOCK_TXS_MAX"));
        }
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            let len = u32::from_le_bytes(reader.take_array()?) as usize;
            txs.push(reader.take(len)?.to_vec());
        }
        reader.finish()?;
        Ok(BlockRecord { height, app_hash, txs })
    }
}

/// Bounds-checked reads: a short or long payload is an error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self.offset.checked_add(len).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("journal record truncated at byte {}", self.offset))?;
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(slice)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn finish(self) -> Result<(), String> {
        if self.offset == self.bytes.len() {
            Ok(())
        } else {
            Err(format!("journal record has {} trailing bytes", self.bytes.len() - self.offset))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let app_state = br#"{"seeded":{"seed":"3","accounts":10,"balance":"5"}}"#.to_vec();
        let genesis = GenesisRecord {
            chain_id: "c".into(),
            app_state_hash: app_state_hash(&app_state),
            state_root: [1; 32],
            app_state,
        };
        let block = BlockRecord { height: 1, app_hash: [7; 32], txs: vec![vec![1, 2], vec![]] };
        {
            let mut journal = Journal::open(dir.path(), Durability::Sync).unwrap();
            assert_eq!(journal.genesis().unwrap(), None);
            journal.append_genesis(&genesis).unwrap();
            journal.append_block(&block).unwrap();
        }
        let journal = Journal::open(dir.path(), Durability::Sync).unwrap();
        assert_eq!(journal.genesis().unwrap(), Some(genesis.clone()));
        let blocks: Vec<BlockRecord> = journal.blocks().collect::<Result<_, _>>().unwrap();
        assert_eq!(blocks, vec![block.clone()]);
        let encoded = block.encode();
        for cut in 0..encoded.len() {
            assert!(BlockRecord::decode(1, &encoded[..cut]).is_err(), "truncated at {cut}");
        }
        let mut tampered = genesis.encode();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(GenesisRecord::decode(&tampered).unwrap_err().contains("hash"));
    }

    #[test]
    fn a_seeded_genesis_record_of_earlier_versions_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut journal = Journal::open(dir.path(), Durability::Sync).unwrap();
            let old = [1u64.to_le_bytes().as_slice(), &1000u32.to_le_bytes(), &[1, b'c']].concat();
            journal.append(JOURNAL_KIND_GENESIS_SEEDED, 0, &old).unwrap();
        }
        let error = Journal::open(dir.path(), Durability::Sync).unwrap().genesis().unwrap_err();
        assert!(error.contains("earlier sluice") && error.contains("new data directory"), "{error}");
    }
}
