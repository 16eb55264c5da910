//! A bounded window of recently seen signatures, to drop exact replays before
//! they cost a verification.

use super::bounded_fifo::BoundedFifoSet;
use super::SIGNATURE_BYTES;
pub use crate::limits::REPLAY_WINDOW_CAPACITY;

/// The last `capacity` **distinct** signatures seen, in first-seen order.
///
/// Precisely: [`check_and_insert`](ReplayWindow::check_and_insert) returns
/// `false` iff the signature is among the `capacity` most recently *inserted*
/// distinct signatures. A signature is inserted the first time it is seen
/// (`true` returned); seeing it again returns `false` and does **not** move
/// it to the back, so a signature leaves the window exactly `capacity`
/// distinct insertions after its own (FIFO eviction), however often it is
/// replayed meanwhile. A capacity of 0 remembers nothing.
///
/// The window compares raw signature bytes. Under the ZIP-215 rule a signer
/// can produce several valid encodings of one signature (R plus torsion, or a
/// non-canonical R), so the window stops accidental and naive replays;
/// protection against replay of a *transaction* belongs to nonces.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    signatures: BoundedFifoSet<[u8; SIGNATURE_BYTES]>,
}

impl ReplayWindow {
    /// A window of [`REPLAY_WINDOW_CAPACITY`] signatures.
    pub fn new() -> Self {
        Self::with_capacity(REPLAY_WINDOW_CAPACITY)
    }

    /// A window of `capacity` signatures. Memory is allocated as the window
    /// fills, not up front.
    pub fn with_capacity(capacity: usize) -> Self {
        ReplayWindow { signatures: BoundedFifoSet::with_capacity(capacity) }
    }

    /// Returns `true` and remembers `sig` if it is not in the window; returns
    /// `false` (a duplicate) if it is. Evicts the oldest entry when full.
    pub fn check_and_insert(&mut self, sig: &[u8; SIGNATURE_BYTES]) -> bool {
        self.signatures.insert_if_absent(*sig, ())
    }

    /// Whether `sig` is in the window, without inserting it.
    pub fn contains(&self, sig: &[u8; SIGNATURE_BYTES]) -> bool {
        self.signatures.contains_key(sig)
    }

    /// Number of signatures in the window (at most [`capacity`](Self::capacity)).
    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// The most signatures the window holds.
    pub fn capacity(&self) -> usize {
        self.signatures.capacity()
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}
