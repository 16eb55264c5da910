//! Transaction wire format v1: the model, its one encoding, and a total decoder.
//!
//! docs/format.md specifies the format byte by byte; this module is its
//! implementation. The shape, with every integer little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 64 | signature `R ‖ S` over the signing message |
//! | 64 | 1 | version, `0x01` |
//! | 65 | 8 | nonce (u64) |
//! | 73 | 8 | fee (u64) |
//! | 81 | 1 | account count `N`, 1..=[`ACCOUNTS_PER_TX_MAX`] |
//! | 82 | 33·N | per account: id (32) then flags (1): `0x00` read-only, `0x01` writable |
//! | … | 1 | instruction count `M`, 0..=[`INSTRUCTIONS_PER_TX_MAX`] |
//! | … | … | per instruction: program u16, index count u8, indices u8×K, data length u16, data |
//!
//! Account 0 is the signer and fee payer; it must be writable. Account ids
//! are distinct. The signing message is [`signing_message`]: a domain
//! separator, the chain id, then every byte after the signature.
//!
//! Decoding is total: every input gives a [`Transaction`] or a
//! [`DecodeError`] naming the field and byte offset. It allocates only
//! after a count has been checked against its limit, and it accepts
//! exactly one encoding per transaction, so `encode(decode(b)) == b`.

use std::fmt;

use crate::account::{AccountId, ProgramId};
use crate::byte_reader::{ByteReader, Truncated};

pub use crate::limits::{
    ACCOUNTS_PER_INSTRUCTION_MAX, ACCOUNTS_PER_TX_MAX, CHAIN_ID_BYTES_MAX, INSTRUCTIONS_PER_TX_MAX,
    INSTRUCTION_DATA_BYTES_MAX, TX_BYTES_MAX, TX_BYTES_MIN,
};
/// An ed25519 signature on the wire: `R ‖ S`, defined once by sigverify.
pub use crate::sigverify::SIGNATURE_BYTES;
pub const TX_VERSION: u8 = 1;

const FLAG_WRITABLE: u8 = 0x01;
/// Prefix of every signing message. The NUL ends it so that no chain id
/// can extend it into another valid prefix.
pub const SIGNING_DOMAIN: &[u8] = b"sluice.tx.v1\0";

/// A chain's identity, signed into every transaction so that a transaction
/// for one chain is never valid on another.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainId(String);

impl ChainId {
    pub fn new(id: &str) -> Result<ChainId, ChainIdError> {
        if id.is_empty() || id.len() > CHAIN_ID_BYTES_MAX {
            return Err(ChainIdError::Length { len: id.len() });
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ChainIdError::NotPrintable { id: id.to_string() });
        }
        Ok(ChainId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not a chain id.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ChainIdError {
    /// Not 1..=`CHAIN_ID_BYTES_MAX` bytes long.
    Length { len: usize },
    /// Holds a byte that is not printable ASCII, or a space.
    NotPrintable { id: String },
}

impl fmt::Display for ChainIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainIdError::Length { len } => write!(f, "chain id must be 1..={CHAIN_ID_BYTES_MAX} bytes, got {len}"),
            ChainIdError::NotPrintable { id } => write!(f, "chain id {id:?} must be printable ASCII without spaces"),
        }
    }
}

impl std::error::Error for ChainIdError {}

