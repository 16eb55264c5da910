//! The serial reference executor: the specification of a block's result.
//!
//! Transactions run one after another, in block order, each seeing every
//! earlier transaction's writes. It is deliberately plain (a hash-map
//! overlay over the committed state), because every faster executor is
//! tested against it bit for bit: same receipts, same delta, same root.

use crate::account::{Account, AccountId};
use crate::exec::{execute_transaction, Receipt};
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
    let mut overlay: AccountMap<Account> = AccountMap::default();
    let mut receipts = Vec::with_capacity(txs.len());
    for tx in txs {
        let mut accounts: Vec<Account> =
            tx.accounts.iter().map(|m| overlay.get(&m.id).cloned().unwrap_or_else(|| state.load(&m.id))).collect();
        receipts.push(execute_transaction(tx, &mut accounts, programs));
        for (meta, account) in tx.accounts.iter().zip(accounts) {
            if meta.writable {
                overlay.insert(meta.id, account);
            }
        }
    }
    BlockOutcome { receipts, delta: delta_from_overlay(state, overlay) }
}

/// Keeps only accounts whose final value differs from the committed one,
/// sorted by id: the canonical delta every executor must produce.
pub fn delta_from_overlay(state: &State, overlay: impl IntoIterator<Item = (AccountId, Account)>) -> StateDelta {
    let mut delta: StateDelta = overlay
        .into_iter()
        .filter(|(id, account)| match state.get(id) {
            Some(old) => old != account,
            None => !account.is_default(),
        })
        .collect();
    delta.sort_unstable_by_key(|(id, _)| *id);
    delta
}
