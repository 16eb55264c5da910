//! ReplayWindow and VerifiedCache: bounds, FIFO eviction, thread safety.

use sluice_engine::sigverify::{ReplayWindow, VerifiedCache, REPLAY_WINDOW_CAPACITY, VERIFIED_CACHE_CAPACITY};
use std::sync::Arc;

fn sig(n: u32) -> [u8; 64] {
    let mut s = [0u8; 64];
    s[..4].copy_from_slice(&n.to_le_bytes());
    s
}

fn hash(n: u32) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..4].copy_from_slice(&n.to_le_bytes());
    h
}

#[test]
fn replay_window_rejects_duplicates_within_the_window() {
    let mut w = ReplayWindow::with_capacity(3);
    assert!(w.check_and_insert(&sig(1)));
    assert!(!w.check_and_insert(&sig(1)));
    assert!(w.check_and_insert(&sig(2)));
    assert!(w.check_and_insert(&sig(3)));
    assert_eq!(w.len(), 3);
    assert!(!w.check_and_insert(&sig(1)));
}

#[test]
fn replay_window_evicts_oldest_first_and_duplicates_do_not_refresh() {
    let mut w = ReplayWindow::with_capacity(3);
    for n in 1..=3 {
        assert!(w.check_and_insert(&sig(n)));
    }
    // Seeing 1 again does not make it recent.
    assert!(!w.check_and_insert(&sig(1)));
    assert!(w.check_and_insert(&sig(4))); // evicts 1, the oldest insertion
    assert_eq!(w.len(), 3);
    assert!(!w.contains(&sig(1)));
    assert!(w.contains(&sig(2)) && w.contains(&sig(3)) && w.contains(&sig(4)));
    assert!(w.check_and_insert(&sig(1))); // forgotten, so accepted again; evicts 2
    assert!(!w.contains(&sig(2)));
}

#[test]
fn replay_window_never_exceeds_capacity() {
    let mut w = ReplayWindow::with_capacity(100);
    for n in 0..10_000 {
        w.check_and_insert(&sig(n % 250));
        assert!(w.len() <= 100);
    }
    assert_eq!(w.len(), 100);
    assert_eq!(w.capacity(), 100);
    assert_eq!(ReplayWindow::new().capacity(), REPLAY_WINDOW_CAPACITY);
}

#[test]
fn replay_window_of_capacity_zero_remembers_nothing() {
    let mut w = ReplayWindow::with_capacity(0);
    assert!(w.check_and_insert(&sig(1)));
    assert!(w.check_and_insert(&sig(1)));
    assert!(w.is_empty());
}

#[test]
fn verified_cache_is_bounded_fifo() {
    let cache = VerifiedCache::with_capacity(4);
    for n in 0..4 {
        cache.insert(hash(n));
    }
    cache.insert(hash(0)); // already present: no change
    assert_eq!(cache.len(), 4);
    cache.insert(hash(4)); // evicts 0
    assert_eq!(cache.len(), 4);
    assert!(!cache.contains(&hash(0)));
    assert!((1..=4).all(|n| cache.contains(&hash(n))));
    assert_eq!(VerifiedCache::new().capacity(), VERIFIED_CACHE_CAPACITY);
    let empty = VerifiedCache::with_capacity(0);
    empty.insert(hash(1));
    assert!(empty.is_empty() && !empty.contains(&hash(1)));
}

#[test]
fn verified_cache_is_shared_between_threads_and_stays_bounded() {
    let cache = Arc::new(VerifiedCache::with_capacity(1000));
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for n in 0..5000 {
                    cache.insert(hash(t * 1_000_000 + n));
                    let _ = cache.contains(&hash(n));
                    assert!(cache.len() <= 1000);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(cache.len(), 1000);
    // The last insert of some writer survives.
    assert!((0..4u32).any(|t| cache.contains(&hash(t * 1_000_000 + 4999))));
}
