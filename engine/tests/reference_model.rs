//! The native programs against a second, naive reference model.
//!
//! Every executor (serial and parallel alike) runs each transaction through
//! the same `execute_transaction_in`, so the determinism tests that compare
//! them cannot see a bug in the semantics themselves: both sides would
//! share it. This file checks those semantics against an independent model,
//! the way TigerBeetle checks its state machine against `reference_model.zig`.
//!
//! The model is written from docs/format.md (§3 accounts, §5 receipts and
//! error codes, §6 native programs) and docs/architecture.md ("Transaction
//! semantics"), not from the engine's code, and it calls no engine
//! semantics: accounts live in a `BTreeMap`, token state is typed rather
//! than bytes, instruction data is parsed by hand, and derived addresses
//! are recomputed from the formula in §3. The engine provides only the
//! vocabulary: ids, transactions, error codes and receipts. Where the docs
//! leave open which of two applicable errors an instruction names, the
//! model follows the engine's order and says so at that check.
//!
//! Property tests generate a small genesis (4–16 signing accounts with
//! balances from zero to `u64::MAX`, a few nonces at `u64::MAX`, some
//! token-owned signers, mints, token accounts and malformed accounts) and
//! blocks of real, signed transactions: valid and invalid, with stale and
//! future nonces, fees and amounts at the edge of a balance, overflows,
//! self-transfers, unknown accounts, read-only declarations, malformed
//! data and several transactions per payer in a block. The model decides
//! every receipt (outcome, error code, failing instruction, fee) and every
//! account; the serial executor and the parallel executor (1, 2 and 4
//! threads, default and always-schedule policies) must agree with it on
//! every receipt and on the delta, block after block.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use sluice_engine::account::{Account, AccountId, ProgramId};
use sluice_engine::exec::parallel::{execute_block_parallel_with, SchedulePolicy};
use sluice_engine::exec::{execute_block_serial, BlockOutcome, ExecError, Receipt, TxStatus};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::state::{Genesis, State, StateDelta};
use sluice_engine::tx::{ChainId, Instruction, Transaction, TransactionBuilder};

const SYSTEM: u16 = 0;
const TOKEN: u16 = 1;
/// A program id no chain in this test registers.
const UNREGISTERED: u16 = 300;

