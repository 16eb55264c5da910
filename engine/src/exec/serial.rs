//! The serial reference executor: the specification of a block's result.
//!
//! Transactions run one after another, in block order, each seeing every
//! earlier transaction's writes. It is deliberately plain (a hash-map
//! overlay over the committed state), because every faster executor is
//! tested against it bit for bit: same receipts, same delta, same root.

use crate::account::{Account, AccountId};
use crate::exec::{execute_transaction_in, Receipt, RollbackImages};
use crate::program::ProgramRegistry;
use crate::state::{AccountMap, State, StateDelta};
use crate::tx::Transaction;

/// What executing a block produces: one receipt per transaction, in block
/// order, and the accounts whose value changed.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BlockOutcome {
    pub receipts: Vec<Receipt>,
    pub delta: StateDelta,
}

pub fn execute_block_serial(state: &State, txs: &[Transaction], programs: &ProgramRegistry) -> BlockOutcome {
    // Sized for every declared account: rehashing as it grew was a
    // measurable share of a transfer block.
    let accesses = txs.iter().map(|tx| tx.accounts.len()).sum();
    let mut overlay: AccountMap<Account> = AccountMap::with_capacity_and_hasher(accesses, Default::default());
    let mut receipts = Vec::with_capacity(txs.len());
    let mut images = RollbackImages::default();
    for tx in txs {
        let mut accounts: Vec<Account> =
            tx.accounts.iter().map(|m| overlay.get(&m.id).cloned().unwrap_or_else(|| state.load(&m.id))).collect();
        receipts.push(execute_transaction_in(tx, &mut accounts, programs, &mut images));
        for (meta, account) in tx.accounts.iter().zip(accounts) {
            if meta.writable {
                overlay.insert(meta.id, account);
            }
        }
    }
    assert_eq!(receipts.len(), txs.len(), "one receipt per transaction");
    BlockOutcome { receipts, delta: delta_from_overlay(state, overlay) }
}

/// Keeps only accounts whose final value differs from the committed one,
/// sorted by id: the canonical delta every executor must produce.
pub fn delta_from_overlay(state: &State, overlay: impl IntoIterator<Item = (AccountId, Account)>) -> StateDelta {
    let mut delta: StateDelta =
        overlay.into_iter().filter(|(id, account)| differs_from_state(state, id, account)).collect();
    delta.sort_unstable_by_key(|(id, _)| *id);
    // O(changed accounts) after the sort: debug only, the delta of a
    // 10,000-transfer block has 20,000 entries.
    debug_assert!(is_canonical_delta(&delta), "delta sorted by id, each id once");
    delta
}

/// Whether `delta` is in the canonical order every executor must produce:
/// ascending account id, no id twice.
pub(crate) fn is_canonical_delta(delta: &StateDelta) -> bool {
    delta.windows(2).all(|pair| pair[0].0 < pair[1].0)
}

/// Whether `account` belongs in a delta against `state`.
fn differs_from_state(state: &State, id: &AccountId, account: &Account) -> bool {
    differs_from(state.get(id), account)
}

/// Whether `account` changed from its committed value, counting an absent
/// account as the default one.
pub(crate) fn differs_from(committed: Option<&Account>, account: &Account) -> bool {
    match committed {
        Some(old) => old != account,
        None => !account.is_default(),
    }
}
