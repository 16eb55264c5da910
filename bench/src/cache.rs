//! Workloads cached on disk, so that signing is never part of a measurement
//! and a rerun starts measuring at once.
//!
//! A cache file holds everything a benchmark needs: the genesis account ids
//! (deriving 100k public keys takes seconds) and the signed transactions.
//! Its name is derived from the workload spec, and its last 32 bytes are
//! blake3 of everything before them. A file that fails that check, or that
//! was written for another spec, is regenerated, never trusted.
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `SLUICEWL` |
//! | 4 | version u32 LE (1) |
//! | 4 | accounts u32 LE |
//! | 8 | transaction count u64 LE |
//! | 32 × accounts | genesis account ids, in index order |
//! | per transaction | length u16 LE, then the encoded transaction |
//! | 32 | blake3 of all the bytes above |

use std::path::{Path, PathBuf};

use sluice_engine::account::{Account, AccountId};
use sluice_engine::state::{State, GENESIS_BALANCE};
use sluice_engine::tx::{ChainId, TX_BYTES_MAX};
use sluice_engine::workload::{self, WorkloadSpec};

const MAGIC: &[u8; 8] = b"SLUICEWL";
const VERSION: u32 = 1;

pub struct WorkloadCache {
    pub chain: ChainId,
    pub seed: u64,
    pub accounts: u32,
    pub genesis_ids: Vec<AccountId>,
    pub txs: Vec<Vec<u8>>,
}

impl WorkloadCache {
    /// Loads the spec's cache file from `dir`, or generates the workload and
    /// writes the file. Returns the workload and whether it was cached.
    pub fn load_or_generate(spec: &WorkloadSpec, dir: &Path) -> Result<(WorkloadCache, bool), String> {
        let path = cache_path(spec, dir);
        if let Ok(bytes) = std::fs::read(&path) {
            if let Some(cache) = decode(&bytes, spec) {
                return Ok((cache, true));
            }
        }
        let generated = workload::generate(spec).map_err(|e| e.to_string())?;
        let genesis_ids = (0..generated.genesis.keys.len()).map(|i| generated.genesis.id(i)).collect();
        let cache = WorkloadCache {
            chain: spec.chain.clone(),
            seed: spec.seed,
            accounts: spec.accounts,
            genesis_ids,
            txs: generated.txs,
        };
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create cache dir {}: {e}", dir.display()))?;
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, cache.encode()).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        std::fs::rename(&temp, &path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))?;
        Ok((cache, false))
    }

    /// The genesis state the workload was generated against.
    pub fn genesis_state(&self) -> State {
        State::from_accounts(
            self.genesis_ids.iter().map(|id| (*id, Account { balance: GENESIS_BALANCE, ..Account::default() })),
        )
    }

    fn encode(&self) -> Vec<u8> {
        let tx_bytes: usize = self.txs.iter().map(|t| 2 + t.len()).sum();
        let mut out = Vec::with_capacity(24 + 32 * self.genesis_ids.len() + tx_bytes + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.accounts.to_le_bytes());
        out.extend_from_slice(&(self.txs.len() as u64).to_le_bytes());
        for id in &self.genesis_ids {
            out.extend_from_slice(&id.0);
        }
        for tx in &self.txs {
            out.extend_from_slice(&(tx.len() as u16).to_le_bytes());
            out.extend_from_slice(tx);
        }
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        out
    }
}

/// Decodes a cache file, or `None` if it is damaged or for another spec.
fn decode(bytes: &[u8], spec: &WorkloadSpec) -> Option<WorkloadCache> {
    let (body, checksum) = bytes.split_at(bytes.len().checked_sub(32)?);
    if blake3::hash(body).as_bytes() != checksum {
        return None;
    }
    let mut r = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = r.split_at_checked(n)?;
        r = rest;
        Some(head)
    };
    if take(8)? != MAGIC || u32::from_le_bytes(take(4)?.try_into().ok()?) != VERSION {
        return None;
    }
    let accounts = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let tx_count = u64::from_le_bytes(take(8)?.try_into().ok()?);
    if accounts != spec.accounts || tx_count != spec.txs {
        return None;
    }
    let genesis_ids = (0..accounts).map(|_| Some(AccountId(take(32)?.try_into().ok()?))).collect::<Option<Vec<_>>>()?;
    let mut txs = Vec::with_capacity(tx_count.min(workload::WORKLOAD_TXS_MAX) as usize);
    for _ in 0..tx_count {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        if len > TX_BYTES_MAX {
            return None;
        }
        txs.push(take(len)?.to_vec());
    }
    if !r.is_empty() {
        return None;
    }
    Some(WorkloadCache { chain: spec.chain.clone(), seed: spec.seed, accounts, genesis_ids, txs })
}

/// One file per spec: every field that changes the bytes is in the name.
fn cache_path(spec: &WorkloadSpec, dir: &Path) -> PathBuf {
    let kind = spec.kind.to_string().replace(':', "-");
    dir.join(format!("{kind}-a{}-t{}-s{}-{}.swl", spec.accounts, spec.txs, spec.seed, spec.chain.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::workload::WorkloadKind;

    #[test]
    fn cache_round_trips_and_rejects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let spec = WorkloadSpec { kind: WorkloadKind::Zipf, accounts: 30, txs: 50, seed: 4, chain: ChainId::default() };
        let (first, cached) = WorkloadCache::load_or_generate(&spec, dir.path()).unwrap();
        assert!(!cached);
        let (second, cached) = WorkloadCache::load_or_generate(&spec, dir.path()).unwrap();
        assert!(cached);
        assert_eq!(first.txs, second.txs);
        assert_eq!(first.genesis_ids, second.genesis_ids);
        assert_eq!(first.genesis_state().root(), workload::generate(&spec).unwrap().genesis.state().root());

        let path = cache_path(&spec, dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] ^= 1;
        assert!(decode(&bytes, &spec).is_none(), "a flipped byte fails the checksum");
        let other = WorkloadSpec { txs: 51, ..spec.clone() };
        assert!(decode(&std::fs::read(&path).unwrap(), &other).is_none(), "another spec's file is not used");
    }
}
