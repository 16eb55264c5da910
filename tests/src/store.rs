//! Reading a data directory the way the tests check it: every block's
//! hash and state root by height, straight from the log.

use std::collections::BTreeMap;
use std::path::Path;

use sluice_engine::persist::{decode_block_record, LOG_DIR_NAME, RECORD_KIND_BLOCK};
use sluice_storage::{LogReader, RecordMeta};

/// A block as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlock {
    pub hash: String,
    pub state_root: String,
    pub meta: RecordMeta,
}

/// Every block in the store at `dir`, by height (read-only).
pub fn stored_blocks(dir: &Path) -> BTreeMap<u64, StoredBlock> {
    let reader = LogReader::open(dir.join(LOG_DIR_NAME)).expect("log opens");
    let mut blocks = BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("record reads");
        if record.meta.kind != RECORD_KIND_BLOCK {
            continue;
        }
        let block = decode_block_record(&record.payload).expect("block record decodes");
        let stored = StoredBlock {
            hash: hex::encode(block.header.hash()),
            state_root: hex::encode(block.header.state_root),
            meta: record.meta,
        };
        blocks.insert(block.header.height, stored);
    }
    blocks
}

/// A small, seedable generator (splitmix64): the tests' randomness is
/// reproducible from the seed they print.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.next_u64() % bound
    }
}
