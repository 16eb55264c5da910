//! Recent transaction results, by CometBFT hash: what the Query path
//! `/tx/<64 hex digits>` answers, so that a client can confirm a commit
//! without CometBFT's transaction indexer.
//!
//! Why: CometBFT's `kv` indexer costs a third of a 2-core validator's
//! throughput (docs/architecture.md, "Chain throughput"); validators
//! commonly run with `indexer = "null"` and leave indexing to RPC nodes.
//! This cache keeps the last [`TX_STATUS_TXS_MAX`] results in memory,
//! like Solana's status cache, in whole blocks: a block is dropped, oldest
//! first, only when the ones after it hold the bound by themselves.
//! Older results are CometBFT's `/tx` on an indexing node.

use std::collections::{HashMap, VecDeque};

pub use crate::limits::TX_STATUS_TXS_MAX;
use serde_json::{json, Value};

pub const QUERY_TX_PREFIX: &str = "/tx/";

/// One committed transaction's place and result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxStatus {
    pub height: u64,
    pub index: u32,
    pub code: u32,
    /// Empty for a success.
    pub log: Box<str>,
}

impl TxStatus {
    pub fn to_json(&self, hash: &[u8; 32]) -> Value {
        json!({
            "hash": hex::encode_upper(hash),
            "height": self.height,
            "index": self.index,
            "code": self.code,
            "log": &*self.log,
        })
    }
}

pub struct TxStatusCache {
    by_hash: HashMap<[u8; 32], TxStatus, foldhash::fast::RandomState>,
    /// Each block's height and hashes, oldest first, for eviction.
    blocks: VecDeque<(u64, Vec<[u8; 32]>)>,
    txs_max: usize,
}

impl Default for TxStatusCache {
    fn default() -> Self {
        TxStatusCache::with_capacity(TX_STATUS_TXS_MAX)
    }
}

impl TxStatusCache {
    pub fn with_capacity(txs_max: usize) -> TxStatusCache {
        assert!(txs_max > 0);
        TxStatusCache { by_hash: HashMap::default(), blocks: VecDeque::new(), txs_max }
    }

    /// Records a committed block's results (`hashes[i]` has `results[i]`),
    /// dropping the oldest blocks beyond the bound.
    pub fn insert_block(&mut self, height: u64, hashes: Vec<[u8; 32]>, results: impl Iterator<Item = (u32, String)>) {
        for (index, (hash, (code, log))) in hashes.iter().zip(results).enumerate() {
            let status = TxStatus { height, index: index as u32, code, log: log.into_boxed_str() };
            // The same bytes twice in one chain: the later result is the
            // one a client waiting now is after.
            self.by_hash.insert(*hash, status);
        }
        if hashes.is_empty() {
            // An empty block has nothing to evict later: keeping it would
            // grow the list on an idle chain without bound.
            return;
        }
        self.blocks.push_back((height, hashes));
        while self.by_hash.len() > self.txs_max && self.blocks.len() > 1 {
            let (evicted, oldest) = self.blocks.pop_front().expect("more than one block");
            for hash in oldest {
                if self.by_hash.get(&hash).is_some_and(|status| status.height == evicted) {
                    self.by_hash.remove(&hash);
                }
            }
        }
    }

    pub fn get(&self, hash: &[u8; 32]) -> Option<&TxStatus> {
        self.by_hash.get(hash)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// The hash of a `/tx/<hex>` path, or why it is not one.
pub fn tx_path_hash(path: &str) -> Option<Result<[u8; 32], String>> {
    let text = path.strip_prefix(QUERY_TX_PREFIX)?;
    let text = text.strip_prefix("0x").unwrap_or(text);
    let mut hash = [0u8; 32];
    Some(match hex::decode_to_slice(text, &mut hash) {
        Ok(()) => Ok(hash),
        Err(_) => Err(format!("expected 64 hex digits (CometBFT's SHA-256 hash), got {text:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(cache: &mut TxStatusCache, height: u64, hashes: &[u8]) {
        let hashes: Vec<[u8; 32]> = hashes.iter().map(|&b| [b; 32]).collect();
        let results = hashes.iter().map(|h| (u32::from(h[0] % 2), String::new())).collect::<Vec<_>>();
        cache.insert_block(height, hashes, results.into_iter());
    }

    #[test]
    fn keeps_whole_recent_blocks_within_the_bound() {
        let mut cache = TxStatusCache::with_capacity(3);
        block(&mut cache, 1, &[1, 2]);
        block(&mut cache, 2, &[3]);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&[3; 32]).unwrap(), &TxStatus { height: 2, index: 0, code: 1, log: "".into() });
        block(&mut cache, 3, &[4, 5]);
        assert_eq!(cache.len(), 3, "block 1 dropped whole");
        assert!(cache.get(&[1; 32]).is_none() && cache.get(&[2; 32]).is_none());
        assert_eq!(cache.get(&[5; 32]).unwrap().index, 1);
        block(&mut cache, 4, &[6, 7, 8, 9]);
        assert_eq!(cache.len(), 4, "the newest block stays even past the bound");
        block(&mut cache, 5, &[]);
        assert_eq!(cache.blocks.len(), 1, "an empty block is not kept");
        block(&mut cache, 5, &[9]);
        assert_eq!(cache.get(&[9; 32]).unwrap().height, 5, "a repeat keeps the later result");
        assert_eq!(cache.len(), 1, "dropping block 4 kept block 5's result for the same hash");
    }

    #[test]
    fn paths() {
        assert!(tx_path_hash("/account/00").is_none());
        let hex = "AB".repeat(32);
        assert_eq!(tx_path_hash(&format!("/tx/{hex}")), Some(Ok([0xab; 32])));
        assert_eq!(tx_path_hash(&format!("/tx/0x{hex}")), Some(Ok([0xab; 32])));
        assert!(tx_path_hash("/tx/zz").unwrap().is_err());
    }
}
