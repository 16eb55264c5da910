//! Canonical encoding and total decoding of what the engine writes to disk:
//! block records, origin records (genesis or restored base) and state snapshots.
//!
//! Every decoder here is total: any bytes give a value or a [`RecordError`]
//! naming the field and the byte offset where decoding failed. A count is
//! checked against its limit *and* against the bytes that remain before
//! anything is allocated for it, so no input can make a decoder allocate more
//! than a constant factor of its own length. Each value has one encoding:
//! decoders reject trailing bytes, unsorted or duplicate account ids, and
//! anything out of range, so `encode(decode(b)) == b` for every accepted `b`.
//! The byte tables are in docs/format.md §8.

use std::fmt;

use super::OriginStateError;
use crate::account::{Account, AccountId, ProgramId, ACCOUNT_DATA_BYTES_MAX};
use crate::block::{merkle_root, receipts_root, BlockHeader, BLOCK_HEADER_BYTES, BLOCK_TXS_MAX};
use crate::byte_reader::{ByteReader, Truncated};
use crate::exec::{Receipt, RECEIPT_BYTES};
use crate::genesis::GENESIS_APP_STATE_BYTES_MAX;
pub use crate::limits::{ACCOUNT_ENTRY_BYTES_MAX, ACCOUNT_ENTRY_BYTES_MIN, TX_DELTA_BYTES_MAX};
use crate::state::{GenesisKeysError, State, StateDelta, GENESIS_ACCOUNTS_MAX};
use crate::tx::{tx_hash, ChainId, ACCOUNTS_PER_TX_MAX, CHAIN_ID_BYTES_MAX, TX_BYTES_MAX, TX_BYTES_MIN};

/// Version byte at offset 0 of block records, origin records and snapshots.
pub const PERSIST_FORMAT_VERSION: u8 = 1;
/// Bytes of an account id.
pub(crate) const ID_BYTES: usize = 32;
/// Fixed part of an account's canonical bytes: balance, nonce, owner, data_len.
pub(crate) const ACCOUNT_FIXED_BYTES: usize = 8 + 8 + 2 + 2;
/// Bytes before the first transaction of a block record: version, header.
const BLOCK_RECORD_PREFIX_BYTES: usize = 1 + BLOCK_HEADER_BYTES;
/// Length prefix of each transaction in a block record.
const TX_LEN_BYTES: usize = 2;
/// The delta's account count, after the receipts.
const DELTA_COUNT_BYTES: usize = 4;
/// Bytes of a snapshot before its first account entry.
pub const SNAPSHOT_PREFIX_BYTES: usize = 1 + 8 + 32 + 32 + 8;

/// Why bytes did not decode, and where.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecordError {
    /// Byte offset, within the payload, of the field that failed.
    pub offset: usize,
    pub kind: RecordErrorKind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RecordErrorKind {
    /// The bytes end inside `field`.
    Truncated {
        field: &'static str,
    },
    UnsupportedVersion {
        version: u8,
    },
    /// The block header's own version byte is wrong.
    InvalidHeader,
    TooManyTxs {
        count: u32,
    },
    /// A count that cannot fit in the bytes that remain (checked before allocating).
    CountExceedsBytes {
        field: &'static str,
        count: u64,
    },
    TxLength {
        index: u32,
        len: u16,
    },
    InvalidReceipt {
        index: u32,
    },
    TooManyDeltaAccounts {
        count: u32,
        max: u64,
    },
    /// Account ids must be strictly increasing (sorted, no duplicates).
    AccountsNotSorted {
        index: u64,
    },
    AccountDataTooLarge {
        index: u64,
        len: u16,
    },
    /// Snapshots never hold a default account: state does not store one.
    DefaultAccount {
        index: u64,
    },
    TxRootMismatch,
    ReceiptsRootMismatch,
    InvalidChainId,
    GenesisAccounts {
        accounts: u32,
    },
    /// The genesis app state is over `GENESIS_APP_STATE_BYTES_MAX`.
    AppStateTooLarge {
        len: u32,
    },
    /// The genesis app state does not hash to the hash stored beside it.
    AppStateHashMismatch,
    /// The first record's kind is none of the origin kinds (1, 3, 4).
    NotAnOrigin {
        kind: u8,
    },
    TrailingBytes {
        count: usize,
    },
}