// ---------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ModelAccount {
    balance: u64,
    nonce: u64,
    owner: u16,
    data: ModelData,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum ModelData {
    #[default]
    Empty,
    Mint(ModelMint),
    Token(ModelToken),
    /// Bytes in neither token layout.
    Raw(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelMint {
    authority: AccountId,
    supply: u64,
    decimals: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelToken {
    mint: AccountId,
    owner: AccountId,
    amount: u64,
}

impl ModelAccount {
    /// The engine's account: format.md §3, with the §6 token layouts.
    fn to_account(&self) -> Account {
        let data = match &self.data {
            ModelData::Empty => vec![],
            ModelData::Mint(mint) => {
                let mut bytes = vec![1];
                bytes.extend_from_slice(&mint.authority.0);
                bytes.extend_from_slice(&mint.supply.to_le_bytes());
                bytes.push(mint.decimals);
                bytes
            }
            ModelData::Token(token) => {
                let mut bytes = vec![2];
                bytes.extend_from_slice(&token.mint.0);
                bytes.extend_from_slice(&token.owner.0);
                bytes.extend_from_slice(&token.amount.to_le_bytes());
                bytes
            }
            ModelData::Raw(bytes) => bytes.clone(),
        };
        Account { balance: self.balance, nonce: self.nonce, owner: ProgramId(self.owner), data }
    }

    fn mint(&self) -> Result<ModelMint, ExecError> {
        match (self.owner, &self.data) {
            (TOKEN, ModelData::Mint(mint)) => Ok(*mint),
            (TOKEN, _) => Err(ExecError::InvalidAccountData),
            _ => Err(ExecError::InvalidAccountOwner),
        }
    }

    fn token(&self) -> Result<ModelToken, ExecError> {
        match (self.owner, &self.data) {
            (TOKEN, ModelData::Token(token)) => Ok(*token),
            (TOKEN, _) => Err(ExecError::InvalidAccountData),
            _ => Err(ExecError::InvalidAccountOwner),
        }
    }
}

/// How the model says a transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModelOutcome {
    Succeeded,
    /// Fee and nonce charged, every instruction's effect undone.
    Failed {
        instruction: u8,
        error: ExecError,
    },
    /// Nothing charged, nothing changed.
    Rejected(ExecError),
}

impl ModelOutcome {
    /// The receipt format.md §5 prescribes for this outcome.
    fn receipt(self, fee: u64) -> Receipt {
        match self {
            ModelOutcome::Succeeded => Receipt { status: TxStatus::Ok, fee_charged: fee },
            ModelOutcome::Failed { instruction, error } => {
                Receipt { status: TxStatus::Failed { error, instruction }, fee_charged: fee }
            }
            ModelOutcome::Rejected(error) => Receipt { status: TxStatus::Rejected { error }, fee_charged: 0 },
        }
    }
}

/// Every account, absent ones meaning default (format.md §3).
#[derive(Clone, Debug, Default)]
struct Model {
    accounts: BTreeMap<AccountId, ModelAccount>,
}

impl Model {
    fn get(&self, id: &AccountId) -> ModelAccount {
        self.accounts.get(id).cloned().unwrap_or_default()
    }

    fn put(&mut self, id: AccountId, account: ModelAccount) {
        if account == ModelAccount::default() {
            self.accounts.remove(&id);
        } else {
            self.accounts.insert(id, account);
        }
    }

    /// architecture.md, "Transaction semantics": pre-checks, then fee and
    /// nonce, then the instructions, all or nothing.
    fn apply(&mut self, tx: &Transaction) -> ModelOutcome {
        let payer_id = tx.accounts[0].id;
        let mut payer = self.get(&payer_id);
        if payer.nonce != tx.nonce {
            return ModelOutcome::Rejected(ExecError::BadNonce);
        }
        if payer.nonce == u64::MAX {
            return ModelOutcome::Rejected(ExecError::NonceExhausted);
        }
        if payer.balance < tx.fee {
            return ModelOutcome::Rejected(ExecError::InsufficientFeeBalance);
        }
        payer.nonce += 1;
        payer.balance -= tx.fee;
        self.put(payer_id, payer);
        let after_fee = self.accounts.clone();
        for (index, ix) in tx.instructions.iter().enumerate() {
            if let Err(error) = self.run_instruction(tx, ix) {
                self.accounts = after_fee;
                return ModelOutcome::Failed { instruction: index as u8, error };
            }
        }
        ModelOutcome::Succeeded
    }

    fn run_instruction(&mut self, tx: &Transaction, ix: &Instruction) -> Result<(), ExecError> {
        let before: Vec<ModelAccount> = tx.accounts.iter().map(|meta| self.get(&meta.id)).collect();
        let mut call = Call { model: self, tx, ix };
        match ix.program.0 {
            SYSTEM => call.system()?,
            TOKEN => call.token()?,
            _ => return Err(ExecError::UnknownProgram),
        }
        self.check_runtime_rules(tx, ix.program.0, &before)
    }

    /// What the runtime enforces after every instruction, whatever program
    /// ran: only the owner changes data, owner or nonce, or debits; native
    /// balance over the declared accounts is conserved.
    fn check_runtime_rules(&self, tx: &Transaction, program: u16, before: &[ModelAccount]) -> Result<(), ExecError> {
        let after: Vec<ModelAccount> = tx.accounts.iter().map(|meta| self.get(&meta.id)).collect();
        for (old, new) in before.iter().zip(&after) {
            let owner_only =
                new.owner != old.owner || new.nonce != old.nonce || new.balance < old.balance || new.data != old.data;
            if owner_only && old.owner != program {
                return Err(ExecError::ExternalAccountModified);
            }
        }
        let total = |accounts: &[ModelAccount]| accounts.iter().map(|a| a.balance as u128).sum::<u128>();
        if total(before) != total(&after) {
            return Err(ExecError::BalanceNotConserved);
        }
        Ok(())
    }

    fn engine_accounts(&self) -> BTreeMap<AccountId, Account> {
        self.accounts.iter().map(|(id, account)| (*id, account.to_account())).collect()
    }

    /// The accounts whose value differs from `before`, by id: what the
    /// block's delta must hold, with a default value for a drained one.
    fn delta_since(&self, before: &Model) -> StateDelta {
        let ids: BTreeSet<AccountId> = before.accounts.keys().chain(self.accounts.keys()).copied().collect();
        ids.into_iter().filter(|id| before.get(id) != self.get(id)).map(|id| (id, self.get(&id).to_account())).collect()
    }
}

/// One instruction's view of the transaction (format.md §1: instructions
/// name declared accounts by index; account 0 is the signer).
struct Call<'a> {
    model: &'a mut Model,
    tx: &'a Transaction,
    ix: &'a Instruction,
}

impl Call<'_> {
    fn signer(&self) -> AccountId {
        self.tx.accounts[0].id
    }

    fn account(&self, position: usize) -> Result<AccountId, ExecError> {
        let index = *self.ix.accounts.get(position).ok_or(ExecError::MissingInstructionAccount)?;
        Ok(self.tx.accounts[index as usize].id)
    }

    fn load(&self, id: &AccountId) -> ModelAccount {
        self.model.get(id)
    }

    fn require_writable(&self, id: &AccountId) -> Result<(), ExecError> {
        let meta = self.tx.accounts.iter().find(|meta| meta.id == *id).expect("instruction accounts are declared");
        if meta.writable {
            Ok(())
        } else {
            Err(ExecError::ReadOnlyAccount)
        }
    }

    fn store(&mut self, id: AccountId, account: ModelAccount) -> Result<(), ExecError> {
        self.require_writable(&id)?;
        self.model.put(id, account);
        Ok(())
    }

    /// System program, format.md §6: a tag, then fixed fields, nothing after.
    fn system(&mut self) -> Result<(), ExecError> {
        let data = &self.ix.data;
        match (data.first(), data.len()) {
            (Some(0), 19) => {
                self.create_account(u64_at(data, 1), u64_at(data, 9), u16::from_le_bytes([data[17], data[18]]))
            }
            (Some(1), 9) => self.system_transfer(u64_at(data, 1)),
            _ => Err(ExecError::InvalidInstructionData),
        }
    }

    fn system_transfer(&mut self, amount: u64) -> Result<(), ExecError> {
        let (from_id, to_id) = (self.account(0)?, self.account(1)?);
        if from_id != self.signer() {
            return Err(ExecError::Unauthorized);
        }
        let mut from = self.load(&from_id);
        from.balance = from.balance.checked_sub(amount).ok_or(ExecError::InsufficientFunds)?;
        if from_id == to_id {
            return Ok(());
        }
        // §6 does not order the recipient's checks either; the engine asks
        // to write it before crediting, so a read-only recipient is named
        // before an overflow.
        self.require_writable(&to_id)?;
        let mut to = self.load(&to_id);
        to.balance = to.balance.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
        self.store(from_id, from)?;
        self.store(to_id, to)
    }

    fn create_account(&mut self, seed: u64, lamports: u64, owner: u16) -> Result<(), ExecError> {
        let (funder_id, new_id) = (self.account(0)?, self.account(1)?);
        if funder_id != self.signer() {
            return Err(ExecError::Unauthorized);
        }
        if new_id != derived_address(&funder_id, seed) {
            return Err(ExecError::AddressMismatch);
        }
        if self.load(&new_id) != ModelAccount::default() {
            return Err(ExecError::AccountAlreadyExists);
        }
        let mut funder = self.load(&funder_id);
        funder.balance = funder.balance.checked_sub(lamports).ok_or(ExecError::InsufficientFunds)?;
        self.store(funder_id, funder)?;
        self.store(new_id, ModelAccount { balance: lamports, owner, ..ModelAccount::default() })
    }

    /// Token program, format.md §6.
    fn token(&mut self) -> Result<(), ExecError> {
        let data = &self.ix.data;
        match (data.first(), data.len()) {
            (Some(0), 2) => self.init_mint(data[1]),
            (Some(1), 1) => self.init_account(),
            (Some(2), 9) => self.mint_to(u64_at(data, 1)),
            (Some(3), 9) => self.token_transfer(u64_at(data, 1)),
            _ => Err(ExecError::InvalidInstructionData),
        }
    }

    /// An init target: writable, token-owned, empty, in that order.
    fn uninitialized(&self, id: &AccountId) -> Result<ModelAccount, ExecError> {
        self.require_writable(id)?;
        let account = self.load(id);
        if account.owner != TOKEN {
            return Err(ExecError::InvalidAccountOwner);
        }
        if account.data != ModelData::Empty {
            return Err(ExecError::AccountAlreadyInitialized);
        }
        Ok(account)
    }

    fn init_mint(&mut self, decimals: u8) -> Result<(), ExecError> {
        let mint_id = self.account(0)?;
        let mut mint = self.uninitialized(&mint_id)?;
        mint.data = ModelData::Mint(ModelMint { authority: self.signer(), supply: 0, decimals });
        self.store(mint_id, mint)
    }

    fn init_account(&mut self) -> Result<(), ExecError> {
        let (account_id, mint_id) = (self.account(0)?, self.account(1)?);
        // §6 does not order the checks on the two accounts; the engine
        // checks the mint first, and a model that did not would differ
        // only in which of two errors it names.
        self.load(&mint_id).mint()?;
        let mut account = self.uninitialized(&account_id)?;
        account.data = ModelData::Token(ModelToken { mint: mint_id, owner: self.signer(), amount: 0 });
        self.store(account_id, account)
    }

    fn mint_to(&mut self, amount: u64) -> Result<(), ExecError> {
        let (mint_id, dest_id) = (self.account(0)?, self.account(1)?);
        let mut mint = self.load(&mint_id).mint()?;
        if mint.authority != self.signer() {
            return Err(ExecError::Unauthorized);
        }
        let mut dest = self.load(&dest_id).token()?;
        if dest.mint != mint_id {
            return Err(ExecError::MintMismatch);
        }
        mint.supply = mint.supply.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
        dest.amount = dest.amount.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
        self.store_data(mint_id, ModelData::Mint(mint))?;
        self.store_data(dest_id, ModelData::Token(dest))
    }

    fn token_transfer(&mut self, amount: u64) -> Result<(), ExecError> {
        let (src_id, dst_id) = (self.account(0)?, self.account(1)?);
        let mut src = self.load(&src_id).token()?;
        if src.owner != self.signer() {
            return Err(ExecError::Unauthorized);
        }
        src.amount = src.amount.checked_sub(amount).ok_or(ExecError::InsufficientFunds)?;
        if src_id == dst_id {
            // Nothing moves, but the source must still be writable (§6).
            return self.require_writable(&src_id);
        }
        let mut dst = self.load(&dst_id).token()?;
        if dst.mint != src.mint {
            return Err(ExecError::MintMismatch);
        }
        dst.amount = dst.amount.checked_add(amount).ok_or(ExecError::ArithmeticOverflow)?;
        self.store_data(src_id, ModelData::Token(src))?;
        self.store_data(dst_id, ModelData::Token(dst))
    }

    fn store_data(&mut self, id: AccountId, data: ModelData) -> Result<(), ExecError> {
        let account = ModelAccount { data, ..self.load(&id) };
        self.store(id, account)
    }
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

/// format.md §3: `blake3::derive_key("sluice 2026 derived account address v1", funder ‖ seed u64)`.
fn derived_address(funder: &AccountId, seed: u64) -> AccountId {
    let mut hasher = blake3::Hasher::new_derive_key("sluice 2026 derived account address v1");
    hasher.update(&funder.0);
    hasher.update(&seed.to_le_bytes());
    AccountId(*hasher.finalize().as_bytes())
}

// ---------------------------------------------------------------------------
// Instruction data, encoded from format.md §6.
// ---------------------------------------------------------------------------

fn tagged(tag: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut data = vec![tag];
    fields.iter().for_each(|field| data.extend_from_slice(field));
    data
}

fn system_transfer_data(amount: u64) -> Vec<u8> {
    tagged(1, &[&amount.to_le_bytes()])
}

fn create_account_data(seed: u64, lamports: u64, owner: u16) -> Vec<u8> {
    tagged(0, &[&seed.to_le_bytes(), &lamports.to_le_bytes(), &owner.to_le_bytes()])
}

// ---------------------------------------------------------------------------
// The world: signing keys, fixture addresses, genesis.
// ---------------------------------------------------------------------------

const GENESIS_KEYS_MAX: usize = 16;
/// Keys that sign but hold nothing at genesis: unknown accounts.
const UNKNOWN_KEYS: usize = 4;
/// Seeds `create_account` uses freely: collisions make `AccountAlreadyExists`.
const FREE_SEEDS: u64 = 4;
/// Genesis token account of key `i` for mint `m` sits at seed `TOKEN_SEED + m`.
const TOKEN_SEED: u64 = 10;
/// Mint `m` sits at `derived(key m, MINT_SEED)`, with key `m` its authority.
const MINT_SEED: u64 = 20;
const MINTS: usize = 2;
/// A token-owned, empty account of keys 0 and 1: ready for an init.
const EMPTY_SEED: u64 = 30;
/// Malformed accounts of keys 0 and 1 (see `genesis_model`).
const MALFORMED_SEED: u64 = 40;

fn keys() -> &'static Genesis {
    static KEYS: OnceLock<Genesis> = OnceLock::new();
    KEYS.get_or_init(|| Genesis::new(18, (GENESIS_KEYS_MAX + UNKNOWN_KEYS) as u32).expect("valid key count"))
}

