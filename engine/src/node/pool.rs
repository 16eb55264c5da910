//! The application-owned transaction pool, for CometBFT's
//! `mempool.type = "nop"`: transactions arrive on the node's ingest
//! endpoint ([`super::ingest_http`]), are verified there in batches on
//! every core, wait here in arrival order, and PrepareProposal fills the
//! block from the front.
//!
//! Why the application owns it: CometBFT's flood mempool costs a
//! JSON-RPC request, a CheckTx round trip and a recheck per transaction,
//! one at a time, which bounds a 2-core chain far below the engine
//! (docs/architecture.md, "Chain throughput").
//!
//! Invariants:
//! - every entry's signature verified on this node, and its hash is in
//!   the verified-signature cache unless since evicted (FinalizeBlock
//!   then verifies it again);
//! - every entry was admitted by the shared [`PendingState`] in queue
//!   order, so the queue's prefix is a sequence that executes after the
//!   committed state (nonces in order, fees covered);
//! - `members` holds exactly the entries' hashes, and `bytes` their sizes.
//!
//! After each Commit the entries the block included are removed, and the
//! rest are re-admitted against the new state; those that no longer fit
//! (a nonce another block used) are evicted, counted, and dropped.

use std::collections::VecDeque;

use prost::bytes::Bytes;

use super::mempool::{AdmitError, PendingState};
use super::{CODE_DUPLICATE, CODE_MEMPOOL_FULL};
use crate::account::Account;
pub use crate::limits::{
    POOL_BYTES_LIMIT, POOL_BYTES_MAX_DEFAULT, POOL_TXS_LIMIT, POOL_TXS_MAX_DEFAULT, PROPOSAL_POOL_BYTES_MAX,
};
use crate::state::State;
use crate::tx::Transaction;

/// CometBFT transaction hashes (SHA-256 of the bytes).
pub type TxHashSet = std::collections::HashSet<[u8; 32], foldhash::fast::RandomState>;

/// One pooled transaction: its bytes, its CometBFT hash (SHA-256, what
/// FinalizeBlock computes for every transaction anyway), and its decoded
/// form for re-admission.
pub struct PoolEntry {
    pub bytes: Bytes,
    pub hash: [u8; 32],
    pub tx: Transaction,
}

/// Why the pool turned a verified transaction away. Nothing already
/// admitted is ever dropped to make room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolRejection {
    /// The same bytes are already pooled.
    Duplicate,
    /// `pool_txs_max` transactions are pooled.
    TxsFull { max: u32 },
    /// Admitting it would pass `pool_bytes_max`.
    BytesFull { max: u64 },
    /// It cannot execute after the transactions already pooled.
    Admit(AdmitError),
}

impl PoolRejection {
    pub fn code(self) -> u32 {
        match self {
            PoolRejection::Duplicate => CODE_DUPLICATE,
            PoolRejection::TxsFull { .. } | PoolRejection::BytesFull { .. } => CODE_MEMPOOL_FULL,
            PoolRejection::Admit(e) => e.code(),
        }
    }

    pub fn log(self) -> String {
        match self {
            PoolRejection::Duplicate => "duplicate: already in the pool".to_string(),
            PoolRejection::TxsFull { max } => format!("mempool_full: pool_txs_max {max} reached; send it again"),
            PoolRejection::BytesFull { max } => format!("mempool_full: pool_bytes_max {max} reached; send it again"),
            PoolRejection::Admit(e) => e.log(),
        }
    }
}

/// What one Commit did to the pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolRecheck {
    /// Entries the committed block included.
    pub included: usize,
    /// Entries that no longer execute after the new state, dropped.
    pub evicted: usize,
}

pub struct TxPool {
    queue: VecDeque<PoolEntry>,
    members: TxHashSet,
    bytes: u64,
    txs_max: u32,
    bytes_max: u64,
}

