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

/// The tests' seedable generator: their randomness is reproducible from
/// the seed they print.
pub use sluice_engine::splitmix64::SplitMix64;