fn key_id(index: usize) -> AccountId {
    keys().id(index)
}

#[derive(Clone, Debug)]
struct KeySpec {
    balance: u64,
    nonce: u64,
    /// A signer owned by the token program: the system program may not debit it.
    token_owned: bool,
    tokens: [Option<u64>; MINTS],
}

#[derive(Clone, Debug)]
struct GenesisSpec {
    keys: Vec<KeySpec>,
    supplies: [u64; MINTS],
}

fn genesis_model(spec: &GenesisSpec) -> Model {
    let mut model = Model::default();
    let key = key_id;
    for (i, k) in spec.keys.iter().enumerate() {
        let owner = if k.token_owned { TOKEN } else { SYSTEM };
        model.put(key(i), ModelAccount { balance: k.balance, nonce: k.nonce, owner, data: ModelData::Empty });
        for (m, amount) in k.tokens.iter().enumerate() {
            let Some(amount) = *amount else { continue };
            let token = ModelToken { mint: derived_address(&key(m), MINT_SEED), owner: key(i), amount };
            let account = ModelAccount { owner: TOKEN, data: ModelData::Token(token), ..ModelAccount::default() };
            model.put(derived_address(&key(i), TOKEN_SEED + m as u64), account);
        }
    }
    for (m, supply) in spec.supplies.iter().enumerate() {
        let mint = ModelMint { authority: key(m), supply: *supply, decimals: 6 };
        let account = ModelAccount { balance: 3, owner: TOKEN, data: ModelData::Mint(mint), ..ModelAccount::default() };
        model.put(derived_address(&key(m), MINT_SEED), account);
        model.put(derived_address(&key(m), EMPTY_SEED), ModelAccount { owner: TOKEN, ..ModelAccount::default() });
    }
    // A token-owned account in no layout, and a mint layout the system
    // program owns: `InvalidAccountData` and `InvalidAccountOwner`.
    let garbage = ModelAccount { owner: TOKEN, data: ModelData::Raw(vec![2, 0, 0]), ..ModelAccount::default() };
    model.put(derived_address(&key(0), MALFORMED_SEED), garbage);
    let foreign_mint = ModelMint { authority: key(1), supply: 0, decimals: 0 };
    let foreign = ModelAccount { balance: 1, data: ModelData::Mint(foreign_mint), ..ModelAccount::default() };
    model.put(derived_address(&key(1), MALFORMED_SEED), foreign);
    model
}