impl Default for ChainId {
    fn default() -> Self {
        ChainId("sluice-local".to_string())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AccountMeta {
    pub id: AccountId,
    pub writable: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Instruction {
    pub program: ProgramId,
    /// Indices into the transaction's declared accounts.
    pub accounts: Vec<u8>,
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    pub signature: [u8; SIGNATURE_BYTES],
    pub nonce: u64,
    pub fee: u64,
    /// Account 0 is the signer and fee payer.
    pub accounts: Vec<AccountMeta>,
    pub instructions: Vec<Instruction>,
}

impl Transaction {
    pub fn signer(&self) -> &AccountId {
        &self.accounts[0].id
    }

    /// Every byte after the signature; what the signature covers, after
    /// the domain prefix.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TX_BYTES_MAX);
        self.encode_body_into(&mut out);
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TX_BYTES_MAX);
        out.extend_from_slice(&self.signature);
        self.encode_body_into(&mut out);
        // Encoded transactions are held by the thousand (a signed-ahead
        // workload, blocks in flight): a transfer is 165 bytes, and keeping
        // the TX_BYTES_MAX reservation would hold 1,232.
        out.shrink_to_fit();
        out
    }

    /// Precondition: the counts and lengths fit their wire fields (one
    /// byte, two for data). `validate` checks the tighter limits; these
    /// asserts keep a transaction built in memory past them from being
    /// silently truncated into different bytes than it holds.
    fn encode_body_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(TX_VERSION);
        out.extend_from_slice(&self.nonce.to_le_bytes());
        out.extend_from_slice(&self.fee.to_le_bytes());
        out.push(u8::try_from(self.accounts.len()).expect("account_count fits its u8 field"));
        for meta in &self.accounts {
            out.extend_from_slice(&meta.id.0);
            out.push(if meta.writable { FLAG_WRITABLE } else { 0 });
        }
        out.push(u8::try_from(self.instructions.len()).expect("instruction_count fits its u8 field"));
        for ix in &self.instructions {
            out.extend_from_slice(&ix.program.0.to_le_bytes());
            out.push(u8::try_from(ix.accounts.len()).expect("instruction account count fits its u8 field"));
            out.extend_from_slice(&ix.accounts);
            let data_len = u16::try_from(ix.data.len()).expect("instruction data length fits its u16 field");
            out.extend_from_slice(&data_len.to_le_bytes());
            out.extend_from_slice(&ix.data);
        }
        debug_assert_eq!(out.len() - start, self.body_len(), "the body is as long as its fields say");
    }

    /// Bytes of the body (everything after the signature), from the fields.
    fn body_len(&self) -> usize {
        let accounts = self.accounts.len() * (32 + 1);
        let instructions: usize =
            self.instructions.iter().map(|ix| 2 + 1 + ix.accounts.len() + 2 + ix.data.len()).sum();
        1 + 8 + 8 + 1 + accounts + 1 + instructions
    }

    /// Checks the limits a decoded transaction always meets; a transaction
    /// built in memory must meet them before it is encoded and signed.
    pub fn validate(&self) -> Result<(), DecodeError> {
        use DecodeErrorKind::*;
        // Counts first: encode() writes them as u8/u16, which would wrap
        // and could yield the bytes of a different, valid transaction.
        let error = |offset, kind| Err(DecodeError { offset, kind });
        if self.accounts.len() > ACCOUNTS_PER_TX_MAX {
            return error(81, TooManyAccounts { count: self.accounts.len() });
        }
        let mut offset = 82 + 33 * self.accounts.len();
        if self.instructions.len() > INSTRUCTIONS_PER_TX_MAX {
            return error(offset, TooManyInstructions { count: self.instructions.len() });
        }
        offset += 1;
        for ix in &self.instructions {
            offset += 2;
            if ix.accounts.len() > ACCOUNTS_PER_INSTRUCTION_MAX {
                return error(offset, TooManyInstructionAccounts { count: ix.accounts.len() });
            }
            offset += 1 + ix.accounts.len();
            if ix.data.len() > INSTRUCTION_DATA_BYTES_MAX {
                return error(offset, InstructionDataTooLarge { len: ix.data.len() });
            }
            offset += 2 + ix.data.len();
        }
        let decoded = decode(&self.encode())?;
        assert_eq!(&decoded, self, "a transaction within limits round-trips");
        Ok(())
    }
}

/// The 32-byte id of a transaction: blake3 of its encoding. Keys the
/// verified-signature cache and the transactions root.
pub fn tx_hash(encoded: &[u8]) -> [u8; 32] {
    *blake3::hash(encoded).as_bytes()
}

/// CometBFT's hash of a transaction: SHA-256 of its bytes, what
/// `/tx?hash=0x…` looks up (printed as upper-case hex).
pub fn comet_tx_hash(tx: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(tx).into()
}

/// Signs `tx` in place as its signer (account 0) on `chain`.
pub fn sign(tx: &mut Transaction, key: &ed25519_dalek::SigningKey, chain: &ChainId) {
    use ed25519_dalek::Signer;
    debug_assert_eq!(tx.signer().0, key.verifying_key().to_bytes(), "account 0 must be the signing key");
    let message = signing_message(chain, &tx.body_bytes());
    tx.signature = key.sign(&message).to_bytes();
}

