//! The node's durable record: what Commit writes and restart replays.
//!
//! Two record kinds in a `sluice_storage::CommitLog` under `DATA/chain`:
//!
//! | kind | height | payload |
//! |---|---|---|
//! | `JOURNAL_KIND_GENESIS` (0x10) | 0 | `seed u64 | accounts u32 | chain_id_len u8 | chain_id` |
//! | `JOURNAL_KIND_BLOCK` (0x11) | CometBFT height | `app_hash [32] | tx_count u32 | (tx_len u32 | tx)*` |
//!
//! A block record holds the block's transactions exactly as CometBFT
//! delivered them, undecodable ones included, so that replay runs the very
//! same FinalizeBlock logic and checks that it reproduces `app_hash`.
//! Restart therefore costs re-execution of every block; snapshots and the
//! shared `BlockStore` (being written elsewhere) replace this module
//! without changing the node: it only calls `open`, `blocks`,
//! `append_genesis` and `append_block`.

use std::path::Path;

use sluice_storage::{CommitLog, Durability, LogConfig};

use crate::block::BLOCK_TXS_MAX;

pub const JOURNAL_KIND_GENESIS: u8 = 0x10;
pub const JOURNAL_KIND_BLOCK: u8 = 0x11;
/// Record payloads: CometBFT's 21 MiB default block plus per-tx framing,
/// with headroom. Segments are sized to hold one such record.
pub const JOURNAL_RECORD_BYTES_MAX: u64 = 48 * 1024 * 1024;
const JOURNAL_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const JOURNAL_DIR_NAME: &str = "chain";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisRecord {
    pub seed: u64,
    pub accounts: u32,
    pub chain_id: String,
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
        let mut out = Vec::with_capacity(13 + self.chain_id.len());
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.accounts.to_le_bytes());
        out.push(self.chain_id.len() as u8);
        out.extend_from_slice(self.chain_id.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<GenesisRecord, String> {
        let mut reader = Reader { bytes, offset: 0 };
        let seed = u64::from_le_bytes(reader.take_array()?);
        let accounts = u32::from_le_bytes(reader.take_array()?);
        let len = reader.take_array::<1>()?[0] as usize;
        let chain_id =
            String::from_utf8(reader.take(len)?.to_vec()).map_err(|_| "genesis record: chain id not UTF-8")?;
        reader.finish()?;
        Ok(GenesisRecord { seed, accounts, chain_id })
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
        let genesis = GenesisRecord { seed: 3, accounts: 10, chain_id: "c".into() };
        let block = BlockRecord { height: 1, app_hash: [7; 32], txs: vec![vec![1, 2], vec![]] };
        {
            let mut journal = Journal::open(dir.path(), Durability::Sync).unwrap();
            assert_eq!(journal.genesis().unwrap(), None);
            journal.append_genesis(&genesis).unwrap();
            journal.append_block(&block).unwrap();
        }
        let journal = Journal::open(dir.path(), Durability::Sync).unwrap();
        assert_eq!(journal.genesis().unwrap(), Some(genesis));
        let blocks: Vec<BlockRecord> = journal.blocks().collect::<Result<_, _>>().unwrap();
        assert_eq!(blocks, vec![block.clone()]);
        let encoded = block.encode();
        for cut in 0..encoded.len() {
            assert!(BlockRecord::decode(1, &encoded[..cut]).is_err(), "truncated at {cut}");
        }
    }
}
