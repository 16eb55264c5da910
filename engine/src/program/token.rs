//! Native token program: fungible tokens with a mint authority.
//!
//! Accounts it owns hold one of two layouts, each starting with a tag so
//! that a mint can never be read as a token account:
//!
//! | layout | bytes |
//! |---|---|
//! | mint (42 bytes) | tag `1`, authority id (32), supply u64, decimals u8 |
//! | token account (73 bytes) | tag `2`, mint id (32), owner id (32), amount u64 |
//!
//! | tag | instruction | accounts | data after the tag |
//! |---|---|---|---|
//! | 0 | `InitMint` | 0: mint (writable, owned by token, empty) | decimals u8 |
//! | 1 | `InitAccount` | 0: token account (writable, owned by token, empty), 1: mint | — |
//! | 2 | `MintTo` | 0: mint (writable), 1: destination token account (writable) | amount u64 |
//! | 3 | `Transfer` | 0: source (writable), 1: destination (writable) | amount u64 |
//!
//! The signer becomes the mint's authority (`InitMint`) or the token
//! account's owner (`InitAccount`); `MintTo` needs the authority's
//! signature and `Transfer` the source owner's. Supply and balances use
//! checked arithmetic: overflow fails the transaction.

use crate::account::{Account, AccountId, ProgramId};
use crate::exec::ExecError;
use crate::program::{DataReader, InvokeContext, Program};

const TAG_INIT_MINT: u8 = 0;
const TAG_INIT_ACCOUNT: u8 = 1;
const TAG_MINT_TO: u8 = 2;
const TAG_TRANSFER: u8 = 3;

const LAYOUT_MINT: u8 = 1;
const LAYOUT_ACCOUNT: u8 = 2;
pub const MINT_BYTES: usize = 42;
pub const TOKEN_ACCOUNT_BYTES: usize = 73;

pub struct TokenProgram;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mint {
    pub authority: AccountId,
    pub supply: u64,
    pub decimals: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TokenAccount {
    pub mint: AccountId,
    pub owner: AccountId,
    pub amount: u64,
}

impl Mint {
    pub fn decode(account: &Account) -> Result<Mint, ExecError> {
        let data = owned_data(account, LAYOUT_MINT, MINT_BYTES)?;
        let mut r = DataReader::new(data);
        let mint = Mint { authority: AccountId(r.bytes()?), supply: r.u64()?, decimals: r.u8()? };
        r.finish().map_err(|_| ExecError::InvalidAccountData)?;
        Ok(mint)
    }

    fn encode(&self) -> Vec<u8> {
        let mut data = vec![LAYOUT_MINT];
        data.extend_from_slice(&self.authority.0);
        data.extend_from_slice(&self.supply.to_le_bytes());
        data.push(self.decimals);
        data
    }
}

impl TokenAccount {
    pub fn decode(account: &Account) -> Result<TokenAccount, ExecError> {
        let data = owned_data(account, LAYOUT_ACCOUNT, TOKEN_ACCOUNT_BYTES)?;
        let mut r = DataReader::new(data);
        let parsed = TokenAccount { mint: AccountId(r.bytes()?), owner: AccountId(r.bytes()?), amount: r.u64()? };
        r.finish().map_err(|_| ExecError::InvalidAccountData)?;
        Ok(parsed)
    }

    fn encode(&self) -> Vec<u8> {
        let mut data = vec![LAYOUT_ACCOUNT];
        data.extend_from_slice(&self.mint.0);
        data.extend_from_slice(&self.owner.0);
        data.extend_from_slice(&self.amount.to_le_bytes());
        data
    }
}

/// The layout's bytes after its tag, once ownership, length and tag check.
fn owned_data(account: &Account, layout: u8, len: usize) -> Result<&[u8], ExecError> {
    if account.owner != ProgramId::TOKEN {
        return Err(ExecError::InvalidAccountOwner);
    }
    if account.data.len() != len || account.data[0] != layout {
        return Err(ExecError::InvalidAccountData);
    }
    Ok(&account.data[1..])
}

impl Program for TokenProgram {
    fn id(&self) -> ProgramId {
        ProgramId::TOKEN
    }

    fn name(&self) -> &'static str {
        "token"
    }

