//! A chain's genesis: the `app_state` document of CometBFT's genesis.json,
//! its hash, and the state it builds (docs/format.md §13).
//!
//! ```json
//! "app_state": {
//!   "accounts": [
//!     {"id": "<64 hex digits: the ed25519 public key>", "balance": "1000000"},
//!     {"id": "<64 hex digits>", "balance": "0", "owner": 300, "data": "<hex>"}
//!   ],
//!   "seeded": {"seed": "1", "accounts": 1000, "balance": "1000000000000"}
//! }
//! ```
//!
//! Both keys are optional and no other key is allowed. `accounts` lists
//! accounts whose keys their owners hold. `seeded` adds accounts whose keys
//! derive from a seed ([`crate::state::genesis_key`]): anyone who reads the
//! genesis can spend them, so it is for testnets and benchmarks only.
//!
//! Parsing is total: every input gives an [`AppState`] or a
//! [`GenesisError`] naming the JSON path of the field that failed, and the
//! error leaves nothing changed. [`GenesisFile`] edits a genesis.json in
//! place, the way `gaiad genesis add-genesis-account` does.

use std::collections::hash_map::Entry;
use std::fmt;
#[cfg(feature = "client")]
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::account::{Account, AccountId, ProgramId, ACCOUNT_DATA_BYTES_MAX};
pub use crate::limits::{GENESIS_APP_STATE_BYTES_MAX, GENESIS_FILE_BYTES_MAX};
use crate::state::{genesis_key, AccountMap, State, GENESIS_ACCOUNTS_MAX, GENESIS_BALANCE};

/// The JSON path of the app state inside genesis.json, and the root of
/// every path an error names.
pub const APP_STATE_PATH: &str = "app_state";

/// One listed genesis account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisAccount {
    pub id: AccountId,
    pub balance: u64,
    /// The program that owns the account; system (0) unless given.
    pub owner: ProgramId,
    /// Program-owned bytes, at most `ACCOUNT_DATA_BYTES_MAX`.
    pub data: Vec<u8>,
}

/// Accounts `0..accounts` whose keys derive from `seed`: public keys, for
/// development chains only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeededAccounts {
    pub seed: u64,
    pub accounts: u32,
    pub balance: u64,
}

/// The parsed `app_state`: structure and per-field rules checked, ids not
/// yet compared with each other (see [`AppState::build`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppState {
    pub accounts: Vec<GenesisAccount>,
    pub seeded: Option<SeededAccounts>,
}

/// The genesis a node starts from: the state, and what identifies it.
pub struct GenesisState {
    pub state: State,
    /// `blake3(app_state bytes)`: the bytes exactly as CometBFT sent them.
    pub app_state_hash: [u8; 32],
    /// Listed plus seeded accounts.
    pub accounts: u64,
    /// Sum of every genesis balance; fits a u64 by rule.
    pub supply: u64,
}

/// A genesis input that cannot be used, and where in the JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisError {
    /// JSON path from the genesis.json root, such as
    /// `app_state.accounts[3].id`; empty for errors about the whole file.
    pub path: String,
    pub kind: GenesisErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenesisErrorKind {
    /// No app state at all (CometBFT omits it until an account is added).
    Missing,
    TooLarge {
        bytes: u64,
        max: u64,
    },
    /// Not JSON: where the parser stopped.
    Json {
        line: usize,
        column: usize,
        reason: String,
    },
    WrongType {
        expected: &'static str,
    },
    UnknownField {
        field: String,
    },
    MissingField {
        field: &'static str,
    },
    BadHex {
        reason: String,
    },
    BadNumber {
        reason: String,
    },
    DuplicateId {
        id: String,
        first: String,
    },
    /// The total supply does not fit a u64.
    SupplyOverflow,
    TooManyAccounts {
        count: u64,
        max: u32,
    },
    DataTooLarge {
        bytes: usize,
        max: usize,
    },
    /// Reading or writing the genesis file failed.
    Io {
        file: PathBuf,
        reason: String,
    },
}

