//! `sluice load`: the chain's benchmark, in the manner of Solana's
//! bench-tps.
//!
//! 1. **Fund.** [`fund_genesis`] writes a key file of a random seed and
//!    adds the N load accounts it derives to a CometBFT genesis.json.
//! 2. **Sign ahead.** [`run`] reads the accounts' nonces in JSON-RPC
//!    batches, then signs every transfer it may send before the clock
//!    starts, on every core.
//! 3. **Submit** as fast as the chain accepts: to the nodes' ingest
//!    endpoints (`POST /v1/txs`, thousands per request), or to CometBFT's
//!    own mempool (`broadcast_tx_sync`, in JSON-RPC batches). A refusal
//!    for a full pool is retried; any other is final and counted by code.
//!    Submission to an endpoint waits while its pool holds its share of
//!    `pool_target` transactions (split evenly between endpoints), so
//!    queueing delay stays bounded.
//! 4. **Count** only what committed: after the run it reads every block
//!    and its results back from CometBFT's RPC, and matches the
//!    transactions by hash. A poller records when each height was first
//!    seen committed; a transaction's latency runs from the moment its
//!    request was sent to then.
//!
//! Accounts are split between endpoints (account i goes to endpoint
//! i mod E) and each endpoint's stream is sent in order, so a signer's
//! nonces always arrive in order.
//!
//! `--kvstore` drives CometBFT's own `abci-cli kvstore` with `key=value`
//! transactions of a Sluice transfer's size through the same path: the
//! baseline of what CometBFT itself commits on the machine.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde_json::{json, Value};

use super::ingest::IngestClient;
use super::rpc::CometRpc;
use super::send::FEE_DEFAULT;
use super::ClientError;
use crate::account::{AccountId, ProgramId};
use crate::genesis::{GenesisAccount, GenesisFile};
use crate::limits::RPC_BATCH_MAX;
pub use crate::limits::{
    DRAIN_TIMEOUT, LOAD_ACCOUNTS_MAX, LOAD_BATCH_DEFAULT, LOAD_BATCH_MAX, LOAD_DURATION_MAX, LOAD_TXS_MAX,
};
use crate::program::system;
use crate::tx::{comet_tx_hash, ChainId, TransactionBuilder};

/// Each load account's genesis balance unless `--balance` says.
pub const LOAD_BALANCE_DEFAULT: u64 = 1_000_000_000_000;
/// JSON-RPC batches in flight at once to one CometBFT endpoint: each
/// waits on its CheckTx calls, so one at a time would leave the node idle.
const RPC_BATCHES_IN_FLIGHT: usize = 8;
/// How often the height is polled while the run goes on.
const HEIGHT_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How often a submitter waiting on a full pool looks again.
const POOL_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// One HTTP request waits at most this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The key file's `kind`.
const LOAD_KEYS_KIND: &str = "sluice-load-keys";
/// ABCI code of a full pool or mempool (`node::CODE_MEMPOOL_FULL`): retried.
const CODE_MEMPOOL_FULL: u32 = 103;
/// ABCI code of a duplicate (`node::CODE_DUPLICATE`); CometBFT's mempool
/// answers its cache hit as an RPC error, counted under this code.
const CODE_DUPLICATE: u32 = 105;

/// The load accounts: N keys derived from one random seed. The file is
/// secret (mode 0600): whoever holds it can spend the accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadKeys {
    pub seed: [u8; 32],
    pub accounts: u32,
}

impl LoadKeys {
    pub fn generate(accounts: u32) -> LoadKeys {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill(&mut seed);
        LoadKeys { seed, accounts }
    }

    /// Account `index`'s signing key: blake3 keyed by the seed, of the index.
    pub fn key(&self, index: u32) -> SigningKey {
        SigningKey::from_bytes(blake3::keyed_hash(&self.seed, &index.to_le_bytes()).as_bytes())
    }

    pub fn ids(&self) -> Vec<AccountId> {
        (0..self.accounts).into_par_iter().map(|i| AccountId(self.key(i).verifying_key().to_bytes())).collect()
    }

