//! Ed25519 signature verification: one validity rule, verified singly, in
//! batches, or in batches across all cores, with the same verdict every time.
//!
//! Design invariant 2 ("consensus-safe signatures") says a signature's validity
//! must not depend on how it was batched. Ed25519 as deployed has several
//! incompatible validity rules (see "Taming the many EdDSAs", Chalkias et al.,
//! 2020): RFC 8032 allows either the cofactored or the cofactorless equation,
//! and libraries differ on non-canonical encodings and small-order points. A
//! random-linear-combination batch check is only equivalent to single
//! verification when the *cofactored* equation is used, so a chain that
//! batches must adopt a cofactored rule everywhere. ZIP-215 is that rule, and
//! CometBFT and Zcash already use it.
//!
//! # Signature validity rule (ZIP-215)
//!
//! A signature is checked against a public key and a message, all three given
//! as byte strings. Let `ℓ = 2^252 + 27742317777372353535851937790883648493`
//! be the order of the prime-order subgroup, `B` the Ed25519 base point and
//! `p = 2^255 - 19`. The signature is **valid** if and only if every step
//! below succeeds; the first step that fails names the error.
//!
//! 1. The public key is exactly 32 bytes (`PublicKeyLength`).
//! 2. The signature is exactly 64 bytes: `R_bytes = sig[0..32]`,
//!    `S_bytes = sig[32..64]` (`SignatureLength`).
//! 3. `S_bytes`, read as a 256-bit little-endian integer `S`, satisfies
//!    `S < ℓ` (`NonCanonicalS`). This is a byte comparison made before any
//!    curve arithmetic; it is what removes signature malleability.
//! 4. `A_bytes` (the public key) decodes to a curve point `A`
//!    (`InvalidPublicKey`), and
//! 5. `R_bytes` decodes to a curve point `R` (`InvalidR`), where *decodes*
//!    means the permissive ZIP-215 decoding: clear bit 255 (the sign of x),
//!    read the remaining 255 bits as `y` and reduce it mod `p` (so the
//!    non-canonical encodings `y ≥ p` are accepted), recover `x` from the
//!    curve equation (reject only if `y` is not the y-coordinate of a curve
//!    point), and pick the root whose low bit equals the sign bit (when
//!    `x = 0` a set sign bit is accepted and ignored). Points of small order,
//!    and points with a small-order component, are accepted.
//! 6. `k = SHA-512(R_bytes ‖ A_bytes ‖ message)`, read little-endian and
//!    reduced mod `ℓ`. The hash covers the **original encoded bytes** of `R`
//!    and `A`, never a re-encoding of the decoded points.
//! 7. The cofactored equation `[8][S]B = [8]R + [8][k]A` holds (`Invalid`).
//!    The cofactorless equation `[S]B = R + [k]A` allowed by RFC 8032 is
//!    never used, and `R` is never compared as bytes against a recomputed
//!    point.
//!
//! Consequences: every input has exactly one verdict; a batch of signatures
//! passes the batch check exactly when (up to probability ~2⁻¹²⁵ per check)
//! every signature in it is valid; signatures under small-order keys are
//! accepted (such a key certifies nothing, which is fine because the key's
//! owner chose it); for a given key and message `S` is unique, but `R` may
//! have up to 8 valid values (R plus a torsion point), so a transaction hash
//! must cover the whole signature bytes if it identifies a transaction.
//!
//! # Implementation
//!
//! * [`verify_single`] runs steps 1–7 for one signature.
//! * [`verify_batch`] runs steps 1–5 for every item first: an item that fails
//!   them gets its error at once and is left out of the batch. The rest are
//!   checked together with the batch equation
//!   `[8]( [−Σ zᵢSᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢkᵢ]Aᵢ ) = 0` with random 128-bit
//!   `zᵢ` from a CSPRNG (`rand::thread_rng`, ChaCha12 seeded from the OS). If
//!   the batch fails, failures are located by bisection (module `bisect`),
//!   which ends in single verification, so the verdict of every item is the
//!   verdict [`verify_single`] gives it.
//! * Within a chunk, items are grouped by public key (module `keys`): each
//!   distinct key is decoded once, and the batch equation gives it one
//!   point, `Σⱼ [Σ_{i ∈ j} zᵢkᵢ]Aⱼ`, the same sum written with fewer terms.
//!   A chunk of `n` signatures from `m` keys is a multiscalar
//!   multiplication of `n + m + 1` points instead of `2n + 1`, as in
//!   ed25519-zebra and ed25519-consensus.
//! * Decoded keys are remembered across chunks and blocks in a bounded
//!   [`KeyCache`] ([`KEY_CACHE_CAPACITY`] keys, FIFO), which the peers do not
//!   have: they decode every key again in every batch. A key that does not
//!   decode is never cached, and a hit is the point a fresh decode gives, so
//!   the cache changes no verdict. [`verify_single`] never consults it: it
//!   stays the reference the batch paths are tested against.
//! * [`verify_parallel`] cuts the input into chunks of `batch_size`, verifies
//!   each chunk as a batch on the current rayon pool, and shares one estimate
//!   of the bad-signature rate among chunks, so that a flood of bad signatures
//!   is verified singly instead of by fruitless batch attempts.
//!
//! ## Which implementation, and why
//!
//! Two implementations of the rule were measured with `cargo bench -p
//! sluice-bench --bench sigverify` (groups `single` and `batch_equation`:
//! from bytes to verdict, all signatures valid, one thread):
//!
//! * (a) `ed25519-consensus` 2.1 `batch::Verifier`: ZIP-215 native, but built
//!   on `curve25519-dalek-ng` with the portable 64-bit serial backend;
//! * (b) the batch equation of this module over `curve25519-dalek` 4, whose
//!   multiscalar multiplication picks the AVX2 (or AVX-512 IFMA) backend at
//!   run time. It also decodes each `A` and `R` once per chunk and reuses them
//!   in every bisection round, where (a) would decode them again.
//!
//! Medians of CPU time per signature (µs; shared 2-vCPU Xeon @ 2.5 GHz with
//! AVX2, busy with other builds, so expect ±15 % between runs):
//!
//! | batch size | 1 (single) | 2 | 4 | 8 | 16 | 32 | 64 | 128 | 256 | 512 | 1024 |
//! |---|---|---|---|---|---|---|---|---|---|---|---|
//! | (b) ours | 55.2 | 47.0 | 38.6 | 41.6 | 31.4 | 30.0 | 28.7 | 32.4 | 24.7 | 34.3 | 21.3 |
//! | (a) ed25519-consensus | 65.8 | 56.2 | 48.2 | 38.3 | 39.3 | 32.0 | 31.7 | 30.7 | 27.8 | 26.1 | 23.9 |
//!
//! (b) was faster for single verification and at 7 of the 10 batch sizes in
//! this run (8 of 10 in an earlier one; the exceptions are within the noise),
//! by 5–20 %, so (b) is the production path; (a) remains in [`impls`] as an
//! independent differential oracle for the tests and as a benchmark
//! baseline. On all cores (group `parallel_cpu`, chunks of 32, 64, 128 and
//! 256, three runs) the throughput of [`verify_parallel`] relative to
//! ed25519-dalek's own cofactorless `verify_batch` on the same chunks
//! (raw CPU time / ours) had a median of 1.02 over the 12 pairs, per run
//! 0.97–1.07, 0.76–0.95 and 1.31–1.57: the spread is the shared machine, the
//! two do the same work (decode A and R, hash, one multiscalar
//! multiplication of 2n + 1 points). The ZIP-215 rule and per-item verdicts
//! cost nothing measurable when all signatures are valid.
//!
//! ## Cost of bad signatures
//!
//! `verify_parallel` with [`BATCH_SIZE_DEFAULT`] on 2048 signatures of which
//! a fraction is invalid, against verifying every signature singly on all
//! cores, same run (group `bad_fraction`, median CPU time):
//!
//! | bad | 0 % | 1 % | 10 % | 50 % | 100 % |
//! |---|---|---|---|---|---|
//! | ours / all-single | 0.45 | 0.62 | 1.07 | 1.04 | 0.91 |
//!
//! With a batch size of 64 (earlier run) the ratios were 0.81 (noisy), 0.71,
//! 1.04, 1.04 and 1.00: a flood costs about what single verification costs.
//! One bad signature among 64 in one `verify_batch` call (group
//! `one_bad_in_64`): 0.95 × the cost of 64 single verifications, against
//! 0.46 × when all 64 are valid.
//!
//! # Replay window and verified cache
//!
//! [`ReplayWindow`] drops repeated signatures before they cost a
//! verification; [`VerifiedCache`] remembers transactions whose signatures
//! already verified (CheckTx) so that FinalizeBlock need not verify again.