impl GenesisErrorKind {
    /// A stable name for scripts and tests.
    pub fn name(&self) -> &'static str {
        match self {
            GenesisErrorKind::Missing => "missing",
            GenesisErrorKind::TooLarge { .. } => "too_large",
            GenesisErrorKind::Json { .. } => "json",
            GenesisErrorKind::WrongType { .. } => "wrong_type",
            GenesisErrorKind::UnknownField { .. } => "unknown_field",
            GenesisErrorKind::MissingField { .. } => "missing_field",
            GenesisErrorKind::BadHex { .. } => "bad_hex",
            GenesisErrorKind::BadNumber { .. } => "bad_number",
            GenesisErrorKind::DuplicateId { .. } => "duplicate_id",
            GenesisErrorKind::SupplyOverflow => "supply_overflow",
            GenesisErrorKind::TooManyAccounts { .. } => "too_many_accounts",
            GenesisErrorKind::DataTooLarge { .. } => "data_too_large",
            GenesisErrorKind::Io { .. } => "io",
        }
    }
}

impl fmt::Display for GenesisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}: ", self.kind.name())?;
        match &self.kind {
            GenesisErrorKind::Missing => write!(
                f,
                "genesis.json has no app_state; add accounts with `sluice genesis add-account` \
                 (or, for a development chain, `sluice genesis seeded`)"
            ),
            GenesisErrorKind::TooLarge { bytes, max } => write!(f, "{bytes} bytes exceeds the limit of {max}"),
            GenesisErrorKind::Json { line, column, reason } => {
                write!(f, "not valid JSON at line {line}, column {column}: {reason}")
            }
            GenesisErrorKind::WrongType { expected } => write!(f, "expected {expected}"),
            GenesisErrorKind::UnknownField { field } => write!(f, "unknown field `{field}`"),
            GenesisErrorKind::MissingField { field } => write!(f, "required field `{field}` is missing"),
            GenesisErrorKind::BadHex { reason } | GenesisErrorKind::BadNumber { reason } => write!(f, "{reason}"),
            GenesisErrorKind::DuplicateId { id, first } => write!(f, "account {id} is already at {first}"),
            GenesisErrorKind::SupplyOverflow => {
                write!(f, "the total supply exceeds {} (u64::MAX)", u64::MAX)
            }
            GenesisErrorKind::TooManyAccounts { count, max } => {
                write!(f, "{count} genesis accounts exceed the limit of {max}")
            }
            GenesisErrorKind::DataTooLarge { bytes, max } => {
                write!(f, "{bytes} bytes of data exceed the limit of {max}")
            }
            GenesisErrorKind::Io { file, reason } => write!(f, "{}: {reason}", file.display()),
        }
    }
}

impl std::error::Error for GenesisError {}

fn error(path: &str, kind: GenesisErrorKind) -> GenesisError {
    GenesisError { path: path.to_string(), kind }
}

/// The hash that identifies a genesis: blake3 of the `app_state` bytes
/// exactly as CometBFT passes them to InitChain.
pub fn app_state_hash(app_state: &[u8]) -> [u8; 32] {
    *blake3::hash(app_state).as_bytes()
}

/// Parses and builds the genesis of InitChain's `app_state_bytes`.
pub fn genesis_state(app_state: &[u8]) -> Result<GenesisState, GenesisError> {
    let parsed = AppState::from_bytes(app_state)?;
    let (state, supply) = parsed.build()?;
    let genesis = GenesisState { state, app_state_hash: app_state_hash(app_state), accounts: parsed.count(), supply };
    debug_assert!(genesis.state.len() as u64 <= genesis.accounts, "default accounts are not stored");
    Ok(genesis)
}

impl AppState {
    /// Parses `app_state` bytes (what InitChain carries). Checks structure,
    /// types, hex, numbers and the account limit, without deriving keys.
    pub fn from_bytes(bytes: &[u8]) -> Result<AppState, GenesisError> {
        if bytes.len() > GENESIS_APP_STATE_BYTES_MAX {
            let kind =
                GenesisErrorKind::TooLarge { bytes: bytes.len() as u64, max: GENESIS_APP_STATE_BYTES_MAX as u64 };
            return Err(error(APP_STATE_PATH, kind));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(error(APP_STATE_PATH, GenesisErrorKind::Missing));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| json_error(APP_STATE_PATH, &e))?;
        AppState::from_value(&value)
    }

