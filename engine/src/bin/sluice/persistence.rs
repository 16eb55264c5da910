//! The block store `sluice run` commits to: opened (or created, in a
//! temporary directory without `--data`) before the run, fed each
//! committed block as a `CommitSink`, synced at the end; and what it did,
//! for the summary.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use sluice_engine::persist::{BlockStore, GenesisParams, ResumeReport, Resumed, StoreConfig};
use sluice_engine::pipeline::{CommitError, CommitSink, CommittedBlock};
use sluice_engine::state::GenesisKeys;
use sluice_engine::workload::WorkloadSpec;
use sluice_storage::Durability;

use crate::args::RunArgs;
use crate::CommandResult;

/// Where and how a run persists, for its summary.
pub struct PersistInfo {
    pub data_dir: PathBuf,
    /// Set when `data_dir` is a temporary directory removed at exit.
    pub temporary: bool,
    pub durability: Durability,
    pub resumed_from_height: u64,
    /// Opening the store: recovering the log and rebuilding state, until the
    /// next block can execute (the restart time).
    pub open_s: f64,
    /// What opening found (snapshot used or skipped, torn tail, blocks
    /// replayed) and where `open_s` went.
    pub open: ResumeReport,
    /// Time spent in commit (encode, append, durability, snapshots).
    pub commit_s: f64,
    /// Log bytes appended by this run (record headers and padding included).
    pub appended_bytes: u64,
}

/// The block store a run commits to, and the temporary directory holding it
/// when no --data was given (removed when this is dropped).
pub struct Persistence {
    pub store: BlockStore,
    pub info: PersistInfo,
    print_commits: bool,
    _temp: Option<tempfile::TempDir>,
}

impl Persistence {
    pub fn open(args: &RunArgs, spec: &WorkloadSpec, keys: &GenesisKeys) -> CommandResult<(Persistence, Resumed)> {
        let (dir, temp) = match &args.data {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("sluice-run-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary data directory: {e}"))?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let genesis = GenesisParams { chain_id: spec.chain.clone(), seed: spec.seed, accounts: spec.accounts };
        let config = StoreConfig {
            snapshot_interval_blocks: args.snapshot_interval,
            segment_size_bytes: args.segment_size_bytes,
            ..StoreConfig::new(args.durability)
        };
        let (store, resumed) = BlockStore::open_with_genesis_keys(&dir, config, &genesis, keys)
            .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        let info = PersistInfo {
            data_dir: dir,
            temporary: temp.is_some(),
            durability: args.durability,
            resumed_from_height: resumed.height,
            open_s: 0.0,
            open: resumed.report.clone(),
            commit_s: 0.0,
            appended_bytes: 0,
        };
        Ok((Persistence { store, info, print_commits: args.print_commits, _temp: temp }, resumed))
    }

    /// Makes the run's last blocks durable before reporting success (except
    /// with durability none, which leaves that to the kernel).
    pub fn finish(&mut self) -> CommandResult {
        let start = Instant::now();
        if self.info.durability != Durability::None {
            self.store.sync()?;
        }
        self.info.commit_s += start.elapsed().as_secs_f64();
        Ok(())
    }
}

impl CommitSink for Persistence {
    /// Commits through the store; the commit line is printed only after the
    /// log accepted the block under the run's durability mode.
    fn commit(&mut self, block: &CommittedBlock) -> Result<(), CommitError> {
        let start = Instant::now();
        let appended_before = self.store.appended_bytes();
        CommitSink::commit(&mut self.store, block)?;
        self.info.appended_bytes += self.store.appended_bytes() - appended_before;
        if self.print_commits {
            // One write per line, so a kill between lines never leaves half a claim.
            let header = &block.header;
            let line = format!("committed height={} hash={}\n", header.height, hex::encode(header.hash()));
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        self.info.commit_s += start.elapsed().as_secs_f64();
        Ok(())
    }
}
