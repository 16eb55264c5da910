//! Committed account state, its lattice-hash root, and seeded genesis.
//!
//! [`State`] is what a block executes against and what commit updates.
//! Executors never mutate it: they return a [`StateDelta`], the sorted list
//! of accounts whose value changed, and commit applies it with
//! [`State::apply`]. Keeping execution pure is what lets the serial and the
//! parallel executor be compared on the same input.

use std::fmt;
use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use rayon::prelude::*;

use crate::account::{Account, AccountId};
pub use crate::limits::GENESIS_ACCOUNTS_MAX;
use crate::lthash::LtHash;

/// Account maps hash with foldhash under a per-process random seed. It is
/// much cheaper than std's SipHash on 32-byte ids, which showed up among
/// execution's top costs in callgrind, and it is still keyed, so ids chosen
/// by users cannot be crafted to collide. Iteration order is never relied
/// on: everything that leaves a map is sorted first.
pub type AccountMap<V> = std::collections::HashMap<AccountId, V, foldhash::fast::RandomState>;

/// Accounts changed by a block, sorted by id, each with its new value.
/// Sorted so that two executors' deltas compare bit for bit, and so that
/// commit's output does not depend on hash-map order.
pub type StateDelta = Vec<(AccountId, Account)>;

/// Each genesis account starts with this balance: enough for any workload
/// Sluice generates to pay its fees and transfers without running dry.
pub const GENESIS_BALANCE: u64 = 1_000_000_000_000;

#[derive(Clone, Default)]
pub struct State {
    accounts: AccountMap<Account>,
    lattice: LtHash,
}

impl State {
    pub fn get(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }

    /// The account's value, default if absent. Executors load through this.
    pub fn load(&self, id: &AccountId) -> Account {
        self.accounts.get(id).cloned().unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn root(&self) -> [u8; 32] {
        self.lattice.checksum()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&AccountId, &Account)> {
        self.accounts.iter()
    }

    /// Sum of every balance; the supply-conservation tests compare it.
    pub fn total_balance(&self) -> u128 {
        self.accounts.values().map(|a| a.balance as u128).sum()
    }

    /// Applies a block's changes: O(changed accounts) for both the map and
    /// the lattice. The old and new vectors are hashed in parallel because
    /// the XOF, not the limb sums, dominates.
    pub fn apply(&mut self, delta: &StateDelta) {
        debug_assert!(delta.windows(2).all(|w| w[0].0 < w[1].0), "delta must be sorted and unique");
        let accounts = &self.accounts;
        // One accumulator: the limbs wrap mod 2^16, so adding the new
        // vectors and subtracting the old ones in any order gives the sum.
        let diff = delta
            .par_iter()
            .fold(LtHash::default, |mut diff, (id, new)| {
                if let Some(old) = accounts.get(id) {
                    diff.sub_account(id, old);
                }
                diff.add_account(id, new);
                diff
            })
            .reduce(LtHash::default, |mut left, right| {
                left.add(&right);
                left
            });
        self.lattice.add(&diff);
        for (id, account) in delta {
            if account.is_default() {
                self.accounts.remove(id);
            } else {
                self.accounts.insert(*id, account.clone());
            }
        }
    }

    /// Recomputes the root from every account: O(all accounts). For audits
    /// and tests that check the incremental root against a full rebuild.
    pub fn root_from_scratch(&self) -> [u8; 32] {
        let lattice = self
            .accounts
            .par_iter()
            .fold(LtHash::default, |mut sum, (id, a)| {
                sum.add_account(id, a);
                sum
            })
            .reduce(LtHash::default, |mut x, y| {
                x.add(&y);
                x
            });
        lattice.checksum()
    }

    /// Builds state from a list of accounts (genesis, snapshots).
    pub fn from_accounts(accounts: impl IntoIterator<Item = (AccountId, Account)>) -> State {
        let mut delta: StateDelta = accounts.into_iter().filter(|(_, a)| !a.is_default()).collect();
        delta.sort_by_key(|(id, _)| *id);
        delta.dedup_by(|a, b| a.0 == b.0);
        let mut state = State::default();
        state.apply(&delta);
        state
    }
}

/// Deterministic genesis: `accounts` funded accounts whose ed25519 keys
/// derive from `seed`, so any machine can rebuild the keys and sign.
pub struct Genesis {
    pub seed: u64,
    pub keys: Vec<SigningKey>,
}

impl Genesis {
    pub fn new(seed: u64, accounts: u32) -> Result<Genesis, GenesisKeysError> {
        check_genesis_accounts(accounts)?;
        let keys = (0..accounts).into_par_iter().map(|i| genesis_key(seed, i)).collect();
        Ok(Genesis { seed, keys })
    }

    pub fn id(&self, index: usize) -> AccountId {
        AccountId(self.keys[index].verifying_key().to_bytes())
    }

