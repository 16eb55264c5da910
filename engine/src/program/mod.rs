//! Programs: the code instructions run, and the context that fences them.
//!
//! A chain that embeds Sluice implements [`Program`] and registers it in a
//! [`ProgramRegistry`] under an id at or above [`ProgramId::USER_MIN`].
//! A program sees accounts only through [`InvokeContext`], which grants
//! exactly the accounts the transaction declared, in the declared mode.
//! Reaching any other account fails the transaction with
//! [`ExecError::UndeclaredAccount`]; writing a read-only one fails it with
//! [`ExecError::ReadOnlyAccount`]. Because conflicts are computed from the
//! declared sets, this fence is what makes parallel execution safe.
//!
//! After every instruction the runtime also checks, whatever the program
//! did, that native balance was conserved and that only the owning
//! program changed an account's data or owner or debited it (see
//! [`crate::exec`]). A registered program therefore cannot mint native
//! balance or steal from accounts it does not own.

pub mod system;
pub mod token;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::account::{Account, AccountId, ProgramId};
use crate::byte_reader::{ByteReader, Truncated};
use crate::exec::ExecError;
pub use crate::limits::PROGRAMS_MAX;
use crate::tx::AccountMeta;

/// Code that runs an instruction. Implementations must be deterministic:
/// the same accounts and data must give the same result on every machine
/// (no clocks, no randomness, no floating point, no iteration over hash
/// maps), or validators will disagree.
pub trait Program: Send + Sync {
    fn id(&self) -> ProgramId;
    /// A short stable name for logs and reports.
    fn name(&self) -> &'static str;
    fn execute(&self, ctx: &mut InvokeContext<'_>, data: &[u8]) -> Result<(), ExecError>;
}

/// A program's window onto the transaction's declared accounts.
pub struct InvokeContext<'a> {
    program: ProgramId,
    metas: &'a [AccountMeta],
    accounts: &'a mut [Account],
    instruction_accounts: &'a [u8],
}

impl<'a> InvokeContext<'a> {
    pub(crate) fn new(
        program: ProgramId,
        metas: &'a [AccountMeta],
        accounts: &'a mut [Account],
        instruction_accounts: &'a [u8],
    ) -> InvokeContext<'a> {
        assert_eq!(metas.len(), accounts.len(), "one loaded account per declared account");
        InvokeContext { program, metas, accounts, instruction_accounts }
    }

    pub fn program_id(&self) -> ProgramId {
        self.program
    }

    /// The transaction's signer: account 0, whose signature was verified.
    pub fn signer(&self) -> AccountId {
        self.metas[0].id
    }

    pub fn instruction_account_count(&self) -> usize {
        self.instruction_accounts.len()
    }

    /// The id at position `position` of this instruction's account list.
    pub fn instruction_account(&self, position: usize) -> Result<AccountId, ExecError> {
        let index = *self.instruction_accounts.get(position).ok_or(ExecError::MissingInstructionAccount)?;
        Ok(self.metas[index as usize].id)
    }

    pub fn read(&self, id: &AccountId) -> Result<&Account, ExecError> {
        let slot = self.slot(id)?;
        Ok(&self.accounts[slot])
    }

    pub fn write(&mut self, id: &AccountId) -> Result<&mut Account, ExecError> {
        let slot = self.slot(id)?;
        if !self.metas[slot].writable {
            return Err(ExecError::ReadOnlyAccount);
        }
        Ok(&mut self.accounts[slot])
    }

    /// Linear search: at most `ACCOUNTS_PER_TX_MAX` (32) ids, faster than
    /// building a map for each instruction.
    fn slot(&self, id: &AccountId) -> Result<usize, ExecError> {
        self.metas.iter().position(|m| m.id == *id).ok_or(ExecError::UndeclaredAccount)
    }
}

/// Why [`ProgramRegistry::register`] refused a program.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RegistryError {
    /// The id is below `ProgramId::USER_MIN`, kept for native programs.
    Reserved {
        id: ProgramId,
    },
    AlreadyRegistered {
        id: ProgramId,
    },
    /// `PROGRAMS_MAX` programs are registered already.
    Full,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Reserved { id } => {
                write!(f, "program id {} is reserved; use {} or above", id.0, ProgramId::USER_MIN.0)
            }
            RegistryError::AlreadyRegistered { id } => write!(f, "program id {} is already registered", id.0),
            RegistryError::Full => write!(f, "at most {PROGRAMS_MAX} programs can be registered"),
        }
    }
}

impl std::error::Error for RegistryError {}

/// The programs a chain runs, by id. Cloning shares the programs.
#[derive(Clone)]
pub struct ProgramRegistry {
    programs: BTreeMap<ProgramId, Arc<dyn Program>>,
}

impl ProgramRegistry {
    /// The native programs only: system and token.
    pub fn native() -> ProgramRegistry {
        let mut programs: BTreeMap<ProgramId, Arc<dyn Program>> = BTreeMap::new();
        programs.insert(ProgramId::SYSTEM, Arc::new(system::SystemProgram));
        programs.insert(ProgramId::TOKEN, Arc::new(token::TokenProgram));
        ProgramRegistry { programs }
    }

