//! `sigverify_batch`: a signature's verdict does not depend on batching.
//!
//! Design invariant 2: batch and single verification agree on every input,
//! adversarial ones included. The input is structured (`arbitrary`) because
//! random bytes are almost never a valid signature or a small-order point,
//! and the interesting cases are exactly those: signatures that are valid
//! under one reading of ed25519 and invalid under another.
//!
//! Each item is built with curve25519-dalek directly (no signing library),
//! so it can be made dishonest in precise ways:
//!
//! | item | what it is |
//! |---|---|
//! | `Valid` | an honest signature; must verify |
//! | `Mutated` | an honest signature, then one byte of key, signature or message xored |
//! | `Random` | arbitrary key and signature bytes |
//! | `SmallOrderKey` | a small-order (or non-canonically encoded) public key; `s = r` makes `[s]B - R - [k]A` a torsion point |
//! | `SmallOrderR` | honest key, `R` a small-order (or non-canonical) encoding and `s = k·a`: valid only cofactored |
//! | `MixedOrderKey` | `A = aB + T` for a torsion point `T`, signed honestly over those bytes: cofactored valid, cofactorless valid only if `[k]T = 0` |
//! | `NonCanonicalS` | an honest signature with `ℓ` added to `S` (so `S ≥ ℓ`) |
//! | `WrongLength` | key or signature of the wrong length |

use arbitrary::{Arbitrary, Unstructured};
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};
use sluice_engine::sigverify::{verify_batch, verify_parallel, verify_single, SigError, SignatureItem};

/// Items per batch: enough to span several `verify_parallel` chunks,
/// few enough to keep an iteration near a millisecond.
const ITEMS_MAX: usize = 24;
const MESSAGE_BYTES_MAX: usize = 96;
/// Secret keys the items sign with, derived from their index.
const KEYS: u8 = 4;

#[derive(Arbitrary, Debug)]
struct Input {
    items: Vec<ItemSpec>,
    /// Any value, 0 included: `verify_parallel` must accept every batch size.
    batch_size: u8,
}

#[derive(Arbitrary, Debug)]
enum ItemSpec {
    Valid { key: u8, message: Vec<u8> },
    Mutated { key: u8, message: Vec<u8>, target: u8, position: u16, xor: u8 },
    Random { public_key: [u8; 32], signature: [u8; 64], message: Vec<u8> },
    SmallOrderKey { encoding: u8, nonce: u8, message: Vec<u8> },
    SmallOrderR { key: u8, encoding: u8, message: Vec<u8> },
    MixedOrderKey { key: u8, torsion: u8, message: Vec<u8> },
    NonCanonicalS { key: u8, message: Vec<u8> },
    WrongLength { key: u8, public_key_len: u8, signature_len: u8 },
}

struct Item {
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
    /// Honest signatures verify under every rule.
    must_verify: bool,
}

pub fn sigverify_batch(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let items: Vec<Item> = input.items.into_iter().take(ITEMS_MAX).map(build).collect();
    let refs: Vec<SignatureItem<'_>> = items
        .iter()
        .map(|i| SignatureItem { public_key: &i.public_key, message: &i.message, signature: &i.signature })
        .collect();
    let single: Vec<Result<(), SigError>> =
        items.iter().map(|i| verify_single(&i.public_key, &i.message, &i.signature)).collect();
    for (i, item) in items.iter().enumerate() {
        if item.must_verify {
            assert_eq!(single[i], Ok(()), "honest signature {i} rejected by verify_single");
        }
    }
    let describe = |i: usize| {
        let item = &items[i];
        format!(
            "item {i}: key {} signature {} message {}",
            hex::encode(&item.public_key),
            hex::encode(&item.signature),
            hex::encode(&item.message)
        )
    };
    let batch_size = input.batch_size as usize;
    for (name, verdicts) in
        [("verify_batch", verify_batch(&refs)), ("verify_parallel", verify_parallel(&refs, batch_size))]
    {
        assert_eq!(
            verdicts.len(),
            items.len(),
            "{name} returned {} verdicts for {} items",
            verdicts.len(),
            items.len()
        );
        for i in 0..items.len() {
            assert_eq!(
                verdicts[i].is_ok(),
                single[i].is_ok(),
                "{name} (batch size {batch_size}) and verify_single disagree on validity: {} vs {}; {}",
                show(&verdicts[i]),
                show(&single[i]),
                describe(i)
            );
            // Ingest names rejections by error kind; the name must not
            // depend on batching either.
            assert_eq!(verdicts[i], single[i], "{name} gives another error than verify_single; {}", describe(i));
        }
    }
}

