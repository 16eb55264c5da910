//! Key files (docs/format.md §12).
//!
//! ```json
//! {"kind": "sluice-ed25519-key", "version": 1,
//!  "id": "<64 hex digits: the public key, which is the account id>",
//!  "secret_key": "<64 hex digits: the ed25519 secret key>"}
//! ```
//!
//! - Written with mode 0600 and never over an existing file; the file and
//!   its directory are fsynced before the id is printed.
//! - Read only if no one but the owner can read it (as ssh does), at most
//!   [`KEY_FILE_BYTES_MAX`] bytes, and only if `id` is the public key of
//!   `secret_key`, which catches a damaged or hand-edited file.

use std::io::Write as _;
use std::path::Path;

use ed25519_dalek::SigningKey;
use serde_json::Value;

use super::ClientError;
use crate::account::AccountId;
pub use crate::limits::KEY_FILE_BYTES_MAX;

pub const KEY_FILE_KIND: &str = "sluice-ed25519-key";
pub const KEY_FILE_VERSION: u64 = 1;
/// Permission bits a key file may not have: any access by group or others.
const KEY_FILE_MODE_FORBIDDEN: u32 = 0o077;
const KEY_FILE_MODE: u32 = 0o600;

/// A signing key and the account id it controls.
pub struct KeyFile {
    pub key: SigningKey,
    pub id: AccountId,
}

/// Shows the id only: a secret key never reaches a log or a panic message.
impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile").field("id", &self.id).finish_non_exhaustive()
    }
}

impl KeyFile {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> KeyFile {
        KeyFile::from_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn from_key(key: SigningKey) -> KeyFile {
        let id = AccountId(key.verifying_key().to_bytes());
        KeyFile { key, id }
    }

    /// The file's JSON text.
    pub fn to_json(&self) -> String {
        let value = serde_json::json!({
            "kind": KEY_FILE_KIND,
            "version": KEY_FILE_VERSION,
            "id": hex::encode(self.id.0),
            "secret_key": hex::encode(self.key.to_bytes()),
        });
        let mut text = serde_json::to_string_pretty(&value).expect("serializes");
        text.push('\n');
        text
    }

    /// Creates `path` with mode 0600 and writes the key, then fsyncs it.
    /// Refuses, writing nothing, if anything exists at `path`.
    pub fn write_new(&self, path: &Path) -> Result<(), ClientError> {
        write_secret_file(path, self.to_json().as_bytes())?;
        debug_assert_eq!(KeyFile::load(path).map(|k| k.id), Ok(self.id), "a written key reads back");
        Ok(())
    }

    /// Reads a key file, refusing one that others can read.
    pub fn load(path: &Path) -> Result<KeyFile, ClientError> {
        let text = read_secret_file(path)?;
        KeyFile::parse(&text).map_err(|e| ClientError::KeyFile { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// Parses the JSON text of a key file; the error names the field.
    pub fn parse(text: &str) -> Result<KeyFile, KeyFileError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| KeyFileError::NotJson { line: e.line(), column: e.column() })?;
        let object = value.as_object().ok_or(KeyFileError::NotAnObject)?;
        if let Some(unknown) = object.keys().find(|key| !KEY_FILE_FIELDS.contains(&key.as_str())) {
            return Err(KeyFileError::UnknownField { field: unknown.clone() });
        }
        let field = |name: &'static str| object.get(name).ok_or(KeyFileError::MissingField { field: name });
        if field("kind")?.as_str() != Some(KEY_FILE_KIND) {
            return Err(KeyFileError::WrongKind);
        }
        if field("version")?.as_u64() != Some(KEY_FILE_VERSION) {
            return Err(KeyFileError::WrongVersion);
        }
        let hex32 = |name: &'static str| -> Result<[u8; 32], KeyFileError> {
            let text = field(name)?.as_str().ok_or(KeyFileError::NotAString { field: name })?;
            let id = crate::genesis::parse_account_id(text)
                .map_err(|e| KeyFileError::NotHex { field: name, reason: e.to_string() })?;
            Ok(id.0)
        };
        let secret = hex32("secret_key")?;
        let id = AccountId(hex32("id")?);
        let key = KeyFile::from_key(SigningKey::from_bytes(&secret));
        if key.id != id {
            return Err(KeyFileError::IdMismatch);
        }
        Ok(key)
    }
}

/// The fields of a key file; any other is an error.
const KEY_FILE_FIELDS: [&str; 4] = ["kind", "version", "id", "secret_key"];

/// Why text is not a Sluice key file; every kind past the JSON itself
/// names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyFileError {
    NotJson {
        line: usize,
        column: usize,
    },
    NotAnObject,
    UnknownField {
        field: String,
    },
    MissingField {
        field: &'static str,
    },
    /// `kind` is not [`KEY_FILE_KIND`].
    WrongKind,
    /// `version` is not [`KEY_FILE_VERSION`].
    WrongVersion,
    NotAString {
        field: &'static str,
    },
    /// Not 64 hex digits.
    NotHex {
        field: &'static str,
        reason: String,
    },
    /// `id` is not the public key of `secret_key`.
    IdMismatch,
}