    fn execute(&self, ctx: &mut InvokeContext<'_>, data: &[u8]) -> Result<(), ExecError> {
        let mut r = DataReader::new(data);
        match r.u8()? {
            TAG_INIT_MINT => {
                let decimals = r.u8()?;
                r.finish()?;
                init_mint(ctx, decimals)
            }
            TAG_INIT_ACCOUNT => {
                r.finish()?;
                init_account(ctx)
            }
            TAG_MINT_TO => {
                let amount = r.u64()?;
                r.finish()?;
                mint_to(ctx, amount)
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

/// The account at `position`, which must be token-owned and still empty.
fn uninitialized<'c>(ctx: &'c mut InvokeContext<'_>, position: usize) -> Result<&'c mut Account, ExecError> {
    let id = ctx.instruction_account(position)?;
    let account = ctx.write(&id)?;
    if account.owner != ProgramId::TOKEN {
        return Err(ExecError::InvalidAccountOwner);
    }
    if !account.data.is_empty() {
        return Err(ExecError::AccountAlreadyInitialized);
    }
    Ok(account)
}

fn init_mint(ctx: &mut InvokeContext<'_>, decimals: u8) -> Result<(), ExecError> {
    let authority = ctx.signer();
    let mint = uninitialized(ctx, 0)?;
    mint.data = Mint { authority, supply: 0, decimals }.encode();
    Ok(())
}

fn init_account(ctx: &mut InvokeContext<'_>) -> Result<(), ExecError> {
    let mint_id = ctx.instruction_account(1)?;
    Mint::decode(ctx.read(&mint_id)?)?;
    let owner = ctx.signer();
    let account = uninitialized(ctx, 0)?;
    account.data = TokenAccount { mint: mint_id, owner, amount: 0 }.encode();
    Ok(())
}

fn mint_to(ctx: &mut InvokeContext<'_>, amount: u64) -> Result<(), ExecError> {
    let mint_id = ctx.instruction_account(0)?;
    let dest_id = ctx.instruction_account(1)?;
    let mut mint = Mint::decode(ctx.read(&mint_id)?)?;
    if mint.authority != ctx.signer() {
        return Err(ExecError::Unauthorized);
    }
    let mut dest = TokenAccount::decode(ctx.read(&dest_id)?)?;
    if dest.mint != mint_id {
        return Err(ExecError::MintMismatch);
    }
    mint.supply = mint.supply.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
    dest.amount = dest.amount.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
    ctx.write(&mint_id)?.data = mint.encode();
    ctx.write(&dest_id)?.data = dest.encode();
    Ok(())
}

fn transfer(ctx: &mut InvokeContext<'_>, amount: u64) -> Result<(), ExecError> {
    let src_id = ctx.instruction_account(0)?;
    let dst_id = ctx.instruction_account(1)?;
    let mut src = TokenAccount::decode(ctx.read(&src_id)?)?;
    if src.owner != ctx.signer() {
        return Err(ExecError::Unauthorized);
    }
    src.amount = src.amount.checked_sub(amount).ok_or(ExecError::InsufficientFunds)?;
    if src_id == dst_id {
        // A self-transfer only proves the balance suffices; writing twice
        // through two decoded copies would double the credit.
        ctx.write(&src_id)?;
        return Ok(());
    }
    let mut dst = TokenAccount::decode(ctx.read(&dst_id)?)?;
    if dst.mint != src.mint {
        return Err(ExecError::MintMismatch);
    }
    dst.amount = dst.amount.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
    ctx.write(&src_id)?.data = src.encode();
    ctx.write(&dst_id)?.data = dst.encode();
    Ok(())
}

pub fn init_mint_data(decimals: u8) -> Vec<u8> {
    vec![TAG_INIT_MINT, decimals]
}

pub fn init_account_data() -> Vec<u8> {
    vec![TAG_INIT_ACCOUNT]
}

pub fn mint_to_data(amount: u64) -> Vec<u8> {
    let mut data = vec![TAG_MINT_TO];
    data.extend_from_slice(&amount.to_le_bytes());
    data
}

pub fn transfer_data(amount: u64) -> Vec<u8> {
    let mut data = vec![TAG_TRANSFER];
    data.extend_from_slice(&amount.to_le_bytes());
    data
}