fn show(verdict: &Result<(), SigError>) -> &'static str {
    match verdict {
        Ok(()) => "valid",
        Err(e) => e.name(),
    }
}

fn build(spec: ItemSpec) -> Item {
    match spec {
        ItemSpec::Valid { key, message } => {
            let (public_key, message, signature) = honest(key, message);
            Item { public_key, message, signature, must_verify: true }
        }
        ItemSpec::Mutated { key, message, target, position, xor } => {
            let (mut public_key, mut message, mut signature) = honest(key, message);
            let bytes = match target % 3 {
                0 => &mut signature,
                1 => &mut public_key,
                _ => &mut message,
            };
            if !bytes.is_empty() {
                let at = position as usize % bytes.len();
                bytes[at] ^= xor;
            }
            Item { public_key, message, signature, must_verify: xor == 0 }
        }
        ItemSpec::Random { public_key, signature, message } => Item {
            public_key: public_key.to_vec(),
            message: clip(message),
            signature: signature.to_vec(),
            must_verify: false,
        },
        ItemSpec::SmallOrderKey { encoding, nonce, message } => {
            let message = clip(message);
            let public_key = small_order_encoding(encoding);
            let r = Scalar::from(nonce as u64 + 1);
            let r_bytes = (r * ED25519_BASEPOINT_POINT).compress().to_bytes();
            Item { public_key: public_key.to_vec(), signature: signature(r_bytes, r), message, must_verify: false }
        }
        ItemSpec::SmallOrderR { key, encoding, message } => {
            let message = clip(message);
            let (a, public_key) = keypair(key);
            let r_bytes = small_order_encoding(encoding);
            let k = challenge(&r_bytes, &public_key, &message);
            Item { public_key: public_key.to_vec(), signature: signature(r_bytes, k * a), message, must_verify: false }
        }
        ItemSpec::MixedOrderKey { key, torsion, message } => {
            let message = clip(message);
            let (a, _) = keypair(key);
            let mixed = (a * ED25519_BASEPOINT_POINT + EIGHT_TORSION[torsion as usize % 8]).compress().to_bytes();
            let r = nonce(&a, &message);
            let r_bytes = (r * ED25519_BASEPOINT_POINT).compress().to_bytes();
            let s = r + challenge(&r_bytes, &mixed, &message) * a;
            // Torsion 0 is the identity: then this is an honest signature.
            let must_verify = torsion % 8 == 0;
            Item { public_key: mixed.to_vec(), signature: signature(r_bytes, s), message, must_verify }
        }
        ItemSpec::NonCanonicalS { key, message } => {
            let (public_key, message, mut signature) = honest(key, message);
            add_group_order(&mut signature[32..]);
            Item { public_key, message, signature, must_verify: false }
        }
        ItemSpec::WrongLength { key, public_key_len, signature_len } => {
            let (mut public_key, message, mut signature) = honest(key, b"wrong length".to_vec());
            public_key.resize(public_key_len as usize % 40, 0x11);
            signature.resize(signature_len as usize % 72, 0x22);
            let must_verify = public_key.len() == 32 && signature.len() == 64;
            Item { public_key, message, signature, must_verify }
        }
    }
}

fn clip(mut message: Vec<u8>) -> Vec<u8> {
    message.truncate(MESSAGE_BYTES_MAX);
    message
}