    /// Parses an `app_state` JSON value, naming paths from `app_state`.
    pub fn from_value(value: &Value) -> Result<AppState, GenesisError> {
        let path = APP_STATE_PATH;
        if value.is_null() {
            return Err(error(path, GenesisErrorKind::Missing));
        }
        let object = as_object(value, path)?;
        let mut app = AppState::default();
        for (key, field) in object {
            match key.as_str() {
                "accounts" => {} // parsed below, once the count is known to fit
                "seeded" => app.seeded = Some(seeded(field, &format!("{path}.seeded"))?),
                _ => return Err(error(path, GenesisErrorKind::UnknownField { field: key.clone() })),
            }
        }
        if let Some(list) = object.get("accounts") {
            let list_path = format!("{path}.accounts");
            let entries = list.as_array().ok_or_else(|| wrong_type(&list_path, "an array of accounts"))?;
            let seeded = app.seeded.map_or(0, |s| u64::from(s.accounts));
            check_count(&list_path, entries.len() as u64 + seeded)?;
            app.accounts = entries
                .iter()
                .enumerate()
                .map(|(index, entry)| account(entry, &format!("{list_path}[{index}]")))
                .collect::<Result<_, _>>()?;
        }
        Ok(app)
    }

    /// Listed plus seeded accounts.
    pub fn count(&self) -> u64 {
        self.accounts.len() as u64 + self.seeded.map_or(0, |s| u64::from(s.accounts))
    }

    /// Builds the genesis state and returns it with the total supply.
    /// Refuses a duplicate id and a supply past u64::MAX. Derives the
    /// seeded keys in parallel; memory beyond the state grows with the
    /// listed accounts only, which are what a seeded id is compared with.
    pub fn build(&self) -> Result<(State, u64), GenesisError> {
        check_count(&format!("{APP_STATE_PATH}.accounts"), self.count())?;
        let listed_path = |index: usize| format!("{APP_STATE_PATH}.accounts[{index}]");
        let duplicate = |index: usize, id: &AccountId, first: String| {
            let kind = GenesisErrorKind::DuplicateId { id: hex::encode(id.0), first };
            error(&format!("{}.id", listed_path(index)), kind)
        };
        let mut position: AccountMap<usize> = AccountMap::default();
        position.reserve(self.accounts.len());
        for (index, listed) in self.accounts.iter().enumerate() {
            match position.entry(listed.id) {
                Entry::Occupied(earlier) => {
                    return Err(duplicate(index, &listed.id, format!("{}.id", listed_path(*earlier.get()))))
                }
                Entry::Vacant(slot) => slot.insert(index),
            };
        }
        let mut supply = 0u64;
        let mut accounts: Vec<(AccountId, Account)> = Vec::with_capacity(self.count() as usize);
        if let Some(seeded) = self.seeded {
            let path = format!("{APP_STATE_PATH}.seeded");
            supply = u64::from(seeded.accounts)
                .checked_mul(seeded.balance)
                .ok_or_else(|| error(&format!("{path}.balance"), GenesisErrorKind::SupplyOverflow))?;
            let ids: Vec<AccountId> = (0..seeded.accounts)
                .into_par_iter()
                .map(|index| AccountId(genesis_key(seeded.seed, index).verifying_key().to_bytes()))
                .collect();
            for (index, id) in ids.into_iter().enumerate() {
                if let Some(&listed) = position.get(&id) {
                    return Err(duplicate(listed, &id, format!("{path} (seeded account {index})")));
                }
                accounts.push((id, Account { balance: seeded.balance, ..Account::default() }));
            }
        }
        for (index, listed) in self.accounts.iter().enumerate() {
            supply = supply
                .checked_add(listed.balance)
                .ok_or_else(|| error(&format!("{}.balance", listed_path(index)), GenesisErrorKind::SupplyOverflow))?;
            let account = Account { balance: listed.balance, nonce: 0, owner: listed.owner, data: listed.data.clone() };
            accounts.push((listed.id, account));
        }
        debug_assert_eq!(accounts.len() as u64, self.count());
        let state = State::from_accounts(accounts);
        debug_assert_eq!(state.total_balance(), u128::from(supply), "the supply is the sum of the balances");
        Ok((state, supply))
    }
}

