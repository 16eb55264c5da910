//! Adversarial inputs: every case asserts that single verification, batch
//! verification (mixed with honest signatures, at several batch sizes) and
//! the independent `ed25519-consensus` oracle all give the documented
//! ZIP-215 verdict. Cases are built explicitly from curve points.
//!
//! Also shows why the cofactorless rule (ed25519-dalek's `verify` and
//! `verify_batch`) cannot define validity: it rejects signatures ZIP-215
//! accepts, and its batch verdict on one such signature is random.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha512};
use sluice_engine::sigverify::{impls, verify_batch, verify_parallel, verify_single, SigError, SignatureItem};

/// p = 2^255 - 19, little-endian.
fn p_plus(c: u8) -> [u8; 32] {
    let mut bytes = [0xff; 32];
    bytes[0] = 0xed;
    bytes[31] = 0x7f;
    // p's low byte is 0xed, so p + c for c ≤ 18 does not carry.
    bytes[0] += c;
    bytes
}

/// p - 1 ≡ -1, the y of the point of order 2.
fn p_minus_one() -> [u8; 32] {
    let mut bytes = p_plus(0);
    bytes[0] -= 1;
    bytes
}

fn with_sign_bit(mut bytes: [u8; 32]) -> [u8; 32] {
    bytes[31] |= 0x80;
    bytes
}

fn small_le(y: u8) -> [u8; 32] {
    let mut bytes = [0; 32];
    bytes[0] = y;
    bytes
}

const GROUP_ORDER_LE: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

fn challenge(r_bytes: &[u8; 32], a_bytes: &[u8; 32], msg: &[u8]) -> Scalar {
    let hash = Sha512::new().chain_update(r_bytes).chain_update(a_bytes).chain_update(msg).finalize();
    Scalar::from_bytes_mod_order_wide(&hash.into())
}

fn random_scalar(rng: &mut ChaCha20Rng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn signature_bytes(r_bytes: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    [r_bytes.as_slice(), s.as_slice()].concat()
}

/// Signs with explicit encodings: the key encodes `aB + (torsion)` and `R`
/// encodes `rB + (torsion)`; `S = r + k·a` makes the cofactored equation
/// hold whatever the torsion parts are.
fn sign_raw(a: Scalar, a_bytes: [u8; 32], r: Scalar, r_bytes: [u8; 32], msg: &[u8]) -> Vec<u8> {
    let s = r + challenge(&r_bytes, &a_bytes, msg) * a;
    signature_bytes(&r_bytes, &s.to_bytes())
}

#[derive(Debug)]
struct Case {
    name: String,
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
    zip215: Result<(), SigError>,
}

impl Case {
    fn item(&self) -> SignatureItem<'_> {
        SignatureItem { public_key: &self.public_key, message: &self.message, signature: &self.signature }
    }
}

fn honest_cases(count: usize, rng: &mut ChaCha20Rng) -> Vec<Case> {
    (0..count)
        .map(|i| {
            let a = random_scalar(rng);
            let a_bytes = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
            let r = random_scalar(rng);
            let r_bytes = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
            let message = format!("honest {i}").into_bytes();
            let signature = sign_raw(a, a_bytes, r, r_bytes, &message);
            Case { name: format!("honest {i}"), public_key: a_bytes.to_vec(), message, signature, zip215: Ok(()) }
        })
        .collect()
}

