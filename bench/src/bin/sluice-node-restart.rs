//! `sluice-node-restart`: how long `sluice node` takes to restart on a
//! long chain.
//!
//! Builds a chain of `--txs` signed system transfers by speaking the ABCI
//! socket protocol to `sluice node` itself (no CometBFT): Info, InitChain
//! with a seeded genesis, then FinalizeBlock and Commit per block on one
//! connection. Then, `--restarts` times, kills the node with SIGKILL (a
//! crash), starts it again and measures the wall time from spawn until an
//! Info request on a fresh connection reports the chain's height. Works
//! with any `sluice` binary that serves ABCI 0.38, old or new store.
//!
//! The data directory (`--data`, else a temporary one) holds
//! `sluice.toml`, the node's data under `sluice/`, its log `sluice.log`,
//! and `restart-bench.json`, written once the chain is complete, which
//! `--reuse` reads to skip building the same chain again.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use prost::Message;
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci::{
    request, response, Request, RequestCommit, RequestFinalizeBlock, RequestInfo, RequestInitChain, Response,
    ResponseInfo,
};

use sluice_engine::account::AccountId;
use sluice_engine::block::BLOCK_TXS_MAX;
use sluice_engine::genesis::genesis_state;
use sluice_engine::state::{Genesis, GENESIS_ACCOUNTS_MAX};
use sluice_engine::tx::{sign, ChainId};
use sluice_engine::workload::transfer;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHAIN_ID: &str = "restart-bench";
const SEED: u64 = 1;
const BALANCE: u64 = 1_000_000_000;
const AMOUNT: u64 = 1;
/// 2026-01-01T00:00:00Z: InitChain's time; block h is h seconds later.
const GENESIS_TIME_SECONDS: i64 = 1_767_225_600;
/// Version of the chain this tool builds; part of what `--reuse` compares.
const CHAIN_FORMAT: u64 = 1;
const PARAMS_FILE: &str = "restart-bench.json";
const CONFIG_FILE: &str = "sluice.toml";
const LOG_FILE: &str = "sluice.log";
const NODE_DATA_DIR: &str = "sluice";
const STARTUP_MESSAGE: &str = "sluice node serving CometBFT over ABCI";
/// Startup-line fields every version prints and that say nothing about
/// how the node restarted; the rest are shown after each restart time.
const STARTUP_FIELDS_QUIET: &[&str] =
    &["version", "abci", "metrics", "data", "durability", "chain_id", "genesis_hash", "app_hash", "programs"];
const POLL: Duration = Duration::from_millis(2);
const VARINT_BYTES_MAX: usize = 10;
const RESPONSE_BYTES_MAX: u64 = 256 * 1024 * 1024;

#[derive(Parser)]
#[command(
    name = "sluice-node-restart",
    version,
    about = "Measure how long `sluice node` takes to restart on a chain of many committed transfers",
    long_about = "Builds a chain of signed system transfers by driving `sluice node` over its ABCI socket \
                  (Info, InitChain with a seeded genesis, FinalizeBlock + Commit per block; no CometBFT), \
                  then --restarts times kills the node with SIGKILL, starts it again and measures the wall \
                  time from spawn until Info on a fresh connection reports the chain's height.\n\n\
                  The data directory holds sluice.toml, the node's data (sluice/), its log (sluice.log) and \
                  restart-bench.json, which records the chain's parameters once it is complete.\n\n\
                  Prints one line per restart and `restart_ms median <ms> (runs: ...)`, or with --json one \
                  JSON object."
)]
struct Args {
    /// The `sluice` binary to run as the node.
    #[arg(long, default_value = "target/release/sluice")]
    sluice: PathBuf,
    /// Committed transfers in the chain.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    txs: u64,
    /// Transactions per block (the last block may hold fewer).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=BLOCK_TXS_MAX as u64))]
    block_txs: u64,
    /// Seeded genesis accounts; transfers go between them.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(2..=GENESIS_ACCOUNTS_MAX as i64))]
    accounts: u32,
    /// Measured restarts.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    restarts: u32,
    /// Data directory, kept after the run [default: a temporary directory,
    /// removed at the end].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Reuse the chain in --data if this tool built it there with the same
    /// parameters (DIR/restart-bench.json). The first start is then measured
    /// and reported apart, not counted among the restarts.
    #[arg(long, requires = "data")]
    reuse: bool,
    /// Text appended to the [storage] section of the generated sluice.toml,
    /// e.g. 'snapshot_interval_blocks = 100' (several lines allowed).
    /// Nothing by default: older binaries refuse unknown keys.
    #[arg(long, value_name = "TOML-LINES")]
    config_extra: Option<String>,
    /// Deadline for each wait: a node starting, or answering a request.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    timeout_secs: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// What identifies a chain this tool built; `--reuse` compares it.
#[derive(Clone, Debug, PartialEq)]
struct ChainParams {
    txs: u64,
    block_txs: u64,
    accounts: u32,
}

impl ChainParams {
    fn blocks(&self) -> u64 {
        self.txs.div_ceil(self.block_txs)
    }