    /// Adds a chain's own program. Ids below `ProgramId::USER_MIN` are
    /// reserved for native programs, and an id is registered only once.
    pub fn register(&mut self, program: Arc<dyn Program>) -> Result<(), RegistryError> {
        let id = program.id();
        if id < ProgramId::USER_MIN {
            return Err(RegistryError::Reserved { id });
        }
        if self.programs.contains_key(&id) {
            return Err(RegistryError::AlreadyRegistered { id });
        }
        if self.programs.len() >= PROGRAMS_MAX {
            return Err(RegistryError::Full);
        }
        self.programs.insert(id, program);
        Ok(())
    }

    pub fn get(&self, id: ProgramId) -> Option<&dyn Program> {
        self.programs.get(&id).map(|p| p.as_ref())
    }

    /// Registered programs, the native ones included.
    pub fn len(&self) -> usize {
        self.programs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    /// `name(id)` of every program, by id: how logs list them.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self.programs.values().map(|p| format!("{}({})", p.name(), p.id().0)).collect();
        names.join(",")
    }
}

impl Default for ProgramRegistry {
    fn default() -> Self {
        Self::native()
    }
}

/// Reads a fixed-layout instruction's fields, failing with
/// `InvalidInstructionData` on short input and on trailing bytes, so each
/// instruction, like each transaction, has exactly one encoding. A chain's
/// own programs read their data through it too.
pub struct DataReader<'a> {
    reader: ByteReader<'a, ExecError>,
}

/// Instruction data running short is `InvalidInstructionData`, which names
/// no offset: receipts carry error codes, not positions.
impl From<Truncated> for ExecError {
    fn from(_: Truncated) -> ExecError {
        ExecError::InvalidInstructionData
    }
}

const INSTRUCTION_DATA_FIELD: &str = "instruction data";

impl<'a> DataReader<'a> {
    pub fn new(data: &'a [u8]) -> DataReader<'a> {
        DataReader { reader: ByteReader::new(data) }
    }

    pub fn bytes<const N: usize>(&mut self) -> Result<[u8; N], ExecError> {
        self.reader.array(INSTRUCTION_DATA_FIELD)
    }

    pub fn u8(&mut self) -> Result<u8, ExecError> {
        self.reader.u8(INSTRUCTION_DATA_FIELD)
    }

    pub fn u16(&mut self) -> Result<u16, ExecError> {
        self.reader.u16(INSTRUCTION_DATA_FIELD)
    }

    pub fn u64(&mut self) -> Result<u64, ExecError> {
        self.reader.u64(INSTRUCTION_DATA_FIELD)
    }

    pub fn finish(self) -> Result<(), ExecError> {
        match self.reader.remaining() {
            0 => Ok(()),
            _ => Err(ExecError::InvalidInstructionData),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nop(u16);
    impl Program for Nop {
        fn id(&self) -> ProgramId {
            ProgramId(self.0)
        }
        fn name(&self) -> &'static str {
            "nop"
        }
        fn execute(&self, _: &mut InvokeContext<'_>, _: &[u8]) -> Result<(), ExecError> {
            Ok(())
        }
    }

    #[test]
    fn registry_guards_ids() {
        let mut registry = ProgramRegistry::native();
        assert_eq!(registry.register(Arc::new(Nop(1))), Err(RegistryError::Reserved { id: ProgramId(1) }));
        registry.register(Arc::new(Nop(300))).unwrap();
        let duplicate = registry.register(Arc::new(Nop(300))).unwrap_err();
        assert_eq!(duplicate, RegistryError::AlreadyRegistered { id: ProgramId(300) });
        assert_eq!(duplicate.to_string(), "program id 300 is already registered");
        assert!(registry.get(ProgramId(300)).is_some());
        assert!(registry.get(ProgramId(301)).is_none());
    }

    #[test]
    fn context_fences_accounts() {
        let metas = [
            AccountMeta { id: AccountId([1; 32]), writable: true },
            AccountMeta { id: AccountId([2; 32]), writable: false },
        ];
        let mut accounts = vec![Account::default(), Account::default()];
        let mut ctx = InvokeContext::new(ProgramId::SYSTEM, &metas, &mut accounts, &[1]);
        assert_eq!(ctx.instruction_account(0), Ok(AccountId([2; 32])));
        assert_eq!(ctx.instruction_account(1), Err(ExecError::MissingInstructionAccount));
        assert!(ctx.write(&AccountId([1; 32])).is_ok());
        assert_eq!(ctx.write(&AccountId([2; 32])).err(), Some(ExecError::ReadOnlyAccount));
        assert_eq!(ctx.read(&AccountId([3; 32])).err(), Some(ExecError::UndeclaredAccount));
    }

    #[test]
    fn data_reader_is_exact() {
        let mut r = DataReader::new(&[1, 2, 0, 9]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(DataReader::new(&[1]).u16(), Err(ExecError::InvalidInstructionData));
        assert_eq!(r.finish(), Err(ExecError::InvalidInstructionData));
    }
}