mod bisect;
mod bounded_fifo;
mod cache;
mod equation;
pub mod impls;
mod keys;
mod precheck;
mod replay;

use rayon::prelude::*;

pub use crate::limits::{BATCH_SIZE_DEFAULT, REFERENCE_BATCH_SIZE};
pub use cache::{VerifiedCache, TX_HASH_LEN, VERIFIED_CACHE_CAPACITY};
pub use keys::{KeyCache, KEY_CACHE_CAPACITY};
pub use replay::{ReplayWindow, REPLAY_WINDOW_CAPACITY};

/// Length of an encoded Ed25519 public key, in bytes.
pub const PUBLIC_KEY_BYTES: usize = 32;

/// Length of an encoded Ed25519 signature (`R_bytes ‖ S_bytes`), in bytes.
pub const SIGNATURE_BYTES: usize = 64;

/// Why a signature is not valid. Each variant names the first step of the
/// validity rule (see the module docs) that failed.
///
/// The numeric [`code`](SigError::code) and the [`name`](SigError::name) of
/// each variant are stable: they may be logged, returned to clients and
/// compared across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigError {
    /// The public key is not [`PUBLIC_KEY_BYTES`] bytes long.
    PublicKeyLength {
        /// The length that was given.
        len: usize,
    },
    /// The signature is not [`SIGNATURE_BYTES`] bytes long.
    SignatureLength {
        /// The length that was given.
        len: usize,
    },
    /// The scalar `S` (signature bytes 32..64) is not below the group order ℓ.
    NonCanonicalS,
    /// The public key bytes are not the encoding of a curve point.
    InvalidPublicKey,
    /// `R` (signature bytes 0..32) is not the encoding of a curve point.
    InvalidR,
    /// Everything decodes, but the cofactored verification equation fails.
    Invalid,
}