    fn app_state(&self) -> String {
        json!({"seeded": {"seed": SEED.to_string(), "accounts": self.accounts, "balance": BALANCE.to_string()}})
            .to_string()
    }

    /// The fields `--reuse` compares.
    fn identity(&self) -> Value {
        json!({
            "format": CHAIN_FORMAT,
            "chain_id": CHAIN_ID,
            "app_state": self.app_state(),
            "txs": self.txs,
            "block_txs": self.block_txs,
            "amount": AMOUNT,
        })
    }
}

fn main() {
    let args = Args::parse();
    if let Err(error) = run(args) {
        eprintln!("sluice-node-restart: error: {error}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let params = ChainParams { txs: args.txs, block_txs: args.block_txs, accounts: args.accounts };
    let timeout = Duration::from_secs(args.timeout_secs);
    let sluice = std::fs::canonicalize(&args.sluice)
        .map_err(|e| format!("sluice binary {}: {e} (build it, or pass --sluice)", args.sluice.display()))?;
    // Removed when `run` returns, the node stopped.
    let mut temp = None;
    let dir = match &args.data {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            dir.clone()
        }
        None => temp
            .insert(
                tempfile::Builder::new()
                    .prefix("sluice-node-restart-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary directory: {e}"))?,
            )
            .path()
            .to_path_buf(),
    };
    let dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let node_data = dir.join(NODE_DATA_DIR);
    let log = dir.join(LOG_FILE);

    let recorded = if args.reuse { read_params(&dir)? } else { None };
    let reused = match &recorded {
        Some(recorded) if recorded["chain"] == params.identity() => {
            if !node_data.is_dir() {
                return Err(format!(
                    "{} records a chain but {} is missing",
                    dir.join(PARAMS_FILE).display(),
                    node_data.display()
                ));
            }
            Some(recorded.clone())
        }
        Some(recorded) => {
            return Err(format!(
                "{} holds a chain built with other parameters ({}); this run asks for {}: remove the directory, \
                 or drop --reuse and use another --data",
                dir.display(),
                recorded["chain"],
                params.identity()
            ))
        }
        None => None,
    };
    if reused.is_none() && node_data.exists() {
        return Err(format!(
            "{} already exists{}: remove it, or pass --reuse to reuse a complete chain built by this tool",
            node_data.display(),
            if args.reuse { " without a complete restart-bench.json" } else { "" }
        ));
    }

    let addr = free_loopback_addr()?;
    write_config(&dir, &node_data, addr, args.config_extra.as_deref())?;
    let config = dir.join(CONFIG_FILE);
    let progress = |line: String| eprintln!("sluice-node-restart: {line}");
    progress(format!(
        "{} txs in {} blocks of {}, {} genesis accounts; node {} on {addr}; data in {}",
        params.txs,
        params.blocks(),
        params.block_txs,
        params.accounts,
        sluice.display(),
        dir.display()
    ));

    let mut first_start = None;
    let (mut node, build) = match &reused {
        Some(recorded) => {
            progress(format!("reusing the chain recorded in {}", dir.join(PARAMS_FILE).display()));
            let (node, start) = start_node(&sluice, &config, &log, addr, params.blocks(), timeout)?;
            progress(format!("first start: {} ms", start.ms));
            first_start = Some(start);
            let build = BuildReport { build_ms: recorded["build_ms"].as_u64(), sign_ms: None, node_ms: None };
            (node, build)
        }
        None => {
            let (node, build) = build_chain(&params, &sluice, &config, &log, addr, timeout, &progress)?;
            let record = json!({
                "chain": params.identity(),
                "blocks": params.blocks(),
                "accounts": params.accounts,
                "build_ms": build.build_ms,
                "built_with": sluice.display().to_string(),
            });
            write_params(&dir, &record)?;
            (node, build)
        }
    };

    let mut restarts = Vec::new();
    for run in 1..=args.restarts {
        node.kill()?;
        let (next, start) = start_node(&sluice, &config, &log, addr, params.blocks(), timeout)?;
        node = next;
        progress(format!("restart {run}: {} ms", start.ms));
        restarts.push(start);
    }
    node.kill()?;

    let (data_bytes, data_disk_bytes) = dir_size(&node_data)?;
    let runs: Vec<u64> = restarts.iter().map(|r| r.ms).collect();
    let median = median(&runs);
    if args.json {
        let startup = |s: &Start| json!({"ms": s.ms, "line": s.line, "fields": s.fields});
        let report = json!({
            "sluice": sluice.display().to_string(),
            "chain_id": CHAIN_ID,
            "txs": params.txs,
            "blocks": params.blocks(),
            "block_txs": params.block_txs,
            "accounts": params.accounts,
            "data_dir": dir.display().to_string(),
            "data_bytes": data_bytes,
            "data_disk_bytes": data_disk_bytes,
            "reused": reused.is_some(),
            "build_ms": build.build_ms,
            "build_sign_ms": build.sign_ms,
            "build_node_ms": build.node_ms,
            "config_extra": args.config_extra,
            "first_start": first_start.as_ref().map(startup),
            "restart_ms": runs,
            "restart_ms_median": median,
            "restarts": restarts.iter().map(startup).collect::<Vec<_>>(),
        });
        println!("{report}");
    } else {
        println!(
            "chain {CHAIN_ID}: {} txs in {} blocks of {}, {} accounts",
            params.txs,
            params.blocks(),
            params.block_txs,
            params.accounts
        );
        match (reused.is_some(), build.build_ms) {
            (true, Some(ms)) => println!("chain reused (built earlier in {:.1} s)", ms as f64 / 1e3),
            (true, None) => println!("chain reused"),
            (false, ms) => println!(
                "chain built in {:.1} s (signing {:.1} s, node {:.1} s)",
                ms.unwrap_or(0) as f64 / 1e3,
                build.sign_ms.unwrap_or(0) as f64 / 1e3,
                build.node_ms.unwrap_or(0) as f64 / 1e3
            ),
        }
        println!(
            "data {:.1} MiB ({data_bytes} bytes; {data_disk_bytes} on disk) in {}",
            data_bytes as f64 / (1024.0 * 1024.0),
            node_data.display()
        );
        if let Some(start) = &first_start {
            println!("first start: {} ms{}", start.ms, start.describe());
        }
        for (run, start) in restarts.iter().enumerate() {
            println!("restart {}: {} ms{}", run + 1, start.ms, start.describe());
        }
        let list: Vec<String> = runs.iter().map(u64::to_string).collect();
        println!("restart_ms median {median} (runs: {})", list.join(", "));
    }
    Ok(())
}

struct BuildReport {
    build_ms: Option<u64>,
    sign_ms: Option<u64>,
    node_ms: Option<u64>,
}

/// Starts the node on a fresh data directory and commits the whole chain.
fn build_chain(
    params: &ChainParams,
    sluice: &Path,
    config: &Path,
    log: &Path,
    addr: SocketAddr,
    timeout: Duration,
    progress: &dyn Fn(String),
) -> Result<(NodeProcess, BuildReport), String> {
    let start = Instant::now();
    let genesis = Genesis::new(SEED, params.accounts).map_err(|e| e.to_string())?;
    let ids: Vec<AccountId> = (0..genesis.keys.len()).into_par_iter().map(|i| genesis.id(i)).collect();
    let app_state = params.app_state();
    // The node builds its genesis from app_state: check that the accounts
    // this tool signs for are the ones it funds.
    let built = genesis_state(app_state.as_bytes()).map_err(|e| format!("genesis: {e}"))?;
    if built.accounts != u64::from(params.accounts) {
        return Err(format!("genesis: app_state builds {} accounts, not {}", built.accounts, params.accounts));
    }
    if let Some(index) = ids.par_iter().position_any(|id| built.state.get(id).is_none_or(|a| a.balance != BALANCE)) {
        return Err(format!("genesis: account {index} of seed {SEED} is not funded by app_state"));
    }
    let genesis_root = built.state.root();
    drop(built);

    let mut node = NodeProcess::spawn(sluice, config, log)?;
    let deadline = Instant::now() + timeout;
    let mut abci = loop {
        match Abci::connect(addr, timeout) {
            Ok(abci) => break abci,
            Err(e) => node.wait_or_retry(deadline, &e)?,
        }
    };
    let info = abci.info()?;
    if info.last_block_height != 0 {
        return Err(format!("fresh node reports height {}, not 0", info.last_block_height));
    }
    let init = abci.call(request::Value::InitChain(RequestInitChain {
        time: Some(Timestamp { seconds: GENESIS_TIME_SECONDS, nanos: 0 }),
        chain_id: CHAIN_ID.to_string(),
        app_state_bytes: app_state.into_bytes().into(),
        initial_height: 1,
        ..Default::default()
    }))?;
    let response::Value::InitChain(init) = init else {
        return Err(format!("InitChain answered {}", name(&init)));
    };
    if init.app_hash.as_ref() != genesis_root.as_slice() {
        return Err("InitChain app hash differs from the genesis state root this tool computed".to_string());
    }

    let chain = ChainId::new(CHAIN_ID).map_err(|e| e.to_string())?;
    let (mut sign_time, mut node_time) = (Duration::ZERO, Duration::ZERO);
    let mut committed = 0u64;
    let blocks = params.blocks();
    let mut last_report = Instant::now();
    for height in 1..=blocks {
        let first = (height - 1) * params.block_txs;
        let last = (first + params.block_txs).min(params.txs);
        let signing = Instant::now();
        let txs: Vec<prost::bytes::Bytes> = (first..last)
            .into_par_iter()
            .map(|k| signed_tx(k, params.accounts, &genesis, &ids, &chain).into())
            .collect();
        sign_time += signing.elapsed();
        let count = txs.len();
        let executing = Instant::now();
        let finalized = abci.call(request::Value::FinalizeBlock(RequestFinalizeBlock {
            txs,
            height: height as i64,
            time: Some(Timestamp { seconds: GENESIS_TIME_SECONDS + height as i64, nanos: 0 }),
            ..Default::default()
        }))?;
        let response::Value::FinalizeBlock(finalized) = finalized else {
            return Err(format!("FinalizeBlock {height} answered {}", name(&finalized)));
        };
        if finalized.tx_results.len() != count {
            return Err(format!("FinalizeBlock {height}: {} results for {count} txs", finalized.tx_results.len()));
        }
        if let Some((index, result)) = finalized.tx_results.iter().enumerate().find(|(_, r)| r.code != 0) {
            return Err(format!(
                "FinalizeBlock {height}: tx {index} (transfer {}) failed with code {}: {}",
                first + index as u64,
                result.code,
                result.log
            ));
        }
        let commit = abci.call(request::Value::Commit(RequestCommit {}))?;
        if !matches!(commit, response::Value::Commit(_)) {
            return Err(format!("Commit {height} answered {}", name(&commit)));
        }
        node_time += executing.elapsed();
        committed += count as u64;
        if last_report.elapsed() >= Duration::from_secs(10) || height == blocks {
            last_report = Instant::now();
            progress(format!(
                "built {height}/{blocks} blocks, {committed} txs committed, {:.1} s",
                start.elapsed().as_secs_f64()
            ));
        }
    }
    if committed != params.txs {
        return Err(format!("committed {committed} txs, expected {}", params.txs));
    }
    drop(abci);
    // The height as a fresh connection sees it, as every restart checks.
    let info = Abci::connect(addr, timeout)?.info()?;
    if info.last_block_height != blocks as i64 {
        return Err(format!("after building, the node reports height {}, not {blocks}", info.last_block_height));
    }
    let report = BuildReport {
        build_ms: Some(start.elapsed().as_millis() as u64),
        sign_ms: Some(sign_time.as_millis() as u64),
        node_ms: Some(node_time.as_millis() as u64),
    };
    Ok((node, report))
}

/// Transfer `k`: signer `k mod accounts`, whose nonces run 0, 1, 2… in
/// transfer order, to a pseudo-random other account, so that blocks have
/// the sparse conflicts of a uniform workload.
fn signed_tx(k: u64, accounts: u32, genesis: &Genesis, ids: &[AccountId], chain: &ChainId) -> Vec<u8> {
    let (from, to) = transfer_pair(k, accounts);
    let nonce = k / u64::from(accounts);
    let mut tx = transfer(ids[from], ids[to], nonce, AMOUNT);
    sign(&mut tx, &genesis.keys[from], chain);
    tx.encode()
}

/// Signer and recipient of transfer `k`; `accounts` >= 2.
fn transfer_pair(k: u64, accounts: u32) -> (usize, usize) {
    let accounts = u64::from(accounts);
    let from = k % accounts;
    let to = (from + 1 + sluice_engine::splitmix64::hash(k) % (accounts - 1)) % accounts;
    (from as usize, to as usize)
}

/// One measured start: spawn to Info at the chain's height.
struct Start {
    ms: u64,
    /// The node's startup log line, if found.
    line: Option<String>,
    /// Its `key=value` fields.
    fields: Map<String, Value>,
}

impl Start {
    /// The startup fields that say how the node came back (height,
    /// snapshot_height, blocks_replayed…).
    fn describe(&self) -> String {
        let mut text = String::new();
        for (key, value) in &self.fields {
            if !STARTUP_FIELDS_QUIET.contains(&key.as_str()) {
                text.push_str(&format!("  {key}={}", value.as_str().unwrap_or_default()));
            }
        }
        if self.line.is_none() {
            text.push_str("  (no startup line in the log)");
        }
        text
    }
}

/// Spawns the node and waits until Info, on a fresh connection per try,
/// reports `height`.
fn start_node(
    sluice: &Path,
    config: &Path,
    log: &Path,
    addr: SocketAddr,
    height: u64,
    timeout: Duration,
) -> Result<(NodeProcess, Start), String> {
    let log_offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let spawned = Instant::now();
    let mut node = NodeProcess::spawn(sluice, config, log)?;
    let deadline = spawned + timeout;
    loop {
        let answer = Abci::connect(addr, timeout).and_then(|mut abci| abci.info());
        match answer {
            Ok(info) if info.last_block_height == height as i64 => break,
            Ok(info) if info.last_block_height > height as i64 => {
                return Err(format!(
                    "restarted node reports height {}, beyond the chain's {height}",
                    info.last_block_height
                ))
            }
            Ok(info) => node.wait_or_retry(deadline, &format!("Info reports height {}", info.last_block_height))?,
            Err(e) => node.wait_or_retry(deadline, &e)?,
        }
    }
    let ms = spawned.elapsed().as_millis() as u64;
    let line = startup_line(log, log_offset)?;
    let fields = line.as_deref().map(startup_fields).unwrap_or_default();
    Ok((node, Start { ms, line, fields }))
}

/// The startup line the node wrote since `offset`. It logs the line before
/// serving, so it is there once Info answers; a short grace covers a
/// binary that logs it later.
fn startup_line(log: &Path, offset: u64) -> Result<Option<String>, String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut file = File::open(log).map_err(|e| format!("{}: {e}", log.display()))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(|e| format!("{}: {e}", log.display()))?;
        let text = String::from_utf8_lossy(&text);
        if let Some(line) = text.lines().find(|line| line.contains(STARTUP_MESSAGE)) {
            return Ok(Some(line.trim().to_string()));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `key=value` fields after the message of a plain tracing line (or the
/// fields of a JSON one).
fn startup_fields(line: &str) -> Map<String, Value> {
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) {
        if let Some(Value::Object(fields)) = object.get("fields") {
            return fields
                .iter()
                .filter(|(key, _)| key.as_str() != "message")
                .map(|(key, value)| (key.clone(), Value::String(value.to_string().trim_matches('"').to_string())))
                .collect();
        }
    }
    let rest = line.split_once(STARTUP_MESSAGE).map_or("", |(_, rest)| rest);
    let mut fields = Map::new();
    let mut last: Option<String> = None;
    for token in rest.split_whitespace() {
        match token.split_once('=') {
            Some((key, value)) if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                // tracing quotes the Debug-formatted ones.
                let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
                fields.insert(key.to_string(), Value::String(value.to_string()));
                last = Some(key.to_string());
            }
            // A value with spaces: the token continues the previous field.
            _ => {
                if let Some(Value::String(value)) = last.as_ref().and_then(|key| fields.get_mut(key)) {
                    value.push(' ');
                    value.push_str(token);
                }
            }
        }
    }
    fields
}

/// The node process; killed (SIGKILL) and reaped when dropped, so an error
/// anywhere leaves no node behind.
struct NodeProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl NodeProcess {
    fn spawn(sluice: &Path, config: &Path, log: &Path) -> Result<NodeProcess, String> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(sluice)
            .arg("node")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", sluice.display()))?;
        Ok(NodeProcess { child: Some(child), log: log.to_path_buf() })
    }

