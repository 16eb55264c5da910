//! Transaction semantics, receipts, and the serial reference executor.
//!
//! [`execute_transaction`] is the one definition of what a transaction
//! does to the accounts it declared. Every executor calls it; they differ
//! only in how they load and store accounts and in what order independent
//! transactions run. The rules, in order:
//!
//! 1. **Pre-checks.** The fee payer (account 0, the signer) must carry the
//!    transaction's nonce and a balance that covers the fee. If not, the
//!    transaction is *rejected*: its receipt names the error, no fee is
//!    charged, and no account changes.
//! 2. **Fee and nonce.** The fee is debited (and burned: crediting a fee
//!    collector would make every transaction write one shared account and
//!    serialise every block) and the nonce is bumped. These two changes
//!    stand whatever happens next.
//! 3. **Instructions** run in order against the declared accounts. After
//!    each one the runtime checks conservation and ownership (below). The
//!    first error *fails* the transaction: every change since step 2 is
//!    rolled back, and the receipt records the error and the instruction.
//!
//! Runtime checks after each instruction, whatever the program: the sum of
//! native balances over the declared accounts is unchanged; an account's
//! data, owner or nonce changed, or its balance fell, only if its owner is
//! the running program; and no account's data exceeds
//! `ACCOUNT_DATA_BYTES_MAX`.

// The fuzzing harness ships in no embedder's build: feature `fuzzing` (the
// fuzz targets, the property tests, a chain fuzzing its own programs).
#[cfg(any(test, feature = "fuzzing"))]
pub mod differential;
mod error;
pub mod graph;
pub mod parallel;
pub mod serial;

pub use error::ExecError;
pub use graph::ConflictGraph;
pub use parallel::execute_block_parallel;
pub use serial::{execute_block_serial, BlockOutcome};

use std::fmt;
use std::str::FromStr;

use crate::account::{Account, ProgramId, ACCOUNT_DATA_BYTES_MAX};
use crate::program::{InvokeContext, ProgramRegistry};
use crate::state::State;
use crate::tx::Transaction;

/// Which executor runs blocks. Both give identical results; the serial
/// one is the reference the parallel one is tested against.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ExecutorKind {
    Serial,
    /// On the current rayon pool.
    #[default]
    Parallel,
}

impl ExecutorKind {
    pub fn execute(self, state: &State, txs: &[Transaction], programs: &ProgramRegistry) -> BlockOutcome {
        match self {
            ExecutorKind::Serial => execute_block_serial(state, txs, programs),
            ExecutorKind::Parallel => execute_block_parallel(state, txs, programs),
        }
    }
}

impl FromStr for ExecutorKind {
    type Err = UnknownExecutor;

    fn from_str(s: &str) -> Result<Self, UnknownExecutor> {
        match s {
            "serial" => Ok(ExecutorKind::Serial),
            "parallel" => Ok(ExecutorKind::Parallel),
            _ => Err(UnknownExecutor { name: s.to_string() }),
        }
    }
}

/// A name that is none of the executors' (`parallel`, `serial`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnknownExecutor {
    pub name: String,
}

impl fmt::Display for UnknownExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown executor {:?}: expected parallel or serial", self.name)
    }
}

impl std::error::Error for UnknownExecutor {}

