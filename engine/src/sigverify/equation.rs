//! Step 7 of the validity rule, the cofactored equation, for one signature
//! and for a random linear combination of many.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand::{thread_rng, Rng};
use std::iter::once;

use super::precheck::Prepared;

/// `[8][S]B = [8]R + [8][k]A`, computed as `[8](R − ([S]B − [k]A)) = 0`.
/// `keys` is the chunk's key table; `p.key` indexes it.
pub(crate) fn single_holds(p: &Prepared, keys: &[EdwardsPoint]) -> bool {
    debug_assert!((p.key as usize) < keys.len(), "key slot {} outside a table of {}", p.key, keys.len());
    let minus_a = -keys[p.key as usize];
    let r_expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &minus_a, &p.s);
    (p.r - r_expected).mul_by_cofactor().is_identity()
}

/// The batch equation `[8]([−Σ zᵢSᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢkᵢ]Aᵢ) = 0` with
/// fresh random 128-bit `zᵢ`.
///
/// If every item satisfies the single equation this holds for any `zᵢ`. If
/// one does not, it holds with probability at most about 2⁻¹²⁵ over the
/// choice of `zᵢ` (the cofactor removes the torsion components, leaving a
/// nonzero element of a group of prime order ℓ ≈ 2²⁵² that a 128-bit random
/// coefficient annihilates only by luck). The `zᵢ` come from a CSPRNG, so a
/// signer cannot choose inputs that cancel.
///
/// Items that share a key share one point: `Σ [zᵢkᵢ]Aᵢ` is computed as
/// `Σⱼ [Σ_{i: Aᵢ = Aⱼ} zᵢkᵢ]Aⱼ` over the distinct keys, which is the same
/// sum, so the verdict and its error bound are unchanged while the
/// multiscalar multiplication shrinks from `2n + 1` points to `n + m + 1`
/// for `m` distinct keys.
pub(crate) fn batch_holds(items: &[Prepared], keys: &[EdwardsPoint]) -> bool {
    match items {
        [] => true,
        [one] => single_holds(one, keys),
        _ => combination_is_torsion(items, keys),
    }
}

fn combination_is_torsion(items: &[Prepared], keys: &[EdwardsPoint]) -> bool {
    assert!(items.len() >= 2, "a combination of {} items: single_holds decides fewer than 2", items.len());
    let mut rng = thread_rng();
    let mut b_coeff = Scalar::ZERO;
    let mut r_coeffs = Vec::with_capacity(items.len());
    // Indexed by key slot: only the slots this (sub-)batch uses get a term.
    let mut key_coeffs: Vec<Option<Scalar>> = vec![None; keys.len()];
    for p in items {
        let z = Scalar::from(rng.gen::<u128>());
        b_coeff -= z * p.s;
        r_coeffs.push(z);
        *key_coeffs[p.key as usize].get_or_insert(Scalar::ZERO) += z * p.k;
    }
    let key_terms = key_coeffs.iter().zip(keys).filter_map(|(c, a)| c.map(|c| (c, *a)));
    let (a_coeffs, a_points): (Vec<Scalar>, Vec<EdwardsPoint>) = key_terms.unzip();
    // Every item adds to its key's coefficient, so at least one key and
    // at most one per item has a term.
    assert!(
        !a_points.is_empty() && a_points.len() <= items.len(),
        "1 to {} key terms, got {}",
        items.len(),
        a_points.len()
    );
    assert_eq!(r_coeffs.len(), items.len(), "one R coefficient per item");
    let scalars = once(b_coeff).chain(r_coeffs).chain(a_coeffs);
    let points = once(ED25519_BASEPOINT_POINT).chain(items.iter().map(|p| p.r)).chain(a_points);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
}