impl SigError {
    /// Stable numeric code of this error (1–6, in the order of the rule).
    pub const fn code(&self) -> u8 {
        match self {
            SigError::PublicKeyLength { .. } => 1,
            SigError::SignatureLength { .. } => 2,
            SigError::NonCanonicalS => 3,
            SigError::InvalidPublicKey => 4,
            SigError::InvalidR => 5,
            SigError::Invalid => 6,
        }
    }

    /// Stable snake_case name of this error.
    pub const fn name(&self) -> &'static str {
        match self {
            SigError::PublicKeyLength { .. } => "public_key_length",
            SigError::SignatureLength { .. } => "signature_length",
            SigError::NonCanonicalS => "non_canonical_s",
            SigError::InvalidPublicKey => "invalid_public_key",
            SigError::InvalidR => "invalid_r",
            SigError::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for SigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigError::PublicKeyLength { len } => {
                write!(f, "public key is {len} bytes, expected {PUBLIC_KEY_BYTES} (public_key_length)")
            }
            SigError::SignatureLength { len } => {
                write!(f, "signature is {len} bytes, expected {SIGNATURE_BYTES} (signature_length)")
            }
            SigError::NonCanonicalS => f.write_str("signature scalar S is not below the group order (non_canonical_s)"),
            SigError::InvalidPublicKey => {
                f.write_str("public key is not the encoding of a curve point (invalid_public_key)")
            }
            SigError::InvalidR => f.write_str("signature R is not the encoding of a curve point (invalid_r)"),
            SigError::Invalid => f.write_str("signature does not satisfy the verification equation (invalid)"),
        }
    }
}

impl std::error::Error for SigError {}

/// One signature to verify: borrowed key, message and signature bytes.
/// Lengths are not checked here; verification reports wrong lengths as errors.
#[derive(Debug, Clone, Copy)]
pub struct SignatureItem<'a> {
    /// Encoded public key, [`PUBLIC_KEY_BYTES`] bytes when well formed.
    pub public_key: &'a [u8],
    /// The signed message.
    pub message: &'a [u8],
    /// Encoded signature `R_bytes ‖ S_bytes`, [`SIGNATURE_BYTES`] bytes when
    /// well formed.
    pub signature: &'a [u8],
}

