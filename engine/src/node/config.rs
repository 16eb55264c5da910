//! Node configuration: a TOML file (`--config`), then command-line flags
//! on top. Every section and key is optional; defaults are below.
//!
//! ```toml
//! [abci]
//! listen = "127.0.0.1:26658"
//! connections_max = 16
//! request_bytes_max = 67108864
//! idle_timeout_ms = 30000       # a newcomer at connections_max may evict a connection idle this long
//!
//! [metrics]
//! listen = "127.0.0.1:26660"   # absent: no metrics endpoint
//!
//! [log]
//! level = "info"                # a tracing filter: "debug", "warn,sluice_engine::node=debug", …
//! format = "plain"              # or "json": one JSON object per line
//!
//! [execution]
//! executor = "parallel"         # or "serial"
//! threads = 0                   # 0: all cores
//!
//! [mempool]
//! signers_max = 100000
//! pending_txs_max = 1000000
//!
//! [ingest]                      # the app-owned pool, for CometBFT's mempool.type = "nop"
//! listen = "127.0.0.1:26659"    # absent: no ingest endpoint
//! threads = 4                   # requests answered at once
//! request_bytes_max = 33554432  # one request's body
//! pool_txs_max = 100000         # at most 100000 (the verified-signature cache must hold the pool)
//! pool_bytes_max = 67108864
//!
//! [storage]
//! data = "/var/lib/sluice"      # --data overrides
//! durability = "sync"           # none | batch | sync
//! snapshot_interval_blocks = 100 # a snapshot after every block whose height is a multiple
//! snapshots_kept = 3            # 1..=64; also what state sync can serve
//!
//! [statesync]                   # what a snapshot restored by state sync must say
//! chain_id = "my-chain"         # absent: taken from the snapshot unchecked
//! genesis_hash = "4f2c…"        # blake3 of app_state (`sluice genesis validate`); absent: unchecked
//! ```
//!
//! Unknown keys are errors: a misspelt limit must not silently fall back
//! to its default. Genesis is not configured here: it is `app_state` in
//! CometBFT's genesis.json (see [`crate::genesis`]), so that every
//! validator starts from the one document CometBFT hashes and shares.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use sluice_storage::SNAPSHOTS_KEPT_MAX;

use super::ingest_http::{
    INGEST_REQUEST_BYTES_MAX_DEFAULT, INGEST_REQUEST_BYTES_MAX_LIMIT, INGEST_THREADS_DEFAULT, INGEST_THREADS_LIMIT,
};
use super::pool::{POOL_BYTES_LIMIT, POOL_BYTES_MAX_DEFAULT, POOL_TXS_LIMIT, POOL_TXS_MAX_DEFAULT};
use crate::exec::ExecutorKind;
pub use crate::limits::{
    CONNECTIONS_MAX_DEFAULT, CONNECTIONS_MAX_LIMIT, IDLE_TIMEOUT_MS_DEFAULT, IDLE_TIMEOUT_MS_LIMIT,
    IDLE_TIMEOUT_MS_MIN, MEMPOOL_LIMIT, MEMPOOL_PENDING_TXS_MAX_DEFAULT, MEMPOOL_SIGNERS_MAX_DEFAULT,
    REQUEST_BYTES_MAX_DEFAULT, REQUEST_BYTES_MAX_LIMIT, SNAPSHOT_INTERVAL_BLOCKS_LIMIT, THREADS_MAX,
};
use crate::persist::store::{SNAPSHOTS_KEPT_DEFAULT, SNAPSHOT_INTERVAL_BLOCKS_DEFAULT};
use crate::persist::StoreConfig;
use crate::tx::ChainId;

/// Default ABCI address: CometBFT's default `proxy_app`.
pub const ABCI_LISTEN_DEFAULT: &str = "127.0.0.1:26658";
/// Log filter when neither `--log-level`, `RUST_LOG` nor `[log] level` says.
pub const LOG_LEVEL_DEFAULT: &str = "info";

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    pub abci: AbciConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub execution: ExecutionConfig,
    pub mempool: MempoolConfig,
    pub ingest: IngestConfig,
    pub storage: StorageConfig,
    pub statesync: StateSyncConfig,
}

