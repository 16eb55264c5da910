//! Decoded public keys: grouped by key within a chunk, and remembered across
//! chunks and blocks in a bounded [`KeyCache`].
//!
//! Decoding a key (step 4 of the rule) is a field exponentiation, about a
//! fifth of what one signature costs in a batch. A chain's traffic repeats
//! signers: an exchange or a market maker signs thousands of transactions a
//! block. ed25519-zebra and ed25519-consensus decode each distinct key once
//! per batch; Sluice decodes it once per process lifetime while it stays in
//! the cache, and the batch equation then carries one point per distinct
//! key (module `equation`).
//!
//! The cache changes no verdict. Decoding is a pure function of the 32
//! bytes, the cache is keyed by exactly those bytes, and a key that does not
//! decode is never cached, so a hit returns the point a fresh decode would.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};

use super::bounded_fifo::BoundedFifoMap;
use super::PUBLIC_KEY_BYTES;
pub use crate::limits::KEY_CACHE_CAPACITY;

/// A bounded map from encoded public keys to their decoded points, safe to
/// share between threads. Eviction is FIFO by first insertion: a flood of
/// new keys costs at most what decoding without a cache costs.
///
/// One lock is taken twice per chunk (look up, then insert what was
/// decoded), never per signature, and decoding runs outside it.
#[derive(Debug)]
pub struct KeyCache {
    points: Mutex<BoundedFifoMap<[u8; PUBLIC_KEY_BYTES], EdwardsPoint>>,
}

static SHARED: LazyLock<KeyCache> = LazyLock::new(|| KeyCache::with_capacity(KEY_CACHE_CAPACITY));

impl KeyCache {
    /// A cache of `capacity` keys (0 caches nothing).
    pub fn with_capacity(capacity: usize) -> Self {
        KeyCache { points: Mutex::new(BoundedFifoMap::with_capacity(capacity)) }
    }

    /// The process-wide cache that [`verify_batch`](super::verify_batch) and
    /// [`verify_parallel`](super::verify_parallel) use.
    pub fn shared() -> &'static KeyCache {
        &SHARED
    }

    /// Decodes every key, each exactly as step 4 of the rule decodes it:
    /// `None` where the bytes are not a curve point. Hits come from the
    /// cache; misses are decoded outside the lock, then remembered.
    pub fn decode_all(&self, keys: &[[u8; PUBLIC_KEY_BYTES]]) -> Vec<Option<EdwardsPoint>> {
        let mut points: Vec<Option<EdwardsPoint>> = {
            let cached = self.lock();
            keys.iter().map(|key| cached.get(key).copied()).collect()
        };
        let mut decoded = Vec::new();
        for (key, point) in keys.iter().zip(points.iter_mut()) {
            if point.is_none() {
                *point = decode_point(key);
                if let Some(p) = point {
                    decoded.push((*key, *p));
                }
            }
        }
        self.remember(decoded);
        assert_eq!(points.len(), keys.len(), "one decoded point (or None) per key");
        points
    }

    /// Number of keys held (at most [`capacity`](Self::capacity)).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the cache holds.
    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// Forgets every key: a benchmark starts each pass cold with this, so
    /// that no pass is faster for the keys an earlier pass decoded.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Stores freshly decoded keys: only keys that decode, so that the
    /// cache never holds a failure.
    fn remember(&self, decoded: Vec<([u8; PUBLIC_KEY_BYTES], EdwardsPoint)>) {
        if decoded.is_empty() {
            return;
        }
        let mut cached = self.lock();
        for (key, point) in decoded {
            cached.insert_if_absent(key, point);
        }
        // Once per chunk, so cheap enough to check in release builds.
        cached.assert_bounded();
    }

    /// Every update is a few infallible steps, so the data stays consistent
    /// even if a holder panicked: a poisoned lock is used, not propagated.
    fn lock(&self) -> MutexGuard<'_, BoundedFifoMap<[u8; PUBLIC_KEY_BYTES], EdwardsPoint>> {
        self.points.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// ZIP-215 decoding. `curve25519-dalek`'s decompression is exactly this rule:
/// it reduces y mod p (accepting y ≥ p), accepts a set sign bit when x = 0,
/// and accepts points of any order.
pub(crate) fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*bytes).decompress()
}