// ---------------------------------------------------------------------------
// Generated transactions: abstract choices made concrete against the model,
// so that amounts land at the edge of balances and picks find token accounts.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Who {
    Genesis(u8),
    Unknown(u8),
}

#[derive(Clone, Copy, Debug)]
enum Pick {
    Signer,
    Key(Who),
    /// `derived(key, seed % FREE_SEEDS)`: where `create_account` puts accounts.
    Derived(Who, u8),
    Mint(u8),
    TokenAccount(u8),
    /// A token account the signer owns, if any.
    SignersTokenAccount(u8),
    /// A mint the signer is the authority of, if any.
    SignersMint(u8),
    TokenOwnedEmpty(u8),
    Malformed(u8),
}

#[derive(Clone, Copy, Debug)]
enum Amount {
    Zero,
    Small(u64),
    /// The reference value (a balance, a headroom) plus this.
    Near(i8),
    Max,
    Any(u64),
}

#[derive(Clone, Copy, Debug)]
enum NonceChoice {
    Current,
    Stale,
    Ahead,
    Any(u64),
}

#[derive(Clone, Debug)]
enum OpKind {
    Transfer {
        from: Pick,
        to: Pick,
        amount: Amount,
    },
    CreateAccount {
        funder: Pick,
        seed: u64,
        wrong_target: Option<Pick>,
        lamports: Amount,
        owner: u16,
    },
    InitMint {
        mint: Pick,
        decimals: u8,
    },
    InitAccount {
        account: Pick,
        mint: Pick,
    },
    MintTo {
        mint: Pick,
        dest: Pick,
        amount: Amount,
    },
    TokenTransfer {
        src: Pick,
        /// `None`: back to the source.
        dst: Option<Pick>,
        amount: Amount,
    },
    /// Any program and bytes: mostly bad data, unknown programs, missing accounts.
    Raw {
        program: u16,
        data: Vec<u8>,
        accounts: Vec<Pick>,
    },
}

