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
//!   attempted only when it is expected to hold less than half a bad
//!   signature; otherwise it is cut in halves that are judged the same way,
//!   down to single verification, because a batch that probably fails only
//!   adds its own cost. Before the first estimate exists, a failed batch
//!   verifies its first [`PROBE_LEN`] items singly to get one.
//!
//! # Cost model
//!
//! Let `ρ(n)` be the per-signature cost of a batch of `n` relative to single
//! verification (measured: group `batch_equation`). A batch of `n` that is
//! attempted costs `ρ(n)·n` and saves `n` when it passes, so it pays when
//! `P(pass) = (1 − p)^n > ρ(n)`, i.e. roughly `p·n < ln(1/ρ(n))`, about 1/2
//! for the measured `ρ` ≈ 0.5–0.7. A failed piece of `n` with one bad
//! signature costs `C(n) = ¾·n·ρ(n/2) + C(n/2)` to bisect (check the left
//! half; half the time check the right one too) against `n` to verify
//! singly, so bisection pays only while `ρ(n/2) < ⅔`.
//!
//! Every verdict of an invalid signature comes from single verification, and
//! every verdict of a valid one from single verification or from a passing
//! batch, so the verdicts are those of
//! [`verify_single`](super::verify_single) whatever the batching.
//!
//! [`verify_parallel`]: super::verify_parallel

use std::sync::atomic::{AtomicU64, Ordering};

use super::equation::{batch_holds, single_holds};
use curve25519_dalek::edwards::EdwardsPoint;

use super::precheck::Prepared;
use super::SigError;

/// Pieces of a failed batch of at most this many signatures are verified
/// singly rather than bisected further. See the cost model in the module
/// docs: bisecting a failed piece of `n` pays only if a batch of `n/2` costs
/// under ⅔ of single verification per signature. Measured `ρ` (group
/// `batch_equation`, two runs averaged): ρ(4) ≈ 0.72, ρ(8) ≈ 0.67,
/// ρ(16) ≈ 0.56, ρ(32) ≈ 0.52. So pieces of 16 and more are bisected and
/// pieces of 8 or fewer are not. With a cutoff of 4, one bad signature
/// among 64 cost 1.34 × 64 single verifications (`one_bad_in_64`); with 8,
/// 0.95 × (separate runs on a noisy machine, so indicative only).
pub(crate) const BISECT_CUTOFF: usize = 8;

/// The smallest batch ever attempted: below it the batch equation saves
/// too little over single verification to risk it.
pub(crate) const MIN_BATCH_LEN: usize = 4;

/// A batch is attempted only if it is expected to hold fewer than
/// `1 / MAX_EXPECTED_BAD_RECIPROCAL` bad signatures, i.e. if it passes with
/// probability ≳ e^(−1/2) ≈ 0.6, about the per-signature cost of a batch
/// relative to single verification.
const MAX_EXPECTED_BAD_RECIPROCAL: u64 = 2;

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
        BadRateTracker { seen: AtomicU64::new(0), bad: AtomicU64::new(0) }
    }

    fn record(&self, verified_len: usize, bad_len: usize) {
        assert!(bad_len <= verified_len, "{bad_len} bad among {verified_len} verified");
        self.seen.fetch_add(verified_len as u64, Ordering::Relaxed);
        self.bad.fetch_add(bad_len as u64, Ordering::Relaxed);
    }

    fn has_estimate(&self) -> bool {
        self.seen.load(Ordering::Relaxed) >= PROBE_LEN as u64
    }

    /// A batch of `len` is worth attempting when it is at least
    /// [`MIN_BATCH_LEN`] and expected to hold fewer than half a bad
    /// signature: `len · bad / (seen + prior) < 1/2`.
    fn batch_worthwhile(&self, len: usize) -> bool {
        if len < MIN_BATCH_LEN {
            return false;
        }
        let seen = self.seen.load(Ordering::Relaxed);
        let bad = self.bad.load(Ordering::Relaxed);
        let expected_bad_scaled = bad.saturating_mul(len as u64).saturating_mul(MAX_EXPECTED_BAD_RECIPROCAL);
        expected_bad_scaled < seen.saturating_add(PRIOR_GOOD_LEN)
    }
}