    pub fn state(&self) -> State {
        genesis_state((0..self.keys.len()).map(|i| self.id(i)).collect())
    }
}

/// Genesis signing keys, each derived on first use and then kept.
///
/// Deriving a key costs a scalar multiplication, and a chain has up to
/// `GENESIS_ACCOUNTS_MAX` of them. A run that resumes from a snapshot needs
/// no genesis state at all, and its workload needs only the keys of the
/// accounts it signs for or sends to; a store without a usable snapshot
/// needs every id. Sharing one `GenesisKeys` between the two derives each
/// key at most once, and only if something uses it. The keys are those of
/// [`Genesis::new`]: the same seed gives the same ids and the same state.
pub struct GenesisKeys {
    seed: u64,
    keys: Vec<OnceLock<SigningKey>>,
}

impl GenesisKeys {
    /// No key is derived here.
    pub fn new(seed: u64, accounts: u32) -> Result<GenesisKeys, GenesisKeysError> {
        check_genesis_accounts(accounts)?;
        Ok(GenesisKeys { seed, keys: (0..accounts).map(|_| OnceLock::new()).collect() })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of genesis accounts (derived or not).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of account `index` (< `len()`), derived now if it was not yet.
    pub fn key(&self, index: u32) -> &SigningKey {
        self.keys[index as usize].get_or_init(|| genesis_key(self.seed, index))
    }

    pub fn id(&self, index: u32) -> AccountId {
        AccountId(self.key(index).verifying_key().to_bytes())
    }

    /// Derives the keys of `indices` that are not derived yet, in parallel
    /// on the current rayon pool.
    pub fn derive(&self, indices: &[u32]) {
        indices.par_iter().for_each(|&index| {
            self.key(index);
        });
    }

    /// How many keys have been derived so far.
    pub fn derived(&self) -> usize {
        self.keys.iter().filter(|key| key.get().is_some()).count()
    }

    /// The genesis state: every account, so every key is derived.
    pub fn state(&self) -> State {
        let ids: Vec<AccountId> = (0..self.keys.len() as u32).into_par_iter().map(|index| self.id(index)).collect();
        genesis_state(ids)
    }

    /// Every key, as a [`Genesis`]: those not derived yet are derived now,
    /// in parallel on the current rayon pool.
    pub fn into_genesis(self) -> Genesis {
        let seed = self.seed;
        let keys = self
            .keys
            .into_par_iter()
            .enumerate()
            .map(|(index, key)| key.into_inner().unwrap_or_else(|| genesis_key(seed, index as u32)))
            .collect();
        Genesis { seed, keys }
    }
}

/// The funded genesis accounts, whatever derived their ids.
fn genesis_state(ids: Vec<AccountId>) -> State {
    State::from_accounts(ids.into_iter().map(|id| (id, Account { balance: GENESIS_BALANCE, ..Account::default() })))
}

fn check_genesis_accounts(accounts: u32) -> Result<(), GenesisKeysError> {
    if accounts == 0 || accounts > GENESIS_ACCOUNTS_MAX {
        return Err(GenesisKeysError::AccountCount { accounts });
    }
    Ok(())
}

/// Why a seeded genesis ([`Genesis`], [`GenesisKeys`]) cannot be built.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GenesisKeysError {
    /// The account count is not 1..=`GENESIS_ACCOUNTS_MAX`.
    AccountCount { accounts: u32 },
}

impl fmt::Display for GenesisKeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenesisKeysError::AccountCount { accounts } => {
                write!(f, "genesis accounts must be 1..={GENESIS_ACCOUNTS_MAX}, got {accounts}")
            }
        }
    }
}

impl std::error::Error for GenesisKeysError {}

/// The signing key of genesis account `index` under `seed`.
pub fn genesis_key(seed: u64, index: u32) -> SigningKey {
    let mut hasher = blake3::Hasher::new_derive_key("sluice 2026 genesis signing key v1");
    hasher.update(&seed.to_le_bytes());
    hasher.update(&index.to_le_bytes());
    SigningKey::from_bytes(hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_root_equals_full_rebuild() {
        let genesis = Genesis::new(1, 20).unwrap();
        let mut state = genesis.state();
        assert_eq!(state.root(), state.root_from_scratch());
        let mut delta: StateDelta = vec![
            (genesis.id(0), Account { balance: 5, nonce: 1, ..Account::default() }),
            (genesis.id(1), Account::default()),
            (AccountId([9; 32]), Account { balance: 7, ..Account::default() }),
        ];
        delta.sort_by_key(|(id, _)| *id);
        state.apply(&delta);
        assert_eq!(state.len(), 20);
        assert_eq!(state.root(), state.root_from_scratch());
        assert!(state.get(&genesis.id(1)).is_none(), "a zeroed account is removed");
    }

    #[test]
    fn lazy_keys_derive_on_use_and_equal_the_eager_ones() {
        let eager = Genesis::new(3, 12).unwrap();
        let lazy = GenesisKeys::new(3, 12).unwrap();
        assert_eq!(lazy.derived(), 0, "nothing is derived up front");
        assert_eq!(lazy.id(7), eager.id(7));
        lazy.derive(&[7, 2, 2]);
        assert_eq!(lazy.derived(), 2);
        assert_eq!(lazy.key(2).to_bytes(), eager.keys[2].to_bytes());
        assert_eq!(lazy.state().root(), eager.state().root());
        assert_eq!(lazy.derived(), 12, "the state needs every id");
        assert_eq!(GenesisKeys::new(1, 0).err(), Some(GenesisKeysError::AccountCount { accounts: 0 }));
        assert!(GenesisKeys::new(1, GENESIS_ACCOUNTS_MAX + 1).is_err());

        let partly = GenesisKeys::new(3, 12).unwrap();
        partly.derive(&[5]);
        let whole = partly.into_genesis();
        assert_eq!(whole.seed, 3);
        let bytes = |g: &Genesis| g.keys.iter().map(|k| k.to_bytes()).collect::<Vec<_>>();
        assert_eq!(bytes(&whole), bytes(&eager), "derived and not yet derived keys alike");
    }

    #[test]
    fn genesis_is_deterministic_per_seed() {
        let a = Genesis::new(7, 5).unwrap();
        let b = Genesis::new(7, 5).unwrap();
        let c = Genesis::new(8, 5).unwrap();
        assert_eq!(a.state().root(), b.state().root());
        assert_ne!(a.state().root(), c.state().root());
        assert!(Genesis::new(1, 0).is_err());
    }
}