    /// Fails if the node has exited or `deadline` has passed (`why`: the
    /// last failure); otherwise sleeps a poll interval.
    fn wait_or_retry(&mut self, deadline: Instant, why: &str) -> Result<(), String> {
        let child = self.child.as_mut().expect("a running node");
        if let Some(status) = child.try_wait().map_err(|e| format!("node: {e}"))? {
            self.child = None;
            return Err(format!(
                "the node exited ({status}) before it was ready; last: {why}; log: {}{}",
                self.log.display(),
                log_tail(&self.log)
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the node was not ready before the deadline; last: {why}; log: {}",
                self.log.display()
            ));
        }
        std::thread::sleep(POLL);
        Ok(())
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|e| format!("cannot kill the node: {e}"))?;
            child.wait().map_err(|e| format!("cannot reap the node: {e}"))?;
        }
        Ok(())
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(10)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!("\n{}", tail.join("\n"))
    }
}

/// One ABCI connection: length-delimited `Request`s out, `Response`s in.
struct Abci {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    timeout: Duration,
}

impl Abci {
    fn connect(addr: SocketAddr, timeout: Duration) -> Result<Abci, String> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5).min(timeout))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
        stream.set_read_timeout(Some(timeout)).map_err(|e| format!("set_read_timeout: {e}"))?;
        stream.set_write_timeout(Some(timeout)).map_err(|e| format!("set_write_timeout: {e}"))?;
        let reader = BufReader::with_capacity(1 << 20, stream.try_clone().map_err(|e| format!("{e}"))?);
        Ok(Abci { reader, writer: BufWriter::with_capacity(1 << 20, stream), timeout })
    }

    /// Sends one request and reads its response; an `Exception` is an error.
    fn call(&mut self, value: request::Value) -> Result<response::Value, String> {
        let what = request_name(&value);
        let bytes = Request { value: Some(value) }.encode_length_delimited_to_vec();
        self.writer.write_all(&bytes).and_then(|()| self.writer.flush()).map_err(|e| format!("{what}: write: {e}"))?;
        let len = read_varint(&mut self.reader).map_err(|e| format!("{what}: {e} (timeout {:?})", self.timeout))?;
        if len > RESPONSE_BYTES_MAX {
            return Err(format!("{what}: response of {len} bytes"));
        }
        let mut frame = vec![0u8; len as usize];
        self.reader.read_exact(&mut frame).map_err(|e| format!("{what}: read: {e}"))?;
        match Response::decode(frame.as_slice()).map_err(|e| format!("{what}: malformed response: {e}"))?.value {
            Some(response::Value::Exception(e)) => Err(format!("{what}: exception: {}", e.error)),
            Some(value) => Ok(value),
            None => Err(format!("{what}: empty response")),
        }
    }

    fn info(&mut self) -> Result<ResponseInfo, String> {
        match self.call(request::Value::Info(RequestInfo::default()))? {
            response::Value::Info(info) => Ok(info),
            other => Err(format!("Info answered {}", name(&other))),
        }
    }
}

