//! A map that holds at most `capacity` entries and evicts in first-insertion
//! order: the one structure behind the [`KeyCache`](super::KeyCache), the
//! [`VerifiedCache`](super::VerifiedCache) and the
//! [`ReplayWindow`](super::ReplayWindow).
//!
//! All three face keys chosen by anyone who can send a transaction, so the
//! bound has to hold whatever arrives, and FIFO eviction keeps a flood of
//! new keys from costing more than having no store at all. Re-inserting a
//! present key neither replaces its value nor moves it to the back: an
//! entry leaves exactly `capacity` distinct insertions after its own,
//! however often it is seen meanwhile.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// At most `capacity` entries, evicted oldest-inserted first. A capacity of
/// 0 stores nothing. Memory grows as entries arrive, not up front.
///
/// Invariant: `map` and `order` hold the same keys, each once, and no more
/// than `capacity` of them.
#[derive(Debug, Clone)]
pub(crate) struct BoundedFifoMap<K, V> {
    capacity: usize,
    map: HashMap<K, V>,
    /// The keys of `map`, oldest insertion at the front.
    order: VecDeque<K>,
}

/// A [`BoundedFifoMap`] used as a set.
pub(crate) type BoundedFifoSet<K> = BoundedFifoMap<K, ()>;

impl<K: Eq + Hash + Copy, V> BoundedFifoMap<K, V> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        BoundedFifoMap { capacity, map: HashMap::new(), order: VecDeque::new() }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Stores `key → value` unless `key` is present, evicting the oldest
    /// entry when full. Returns whether `key` was absent (with capacity 0,
    /// `true` and nothing is stored). A present key keeps its value and its
    /// place in the eviction order.
    pub(crate) fn insert_if_absent(&mut self, key: K, value: V) -> bool {
        if self.capacity == 0 {
            // Nothing is ever stored, so nothing is present.
            return true;
        }
        if self.map.contains_key(&key) {
            return false;
        }
        if self.order.len() == self.capacity {
            self.evict_oldest();
        }
        self.map.insert(key, value);
        self.order.push_back(key);
        // Debug only: callers insert once per transaction or per key.
        self.debug_assert_bounded();
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }

    /// Checks the invariant in release builds too: O(1), for callers that
    /// insert a batch at a time and can afford one check per batch.
    pub(crate) fn assert_bounded(&self) {
        assert_eq!(self.map.len(), self.order.len(), "bounded FIFO map: map and eviction queue hold different keys");
        assert!(self.order.len() <= self.capacity, "bounded FIFO map: {} entries over capacity", self.order.len());
    }

    fn debug_assert_bounded(&self) {
        debug_assert_eq!(self.map.len(), self.order.len(), "bounded FIFO map: map and eviction queue disagree");
        debug_assert!(self.order.len() <= self.capacity, "bounded FIFO map: over capacity");
    }

    fn evict_oldest(&mut self) {
        let oldest = self.order.pop_front().expect("a full map of nonzero capacity has an oldest key");
        let removed = self.map.remove(&oldest);
        debug_assert!(removed.is_some(), "bounded FIFO map: evicted key was not in the map");
    }

    /// Keys from oldest to newest insertion.
    #[cfg(test)]
    pub(crate) fn keys_oldest_first(&self) -> impl Iterator<Item = &K> {
        self.order.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(map: &BoundedFifoMap<u32, char>) -> Vec<u32> {
        map.keys_oldest_first().copied().collect()
    }

    #[test]
    fn insert_stores_until_full() {
        let mut map = BoundedFifoMap::with_capacity(3);
        assert!(map.is_empty());
        assert!(map.insert_if_absent(1, 'a'));
        assert!(map.insert_if_absent(2, 'b'));
        assert_eq!((map.len(), map.capacity()), (2, 3));
        assert_eq!(map.get(&1), Some(&'a'));
        assert!(map.contains_key(&2) && !map.contains_key(&3));
        assert_eq!(keys(&map), [1, 2]);
        map.assert_bounded();
    }

    #[test]
    fn duplicate_insert_keeps_value_and_place() {
        let mut map = BoundedFifoMap::with_capacity(3);
        map.insert_if_absent(1, 'a');
        map.insert_if_absent(2, 'b');
        assert!(!map.insert_if_absent(1, 'z'), "1 is present");
        assert_eq!(map.get(&1), Some(&'a'), "the first value stays");
        assert_eq!(keys(&map), [1, 2], "a duplicate does not move to the back");
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn eviction_is_oldest_insertion_first() {
        let mut map = BoundedFifoMap::with_capacity(3);
        for (key, value) in [(1, 'a'), (2, 'b'), (3, 'c')] {
            map.insert_if_absent(key, value);
        }
        map.insert_if_absent(1, 'z'); // seen again, still the oldest
        assert!(map.insert_if_absent(4, 'd'));
        assert_eq!(keys(&map), [2, 3, 4]);
        assert_eq!(map.get(&1), None);
        assert!(map.insert_if_absent(1, 'e'), "an evicted key is new again");
        assert_eq!(keys(&map), [3, 4, 1]);
        assert_eq!(map.get(&1), Some(&'e'));
        map.assert_bounded();
        map.clear();
        assert!(map.is_empty() && !map.contains_key(&3));
        map.assert_bounded();
    }

    #[test]
    fn capacity_zero_stores_nothing() {
        let mut map = BoundedFifoMap::with_capacity(0);
        assert!(map.insert_if_absent(1, 'a'));
        assert!(map.insert_if_absent(1, 'a'), "never stored, so never a duplicate");
        assert!(map.is_empty() && !map.contains_key(&1));
        map.assert_bounded();
    }

    #[test]
    fn capacity_one_keeps_the_latest_key() {
        let mut map = BoundedFifoSet::with_capacity(1);
        assert!(map.insert_if_absent(1u32, ()));
        assert!(!map.insert_if_absent(1, ()));
        assert!(map.insert_if_absent(2, ()));
        assert_eq!(map.keys_oldest_first().copied().collect::<Vec<_>>(), [2]);
        assert!(!map.contains_key(&1));
        map.assert_bounded();
    }

    #[test]
    fn many_inserts_stay_bounded() {
        let mut map = BoundedFifoSet::with_capacity(100);
        for n in 0..10_000u32 {
            map.insert_if_absent(n % 250, ());
            assert!(map.len() <= 100);
        }
        map.assert_bounded();
        assert_eq!(map.len(), 100);
    }
}