impl RecordErrorKind {
    /// A stable snake_case name, for reports and tests.
    pub fn name(&self) -> &'static str {
        match self {
            RecordErrorKind::Truncated { .. } => "truncated",
            RecordErrorKind::UnsupportedVersion { .. } => "unsupported_version",
            RecordErrorKind::InvalidHeader => "invalid_header",
            RecordErrorKind::TooManyTxs { .. } => "too_many_txs",
            RecordErrorKind::CountExceedsBytes { .. } => "count_exceeds_bytes",
            RecordErrorKind::TxLength { .. } => "tx_length",
            RecordErrorKind::InvalidReceipt { .. } => "invalid_receipt",
            RecordErrorKind::TooManyDeltaAccounts { .. } => "too_many_delta_accounts",
            RecordErrorKind::AccountsNotSorted { .. } => "accounts_not_sorted",
            RecordErrorKind::AccountDataTooLarge { .. } => "account_data_too_large",
            RecordErrorKind::DefaultAccount { .. } => "default_account",
            RecordErrorKind::TxRootMismatch => "tx_root_mismatch",
            RecordErrorKind::ReceiptsRootMismatch => "receipts_root_mismatch",
            RecordErrorKind::InvalidChainId => "invalid_chain_id",
            RecordErrorKind::GenesisAccounts { .. } => "genesis_accounts",
            RecordErrorKind::AppStateTooLarge { .. } => "app_state_too_large",
            RecordErrorKind::AppStateHashMismatch => "app_state_hash_mismatch",
            RecordErrorKind::NotAnOrigin { .. } => "not_an_origin",
            RecordErrorKind::TrailingBytes { .. } => "trailing_bytes",
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at payload byte {}", self.kind.name(), self.offset)?;
        match self.kind {
            RecordErrorKind::Truncated { field } => write!(f, " (in {field})"),
            RecordErrorKind::UnsupportedVersion { version } => write!(f, " (version {version})"),
            RecordErrorKind::TooManyTxs { count } => write!(f, " ({count} > {BLOCK_TXS_MAX})"),
            RecordErrorKind::CountExceedsBytes { field, count } => write!(f, " ({field} {count})"),
            RecordErrorKind::TxLength { index, len } => {
                write!(f, " (tx {index}: {len} bytes, allowed {TX_BYTES_MIN}..={TX_BYTES_MAX})")
            }
            RecordErrorKind::InvalidReceipt { index } => write!(f, " (receipt {index})"),
            RecordErrorKind::TooManyDeltaAccounts { count, max } => write!(f, " ({count} > {max})"),
            RecordErrorKind::AccountsNotSorted { index } | RecordErrorKind::DefaultAccount { index } => {
                write!(f, " (account {index})")
            }
            RecordErrorKind::AccountDataTooLarge { index, len } => write!(f, " (account {index}: {len} bytes)"),
            RecordErrorKind::GenesisAccounts { accounts } => write!(f, " ({accounts})"),
            RecordErrorKind::AppStateTooLarge { len } => write!(f, " ({len} bytes > {GENESIS_APP_STATE_BYTES_MAX})"),
            RecordErrorKind::NotAnOrigin { kind } => write!(f, " (record kind {kind})"),
            RecordErrorKind::TrailingBytes { count } => write!(f, " ({count} bytes)"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for RecordError {}

/// The record decoder's cursor: running out of bytes is `Truncated` at the
/// right offset. The methods below are the record format's own fields.
type Reader<'a> = ByteReader<'a, RecordError>;

impl From<Truncated> for RecordError {
    fn from(short: Truncated) -> RecordError {
        RecordError { offset: short.offset, kind: RecordErrorKind::Truncated { field: short.field } }
    }
}

impl ByteReader<'_, RecordError> {
    fn error(&self, kind: RecordErrorKind) -> RecordError {
        RecordError { offset: self.offset(), kind }
    }

    fn version(&mut self) -> Result<(), RecordError> {
        let at = self.offset();
        let version = self.u8("version")?;
        if version != PERSIST_FORMAT_VERSION {
            return Err(RecordError { offset: at, kind: RecordErrorKind::UnsupportedVersion { version } });
        }
        Ok(())
    }

    /// Fails unless `count` items of at least `item_bytes_min` bytes each fit
    /// in what remains: the guard every allocation by count goes through.
    fn check_fits(&self, field: &'static str, count: u64, item_bytes_min: usize) -> Result<(), RecordError> {
        let fits = match count.checked_mul(item_bytes_min as u64) {
            Some(needed) => needed <= self.remaining() as u64,
            None => false,
        };
        if !fits {
            return Err(self.error(RecordErrorKind::CountExceedsBytes { field, count }));
        }
        Ok(())
    }

    /// `len u8 ‖ chain id`, valid as `ChainId::new` defines it.
    fn chain_id(&mut self) -> Result<ChainId, RecordError> {
        let at = self.offset();
        let len = self.u8("chain id length")?;
        let chain = self.take(usize::from(len), "chain id")?;
        let invalid = RecordError { offset: at, kind: RecordErrorKind::InvalidChainId };
        std::str::from_utf8(chain).ok().and_then(|text| ChainId::new(text).ok()).ok_or(invalid)
    }

    fn finish(&self) -> Result<(), RecordError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.error(RecordErrorKind::TrailingBytes { count })),
        }
    }

