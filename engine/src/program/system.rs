//! Native system program: creates accounts and moves native balance.
//!
//! | tag | instruction | accounts | data after the tag |
//! |---|---|---|---|
//! | 0 | `CreateAccount` | 0: funder (writable, the signer), 1: new account (writable) | seed u64, lamports u64, owner u16 |
//! | 1 | `Transfer` | 0: from (writable, the signer), 1: to (writable) | amount u64 |
//!
//! The new account's id must be `derive_address(funder, seed)`, so nobody
//! can create an account at an id they do not control.

use crate::account::{derive_address, ProgramId};
use crate::exec::ExecError;
use crate::program::{DataReader, InvokeContext, Program};

const TAG_CREATE_ACCOUNT: u8 = 0;
const TAG_TRANSFER: u8 = 1;

pub struct SystemProgram;

impl Program for SystemProgram {
    fn id(&self) -> ProgramId {
        ProgramId::SYSTEM
    }

    fn name(&self) -> &'static str {
        "system"
    }

    fn execute(&self, ctx: &mut InvokeContext<'_>, data: &[u8]) -> Result<(), ExecError> {
        let mut r = DataReader::new(data);
        match r.u8()? {
            TAG_CREATE_ACCOUNT => {
                let (seed, lamports, owner) = (r.u64()?, r.u64()?, ProgramId(r.u16()?));
                r.finish()?;
                create_account(ctx, seed, lamports, owner)
            }
            TAG_TRANSFER => {
                let amount = r.u64()?;
                r.finish()?;
                transfer(ctx, amount)
            }
            _ => Err(ExecError::InvalidInstructionData),
        }
    }
}

fn create_account(ctx: &mut InvokeContext<'_>, seed: u64, lamports: u64, owner: ProgramId) -> Result<(), ExecError> {
    let funder = ctx.instruction_account(0)?;
    let new = ctx.instruction_account(1)?;
    if funder != ctx.signer() {
        return Err(ExecError::Unauthorized);
    }
    if new != derive_address(&funder, seed) {
        return Err(ExecError::AddressMismatch);
    }
    if !ctx.read(&new)?.is_default() {
        return Err(ExecError::AccountAlreadyExists);
    }
    let funder_account = ctx.write(&funder)?;
    funder_account.balance = funder_account.balance.checked_sub(lamports).ok_or(ExecError::InsufficientFunds)?;
    let new_account = ctx.write(&new)?;
    new_account.balance = lamports;
    new_account.owner = owner;
    Ok(())
}

fn transfer(ctx: &mut InvokeContext<'_>, amount: u64) -> Result<(), ExecError> {
    let from = ctx.instruction_account(0)?;
    let to = ctx.instruction_account(1)?;
    if from != ctx.signer() {
        return Err(ExecError::Unauthorized);
    }
    let from_account = ctx.write(&from)?;
    from_account.balance = from_account.balance.checked_sub(amount).ok_or(ExecError::InsufficientFunds)?;
    let to_account = ctx.write(&to)?;
    to_account.balance = to_account.balance.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
    Ok(())
}

/// Instruction data for `CreateAccount`.
pub fn create_account_data(seed: u64, lamports: u64, owner: ProgramId) -> Vec<u8> {
    let mut data = vec![TAG_CREATE_ACCOUNT];
    data.extend_from_slice(&seed.to_le_bytes());
    data.extend_from_slice(&lamports.to_le_bytes());
    data.extend_from_slice(&owner.0.to_le_bytes());
    data
}

/// Instruction data for `Transfer`.
pub fn transfer_data(amount: u64) -> Vec<u8> {
    let mut data = vec![TAG_TRANSFER];
    data.extend_from_slice(&amount.to_le_bytes());
    data
}