impl KeyFileError {
    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            KeyFileError::NotJson { .. } | KeyFileError::NotAnObject => None,
            KeyFileError::UnknownField { field } => Some(field),
            KeyFileError::MissingField { field }
            | KeyFileError::NotAString { field }
            | KeyFileError::NotHex { field, .. } => Some(field),
            KeyFileError::WrongKind => Some("kind"),
            KeyFileError::WrongVersion => Some("version"),
            KeyFileError::IdMismatch => Some("id"),
        }
    }
}

impl std::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyFileError::NotJson { line, column } => {
                write!(f, "not a Sluice key file: not JSON at line {line}, column {column}")
            }
            KeyFileError::NotAnObject => f.write_str("not a Sluice key file: expected a JSON object"),
            KeyFileError::UnknownField { field } => write!(f, "unknown field `{field}`"),
            KeyFileError::MissingField { field } => write!(f, "required field `{field}` is missing"),
            KeyFileError::WrongKind => write!(f, "field `kind`: expected \"{KEY_FILE_KIND}\""),
            KeyFileError::WrongVersion => write!(f, "field `version`: expected {KEY_FILE_VERSION}"),
            KeyFileError::NotAString { field } => write!(f, "field `{field}`: expected a string"),
            KeyFileError::NotHex { field, reason } => write!(f, "field `{field}`: {reason}"),
            KeyFileError::IdMismatch => {
                f.write_str("field `id` is not the public key of `secret_key`: the file is damaged")
            }
        }
    }
}

impl std::error::Error for KeyFileError {}

/// Creates `path` with mode 0600, writes `contents` and fsyncs the file
/// and its directory. Refuses, writing nothing, if anything exists there.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), ClientError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |reason: String| ClientError::KeyFile { path: path.to_path_buf(), reason };
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).mode(KEY_FILE_MODE).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(ClientError::KeyFileExists { path: path.to_path_buf() })
        }
        Err(e) => return Err(fail(format!("cannot create: {e}"))),
    };
    file.write_all(contents).map_err(|e| fail(format!("write: {e}")))?;
    file.sync_all().map_err(|e| fail(format!("fsync: {e}")))?;
    // The directory entry too: once an id is printed, funds may be sent
    // to it, and a crash must not lose the only key that spends them.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| fail(format!("fsync directory: {e}")))
}

/// Reads a secret file, refusing one that others can read or that is
/// larger than a key file can be.
pub fn read_secret_file(path: &Path) -> Result<String, ClientError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |reason: String| ClientError::KeyFile { path: path.to_path_buf(), reason };
    let metadata = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if !metadata.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & KEY_FILE_MODE_FORBIDDEN != 0 {
        return Err(ClientError::KeyFilePermissions { path: path.to_path_buf(), mode });
    }
    if metadata.len() > KEY_FILE_BYTES_MAX {
        return Err(fail(format!("{} bytes is too large for a key file", metadata.len())));
    }
    std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn written_keys_read_back_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.json");
        let key = KeyFile::generate();
        key.write_new(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(KeyFile::load(&path).unwrap().id, key.id);
        assert!(matches!(KeyFile::generate().write_new(&path), Err(ClientError::KeyFileExists { .. })));
        assert_eq!(KeyFile::load(&path).unwrap().id, key.id, "the first key is still there");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(KeyFile::load(&path), Err(ClientError::KeyFilePermissions { mode: 0o644, .. })));
    }

    #[test]
    fn damaged_files_name_the_field() {
        let good = KeyFile::generate().to_json();
        let other = KeyFile::generate();
        let cases = [
            ("{", "not JSON"),
            ("[]", "JSON object"),
            (&good.replace(KEY_FILE_KIND, "solana"), "field `kind`"),
            (&good.replace("\"version\": 1", "\"version\": 2"), "field `version`"),
            (&good.replace("\"secret_key\": \"", "\"secret_key\": \"zz"), "field `secret_key`"),
            (&good.replace("\"id\"", "\"idx\""), "unknown field `idx`"),
        ];
        for (text, expected) in cases {
            let error = KeyFile::parse(text).err().unwrap_or_else(|| panic!("accepted {text}"));
            assert!(error.to_string().contains(expected), "{error} lacks {expected}");
        }
        let swapped = good.replace(&hex::encode(KeyFile::parse(&good).unwrap().id.0), &hex::encode(other.id.0));
        let damaged = KeyFile::parse(&swapped).unwrap_err();
        assert!(damaged.to_string().contains("damaged"));
        assert_eq!(damaged.field(), Some("id"));
    }
}