/// The chain a node joining by state sync must restore. CometBFT's light
/// client vouches only for the state root; these pin what the snapshot's
/// metadata says beside it (docs/format.md §14).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StateSyncConfig {
    pub chain_id: Option<String>,
    /// 64 hex digits: `blake3(app_state)`, as `sluice genesis validate` prints it.
    pub genesis_hash: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AbciConfig {
    pub listen: String,
    pub connections_max: u32,
    pub request_bytes_max: u64,
    pub idle_timeout_ms: u64,
}

impl Default for AbciConfig {
    fn default() -> Self {
        AbciConfig {
            listen: ABCI_LISTEN_DEFAULT.to_string(),
            connections_max: CONNECTIONS_MAX_DEFAULT,
            request_bytes_max: REQUEST_BYTES_MAX_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: Option<String>,
}

/// How the node logs (through `tracing`, on stderr).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing_subscriber::EnvFilter` directive; `RUST_LOG`, when set,
    /// replaces it, and `--log-level` replaces both.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: LOG_LEVEL_DEFAULT.to_string(), format: LogFormat::Plain }
    }
}

/// CometBFT's two `log_format` values.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ConfigError;
    fn from_str(text: &str) -> Result<LogFormat, ConfigError> {
        match text {
            "plain" => Ok(LogFormat::Plain),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::UnknownLogFormat { value: other.to_string() }),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    pub executor: String,
    pub threads: u32,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig { executor: ExecutorKind::Parallel.to_string(), threads: 0 }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    pub signers_max: u32,
    pub pending_txs_max: u32,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig { signers_max: MEMPOOL_SIGNERS_MAX_DEFAULT, pending_txs_max: MEMPOOL_PENDING_TXS_MAX_DEFAULT }
    }
}

/// The ingest endpoint and the pool it fills (`node::pool`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub listen: Option<String>,
    pub threads: u32,
    pub request_bytes_max: u64,
    pub pool_txs_max: u32,
    pub pool_bytes_max: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            listen: None,
            threads: INGEST_THREADS_DEFAULT,
            request_bytes_max: INGEST_REQUEST_BYTES_MAX_DEFAULT,
            pool_txs_max: POOL_TXS_MAX_DEFAULT,
            pool_bytes_max: POOL_BYTES_MAX_DEFAULT,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data: Option<PathBuf>,
    pub durability: String,
    /// Restart cost is the newest snapshot plus the deltas of at most this
    /// many blocks; state sync serves these snapshots.
    pub snapshot_interval_blocks: u64,
    pub snapshots_kept: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data: None,
            durability: "sync".to_string(),
            snapshot_interval_blocks: SNAPSHOT_INTERVAL_BLOCKS_DEFAULT,
            snapshots_kept: SNAPSHOTS_KEPT_DEFAULT,
        }
    }
}

/// Flags given on the command line; each one present overrides the file.
#[derive(Clone, Debug, Default)]
pub struct NodeOverrides {
    pub abci: Option<String>,
    pub data: Option<PathBuf>,
    pub metrics: Option<String>,
    pub ingest: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<LogFormat>,
}

