//! Support for the chain-node tests: a local CometBFT network driven by
//! `scripts/cometbft-localnet.sh` (and full nodes joined to it by
//! `scripts/cometbft-statesync-join.sh`), its processes, and its RPC
//! (through the client library, `sluice_engine::client::CometRpc`).
//!
//! Everything is bounded: every wait has a deadline, every HTTP call a
//! timeout, and every process started here is killed when its handle
//! drops, so a failing test leaves nothing running.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_engine::account::AccountId;
use sluice_engine::client::CometRpc;
use sluice_engine::exec::execute_block_serial;
use sluice_engine::ingest;
use sluice_engine::program::ProgramRegistry;
use sluice_engine::state::{genesis_key, Genesis, State};
use sluice_engine::tx::{self, ChainId};
use sluice_engine::workload;

/// Genesis of the networks the script creates (its defaults).
pub const GENESIS_SEED: u64 = 1;
pub const GENESIS_ACCOUNTS: u32 = 1000;
/// Bounds a node's start, and one block.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
const INCLUDE_TIMEOUT: Duration = Duration::from_secs(120);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The `cometbft` binary, or `None` (with a printed reason) when it is
/// absent and `SLUICE_REQUIRE_COMETBFT` is unset. With the variable set,
/// absence is a failure: CI must never skip silently.
pub fn cometbft_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_cometbft();
    if found.is_none() {
        assert!(
            std::env::var_os("SLUICE_REQUIRE_COMETBFT").is_none(),
            "{test}: SLUICE_REQUIRE_COMETBFT is set but no cometbft binary is on PATH or in $(go env GOPATH)/bin; \
             run scripts/install-cometbft.sh"
        );
        println!("SKIPPED {test}: cometbft not found (run scripts/install-cometbft.sh; set SLUICE_REQUIRE_COMETBFT=1 to fail instead)");
    }
    found
}

fn find_cometbft() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(gopath) = std::env::var_os("GOPATH") {
        dirs.push(PathBuf::from(gopath).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join("go/bin"));
    }
    dirs.into_iter().map(|dir| dir.join("cometbft")).find(|bin| bin.is_file())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_path_buf()
}

/// A process that is killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open log");
        let err = out.try_clone().expect("clone log");
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        Proc { child: command.spawn().unwrap_or_else(|e| panic!("spawn {command:?}: {e}")) }
    }

    /// `kill -9`, then reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kill -9` a validator's application, as a crash would; CometBFT stops
/// itself once its application connection dies (and is stopped if it has
/// not within 30 s).
pub fn kill_app_then_cometbft(app: Proc, mut cometbft: Proc) {
    app.kill();
    if !cometbft.wait_exit(Duration::from_secs(30)) {
        println!("cometbft did not exit by itself after the app died; stopping it");
    }
    cometbft.kill();
}

/// One node (a validator, or a full node joined by
/// [`Localnet::join_statesync`]): its home directory and its two processes.
pub struct Validator {
    pub home: PathBuf,
    pub rpc_port: u16,
    pub sluice: Option<Proc>,
    pub cometbft: Option<Proc>,
    cometbft_bin: PathBuf,
}

impl Validator {
    fn new(home: PathBuf, rpc_port: u16, cometbft_bin: &Path) -> Validator {
        Validator { home, rpc_port, sluice: None, cometbft: None, cometbft_bin: cometbft_bin.to_path_buf() }
    }

    /// `sluice node --config HOME/sluice.toml`, as the script prints.
    pub fn start_sluice(&mut self) {
        assert!(self.sluice.is_none());
        let mut command = Command::new(crate::sluice_bin());
        command.arg("node").arg("--config").arg(self.home.join("sluice.toml"));
        self.sluice = Some(Proc::spawn(command, &self.home.join("sluice.log")));
    }

    /// `cometbft start --home HOME`, as the script prints.
    pub fn start_cometbft(&mut self) {
        assert!(self.cometbft.is_none());
        let mut command = Command::new(&self.cometbft_bin);
        command.arg("start").arg("--home").arg(&self.home);
        self.cometbft = Some(Proc::spawn(command, &self.home.join("cometbft.log")));
    }

    pub fn start(&mut self) {
        self.start_sluice();
        self.start_cometbft();
    }

    /// `kill -9` the Sluice node, then CometBFT ([`kill_app_then_cometbft`]).
    pub fn kill_sluice(&mut self) {
        kill_app_then_cometbft(self.sluice.take().expect("running"), self.cometbft.take().expect("running"));
    }

