//! Accounts: the unit of state, and the ids that name accounts and programs.
//!
//! An account is keyed by a 32-byte [`AccountId`]. For an account that signs,
//! the id is its ed25519 public key, so a transaction's signer needs no
//! separate key field. Accounts created by programs get ids derived with
//! [`derive_address`], which no ed25519 key can be made to collide with.
//!
//! An absent account and an account equal to [`Account::default`] are the
//! same thing: state never stores a default account, and the state root
//! gives it no weight. That keeps "never touched" and "drained to zero"
//! indistinguishable, so the root depends only on meaningful state.

pub use crate::limits::ACCOUNT_DATA_BYTES_MAX;
use std::fmt;

/// A 32-byte account id: an ed25519 public key or a derived address.
///
/// Equality, ordering and hashing work on four 64-bit words rather than
/// on bytes. The derived byte-wise versions compiled to a `memcmp` call per
/// comparison, and ids are compared on every account lookup, every
/// conflict-graph probe and every delta sort: the call alone was a quarter
/// of serial execution time. Ordering is still the bytes' lexicographic
/// order (big-endian words), because deltas are sorted by id on disk.
#[derive(Clone, Copy, Default)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Big-endian words: comparing them in order compares the bytes.
    #[inline]
    fn words(&self) -> [u64; 4] {
        std::array::from_fn(|i| u64::from_be_bytes(self.0[i * 8..i * 8 + 8].try_into().expect("8 bytes")))
    }
}

impl PartialEq for AccountId {
    #[inline]
    fn eq(&self, other: &AccountId) -> bool {
        self.words() == other.words()
    }
}

impl Eq for AccountId {}

impl Ord for AccountId {
    #[inline]
    fn cmp(&self, other: &AccountId) -> std::cmp::Ordering {
        self.words().cmp(&other.words())
    }
}

impl PartialOrd for AccountId {
    #[inline]
    fn partial_cmp(&self, other: &AccountId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for AccountId {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Every word, not a prefix: ids are chosen by users, and the seeded
        // hash only resists flooding if it sees the whole id.
        self.words().iter().for_each(|&w| state.write_u64(w));
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Names the program that owns an account or runs an instruction.
///
/// A u16 rather than a 32-byte id: programs are registered by the chain
/// embedding Sluice, not deployed by users, so a small registry number
/// suffices and saves 30 bytes per instruction of the 1232-byte budget.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct ProgramId(pub u16);

impl ProgramId {
    /// Native system program: account creation and balance transfers.
    pub const SYSTEM: ProgramId = ProgramId(0);
    /// Native fungible token program.
    pub const TOKEN: ProgramId = ProgramId(1);
    /// Ids below this are reserved for Sluice's native programs.
    pub const USER_MIN: ProgramId = ProgramId(256);
}

/// One account's state.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Account {
    /// Native balance, in the chain's smallest unit. Pays fees.
    pub balance: u64,
    /// Next nonce the account must sign with; bumped once per executed
    /// transaction it pays for, which makes every signed transaction
    /// usable at most once.
    pub nonce: u64,
    /// The only program allowed to change `data` or debit `balance`.
    pub owner: ProgramId,
    /// Program-owned bytes, at most [`ACCOUNT_DATA_BYTES_MAX`].
    pub data: Vec<u8>,
}

impl Account {
    pub fn is_default(&self) -> bool {
        self.balance == 0 && self.nonce == 0 && self.owner == ProgramId::SYSTEM && self.data.is_empty()
    }

    /// Canonical bytes, used by the state root and snapshots:
    /// `balance u64 LE | nonce u64 LE | owner u16 LE | data_len u16 LE | data`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        debug_assert!(self.data.len() <= ACCOUNT_DATA_BYTES_MAX);
        out.extend_from_slice(&self.balance.to_le_bytes());
        out.extend_from_slice(&self.nonce.to_le_bytes());
        out.extend_from_slice(&self.owner.0.to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.data);
    }
}

/// Address of an account created by `funder` with a caller-chosen `seed`.
///
/// A blake3 hash under its own domain: finding a key whose public key
/// equals it is as hard as a preimage, so users cannot squat on others'
/// keys, and a funder can create many accounts by varying the seed.
pub fn derive_address(funder: &AccountId, seed: u64) -> AccountId {
    let mut hasher = blake3::Hasher::new_derive_key("sluice 2026 derived account address v1");
    hasher.update(&funder.0);
    hasher.update(&seed.to_le_bytes());
    AccountId(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_account_is_default() {
        assert!(Account::default().is_default());
        let funded = Account { balance: 1, ..Account::default() };
        assert!(!funded.is_default());
        let owned = Account { owner: ProgramId::TOKEN, ..Account::default() };
        assert!(!owned.is_default());
    }

    #[test]
    fn id_order_and_equality_match_the_bytes() {
        let mut ids: Vec<AccountId> = Vec::new();
        for i in 0..32 {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut bytes = [0x55u8; 32];
                bytes[i] = v;
                ids.push(AccountId(bytes));
            }
        }
        for a in &ids {
            for b in &ids {
                assert_eq!(a.cmp(b), a.0.cmp(&b.0), "{a:?} vs {b:?}");
                assert_eq!(a == b, a.0 == b.0);
            }
        }
    }

    #[test]
    fn derived_addresses_differ_by_seed_and_funder() {
        let a = AccountId([1; 32]);
        let b = AccountId([2; 32]);
        assert_ne!(derive_address(&a, 0), derive_address(&a, 1));
        assert_ne!(derive_address(&a, 0), derive_address(&b, 0));
        assert_eq!(derive_address(&a, 7), derive_address(&a, 7));
    }
}
