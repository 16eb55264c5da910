//! The two measured implementations of the raw batch equation, exposed for
//! the benchmark (`bench/benches/sigverify.rs`) and for differential tests.
//! Production code calls [`verify_batch`](super::verify_batch) and
//! [`verify_parallel`](super::verify_parallel), which use
//! [`dalek_batch_holds`]'s equation.
//!
//! Both functions answer "is every item valid?" (no failure location) and
//! work from bytes, so they measure the whole cost: length and `S` checks,
//! point decoding, hashing and the multiscalar multiplication.

use ed25519_consensus::{batch, Signature, VerificationKey, VerificationKeyBytes};

use super::{equation, prepare_chunk, KeyCache, SignatureItem, PUBLIC_KEY_BYTES, SIGNATURE_BYTES};

/// (b), the production equation: `curve25519-dalek` 4 multiscalar
/// multiplication over items decoded once, one point per distinct key.
/// Keys are decoded fresh (no cache), as the other libraries decode them.
/// True iff every item is valid (up to the batch check's ~2⁻¹²⁵ error).
pub fn dalek_batch_holds(items: &[SignatureItem<'_>]) -> bool {
    let mut verdicts = vec![Ok(()); items.len()];
    let (prepared, keys) = prepare_chunk(items, &KeyCache::with_capacity(0), &mut verdicts);
    verdicts.iter().all(Result::is_ok) && equation::batch_holds(&prepared, &keys.points)
}

/// (a), `ed25519-consensus` 2.1's `batch::Verifier` (ZIP-215, on
/// `curve25519-dalek-ng`'s serial backend). True iff every item is valid.
pub fn consensus_batch_holds(items: &[SignatureItem<'_>]) -> bool {
    let mut verifier = batch::Verifier::new();
    for item in items {
        match consensus_parts(item) {
            Some((key, sig)) => verifier.queue((key, sig, item.message)),
            None => return false,
        }
    }
    verifier.verify(rand::thread_rng()).is_ok()
}

/// Single verification by `ed25519-consensus`: the independent oracle for
/// [`verify_single`](super::verify_single)'s accept/reject decision.
pub fn consensus_verify_single(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let item = SignatureItem { public_key, message, signature };
    let Some((key_bytes, sig)) = consensus_parts(&item) else {
        return false;
    };
    VerificationKey::try_from(key_bytes).and_then(|key| key.verify(&sig, message)).is_ok()
}

fn consensus_parts(item: &SignatureItem<'_>) -> Option<(VerificationKeyBytes, Signature)> {
    let key: [u8; PUBLIC_KEY_BYTES] = item.public_key.try_into().ok()?;
    let sig: [u8; SIGNATURE_BYTES] = item.signature.try_into().ok()?;
    Some((VerificationKeyBytes::from(key), Signature::from(sig)))
}
