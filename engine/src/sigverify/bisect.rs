//! Locating the invalid signatures of a failed batch.
//!
//! A failed batch equation says only that *some* signature in the batch is
//! invalid. [`resolve_batch`] finds which, by bisection: split the batch in
//! halves and check each half as a batch, recursively; small pieces are
//! verified singly. Two refinements keep a flood of bad signatures from
//! costing much more than verifying every signature singly:
//!
//! * If the left half of a failed batch passes, the right half must hold the
//!   failure (a batch of valid signatures always passes), so it is split
//!   without being checked as a whole.
//! * A [`BadRateTracker`] estimates the fraction of bad signatures seen so
//!   far (shared by all chunks of one [`verify_parallel`] call). A batch is
//!   attempted only when it is expected to hold less than one bad signature;
//!   otherwise its signatures are verified singly, because a batch that
//!   probably fails only adds its own cost. Before the first estimate exists,
//!   a failed batch verifies its first [`PROBE_LEN`] items singly to get one.
//!
//! Every verdict of an invalid signature comes from single verification, and
//! every verdict of a valid one from single verification or from a passing
//! batch, so the verdicts are those of
//! [`verify_single`](super::verify_single) whatever the batching.
//!
//! [`verify_parallel`]: super::verify_parallel

use std::sync::atomic::{AtomicU64, Ordering};

use super::equation::{batch_holds, single_holds};
use super::precheck::Prepared;
use super::SigError;

/// Pieces of a failed batch of at most this many signatures are verified
/// singly rather than bisected further. Measured (group `batch_equation`):
/// a batch of 4 costs about as much per signature as single verification, so
/// bisecting below it cannot pay off.
pub(crate) const BISECT_CUTOFF: usize = 4;

/// How many signatures a failed batch verifies singly, when no estimate of
/// the bad rate exists yet, to make one.
pub(crate) const PROBE_LEN: usize = 4;

/// Weight, in signatures assumed good, of the prior in the bad-rate estimate
/// `bad / (seen + PRIOR_GOOD_LEN)`; keeps one early failure from switching a
/// whole call to single verification.
const PRIOR_GOOD_LEN: u64 = 32;

/// Running counts of verified and bad signatures, shared across threads.
/// Only a cost heuristic: verdicts never depend on it.
pub(crate) struct BadRateTracker {
    seen: AtomicU64,
    bad: AtomicU64,
}

impl BadRateTracker {
    pub(crate) fn new() -> Self {
        BadRateTracker {
            seen: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        }
    }

    fn record(&self, verified_len: usize, bad_len: usize) {
        self.seen.fetch_add(verified_len as u64, Ordering::Relaxed);
        self.bad.fetch_add(bad_len as u64, Ordering::Relaxed);
    }

    fn has_estimate(&self) -> bool {
        self.seen.load(Ordering::Relaxed) >= PROBE_LEN as u64
    }

    /// A batch of `len` is worth attempting when it is bigger than the
    /// bisection cutoff and expected to hold fewer than one bad signature:
    /// `len · bad / (seen + prior) < 1`.
    fn batch_worthwhile(&self, len: usize) -> bool {
        if len <= BISECT_CUTOFF {
            return false;
        }
        let seen = self.seen.load(Ordering::Relaxed);
        let bad = self.bad.load(Ordering::Relaxed);
        bad.saturating_mul(len as u64) < seen.saturating_add(PRIOR_GOOD_LEN)
    }
}

/// Writes `Err(Invalid)` into `verdicts[p.index]` for every invalid item.
/// Entries for valid items are left untouched.
pub(crate) fn resolve_batch(
    items: &[Prepared],
    tracker: &BadRateTracker,
    verdicts: &mut [Result<(), SigError>],
) {
    resolve(items, false, tracker, verdicts);
}

/// Resolves `items`; `known_failing` says the batch equation is already known
/// to fail on them. Returns how many were invalid.
fn resolve(
    items: &[Prepared],
    known_failing: bool,
    tracker: &BadRateTracker,
    verdicts: &mut [Result<(), SigError>],
) -> usize {
    if items.is_empty() {
        return 0;
    }
    if !known_failing {
        if !tracker.batch_worthwhile(items.len()) {
            return verify_each(items, tracker, verdicts);
        }
        if batch_holds(items) {
            tracker.record(items.len(), 0);
            return 0;
        }
    }
    if items.len() <= BISECT_CUTOFF {
        return verify_each(items, tracker, verdicts);
    }
    if !tracker.has_estimate() {
        return probe_then_resolve(items, tracker, verdicts);
    }
    let (left, right) = items.split_at(items.len() / 2);
    let left_bad = resolve(left, false, tracker, verdicts);
    // A failing batch whose left half is all valid fails in its right half.
    left_bad + resolve(right, left_bad == 0, tracker, verdicts)
}

/// Verifies the first [`PROBE_LEN`] of a failing batch singly, then resolves
/// the rest with the estimate that gives.
fn probe_then_resolve(
    items: &[Prepared],
    tracker: &BadRateTracker,
    verdicts: &mut [Result<(), SigError>],
) -> usize {
    let (probe, rest) = items.split_at(PROBE_LEN.min(items.len()));
    let probe_bad = verify_each(probe, tracker, verdicts);
    probe_bad + resolve(rest, probe_bad == 0, tracker, verdicts)
}

fn verify_each(
    items: &[Prepared],
    tracker: &BadRateTracker,
    verdicts: &mut [Result<(), SigError>],
) -> usize {
    let mut bad_len = 0;
    for item in items {
        if !single_holds(item) {
            bad_len += 1;
            if let Some(slot) = verdicts.get_mut(item.index) {
                *slot = Err(SigError::Invalid);
            }
        }
    }
    tracker.record(items.len(), bad_len);
    bad_len
}