impl NodeConfig {
    /// Parses a TOML document; unknown keys and wrong types are errors.
    pub fn from_toml(text: &str) -> Result<NodeConfig, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(ConfigError::Toml)?;
        if table.contains_key("genesis") {
            return Err(ConfigError::GenesisSection);
        }
        // Parsed again as the typed config: its errors carry line and column.
        toml::from_str(text).map_err(ConfigError::Toml)
    }

    pub fn load(path: Option<&std::path::Path>, overrides: NodeOverrides) -> Result<NodeConfig, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                NodeConfig::from_toml(&text)?
            }
            None => NodeConfig::default(),
        };
        if let Some(abci) = overrides.abci {
            config.abci.listen = abci;
        }
        if let Some(data) = overrides.data {
            config.storage.data = Some(data);
        }
        if let Some(metrics) = overrides.metrics {
            config.metrics.listen = Some(metrics);
        }
        if let Some(ingest) = overrides.ingest {
            config.ingest.listen = Some(ingest);
        }
        // RUST_LOG sits between the file and the flag: an operator's
        // environment overrides the file, an explicit flag overrides both.
        if let Some(level) = overrides.log_level.or_else(|| std::env::var("RUST_LOG").ok()) {
            config.log.level = level;
        }
        if let Some(format) = overrides.log_format {
            config.log.format = format;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every limit, so that the node never starts half-configured.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let abci = &self.abci;
        check_range("abci.connections_max", abci.connections_max.into(), 1, CONNECTIONS_MAX_LIMIT.into())?;
        check_range("abci.request_bytes_max", abci.request_bytes_max, 1024, REQUEST_BYTES_MAX_LIMIT)?;
        check_range("abci.idle_timeout_ms", abci.idle_timeout_ms, IDLE_TIMEOUT_MS_MIN, IDLE_TIMEOUT_MS_LIMIT)?;
        log_filter(&self.log.level)?;
        self.executor()?;
        check_range("execution.threads", self.execution.threads.into(), 0, THREADS_MAX.into())?;
        for (key, value) in [
            ("mempool.signers_max", self.mempool.signers_max),
            ("mempool.pending_txs_max", self.mempool.pending_txs_max),
        ] {
            check_range(key, value.into(), 1, MEMPOOL_LIMIT.into())?;
        }
        self.validate_ingest()?;
        self.durability()?;
        let storage = &self.storage;
        let interval = storage.snapshot_interval_blocks;
        check_range("storage.snapshot_interval_blocks", interval, 1, SNAPSHOT_INTERVAL_BLOCKS_LIMIT)?;
        check_range("storage.snapshots_kept", storage.snapshots_kept as u64, 1, SNAPSHOTS_KEPT_MAX as u64)?;
        self.statesync_pins()?;
        if storage.data.is_none() {
            return Err(ConfigError::NoDataDirectory);
        }
        Ok(())
    }

    fn validate_ingest(&self) -> Result<(), ConfigError> {
        let ingest = &self.ingest;
        check_range("ingest.threads", ingest.threads.into(), 1, INGEST_THREADS_LIMIT.into())?;
        check_range("ingest.request_bytes_max", ingest.request_bytes_max, 1024, INGEST_REQUEST_BYTES_MAX_LIMIT)?;
        let pool_txs_max = u64::from(ingest.pool_txs_max);
        if !(1..=u64::from(POOL_TXS_LIMIT)).contains(&pool_txs_max) {
            return Err(ConfigError::OutOfRange {
                key: "ingest.pool_txs_max",
                value: pool_txs_max,
                min: 1,
                max: POOL_TXS_LIMIT.into(),
                why: Some("the verified-signature cache must hold the pool"),
            });
        }
        if ingest.pool_txs_max > self.mempool.pending_txs_max {
            return Err(ConfigError::PoolExceedsPending {
                pool_txs_max: ingest.pool_txs_max,
                pending_txs_max: self.mempool.pending_txs_max,
            });
        }
        check_range("ingest.pool_bytes_max", ingest.pool_bytes_max, 1024, POOL_BYTES_LIMIT)
    }

    pub fn executor(&self) -> Result<ExecutorKind, ConfigError> {
        let value = &self.execution.executor;
        value.parse().map_err(|e| ConfigError::invalid("execution.executor", value, e))
    }

    pub fn durability(&self) -> Result<sluice_storage::Durability, ConfigError> {
        let value = &self.storage.durability;
        value.parse().map_err(|e| ConfigError::invalid("storage.durability", value, e))
    }

    /// What `[statesync]` pins, checked.
    pub fn statesync_pins(&self) -> Result<crate::node::statesync::TrustedIdentity, ConfigError> {
        let chain_id = match &self.statesync.chain_id {
            Some(id) => Some(ChainId::new(id).map_err(|e| ConfigError::invalid("statesync.chain_id", id, e))?),
            None => None,
        };
        let app_state_hash = match &self.statesync.genesis_hash {
            Some(text) => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(text, &mut hash)
                    .map_err(|_| ConfigError::NotAHash { key: "statesync.genesis_hash", value: text.clone() })?;
                Some(hash)
            }
            None => None,
        };
        Ok(crate::node::statesync::TrustedIdentity { chain_id, app_state_hash })
    }

    /// How the node's `BlockStore` is opened.
    pub fn store(&self) -> Result<StoreConfig, ConfigError> {
        Ok(StoreConfig {
            snapshot_interval_blocks: self.storage.snapshot_interval_blocks,
            snapshots_kept: self.storage.snapshots_kept,
            ..StoreConfig::new(self.durability()?)
        })
    }
}