/// The core assertion: single == documented verdict == oracle, and batch
/// and parallel verdicts (interleaved with honest signatures) == single.
fn assert_consistent(cases: &[Case]) {
    for case in cases {
        let single = verify_single(&case.public_key, &case.message, &case.signature);
        assert_eq!(single, case.zip215, "single verdict of {}", case.name);
        let oracle = impls::consensus_verify_single(&case.public_key, &case.message, &case.signature);
        assert_eq!(oracle, case.zip215.is_ok(), "oracle verdict of {}", case.name);
    }
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let honest = honest_cases(cases.len(), &mut rng);
    let mixed: Vec<&Case> = cases.iter().zip(&honest).flat_map(|(c, h)| [c, h]).collect();
    let items: Vec<SignatureItem<'_>> = mixed.iter().map(|c| c.item()).collect();
    let expected: Vec<Result<(), SigError>> = mixed.iter().map(|c| c.zip215).collect();
    assert_eq!(verify_batch(&items), expected, "verify_batch");
    for batch_size in [1, 3, 8, 64, 1024] {
        assert_eq!(verify_parallel(&items, batch_size), expected, "batch {batch_size}");
    }
    let alone: Vec<SignatureItem<'_>> = cases.iter().map(Case::item).collect();
    let alone_expected: Vec<_> = cases.iter().map(|c| c.zip215).collect();
    assert_eq!(verify_batch(&alone), alone_expected, "verify_batch alone");
    let all_valid = alone_expected.iter().all(Result::is_ok);
    assert_eq!(impls::dalek_batch_holds(&alone), all_valid);
    assert_eq!(impls::consensus_batch_holds(&alone), all_valid);
}

/// The 8 canonical encodings of the 8-torsion points, then the 6
/// non-canonical encodings of small-order points (y ≥ p, or x = 0 with the
/// sign bit set). 14 × 14 (A, R) pairs give the 196 ZIP-215 test cases.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut encodings: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|t| t.compress().to_bytes()).collect();
    encodings.extend([
        with_sign_bit(small_le(1)),   // identity, x = 0 with sign bit
        p_plus(1),                    // identity, y = p + 1
        with_sign_bit(p_plus(1)),     // identity, y = p + 1, sign bit
        with_sign_bit(p_minus_one()), // order 2, y = p - 1, x = 0 with sign bit
        p_plus(0),                    // order 4, y = p (≡ 0)
        with_sign_bit(p_plus(0)),     // order 4, y = p, sign bit
    ]);
    encodings
}

#[test]
fn small_order_encodings_are_what_they_claim() {
    let encodings = small_order_encodings();
    assert_eq!(encodings.len(), 14);
    for (i, bytes) in encodings.iter().enumerate() {
        let point = CompressedEdwardsY(*bytes).decompress().expect("decodes");
        assert!(point.is_small_order(), "encoding {i} is small order");
        let canonical = point.compress().to_bytes() == *bytes;
        assert_eq!(canonical, i < 8, "encoding {i} canonical iff among the first 8");
    }
}

#[test]
fn zip215_small_order_vector_set_all_valid() {
    // s = 0: with A and R of small order, [8]R = [8][k]A = [8][0]B = 0, so all
    // 196 are valid under ZIP-215 whatever the message.
    let encodings = small_order_encodings();
    let mut cases = Vec::new();
    for a_bytes in &encodings {
        for r_bytes in &encodings {
            cases.push(Case {
                name: format!("A={} R={}", hex::encode(a_bytes), hex::encode(r_bytes)),
                public_key: a_bytes.to_vec(),
                message: b"Zcash".to_vec(),
                signature: signature_bytes(r_bytes, &[0; 32]),
                zip215: Ok(()),
            });
        }
    }
    assert_eq!(cases.len(), 196);
    assert_consistent(&cases);

    // The cofactorless rule disagrees on many of them.
    let cofactorless_accepts = cases.iter().filter(|c| cofactorless_single(c)).count();
    assert!(cofactorless_accepts < 196, "cofactorless rejects some ZIP-215-valid cases");
}

fn cofactorless_single(case: &Case) -> bool {
    let Ok(key_bytes) = <[u8; 32]>::try_from(case.public_key.as_slice()) else {
        return false;
    };
    let Ok(sig_bytes) = <[u8; 64]>::try_from(case.signature.as_slice()) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    key.verify_strict(&case.message, &sig).is_ok() || {
        use ed25519_dalek::Verifier;
        key.verify(&case.message, &sig).is_ok()
    }
}