    pub fn stop(&mut self) {
        if let Some(p) = self.cometbft.take() {
            p.kill();
        }
        if let Some(p) = self.sluice.take() {
            p.kill();
        }
    }

    pub fn rpc(&self) -> CometRpc {
        rpc(self.rpc_port)
    }

    pub fn height(&self) -> Option<u64> {
        self.rpc().status().ok().map(|status| status.latest_height)
    }

    /// Tail of both logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |name: &str| {
            let text = std::fs::read_to_string(self.home.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        format!("--- sluice.log\n{}\n--- cometbft.log\n{}", tail("sluice.log"), tail("cometbft.log"))
    }
}

/// A network created by `scripts/cometbft-localnet.sh DIR N BASE_PORT`.
pub struct Localnet {
    pub validators: Vec<Validator>,
    pub chain_id: ChainId,
    cometbft_bin: PathBuf,
    /// The environment the network was made with, given to joined nodes too.
    env: Vec<(String, String)>,
    // Dropped last: the processes above die before their directory goes.
    dir: tempfile::TempDir,
}

impl Localnet {
    pub fn create(cometbft_bin: &Path, validators: usize, base_port: u16) -> Localnet {
        Localnet::create_with_env(cometbft_bin, validators, base_port, &[])
    }

    /// [`Localnet::create`] with environment variables for the script, such
    /// as `("SNAPSHOT_INTERVAL", "5")`.
    pub fn create_with_env(cometbft_bin: &Path, validators: usize, base_port: u16, env: &[(&str, &str)]) -> Localnet {
        let dir = tempfile::tempdir().expect("tempdir");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        run_script(
            cometbft_bin,
            "cometbft-localnet.sh",
            &[dir.path().into(), validators.to_string().into(), base_port.to_string().into()],
            &env,
        );
        let genesis: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("node0/config/genesis.json")).expect("genesis.json"),
        )
        .expect("genesis.json is JSON");
        let chain_id = ChainId::new(genesis["chain_id"].as_str().expect("chain_id")).expect("valid chain id");
        let validators = (0..validators)
            .map(|i| Validator::new(dir.path().join(format!("node{i}")), base_port + 10 * i as u16 + 1, cometbft_bin))
            .collect();
        Localnet { validators, chain_id, cometbft_bin: cometbft_bin.to_path_buf(), env, dir }
    }

    /// A full node `name` on ports from `base_port`, made by
    /// `scripts/cometbft-statesync-join.sh` to join by state sync, trusting
    /// node0's latest block: node0 must be running. Not started; the
    /// caller owns it (declare it after the network, so that it stops first).
    pub fn join_statesync(&self, name: &str, base_port: u16) -> Validator {
        run_script(
            &self.cometbft_bin,
            "cometbft-statesync-join.sh",
            &[self.dir.path().into(), name.into(), base_port.to_string().into()],
            &self.env,
        );
        Validator::new(self.dir.path().join(name), base_port + 1, &self.cometbft_bin)
    }

    /// Starts every validator and waits until each reports height 2.
    pub fn start_all(&mut self) {
        for validator in &mut self.validators {
            validator.start();
        }
        for validator in &self.validators {
            wait_for("the chain to reach height 2", START_TIMEOUT, || validator.height().filter(|h| *h >= 2))
                .unwrap_or_else(|e| panic!("{e}\n{}", validator.logs()));
        }
    }

    pub fn logs(&self) -> String {
        self.validators.iter().map(Validator::logs).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        for validator in &mut self.validators {
            validator.stop();
        }
    }
}