#[derive(Clone, Debug)]
struct OpSpec {
    kind: OpKind,
    /// Declare the account at this instruction account position read-only
    /// (unless another instruction of the transaction writes it).
    read_only: Option<u8>,
    /// Leave the last instruction account out.
    drop_last_account: bool,
}

#[derive(Clone, Debug)]
struct TxSpec {
    signer: Who,
    nonce: NonceChoice,
    fee: Amount,
    ops: Vec<OpSpec>,
    extra: Option<Pick>,
}

/// Turns specs into signed transactions for one case's genesis size.
struct Builder<'a> {
    model: &'a Model,
    genesis_keys: usize,
}

impl Builder<'_> {
    fn key(&self, who: Who) -> AccountId {
        match who {
            Who::Genesis(i) => key_id(i as usize % self.genesis_keys),
            Who::Unknown(i) => key_id(GENESIS_KEYS_MAX + i as usize % UNKNOWN_KEYS),
        }
    }

    /// The `index`-th account (cyclically) that `wanted` accepts, if any.
    fn nth(&self, index: u8, wanted: impl Fn(&ModelAccount) -> bool) -> Option<AccountId> {
        let found: Vec<AccountId> =
            self.model.accounts.iter().filter(|(_, account)| wanted(account)).map(|(id, _)| *id).collect();
        (!found.is_empty()).then(|| found[index as usize % found.len()])
    }

    fn resolve(&self, pick: Pick, signer: AccountId) -> AccountId {
        let is_token = |a: &ModelAccount| matches!(a.data, ModelData::Token(_));
        let is_mint = |a: &ModelAccount| matches!(a.data, ModelData::Mint(_));
        let found = match pick {
            Pick::Signer => Some(signer),
            Pick::Key(who) => Some(self.key(who)),
            Pick::Derived(who, seed) => Some(derived_address(&self.key(who), seed as u64 % FREE_SEEDS)),
            Pick::Mint(i) => self.nth(i, is_mint),
            Pick::TokenAccount(i) => self.nth(i, is_token),
            Pick::SignersTokenAccount(i) => self
                .nth(i, |a| matches!(a.data, ModelData::Token(t) if t.owner == signer))
                .or_else(|| self.nth(i, is_token)),
            Pick::SignersMint(i) => self
                .nth(i, |a| matches!(a.data, ModelData::Mint(m) if m.authority == signer))
                .or_else(|| self.nth(i, is_mint)),
            Pick::TokenOwnedEmpty(i) => self.nth(i, |a| a.owner == TOKEN && a.data == ModelData::Empty),
            Pick::Malformed(i) => Some(derived_address(&key_id(i as usize % 2), MALFORMED_SEED)),
        };
        found.unwrap_or(signer)
    }

    fn amount(amount: Amount, reference: u64) -> u64 {
        match amount {
            Amount::Zero => 0,
            Amount::Small(value) | Amount::Any(value) => value,
            Amount::Near(offset) => reference.saturating_add_signed(offset as i64),
            Amount::Max => u64::MAX,
        }
    }

    fn build(&self, spec: &TxSpec) -> Transaction {
        let signer = self.key(spec.signer);
        let payer = self.model.get(&signer);
        let nonce = match spec.nonce {
            NonceChoice::Current => payer.nonce,
            NonceChoice::Stale => payer.nonce.wrapping_sub(1),
            NonceChoice::Ahead => payer.nonce.wrapping_add(1),
            NonceChoice::Any(nonce) => nonce,
        };
        let fee = Self::amount(spec.fee, payer.balance);
        let mut builder = TransactionBuilder::new(signer, nonce, fee);
        for op in &spec.ops {
            let (program, mut accounts, data) = self.instruction(&op.kind, signer, fee);
            if op.drop_last_account {
                accounts.pop();
            }
            let read_only = op.read_only.and_then(|position| accounts.get(position as usize % accounts.len().max(1)));
            let metas: Vec<(AccountId, bool)> = accounts.iter().map(|id| (*id, read_only != Some(id))).collect();
            builder = builder.instruction(ProgramId(program), &metas, data);
        }
        if let Some(extra) = spec.extra {
            builder = builder.declare(self.resolve(extra, signer), false);
        }
        builder.sign(keys_for(signer), &ChainId::default()).expect("generated transactions fit the wire limits")
    }

    /// Program, instruction accounts and data for one op.
    fn instruction(&self, kind: &OpKind, signer: AccountId, fee: u64) -> (u16, Vec<AccountId>, Vec<u8>) {
        let pick = |p: Pick| self.resolve(p, signer);
        let balance_after_fee = |id: &AccountId| {
            let balance = self.model.get(id).balance;
            if *id == signer {
                balance.saturating_sub(fee)
            } else {
                balance
            }
        };
        let token_amount = |id: &AccountId| self.model.get(id).token().map_or(0, |t| t.amount);
        match kind {
            OpKind::Transfer { from, to, amount } => {
                let (from, to) = (pick(*from), pick(*to));
                let amount = Self::amount(*amount, balance_after_fee(&from));
                (SYSTEM, vec![from, to], system_transfer_data(amount))
            }
            OpKind::CreateAccount { funder, seed, wrong_target, lamports, owner } => {
                let funder = pick(*funder);
                let target = wrong_target.map_or_else(|| derived_address(&funder, *seed), pick);
                let lamports = Self::amount(*lamports, balance_after_fee(&funder));
                (SYSTEM, vec![funder, target], create_account_data(*seed, lamports, *owner))
            }
            OpKind::InitMint { mint, decimals } => (TOKEN, vec![pick(*mint)], tagged(0, &[&[*decimals]])),
            OpKind::InitAccount { account, mint } => (TOKEN, vec![pick(*account), pick(*mint)], tagged(1, &[])),
            OpKind::MintTo { mint, dest, amount } => {
                let (mint, dest) = (pick(*mint), pick(*dest));
                let supply = self.model.get(&mint).mint().map_or(0, |m| m.supply);
                let headroom = u64::MAX - supply.max(token_amount(&dest));
                (TOKEN, vec![mint, dest], tagged(2, &[&Self::amount(*amount, headroom).to_le_bytes()]))
            }
            OpKind::TokenTransfer { src, dst, amount } => {
                let src = pick(*src);
                let dst = dst.map_or(src, pick);
                let amount = Self::amount(*amount, token_amount(&src));
                (TOKEN, vec![src, dst], tagged(3, &[&amount.to_le_bytes()]))
            }
            OpKind::Raw { program, data, accounts } => {
                (*program, accounts.iter().map(|p| pick(*p)).collect(), data.clone())
            }
        }
    }
}