impl fmt::Display for ExecutorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExecutorKind::Serial => "serial",
            ExecutorKind::Parallel => "parallel",
        })
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TxStatus {
    Ok,
    /// An instruction failed: fee and nonce charged, nothing else changed.
    Failed {
        error: ExecError,
        instruction: u8,
    },
    /// A pre-check failed: nothing charged, nothing changed.
    Rejected {
        error: ExecError,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Receipt {
    pub status: TxStatus,
    pub fee_charged: u64,
}

/// Encoded receipt size: status u8, code u32, instruction u8, fee u64.
pub const RECEIPT_BYTES: usize = 14;

impl Receipt {
    /// `status (0 ok, 1 failed, 2 rejected) | code u32 LE | instruction u8 | fee u64 LE`.
    pub fn encode(&self) -> [u8; RECEIPT_BYTES] {
        let (status, code, instruction) = match self.status {
            TxStatus::Ok => (0u8, 0u32, 0u8),
            TxStatus::Failed { error, instruction } => (1, error.code(), instruction),
            TxStatus::Rejected { error } => (2, error.code(), 0),
        };
        let mut out = [0u8; RECEIPT_BYTES];
        out[0] = status;
        out[1..5].copy_from_slice(&code.to_le_bytes());
        out[5] = instruction;
        out[6..14].copy_from_slice(&self.fee_charged.to_le_bytes());
        out
    }

    /// Inverse of [`Receipt::encode`]; `None` for any non-canonical bytes.
    pub fn decode(bytes: &[u8; RECEIPT_BYTES]) -> Option<Receipt> {
        let code = u32::from_le_bytes(bytes[1..5].try_into().expect("4 bytes"));
        let instruction = bytes[5];
        let fee_charged = u64::from_le_bytes(bytes[6..14].try_into().expect("8 bytes"));
        let status = match (bytes[0], code, instruction) {
            (0, 0, 0) => TxStatus::Ok,
            (1, code, instruction) => TxStatus::Failed { error: ExecError::from_code(code)?, instruction },
            (2, code, 0) => TxStatus::Rejected { error: ExecError::from_code(code)? },
            _ => return None,
        };
        let receipt = Receipt { status, fee_charged };
        (receipt.encode() == *bytes).then_some(receipt)
    }

    pub fn is_ok(&self) -> bool {
        self.status == TxStatus::Ok
    }
}

/// Runs `tx` against `accounts`, the current values of its declared
/// accounts in declared order. On return `accounts` holds their new
/// values; the caller stores back the writable ones.
pub fn execute_transaction(tx: &Transaction, accounts: &mut [Account], programs: &ProgramRegistry) -> Receipt {
    execute_transaction_in(tx, accounts, programs, &mut RollbackImages::default())
}

/// The copies of a transaction's accounts that rollback and the runtime
/// checks compare against. An executor keeps one per worker and reuses it:
/// allocating them afresh was a tenth of a transfer's cost.
#[derive(Default)]
pub struct RollbackImages {
    after_fee: Vec<Account>,
    before: Vec<Account>,
}

/// [`execute_transaction`] with images reused from earlier transactions.
pub fn execute_transaction_in(
    tx: &Transaction,
    accounts: &mut [Account],
    programs: &ProgramRegistry,
    images: &mut RollbackImages,
) -> Receipt {
    assert_eq!(accounts.len(), tx.accounts.len(), "caller loads every declared account");
    // The decoder refuses a transaction without accounts; indexing the
    // fee payer below relies on it.
    assert!(!accounts.is_empty(), "a transaction declares its fee payer, account 0");
    if let Err(error) = charge_fee(tx, &mut accounts[0]) {
        return Receipt { status: TxStatus::Rejected { error }, fee_charged: 0 };
    }
    // `after_fee` is the rollback image; `before` is what the runtime
    // checks compare each instruction against. They coincide for the first
    // instruction, so single-instruction transactions copy once.
    accounts.clone_into(&mut images.after_fee);
    for (index, ix) in tx.instructions.iter().enumerate() {
        let image = if index == 0 { &images.after_fee } else { &images.before };
        if let Err(error) = run_instruction(tx, ix, accounts, image, programs) {
            accounts.clone_from_slice(&images.after_fee);
            let status = TxStatus::Failed { error, instruction: index as u8 };
            return Receipt { status, fee_charged: tx.fee };
        }
        if index + 1 < tx.instructions.len() {
            accounts.clone_into(&mut images.before);
        }
    }
    Receipt { status: TxStatus::Ok, fee_charged: tx.fee }
}

fn charge_fee(tx: &Transaction, payer: &mut Account) -> Result<(), ExecError> {
    if payer.nonce != tx.nonce {
        return Err(ExecError::BadNonce);
    }
    let nonce = payer.nonce.checked_add(1).ok_or(ExecError::NonceExhausted)?;
    let balance = payer.balance.checked_sub(tx.fee).ok_or(ExecError::InsufficientFeeBalance)?;
    payer.nonce = nonce;
    payer.balance = balance;
    Ok(())
}

/// Runs one instruction; `before` must equal `accounts` on entry.
fn run_instruction(
    tx: &Transaction,
    ix: &crate::tx::Instruction,
    accounts: &mut [Account],
    before: &[Account],
    programs: &ProgramRegistry,
) -> Result<(), ExecError> {
    debug_assert_eq!(before, &*accounts, "runtime checks compare against the pre-instruction image");
    let program = programs.get(ix.program).ok_or(ExecError::UnknownProgram)?;
    let mut ctx = InvokeContext::new(ix.program, &tx.accounts, accounts, &ix.accounts);
    program.execute(&mut ctx, &ix.data)?;
    check_runtime_rules(ix.program, before, accounts)
}

fn check_runtime_rules(program: ProgramId, before: &[Account], after: &[Account]) -> Result<(), ExecError> {
    let mut sum_before: u128 = 0;
    let mut sum_after: u128 = 0;
    for (old, new) in before.iter().zip(after) {
        sum_before += old.balance as u128;
        sum_after += new.balance as u128;
        if new.data.len() > ACCOUNT_DATA_BYTES_MAX {
            return Err(ExecError::AccountDataTooLarge);
        }
        let owner_only_change = new.owner != old.owner
            || new.nonce != old.nonce
            || new.balance < old.balance
            || data_changed(&old.data, &new.data);
        if owner_only_change && old.owner != program {
            return Err(ExecError::ExternalAccountModified);
        }
    }
    if sum_before != sum_after {
        return Err(ExecError::BalanceNotConserved);
    }
    Ok(())
}

/// Most accounts hold no data, and `Vec` equality calls `memcmp` even for
/// two empty vectors: that call was the runtime checks' largest cost.
#[inline]
fn data_changed(old: &[u8], new: &[u8]) -> bool {
    old.len() != new.len() || (!old.is_empty() && old != new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_encoding_round_trips_and_is_canonical() {
        let receipts = [
            Receipt { status: TxStatus::Ok, fee_charged: 5 },
            Receipt {
                status: TxStatus::Failed { error: ExecError::InsufficientFunds, instruction: 3 },
                fee_charged: 5,
            },
            Receipt { status: TxStatus::Rejected { error: ExecError::BadNonce }, fee_charged: 0 },
            Receipt { status: TxStatus::Failed { error: ExecError::Custom(9), instruction: 0 }, fee_charged: 1 },
        ];
        for r in receipts {
            assert_eq!(Receipt::decode(&r.encode()), Some(r));
        }
        let mut bad = receipts[0].encode();
        bad[5] = 1;
        assert_eq!(Receipt::decode(&bad), None, "ok receipt with an instruction index");
        let mut bad = receipts[1].encode();
        bad[0] = 7;
        assert_eq!(Receipt::decode(&bad), None);
    }
}