    fn to_json(&self) -> String {
        let value = json!({"kind": LOAD_KEYS_KIND, "seed": hex::encode(self.seed), "accounts": self.accounts});
        serde_json::to_string_pretty(&value).expect("serializes") + "\n"
    }

    /// Writes a new key file, mode 0600; never overwrites one.
    pub fn write_new(&self, path: &Path) -> Result<(), ClientError> {
        super::keys::write_secret_file(path, self.to_json().as_bytes())
    }

    pub fn load(path: &Path) -> Result<LoadKeys, ClientError> {
        let text = super::keys::read_secret_file(path)?;
        let bad = |reason: String| ClientError::KeyFile { path: path.to_path_buf(), reason };
        let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        if value["kind"] != LOAD_KEYS_KIND {
            return Err(bad(format!("kind: expected {LOAD_KEYS_KIND:?}: not a load key file")));
        }
        let mut seed = [0u8; 32];
        hex::decode_to_slice(value["seed"].as_str().unwrap_or_default(), &mut seed)
            .map_err(|_| bad("seed: expected 64 hex digits".into()))?;
        let accounts = value["accounts"].as_u64().filter(|&n| (1..=u64::from(LOAD_ACCOUNTS_MAX)).contains(&n));
        let accounts = accounts.ok_or_else(|| bad(format!("accounts: expected 1..={LOAD_ACCOUNTS_MAX}")))?;
        Ok(LoadKeys { seed, accounts: accounts as u32 })
    }
}

/// Adds the accounts of `keys_path` (made now, with `accounts` accounts,
/// if the file does not exist) to genesis.json at `genesis_path`, each
/// with `balance`. Nothing is written if any check fails.
pub fn fund_genesis(
    genesis_path: &Path,
    keys_path: &Path,
    accounts: u32,
    balance: u64,
) -> Result<LoadKeys, ClientError> {
    if !(1..=LOAD_ACCOUNTS_MAX).contains(&accounts) {
        return Err(ClientError::invalid("--accounts", format!("{accounts} is not 1..={LOAD_ACCOUNTS_MAX}")));
    }
    let existing = keys_path.exists();
    let keys = match existing {
        true => LoadKeys::load(keys_path)?,
        false => LoadKeys::generate(accounts),
    };
    if keys.accounts != accounts {
        return Err(ClientError::invalid(
            "--accounts",
            format!("{} holds {} accounts, not {accounts}", keys_path.display(), keys.accounts),
        ));
    }
    let genesis_error = |e: crate::genesis::GenesisError| ClientError::invalid("--fund-genesis", e.to_string());
    let mut genesis = GenesisFile::load(genesis_path).map_err(genesis_error)?;
    let listed: Vec<GenesisAccount> = keys
        .ids()
        .into_iter()
        .map(|id| GenesisAccount { id, balance, owner: ProgramId::SYSTEM, data: Vec::new() })
        .collect();
    genesis.add_accounts(&listed).map_err(genesis_error)?;
    if !existing {
        keys.write_new(keys_path)?;
    }
    genesis.save().map_err(genesis_error)?;
    Ok(keys)
}

/// What a load run sends, where, and for how long.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// CometBFT RPC addresses: the first is read for heights and blocks;
    /// without `ingest`, transactions go to all of them.
    pub rpc: Vec<String>,
    /// Ingest endpoints (`[ingest] listen`); empty: CometBFT's mempool.
    pub ingest: Vec<String>,
    /// The funded accounts; `None` with `kvstore`.
    pub keys: Option<LoadKeys>,
    pub duration: Duration,
    /// Transactions signed ahead; submission stops early if they run out.
    pub txs: usize,
    pub batch: usize,
    /// Submission waits while a pool or mempool holds its share of this
    /// many (split evenly between the endpoints).
    pub pool_target: u64,
    /// `key=value` transactions for CometBFT's kvstore app instead.
    pub kvstore: bool,
    /// Seeds the choice of recipients and kvstore values.
    pub seed: u64,
    /// Prints a progress line every few seconds to stderr.
    pub progress: bool,
}

