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

impl LtHash {
    /// The vector one account contributes. Zero for a default account.
    pub fn of_account(id: &AccountId, account: &Account) -> LtHash {
        let mut out = LtHash::default();
        if account.is_default() {
            return out;
        }
        let mut bytes = Vec::with_capacity(32 + 20 + account.data.len());
        bytes.extend_from_slice(&id.0);
        account.encode_into(&mut bytes);
        let mut hasher = blake3::Hasher::new_derive_key("sluice 2026 account lthash v1");
        hasher.update(&bytes);
        let mut xof = [0u8; LTHASH_LIMBS * 2];
        hasher.finalize_xof().fill(&mut xof);
        for (limb, pair) in out.0.iter_mut().zip(xof.chunks_exact(2)) {
            *limb = u16::from_le_bytes([pair[0], pair[1]]);
        }
        out
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