/// Verifies one signature under the ZIP-215 rule of the module docs.
///
/// Never panics; every input gets `Ok(())` or the error of the first failing
/// step of the rule.
pub fn verify_single(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SigError> {
    let item = SignatureItem { public_key, message, signature };
    let (prepared, keys) = precheck::prepare_single(&item)?;
    if equation::single_holds(&prepared, &keys) {
        Ok(())
    } else {
        Err(SigError::Invalid)
    }
}

/// Verifies `items` as one batch and returns one verdict per item, in order.
///
/// Each verdict equals [`verify_single`]'s verdict for that item. Items that
/// fail the cheap checks or do not decode are excluded before the batch
/// equation; failures of the equation are located by bisection. Keys are
/// decoded through [`KeyCache::shared`].
pub fn verify_batch(items: &[SignatureItem<'_>]) -> Vec<Result<(), SigError>> {
    let tracker = bisect::BadRateTracker::new();
    verify_chunk(items, &tracker, KeyCache::shared())
}

/// Verifies `items` in chunks of `batch_size` (0 is treated as 1), each
/// chunk as a batch, spread across the threads of the current rayon pool.
///
/// Returns one verdict per item, in order, each equal to [`verify_single`]'s
/// verdict. The chunks share an estimate of the bad-signature rate: once many
/// signatures fail, chunks skip the batch attempt and verify singly, so a
/// flood of bad signatures costs about what single verification costs.
/// Keys are decoded through [`KeyCache::shared`].
pub fn verify_parallel(items: &[SignatureItem<'_>], batch_size: usize) -> Vec<Result<(), SigError>> {
    verify_parallel_with(items, batch_size, KeyCache::shared())
}

/// [`verify_parallel`] with keys decoded through `keys` instead of the
/// shared cache; verdicts are the same whatever the cache holds.
pub fn verify_parallel_with(
    items: &[SignatureItem<'_>],
    batch_size: usize,
    keys: &KeyCache,
) -> Vec<Result<(), SigError>> {
    let chunk_len = batch_size.max(1);
    let tracker = bisect::BadRateTracker::new();
    let mut verdicts = vec![Ok(()); items.len()];
    verdicts.par_chunks_mut(chunk_len).zip(items.par_chunks(chunk_len)).for_each(|(out, chunk)| {
        assert_eq!(out.len(), chunk.len(), "verdict chunks line up with item chunks");
        out.copy_from_slice(&verify_chunk(chunk, &tracker, keys));
    });
    assert_eq!(verdicts.len(), items.len(), "one verdict per item");
    verdicts
}

/// Prechecks and decodes every item, then resolves the decodable ones as a
/// batch with bisection.
fn verify_chunk(
    items: &[SignatureItem<'_>],
    tracker: &bisect::BadRateTracker,
    cache: &KeyCache,
) -> Vec<Result<(), SigError>> {
    let mut verdicts = vec![Ok(()); items.len()];
    let (prepared, keys) = prepare_chunk(items, cache, &mut verdicts);
    bisect::resolve_batch(bisect::Batch { items: &prepared, keys: &keys.points }, tracker, &mut verdicts);
    assert_eq!(verdicts.len(), items.len(), "one verdict per item");
    verdicts
}

/// Steps 1–6 for a chunk, in the rule's order per item: the byte checks,
/// then the distinct keys (decoded once each, through `cache`), then each
/// `R` and challenge. An item that fails gets its error in `verdicts`; the
/// rest are returned, with the key table their slots index.
fn prepare_chunk(
    items: &[SignatureItem<'_>],
    cache: &KeyCache,
    verdicts: &mut [Result<(), SigError>],
) -> (Vec<precheck::Prepared>, keys::ChunkKeys) {
    assert_eq!(items.len(), verdicts.len(), "one verdict slot per item");
    debug_assert!(verdicts.iter().all(Result::is_ok), "verdicts start as Ok: only failures are written");
    let mut rejected_len = 0;
    let mut encoded = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match precheck::check_bytes(item) {
            Ok(enc) => encoded.push((index, enc)),
            Err(e) => {
                verdicts[index] = Err(e);
                rejected_len += 1;
            }
        }
    }
    let keys = keys::ChunkKeys::decode(encoded.iter().map(|(_, enc)| enc.a), cache);
    let mut prepared = Vec::with_capacity(encoded.len());
    for (index, enc) in &encoded {
        match precheck::prepare_decoded(enc, keys.slot(enc.a), *index) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                verdicts[*index] = Err(e);
                rejected_len += 1;
            }
        }
    }
    assert_eq!(prepared.len() + rejected_len, items.len(), "every item is either prepared or has its error");
    debug_assert!(
        prepared.windows(2).all(|pair| pair[0].index < pair[1].index),
        "prepared items keep their order, each once"
    );
    debug_assert!(
        prepared.iter().all(|p| verdicts[p.index].is_ok() && (p.key as usize) < keys.points.len()),
        "a prepared item has no error yet and a slot in the key table"
    );
    (prepared, keys)
}