fn read_varint(reader: &mut impl Read) -> Result<u64, String> {
    let mut value = 0u64;
    for index in 0..VARINT_BYTES_MAX {
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte).map_err(|e| format!("read length: {e}"))?;
        value |= u64::from(byte[0] & 0x7f) << (7 * index);
        if byte[0] & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("length prefix longer than 10 bytes".to_string())
}

fn request_name(value: &request::Value) -> &'static str {
    match value {
        request::Value::Info(_) => "Info",
        request::Value::InitChain(_) => "InitChain",
        request::Value::FinalizeBlock(_) => "FinalizeBlock",
        request::Value::Commit(_) => "Commit",
        _ => "request",
    }
}

/// A response's kind, for errors (a FinalizeBlock's Debug is megabytes).
fn name(value: &response::Value) -> String {
    let debug = format!("{value:?}");
    debug.split(['(', ' ', '{']).next().unwrap_or_default().to_string()
}

fn free_loopback_addr() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map_err(|e| format!("cannot find a free port: {e}"))
}

fn write_config(dir: &Path, node_data: &Path, addr: SocketAddr, extra: Option<&str>) -> Result<(), String> {
    let data = node_data.to_str().ok_or_else(|| format!("{} is not UTF-8", node_data.display()))?;
    // A JSON string is a TOML basic string for every path worth using.
    let mut text = format!(
        "# Written by sluice-node-restart.\n[abci]\nlisten = \"{addr}\"\n\n[storage]\ndata = {}\ndurability = \"sync\"\n",
        Value::String(data.to_string())
    );
    if let Some(extra) = extra {
        text.push_str(extra);
        text.push('\n');
    }
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_params(dir: &Path) -> Result<Option<Value>, String> {
    let path = dir.join(PARAMS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Written only once the chain is complete, and atomically.
fn write_params(dir: &Path, record: &Value) -> Result<(), String> {
    let path = dir.join(PARAMS_FILE);
    let temp = dir.join(format!("{PARAMS_FILE}.tmp"));
    let text = serde_json::to_string_pretty(record).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&temp, text).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    std::fs::rename(&temp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Apparent bytes and bytes allocated on disk under `dir`.
fn dir_size(dir: &Path) -> Result<(u64, u64), String> {
    use std::os::unix::fs::MetadataExt;
    let (mut bytes, mut disk) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let meta = entry.metadata().map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes += meta.len();
                disk += meta.blocks() * 512;
            }
        }
    }
    Ok((bytes, disk))
}

fn median(runs: &[u64]) -> u64 {
    let mut sorted = runs.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_startup_fields() {
        let line = "2026-01-01T00:00:00.000000Z  INFO sluice_engine::node: sluice node serving CometBFT over ABCI \
                    version=\"0.1.0\" abci=127.0.0.1:1 height=100 snapshot_height=100 blocks_replayed=0 \
                    programs=system(0),counter(7)";
        let fields = startup_fields(line);
        assert_eq!(fields["version"], "0.1.0");
        assert_eq!(fields["height"], "100");
        assert_eq!(fields["blocks_replayed"], "0");
        assert_eq!(fields["programs"], "system(0),counter(7)");
    }

    #[test]
    fn transfers_never_go_to_their_signer() {
        for accounts in [2u32, 3, 10] {
            for k in 0..1000u64 {
                let (from, to) = transfer_pair(k, accounts);
                assert!(from != to && from < accounts as usize && to < accounts as usize);
            }
        }
        assert_eq!(median(&[3, 1, 2]), 2);
        assert_eq!(median(&[4, 1, 2, 3]), 2);
    }
}