/// The items of one chunk and the table of distinct decoded keys that
/// their `key` slots index.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub(crate) items: &'a [Prepared],
    pub(crate) keys: &'a [EdwardsPoint],
}

impl<'a> Batch<'a> {
    fn split_at(self, mid: usize) -> (Batch<'a>, Batch<'a>) {
        let (left, right) = self.items.split_at(mid);
        (Batch { items: left, keys: self.keys }, Batch { items: right, keys: self.keys })
    }

    fn holds(self) -> bool {
        batch_holds(self.items, self.keys)
    }
}

/// Writes `Err(Invalid)` into `verdicts[p.index]` for every invalid item.
/// Entries for valid items are left untouched.
pub(crate) fn resolve_batch(batch: Batch<'_>, tracker: &BadRateTracker, verdicts: &mut [Result<(), SigError>]) {
    // Indices are distinct positions in `verdicts`, so there are no more
    // items than verdicts.
    assert!(batch.items.len() <= verdicts.len(), "more prepared items than verdicts");
    debug_assert!(
        batch.items.iter().all(|p| p.index < verdicts.len() && verdicts[p.index].is_ok()),
        "each prepared item has its own verdict, still Ok"
    );
    let bad_len = resolve(batch, false, tracker, verdicts);
    assert!(bad_len <= batch.items.len(), "more invalid items than items");
    debug_assert_eq!(
        batch.items.iter().filter(|p| verdicts[p.index].is_err()).count(),
        bad_len,
        "every item counted invalid, and only those, got an error verdict"
    );
}

/// Resolves `items`; `known_failing` says the batch equation is already known
/// to fail on them. Returns how many were invalid.
fn resolve(
    batch: Batch<'_>,
    known_failing: bool,
    tracker: &BadRateTracker,
    verdicts: &mut [Result<(), SigError>],
) -> usize {
    let len = batch.items.len();
    if len == 0 {
        return 0;
    }
    if !known_failing {
        if !tracker.batch_worthwhile(len) {
            // Too likely to fail whole; smaller pieces may still pay.
            if len / 2 >= MIN_BATCH_LEN {
                return resolve_halves(batch, false, tracker, verdicts);
            }
            return verify_each(batch, tracker, verdicts);
        }
        count::batch_check();
        if batch.holds() {
            tracker.record(len, 0);
            return 0;
        }
    }
    if len <= BISECT_CUTOFF {
        return verify_each(batch, tracker, verdicts);
    }
    if !tracker.has_estimate() {
        return probe_then_resolve(batch, tracker, verdicts);
    }
    resolve_halves(batch, true, tracker, verdicts)
}

/// Resolves both halves of `items`. If `items` is known to fail and its left
/// half turns out all valid, the failure is in the right half, which then
/// needs no batch check of its own.
fn resolve_halves(
    batch: Batch<'_>,
    known_failing: bool,
    tracker: &BadRateTracker,
    verdicts: &mut [Result<(), SigError>],
) -> usize {
    let (left, right) = batch.split_at(batch.items.len() / 2);
    debug_assert!(!left.items.is_empty() && !right.items.is_empty(), "halves of a piece of at least 2");
    let left_bad = resolve(left, false, tracker, verdicts);
    left_bad + resolve(right, known_failing && left_bad == 0, tracker, verdicts)
}

/// Verifies the first [`PROBE_LEN`] of a failing batch singly, then resolves
/// the rest with the estimate that gives.
fn probe_then_resolve(batch: Batch<'_>, tracker: &BadRateTracker, verdicts: &mut [Result<(), SigError>]) -> usize {
    let (probe, rest) = batch.split_at(PROBE_LEN.min(batch.items.len()));
    let probe_bad = verify_each(probe, tracker, verdicts);
    probe_bad + resolve(rest, probe_bad == 0, tracker, verdicts)
}

