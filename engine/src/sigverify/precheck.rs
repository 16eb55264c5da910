//! Steps 1–6 of the validity rule: cheap byte checks first, then point
//! decoding and the challenge hash. The output, [`Prepared`], is everything
//! the verification equation needs, so a batch that has to be bisected never
//! decodes or hashes an item twice.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

use super::keys::decode_point;
use super::{SigError, SignatureItem, PUBLIC_KEY_BYTES, SIGNATURE_BYTES};

/// The group order ℓ = 2^252 + 27742317777372353535851937790883648493,
/// little-endian.
const GROUP_ORDER_LE: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// A signature that passed steps 1–5, with its challenge `k` (step 6). Its
/// key is a slot in the chunk's table of distinct decoded keys
/// (`keys::ChunkKeys`), so that one key signing many items is one point.
#[derive(Clone, Copy)]
pub(crate) struct Prepared {
    /// Position of the item in the caller's slice, where its verdict goes.
    pub(crate) index: usize,
    /// Slot of the decoded public key `A` in the chunk's key table.
    pub(crate) key: u32,
    pub(crate) r: EdwardsPoint,
    pub(crate) s: Scalar,
    pub(crate) k: Scalar,
}

/// The fixed-size parts of a well-formed item, borrowed.
pub(crate) struct Encoded<'a> {
    pub(crate) a: &'a [u8; 32],
    r: &'a [u8; 32],
    s: &'a [u8; 32],
    message: &'a [u8],
}

/// Runs steps 1–6 of the rule on one item, alone: its key is slot 0 of the
/// one-entry table returned beside it. [`verify_single`] uses this; it
/// never consults the key cache, so it stays the reference that batches
/// are tested against.
///
/// [`verify_single`]: super::verify_single
pub(crate) fn prepare_single(item: &SignatureItem<'_>) -> Result<(Prepared, [EdwardsPoint; 1]), SigError> {
    let enc = check_bytes(item)?;
    let a = decode_point(enc.a).ok_or(SigError::InvalidPublicKey)?;
    Ok((prepare_decoded(&enc, Some(0), 0)?, [a]))
}

/// Steps 4–6 for an item that passed steps 1–3, whose key the caller
/// decoded already: `key` is its slot, or `None` when it did not decode.
/// The order of the checks is the rule's: a bad key is reported before a
/// bad `R`.
pub(crate) fn prepare_decoded(enc: &Encoded<'_>, key: Option<u32>, index: usize) -> Result<Prepared, SigError> {
    debug_assert!(is_canonical_scalar(enc.s), "an Encoded comes from check_bytes, which checked S < ℓ");
    let key = key.ok_or(SigError::InvalidPublicKey)?;
    let r = decode_point(enc.r).ok_or(SigError::InvalidR)?;
    // `S < ℓ` was checked, so this reduction leaves S unchanged.
    let s = Scalar::from_bytes_mod_order(*enc.s);
    debug_assert_eq!(s.as_bytes(), enc.s, "a canonical S is its own reduction");
    let k = challenge(enc.r, enc.a, enc.message);
    Ok(Prepared { index, key, r, s, k })
}

/// Steps 1–3: lengths and `S < ℓ`, without curve arithmetic.
pub(crate) fn check_bytes<'a>(item: &SignatureItem<'a>) -> Result<Encoded<'a>, SigError> {
    let a: &[u8; PUBLIC_KEY_BYTES] =
        item.public_key.try_into().map_err(|_| SigError::PublicKeyLength { len: item.public_key.len() })?;
    let sig: &[u8; SIGNATURE_BYTES] =
        item.signature.try_into().map_err(|_| SigError::SignatureLength { len: item.signature.len() })?;
    let (r, s) = split_signature(sig);
    if !is_canonical_scalar(s) {
        return Err(SigError::NonCanonicalS);
    }
    Ok(Encoded { a, r, s, message: item.message })
}

fn split_signature(sig: &[u8; SIGNATURE_BYTES]) -> (&[u8; 32], &[u8; 32]) {
    let (r, s) = sig.split_at(32);
    // Both halves of a 64-byte array are 32 bytes, so these cannot fail; the
    // fallback keeps the function total without a panic path.
    match (r.try_into(), s.try_into()) {
        (Ok(r), Ok(s)) => (r, s),
        _ => (&[0; 32], &GROUP_ORDER_LE),
    }
}

/// True when the little-endian integer `s` is below ℓ. Compares from the most
/// significant byte down; variable time is fine, signatures are public.
pub(crate) fn is_canonical_scalar(s: &[u8; 32]) -> bool {
    for (s_byte, l_byte) in s.iter().rev().zip(GROUP_ORDER_LE.iter().rev()) {
        if s_byte != l_byte {
            return s_byte < l_byte;
        }
    }
    false // s == ℓ
}

/// `k = SHA-512(R_bytes ‖ A_bytes ‖ message) mod ℓ`, over the encoded bytes.
fn challenge(r_bytes: &[u8; 32], a_bytes: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hasher = Sha512::new();
    hasher.update(r_bytes);
    hasher.update(a_bytes);
    hasher.update(message);
    Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_scalar_boundaries() {
        let mut below = GROUP_ORDER_LE;
        below[0] -= 1;
        assert!(is_canonical_scalar(&below));
        assert!(!is_canonical_scalar(&GROUP_ORDER_LE));
        let mut above = GROUP_ORDER_LE;
        above[0] += 1;
        assert!(!is_canonical_scalar(&above));
        assert!(is_canonical_scalar(&[0; 32]));
        assert!(!is_canonical_scalar(&[0xff; 32]));
    }

    #[test]
    fn group_order_constant_matches_dalek() {
        // ℓ - 1 is the largest canonical scalar.
        let minus_one = -Scalar::ONE;
        let mut l = minus_one.to_bytes();
        l[0] += 1;
        assert_eq!(l, GROUP_ORDER_LE);
    }
}