    /// One `id ‖ account` entry; `index` only names it in errors.
    fn account_entry(&mut self, index: u64) -> Result<(AccountId, Account), RecordError> {
        let id = AccountId(self.array("account id")?);
        let balance = self.u64("account balance")?;
        let nonce = self.u64("account nonce")?;
        let owner = ProgramId(self.u16("account owner")?);
        let len_at = self.offset();
        let len = self.u16("account data_len")?;
        if usize::from(len) > ACCOUNT_DATA_BYTES_MAX {
            return Err(RecordError { offset: len_at, kind: RecordErrorKind::AccountDataTooLarge { index, len } });
        }
        let data = self.take(usize::from(len), "account data")?.to_vec();
        Ok((id, Account { balance, nonce, owner, data }))
    }

    /// `count` entries with strictly increasing ids (already checked to fit).
    fn sorted_accounts(&mut self, count: u64, allow_default: bool) -> Result<StateDelta, RecordError> {
        let mut accounts: StateDelta = Vec::with_capacity(count as usize);
        for index in 0..count {
            let at = self.offset();
            let (id, account) = self.account_entry(index)?;
            if accounts.last().is_some_and(|(previous, _)| *previous >= id) {
                return Err(RecordError { offset: at, kind: RecordErrorKind::AccountsNotSorted { index } });
            }
            if !allow_default && account.is_default() {
                return Err(RecordError { offset: at, kind: RecordErrorKind::DefaultAccount { index } });
            }
            accounts.push((id, account));
        }
        Ok(accounts)
    }
}

fn encode_account_entry(id: &AccountId, account: &Account, out: &mut Vec<u8>) {
    out.extend_from_slice(&id.0);
    account.encode_into(out);
}

fn account_entry_bytes(account: &Account) -> usize {
    ACCOUNT_ENTRY_BYTES_MIN + account.data.len()
}

/// Why a block is not written: its record would not decode, or its header's
/// roots do not match its body. Found before encoding, by
/// [`BlockRecordRef::validate`]; `height` is the block's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockRecordCheckError {
    pub height: u64,
    pub kind: BlockRecordCheckKind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BlockRecordCheckKind {
    /// Transactions, receipts and the header's count disagree, or the
    /// transactions are over `BLOCK_TXS_MAX`.
    Counts {
        txs: usize,
        receipts: usize,
        tx_count: u32,
    },
    /// Transaction `index` is outside `TX_BYTES_MIN..=TX_BYTES_MAX` bytes.
    TxLength {
        index: usize,
        len: usize,
    },
    /// More delta accounts than the transactions can write.
    TooManyDeltaAccounts {
        accounts: usize,
        max: usize,
    },
    /// Delta account ids are not strictly increasing.
    DeltaNotSorted,
    /// A delta account holds over `ACCOUNT_DATA_BYTES_MAX` bytes of data.
    AccountDataTooLarge,
    TxRootMismatch,
    ReceiptsRootMismatch,
}

