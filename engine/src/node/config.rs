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

use std::path::PathBuf;

use serde::Deserialize;

use sluice_storage::SNAPSHOTS_KEPT_MAX;

use super::ingest_http::{
    INGEST_REQUEST_BYTES_MAX_DEFAULT, INGEST_REQUEST_BYTES_MAX_LIMIT, INGEST_THREADS_DEFAULT, INGEST_THREADS_LIMIT,
};
use super::pool::{POOL_BYTES_LIMIT, POOL_BYTES_MAX_DEFAULT, POOL_TXS_LIMIT, POOL_TXS_MAX_DEFAULT};
use crate::exec::ExecutorKind;
use crate::persist::store::{SNAPSHOTS_KEPT_DEFAULT, SNAPSHOT_INTERVAL_BLOCKS_DEFAULT};
use crate::persist::StoreConfig;
use crate::tx::ChainId;

/// Default ABCI address: CometBFT's default `proxy_app`.
pub const ABCI_LISTEN_DEFAULT: &str = "127.0.0.1:26658";
/// CometBFT opens four connections; the rest of the default leaves room
/// for reconnects and for operators' probes, while bounding threads.
pub const CONNECTIONS_MAX_DEFAULT: u32 = 16;
pub const CONNECTIONS_MAX_LIMIT: u32 = 1024;
/// One ABCI request frame. CometBFT's default block `max_bytes` is 21 MiB;
/// a PrepareProposal carries up to that much plus the last commit.
pub const REQUEST_BYTES_MAX_DEFAULT: u64 = 64 * 1024 * 1024;
pub const REQUEST_BYTES_MAX_LIMIT: u64 = 1024 * 1024 * 1024;
/// How long an ABCI connection must have been idle before a new one, at
/// `connections_max`, may take its slot; also the longest the new one
/// waits for a slot before it is closed. CometBFT's own connections, once
/// recognised, are never closed (`node::server` says when they are).
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 30_000;
pub const IDLE_TIMEOUT_MS_MIN: u64 = 100;
/// An hour: the longest a restarted CometBFT may have to wait for a slot.
pub const IDLE_TIMEOUT_MS_LIMIT: u64 = 3_600_000;
/// Log filter when neither `--log-level`, `RUST_LOG` nor `[log] level` says.
pub const LOG_LEVEL_DEFAULT: &str = "info";
/// Distinct signers with transactions pending in the mempool.
pub const MEMPOOL_SIGNERS_MAX_DEFAULT: u32 = 100_000;
/// Transactions admitted by CheckTx since the last Commit. CometBFT's own
/// mempool `size` (default 5000) is normally the tighter bound.
pub const MEMPOOL_PENDING_TXS_MAX_DEFAULT: u32 = 1_000_000;
pub const MEMPOOL_LIMIT: u32 = 100_000_000;
/// Rayon threads beyond this only add scheduling overhead.
pub const THREADS_MAX: u32 = 1024;
/// A snapshot at least every million blocks: beyond that a restart would
/// apply more deltas than a snapshot costs to load.
pub const SNAPSHOT_INTERVAL_BLOCKS_LIMIT: u64 = 1_000_000;

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
    type Err = String;
    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "plain" => Ok(LogFormat::Plain),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?}: expected plain or json")),
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
    pub fn from_toml(text: &str) -> Result<NodeConfig, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| format!("config: {e}"))?;
        if table.contains_key("genesis") {
            return Err("config: [genesis] is no longer read: genesis accounts come from app_state in \
                        CometBFT's genesis.json (`sluice genesis add-account`, or `sluice genesis seeded` \
                        for a development chain); remove the section"
                .to_string());
        }
        // Parsed again as the typed config: its errors carry line and column.
        toml::from_str(text).map_err(|e| format!("config: {e}"))
    }

    pub fn load(path: Option<&std::path::Path>, overrides: NodeOverrides) -> Result<NodeConfig, String> {
        let mut config = match path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
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
    pub fn validate(&self) -> Result<(), String> {
        let abci = &self.abci;
        if !(1..=CONNECTIONS_MAX_LIMIT).contains(&abci.connections_max) {
            return Err(format!("abci.connections_max must be 1..={CONNECTIONS_MAX_LIMIT}"));
        }
        if !(1024..=REQUEST_BYTES_MAX_LIMIT).contains(&abci.request_bytes_max) {
            return Err(format!("abci.request_bytes_max must be 1024..={REQUEST_BYTES_MAX_LIMIT}"));
        }
        if !(IDLE_TIMEOUT_MS_MIN..=IDLE_TIMEOUT_MS_LIMIT).contains(&abci.idle_timeout_ms) {
            return Err(format!("abci.idle_timeout_ms must be {IDLE_TIMEOUT_MS_MIN}..={IDLE_TIMEOUT_MS_LIMIT}"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| format!("log.level {:?} is not a log filter: {e}", self.log.level))?;
        self.executor()?;
        if self.execution.threads > THREADS_MAX {
            return Err(format!("execution.threads must be 0..={THREADS_MAX}"));
        }
        for (name, value) in
            [("signers_max", self.mempool.signers_max), ("pending_txs_max", self.mempool.pending_txs_max)]
        {
            if !(1..=MEMPOOL_LIMIT).contains(&value) {
                return Err(format!("mempool.{name} must be 1..={MEMPOOL_LIMIT}"));
            }
        }
        self.validate_ingest()?;
        self.durability()?;
        if !(1..=SNAPSHOT_INTERVAL_BLOCKS_LIMIT).contains(&self.storage.snapshot_interval_blocks) {
            return Err(format!("storage.snapshot_interval_blocks must be 1..={SNAPSHOT_INTERVAL_BLOCKS_LIMIT}"));
        }
        if !(1..=SNAPSHOTS_KEPT_MAX).contains(&self.storage.snapshots_kept) {
            return Err(format!("storage.snapshots_kept must be 1..={SNAPSHOTS_KEPT_MAX}"));
        }
        self.statesync_pins()?;
        if self.storage.data.is_none() {
            return Err("a data directory is required: --data DIR or [storage] data".to_string());
        }
        Ok(())
    }

    fn validate_ingest(&self) -> Result<(), String> {
        let ingest = &self.ingest;
        if !(1..=INGEST_THREADS_LIMIT).contains(&ingest.threads) {
            return Err(format!("ingest.threads must be 1..={INGEST_THREADS_LIMIT}"));
        }
        if !(1024..=INGEST_REQUEST_BYTES_MAX_LIMIT).contains(&ingest.request_bytes_max) {
            return Err(format!("ingest.request_bytes_max must be 1024..={INGEST_REQUEST_BYTES_MAX_LIMIT}"));
        }
        if !(1..=POOL_TXS_LIMIT).contains(&ingest.pool_txs_max) {
            return Err(format!(
                "ingest.pool_txs_max must be 1..={POOL_TXS_LIMIT}: the verified-signature cache must hold the pool"
            ));
        }
        if ingest.pool_txs_max > self.mempool.pending_txs_max {
            return Err(format!(
                "ingest.pool_txs_max {} exceeds mempool.pending_txs_max {}: every pooled transaction is pending",
                ingest.pool_txs_max, self.mempool.pending_txs_max
            ));
        }
        if !(1024..=POOL_BYTES_LIMIT).contains(&ingest.pool_bytes_max) {
            return Err(format!("ingest.pool_bytes_max must be 1024..={POOL_BYTES_LIMIT}"));
        }
        Ok(())
    }

    pub fn executor(&self) -> Result<ExecutorKind, String> {
        self.execution.executor.parse().map_err(|e| format!("execution.executor: {e}"))
    }

    pub fn durability(&self) -> Result<sluice_storage::Durability, String> {
        self.storage.durability.parse().map_err(|e| format!("storage.durability: {e}"))
    }

    /// What `[statesync]` pins, checked.
    pub fn statesync_pins(&self) -> Result<crate::node::statesync::TrustedIdentity, String> {
        let chain_id = match &self.statesync.chain_id {
            Some(id) => Some(ChainId::new(id).map_err(|e| format!("statesync.chain_id: {e}"))?),
            None => None,
        };
        let app_state_hash = match &self.statesync.genesis_hash {
            Some(text) => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(text, &mut hash)
                    .map_err(|_| format!("statesync.genesis_hash: expected 64 hex digits, got {text:?}"))?;
                Some(hash)
            }
            None => None,
        };
        Ok(crate::node::statesync::TrustedIdentity { chain_id, app_state_hash })
    }

    /// How the node's `BlockStore` is opened.
    pub fn store(&self) -> Result<StoreConfig, String> {
        Ok(StoreConfig {
            snapshot_interval_blocks: self.storage.snapshot_interval_blocks,
            snapshots_kept: self.storage.snapshots_kept,
            ..StoreConfig::new(self.durability()?)
        })
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
        let seeded = NodeConfig::from_toml("[genesis]\nseed = 1\n").unwrap_err();
        assert!(seeded.contains("app_state"), "{seeded}");
        let mut bad_level = config.clone();
        bad_level.log.level = "info,[".into();
        assert!(bad_level.validate().unwrap_err().contains("log.level"));
        let idle = NodeConfig::from_toml("[abci]\nidle_timeout_ms = 250\n").unwrap();
        assert_eq!(idle.abci.idle_timeout_ms, 250);
        let mut bad_idle = config.clone();
        bad_idle.abci.idle_timeout_ms = IDLE_TIMEOUT_MS_MIN - 1;
        assert!(bad_idle.validate().unwrap_err().contains("abci.idle_timeout_ms"));
        bad_idle.abci.idle_timeout_ms = IDLE_TIMEOUT_MS_LIMIT + 1;
        assert!(bad_idle.validate().unwrap_err().contains("abci.idle_timeout_ms"));
        let mut bad = config.clone();
        bad.mempool.signers_max = 0;
        assert!(bad.validate().is_err());
        let mut bad_interval = config.clone();
        bad_interval.storage.snapshot_interval_blocks = 0;
        assert!(bad_interval.validate().unwrap_err().contains("snapshot_interval_blocks"));
        let mut bad_pin = config.clone();
        bad_pin.statesync.genesis_hash = Some("abc".into());
        assert!(bad_pin.validate().unwrap_err().contains("statesync.genesis_hash"));
        bad_pin.statesync = StateSyncConfig { chain_id: Some("has space".into()), genesis_hash: None };
        assert!(bad_pin.validate().unwrap_err().contains("statesync.chain_id"));
        let mut bad_kept = config.clone();
        bad_kept.storage.snapshots_kept = SNAPSHOTS_KEPT_MAX + 1;
        assert!(bad_kept.validate().unwrap_err().contains("snapshots_kept"));
        let mut bad_pool = config.clone();
        bad_pool.ingest.pool_txs_max = POOL_TXS_LIMIT + 1;
        assert!(bad_pool.validate().unwrap_err().contains("ingest.pool_txs_max"));
        bad_pool.ingest.pool_txs_max = 10;
        bad_pool.mempool.pending_txs_max = 9;
        assert!(bad_pool.validate().unwrap_err().contains("mempool.pending_txs_max"));
        let mut no_data = config;
        no_data.storage.data = None;
        assert!(no_data.validate().is_err());
    }
}