#[test]
fn small_order_public_key_with_honest_r_is_valid() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let cases: Vec<Case> = EIGHT_TORSION
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let r = random_scalar(&mut rng);
            let r_bytes = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
            let a_bytes = t.compress().to_bytes();
            let message = b"any message at all".to_vec();
            // a = 0: the key's prime-order part is zero, so S = r.
            let signature = sign_raw(Scalar::ZERO, a_bytes, r, r_bytes, &message);
            Case {
                name: format!("small-order A #{i}"),
                public_key: a_bytes.to_vec(),
                message,
                signature,
                zip215: Ok(()),
            }
        })
        .collect();
    assert_consistent(&cases);
}

#[test]
fn small_order_r_with_honest_key_is_valid_and_cofactorless_rejects() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let a = random_scalar(&mut rng);
    let a_bytes = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
    let cases: Vec<Case> = EIGHT_TORSION
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let r_bytes = t.compress().to_bytes();
            let message = format!("small R {i}").into_bytes();
            Case {
                name: format!("small-order R #{i}"),
                public_key: a_bytes.to_vec(),
                signature: sign_raw(a, a_bytes, Scalar::ZERO, r_bytes, &message),
                message,
                zip215: Ok(()),
            }
        })
        .collect();
    assert_consistent(&cases);
    // Only R = identity satisfies [S]B = R + [k]A without the cofactor.
    for (case, t) in cases.iter().zip(EIGHT_TORSION.iter()) {
        assert_eq!(cofactorless_single(case), t.is_identity(), "{}", case.name);
    }
}

/// A = aB + T with T of order 8: a "mixed-order" key.
fn mixed_order_case(rng: &mut ChaCha20Rng, want_k_odd: bool) -> (Case, Scalar) {
    let torsion = EIGHT_TORSION[1];
    let a = random_scalar(rng);
    let a_bytes = (ED25519_BASEPOINT_POINT * a + torsion).compress().to_bytes();
    for attempt in 0u32.. {
        let r = random_scalar(rng);
        let r_bytes = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
        let message = format!("mixed order {attempt}").into_bytes();
        let k = challenge(&r_bytes, &a_bytes, &message);
        if (k.as_bytes()[0] & 1 == 1) != want_k_odd {
            continue;
        }
        let case = Case {
            name: format!("mixed-order A, k odd = {want_k_odd}"),
            public_key: a_bytes.to_vec(),
            signature: sign_raw(a, a_bytes, r, r_bytes, &message),
            message,
            zip215: Ok(()),
        };
        return (case, k);
    }
    unreachable!("some message gives k of either parity")
}

#[test]
fn mixed_order_public_key_is_valid() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (odd, _) = mixed_order_case(&mut rng, true);
    let (even, _) = mixed_order_case(&mut rng, false);
    assert_consistent(&[odd, even]);
}

#[test]
fn cofactorless_batch_verdict_depends_on_the_batch() {
    // Cofactorless: [S]B = R + [k]A + [k]T needs [k]T = 0, i.e. 8 | k. With
    // k odd, single cofactorless verification always rejects, while the
    // cofactorless *batch* check accepts when 8 | z, z its coefficient.
    // ed25519-dalek derives z from a transcript of the whole batch, so the
    // same signature is accepted in about 1 batch in 8, depending on which
    // other (valid) signatures share its batch: exactly what invariant 2
    // forbids. ZIP-215 accepts it singly and in every batch.
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (case, k) = mixed_order_case(&mut rng, true);
    assert!(k.as_bytes()[0] & 1 == 1);
    assert!(!cofactorless_single(&case));
    let key = dalek_key(&case);
    let sig = dalek_sig(&case);
    let companions = honest_cases(256, &mut rng); // P(all agree) < (7/8)^256 < 1e-14
    let mut batch_accepts = 0;
    for other in &companions {
        let messages: [&[u8]; 2] = [&case.message, &other.message];
        let verdict = ed25519_dalek::verify_batch(&messages, &[sig, dalek_sig(other)], &[key, dalek_key(other)]);
        batch_accepts += usize::from(verdict.is_ok());
        assert_eq!(verify_batch(&[case.item(), other.item()]), vec![Ok(()), Ok(())]);
    }
    assert!(batch_accepts > 0, "cofactorless batch accepted it in some batches");
    assert!(batch_accepts < companions.len(), "and rejected it in others");
    assert_consistent(&[case]);
}