impl fmt::Display for BlockRecordCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block {}: ", self.height)?;
        match self.kind {
            BlockRecordCheckKind::Counts { txs, receipts, tx_count } => {
                write!(
                    f,
                    "{txs} transactions, {receipts} receipts, header tx_count {tx_count} (at most {BLOCK_TXS_MAX})"
                )
            }
            BlockRecordCheckKind::TxLength { index, len } => write!(f, "transaction {index} is {len} bytes"),
            BlockRecordCheckKind::TooManyDeltaAccounts { accounts, max } => {
                write!(f, "delta of {accounts} accounts exceeds {max}")
            }
            BlockRecordCheckKind::DeltaNotSorted => write!(f, "delta is not sorted by account id"),
            BlockRecordCheckKind::AccountDataTooLarge => write!(f, "account data over {ACCOUNT_DATA_BYTES_MAX} bytes"),
            BlockRecordCheckKind::TxRootMismatch => write!(f, "tx_root does not match the transactions"),
            BlockRecordCheckKind::ReceiptsRootMismatch => write!(f, "receipts_root does not match the receipts"),
        }
    }
}

impl std::error::Error for BlockRecordCheckError {}

/// A block as stored in the log: header, the accepted transactions' encoded
/// bytes, their receipts, and the state delta the block applied.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlockRecord {
    pub header: BlockHeader,
    pub txs: Vec<Vec<u8>>,
    pub receipts: Vec<Receipt>,
    pub delta: StateDelta,
}

/// The parts of a block record, borrowed from wherever the pipeline keeps
/// them, so that committing copies nothing but into the log itself.
#[derive(Clone, Copy, Debug)]
pub struct BlockRecordRef<'a, T: AsRef<[u8]>> {
    pub header: &'a BlockHeader,
    pub txs: &'a [T],
    pub receipts: &'a [Receipt],
    pub delta: &'a StateDelta,
}

impl<T: AsRef<[u8]>> BlockRecordRef<'_, T> {
    /// Checks everything `decode_block_record` will check, so that what is
    /// written always decodes. Returns the encoded size on success.
    pub fn validate(&self) -> Result<usize, BlockRecordCheckError> {
        let bytes = self.validate_shape()?;
        self.check_roots()?;
        Ok(bytes)
    }

    /// `validate` without the roots: counts, sizes and order, none of which
    /// hashes anything. For a block whose roots its executor computed from
    /// this very body (`CommittedBlock::roots_from_executor`).
    pub fn validate_shape(&self) -> Result<usize, BlockRecordCheckError> {
        let height = self.header.height;
        let invalid = |kind| Err(BlockRecordCheckError { height, kind });
        let count = self.txs.len();
        if count > BLOCK_TXS_MAX || count != self.header.tx_count as usize || count != self.receipts.len() {
            let receipts = self.receipts.len();
            return invalid(BlockRecordCheckKind::Counts { txs: count, receipts, tx_count: self.header.tx_count });
        }
        for (index, tx) in self.txs.iter().enumerate() {
            let len = tx.as_ref().len();
            if !(TX_BYTES_MIN..=TX_BYTES_MAX).contains(&len) {
                return invalid(BlockRecordCheckKind::TxLength { index, len });
            }
        }
        let delta_max = count * ACCOUNTS_PER_TX_MAX;
        if self.delta.len() > delta_max {
            return invalid(BlockRecordCheckKind::TooManyDeltaAccounts { accounts: self.delta.len(), max: delta_max });
        }
        if !self.delta.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return invalid(BlockRecordCheckKind::DeltaNotSorted);
        }
        if self.delta.iter().any(|(_, account)| account.data.len() > ACCOUNT_DATA_BYTES_MAX) {
            return invalid(BlockRecordCheckKind::AccountDataTooLarge);
        }
        Ok(block_record_bytes(self.txs, self.delta))
    }

    /// Checks the header's transactions root and receipts root against the
    /// body: hashes every transaction and every receipt.
    pub fn check_roots(&self) -> Result<(), BlockRecordCheckError> {
        let height = self.header.height;
        if tx_root_of(self.txs) != self.header.tx_root {
            return Err(BlockRecordCheckError { height, kind: BlockRecordCheckKind::TxRootMismatch });
        }
        if receipts_root(self.receipts) != self.header.receipts_root {
            return Err(BlockRecordCheckError { height, kind: BlockRecordCheckKind::ReceiptsRootMismatch });
        }
        Ok(())
    }

    /// Appends the canonical encoding to `out`. Call `validate` first: the
    /// encoding of an invalid block would not decode.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        assert_eq!(self.txs.len(), self.receipts.len(), "a block record holds one receipt per transaction");
        assert_eq!(self.header.tx_count as usize, self.txs.len(), "the header counts the record's transactions");
        let start = out.len();
        out.push(PERSIST_FORMAT_VERSION);
        out.extend_from_slice(&self.header.encode());
        for tx in self.txs {
            let tx = tx.as_ref();
            let len = u16::try_from(tx.len()).expect("transaction lengths fit their u16 field (TX_BYTES_MAX)");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(tx);
        }
        for receipt in self.receipts {
            out.extend_from_slice(&receipt.encode());
        }
        let delta_count = u32::try_from(self.delta.len()).expect("the delta count fits its u32 field");
        out.extend_from_slice(&delta_count.to_le_bytes());
        for (id, account) in self.delta {
            encode_account_entry(id, account, out);
        }
        // Paired with the reader: the size the store reserves for a record
        // before encoding it is the size written.
        debug_assert_eq!(out.len() - start, block_record_bytes(self.txs, self.delta), "record size as computed");
    }
}