impl GenesisAccount {
    /// The entry as genesis.json holds it: balances as decimal strings (a
    /// u64 does not survive JavaScript's or jq's doubles), owner and data
    /// only when set.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("id".into(), Value::String(hex::encode(self.id.0)));
        object.insert("balance".into(), Value::String(self.balance.to_string()));
        if self.owner != ProgramId::SYSTEM {
            object.insert("owner".into(), Value::from(self.owner.0));
        }
        if !self.data.is_empty() {
            object.insert("data".into(), Value::String(hex::encode(&self.data)));
        }
        Value::Object(object)
    }
}

impl SeededAccounts {
    pub fn new(seed: u64, accounts: u32) -> SeededAccounts {
        SeededAccounts { seed, accounts, balance: GENESIS_BALANCE }
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "seed": self.seed.to_string(),
            "accounts": self.accounts,
            "balance": self.balance.to_string(),
        })
    }
}

fn check_count(path: &str, count: u64) -> Result<(), GenesisError> {
    if count > u64::from(GENESIS_ACCOUNTS_MAX) {
        return Err(error(path, GenesisErrorKind::TooManyAccounts { count, max: GENESIS_ACCOUNTS_MAX }));
    }
    Ok(())
}

fn account(value: &Value, path: &str) -> Result<GenesisAccount, GenesisError> {
    let object = as_object(value, path)?;
    for key in object.keys() {
        if !["id", "balance", "owner", "data"].contains(&key.as_str()) {
            return Err(error(path, GenesisErrorKind::UnknownField { field: key.clone() }));
        }
    }
    let id = account_id(required(object, "id", path)?, &format!("{path}.id"))?;
    let balance = u64_field(required(object, "balance", path)?, &format!("{path}.balance"))?;
    let owner = match object.get("owner") {
        None => ProgramId::SYSTEM,
        Some(owner) => ProgramId(u16_field(owner, &format!("{path}.owner"))?),
    };
    let data = match object.get("data") {
        None => Vec::new(),
        Some(data) => data_field(data, &format!("{path}.data"))?,
    };
    Ok(GenesisAccount { id, balance, owner, data })
}

fn seeded(value: &Value, path: &str) -> Result<SeededAccounts, GenesisError> {
    let object = as_object(value, path)?;
    for key in object.keys() {
        if !["seed", "accounts", "balance"].contains(&key.as_str()) {
            return Err(error(path, GenesisErrorKind::UnknownField { field: key.clone() }));
        }
    }
    let seed = u64_field(required(object, "seed", path)?, &format!("{path}.seed"))?;
    let accounts_path = format!("{path}.accounts");
    let accounts = u64_field(required(object, "accounts", path)?, &accounts_path)?;
    if accounts == 0 {
        return Err(error(&accounts_path, GenesisErrorKind::BadNumber { reason: "must be at least 1".into() }));
    }
    check_count(&accounts_path, accounts)?;
    let balance = u64_field(required(object, "balance", path)?, &format!("{path}.balance"))?;
    Ok(SeededAccounts { seed, accounts: accounts as u32, balance })
}

fn as_object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, GenesisError> {
    value.as_object().ok_or_else(|| wrong_type(path, "an object"))
}

fn required<'v>(object: &'v Map<String, Value>, field: &'static str, path: &str) -> Result<&'v Value, GenesisError> {
    object.get(field).ok_or_else(|| error(path, GenesisErrorKind::MissingField { field }))
}

fn wrong_type(path: &str, expected: &'static str) -> GenesisError {
    error(path, GenesisErrorKind::WrongType { expected })
}

fn json_error(path: &str, e: &serde_json::Error) -> GenesisError {
    error(path, GenesisErrorKind::Json { line: e.line(), column: e.column(), reason: e.to_string() })
}