/// Runs `scripts/<script> args` with `env`, `cometbft`'s directory first on
/// PATH and SLUICE_BIN set; panics with its stderr unless it succeeds.
fn run_script(cometbft_bin: &Path, script: &str, args: &[OsString], env: &[(String, String)]) {
    let bin_dir = cometbft_bin.parent().expect("cometbft has a directory");
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf()).chain(std::env::var_os("PATH").iter().flat_map(std::env::split_paths)),
    )
    .expect("PATH");
    let out = Command::new(repo_root().join("scripts").join(script))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PATH", path)
        .env("SLUICE_BIN", crate::sluice_bin())
        .output()
        .unwrap_or_else(|e| panic!("run scripts/{script}: {e}"));
    assert!(out.status.success(), "{script} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Polls `probe` until it gives a value or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The RPC of the CometBFT node listening on 127.0.0.1:`port`.
pub fn rpc(port: u16) -> CometRpc {
    CometRpc::new(&format!("http://127.0.0.1:{port}"), HTTP_TIMEOUT).expect("a loopback URL is valid")
}

/// A signed system transfer between genesis accounts.
pub fn signed_transfer(chain: &ChainId, from: u32, to: u32, nonce: u64, amount: u64) -> Vec<u8> {
    let key = genesis_key(GENESIS_SEED, from);
    let mut transaction = workload::transfer(account_id(from), account_id(to), nonce, amount);
    tx::sign(&mut transaction, &key, chain);
    transaction.encode()
}

pub fn account_id(index: u32) -> AccountId {
    AccountId(genesis_key(GENESIS_SEED, index).verifying_key().to_bytes())
}

/// `broadcast_tx_sync`; the CheckTx code and log.
pub fn broadcast(port: u16, tx: &[u8]) -> Result<(u64, String), String> {
    let reply = rpc(port).broadcast_tx_sync(tx).map_err(|e| e.to_string())?;
    Ok((u64::from(reply.code), reply.log))
}

/// Balance and nonce through `abci_query` path `/account/<hex>`.
pub fn query_account(port: u16, id: &AccountId) -> Result<(u64, u64), String> {
    let account = rpc(port).account(id).map_err(|e| e.to_string())?;
    Ok((account.balance, account.nonce))
}

/// A block's transactions and its header's app hash (the state after the
/// previous block).
pub fn block(port: u16, height: u64) -> Result<(Vec<Vec<u8>>, String), String> {
    let block = rpc(port).block(height).map_err(|e| e.to_string())?;
    Ok((block.txs, block.app_hash))
}

/// [`submit_rounds`] sends from genesis accounts 0..SIGNERS to any account.
pub const SIGNERS: u32 = 200;

/// Submits `rounds` transfers from each signer, starting at `nonces`,
/// through node `port`; every CheckTx must accept. Returns the next nonces.
pub fn submit_rounds(localnet: &Localnet, port: u16, nonces: &mut [u64], rounds: u64) -> u64 {
    let mut sent = 0;
    for _ in 0..rounds {
        for signer in 0..SIGNERS {
            let nonce = nonces[signer as usize];
            // Never the signer itself: a transfer declares two distinct accounts.
            let to = (signer + 1 + (signer * 7 + nonce as u32 * 13) % (GENESIS_ACCOUNTS - 1)) % GENESIS_ACCOUNTS;
            let tx = signed_transfer(&localnet.chain_id, signer, to, nonce, 1 + nonce % 50);
            let (code, log) = broadcast(port, &tx).unwrap_or_else(|e| panic!("broadcast: {e}\n{}", localnet.logs()));
            assert_eq!(code, 0, "CheckTx rejected signer {signer} nonce {nonce}: {log}");
            nonces[signer as usize] += 1;
            sent += 1;
        }
    }
    sent
}

/// Waits until every signer's committed nonce reaches `nonces`. Signers
/// are probed in order from the first not yet done, so each poll is cheap.
pub fn wait_included(localnet: &Localnet, port: u16, nonces: &[u64]) {
    let mut done = 0usize;
    wait_for("every signer's transactions to commit", INCLUDE_TIMEOUT, || {
        while done < nonces.len() {
            let (_, nonce) = query_account(port, &account_id(done as u32)).ok()?;
            assert!(nonce <= nonces[done], "signer {done} has nonce {nonce} past {}", nonces[done]);
            if nonce < nonces[done] {
                return None;
            }
            done += 1;
        }
        Some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", localnet.logs()));
}

/// The serial reference: replays blocks 1..=last from node `port` through
/// `execute_block_serial` and checks every header's app hash against the
/// reference state root. Returns the reference state after `last`.
pub fn replay_reference(port: u16, chain: &ChainId, last: u64) -> Result<State, String> {
    let mut state = Genesis::new(GENESIS_SEED, GENESIS_ACCOUNTS).map_err(|e| e.to_string())?.state();
    let programs = ProgramRegistry::native();
    for height in 1..=last + 1 {
        let (txs, header_app_hash) = block(port, height)?;
        // Header h carries the state root after block h - 1.
        if header_app_hash != hex::encode(state.root()) {
            return Err(format!(
                "app hash mismatch in header {height}: chain {header_app_hash}, reference {}",
                hex::encode(state.root())
            ));
        }
        if height > last {
            break;
        }
        let verified: Vec<_> = ingest::verify_transactions(&txs, chain).into_iter().filter_map(Result::ok).collect();
        let outcome = execute_block_serial(&state, &verified, &programs);
        state.apply(&outcome.delta);
    }
    Ok(state)
}