/// What a run measured. Every count comes from the committed blocks,
/// except `submitted` and `rejected`, which are the endpoints' answers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    pub target: String,
    pub submit_path: String,
    pub endpoints: usize,
    pub accounts: u32,
    pub signed: usize,
    /// Distinct transactions sent (a retried one counts once).
    pub submitted: u64,
    /// Final refusals by code (a full pool is retried, not counted).
    pub rejected: BTreeMap<u32, u64>,
    /// Committed with code 0.
    pub committed: u64,
    /// Committed with a non-zero code, by code.
    pub failed: BTreeMap<u32, u64>,
    /// Committed with code 0 in blocks first seen within the window: the
    /// duration, or, when the signed transactions ran out first, until the
    /// last commit.
    pub committed_in_window: u64,
    pub window_s: f64,
    pub committed_tps: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub blocks: u64,
    pub height_first: u64,
    pub height_last: u64,
    /// The signed transactions ran out before the duration did.
    pub txs_exhausted: bool,
    /// The drain deadline passed with transactions still pooled.
    pub drain_timed_out: bool,
}

impl LoadReport {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    pub fn to_json(&self) -> Value {
        let by_code = |map: &BTreeMap<u32, u64>| -> Value {
            map.iter().map(|(code, n)| (code.to_string(), Value::from(*n))).collect::<serde_json::Map<_, _>>().into()
        };
        json!({
            "target": self.target,
            "submit_path": self.submit_path,
            "endpoints": self.endpoints,
            "accounts": self.accounts,
            "signed": self.signed,
            "submitted": self.submitted,
            "rejected": by_code(&self.rejected),
            "rejected_total": self.rejected_total(),
            "committed": self.committed,
            "failed": by_code(&self.failed),
            "failed_total": self.failed_total(),
            "committed_in_window": self.committed_in_window,
            "window_s": self.window_s,
            "committed_tps": self.committed_tps,
            "latency_ms_p50": self.latency_ms_p50,
            "latency_ms_p99": self.latency_ms_p99,
            "blocks": self.blocks,
            "txs_per_block_mean": self.txs_per_block_mean(),
            "height_first": self.height_first,
            "height_last": self.height_last,
            "txs_exhausted": self.txs_exhausted,
            "drain_timed_out": self.drain_timed_out,
        })
    }

    pub fn txs_per_block_mean(&self) -> f64 {
        let txs = self.committed + self.failed_total();
        if self.blocks == 0 {
            0.0
        } else {
            txs as f64 / self.blocks as f64
        }
    }
}

/// One endpoint's transactions, signed ahead, in send order.
struct Stream {
    txs: Vec<Vec<u8>>,
}

/// When each request was sent, and which request each admitted
/// transaction rode in, keyed by CometBFT's hash.
#[derive(Default)]
struct Sent {
    request_times: Vec<Instant>,
    by_hash: HashMap<[u8; 32], u32>,
    submitted: u64,
    rejected: BTreeMap<u32, u64>,
}