fn keys_for(id: AccountId) -> &'static ed25519_dalek::SigningKey {
    let index = (0..GENESIS_KEYS_MAX + UNKNOWN_KEYS).find(|&i| key_id(i) == id).expect("signers are keys");
    &keys().keys[index]
}

// ---------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------

fn arb_balance() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        2 => 0u64..60,
        6 => 100u64..10_000,
        2 => (u64::MAX - 1_000)..=u64::MAX,
    ]
}

fn arb_key_spec() -> impl Strategy<Value = KeySpec> {
    let nonce = prop_oneof![20 => Just(0u64), 6 => 0u64..4, 1 => Just(u64::MAX)];
    let token = || prop::option::weighted(0.6, arb_balance());
    (arb_balance(), nonce, prop::bool::weighted(0.08), [token(), token()])
        .prop_map(|(balance, nonce, token_owned, tokens)| KeySpec { balance, nonce, token_owned, tokens })
}

fn arb_genesis() -> impl Strategy<Value = GenesisSpec> {
    (prop::collection::vec(arb_key_spec(), 4..=GENESIS_KEYS_MAX), [arb_balance(), arb_balance()])
        .prop_map(|(keys, supplies)| GenesisSpec { keys, supplies })
}

fn arb_who() -> impl Strategy<Value = Who> {
    prop_oneof![9 => any::<u8>().prop_map(Who::Genesis), 1 => any::<u8>().prop_map(Who::Unknown)]
}