/// Builds a transaction by naming accounts instead of indexing them.
///
/// The signer becomes account 0 (writable). Each account is declared once,
/// in first-use order, writable if any use asks for it; instructions refer
/// to them by position. `build` checks every limit via the decoder, so a
/// built transaction always encodes to valid bytes.
pub struct TransactionBuilder {
    nonce: u64,
    fee: u64,
    accounts: Vec<AccountMeta>,
    instructions: Vec<Instruction>,
}

impl TransactionBuilder {
    pub fn new(signer: AccountId, nonce: u64, fee: u64) -> TransactionBuilder {
        TransactionBuilder {
            nonce,
            fee,
            accounts: vec![AccountMeta { id: signer, writable: true }],
            instructions: vec![],
        }
    }

    /// Declares `id` without using it in an instruction.
    pub fn declare(mut self, id: AccountId, writable: bool) -> TransactionBuilder {
        self.index_of(id, writable);
        self
    }

    /// Adds an instruction over `accounts` (id, writable) for `program`.
    pub fn instruction(
        mut self,
        program: ProgramId,
        accounts: &[(AccountId, bool)],
        data: Vec<u8>,
    ) -> TransactionBuilder {
        let indices = accounts.iter().map(|&(id, writable)| self.index_of(id, writable)).collect();
        self.instructions.push(Instruction { program, accounts: indices, data });
        self
    }

    fn index_of(&mut self, id: AccountId, writable: bool) -> u8 {
        match self.accounts.iter().position(|m| m.id == id) {
            Some(i) => {
                self.accounts[i].writable |= writable;
                i as u8
            }
            None => {
                self.accounts.push(AccountMeta { id, writable });
                (self.accounts.len() - 1) as u8
            }
        }
    }

    /// The unsigned transaction, checked against every wire limit.
    pub fn build(self) -> Result<Transaction, DecodeError> {
        let tx = Transaction {
            signature: [0; SIGNATURE_BYTES],
            nonce: self.nonce,
            fee: self.fee,
            accounts: self.accounts,
            instructions: self.instructions,
        };
        tx.validate()?;
        Ok(tx)
    }

    /// Builds and signs with `key`, which must be the signer's key.
    pub fn sign(self, key: &ed25519_dalek::SigningKey, chain: &ChainId) -> Result<Transaction, DecodeError> {
        let mut tx = self.build()?;
        sign(&mut tx, key, chain);
        Ok(tx)
    }
}

/// `SIGNING_DOMAIN ‖ chain id length (u8) ‖ chain id ‖ body`.
pub fn signing_message(chain: &ChainId, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + 1 + chain.0.len() + body.len());
    msg.extend_from_slice(SIGNING_DOMAIN);
    msg.push(chain.0.len() as u8);
    msg.extend_from_slice(chain.0.as_bytes());
    msg.extend_from_slice(body);
    msg
}

/// Why a byte string is not a valid v1 transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeErrorKind {
    /// The input ended inside the named field.
    Truncated {
        field: &'static str,
    },
    TooLarge {
        len: usize,
    },
    UnsupportedVersion {
        version: u8,
    },
    NoAccounts,
    TooManyAccounts {
        count: usize,
    },
    InvalidAccountFlags {
        flags: u8,
    },
    DuplicateAccount {
        index: usize,
    },
    SignerNotWritable,
    TooManyInstructions {
        count: usize,
    },
    TooManyInstructionAccounts {
        count: usize,
    },
    AccountIndexOutOfRange {
        index: u8,
        accounts: usize,
    },
    InstructionDataTooLarge {
        len: usize,
    },
    TrailingBytes {
        count: usize,
    },
}