/// Runs the load and reads back what committed.
pub fn run(config: &LoadConfig) -> Result<LoadReport, ClientError> {
    check_config(config)?;
    let reader = CometRpc::new(&config.rpc[0], REQUEST_TIMEOUT)?;
    let status = reader.status()?;
    let endpoints = if config.ingest.is_empty() { &config.rpc } else { &config.ingest };
    let streams = sign_streams(config, &reader, &status.chain_id, endpoints.len())?;
    let signed = streams.iter().map(|s| s.txs.len()).sum();
    let height_first = reader.status()?.latest_height;
    let heights = Mutex::new(vec![(height_first, Instant::now())]);
    let sent = Mutex::new(Sent::default());
    let stop_polling = AtomicBool::new(false);
    let start = Instant::now();
    let deadline = start + config.duration;
    let exhausted = AtomicBool::new(false);
    let submitted_progress = AtomicU64::new(0);
    let (submit_end, drained) = std::thread::scope(|scope| {
        scope.spawn(|| poll_heights(&config.rpc[0], &heights, &stop_polling));
        if config.progress {
            scope.spawn(|| print_progress(start, deadline, &heights, &submitted_progress, &stop_polling));
        }
        let workers: Vec<_> = streams
            .iter()
            .zip(endpoints)
            .map(|(stream, url)| {
                let (sent, exhausted, submitted) = (&sent, &exhausted, &submitted_progress);
                scope.spawn(move || {
                    let ran_out = submit_stream(config, url, stream, deadline, sent, submitted)?;
                    exhausted.fetch_or(ran_out, Relaxed);
                    Ok::<(), ClientError>(())
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().expect("submitter panicked")).collect();
        let submit_end = Instant::now().min(deadline);
        let drained = results.iter().all(Result::is_ok) && drain(config, endpoints, submit_end + DRAIN_TIMEOUT);
        stop_polling.store(true, Relaxed);
        results.into_iter().collect::<Result<(), _>>().map(|()| (submit_end, drained))
    })?;
    let heights = heights.into_inner().expect("poller");
    let sent = sent.into_inner().expect("submitters");
    let height_last = reader.status()?.latest_height;
    // The window is the duration while submission lasted it; when the
    // signed transactions ran out first, it runs until the last commit.
    let txs_exhausted = exhausted.load(Relaxed);
    let window_end = (!txs_exhausted).then_some(submit_end);
    let mut report = tally(&reader, &sent, &heights, height_first, height_last, start, window_end)?;
    report.txs_exhausted = txs_exhausted;
    report.drain_timed_out = !drained;
    report.target = if config.kvstore { "kvstore" } else { "sluice" }.to_string();
    report.submit_path = if config.ingest.is_empty() { "cometbft-mempool" } else { "ingest" }.to_string();
    report.endpoints = endpoints.len();
    report.accounts = config.keys.as_ref().map_or(0, |k| k.accounts);
    report.signed = signed;
    Ok(report)
}

fn check_config(config: &LoadConfig) -> Result<(), ClientError> {
    if config.rpc.is_empty() {
        return Err(ClientError::invalid("--rpc", "at least one CometBFT RPC address is needed"));
    }
    if config.duration.is_zero() || config.duration > LOAD_DURATION_MAX {
        return Err(ClientError::invalid("--duration", format!("must be 1..={} s", LOAD_DURATION_MAX.as_secs())));
    }
    if !(1..=LOAD_TXS_MAX).contains(&config.txs) {
        return Err(ClientError::invalid("--txs", format!("must be 1..={LOAD_TXS_MAX}")));
    }
    if !(1..=LOAD_BATCH_MAX).contains(&config.batch) {
        return Err(ClientError::invalid("--batch", format!("must be 1..={LOAD_BATCH_MAX}")));
    }
    if config.keys.is_none() && !config.kvstore {
        return Err(ClientError::invalid("--keys", "a load key file is needed (sluice load --fund-genesis)"));
    }
    Ok(())
}

/// Signs every transaction ahead, split into one stream per endpoint.
fn sign_streams(
    config: &LoadConfig,
    reader: &CometRpc,
    chain_id: &str,
    endpoints: usize,
) -> Result<Vec<Stream>, ClientError> {
    let txs: Vec<(usize, Vec<u8>)> = match (&config.keys, config.kvstore) {
        (Some(keys), false) => {
            let chain = ChainId::new(chain_id)
                .map_err(|e| ClientError::invalid("--rpc", format!("the node's chain id: {e}")))?;
            sign_transfers(config, reader, keys, &chain)?
        }
        _ => kvstore_txs(config),
    };
    let mut streams: Vec<Stream> = (0..endpoints).map(|_| Stream { txs: Vec::new() }).collect();
    for (account, tx) in txs {
        streams[account % endpoints].txs.push(tx);
    }
    Ok(streams)
}

/// Transfer k is sent by account k mod N with that account's next nonce,
/// to a random other load account, so consecutive transactions have
/// distinct signers and each block touches many accounts.
fn sign_transfers(
    config: &LoadConfig,
    reader: &CometRpc,
    keys: &LoadKeys,
    chain: &ChainId,
) -> Result<Vec<(usize, Vec<u8>)>, ClientError> {
    let accounts = keys.accounts as usize;
    let ids = keys.ids();
    let nonces = read_nonces(reader, &ids)?;
    let signing: Vec<SigningKey> = (0..keys.accounts).into_par_iter().map(|i| keys.key(i)).collect();
    let txs = (0..config.txs)
        .into_par_iter()
        .map(|k| {
            let from = k % accounts;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ (k as u64).wrapping_mul(0x9e37_79b9));
            let to = (from + 1 + rng.gen_range(0..accounts.max(2) - 1)) % accounts;
            let nonce = nonces[from] + (k / accounts) as u64;
            let builder = TransactionBuilder::new(ids[from], nonce, FEE_DEFAULT).instruction(
                ProgramId::SYSTEM,
                &[(ids[from], true), (ids[to], true)],
                system::transfer_data(1),
            );
            let tx =
                builder.sign(&signing[from], chain).map_err(|e| ClientError::invalid("transfer", e.to_string()))?;
            // encode() reserves TX_BYTES_MAX; millions of transfers held
            // ahead must cost their own size, not six times it.
            let mut bytes = tx.encode();
            bytes.shrink_to_fit();
            Ok((from, bytes))
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    Ok(txs)
}

/// The committed nonce of each account, in JSON-RPC batches of
/// `abci_query`; an account missing from state is refused by name.
fn read_nonces(reader: &CometRpc, ids: &[AccountId]) -> Result<Vec<u64>, ClientError> {
    let mut nonces = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(RPC_BATCH_MAX) {
        let calls: Vec<(&str, Value)> = chunk
            .iter()
            .map(|id| {
                let path = format!("/account/{}", hex::encode(id.0));
                ("abci_query", json!({"path": path, "data": "", "height": "0", "prove": false}))
            })
            .collect();
        for (id, answer) in chunk.iter().zip(reader.call_batch(&calls)?) {
            let response = answer?;
            let value = response.pointer("/response/value").and_then(Value::as_str).unwrap_or_default();
            let account: Value =
                BASE64.decode(value).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or(Value::Null);
            if account["exists"] == false || account.is_null() {
                let height = response.pointer("/response/height").and_then(Value::as_str).and_then(|h| h.parse().ok());
                return Err(ClientError::UnknownAccount { id: *id, height: height.unwrap_or(0) });
            }
            nonces.push(account["nonce"].as_u64().unwrap_or(0));
        }
    }
    Ok(nonces)
}

/// `key=value` transactions of a Sluice transfer's size, unique per run.
fn kvstore_txs(config: &LoadConfig) -> Vec<(usize, Vec<u8>)> {
    let size = transfer_size();
    let run = config.seed;
    (0..config.txs)
        .into_par_iter()
        .map(|k| {
            let mut tx = format!("load{run:016x}{k:012x}=").into_bytes();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(run ^ k as u64);
            while tx.len() < size {
                tx.push(b"0123456789abcdef"[rng.gen_range(0..16)]);
            }
            tx.shrink_to_fit();
            (k, tx)
        })
        .collect()
}

/// Bytes of one signed load transfer.
pub fn transfer_size() -> usize {
    let key = SigningKey::from_bytes(&[7; 32]);
    let (from, to) = (AccountId(key.verifying_key().to_bytes()), AccountId([2; 32]));
    let builder = TransactionBuilder::new(from, 0, FEE_DEFAULT).instruction(
        ProgramId::SYSTEM,
        &[(from, true), (to, true)],
        system::transfer_data(1),
    );
    builder.sign(&key, &ChainId::default()).expect("a transfer signs").encode().len()
}

/// Records when each new height was first seen, until told to stop.
fn poll_heights(url: &str, heights: &Mutex<Vec<(u64, Instant)>>, stop: &AtomicBool) {
    let Ok(rpc) = CometRpc::new(url, REQUEST_TIMEOUT) else { return };
    while !stop.load(Relaxed) {
        if let Ok(status) = rpc.status() {
            let mut heights = heights.lock().expect("poller");
            if heights.last().is_some_and(|&(h, _)| status.latest_height > h) {
                heights.push((status.latest_height, Instant::now()));
            }
        }
        std::thread::sleep(HEIGHT_POLL_INTERVAL);
    }
}

fn print_progress(
    start: Instant,
    deadline: Instant,
    heights: &Mutex<Vec<(u64, Instant)>>,
    submitted: &AtomicU64,
    stop: &AtomicBool,
) {
    let mut next = start + Duration::from_secs(5);
    while !stop.load(Relaxed) && Instant::now() < deadline + DRAIN_TIMEOUT {
        if Instant::now() >= next {
            let height = heights.lock().expect("poller").last().map_or(0, |&(h, _)| h);
            eprintln!(
                "[{:6.1} s] height {height}, submitted {}",
                start.elapsed().as_secs_f64(),
                submitted.load(Relaxed)
            );
            next += Duration::from_secs(5);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends one stream in order until it or the time runs out; returns
/// whether it ran out of transactions first.
fn submit_stream(
    config: &LoadConfig,
    url: &str,
    stream: &Stream,
    deadline: Instant,
    sent: &Mutex<Sent>,
    submitted: &AtomicU64,
) -> Result<bool, ClientError> {
    let endpoint = Endpoint::new(url, !config.ingest.is_empty())?;
    let endpoints = if config.ingest.is_empty() { config.rpc.len() } else { config.ingest.len() } as u64;
    let pool_share = (config.pool_target / endpoints).max(1);
    for chunk in stream.txs.chunks(config.batch) {
        let mut pending: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        let mut first_try = true;
        while !pending.is_empty() {
            let in_time = Instant::now() < deadline && endpoint.wait_below(pool_share, deadline)?;
            if !in_time {
                // Retries still refused for a full pool when time ran out
                // were sent: their last answer is final.
                if !first_try {
                    *sent.lock().expect("submitters").rejected.entry(CODE_MEMPOOL_FULL).or_default() +=
                        pending.len() as u64;
                }
                return Ok(false);
            }
            let sent_at = Instant::now();
            let verdicts = endpoint.submit(&pending)?;
            let mut retry = Vec::new();
            let mut sent = sent.lock().expect("submitters");
            let request = sent.request_times.len() as u32;
            sent.request_times.push(sent_at);
            if first_try {
                sent.submitted += pending.len() as u64;
                submitted.fetch_add(pending.len() as u64, Relaxed);
            }
            for (tx, verdict) in pending.iter().zip(verdicts) {
                match verdict {
                    0 => {
                        sent.by_hash.insert(comet_tx_hash(tx), request);
                    }
                    CODE_MEMPOOL_FULL => retry.push(*tx),
                    code => *sent.rejected.entry(code).or_default() += 1,
                }
            }
            drop(sent);
            if !retry.is_empty() {
                std::thread::sleep(POOL_POLL_INTERVAL);
            }
            pending = retry;
            first_try = false;
        }
    }
    Ok(true)
}

/// Waits, up to `deadline`, until every endpoint's pool is empty and
/// two more blocks committed; returns whether it got there in time.
fn drain(config: &LoadConfig, endpoints: &[String], deadline: Instant) -> bool {
    let ingest = !config.ingest.is_empty();
    let Ok(endpoints) = endpoints.iter().map(|url| Endpoint::new(url, ingest)).collect::<Result<Vec<_>, _>>() else {
        return false;
    };
    let all_empty = endpoints.iter().all(|e| e.wait_below(1, deadline).unwrap_or(false));
    let Ok(reader) = CometRpc::new(&config.rpc[0], REQUEST_TIMEOUT) else { return false };
    let Ok(status) = reader.status() else { return false };
    while Instant::now() < deadline {
        if reader.status().is_ok_and(|s| s.latest_height >= status.latest_height + 2) {
            return all_empty;
        }
        std::thread::sleep(HEIGHT_POLL_INTERVAL);
    }
    false
}

/// Where transactions go: a node's ingest endpoint, or CometBFT's RPC.
enum Endpoint {
    Ingest(IngestClient),
    Comet(CometRpc),
}

impl Endpoint {
    fn new(url: &str, ingest: bool) -> Result<Endpoint, ClientError> {
        Ok(match ingest {
            true => Endpoint::Ingest(IngestClient::new(url, REQUEST_TIMEOUT)?),
            false => Endpoint::Comet(CometRpc::new(url, REQUEST_TIMEOUT)?),
        })
    }

    /// Each transaction's code: 0 admitted, 103 full (retry), else refused.
    fn submit(&self, txs: &[&[u8]]) -> Result<Vec<u32>, ClientError> {
        match self {
            Endpoint::Ingest(ingest) => Ok(ingest.submit(txs)?.into_iter().map(|(code, _)| code).collect()),
            Endpoint::Comet(rpc) => submit_rpc(rpc, txs),
        }
    }

    fn pooled(&self) -> Result<u64, ClientError> {
        match self {
            Endpoint::Ingest(ingest) => ingest.pool_txs(),
            Endpoint::Comet(rpc) => rpc.unconfirmed_txs(),
        }
    }

    /// Waits until fewer than `target` transactions are pooled (true), or
    /// until `deadline` (false).
    fn wait_below(&self, target: u64, deadline: Instant) -> Result<bool, ClientError> {
        while self.pooled()? >= target {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(POOL_POLL_INTERVAL);
        }
        Ok(true)
    }
}

/// `broadcast_tx_sync` in batches, several batches in flight. A chunk
/// holds distinct signers (the stream is ordered account by account), so
/// their order within it does not matter.
fn submit_rpc(rpc: &CometRpc, txs: &[&[u8]]) -> Result<Vec<u32>, ClientError> {
    let batches: Vec<&[&[u8]]> = txs.chunks(RPC_BATCH_MAX).collect();
    let next = AtomicU64::new(0);
    let mut answers: Vec<(usize, BatchAnswer)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..RPC_BATCHES_IN_FLIGHT.min(batches.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut answers = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Relaxed) as usize;
                        let Some(batch) = batches.get(index) else { return answers };
                        answers.push((index, broadcast_batch(rpc, batch)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("submitter panicked")).collect()
    });
    answers.sort_by_key(|(index, _)| *index);
    debug_assert_eq!(answers.len(), batches.len());
    let mut codes = Vec::with_capacity(txs.len());
    for (_, answer) in answers {
        codes.extend(answer?);
    }
    Ok(codes)
}

/// One batch's codes, or why the batch failed.
type BatchAnswer = Result<Vec<u32>, ClientError>;

fn broadcast_batch(rpc: &CometRpc, txs: &[&[u8]]) -> Result<Vec<u32>, ClientError> {
    let calls: Vec<(&str, Value)> =
        txs.iter().map(|tx| ("broadcast_tx_sync", json!({"tx": BASE64.encode(tx)}))).collect();
    let mut codes = Vec::with_capacity(txs.len());
    for answer in rpc.call_batch(&calls)? {
        codes.push(match answer {
            Ok(result) => result["code"].as_u64().unwrap_or(0) as u32,
            Err(ClientError::Rpc { message, .. }) if message.contains("mempool is full") => CODE_MEMPOOL_FULL,
            Err(ClientError::Rpc { message, .. }) if message.contains("already exists in cache") => CODE_DUPLICATE,
            Err(error) => return Err(error),
        });
    }
    Ok(codes)
}

/// Reads every block after `height_first` and its results, and counts
/// what the load sent.
fn tally(
    reader: &CometRpc,
    sent: &Sent,
    heights: &[(u64, Instant)],
    height_first: u64,
    height_last: u64,
    start: Instant,
    window_end: Option<Instant>,
) -> Result<LoadReport, ClientError> {
    let blocks: Vec<(u64, Vec<Vec<u8>>, Vec<u32>)> = (height_first + 1..=height_last)
        .into_par_iter()
        .map(|h| Ok((h, reader.block(h)?.txs, reader.block_result_codes(h)?)))
        .collect::<Result<_, ClientError>>()?;
    let seen_at = |height: u64| heights.iter().find(|&&(h, _)| h >= height).map_or_else(Instant::now, |&(_, at)| at);
    let mut report = LoadReport {
        submitted: sent.submitted,
        rejected: sent.rejected.clone(),
        height_first,
        height_last,
        ..LoadReport::default()
    };
    let mut latencies_ms = Vec::new();
    let mut last_commit = start;
    for (height, txs, codes) in &blocks {
        if txs.len() != codes.len() {
            let reason = format!("block {height} has {} txs but {} results", txs.len(), codes.len());
            return Err(ClientError::BadResponse { url: reader.url().into(), method: "block_results".into(), reason });
        }
        let at = seen_at(*height);
        let mut ours = 0;
        for (tx, &code) in txs.iter().zip(codes) {
            let Some(&request) = sent.by_hash.get(&comet_tx_hash(tx)) else { continue };
            ours += 1;
            latencies_ms.push(at.saturating_duration_since(sent.request_times[request as usize]).as_secs_f64() * 1e3);
            if code != 0 {
                *report.failed.entry(code).or_default() += 1;
                continue;
            }
            report.committed += 1;
            last_commit = last_commit.max(at);
            if window_end.is_none_or(|end| at <= end) {
                report.committed_in_window += 1;
            }
        }
        report.blocks += u64::from(ours > 0);
    }
    report.window_s = window_end.unwrap_or(last_commit).duration_since(start).as_secs_f64();
    report.committed_tps = report.committed_in_window as f64 / report.window_s.max(1e-9);
    latencies_ms.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        latencies_ms
            .get(((latencies_ms.len() as f64 * p) as usize).min(latencies_ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    report.latency_ms_p50 = percentile(0.50);
    report.latency_ms_p99 = percentile(0.99);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_keys_round_trip_and_derive_distinct_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load-keys.json");
        let keys = LoadKeys::generate(3);
        keys.write_new(&path).unwrap();
        assert_eq!(LoadKeys::load(&path).unwrap(), keys);
        assert_eq!(keys.write_new(&path).unwrap_err().name(), "key_file_exists");
        let ids = keys.ids();
        assert_eq!(ids.len(), 3);
        assert!(ids[0] != ids[1] && ids[1] != ids[2]);
        assert_ne!(LoadKeys::generate(3).ids()[0], ids[0], "each file has its own random seed");
        crate::client::keys::write_secret_file(&dir.path().join("other.json"), b"{\"kind\":\"x\"}").unwrap();
        let wrong = LoadKeys::load(&dir.path().join("other.json")).unwrap_err();
        assert!(wrong.to_string().contains("kind"), "{wrong}");
    }

    #[test]
    fn kvstore_transactions_are_valid_kv_pairs_of_a_transfer_size() {
        let config = LoadConfig {
            rpc: vec!["http://127.0.0.1:1".into()],
            ingest: vec![],
            keys: None,
            duration: Duration::from_secs(1),
            txs: 50,
            batch: 10,
            pool_target: 10,
            kvstore: true,
            seed: 9,
            progress: false,
        };
        let txs = kvstore_txs(&config);
        let size = transfer_size();
        let mut distinct = std::collections::HashSet::new();
        for (_, tx) in &txs {
            assert_eq!(tx.len(), size);
            assert_eq!(tx.iter().filter(|&&b| b == b'=').count(), 1);
            assert!(!tx.starts_with(b"=") && !tx.ends_with(b"="));
            distinct.insert(tx.clone());
        }
        assert_eq!(distinct.len(), 50);
    }

    #[test]
    fn config_limits_are_named() {
        let mut config = LoadConfig {
            rpc: vec![],
            ingest: vec![],
            keys: Some(LoadKeys::generate(1)),
            duration: Duration::from_secs(1),
            txs: 1,
            batch: 1,
            pool_target: 1,
            kvstore: false,
            seed: 0,
            progress: false,
        };
        assert!(check_config(&config).unwrap_err().to_string().contains("--rpc"));
        config.rpc = vec!["http://127.0.0.1:1".into()];
        config.duration = LOAD_DURATION_MAX + Duration::from_secs(1);
        assert!(check_config(&config).unwrap_err().to_string().contains("--duration"));
        config.duration = Duration::from_secs(1);
        config.batch = LOAD_BATCH_MAX + 1;
        assert!(check_config(&config).unwrap_err().to_string().contains("--batch"));
    }
}
