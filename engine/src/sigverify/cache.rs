//! Transactions whose signatures already verified, so that a block built from
//! the mempool (FinalizeBlock after CheckTx) need not verify them again.

use std::sync::{Mutex, MutexGuard};

use super::bounded_fifo::BoundedFifoSet;
pub use crate::limits::VERIFIED_CACHE_CAPACITY;

/// Length of the transaction hashes used as keys, in bytes.
pub const TX_HASH_LEN: usize = 32;

/// A bounded set of 32-byte transaction hashes whose signatures verified,
/// safe to share between threads (`&self` methods behind one mutex; a
/// lookup is a hash probe, far cheaper than the verification it saves, so
/// one lock is not a bottleneck).
///
/// Insert a hash only after [`verify_single`](super::verify_single) (or a
/// batch verdict) returned `Ok` for the transaction's signature, and only if
/// the hash commits to the public key, message and the full signature bytes.
/// [`contains`](Self::contains) returning `true` then means "this exact
/// transaction verified before". Eviction is FIFO by first insertion; an
/// evicted transaction is simply verified again.
#[derive(Debug)]
pub struct VerifiedCache {
    hashes: Mutex<BoundedFifoSet<[u8; TX_HASH_LEN]>>,
}

impl VerifiedCache {
    /// A cache of [`VERIFIED_CACHE_CAPACITY`] hashes.
    pub fn new() -> Self {
        Self::with_capacity(VERIFIED_CACHE_CAPACITY)
    }

    /// A cache of `capacity` hashes (0 caches nothing).
    pub fn with_capacity(capacity: usize) -> Self {
        VerifiedCache { hashes: Mutex::new(BoundedFifoSet::with_capacity(capacity)) }
    }

    /// Records that the transaction with this hash verified. Evicts the
    /// oldest hash when full; inserting a present hash changes nothing.
    pub fn insert(&self, tx_hash: [u8; TX_HASH_LEN]) {
        self.lock().insert_if_absent(tx_hash, ());
    }

    /// Whether the transaction with this hash is recorded as verified.
    pub fn contains(&self, tx_hash: &[u8; TX_HASH_LEN]) -> bool {
        self.lock().contains_key(tx_hash)
    }

    /// Number of hashes held (at most [`capacity`](Self::capacity)).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no hash is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most hashes the cache holds.
    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// The data stays consistent even if a holder panicked (every update is
    /// a few infallible steps), so a poisoned lock is used, not propagated.
    fn lock(&self) -> MutexGuard<'_, BoundedFifoSet<[u8; TX_HASH_LEN]>> {
        self.hashes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self::new()
    }
}