/// Secret scalar and public key bytes of key `index`.
fn keypair(index: u8) -> (Scalar, [u8; 32]) {
    let mut wide = [0u8; 64];
    let hash = Sha512::new().chain_update(b"sluice fuzz key").chain_update([index % KEYS]).finalize();
    wide.copy_from_slice(&hash);
    let a = Scalar::from_bytes_mod_order_wide(&wide);
    (a, (a * ED25519_BASEPOINT_POINT).compress().to_bytes())
}

/// Deterministic nonce, as RFC 8032 derives it from secret and message.
fn nonce(a: &Scalar, message: &[u8]) -> Scalar {
    let hash = Sha512::new().chain_update(b"sluice fuzz nonce").chain_update(a.as_bytes()).chain_update(message);
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

/// `k = H(R ‖ A ‖ M) mod ℓ`, over the exact bytes the verifier sees.
fn challenge(r: &[u8; 32], public_key: &[u8; 32], message: &[u8]) -> Scalar {
    let hash = Sha512::new().chain_update(r).chain_update(public_key).chain_update(message);
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

fn signature(r: [u8; 32], s: Scalar) -> Vec<u8> {
    let mut out = r.to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

fn honest(key: u8, message: Vec<u8>) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let message = clip(message);
    let (a, public_key) = keypair(key);
    let r = nonce(&a, &message);
    let r_bytes = (r * ED25519_BASEPOINT_POINT).compress().to_bytes();
    let s = r + challenge(&r_bytes, &public_key, &message) * a;
    (public_key.to_vec(), message, signature(r_bytes, s))
}

/// The eight canonical small-order encodings, then every encoding of
/// `y ≥ p` (`y = p + k` for k in 0..19, both sign bits): non-canonical
/// encodings, some of small-order points, some of no point at all.
fn small_order_encoding(choice: u8) -> [u8; 32] {
    let canonical = EIGHT_TORSION.map(|t: EdwardsPoint| t.compress().to_bytes());
    let choice = choice as usize % (canonical.len() + 38);
    if choice < canonical.len() {
        return canonical[choice];
    }
    let k = (choice - canonical.len()) / 2;
    let sign = (choice - canonical.len()) % 2;
    let mut encoding = [0xFF; 32];
    encoding[0] = 0xED + k as u8;
    encoding[31] = 0x7F | (sign as u8) << 7;
    encoding
}

/// Adds ℓ = 2^252 + 27742317777372353535851937790883648493 to the 32-byte
/// little-endian scalar: the same value mod ℓ, a non-canonical encoding.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = *byte as u16 + l as u16 + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    debug_assert_eq!(carry, 0, "s < ℓ < 2^253, so s + ℓ < 2^256");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructions_mean_what_they_say() {
        // Honest signatures pass the library's strictest check, so the
        // hand-rolled signing is real ed25519.
        let (public_key, message, signature) = honest(1, b"hello".to_vec());
        let key = ed25519_dalek_free_check(&public_key, &message, &signature);
        assert!(key, "honest signature must verify cofactorless");
        let mut s = [0u8; 32];
        add_group_order(&mut s);
        assert_eq!(Scalar::from_bytes_mod_order(s), Scalar::ZERO);
        assert_eq!(small_order_encoding(8)[0], 0xED);
        assert!(small_order_encoding(3) != small_order_encoding(4));
    }

    /// `[s]B == R + [k]A` by hand.
    fn ed25519_dalek_free_check(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let a = CompressedEdwardsY(public_key.try_into().unwrap()).decompress().unwrap();
        let r_bytes: [u8; 32] = signature[..32].try_into().unwrap();
        let r = CompressedEdwardsY(r_bytes).decompress().unwrap();
        let s = Scalar::from_canonical_bytes(signature[32..].try_into().unwrap()).unwrap();
        let k = challenge(&r_bytes, public_key.try_into().unwrap(), message);
        s * ED25519_BASEPOINT_POINT == r + k * a
    }
}