impl BlockRecord {
    pub fn as_ref(&self) -> BlockRecordRef<'_, Vec<u8>> {
        BlockRecordRef { header: &self.header, txs: &self.txs, receipts: &self.receipts, delta: &self.delta }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.as_ref().encode_into(&mut out);
        out
    }
}

/// Bytes of the block record of `txs` (their receipts implied) and
/// `delta`: what the block costs the log, known before the block is applied.
pub fn block_record_bytes<T: AsRef<[u8]>>(txs: &[T], delta: &StateDelta) -> usize {
    let tx_bytes: usize = txs.iter().map(|tx| tx.as_ref().len()).sum();
    let delta_bytes: usize = delta.iter().map(|(_, account)| account_entry_bytes(account)).sum();
    block_record_body_bytes(txs.len(), tx_bytes) + delta_bytes
}

/// Bytes of a block record of `txs` transactions, `tx_bytes` bytes of them
/// in all, apart from its delta entries: version and header, each
/// transaction's length, bytes and receipt, and the delta count.
pub const fn block_record_body_bytes(txs: usize, tx_bytes: usize) -> usize {
    BLOCK_RECORD_PREFIX_BYTES + txs * (TX_LEN_BYTES + RECEIPT_BYTES) + tx_bytes + DELTA_COUNT_BYTES
}

/// Merkle root over the transactions' hashes, as in the block header.
pub fn tx_root_of<T: AsRef<[u8]>>(txs: &[T]) -> [u8; 32] {
    let hashes: Vec<[u8; 32]> = txs.iter().map(|tx| tx_hash(tx.as_ref())).collect();
    merkle_root(&hashes)
}