impl TxPool {
    pub fn new(txs_max: u32, bytes_max: u64) -> TxPool {
        assert!((1..=POOL_TXS_LIMIT).contains(&txs_max), "pool_txs_max {txs_max}");
        assert!((1..=POOL_BYTES_LIMIT).contains(&bytes_max), "pool_bytes_max {bytes_max}");
        TxPool { queue: VecDeque::new(), members: TxHashSet::default(), bytes: 0, txs_max, bytes_max }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn txs_max(&self) -> u32 {
        self.txs_max
    }

    pub fn bytes_max(&self) -> u64 {
        self.bytes_max
    }

    /// Admits a verified transaction behind every pooled one, if it fits
    /// the limits and executes after them; `committed` is its signer's
    /// account in committed state.
    pub fn admit(
        &mut self,
        entry: PoolEntry,
        pending: &mut PendingState,
        committed: &Account,
    ) -> Result<(), PoolRejection> {
        if self.members.contains(&entry.hash) {
            return Err(PoolRejection::Duplicate);
        }
        if self.queue.len() >= self.txs_max as usize {
            return Err(PoolRejection::TxsFull { max: self.txs_max });
        }
        let size = entry.bytes.len() as u64;
        if self.bytes + size > self.bytes_max {
            return Err(PoolRejection::BytesFull { max: self.bytes_max });
        }
        pending.admit(&entry.tx, committed).map_err(PoolRejection::Admit)?;
        self.members.insert(entry.hash);
        self.bytes += size;
        self.queue.push_back(entry);
        debug_assert_eq!(self.members.len(), self.queue.len());
        debug_assert!(self.queue.len() <= self.txs_max as usize && self.bytes <= self.bytes_max);
        Ok(())
    }

    /// The longest prefix of the pool within `bytes_max` bytes and
    /// `txs_max` transactions. Nothing is removed: the block may not be
    /// decided, and Commit removes what the decided block included.
    pub fn proposal(&self, bytes_max: usize, txs_max: usize) -> Vec<Bytes> {
        let mut taken = Vec::with_capacity(txs_max.min(self.queue.len()));
        let mut bytes = 0usize;
        for entry in self.queue.iter().take(txs_max) {
            // Stop at the first that does not fit: a later one from the
            // same signer would only fail its nonce.
            if bytes + entry.bytes.len() > bytes_max {
                break;
            }
            bytes += entry.bytes.len();
            taken.push(entry.bytes.clone());
        }
        debug_assert!(taken.len() <= txs_max && bytes <= bytes_max);
        taken
    }

    /// After a Commit: drops the entries whose hash `included` holds, and
    /// re-admits the rest in order into `pending` (already reset) against
    /// `state`, evicting those that no longer execute.
    pub fn recheck(&mut self, included: &TxHashSet, pending: &mut PendingState, state: &State) -> PoolRecheck {
        let mut outcome = PoolRecheck::default();
        let before = self.queue.len();
        let (members, bytes) = (&mut self.members, &mut self.bytes);
        self.queue.retain(|entry| {
            let keep = !included.contains(&entry.hash) && {
                let admitted = pending.admit(&entry.tx, &state.load(entry.tx.signer())).is_ok();
                outcome.evicted += usize::from(!admitted);
                admitted
            };
            if !keep {
                members.remove(&entry.hash);
                *bytes -= entry.bytes.len() as u64;
            }
            keep
        });
        outcome.included = before - self.queue.len() - outcome.evicted;
        debug_assert_eq!(self.members.len(), self.queue.len());
        debug_assert_eq!(self.bytes, self.queue.iter().map(|e| e.bytes.len() as u64).sum::<u64>());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountId;
    use crate::workload::transfer;

    fn entry(tx: Transaction) -> PoolEntry {
        let bytes = Bytes::from(tx.encode());
        PoolEntry { hash: crate::tx::comet_tx_hash(&bytes), bytes, tx }
    }

    fn funded() -> Account {
        Account { balance: 1_000_000, ..Account::default() }
    }

    #[test]
    fn admits_in_order_and_names_every_refusal() {
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        let mut pending = PendingState::new(10, 10);
        let first = entry(transfer(a, b, 0, 1));
        let size = first.bytes.len() as u64;
        let mut pool = TxPool::new(2, 10 * size);
        pool.admit(first, &mut pending, &funded()).unwrap();
        assert_eq!(pool.admit(entry(transfer(a, b, 0, 1)), &mut pending, &funded()), Err(PoolRejection::Duplicate));
        let skipped = pool.admit(entry(transfer(a, b, 2, 1)), &mut pending, &funded());
        assert_eq!(skipped, Err(PoolRejection::Admit(AdmitError::BadNonce { expected: 1, got: 2 })));
        pool.admit(entry(transfer(a, b, 1, 1)), &mut pending, &funded()).unwrap();
        let full = pool.admit(entry(transfer(a, b, 2, 1)), &mut pending, &funded());
        assert_eq!(full, Err(PoolRejection::TxsFull { max: 2 }));
        assert_eq!(full.unwrap_err().code(), CODE_MEMPOOL_FULL);
        assert_eq!((pool.len(), pool.bytes()), (2, 2 * size));
        let mut small = TxPool::new(10, size + 1);
        let mut pending = PendingState::new(10, 10);
        small.admit(entry(transfer(a, b, 0, 1)), &mut pending, &funded()).unwrap();
        let over = small.admit(entry(transfer(a, b, 1, 1)), &mut pending, &funded());
        assert_eq!(over, Err(PoolRejection::BytesFull { max: size + 1 }));
    }

    #[test]
    fn proposal_is_a_prefix_and_recheck_drops_the_included_and_the_stale() {
        let (a, b, c) = (AccountId([1; 32]), AccountId([2; 32]), AccountId([3; 32]));
        let mut pending = PendingState::new(10, 10);
        let mut pool = TxPool::new(10, 1 << 20);
        let txs = [transfer(a, b, 0, 1), transfer(a, b, 1, 1), transfer(c, b, 0, 1), transfer(c, b, 1, 1)];
        for tx in &txs {
            pool.admit(entry(tx.clone()), &mut pending, &funded()).unwrap();
        }
        let size = txs[0].encode().len();
        let proposal = pool.proposal(3 * size, 10);
        assert_eq!(proposal.len(), 3);
        assert_eq!(pool.proposal(10 * size, 2).len(), 2);
        assert_eq!(proposal[1], Bytes::from(txs[1].encode()));
        // The block included a's two; another block meanwhile spent c's nonce 0.
        let included: TxHashSet = proposal[..2].iter().map(|bytes| crate::tx::comet_tx_hash(bytes)).collect();
        let state = State::from_accounts([
            (a, Account { nonce: 2, ..funded() }),
            (c, Account { nonce: 1, ..funded() }),
            (b, funded()),
        ]);
        pending.reset();
        let outcome = pool.recheck(&included, &mut pending, &state);
        assert_eq!(outcome, PoolRecheck { included: 2, evicted: 1 });
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.proposal(usize::MAX, usize::MAX), vec![Bytes::from(txs[3].encode())]);
        assert_eq!(pool.bytes(), size as u64);
        assert_eq!(pending.pending_txs(), 1);
    }
}