/// `key` must lie in `min..=max`.
fn check_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    match (min..=max).contains(&value) {
        true => Ok(()),
        false => Err(ConfigError::OutOfRange { key, value, min, max, why: None }),
    }
}

/// `level` as a log filter (`log.level`, `--log-level` or `RUST_LOG`).
pub(crate) fn log_filter(level: &str) -> Result<tracing_subscriber::EnvFilter, ConfigError> {
    tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|source| ConfigError::LogFilter { value: level.to_string(), source })
}

/// Why a configuration cannot run a node. Each kind names the key, as its
/// TOML path (`ingest.pool_txs_max`), and the value it refuses.
#[derive(Debug)]
pub enum ConfigError {
    /// The `--config` file cannot be read.
    Read { path: PathBuf, source: std::io::Error },
    /// Not TOML, an unknown key or a wrong type; the error says where.
    Toml(toml::de::Error),
    /// A `[genesis]` section, which earlier versions read.
    GenesisSection,
    /// A number outside its limits; `why`, when the limit needs a reason.
    OutOfRange { key: &'static str, value: u64, min: u64, max: u64, why: Option<&'static str> },
    /// `ingest.pool_txs_max` above `mempool.pending_txs_max`.
    PoolExceedsPending { pool_txs_max: u32, pending_txs_max: u32 },
    /// `log.level` (or the flag or `RUST_LOG` that replaced it) is not a filter.
    LogFilter { value: String, source: tracing_subscriber::filter::ParseError },
    /// `--log-format` or `log.format` is neither plain nor json.
    UnknownLogFormat { value: String },
    /// A value its parser refuses, with the parser's reason.
    Invalid { key: &'static str, value: String, source: Box<dyn Error + Send + Sync> },
    /// A hash that is not 64 hex digits.
    NotAHash { key: &'static str, value: String },
    /// Neither `--data` nor `[storage] data`.
    NoDataDirectory,
}

impl ConfigError {
    fn invalid(key: &'static str, value: &str, reason: impl Into<Box<dyn Error + Send + Sync>>) -> ConfigError {
        ConfigError::Invalid { key, value: value.to_string(), source: reason.into() }
    }

    /// The TOML path of the key refused, when one is.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            ConfigError::OutOfRange { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::NotAHash { key, .. } => Some(key),
            ConfigError::PoolExceedsPending { .. } => Some("ingest.pool_txs_max"),
            ConfigError::LogFilter { .. } => Some("log.level"),
            ConfigError::UnknownLogFormat { .. } => Some("log.format"),
            ConfigError::NoDataDirectory => Some("storage.data"),
            ConfigError::GenesisSection => Some("genesis"),
            ConfigError::Read { .. } | ConfigError::Toml(_) => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => write!(f, "cannot read config {}: {source}", path.display()),
            ConfigError::Toml(source) => write!(f, "config: {source}"),
            ConfigError::GenesisSection => f.write_str(
                "config: [genesis] is no longer read: genesis accounts come from app_state in \
                 CometBFT's genesis.json (`sluice genesis add-account`, or `sluice genesis seeded` \
                 for a development chain); remove the section",
            ),
            ConfigError::OutOfRange { key, min, max, why, .. } => {
                write!(f, "{key} must be {min}..={max}")?;
                match why {
                    Some(why) => write!(f, ": {why}"),
                    None => Ok(()),
                }
            }
            ConfigError::PoolExceedsPending { pool_txs_max, pending_txs_max } => write!(
                f,
                "ingest.pool_txs_max {pool_txs_max} exceeds mempool.pending_txs_max {pending_txs_max}: \
                 every pooled transaction is pending"
            ),
            ConfigError::LogFilter { value, source } => write!(f, "log.level {value:?} is not a log filter: {source}"),
            ConfigError::UnknownLogFormat { value } => {
                write!(f, "unknown log format {value:?}: expected plain or json")
            }
            ConfigError::Invalid { key, source, .. } => write!(f, "{key}: {source}"),
            ConfigError::NotAHash { key, value } => write!(f, "{key}: expected 64 hex digits, got {value:?}"),
            ConfigError::NoDataDirectory => f.write_str("a data directory is required: --data DIR or [storage] data"),
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Toml(source) => Some(source),
            ConfigError::LogFilter { source, .. } => Some(source),
            ConfigError::Invalid { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(NodeConfig::from_toml("").unwrap(), NodeConfig::default());
    }

    #[test]
    fn flags_override_the_file_and_limits_are_checked() {
        let text = "[abci]\nlisten = \"127.0.0.1:1\"\n[log]\nformat = \"json\"\n";
        let path = std::env::temp_dir().join(format!("sluice-node-config-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let overrides = NodeOverrides {
            abci: Some("127.0.0.1:2".into()),
            data: Some("/tmp/x".into()),
            log_level: Some("debug".into()),
            ..NodeOverrides::default()
        };
        let config = NodeConfig::load(Some(&path), overrides).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(config.abci.listen, "127.0.0.1:2");
        assert_eq!((config.log.level.as_str(), config.log.format), ("debug", LogFormat::Json));
        assert!(NodeConfig::from_toml("[abci]\nlisten_typo = \"x\"\n").is_err());
        let seeded = NodeConfig::from_toml("[genesis]\nseed = 1\n").unwrap_err().to_string();
        assert!(seeded.contains("app_state"), "{seeded}");
        let mut bad_level = config.clone();
        bad_level.log.level = "info,[".into();
        assert!(bad_level.validate().unwrap_err().to_string().contains("log.level"));
        let idle = NodeConfig::from_toml("[abci]\nidle_timeout_ms = 250\n").unwrap();
        assert_eq!(idle.abci.idle_timeout_ms, 250);
        let mut bad_idle = config.clone();
        bad_idle.abci.idle_timeout_ms = IDLE_TIMEOUT_MS_MIN - 1;
        assert!(bad_idle.validate().unwrap_err().to_string().contains("abci.idle_timeout_ms"));
        bad_idle.abci.idle_timeout_ms = IDLE_TIMEOUT_MS_LIMIT + 1;
        assert!(bad_idle.validate().unwrap_err().to_string().contains("abci.idle_timeout_ms"));
        let mut bad = config.clone();
        bad.mempool.signers_max = 0;
        let error = bad.validate().unwrap_err();
        assert!(matches!(error, ConfigError::OutOfRange { key: "mempool.signers_max", value: 0, .. }), "{error}");
        assert_eq!(error.to_string(), format!("mempool.signers_max must be 1..={MEMPOOL_LIMIT}"));
        let mut bad_interval = config.clone();
        bad_interval.storage.snapshot_interval_blocks = 0;
        assert!(bad_interval.validate().unwrap_err().to_string().contains("snapshot_interval_blocks"));
        let mut bad_pin = config.clone();
        bad_pin.statesync.genesis_hash = Some("abc".into());
        assert!(bad_pin.validate().unwrap_err().to_string().contains("statesync.genesis_hash"));
        bad_pin.statesync = StateSyncConfig { chain_id: Some("has space".into()), genesis_hash: None };
        assert!(bad_pin.validate().unwrap_err().to_string().contains("statesync.chain_id"));
        let mut bad_kept = config.clone();
        bad_kept.storage.snapshots_kept = SNAPSHOTS_KEPT_MAX + 1;
        assert!(bad_kept.validate().unwrap_err().to_string().contains("snapshots_kept"));
        let mut bad_pool = config.clone();
        bad_pool.ingest.pool_txs_max = POOL_TXS_LIMIT + 1;
        assert!(bad_pool.validate().unwrap_err().to_string().contains("ingest.pool_txs_max"));
        bad_pool.ingest.pool_txs_max = 10;
        bad_pool.mempool.pending_txs_max = 9;
        assert!(bad_pool.validate().unwrap_err().to_string().contains("mempool.pending_txs_max"));
        let mut no_data = config;
        no_data.storage.data = None;
        assert_eq!(no_data.validate().unwrap_err().key(), Some("storage.data"));
        let format = "xml".parse::<LogFormat>().unwrap_err();
        assert!(matches!(&format, ConfigError::UnknownLogFormat { value } if value == "xml"), "{format}");
    }
}