/// 64 hex digits: an account id.
fn account_id(value: &Value, path: &str) -> Result<AccountId, GenesisError> {
    let text = value.as_str().ok_or_else(|| wrong_type(path, "a string of 64 hex digits"))?;
    parse_account_id(text).map_err(|reason| error(path, GenesisErrorKind::BadHex { reason: reason.to_string() }))
}

/// An account id from 64 hex digits (either case), or why not.
pub fn parse_account_id(text: &str) -> Result<AccountId, AccountIdError> {
    if text.len() != 64 {
        return Err(AccountIdError::Length { chars: text.len() });
    }
    let bytes = hex::decode(text).map_err(AccountIdError::NotHex)?;
    Ok(AccountId(bytes.try_into().expect("64 hex digits are 32 bytes")))
}

/// Why text is not an account id (64 hex digits).
#[derive(Clone, Debug, PartialEq)]
pub enum AccountIdError {
    /// Not 64 characters long (`chars` counts bytes, as `str::len`).
    Length { chars: usize },
    /// 64 characters, not all of them hex digits.
    NotHex(hex::FromHexError),
}

impl fmt::Display for AccountIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountIdError::Length { chars } => write!(f, "expected 64 hex digits, got {chars} characters"),
            AccountIdError::NotHex(error) => write!(f, "not hex: {error}"),
        }
    }
}

impl std::error::Error for AccountIdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AccountIdError::Length { .. } => None,
            AccountIdError::NotHex(error) => Some(error),
        }
    }
}

/// A u64 as a decimal string (what Sluice writes) or a JSON integer.
fn u64_field(value: &Value, path: &str) -> Result<u64, GenesisError> {
    let bad = |reason: String| error(path, GenesisErrorKind::BadNumber { reason });
    match value {
        Value::String(text) => {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("expected a decimal integer, got {text:?}")));
            }
            text.parse::<u64>().map_err(|_| bad(format!("{text} does not fit a u64")))
        }
        Value::Number(number) => {
            number.as_u64().ok_or_else(|| bad(format!("expected an integer from 0 to {}, got {number}", u64::MAX)))
        }
        _ => Err(wrong_type(path, "a decimal integer (string or number)")),
    }
}

fn u16_field(value: &Value, path: &str) -> Result<u16, GenesisError> {
    let wide = u64_field(value, path)?;
    u16::try_from(wide).map_err(|_| {
        error(path, GenesisErrorKind::BadNumber { reason: format!("{wide} is not a program id (0..=65535)") })
    })
}

fn data_field(value: &Value, path: &str) -> Result<Vec<u8>, GenesisError> {
    let text = value.as_str().ok_or_else(|| wrong_type(path, "a string of hex digits"))?;
    if text.len() > 2 * ACCOUNT_DATA_BYTES_MAX {
        let kind = GenesisErrorKind::DataTooLarge { bytes: text.len() / 2, max: ACCOUNT_DATA_BYTES_MAX };
        return Err(error(path, kind));
    }
    hex::decode(text).map_err(|e| error(path, GenesisErrorKind::BadHex { reason: format!("not hex: {e}") }))
}

/// A CometBFT genesis.json, read whole so that it can be edited in place:
/// keys keep their order, and everything but `app_state` is left as it was.
/// Feature `client`: operators' tools (`sluice genesis`, `sluice load
/// --fund-genesis`) edit the file; a node only reads it through CometBFT.
#[cfg(feature = "client")]
pub struct GenesisFile {
    path: PathBuf,
    document: Map<String, Value>,
}

#[cfg(feature = "client")]
impl GenesisFile {
    pub fn load(path: &Path) -> Result<GenesisFile, GenesisError> {
        let text = read_genesis_text(path)?;
        let value: Value = serde_json::from_str(&text).map_err(|e| json_error("", &e))?;
        let Value::Object(document) = value else {
            return Err(wrong_type("", "a JSON object (CometBFT's genesis.json)"));
        };
        Ok(GenesisFile { path: path.to_path_buf(), document })
    }

    pub fn chain_id(&self) -> Option<&str> {
        self.document.get("chain_id").and_then(Value::as_str)
    }