/// Decodes a block record and checks its body against its header: the
/// transaction count, the transactions root and the receipts root. The state
/// root can only be checked against state, by the caller.
pub fn decode_block_record(bytes: &[u8]) -> Result<BlockRecord, RecordError> {
    let mut reader = Reader::new(bytes);
    reader.version()?;
    let header_at = reader.offset();
    let header = BlockHeader::decode(reader.take(BLOCK_HEADER_BYTES, "block header")?)
        .map_err(|_| RecordError { offset: header_at, kind: RecordErrorKind::InvalidHeader })?;
    let count = header.tx_count;
    if count as usize > BLOCK_TXS_MAX {
        return Err(RecordError { offset: header_at + 137, kind: RecordErrorKind::TooManyTxs { count } });
    }
    reader.check_fits("tx_count", u64::from(count), TX_LEN_BYTES + TX_BYTES_MIN + RECEIPT_BYTES)?;
    let mut txs = Vec::with_capacity(count as usize);
    for index in 0..count {
        let at = reader.offset();
        let len = reader.u16("tx length")?;
        if !(TX_BYTES_MIN..=TX_BYTES_MAX).contains(&usize::from(len)) {
            return Err(RecordError { offset: at, kind: RecordErrorKind::TxLength { index, len } });
        }
        txs.push(reader.take(usize::from(len), "tx bytes")?.to_vec());
    }
    let mut receipts = Vec::with_capacity(count as usize);
    for index in 0..count {
        let at = reader.offset();
        let raw: [u8; RECEIPT_BYTES] = reader.array("receipt")?;
        let receipt =
            Receipt::decode(&raw).ok_or(RecordError { offset: at, kind: RecordErrorKind::InvalidReceipt { index } })?;
        receipts.push(receipt);
    }
    let delta_at = reader.offset();
    let delta_count = reader.u32("delta count")?;
    let delta_max = u64::from(count) * ACCOUNTS_PER_TX_MAX as u64;
    if u64::from(delta_count) > delta_max {
        let kind = RecordErrorKind::TooManyDeltaAccounts { count: delta_count, max: delta_max };
        return Err(RecordError { offset: delta_at, kind });
    }
    reader.check_fits("delta count", u64::from(delta_count), ACCOUNT_ENTRY_BYTES_MIN)?;
    let delta = reader.sorted_accounts(u64::from(delta_count), true)?;
    reader.finish()?;
    // Roots last: they are the expensive checks, and the structure is sound by now.
    if tx_root_of(&txs) != header.tx_root {
        return Err(RecordError { offset: header_at + 41, kind: RecordErrorKind::TxRootMismatch });
    }
    if receipts_root(&receipts) != header.receipts_root {
        return Err(RecordError { offset: header_at + 73, kind: RecordErrorKind::ReceiptsRootMismatch });
    }
    Ok(BlockRecord { header, txs, receipts, delta })
}

/// What rebuilds genesis: it is derived from the seed (`Genesis::new`), so
/// the record stores the inputs, plus the resulting root as a check that the
/// derivation has not changed since the log was written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GenesisParams {
    pub chain_id: ChainId,
    pub seed: u64,
    pub accounts: u32,
}

impl GenesisParams {
    /// Derives the genesis state: O(accounts) key derivations.
    pub fn state(&self) -> Result<State, GenesisKeysError> {
        Ok(crate::state::Genesis::new(self.seed, self.accounts)?.state())
    }
}

impl fmt::Display for GenesisParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chain id {}, seed {}, {} accounts", self.chain_id.as_str(), self.seed, self.accounts)
    }
}

/// What a store's log starts from: its first record. A chain either
/// begins at genesis (height 0) or, for a node that joined by state sync,
/// at a restored snapshot (height H, with no blocks below it).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum StoreOrigin {
    /// Genesis derived from a seed (`sluice run`): record kind 1.
    Seeded(GenesisParams),
    /// Genesis built from CometBFT's `app_state` (`sluice node`): record kind 3.
    AppState(AppStateGenesis),
    /// A snapshot restored by state sync (`sluice node`): record kind 4.
    Restored(RestoredBase),
}

/// InitChain's genesis: the chain id and the `app_state` bytes exactly as
/// CometBFT passed them, so a data directory restarts without genesis.json.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AppStateGenesis {
    pub chain_id: ChainId,
    pub app_state: Vec<u8>,
}

/// Where a state-synced store begins: the restored snapshot's position. The
/// state itself is the snapshot at `height` in the snapshot store; the log
/// holds only the blocks after it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RestoredBase {
    pub chain_id: ChainId,
    /// `blake3(app_state)` of the chain's genesis, as the snapshot's
    /// provider reported it: identifies the chain, not checked by the root.
    pub app_state_hash: [u8; 32],
    pub height: u64,
    /// Hash of the Sluice block at `height`: the parent of the next block.
    pub block_hash: [u8; 32],
}