fn dalek_key(case: &Case) -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::VerifyingKey::from_bytes(&case.public_key.clone().try_into().unwrap()).unwrap()
}

fn dalek_sig(case: &Case) -> ed25519_dalek::Signature {
    ed25519_dalek::Signature::from_bytes(&case.signature.clone().try_into().unwrap())
}

#[test]
fn non_canonical_r_encoding_is_valid_and_hashed_as_given() {
    // R = identity encoded as y = p + 1: decodes, and k hashes these bytes.
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let a = random_scalar(&mut rng);
    let a_bytes = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
    let mut cases = Vec::new();
    for (i, r_bytes) in [p_plus(1), with_sign_bit(p_plus(1)), with_sign_bit(small_le(1))].into_iter().enumerate() {
        let message = format!("non-canonical R {i}").into_bytes();
        let signature = sign_raw(a, a_bytes, Scalar::ZERO, r_bytes, &message);
        // The same S with R re-encoded canonically has a different k: invalid.
        let canonical_r = signature_bytes(&small_le(1), signature[32..].try_into().unwrap());
        cases.push(Case {
            name: format!("non-canonical R #{i}"),
            public_key: a_bytes.to_vec(),
            message: message.clone(),
            signature,
            zip215: Ok(()),
        });
        cases.push(Case {
            name: format!("re-encoded R #{i}"),
            public_key: a_bytes.to_vec(),
            message,
            signature: canonical_r,
            zip215: Err(SigError::Invalid),
        });
    }
    for case in cases.iter().step_by(2) {
        // ed25519-dalek recomputes R and compares bytes, so it rejects.
        assert!(!cofactorless_single(case), "{}", case.name);
    }
    assert_consistent(&cases);
}

/// A y < 19 with a curve point of large order: y + p is a non-canonical
/// encoding of that point.
fn large_order_small_y() -> u8 {
    (2..19)
        .find(|&y| CompressedEdwardsY(small_le(y)).decompress().is_some_and(|pt| !pt.is_small_order()))
        .expect("some y in 2..19 is on the curve")
}

#[test]
fn non_canonical_public_key_decodes_to_the_same_point() {
    let y = large_order_small_y();
    let canonical = CompressedEdwardsY(small_le(y)).decompress().unwrap();
    let non_canonical = CompressedEdwardsY(p_plus(y)).decompress().unwrap();
    assert_eq!(canonical, non_canonical);
    assert_ne!(non_canonical.compress().to_bytes(), p_plus(y));
}

#[test]
fn non_canonical_public_key_is_decoded_not_rejected() {
    // Nobody knows the discrete log of this key, so the signature is invalid,
    // but by the equation (Invalid), not by decoding (InvalidPublicKey).
    let y = large_order_small_y();
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let r = random_scalar(&mut rng);
    let r_bytes = (ED25519_BASEPOINT_POINT * r).compress().to_bytes();
    let cases: Vec<Case> = [p_plus(y), with_sign_bit(p_plus(y))]
        .into_iter()
        .map(|a_bytes| Case {
            name: format!("non-canonical A {}", hex::encode(a_bytes)),
            public_key: a_bytes.to_vec(),
            message: b"m".to_vec(),
            signature: signature_bytes(&r_bytes, &r.to_bytes()),
            zip215: Err(SigError::Invalid),
        })
        .collect();
    assert_consistent(&cases);
}

/// A y whose x² = (y² − 1)/(dy² + 1) has no square root: not a point.
fn off_curve_y() -> [u8; 32] {
    (2..=255u8)
        .map(small_le)
        .find(|b| CompressedEdwardsY(*b).decompress().is_none())
        .expect("half of all y are off the curve")
}