impl DecodeErrorKind {
    /// A stable snake_case name, used as a rejection reason in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::NoAccounts => "no_accounts",
            Self::TooManyAccounts { .. } => "too_many_accounts",
            Self::InvalidAccountFlags { .. } => "invalid_account_flags",
            Self::DuplicateAccount { .. } => "duplicate_account",
            Self::SignerNotWritable => "signer_not_writable",
            Self::TooManyInstructions { .. } => "too_many_instructions",
            Self::TooManyInstructionAccounts { .. } => "too_many_instruction_accounts",
            Self::AccountIndexOutOfRange { .. } => "account_index_out_of_range",
            Self::InstructionDataTooLarge { .. } => "instruction_data_too_large",
            Self::TrailingBytes { .. } => "trailing_bytes",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DecodeError {
    /// Byte offset in the input of the field that failed.
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind::*;
        write!(f, "transaction byte {}: ", self.offset)?;
        match self.kind {
            Truncated { field } => write!(f, "input ends inside field `{field}`"),
            TooLarge { len } => write!(f, "{len} bytes exceeds TX_BYTES_MAX {TX_BYTES_MAX}"),
            UnsupportedVersion { version } => write!(f, "version {version} is not {TX_VERSION}"),
            NoAccounts => write!(f, "account count is 0; the signer is required"),
            TooManyAccounts { count } => {
                write!(f, "account count {count} exceeds ACCOUNTS_PER_TX_MAX {ACCOUNTS_PER_TX_MAX}")
            }
            InvalidAccountFlags { flags } => write!(f, "account flags {flags:#04x} must be 0x00 or 0x01"),
            DuplicateAccount { index } => write!(f, "account {index} repeats an earlier account"),
            SignerNotWritable => write!(f, "account 0 (signer, fee payer) must be writable"),
            TooManyInstructions { count } => {
                write!(f, "instruction count {count} exceeds INSTRUCTIONS_PER_TX_MAX {INSTRUCTIONS_PER_TX_MAX}")
            }
            TooManyInstructionAccounts { count } => write!(
                f,
                "instruction account count {count} exceeds ACCOUNTS_PER_INSTRUCTION_MAX {ACCOUNTS_PER_INSTRUCTION_MAX}"
            ),
            AccountIndexOutOfRange { index, accounts } => {
                write!(f, "account index {index} is not below the account count {accounts}")
            }
            InstructionDataTooLarge { len } => {
                write!(
                    f,
                    "instruction data length {len} exceeds INSTRUCTION_DATA_BYTES_MAX {INSTRUCTION_DATA_BYTES_MAX}"
                )
            }
            TrailingBytes { count } => write!(f, "{count} bytes follow the last instruction"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    fn at(offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }
}

/// The transaction decoder's cursor: every short read is a `Truncated`
/// error naming the field, so no decode path can index past the end.
type Reader<'a> = ByteReader<'a, DecodeError>;

impl From<Truncated> for DecodeError {
    fn from(short: Truncated) -> DecodeError {
        DecodeError { offset: short.offset, kind: DecodeErrorKind::Truncated { field: short.field } }
    }
}

/// Decodes one v1 transaction, rejecting every non-canonical form.
pub fn decode(bytes: &[u8]) -> Result<Transaction, DecodeError> {
    if bytes.len() > TX_BYTES_MAX {
        let kind = DecodeErrorKind::TooLarge { len: bytes.len() };
        return Err(DecodeError { offset: TX_BYTES_MAX, kind });
    }
    let mut r = Reader::new(bytes);
    let signature: [u8; SIGNATURE_BYTES] = r.array("signature")?;
    let version_offset = r.offset();
    let version = r.u8("version")?;
    if version != TX_VERSION {
        return Err(DecodeError::at(version_offset, DecodeErrorKind::UnsupportedVersion { version }));
    }
    let nonce = r.u64("nonce")?;
    let fee = r.u64("fee")?;
    let accounts = decode_accounts(&mut r)?;
    let instructions = decode_instructions(&mut r, accounts.len())?;
    if r.offset() != bytes.len() {
        let count = bytes.len() - r.offset();
        return Err(DecodeError::at(r.offset(), DecodeErrorKind::TrailingBytes { count }));
    }
    let tx = Transaction { signature, nonce, fee, accounts, instructions };
    debug_assert_eq!(tx.encode(), bytes, "decode accepted a non-canonical encoding");
    Ok(tx)
}

fn decode_accounts(r: &mut Reader<'_>) -> Result<Vec<AccountMeta>, DecodeError> {
    let count_offset = r.offset();
    let count = r.u8("account_count")? as usize;
    if count == 0 {
        return Err(DecodeError::at(count_offset, DecodeErrorKind::NoAccounts));
    }
    if count > ACCOUNTS_PER_TX_MAX {
        return Err(DecodeError::at(count_offset, DecodeErrorKind::TooManyAccounts { count }));
    }
    let mut accounts = Vec::with_capacity(count);
    for index in 0..count {
        let entry_offset = r.offset();
        let id = AccountId(r.array("account_id")?);
        let flags_offset = r.offset();
        let flags = r.u8("account_flags")?;
        if flags & !FLAG_WRITABLE != 0 {
            return Err(DecodeError::at(flags_offset, DecodeErrorKind::InvalidAccountFlags { flags }));
        }
        if accounts.iter().any(|m: &AccountMeta| m.id == id) {
            return Err(DecodeError::at(entry_offset, DecodeErrorKind::DuplicateAccount { index }));
        }
        let writable = flags == FLAG_WRITABLE;
        if index == 0 && !writable {
            return Err(DecodeError::at(flags_offset, DecodeErrorKind::SignerNotWritable));
        }
        accounts.push(AccountMeta { id, writable });
    }
    Ok(accounts)
}

fn decode_instructions(r: &mut Reader<'_>, account_count: usize) -> Result<Vec<Instruction>, DecodeError> {
    let count_offset = r.offset();
    let count = r.u8("instruction_count")? as usize;
    if count > INSTRUCTIONS_PER_TX_MAX {
        return Err(DecodeError::at(count_offset, DecodeErrorKind::TooManyInstructions { count }));
    }
    let mut instructions = Vec::with_capacity(count);
    for _ in 0..count {
        instructions.push(decode_instruction(r, account_count)?);
    }
    Ok(instructions)
}

fn decode_instruction(r: &mut Reader<'_>, account_count: usize) -> Result<Instruction, DecodeError> {
    let program = ProgramId(r.u16("program_id")?);
    let index_count_offset = r.offset();
    let index_count = r.u8("instruction_account_count")? as usize;
    if index_count > ACCOUNTS_PER_INSTRUCTION_MAX {
        let kind = DecodeErrorKind::TooManyInstructionAccounts { count: index_count };
        return Err(DecodeError::at(index_count_offset, kind));
    }
    let indices_offset = r.offset();
    let indices = r.take(index_count, "instruction_account_indices")?;
    if let Some(pos) = indices.iter().position(|&i| i as usize >= account_count) {
        let kind = DecodeErrorKind::AccountIndexOutOfRange { index: indices[pos], accounts: account_count };
        return Err(DecodeError::at(indices_offset + pos, kind));
    }
    let len_offset = r.offset();
    let data_len = r.u16("instruction_data_length")? as usize;
    if data_len > INSTRUCTION_DATA_BYTES_MAX {
        return Err(DecodeError::at(len_offset, DecodeErrorKind::InstructionDataTooLarge { len: data_len }));
    }
    let data = r.take(data_len, "instruction_data")?.to_vec();
    Ok(Instruction { program, accounts: indices.to_vec(), data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Transaction {
        Transaction {
            signature: [7; 64],
            nonce: 3,
            fee: 10,
            accounts: vec![
                AccountMeta { id: AccountId([1; 32]), writable: true },
                AccountMeta { id: AccountId([2; 32]), writable: false },
            ],
            instructions: vec![Instruction { program: ProgramId::SYSTEM, accounts: vec![0, 1], data: vec![9, 9] }],
        }
    }

    fn kind_of(bytes: &[u8]) -> DecodeErrorKind {
        decode(bytes).expect_err("must be rejected").kind
    }

    #[test]
    fn round_trip_sample() {
        let tx = sample();
        let bytes = tx.encode();
        assert_eq!(decode(&bytes).unwrap(), tx);
    }

    #[test]
    fn minimal_transaction_has_documented_size() {
        let tx = Transaction {
            signature: [0; 64],
            nonce: 0,
            fee: 0,
            accounts: vec![AccountMeta { id: AccountId([1; 32]), writable: true }],
            instructions: vec![],
        };
        assert_eq!(tx.encode().len(), TX_BYTES_MIN);
        assert!(decode(&tx.encode()).is_ok());
    }

    #[test]
    fn every_truncation_names_its_offset() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            let err = decode(&bytes[..len]).unwrap_err();
            assert!(matches!(err.kind, DecodeErrorKind::Truncated { .. }), "len {len}: {err}");
            assert!(err.offset <= len, "offset {} past input end {len}", err.offset);
        }
    }

    #[test]
    fn trailing_byte_rejected_at_its_offset() {
        let mut bytes = sample().encode();
        let end = bytes.len();
        bytes.push(0);
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err, DecodeError { offset: end, kind: DecodeErrorKind::TrailingBytes { count: 1 } });
    }

    #[test]
    fn size_limit_at_boundary() {
        // A transaction of exactly TX_BYTES_MAX decodes; one byte more does not.
        // Two instructions, because one may carry only 1024 data bytes.
        let mut tx = sample();
        tx.instructions.push(tx.instructions[0].clone());
        tx.instructions[0].data = vec![0; 600];
        let base = tx.encode().len() - tx.instructions[1].data.len();
        tx.instructions[1].data = vec![0; TX_BYTES_MAX - base];
        assert_eq!(tx.encode().len(), TX_BYTES_MAX);
        assert!(decode(&tx.encode()).is_ok());
        let mut bytes = tx.encode();
        bytes.push(0);
        assert_eq!(kind_of(&bytes), DecodeErrorKind::TooLarge { len: TX_BYTES_MAX + 1 });
    }

    #[test]
    fn account_limit_at_boundary() {
        let mut tx = sample();
        tx.instructions.clear();
        tx.accounts = (0..ACCOUNTS_PER_TX_MAX)
            .map(|i| AccountMeta { id: AccountId([i as u8 + 1; 32]), writable: true })
            .collect();
        assert!(decode(&tx.encode()).is_ok());
        tx.accounts.push(AccountMeta { id: AccountId([200; 32]), writable: true });
        let count = ACCOUNTS_PER_TX_MAX + 1;
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::TooManyAccounts { count });
    }

    #[test]
    fn instruction_limits_at_boundary() {
        let mut tx = sample();
        tx.instructions = vec![Instruction { program: ProgramId::SYSTEM, accounts: vec![], data: vec![] }; 8];
        assert!(decode(&tx.encode()).is_ok());
        tx.instructions.push(tx.instructions[0].clone());
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::TooManyInstructions { count: 9 });

        let mut tx = sample();
        tx.instructions[0].accounts = vec![0; ACCOUNTS_PER_INSTRUCTION_MAX];
        assert!(decode(&tx.encode()).is_ok());
        tx.instructions[0].accounts.push(0);
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::TooManyInstructionAccounts { count: 17 });

