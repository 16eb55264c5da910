//! A toy chain program, and the fuzzer a chain builder writes for it.
//!
//! `PiggyBank` stands in for a program a chain registers next to the native
//! ones. Its accounts hold `authority (32) ‖ noted u64`:
//!
//! | tag | instruction | accounts | data after the tag |
//! |---|---|---|---|
//! | 0 | open: the signer becomes the authority | 0: bank (w, owned, empty) | — |
//! | 1 | note a deposit | 0: bank (w) | amount u64 |
//! | 2 | withdraw native balance | 0: bank (w), 1: destination (w) | amount u64 |
//!
//! [`fuzzer`] is the whole of what fuzzing it takes: register the program,
//! and tell the [`BlockFuzzer`] how to draw its instruction data.

use std::sync::Arc;

use arbitrary::Unstructured;
use sluice_engine::account::{AccountId, ProgramId};
use sluice_engine::exec::differential::BlockFuzzer;
use sluice_engine::exec::ExecError;
use sluice_engine::program::{DataReader, InvokeContext, Program, ProgramRegistry};

pub const PIGGY_BANK_ID: ProgramId = ProgramId(4242);
const BANK_BYTES: usize = 40;
/// `Custom(1)`: the signer is not the bank's authority.
pub const ERROR_NOT_AUTHORITY: u16 = 1;

pub struct PiggyBank;

impl Program for PiggyBank {
    fn id(&self) -> ProgramId {
        PIGGY_BANK_ID
    }

    fn name(&self) -> &'static str {
        "piggy_bank"
    }

    fn execute(&self, ctx: &mut InvokeContext<'_>, data: &[u8]) -> Result<(), ExecError> {
        let mut r = DataReader::new(data);
        let tag = r.u8()?;
        let amount = if tag == 0 { 0 } else { r.u64()? };
        r.finish()?;
        let bank_id = ctx.instruction_account(0)?;
        let signer = ctx.signer();
        if tag == 0 {
            let bank = ctx.write(&bank_id)?;
            if bank.owner != PIGGY_BANK_ID || !bank.data.is_empty() {
                return Err(ExecError::AccountAlreadyInitialized);
            }
            bank.data = [signer.0.as_slice(), &0u64.to_le_bytes()].concat();
            return Ok(());
        }
        let bank = ctx.read(&bank_id)?;
        if bank.owner != PIGGY_BANK_ID || bank.data.len() != BANK_BYTES {
            return Err(ExecError::InvalidAccountData);
        }
        let authority = AccountId(bank.data[..32].try_into().expect("32 bytes"));
        let noted = u64::from_le_bytes(bank.data[32..].try_into().expect("8 bytes"));
        match tag {
            1 => {
                let noted = noted.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
                ctx.write(&bank_id)?.data[32..].copy_from_slice(&noted.to_le_bytes());
                Ok(())
            }
            2 => {
                if authority != signer {
                    return Err(ExecError::Custom(ERROR_NOT_AUTHORITY));
                }
                let destination = ctx.instruction_account(1)?;
                let bank = ctx.write(&bank_id)?;
                bank.balance = bank.balance.checked_sub(amount).ok_or(ExecError::InsufficientFunds)?;
                let to = ctx.write(&destination)?;
                to.balance = to.balance.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
                Ok(())
            }
            _ => Err(ExecError::InvalidInstructionData),
        }
    }
}

/// Instruction data that mostly parses: a known tag and an amount.
pub fn instruction_data(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let tag: u8 = u.int_in_range(0..=3)?;
    let mut data = vec![tag];
    if tag != 0 {
        data.extend_from_slice(&u.arbitrary::<u64>()?.to_le_bytes());
    }
    Ok(data)
}

/// The fuzzer for a chain running `PiggyBank`: the natives plus the
/// program, with its instructions and genesis accounts drawn by the
/// generator. `fuzz/fuzz_targets/custom_program.rs` runs it.
pub fn fuzzer() -> BlockFuzzer {
    let mut programs = ProgramRegistry::native();
    programs.register(Arc::new(PiggyBank)).expect("program id 4242 is free");
    BlockFuzzer::new(programs).program(PIGGY_BANK_ID, instruction_data)
}
