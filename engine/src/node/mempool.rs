//! The pending view of both mempools, CometBFT's (CheckTx) and the node's
//! own pool (`node::pool`): per signer, the next nonce it expects and the
//! balance still spendable once pending transactions pay.
//!
//! For CheckTx, CometBFT keeps the transactions; Sluice only keeps what it needs to
//! reject a transaction that cannot execute after those already admitted:
//! a wrong nonce, or a fee plus outgoing transfers that the balance left
//! over from pending transactions cannot cover. Commit clears it all, and
//! CometBFT's recheck of the remaining mempool rebuilds it against the new
//! committed state (the mempool is locked from Commit through recheck),
//! after the node's pool has re-admitted its own transactions.
//!
//! Balances here are an estimate on the safe side: incoming transfers
//! from pending transactions are not credited, so a transaction that
//! depends on one is admitted only after that one commits.

use crate::account::{Account, AccountId, ProgramId};
use crate::exec::ExecError;
use crate::program::system;
use crate::state::AccountMap;
use crate::tx::Transaction;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingSigner {
    next_nonce: u64,
    spendable_balance: u64,
}

/// Why CheckTx turned a well-formed, well-signed transaction away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdmitError {
    BadNonce {
        expected: u64,
        got: u64,
    },
    NonceExhausted,
    InsufficientFeeBalance {
        spendable: u64,
        fee: u64,
    },
    InsufficientFunds {
        spendable: u64,
        cost: u64,
    },
    /// `signers_max` distinct signers already have pending transactions.
    SignersFull {
        max: u32,
    },
    /// `pending_txs_max` transactions were admitted since the last Commit.
    PendingTxsFull {
        max: u32,
    },
}

impl AdmitError {
    /// ABCI code: the execution error's code where one exists, so a client
    /// sees the same code from CheckTx as it would from FinalizeBlock.
    pub fn code(self) -> u32 {
        match self {
            AdmitError::BadNonce { .. } => ExecError::BadNonce.code(),
            AdmitError::NonceExhausted => ExecError::NonceExhausted.code(),
            AdmitError::InsufficientFeeBalance { .. } => ExecError::InsufficientFeeBalance.code(),
            AdmitError::InsufficientFunds { .. } => ExecError::InsufficientFunds.code(),
            AdmitError::SignersFull { .. } | AdmitError::PendingTxsFull { .. } => super::CODE_MEMPOOL_FULL,
        }
    }

    pub fn log(self) -> String {
        match self {
            AdmitError::BadNonce { expected, got } => format!("bad_nonce: expected {expected}, got {got}"),
            AdmitError::NonceExhausted => "nonce_exhausted".to_string(),
            AdmitError::InsufficientFeeBalance { spendable, fee } => {
                format!("insufficient_fee_balance: spendable {spendable}, fee {fee}")
            }
            AdmitError::InsufficientFunds { spendable, cost } => {
                format!("insufficient_funds: spendable {spendable}, fee plus transfers {cost}")
            }
            AdmitError::SignersFull { max } => format!("mempool_full: signers_max {max} reached"),
            AdmitError::PendingTxsFull { max } => format!("mempool_full: pending_txs_max {max} reached"),
        }
    }
}

pub struct PendingState {
    signers: AccountMap<PendingSigner>,
    pending_txs: u32,
    signers_max: u32,
    pending_txs_max: u32,
}

impl PendingState {
    pub fn new(signers_max: u32, pending_txs_max: u32) -> PendingState {
        assert!(signers_max > 0 && pending_txs_max > 0);
        PendingState { signers: AccountMap::default(), pending_txs: 0, signers_max, pending_txs_max }
    }

    pub fn signers(&self) -> usize {
        self.signers.len()
    }

    pub fn pending_txs(&self) -> u32 {
        self.pending_txs
    }

    /// Commit: everything pending is either in the block or will be rechecked.
    pub fn reset(&mut self) {
        self.signers.clear();
        self.pending_txs = 0;
    }

