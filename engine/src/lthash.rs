//! Lattice hash of the account state: the state root in O(changed accounts).
//!
//! Each account maps to a vector of [`LTHASH_LIMBS`] 16-bit limbs, read from
//! the blake3 XOF of its id and canonical bytes. The state's lattice is the
//! limb-wise sum, mod 2^16, of every account's vector. Replacing an account
//! subtracts its old vector and adds its new one, so a block costs two XOF
//! calls per changed account, whatever the state's size, and the sum is
//! independent of order, so the vectors can be computed in parallel.
//!
//! This is the construction of Bellare–Micciancio's LtHash as deployed by
//! Solana's accounts lattice hash (SIMD-0215), with the same parameters:
//! 1024 limbs of 16 bits (2 KiB). Its collision resistance rests on the
//! short-integer-solution problem in that lattice; the parameters are the
//! ones analysed for Facebook's and Solana's deployments, not ours.
//!
//! The 32-byte state root is blake3 of the 2 KiB lattice. A default
//! (absent) account contributes the zero vector, so absent and zeroed
//! accounts are indistinguishable, as [`crate::account`] requires.

use crate::account::{Account, AccountId};

pub const LTHASH_LIMBS: usize = 1024;

#[derive(Clone, PartialEq, Eq)]
pub struct LtHash(pub Box<[u16; LTHASH_LIMBS]>);

impl Default for LtHash {
    fn default() -> Self {
        LtHash(Box::new([0; LTHASH_LIMBS]))
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({})", hex::encode(self.checksum()))
    }
}

/// The blake3 derive-key context of account vectors. Changing it changes
/// every state root.
const ACCOUNT_CONTEXT: &str = "sluice 2026 account lthash v1";

/// A hasher in derive-key mode for [`ACCOUNT_CONTEXT`], made once: deriving
/// the context key costs a blake3 compression of its own, which every
/// account vector used to pay again. A clone continues from exactly the
/// state `new_derive_key` returns, so the output is unchanged.
static ACCOUNT_HASHER: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(ACCOUNT_CONTEXT));

/// The XOF bytes of one account's vector, little-endian limbs; `None` for a
/// default account, whose vector is zero.
fn account_xof(id: &AccountId, account: &Account) -> Option<[u8; LTHASH_LIMBS * 2]> {
    if account.is_default() {
        return None;
    }
    let mut bytes = Vec::with_capacity(32 + 20 + account.data.len());
    bytes.extend_from_slice(&id.0);
    account.encode_into(&mut bytes);
    let mut hasher = ACCOUNT_HASHER.clone();
    hasher.update(&bytes);
    let mut xof = [0u8; LTHASH_LIMBS * 2];
    hasher.finalize_xof().fill(&mut xof);
    Some(xof)
}

impl LtHash {
    /// The vector one account contributes. Zero for a default account.
    pub fn of_account(id: &AccountId, account: &Account) -> LtHash {
        let mut out = LtHash::default();
        out.add_account(id, account);
        out
    }

    /// Adds the vector of `account` without building it as an `LtHash`
    /// (no 2 KiB allocation per account): what a block's state update does
    /// for every account it writes.
    pub fn add_account(&mut self, id: &AccountId, account: &Account) {
        if let Some(xof) = account_xof(id, account) {
            for (limb, pair) in self.0.iter_mut().zip(xof.chunks_exact(2)) {
                *limb = limb.wrapping_add(u16::from_le_bytes([pair[0], pair[1]]));
            }
        }
    }

    /// Subtracts the vector of `account`: the inverse of `add_account`.
    pub fn sub_account(&mut self, id: &AccountId, account: &Account) {
        if let Some(xof) = account_xof(id, account) {
            for (limb, pair) in self.0.iter_mut().zip(xof.chunks_exact(2)) {
                *limb = limb.wrapping_sub(u16::from_le_bytes([pair[0], pair[1]]));
            }
        }
    }

    pub fn add(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    pub fn sub(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// blake3 of the lattice's little-endian bytes: the 32-byte state root.
    pub fn checksum(&self) -> [u8; 32] {
        let mut bytes = [0u8; LTHASH_LIMBS * 2];
        for (pair, limb) in bytes.chunks_exact_mut(2).zip(self.0.iter()) {
            pair.copy_from_slice(&limb.to_le_bytes());
        }
        *blake3::hash(&bytes).as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(balance: u64) -> Account {
        Account { balance, ..Account::default() }
    }

    /// The derive-key hasher made once and cloned gives what a fresh
    /// `new_derive_key` gives: the state roots on record stay the same.
    #[test]
    fn cloned_context_hasher_equals_a_fresh_one() {
        let (id, account) = (AccountId([7; 32]), acct(42));
        let mut bytes = id.0.to_vec();
        account.encode_into(&mut bytes);
        let mut fresh = blake3::Hasher::new_derive_key(ACCOUNT_CONTEXT);
        fresh.update(&bytes);
        let mut expected = [0u8; LTHASH_LIMBS * 2];
        fresh.finalize_xof().fill(&mut expected);
        assert_eq!(account_xof(&id, &account), Some(expected));
        let mut both = LtHash::of_account(&id, &account);
        both.sub_account(&id, &account);
        assert_eq!(both, LtHash::default());
    }

    #[test]
    fn order_independent_and_invertible() {
        let (a, b) =
            (LtHash::of_account(&AccountId([1; 32]), &acct(5)), LtHash::of_account(&AccountId([2; 32]), &acct(6)));
        let mut ab = LtHash::default();
        ab.add(&a);
        ab.add(&b);
        let mut ba = LtHash::default();
        ba.add(&b);
        ba.add(&a);
        assert_eq!(ab, ba);
        ab.sub(&a);
        ab.sub(&b);
        assert_eq!(ab, LtHash::default());
    }

    #[test]
    fn default_account_contributes_nothing() {
        assert_eq!(LtHash::of_account(&AccountId([3; 32]), &Account::default()), LtHash::default());
    }

    #[test]
    fn every_field_changes_the_vector() {
        let id = AccountId([4; 32]);
        let base = Account { balance: 1, nonce: 1, owner: crate::account::ProgramId::TOKEN, data: vec![1] };
        let h = LtHash::of_account(&id, &base);
        let variants = [
            Account { balance: 2, ..base.clone() },
            Account { nonce: 2, ..base.clone() },
            Account { owner: crate::account::ProgramId::SYSTEM, ..base.clone() },
            Account { data: vec![2], ..base.clone() },
        ];
        for v in variants {
            assert_ne!(LtHash::of_account(&id, &v), h, "{v:?}");
        }
        assert_ne!(LtHash::of_account(&AccountId([5; 32]), &base), h);
    }
}