    /// The current app state; an absent one reads as empty, so that the
    /// first `add-account` on a fresh `cometbft init` genesis works.
    pub fn app_state(&self) -> Result<AppState, GenesisError> {
        match self.document.get(APP_STATE_PATH) {
            None | Some(Value::Null) => Ok(AppState::default()),
            Some(value) => AppState::from_value(value),
        }
    }

    /// Appends `account` to `app_state.accounts`, leaving the entries
    /// already there as they were written. Refuses, changing nothing, an
    /// account already present or one that makes the genesis invalid.
    pub fn add_account(&mut self, account: &GenesisAccount) -> Result<AppState, GenesisError> {
        self.add_accounts(std::slice::from_ref(account))
    }

    /// Appends every one of `accounts`, checking the result once; refuses
    /// them all, changing nothing, if any is a duplicate or the genesis
    /// would be invalid.
    pub fn add_accounts(&mut self, accounts: &[GenesisAccount]) -> Result<AppState, GenesisError> {
        let mut app_state = self.app_state_object()?;
        let list = app_state.entry("accounts").or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(list) = list else {
            return Err(wrong_type(&format!("{APP_STATE_PATH}.accounts"), "an array of accounts"));
        };
        list.extend(accounts.iter().map(GenesisAccount::to_json));
        self.replace_app_state(app_state)
    }

    /// Sets `app_state.seeded`, replacing any earlier seeded section.
    pub fn set_seeded(&mut self, seeded: &SeededAccounts) -> Result<AppState, GenesisError> {
        let mut app_state = self.app_state_object()?;
        app_state.insert("seeded".into(), seeded.to_json());
        self.replace_app_state(app_state)
    }

    fn app_state_object(&self) -> Result<Map<String, Value>, GenesisError> {
        match self.document.get(APP_STATE_PATH) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(object)) => Ok(object.clone()),
            Some(_) => Err(wrong_type(APP_STATE_PATH, "an object")),
        }
    }

    /// Checks the edited app state whole (duplicates and supply included)
    /// before it replaces the old one in memory.
    fn replace_app_state(&mut self, app_state: Map<String, Value>) -> Result<AppState, GenesisError> {
        let value = Value::Object(app_state);
        let parsed = AppState::from_value(&value)?;
        parsed.build()?;
        let bytes = serde_json::to_vec(&value).expect("a JSON value serializes").len();
        if bytes > GENESIS_APP_STATE_BYTES_MAX {
            let kind = GenesisErrorKind::TooLarge { bytes: bytes as u64, max: GENESIS_APP_STATE_BYTES_MAX as u64 };
            return Err(error(APP_STATE_PATH, kind));
        }
        self.document.insert(APP_STATE_PATH.into(), value);
        Ok(parsed)
    }

    /// Writes the file back atomically (a temporary file beside it, fsync,
    /// rename, directory fsync), with the original file's permissions.
    pub fn save(&self) -> Result<(), GenesisError> {
        let io = |reason: String| error("", GenesisErrorKind::Io { file: self.path.clone(), reason });
        let mut text = serde_json::to_string_pretty(&Value::Object(self.document.clone())).expect("serializes");
        text.push('\n');
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let permissions = std::fs::metadata(&self.path).map_err(|e| io(e.to_string()))?.permissions();
        let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| io(format!("temporary file: {e}")))?;
        temp.write_all(text.as_bytes()).map_err(|e| io(format!("write: {e}")))?;
        temp.as_file().set_permissions(permissions).map_err(|e| io(format!("permissions: {e}")))?;
        temp.as_file().sync_all().map_err(|e| io(format!("fsync: {e}")))?;
        temp.persist(&self.path).map_err(|e| io(format!("rename: {e}")))?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| io(format!("fsync directory: {e}")))?;
        Ok(())
    }
}

/// What `sluice genesis validate` reports of a genesis.json: what the node
/// will build at InitChain, from the same bytes.
pub struct GenesisSummary {
    pub chain_id: Option<String>,
    pub genesis: GenesisState,
}