    /// Admits `tx` if it can execute after every transaction admitted
    /// before it; `committed` is the signer's account in committed state.
    pub fn admit(&mut self, tx: &Transaction, committed: &Account) -> Result<(), AdmitError> {
        if self.pending_txs >= self.pending_txs_max {
            return Err(AdmitError::PendingTxsFull { max: self.pending_txs_max });
        }
        let signer = *tx.signer();
        let known = self.signers.get(&signer).copied();
        if known.is_none() && self.signers.len() >= self.signers_max as usize {
            return Err(AdmitError::SignersFull { max: self.signers_max });
        }
        let current =
            known.unwrap_or(PendingSigner { next_nonce: committed.nonce, spendable_balance: committed.balance });
        if tx.nonce != current.next_nonce {
            return Err(AdmitError::BadNonce { expected: current.next_nonce, got: tx.nonce });
        }
        let next_nonce = current.next_nonce.checked_add(1).ok_or(AdmitError::NonceExhausted)?;
        let spendable = current.spendable_balance;
        if tx.fee > spendable {
            return Err(AdmitError::InsufficientFeeBalance { spendable, fee: tx.fee });
        }
        let cost = outgoing_transfers(tx)
            .and_then(|out| out.checked_add(tx.fee))
            .ok_or(AdmitError::InsufficientFunds { spendable, cost: u64::MAX })?;
        if cost > spendable {
            return Err(AdmitError::InsufficientFunds { spendable, cost });
        }
        self.signers.insert(signer, PendingSigner { next_nonce, spendable_balance: spendable - cost });
        self.pending_txs += 1;
        debug_assert!(self.signers.len() <= self.signers_max as usize);
        Ok(())
    }
}

/// Sum of native system transfers out of the signer (account 0); `None`
/// on overflow. Other programs' debits are not modelled: execution still
/// checks them, CheckTx only filters what it can see cheaply.
pub fn outgoing_transfers(tx: &Transaction) -> Option<u64> {
    let mut total = 0u64;
    for instruction in &tx.instructions {
        if let Some(amount) = system_transfer_amount(instruction.program, &instruction.data) {
            if instruction.accounts.first() == Some(&0) {
                total = total.checked_add(amount)?;
            }
        }
    }
    Some(total)
}

/// The amount of a system `Transfer`, recognised by re-encoding: the
/// system program owns the instruction layout, so this cannot drift from it.
pub fn system_transfer_amount(program: ProgramId, data: &[u8]) -> Option<u64> {
    if program != ProgramId::SYSTEM || data.len() != 9 {
        return None;
    }
    let amount = u64::from_le_bytes(data[1..9].try_into().ok()?);
    (system::transfer_data(amount) == data).then_some(amount)
}

/// The (from, to, amount) of each system transfer in `tx`, for events.
pub fn system_transfers(tx: &Transaction) -> impl Iterator<Item = (AccountId, AccountId, u64)> + '_ {
    tx.instructions.iter().filter_map(|instruction| {
        let amount = system_transfer_amount(instruction.program, &instruction.data)?;
        let from = tx.accounts.get(*instruction.accounts.first()? as usize)?.id;
        let to = tx.accounts.get(*instruction.accounts.get(1)? as usize)?.id;
        Some((from, to, amount))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{transfer, WORKLOAD_FEE};

    #[test]
    fn nonces_chain_and_balance_is_reserved() {
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        let committed = Account { balance: 100, nonce: 5, ..Account::default() };
        let mut pending = PendingState::new(10, 10);
        assert_eq!(pending.admit(&transfer(a, b, 4, 1), &committed), Err(AdmitError::BadNonce { expected: 5, got: 4 }));
        pending.admit(&transfer(a, b, 5, 50), &committed).unwrap();
        assert_eq!(pending.admit(&transfer(a, b, 5, 1), &committed), Err(AdmitError::BadNonce { expected: 6, got: 5 }));
        let spendable = 100 - 50 - WORKLOAD_FEE;
        assert_eq!(
            pending.admit(&transfer(a, b, 6, 50), &committed),
            Err(AdmitError::InsufficientFunds { spendable, cost: 50 + WORKLOAD_FEE })
        );
        pending.admit(&transfer(a, b, 6, 1), &committed).unwrap();
        assert_eq!(pending.pending_txs(), 2);
        pending.reset();
        assert_eq!((pending.signers(), pending.pending_txs()), (0, 0));
    }

    #[test]
    fn limits_are_named_errors() {
        let committed = Account { balance: 1000, ..Account::default() };
        let mut pending = PendingState::new(1, 2);
        pending.admit(&transfer(AccountId([1; 32]), AccountId([2; 32]), 0, 1), &committed).unwrap();
        let other = transfer(AccountId([3; 32]), AccountId([2; 32]), 0, 1);
        assert_eq!(pending.admit(&other, &committed), Err(AdmitError::SignersFull { max: 1 }));
        pending.admit(&transfer(AccountId([1; 32]), AccountId([2; 32]), 1, 1), &committed).unwrap();
        let third = transfer(AccountId([1; 32]), AccountId([2; 32]), 2, 1);
        assert_eq!(pending.admit(&third, &committed), Err(AdmitError::PendingTxsFull { max: 2 }));
    }
}