fn arb_pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        3 => Just(Pick::Signer),
        3 => arb_who().prop_map(Pick::Key),
        1 => (arb_who(), any::<u8>()).prop_map(|(who, seed)| Pick::Derived(who, seed)),
        2 => any::<u8>().prop_map(Pick::Mint),
        2 => any::<u8>().prop_map(Pick::TokenAccount),
        3 => any::<u8>().prop_map(Pick::SignersTokenAccount),
        1 => any::<u8>().prop_map(Pick::SignersMint),
        1 => any::<u8>().prop_map(Pick::TokenOwnedEmpty),
        1 => any::<u8>().prop_map(Pick::Malformed),
    ]
}

/// Mostly the signer, as a well-formed instruction would name.
fn arb_signer_pick() -> impl Strategy<Value = Pick> {
    prop_oneof![9 => Just(Pick::Signer), 1 => arb_pick()]
}

fn arb_amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        1 => Just(Amount::Zero),
        6 => (0u64..100).prop_map(Amount::Small),
        2 => (-2i8..=2).prop_map(Amount::Near),
        1 => Just(Amount::Max),
        1 => any::<u64>().prop_map(Amount::Any),
    ]
}

/// Usually a `likely` account, sometimes any.
fn mostly(likely: fn(u8) -> Pick) -> impl Strategy<Value = Pick> {
    prop_oneof![3 => any::<u8>().prop_map(likely), 1 => arb_pick()]
}

fn arb_op_kind() -> impl Strategy<Value = OpKind> {
    use prop::collection::vec;
    let seed = prop_oneof![4 => 0..FREE_SEEDS, 1 => prop::sample::select(vec![TOKEN_SEED, MINT_SEED, EMPTY_SEED])];
    let owner = prop::sample::select(vec![SYSTEM, TOKEN, TOKEN, UNREGISTERED]);
    let program = prop::sample::select(vec![SYSTEM, TOKEN, UNREGISTERED]);
    prop_oneof![
        5 => (arb_signer_pick(), arb_pick(), arb_amount())
            .prop_map(|(from, to, amount)| OpKind::Transfer { from, to, amount }),
        3 => (arb_signer_pick(), seed, prop::option::weighted(0.1, arb_pick()), arb_amount(), owner)
            .prop_map(|(funder, seed, wrong_target, lamports, owner)| {
                OpKind::CreateAccount { funder, seed, wrong_target, lamports, owner }
            }),
        2 => (mostly(Pick::TokenOwnedEmpty), any::<u8>())
            .prop_map(|(mint, decimals)| OpKind::InitMint { mint, decimals }),
        2 => (mostly(Pick::TokenOwnedEmpty), mostly(Pick::Mint))
            .prop_map(|(account, mint)| OpKind::InitAccount { account, mint }),
        3 => (mostly(Pick::SignersMint), mostly(Pick::TokenAccount), arb_amount())
            .prop_map(|(mint, dest, amount)| OpKind::MintTo { mint, dest, amount }),
        4 => (mostly(Pick::SignersTokenAccount), prop::option::weighted(0.9, mostly(Pick::TokenAccount)), arb_amount())
            .prop_map(|(src, dst, amount)| OpKind::TokenTransfer { src, dst, amount }),
        1 => (program, 0u8..5, vec(any::<u8>(), 0..20), vec(arb_pick(), 0..3))
            .prop_map(|(program, tag, rest, accounts)| OpKind::Raw { program, data: tagged(tag, &[&rest]), accounts }),
    ]
}

fn arb_op() -> impl Strategy<Value = OpSpec> {
    (arb_op_kind(), prop::option::weighted(0.1, any::<u8>()), prop::bool::weighted(0.03))
        .prop_map(|(kind, read_only, drop_last_account)| OpSpec { kind, read_only, drop_last_account })
}

fn arb_tx() -> impl Strategy<Value = TxSpec> {
    let nonce = prop_oneof![
        30 => Just(NonceChoice::Current),
        1 => Just(NonceChoice::Stale),
        1 => Just(NonceChoice::Ahead),
        1 => any::<u64>().prop_map(NonceChoice::Any),
    ];
    let fee = prop_oneof![
        8 => (0u64..20).prop_map(Amount::Small),
        1 => Just(Amount::Zero),
        1 => (-2i8..=2).prop_map(Amount::Near),
    ];
    // An unknown signer can pay only a zero fee: keep them rare.
    let signer = prop_oneof![19 => any::<u8>().prop_map(Who::Genesis), 1 => any::<u8>().prop_map(Who::Unknown)];
    (signer, nonce, fee, prop::collection::vec(arb_op(), 0..4), prop::option::weighted(0.1, arb_pick()))
        .prop_map(|(signer, nonce, fee, ops, extra)| TxSpec { signer, nonce, fee, ops, extra })
}

fn arb_blocks() -> impl Strategy<Value = Vec<Vec<TxSpec>>> {
    prop::collection::vec(prop::collection::vec(arb_tx(), 0..24), 1..5)
}