impl StoreOrigin {
    pub fn chain_id(&self) -> &ChainId {
        match self {
            StoreOrigin::Seeded(params) => &params.chain_id,
            StoreOrigin::AppState(genesis) => &genesis.chain_id,
            StoreOrigin::Restored(base) => &base.chain_id,
        }
    }

    /// Height of the origin: 0 for genesis, the snapshot's for a restore.
    pub fn height(&self) -> u64 {
        match self {
            StoreOrigin::Restored(base) => base.height,
            _ => 0,
        }
    }

    /// Hash of the block at `height()`: zeros at genesis.
    pub fn block_hash(&self) -> [u8; 32] {
        match self {
            StoreOrigin::Restored(base) => base.block_hash,
            _ => [0; 32],
        }
    }

    /// The record kind that holds this origin.
    pub fn record_kind(&self) -> u8 {
        match self {
            StoreOrigin::Seeded(_) => super::RECORD_KIND_GENESIS,
            StoreOrigin::AppState(_) => super::RECORD_KIND_GENESIS_APP_STATE,
            StoreOrigin::Restored(_) => super::RECORD_KIND_RESTORED,
        }
    }

    /// Builds the genesis state; `None` for a restored store, whose state
    /// is its base snapshot.
    pub fn genesis_state(&self) -> Option<Result<State, OriginStateError>> {
        match self {
            StoreOrigin::Seeded(params) => Some(params.state().map_err(OriginStateError::Seeded)),
            StoreOrigin::AppState(genesis) => Some(
                crate::genesis::genesis_state(&genesis.app_state)
                    .map(|built| built.state)
                    .map_err(OriginStateError::AppState),
            ),
            StoreOrigin::Restored(_) => None,
        }
    }
}

impl fmt::Display for StoreOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreOrigin::Seeded(params) => write!(f, "{params}"),
            StoreOrigin::AppState(genesis) => write!(
                f,
                "chain id {}, app_state hash {} ({} bytes)",
                genesis.chain_id.as_str(),
                hex::encode(crate::genesis::app_state_hash(&genesis.app_state)),
                genesis.app_state.len()
            ),
            StoreOrigin::Restored(base) => write!(
                f,
                "chain id {}, app_state hash {}, restored by state sync at height {}",
                base.chain_id.as_str(),
                hex::encode(base.app_state_hash),
                base.height
            ),
        }
    }
}

/// A store's first record: its origin and the state root there.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OriginRecord {
    pub origin: StoreOrigin,
    pub state_root: [u8; 32],
}