/// Reads genesis.json and builds its genesis from the raw `app_state`
/// bytes, exactly as a node does from InitChain (same hash, same state).
pub fn validate_genesis_file(path: &Path) -> Result<GenesisSummary, GenesisError> {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        chain_id: Option<String>,
        #[serde(borrow)]
        app_state: Option<&'a serde_json::value::RawValue>,
    }
    let text = read_genesis_text(path)?;
    let raw: Raw<'_> = serde_json::from_str(&text).map_err(|e| json_error("", &e))?;
    let bytes = raw.app_state.map_or("", |value| value.get());
    Ok(GenesisSummary { chain_id: raw.chain_id, genesis: genesis_state(bytes.as_bytes())? })
}

fn read_genesis_text(path: &Path) -> Result<String, GenesisError> {
    let io = |reason: String| error("", GenesisErrorKind::Io { file: path.to_path_buf(), reason });
    let len = std::fs::metadata(path).map_err(|e| io(e.to_string()))?.len();
    if len > GENESIS_FILE_BYTES_MAX {
        return Err(error("", GenesisErrorKind::TooLarge { bytes: len, max: GENESIS_FILE_BYTES_MAX }));
    }
    std::fs::read_to_string(path).map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Genesis;

    fn id(byte: u8) -> String {
        hex::encode([byte; 32])
    }

    fn build(text: &str) -> Result<GenesisState, GenesisError> {
        genesis_state(text.as_bytes())
    }

    fn failure(text: &str) -> (String, &'static str) {
        match build(text) {
            Ok(_) => panic!("accepted {text}"),
            Err(e) => (e.path.clone(), e.kind.name()),
        }
    }

    #[test]
    fn listed_and_seeded_accounts_build_one_state() {
        let text = format!(
            r#"{{"accounts":[{{"id":"{}","balance":"5"}},{{"id":"{}","balance":7,"owner":300,"data":"0a0b"}}],
               "seeded":{{"seed":"3","accounts":4,"balance":"100"}}}}"#,
            id(1),
            id(2)
        );
        let genesis = build(&text).unwrap();
        assert_eq!((genesis.accounts, genesis.supply), (6, 412));
        assert_eq!(genesis.app_state_hash, *blake3::hash(text.as_bytes()).as_bytes());
        let program_owned = genesis.state.get(&AccountId([2; 32])).unwrap();
        assert_eq!(
            (program_owned.balance, program_owned.owner, &program_owned.data[..]),
            (7, ProgramId(300), &[10, 11][..])
        );
        assert_eq!(genesis.state.root(), genesis.state.root_from_scratch());
    }

    #[test]
    fn seeded_genesis_equals_the_seed_derived_one() {
        let text = r#"{"seeded":{"seed":"9","accounts":12,"balance":"1000000000000"}}"#;
        assert_eq!(build(text).unwrap().state.root(), Genesis::new(9, 12).unwrap().state().root());
    }

    #[test]
    fn bad_inputs_name_their_json_path() {
        let cases: Vec<(String, &str, &str)> = vec![
            (
                format!(r#"{{"accounts":[{{"id":"{}","balance":"1"}}]}}"#, "zz".repeat(32)),
                "app_state.accounts[0].id",
                "bad_hex",
            ),
            (r#"{"accounts":[{"id":"abcd","balance":"1"}]}"#.into(), "app_state.accounts[0].id", "bad_hex"),
            (
                format!(r#"{{"accounts":[{{"id":"{}","balance":"1"}},{{"id":"{}","balance":"2"}}]}}"#, id(1), id(1)),
                "app_state.accounts[1].id",
                "duplicate_id",
            ),
            (
                format!(
                    r#"{{"accounts":[{{"id":"{}","balance":"{}"}},{{"id":"{}","balance":"1"}}]}}"#,
                    id(1),
                    u64::MAX,
                    id(2)
                ),
                "app_state.accounts[1].balance",
                "supply_overflow",
            ),
            (
                r#"{"seeded":{"seed":"1","accounts":3,"balance":"18446744073709551615"}}"#.into(),
                "app_state.seeded.balance",
                "supply_overflow",
            ),
            (
                format!(
                    r#"{{"accounts":[{{"id":"{}","balance":"1"}}],"seeded":{{"seed":"1","accounts":10000000,"balance":"1"}}}}"#,
                    id(1)
                ),
                "app_state.accounts",
                "too_many_accounts",
            ),
            (
                r#"{"seeded":{"seed":"1","accounts":10000001,"balance":"1"}}"#.into(),
                "app_state.seeded.accounts",
                "too_many_accounts",
            ),
            (
                format!(r#"{{"accounts":[{{"id":"{}","balance":"1","nonce":"2"}}]}}"#, id(1)),
                "app_state.accounts[0]",
                "unknown_field",
            ),
            (r#"{"accountz":[]}"#.into(), "app_state", "unknown_field"),
            (format!(r#"{{"accounts":[{{"id":"{}"}}]}}"#, id(1)), "app_state.accounts[0]", "missing_field"),
            (
                format!(r#"{{"accounts":[{{"id":"{}","balance":"-1"}}]}}"#, id(1)),
                "app_state.accounts[0].balance",
                "bad_number",
            ),
            (
                format!(r#"{{"accounts":[{{"id":"{}","balance":1.5}}]}}"#, id(1)),
                "app_state.accounts[0].balance",
                "bad_number",
            ),
            (
                format!(r#"{{"accounts":[{{"id":"{}","balance":"1","owner":70000}}]}}"#, id(1)),
                "app_state.accounts[0].owner",
                "bad_number",
            ),
            (
                format!(r#"{{"accounts":[{{"id":"{}","balance":"1","data":"{}"}}]}}"#, id(1), "00".repeat(4097)),
                "app_state.accounts[0].data",
                "data_too_large",
            ),
            (r#"{"accounts":{}}"#.into(), "app_state.accounts", "wrong_type"),
            (r#"{"accounts":[1]}"#.into(), "app_state.accounts[0]", "wrong_type"),
            (r#"{"accounts":["#.into(), "app_state", "json"),
            ("".into(), "app_state", "missing"),
            ("null".into(), "app_state", "missing"),
        ];
        for (text, path, name) in cases {
            assert_eq!(failure(&text), (path.to_string(), name), "{text}");
        }
    }

    #[test]
    fn a_listed_account_may_not_repeat_a_seeded_one() {
        let seeded_id = hex::encode(genesis_key(1, 2).verifying_key().to_bytes());
        let text = format!(
            r#"{{"seeded":{{"seed":"1","accounts":3,"balance":"1"}},"accounts":[{{"id":"{seeded_id}","balance":"1"}}]}}"#
        );
        let error = build(&text).err().expect("refused");
        assert_eq!((error.path.as_str(), error.kind.name()), ("app_state.accounts[0].id", "duplicate_id"));
        assert!(error.to_string().contains("seeded account 2"), "{error}");
    }

    #[test]
    #[cfg(feature = "client")]
    fn genesis_file_edits_keep_the_rest_and_refuse_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        std::fs::write(&path, r#"{"genesis_time":"t","chain_id":"c-1","initial_height":"0","app_hash":""}"#).unwrap();
        let mut file = GenesisFile::load(&path).unwrap();
        assert_eq!(file.app_state().unwrap(), AppState::default());
        let account = GenesisAccount { id: AccountId([4; 32]), balance: 9, owner: ProgramId::SYSTEM, data: vec![] };
        file.add_account(&account).unwrap();
        let duplicate = file.add_account(&account).expect_err("a second add is refused");
        assert_eq!(duplicate.kind.name(), "duplicate_id");
        file.set_seeded(&SeededAccounts::new(1, 3)).unwrap();
        file.save().unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        let keys: Vec<String> = serde_json::from_str::<Map<String, Value>>(&text).unwrap().keys().cloned().collect();
        assert_eq!(keys, ["genesis_time", "chain_id", "initial_height", "app_hash", "app_state"], "order kept");
        let summary = validate_genesis_file(&path).unwrap();
        assert_eq!(summary.chain_id.as_deref(), Some("c-1"));
        assert_eq!((summary.genesis.accounts, summary.genesis.supply), (4, 9 + 3 * GENESIS_BALANCE));
        let reloaded = GenesisFile::load(&path).unwrap().app_state().unwrap();
        assert_eq!(reloaded.accounts, vec![account]);
    }
}