        let mut tx = sample();
        tx.instructions[0].data = vec![0; INSTRUCTION_DATA_BYTES_MAX];
        assert!(decode(&tx.encode()).is_ok());
        tx.instructions[0].data.push(0);
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::InstructionDataTooLarge { len: 1025 });
    }

    #[test]
    fn non_canonical_forms_rejected() {
        let mut bytes = sample().encode();
        bytes[64] = 2;
        assert_eq!(kind_of(&bytes), DecodeErrorKind::UnsupportedVersion { version: 2 });

        let mut bytes = sample().encode();
        let flags_offset = 82 + 32;
        bytes[flags_offset] = 0x03;
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err, DecodeError { offset: flags_offset, kind: DecodeErrorKind::InvalidAccountFlags { flags: 3 } });

        let mut tx = sample();
        tx.accounts[1].id = tx.accounts[0].id;
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::DuplicateAccount { index: 1 });

        let mut tx = sample();
        tx.accounts[0].writable = false;
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::SignerNotWritable);

        let mut tx = sample();
        tx.instructions[0].accounts = vec![2];
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::AccountIndexOutOfRange { index: 2, accounts: 2 });

        let mut tx = sample();
        tx.accounts.clear();
        tx.instructions.clear();
        assert_eq!(kind_of(&tx.encode()), DecodeErrorKind::NoAccounts);
    }

    #[test]
    fn signing_message_separates_chains() {
        let body = sample().body_bytes();
        let a = signing_message(&ChainId::new("a").unwrap(), &body);
        let b = signing_message(&ChainId::new("b").unwrap(), &body);
        assert_ne!(a, b);
        assert!(a.starts_with(SIGNING_DOMAIN));
        assert_eq!(ChainId::new(""), Err(ChainIdError::Length { len: 0 }));
        let spaced = ChainId::new("has space").unwrap_err();
        assert_eq!(spaced.to_string(), "chain id \"has space\" must be printable ASCII without spaces");
        assert_eq!(ChainId::new(&"x".repeat(65)), Err(ChainIdError::Length { len: 65 }));
    }

    #[test]
    fn validate_catches_counts_that_would_wrap() {
        let mut tx = sample();
        tx.accounts =
            (0..=256u32).map(|i| AccountMeta { id: AccountId([(i % 251) as u8; 32]), writable: true }).collect();
        assert_eq!(tx.validate().unwrap_err().kind, DecodeErrorKind::TooManyAccounts { count: 257 });
        let mut tx = sample();
        tx.instructions[0].data = vec![0; 70_000];
        assert_eq!(tx.validate().unwrap_err().kind, DecodeErrorKind::InstructionDataTooLarge { len: 70_000 });
    }

    #[test]
    fn builder_declares_each_account_once() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let signer = AccountId(key.verifying_key().to_bytes());
        let other = AccountId([9; 32]);
        let tx = TransactionBuilder::new(signer, 4, 1)
            .instruction(ProgramId::SYSTEM, &[(signer, true), (other, false)], vec![1])
            .instruction(ProgramId::TOKEN, &[(other, true)], vec![2])
            .sign(&key, &ChainId::default())
            .unwrap();
        assert_eq!(
            tx.accounts,
            vec![AccountMeta { id: signer, writable: true }, AccountMeta { id: other, writable: true }]
        );
        assert_eq!(tx.instructions[1].accounts, vec![1]);
        let message = signing_message(&ChainId::default(), &tx.body_bytes());
        assert!(crate::sigverify::verify_single(&signer.0, &message, &tx.signature).is_ok());
    }

    fn arb_tx() -> impl Strategy<Value = Transaction> {
        let accounts = prop::collection::vec(any::<[u8; 32]>(), 1..6);
        (any::<[u8; 32]>(), any::<u64>(), any::<u64>(), accounts, any::<Vec<bool>>(), 0u8..4).prop_flat_map(
            |(sig_half, nonce, fee, ids, flags, ix_count)| {
                let n = ids.len() as u8;
                let ix = (any::<u16>(), prop::collection::vec(0..n, 0..5), prop::collection::vec(any::<u8>(), 0..40))
                    .prop_map(|(p, accounts, data)| Instruction { program: ProgramId(p), accounts, data });
                prop::collection::vec(ix, ix_count as usize).prop_map(move |instructions| {
                    let mut signature = [0u8; 64];
                    signature[..32].copy_from_slice(&sig_half);
                    let mut accounts: Vec<AccountMeta> = Vec::new();
                    for (i, id) in ids.iter().enumerate() {
                        if accounts.iter().all(|m| m.id.0 != *id) {
                            let writable = i == 0 || flags.get(i).copied().unwrap_or(false);
                            accounts.push(AccountMeta { id: AccountId(*id), writable });
                        }
                    }
                    let len = accounts.len() as u8;
                    let instructions = instructions
                        .into_iter()
                        .map(|mut ix| {
                            ix.accounts.iter_mut().for_each(|i| *i %= len);
                            ix
                        })
                        .collect();
                    Transaction { signature, nonce, fee, accounts, instructions }
                })
            },
        )
    }

    proptest! {
        #[test]
        fn prop_round_trip(tx in arb_tx()) {
            let bytes = tx.encode();
            let decoded = decode(&bytes).unwrap();
            prop_assert_eq!(&decoded, &tx);
            prop_assert_eq!(decoded.encode(), bytes);
        }

        #[test]
        fn prop_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
            match decode(&bytes) {
                Ok(tx) => prop_assert_eq!(tx.encode(), bytes),
                Err(err) => prop_assert!(err.offset <= bytes.len().max(TX_BYTES_MAX)),
            }
        }

        #[test]
        fn prop_mutated_valid_bytes_stay_canonical(tx in arb_tx(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = tx.encode();
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            if let Ok(decoded) = decode(&bytes) {
                prop_assert_eq!(decoded.encode(), bytes);
            }
        }
    }
}