impl OriginRecord {
    /// The payload; the record kind is `origin.record_kind()` and the
    /// record height `origin.height()`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PERSIST_FORMAT_VERSION];
        match &self.origin {
            StoreOrigin::Seeded(params) => {
                out.extend_from_slice(&params.seed.to_le_bytes());
                out.extend_from_slice(&params.accounts.to_le_bytes());
                encode_chain_id(&params.chain_id, &mut out);
            }
            StoreOrigin::AppState(genesis) => {
                assert!(genesis.app_state.len() <= GENESIS_APP_STATE_BYTES_MAX, "InitChain checks the size");
                encode_chain_id(&genesis.chain_id, &mut out);
                out.extend_from_slice(&crate::genesis::app_state_hash(&genesis.app_state));
                out.extend_from_slice(&(genesis.app_state.len() as u32).to_le_bytes());
                out.extend_from_slice(&genesis.app_state);
            }
            StoreOrigin::Restored(base) => {
                encode_chain_id(&base.chain_id, &mut out);
                out.extend_from_slice(&base.app_state_hash);
                out.extend_from_slice(&base.height.to_le_bytes());
                out.extend_from_slice(&base.block_hash);
            }
        }
        out.extend_from_slice(&self.state_root);
        out
    }

    /// Decodes the payload of a record of `kind` (1, 3 or 4).
    pub fn decode(kind: u8, bytes: &[u8]) -> Result<OriginRecord, RecordError> {
        let mut reader = Reader::new(bytes);
        reader.version()?;
        let origin = match kind {
            super::RECORD_KIND_GENESIS => {
                let seed = reader.u64("seed")?;
                let accounts_at = reader.offset();
                let accounts = reader.u32("accounts")?;
                if accounts == 0 || accounts > GENESIS_ACCOUNTS_MAX {
                    let kind = RecordErrorKind::GenesisAccounts { accounts };
                    return Err(RecordError { offset: accounts_at, kind });
                }
                let chain_id = reader.chain_id()?;
                StoreOrigin::Seeded(GenesisParams { chain_id, seed, accounts })
            }
            super::RECORD_KIND_GENESIS_APP_STATE => {
                let chain_id = reader.chain_id()?;
                let hash: [u8; 32] = reader.array("app_state hash")?;
                let len_at = reader.offset();
                let len = reader.u32("app_state length")?;
                if len as usize > GENESIS_APP_STATE_BYTES_MAX {
                    return Err(RecordError { offset: len_at, kind: RecordErrorKind::AppStateTooLarge { len } });
                }
                let app_state = reader.take(len as usize, "app_state")?.to_vec();
                if crate::genesis::app_state_hash(&app_state) != hash {
                    return Err(RecordError { offset: len_at, kind: RecordErrorKind::AppStateHashMismatch });
                }
                StoreOrigin::AppState(AppStateGenesis { chain_id, app_state })
            }
            super::RECORD_KIND_RESTORED => {
                let chain_id = reader.chain_id()?;
                let app_state_hash = reader.array("app_state hash")?;
                let height = reader.u64("height")?;
                let block_hash = reader.array("block hash")?;
                StoreOrigin::Restored(RestoredBase { chain_id, app_state_hash, height, block_hash })
            }
            other => return Err(RecordError { offset: 0, kind: RecordErrorKind::NotAnOrigin { kind: other } }),
        };
        let state_root = reader.array("state root")?;
        reader.finish()?;
        Ok(OriginRecord { origin, state_root })
    }
}

fn encode_chain_id(chain_id: &ChainId, out: &mut Vec<u8>) {
    let chain = chain_id.as_str().as_bytes();
    assert!(!chain.is_empty() && chain.len() <= CHAIN_ID_BYTES_MAX, "ChainId::new enforces the length");
    out.push(chain.len() as u8);
    out.extend_from_slice(chain);
}

/// What a snapshot holds: the position it was taken at and every account.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SnapshotContents {
    pub height: u64,
    pub block_hash: [u8; 32],
    pub state_root: [u8; 32],
    /// Sorted by id, no default accounts.
    pub accounts: StateDelta,
}

/// Encodes `state` at `height` (after block `block_hash`) as snapshot bytes.
/// O(accounts · log accounts) for the sort that makes the bytes canonical.
pub fn encode_snapshot(height: u64, block_hash: &[u8; 32], state: &State) -> Vec<u8> {
    let mut accounts: Vec<(&AccountId, &Account)> = state.iter().collect();
    accounts.sort_unstable_by_key(|(id, _)| **id);
    let bytes: usize = accounts.iter().map(|(_, account)| account_entry_bytes(account)).sum();
    let mut out = Vec::with_capacity(SNAPSHOT_PREFIX_BYTES + bytes);
    out.push(PERSIST_FORMAT_VERSION);
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(block_hash);
    out.extend_from_slice(&state.root());
    out.extend_from_slice(&(accounts.len() as u64).to_le_bytes());
    for (id, account) in accounts {
        encode_account_entry(id, account, &mut out);
    }
    debug_assert_eq!(out.len(), SNAPSHOT_PREFIX_BYTES + bytes);
    out
}

/// Decodes snapshot bytes. The caller rebuilds state and compares its root
/// with `state_root`.
pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotContents, RecordError> {
    let mut reader = Reader::new(bytes);
    reader.version()?;
    let height = reader.u64("height")?;
    let block_hash = reader.array("block hash")?;
    let state_root = reader.array("state root")?;
    let count = reader.u64("account count")?;
    reader.check_fits("account count", count, ACCOUNT_ENTRY_BYTES_MIN)?;
    let accounts = reader.sorted_accounts(count, false)?;
    reader.finish()?;
    Ok(SnapshotContents { height, block_hash, state_root, accounts })
}