// ---------------------------------------------------------------------------
// Running the engine against the model.
// ---------------------------------------------------------------------------

const THREAD_COUNTS: [usize; 3] = [1, 2, 4];

fn pools() -> &'static [rayon::ThreadPool] {
    static POOLS: OnceLock<Vec<rayon::ThreadPool>> = OnceLock::new();
    POOLS.get_or_init(|| {
        THREAD_COUNTS.iter().map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()).collect()
    })
}

/// The block on the serial executor, then on the parallel one at every
/// thread count, under the default policy and under one that schedules
/// even single-thread pools.
fn every_executor(state: &State, txs: &[Transaction], programs: &ProgramRegistry) -> Vec<(String, BlockOutcome)> {
    let mut outcomes = vec![("serial".to_string(), execute_block_serial(state, txs, programs))];
    for policy in [SchedulePolicy::DEFAULT, SchedulePolicy::ALWAYS] {
        for (pool, threads) in pools().iter().zip(THREAD_COUNTS) {
            let outcome = pool.install(|| execute_block_parallel_with(state, txs, programs, policy));
            outcomes.push((format!("parallel at {threads} threads, {policy:?}"), outcome));
        }
    }
    outcomes
}

fn engine_accounts(state: &State) -> BTreeMap<AccountId, Account> {
    state.iter().map(|(id, account)| (*id, account.clone())).collect()
}

/// Builds each block against the model, runs it on every executor, and
/// checks receipts, delta and the committed state against the model.
fn check_against_model(genesis: &GenesisSpec, blocks: &[Vec<TxSpec>]) -> Result<(), TestCaseError> {
    let programs = ProgramRegistry::native();
    let mut model = genesis_model(genesis);
    let mut state = State::from_accounts(model.engine_accounts());
    for (height, specs) in blocks.iter().enumerate() {
        let before = model.clone();
        let mut txs = Vec::with_capacity(specs.len());
        let mut expected = Vec::with_capacity(specs.len());
        for spec in specs {
            let tx = Builder { model: &model, genesis_keys: genesis.keys.len() }.build(spec);
            expected.push(model.apply(&tx).receipt(tx.fee));
            txs.push(tx);
        }
        let expected_delta = model.delta_since(&before);
        let outcomes = every_executor(&state, &txs, &programs);
        for (executor, outcome) in &outcomes {
            prop_assert_eq!(outcome.receipts.len(), txs.len());
            for (index, (got, want)) in outcome.receipts.iter().zip(&expected).enumerate() {
                prop_assert_eq!(got, want, "{}, block {}, tx {}: {:?}", executor, height, index, txs[index]);
            }
            prop_assert_eq!(&outcome.delta, &expected_delta, "{}, block {}: delta", executor, height);
        }
        state.apply(&outcomes[0].1.delta);
        prop_assert_eq!(engine_accounts(&state), model.engine_accounts(), "state after block {}", height);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn executors_agree_with_the_reference_model(genesis in arb_genesis(), blocks in arb_blocks()) {
        check_against_model(&genesis, &blocks)?;
    }
}

/// Guards the generator: if it stopped reaching an outcome, the property
/// above would silently test less. Runs the model alone.
#[test]
fn generated_blocks_reach_every_outcome() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut errors = BTreeSet::new();
    let mut succeeded_instructions = BTreeSet::new();
    for _ in 0..64 {
        let genesis = arb_genesis().new_tree(&mut runner).unwrap().current();
        let blocks = arb_blocks().new_tree(&mut runner).unwrap().current();
        let mut model = genesis_model(&genesis);
        for spec in blocks.iter().flatten() {
            let tx = Builder { model: &model, genesis_keys: genesis.keys.len() }.build(spec);
            match model.apply(&tx) {
                ModelOutcome::Succeeded => {
                    succeeded_instructions.extend(tx.instructions.iter().map(|ix| (ix.program.0, ix.data[0])));
                    errors.insert("ok");
                }
                ModelOutcome::Failed { error, .. } | ModelOutcome::Rejected(error) => {
                    errors.insert(error.name());
                }
            }
        }
    }
    for expected in [
        "ok",
        "bad_nonce",
        "insufficient_fee_balance",
        "nonce_exhausted",
        "unknown_program",
        "read_only_account",
        "missing_instruction_account",
        "external_account_modified",
        "invalid_instruction_data",
        "insufficient_funds",
        "arithmetic_overflow",
        "unauthorized",
        "account_already_exists",
        "invalid_account_owner",
        "invalid_account_data",
        "address_mismatch",
        "mint_mismatch",
        "account_already_initialized",
    ] {
        assert!(errors.contains(expected), "no {expected} among {errors:?}");
    }
    for (program, tag) in [(SYSTEM, 0), (SYSTEM, 1), (TOKEN, 0), (TOKEN, 1), (TOKEN, 2), (TOKEN, 3)] {
        assert!(
            succeeded_instructions.contains(&(program, tag)),
            "no successful instruction {tag} of program {program} among {succeeded_instructions:?}"
        );
    }
}