fn verify_each(batch: Batch<'_>, tracker: &BadRateTracker, verdicts: &mut [Result<(), SigError>]) -> usize {
    let mut bad_len = 0;
    for item in batch.items {
        count::single_check();
        if !single_holds(item, batch.keys) {
            bad_len += 1;
            let verdict = verdicts.get_mut(item.index).expect("a prepared item's index is a position in its chunk");
            debug_assert!(verdict.is_ok(), "an item is verified singly at most once");
            *verdict = Err(SigError::Invalid);
        }
    }
    tracker.record(batch.items.len(), bad_len);
    bad_len
}

/// Work counters for the tests: how many batch and single checks ran on
/// this thread. Compiled to nothing outside tests.
mod count {
    #[cfg(test)]
    thread_local! {
        pub(super) static CHECKS: std::cell::Cell<(usize, usize)> =
            const { std::cell::Cell::new((0, 0)) };
    }

    pub(super) fn batch_check() {
        #[cfg(test)]
        CHECKS.with(|c| c.set((c.get().0 + 1, c.get().1)));
    }

    pub(super) fn single_check() {
        #[cfg(test)]
        CHECKS.with(|c| c.set((c.get().0, c.get().1 + 1)));
    }
}

#[cfg(test)]
mod tests {
    use super::super::{prepare_chunk, KeyCache, SignatureItem};
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    struct Owned {
        key: [u8; 32],
        message: Vec<u8>,
        sig: [u8; 64],
    }

    /// `len` signatures; those at `bad` positions have their message altered.
    fn corpus(len: usize, bad: &[usize]) -> Vec<Owned> {
        (0..len)
            .map(|i| {
                let sk = SigningKey::from_bytes(&[i as u8 + 1; 32]);
                let mut message = vec![i as u8; 8];
                let sig = sk.sign(&message).to_bytes();
                if bad.contains(&i) {
                    message[0] ^= 1;
                }
                Owned { key: sk.verifying_key().to_bytes(), message, sig }
            })
            .collect()
    }

    /// Runs the bisection; returns (invalid positions, batch checks, single checks).
    fn run(owned: &[Owned]) -> (Vec<usize>, usize, usize) {
        let items: Vec<SignatureItem<'_>> = owned
            .iter()
            .map(|o| SignatureItem { public_key: &o.key, message: &o.message, signature: &o.sig })
            .collect();
        let mut verdicts = vec![Ok(()); owned.len()];
        let (prepared, keys) = prepare_chunk(&items, &KeyCache::with_capacity(0), &mut verdicts);
        assert_eq!(prepared.len(), owned.len(), "every item decodes");
        count::CHECKS.with(|c| c.set((0, 0)));
        resolve_batch(Batch { items: &prepared, keys: &keys.points }, &BadRateTracker::new(), &mut verdicts);
        let (batches, singles) = count::CHECKS.with(|c| c.get());
        let invalid = (0..owned.len()).filter(|&i| verdicts[i].is_err()).collect();
        (invalid, batches, singles)
    }

    #[test]
    fn all_valid_costs_one_batch_check() {
        let (invalid, batches, singles) = run(&corpus(64, &[]));
        assert!(invalid.is_empty());
        assert_eq!((batches, singles), (1, 0));
    }

    #[test]
    fn one_bad_is_found_with_few_checks() {
        for bad in [0, 5, 37, 63] {
            let (invalid, batches, singles) = run(&corpus(64, &[bad]));
            assert_eq!(invalid, vec![bad]);
            // At most two checks per level of bisection (log2 64 = 6), and
            // single checks only for the probe and the leaves around `bad`:
            // far below the 64 of verifying everything singly.
            assert!(batches <= 1 + 2 * 6, "bad {bad}: {batches} batch checks");
            assert!(singles <= PROBE_LEN + 2 * BISECT_CUTOFF, "bad {bad}: {singles} singles");
        }
    }

    #[test]
    fn flood_of_bad_signatures_falls_back_to_singles() {
        let all: Vec<usize> = (0..64).collect();
        let (invalid, batches, singles) = run(&corpus(64, &all));
        assert_eq!(invalid, all);
        // The failed first batch, then the probe sees only bad signatures
        // and every remaining piece is judged not worth a batch.
        assert_eq!((batches, singles), (1, 64));
    }
}
