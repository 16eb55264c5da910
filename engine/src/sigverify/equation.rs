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
pub(crate) fn single_holds(p: &Prepared) -> bool {
    let minus_a = -p.a;
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
pub(crate) fn batch_holds(items: &[Prepared]) -> bool {
    match items {
        [] => true,
        [one] => single_holds(one),
        _ => combination_is_torsion(items),
    }
}

fn combination_is_torsion(items: &[Prepared]) -> bool {
    let mut rng = thread_rng();
    let z: Vec<Scalar> = items.iter().map(|_| Scalar::from(rng.gen::<u128>())).collect();
    let b_coeff = -z.iter().zip(items).map(|(z, p)| z * p.s).sum::<Scalar>();
    let scalars = once(b_coeff).chain(z.iter().copied()).chain(z.iter().zip(items).map(|(z, p)| z * p.k));
    let points = once(ED25519_BASEPOINT_POINT).chain(items.iter().map(|p| p.r)).chain(items.iter().map(|p| p.a));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
}