/// The distinct keys of one chunk, decoded, and which of them each item
/// signs with. The batch equation gives each distinct key one point.
pub(crate) struct ChunkKeys {
    /// Decoded points of the distinct keys that decode, by slot.
    pub(crate) points: Vec<EdwardsPoint>,
    /// For each distinct key in first-seen order: its bytes and its slot in
    /// `points`, or `None` when it does not decode.
    slots: HashMap<[u8; PUBLIC_KEY_BYTES], Option<u32>>,
}

impl ChunkKeys {
    /// Groups `keys` (one per item, repeats allowed) and decodes each
    /// distinct one through `cache`.
    pub(crate) fn decode<'k>(keys: impl Iterator<Item = &'k [u8; PUBLIC_KEY_BYTES]>, cache: &KeyCache) -> ChunkKeys {
        let mut distinct: Vec<[u8; PUBLIC_KEY_BYTES]> = Vec::new();
        let mut slots: HashMap<[u8; PUBLIC_KEY_BYTES], Option<u32>> = HashMap::new();
        for key in keys {
            slots.entry(*key).or_insert_with(|| {
                distinct.push(*key);
                None
            });
        }
        let mut points = Vec::with_capacity(distinct.len());
        for (key, point) in distinct.iter().zip(cache.decode_all(&distinct)) {
            if let Some(point) = point {
                let unslotted = slots.insert(*key, Some(points.len() as u32));
                debug_assert_eq!(unslotted, Some(None), "each distinct key gets one slot");
                points.push(point);
            }
        }
        assert_eq!(slots.len(), distinct.len(), "one entry per distinct key");
        assert!(points.len() <= distinct.len(), "at most one point per distinct key");
        ChunkKeys { points, slots }
    }

    /// The slot of `key`'s point, or `None` when it does not decode.
    /// `key` must have been among those given to [`decode`](Self::decode).
    pub(crate) fn slot(&self, key: &[u8; PUBLIC_KEY_BYTES]) -> Option<u32> {
        let entry = self.slots.get(key).copied();
        debug_assert!(entry.is_some(), "slot asked for a key this chunk did not decode");
        let slot = entry.flatten();
        debug_assert!(slot.is_none_or(|s| (s as usize) < self.points.len()), "key slot within the key table");
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::scalar::Scalar;

    fn key(i: u64) -> [u8; 32] {
        (ED25519_BASEPOINT_POINT * Scalar::from(i + 1)).compress().to_bytes()
    }

    /// y = 2 is not the y-coordinate of a curve point.
    const NOT_A_POINT: [u8; 32] = {
        let mut bytes = [0; 32];
        bytes[0] = 2;
        bytes
    };

    #[test]
    fn hits_return_what_a_fresh_decode_returns() {
        let cache = KeyCache::with_capacity(8);
        let keys = [key(1), NOT_A_POINT, key(2), key(1)];
        let cold = cache.decode_all(&keys);
        let warm = cache.decode_all(&keys);
        let fresh: Vec<_> = keys.iter().map(decode_point).collect();
        assert_eq!(cold, fresh);
        assert_eq!(warm, fresh);
        assert!(fresh[1].is_none());
        // Two distinct keys decode; the invalid one is never cached.
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn eviction_is_fifo_and_bounded() {
        let cache = KeyCache::with_capacity(3);
        let keys: Vec<[u8; 32]> = (0..5).map(key).collect();
        cache.decode_all(&keys);
        assert_eq!(cache.len(), 3);
        let cached = cache.lock();
        assert_eq!(cached.keys_oldest_first().copied().collect::<Vec<_>>(), keys[2..].to_vec());
        assert!(!cached.contains_key(&keys[0]));
        drop(cached);
        cache.clear();
        assert!(cache.is_empty());
        assert!(KeyCache::with_capacity(0).decode_all(&keys).iter().all(Option::is_some));
    }

    #[test]
    fn chunk_keys_give_one_slot_per_distinct_key() {
        let keys = [key(7), key(8), key(7), NOT_A_POINT, key(8)];
        let chunk = ChunkKeys::decode(keys.iter(), &KeyCache::with_capacity(16));
        assert_eq!(chunk.points.len(), 2);
        assert_eq!(chunk.slot(&keys[0]), chunk.slot(&keys[2]));
        assert_eq!(chunk.slot(&keys[1]), chunk.slot(&keys[4]));
        assert_ne!(chunk.slot(&keys[0]), chunk.slot(&keys[1]));
        assert_eq!(chunk.slot(&NOT_A_POINT), None);
        let slot = chunk.slot(&keys[1]).unwrap() as usize;
        assert_eq!(Some(chunk.points[slot]), decode_point(&keys[1]));
    }
}