#[test]
fn undecodable_points_and_malformed_lengths() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let honest = honest_cases(1, &mut rng).pop().unwrap();
    let bad = off_curve_y();
    let mut cases = Vec::new();
    let mut push = |name: &str, pk: Vec<u8>, sig: Vec<u8>, zip215| {
        cases.push(Case {
            name: name.to_string(),
            public_key: pk,
            message: honest.message.clone(),
            signature: sig,
            zip215,
        })
    };
    push("off-curve A", bad.to_vec(), honest.signature.clone(), Err(SigError::InvalidPublicKey));
    let mut sig = honest.signature.clone();
    sig[..32].copy_from_slice(&bad);
    push("off-curve R", honest.public_key.clone(), sig, Err(SigError::InvalidR));
    for len in [0, 31, 33, 64] {
        push("key length", vec![1; len], honest.signature.clone(), Err(SigError::PublicKeyLength { len }));
    }
    for len in [0, 32, 63, 65, 128] {
        push("sig length", honest.public_key.clone(), vec![0; len], Err(SigError::SignatureLength { len }));
    }
    // The checks run in order: lengths, then S, then A, then R.
    let mut bad_everything = [bad, bad].concat();
    bad_everything[32..].copy_from_slice(&GROUP_ORDER_LE);
    push("S checked before A", bad.to_vec(), bad_everything, Err(SigError::NonCanonicalS));
    push("key length before sig length", vec![], vec![], Err(SigError::PublicKeyLength { len: 0 }));
    assert_consistent(&cases);
}

#[test]
fn s_at_or_above_group_order_is_rejected_before_curve_arithmetic() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let honest = honest_cases(1, &mut rng).pop().unwrap();
    let s = Scalar::from_bytes_mod_order(honest.signature[32..].try_into().unwrap());
    let l_minus_one = (-Scalar::ONE).to_bytes();
    let mut cases = Vec::new();
    let mut with_s = |name: &str, s_bytes: [u8; 32], zip215| {
        cases.push(Case {
            name: name.to_string(),
            public_key: honest.public_key.clone(),
            message: honest.message.clone(),
            signature: signature_bytes(honest.signature[..32].try_into().unwrap(), &s_bytes),
            zip215,
        })
    };
    with_s("S = ℓ", GROUP_ORDER_LE, Err(SigError::NonCanonicalS));
    with_s("S = ℓ - 1", l_minus_one, Err(SigError::Invalid));
    with_s("S = 2^256 - 1", [0xff; 32], Err(SigError::NonCanonicalS));
    let mut top_bit = [0; 32];
    top_bit[31] = 0x80;
    with_s("S = 2^255", top_bit, Err(SigError::NonCanonicalS));
    // S + ℓ is the classic malleated signature: same value mod ℓ.
    with_s("S + ℓ", add_group_order(&s.to_bytes()), Err(SigError::NonCanonicalS));
    with_s("S", s.to_bytes(), Ok(()));
    assert_consistent(&cases);
}

fn add_group_order(s: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[i]) + u16::from(GROUP_ORDER_LE[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out // S < ℓ < 2^253, so S + ℓ < 2^254: no carry out
}

#[test]
fn everything_adversarial_in_one_batch() {
    // All the above at once, shuffled among honest signatures.
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let mut cases = Vec::new();
    for want_odd in [true, false] {
        cases.push(mixed_order_case(&mut rng, want_odd).0);
    }
    let encodings = small_order_encodings();
    for (i, a_bytes) in encodings.iter().enumerate() {
        let r_bytes = encodings[(i * 5) % encodings.len()];
        for (s, zip215) in [([0; 32], Ok(())), (Scalar::ONE.to_bytes(), Err(SigError::Invalid))] {
            cases.push(Case {
                name: format!("small order {i} s={}", s[0]),
                public_key: a_bytes.to_vec(),
                message: b"Zcash".to_vec(),
                signature: signature_bytes(&r_bytes, &s),
                zip215,
            });
        }
    }
    assert_consistent(&cases);
}
