//! The ABCI application: one handler per call, over the engine's `Chain`.
//!
//! Lock discipline: [`Node`] holds the application state in one mutex.
//! CometBFT's consensus connection is strictly sequential, so the mutex
//! only arbitrates between connections. CheckTx decodes and verifies the
//! signature *before* taking the lock, so mempool traffic does not wait
//! on FinalizeBlock for its most expensive step.
//!
//! Heights: the Sluice block at height h is the CometBFT block at height
//! h (initial height 1); empty CometBFT blocks are empty Sluice blocks, so
//! the two never drift.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tendermint_proto::v0_38::abci::{
    request, response, response_process_proposal::ProposalStatus, response_verify_vote_extension::VerifyStatus, Event,
    EventAttribute, ExecTxResult, RequestCheckTx, RequestFinalizeBlock, RequestInfo, RequestInitChain,
    RequestPrepareProposal, RequestProcessProposal, RequestQuery, ResponseCheckTx, ResponseCommit,
    ResponseFinalizeBlock, ResponseInfo, ResponseInitChain, ResponsePrepareProposal, ResponseProcessProposal,
    ResponseQuery,
};

use tracing::{error, info};

use super::journal::{BlockRecord, GenesisRecord, Journal};
use super::mempool::{system_transfers, PendingState};
use super::metrics::Metrics;
use super::query::{account_path_id, QueryError};
use super::{
    verify_batch, verify_one, NodeConfig, CODE_BAD_SIGNATURE, CODE_DECODE, CODE_DUPLICATE, CODE_NOT_INITIALIZED,
};
use crate::block::BLOCK_TXS_MAX;
use crate::chain::Chain;
use crate::exec::TxStatus;
use crate::genesis::{app_state_hash, genesis_state};
use crate::ingest::Rejection;
use crate::program::ProgramRegistry;
use crate::state::State;
use crate::tx::ChainId;

/// Sum of transaction bytes in one block that ProcessProposal accepts:
/// CometBFT's default `max_bytes` (21 MiB) fits, and a block record fits
/// the journal's record limit.
pub const BLOCK_TX_BYTES_MAX: usize = 32 * 1024 * 1024;
pub const APP_VERSION: u64 = 1;

/// What the node knows once InitChain has run (or the journal had it).
struct Initialized {
    chain: Chain,
    chain_id: ChainId,
    genesis: GenesisIdentity,
}

/// What identifies the genesis a chain started from.
struct GenesisIdentity {
    /// `blake3(app_state)`: what a repeated InitChain must match.
    app_state_hash: [u8; 32],
    /// Listed plus seeded accounts, for metrics.
    accounts: u64,
}

/// A block FinalizeBlock executed, waiting for Commit to make it durable.
struct Finalized {
    record: BlockRecord,
    failed_txs: u64,
}

pub struct App {
    config: NodeConfig,
    /// The chain's programs: the native ones plus any the chain registered.
    programs: ProgramRegistry,
    journal: Journal,
    init: Option<Initialized>,
    committed_height: u64,
    committed_app_hash: [u8; 32],
    finalized: Option<Finalized>,
    pending: PendingState,
}

/// Shared between the four ABCI connection threads.
pub struct Node {
    app: Mutex<App>,
    pub metrics: Arc<Metrics>,
}

/// A handler's failure: answered as an ABCI exception, which CometBFT
/// treats as fatal for consensus calls. Used only where continuing would
/// risk diverging from the other validators.
pub type HandlerResult<T> = Result<T, String>;

impl Node {
    pub fn new(app: App, metrics: Arc<Metrics>) -> Node {
        metrics.committed_height.store(app.committed_height, Relaxed);
        metrics.programs.store(app.programs.len() as u64, Relaxed);
        if let Some(init) = &app.init {
            metrics.genesis_accounts.store(init.genesis.accounts, Relaxed);
        }
        Node { app: Mutex::new(app), metrics }
    }

    /// The genesis hash and chain id once known, and the committed height
    /// and app hash: what the startup log line reports.
    pub fn describe(&self) -> HandlerResult<NodeDescription> {
        let app = self.lock()?;
        Ok(NodeDescription {
            chain_id: app.init.as_ref().map(|init| init.chain_id.as_str().to_string()),
            app_state_hash: app.init.as_ref().map(|init| init.genesis.app_state_hash),
            height: app.committed_height,
            app_hash: app.committed_app_hash,
            programs: app.programs.describe(),
        })
    }

    fn lock(&self) -> HandlerResult<MutexGuard<'_, App>> {
        self.app.lock().map_err(|_| "application state poisoned by an earlier panic; restart the node".to_string())
    }

    /// Answers one request. Never panics on request content.
    pub fn handle(&self, value: request::Value) -> response::Value {
        use request::Value as Rq;
        use response::Value as Rs;
        let result: HandlerResult<Rs> = match value {
            Rq::Echo(r) => Ok(Rs::Echo(tendermint_proto::v0_38::abci::ResponseEcho { message: r.message })),
            Rq::Flush(_) => Ok(Rs::Flush(Default::default())),
            Rq::Info(r) => self.info(r).map(Rs::Info),
            Rq::InitChain(r) => self.init_chain(r).map(Rs::InitChain),
            Rq::Query(r) => self.query(r).map(Rs::Query),
            Rq::CheckTx(r) => Ok(Rs::CheckTx(self.check_tx(r))),
            Rq::Commit(_) => self.commit().map(Rs::Commit),
            Rq::ListSnapshots(_) => Ok(Rs::ListSnapshots(Default::default())),
            Rq::OfferSnapshot(_) => Ok(Rs::OfferSnapshot(Default::default())),
            Rq::LoadSnapshotChunk(_) => Ok(Rs::LoadSnapshotChunk(Default::default())),
            Rq::ApplySnapshotChunk(_) => Ok(Rs::ApplySnapshotChunk(Default::default())),
            Rq::PrepareProposal(r) => self.prepare_proposal(r).map(Rs::PrepareProposal),
            Rq::ProcessProposal(r) => self.process_proposal(r).map(Rs::ProcessProposal),
            Rq::ExtendVote(_) => Ok(Rs::ExtendVote(Default::default())),
            Rq::VerifyVoteExtension(_) => {
                Ok(Rs::VerifyVoteExtension(tendermint_proto::v0_38::abci::ResponseVerifyVoteExtension {
                    status: VerifyStatus::Accept as i32,
                }))
            }
            Rq::FinalizeBlock(r) => self.finalize_block(r).map(Rs::FinalizeBlock),
        };
        result.unwrap_or_else(|error| self.exception(error))
    }

    pub fn exception(&self, error: String) -> response::Value {
        self.metrics.abci_exceptions_total.fetch_add(1, Relaxed);
        error!(%error, "abci exception");
        response::Value::Exception(tendermint_proto::v0_38::abci::ResponseException { error })
    }

    fn info(&self, _request: RequestInfo) -> HandlerResult<ResponseInfo> {
        let app = self.lock()?;
        // At height 0 the app hash is empty: CometBFT then runs InitChain,
        // which reports the genesis state root.
        let app_hash = if app.committed_height == 0 { Vec::new() } else { app.committed_app_hash.to_vec() };
        Ok(ResponseInfo {
            data: "sluice".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            app_version: APP_VERSION,
            last_block_height: height_to_abci(app.committed_height)?,
            last_block_app_hash: app_hash.into(),
        })
    }

    fn init_chain(&self, request: RequestInitChain) -> HandlerResult<ResponseInitChain> {
        let mut app = self.lock()?;
        if request.initial_height > 1 {
            return Err(format!(
                "initial_height {} is not supported: Sluice heights start at 1",
                request.initial_height
            ));
        }
        let chain_id = ChainId::new(&request.chain_id)
            .map_err(|e| format!("InitChain: chain_id {:?} cannot be signed over: {e}", request.chain_id))?;
        let hash = app_state_hash(&request.app_state_bytes);
        if let Some(init) = &app.init {
            // CometBFT repeats InitChain while the app reports height 0.
            if init.chain_id != chain_id || init.genesis.app_state_hash != hash || app.committed_height != 0 {
                return Err(format!(
                    "InitChain for chain {} with app_state hash {} does not match the journal's genesis \
                     (chain {}, app_state hash {}, committed height {})",
                    chain_id.as_str(),
                    hex::encode(hash),
                    init.chain_id.as_str(),
                    hex::encode(init.genesis.app_state_hash),
                    app.committed_height
                ));
            }
        } else {
            // Everything is checked before anything is written: a bad
            // genesis leaves the data directory as it was.
            let genesis = genesis_state(&request.app_state_bytes).map_err(|e| format!("invalid genesis: {e}"))?;
            let record = GenesisRecord {
                chain_id: chain_id.as_str().to_string(),
                app_state_hash: hash,
                state_root: genesis.state.root(),
                app_state: request.app_state_bytes.to_vec(),
            };
            app.journal.append_genesis(&record)?;
            info!(
                chain_id = chain_id.as_str(),
                genesis_hash = %hex::encode(hash),
                accounts = genesis.accounts,
                supply = genesis.supply,
                state_root = %hex::encode(record.state_root),
                "genesis initialized from app_state"
            );
            self.metrics.genesis_accounts.store(genesis.accounts, Relaxed);
            let identity = GenesisIdentity { app_state_hash: hash, accounts: genesis.accounts };
            app.init = Some(Initialized::new(genesis.state, chain_id, identity, &app.config, &app.programs)?);
        }
        let root = app.init.as_ref().map(|init| init.chain.state.root()).unwrap_or_default();
        Ok(ResponseInitChain { app_hash: root.to_vec().into(), ..Default::default() })
    }

    fn query(&self, request: RequestQuery) -> HandlerResult<ResponseQuery> {
        self.metrics.queries_total.fetch_add(1, Relaxed);
        let app = self.lock()?;
        let reply = |error: QueryError| ResponseQuery { code: error.code(), log: error.log(), ..Default::default() };
        let Some(init) = &app.init else {
            return Ok(ResponseQuery {
                code: CODE_NOT_INITIALIZED,
                log: "not_initialized: InitChain has not run".into(),
                ..Default::default()
            });
        };
        let id = match account_path_id(&request.path) {
            Ok(id) => id,
            Err(error) => return Ok(reply(error)),
        };
        let value = super::query::account_json(&id, init.chain.state.get(&id));
        Ok(ResponseQuery {
            key: id.0.to_vec().into(),
            value: value.to_string().into_bytes().into(),
            height: height_to_abci(app.committed_height)?,
            ..Default::default()
        })
    }

    fn check_tx(&self, request: RequestCheckTx) -> ResponseCheckTx {
        let start = Instant::now();
        let response = self.check_tx_inner(request);
        self.metrics.checktx.observe(start.elapsed());
        if response.code != 0 {
            self.metrics.checktx_rejected_total.fetch_add(1, Relaxed);
        }
        response
    }

    fn check_tx_inner(&self, request: RequestCheckTx) -> ResponseCheckTx {
        let reject = |code: u32, log: String| ResponseCheckTx { code, log, ..Default::default() };
        let chain_id = match self.lock() {
            Ok(app) => app.init.as_ref().map(|init| init.chain_id.clone()),
            Err(e) => return reject(CODE_NOT_INITIALIZED, e),
        };
        let Some(chain_id) = chain_id else {
            return reject(CODE_NOT_INITIALIZED, "not_initialized: InitChain has not run".into());
        };
        let tx = match verify_one(&request.tx, &chain_id) {
            Ok(tx) => tx,
            Err(rejection) => return reject(rejection_code(&rejection), rejection.reason()),
        };
        let mut app = match self.lock() {
            Ok(app) => app,
            Err(e) => return reject(CODE_NOT_INITIALIZED, e),
        };
        let App { init, pending, .. } = &mut *app;
        let Some(init) = init else {
            return reject(CODE_NOT_INITIALIZED, "not_initialized".into());
        };
        let committed = init.chain.state.load(tx.signer());
        let verdict = pending.admit(&tx, &committed);
        self.metrics.mempool_pending_txs.store(u64::from(pending.pending_txs()), Relaxed);
        self.metrics.mempool_signers.store(pending.signers() as u64, Relaxed);
        match verdict {
            Ok(()) => ResponseCheckTx { code: 0, gas_wanted: 1, ..Default::default() },
            Err(e) => reject(e.code(), e.log()),
        }
    }

    fn prepare_proposal(&self, request: RequestPrepareProposal) -> HandlerResult<ResponsePrepareProposal> {
        let chain_id = self.chain_id()?;
        let max_tx_bytes = usize::try_from(request.max_tx_bytes.max(0)).unwrap_or(usize::MAX).min(BLOCK_TX_BYTES_MAX);
        let raw: Vec<Vec<u8>> = request.txs.iter().take(BLOCK_TXS_MAX).map(|tx| tx.to_vec()).collect();
        let verdicts = verify_batch(&raw, &chain_id);
        let mut txs = Vec::with_capacity(raw.len());
        let mut bytes = 0usize;
        for (tx, verdict) in request.txs.into_iter().zip(verdicts) {
            if verdict.is_err() {
                continue;
            }
            // Stop at the first transaction that does not fit: skipping it
            // and taking a later one from the same signer would only fail
            // that one on its nonce.
            if bytes + tx.len() > max_tx_bytes {
                break;
            }
            bytes += tx.len();
            txs.push(tx);
        }
        debug_assert!(txs.len() <= BLOCK_TXS_MAX && bytes <= max_tx_bytes);
        Ok(ResponsePrepareProposal { txs })
    }

    fn process_proposal(&self, request: RequestProcessProposal) -> HandlerResult<ResponseProcessProposal> {
        let chain_id = self.chain_id()?;
        let bytes: usize = request.txs.iter().map(|tx| tx.len()).sum();
        let accept = request.txs.len() <= BLOCK_TXS_MAX && bytes <= BLOCK_TX_BYTES_MAX && {
            let raw: Vec<Vec<u8>> = request.txs.iter().map(|tx| tx.to_vec()).collect();
            verify_batch(&raw, &chain_id).iter().all(Result::is_ok)
        };
        let status = if accept { ProposalStatus::Accept } else { ProposalStatus::Reject };
        Ok(ResponseProcessProposal { status: status as i32 })
    }

    fn finalize_block(&self, request: RequestFinalizeBlock) -> HandlerResult<ResponseFinalizeBlock> {
        let start = Instant::now();
        let mut app = self.lock()?;
        if app.finalized.is_some() {
            return Err("FinalizeBlock twice without Commit".to_string());
        }
        let height = u64::try_from(request.height).map_err(|_| format!("negative height {}", request.height))?;
        let init = app.init.as_mut().ok_or("FinalizeBlock before InitChain")?;
        if height != init.chain.height + 1 {
            return Err(format!("FinalizeBlock height {height}, expected {}", init.chain.height + 1));
        }
        let txs: Vec<Vec<u8>> = request.txs.into_iter().map(|tx| tx.to_vec()).collect();
        let tx_results = execute_block(init, &txs)?;
        let app_hash = init.chain.state.root();
        let failed = tx_results.iter().filter(|r| r.code != 0).count() as u64;
        app.finalized = Some(Finalized { record: BlockRecord { height, app_hash, txs }, failed_txs: failed });
        self.metrics.finalize_txs_total.fetch_add(tx_results.len() as u64, Relaxed);
        self.metrics.finalize_txs_failed_total.fetch_add(failed, Relaxed);
        self.metrics.finalize.observe(start.elapsed());
        Ok(ResponseFinalizeBlock { tx_results, app_hash: app_hash.to_vec().into(), ..Default::default() })
    }

    fn commit(&self) -> HandlerResult<ResponseCommit> {
        let start = Instant::now();
        let mut app = self.lock()?;
        let Finalized { record: block, failed_txs } = app.finalized.take().ok_or("Commit without FinalizeBlock")?;
        app.journal.append_block(&block)?;
        assert_eq!(block.height, app.committed_height + 1, "commits are consecutive");
        app.committed_height = block.height;
        app.committed_app_hash = block.app_hash;
        app.pending.reset();
        self.metrics.committed_height.store(block.height, Relaxed);
        self.metrics.mempool_pending_txs.store(0, Relaxed);
        self.metrics.mempool_signers.store(0, Relaxed);
        let elapsed = start.elapsed();
        self.metrics.commit.observe(elapsed);
        info!(
            height = block.height,
            txs = block.txs.len(),
            failed = failed_txs,
            app_hash = %hex::encode(block.app_hash),
            commit_us = elapsed.as_micros() as u64,
            "committed block"
        );
        Ok(ResponseCommit { retain_height: 0 })
    }

    fn chain_id(&self) -> HandlerResult<ChainId> {
        let app = self.lock()?;
        app.init.as_ref().map(|init| init.chain_id.clone()).ok_or_else(|| "called before InitChain".to_string())
    }
}

impl App {
    /// Opens the journal and replays it: rebuilds the genesis state from
    /// the app state the journal holds, checking its hash and root, then
    /// re-executes every committed block and checks each reproduces its
    /// recorded app hash. `programs` must be the chain's programs, the same
    /// on every validator and across restarts.
    pub fn open(config: NodeConfig, programs: ProgramRegistry) -> Result<App, String> {
        let data = config.storage.data.clone().ok_or("no data directory")?;
        let journal = Journal::open(&data, config.durability()?)?;
        let pending = PendingState::new(config.mempool.signers_max, config.mempool.pending_txs_max);
        let mut app = App {
            journal,
            init: None,
            committed_height: 0,
            committed_app_hash: [0; 32],
            finalized: None,
            pending,
            config,
            programs,
        };
        let Some(record) = app.journal.genesis()? else {
            return Ok(app);
        };
        let genesis = genesis_state(&record.app_state).map_err(|e| format!("journal genesis: {e}"))?;
        if genesis.state.root() != record.state_root {
            return Err(format!(
                "journal genesis: app_state {} builds state root {}, not the recorded {}",
                hex::encode(record.app_state_hash),
                hex::encode(genesis.state.root()),
                hex::encode(record.state_root)
            ));
        }
        let chain_id = ChainId::new(&record.chain_id)?;
        let identity = GenesisIdentity { app_state_hash: record.app_state_hash, accounts: genesis.accounts };
        let mut init = Initialized::new(genesis.state, chain_id, identity, &app.config, &app.programs)?;
        for block in app.journal.blocks() {
            let block = block?;
            if block.height != init.chain.height + 1 {
                return Err(format!("journal: block {} follows height {}", block.height, init.chain.height));
            }
            execute_block(&mut init, &block.txs)?;
            if init.chain.state.root() != block.app_hash {
                return Err(format!("journal: replaying height {} does not reproduce its app hash", block.height));
            }
            app.committed_height = block.height;
            app.committed_app_hash = block.app_hash;
        }
        app.init = Some(init);
        Ok(app)
    }

    pub fn committed(&self) -> (u64, [u8; 32]) {
        (self.committed_height, self.committed_app_hash)
    }
}

/// What the startup line says about the node.
pub struct NodeDescription {
    pub chain_id: Option<String>,
    pub app_state_hash: Option<[u8; 32]>,
    pub height: u64,
    pub app_hash: [u8; 32],
    /// `name(id)` of every program the chain runs.
    pub programs: String,
}

impl Initialized {
    fn new(
        state: State,
        chain_id: ChainId,
        genesis: GenesisIdentity,
        config: &NodeConfig,
        programs: &ProgramRegistry,
    ) -> Result<Initialized, String> {
        let chain = Chain::new(state, programs.clone(), config.executor()?);
        Ok(Initialized { chain, chain_id, genesis })
    }
}

/// FinalizeBlock's and replay's one definition of a block: verify every
/// transaction, execute those that verified, and give each input its
/// result. Deterministic: the same bytes give the same state on every
/// validator (executors are deterministic, verification is pure).
fn execute_block(init: &mut Initialized, txs: &[Vec<u8>]) -> Result<Vec<ExecTxResult>, String> {
    if txs.len() > BLOCK_TXS_MAX {
        return Err(format!("block of {} txs exceeds BLOCK_TXS_MAX {BLOCK_TXS_MAX}", txs.len()));
    }
    let verdicts = verify_batch(txs, &init.chain_id);
    let mut results: Vec<Option<ExecTxResult>> = Vec::with_capacity(txs.len());
    let mut accepted = Vec::with_capacity(txs.len());
    for verdict in verdicts {
        match verdict {
            Ok(tx) => {
                accepted.push(tx);
                results.push(None);
            }
            Err(rejection) => results.push(Some(ExecTxResult {
                code: rejection_code(&rejection),
                log: rejection.reason(),
                ..Default::default()
            })),
        }
    }
    let executed = init.chain.execute_block(&accepted)?;
    assert_eq!(executed.outcome.receipts.len(), accepted.len());
    let mut receipts = accepted.iter().zip(executed.outcome.receipts);
    let results = results
        .into_iter()
        .map(|slot| {
            slot.unwrap_or_else(|| {
                let (tx, receipt) = receipts.next().expect("one receipt per accepted tx");
                exec_result(tx, receipt)
            })
        })
        .collect();
    assert!(receipts.next().is_none(), "every receipt was used");
    Ok(results)
}

fn exec_result(tx: &crate::tx::Transaction, receipt: crate::exec::Receipt) -> ExecTxResult {
    match receipt.status {
        TxStatus::Ok => ExecTxResult { code: 0, events: transfer_events(tx), ..Default::default() },
        TxStatus::Failed { error, instruction } => ExecTxResult {
            code: error.code(),
            log: format!("{}: instruction {instruction}", result_name(error)),
            ..Default::default()
        },
        TxStatus::Rejected { error } => {
            ExecTxResult { code: error.code(), log: result_name(error), ..Default::default() }
        }
    }
}

/// The name a result's log starts with: the error's stable name, and for a
/// registered program's own error its number too (`custom_1`), which is
/// what the program's users look up.
fn result_name(error: crate::exec::ExecError) -> String {
    match error {
        crate::exec::ExecError::Custom(n) => format!("custom_{n}"),
        named => named.name().to_string(),
    }
}

fn transfer_events(tx: &crate::tx::Transaction) -> Vec<Event> {
    let attribute = |key: &str, value: String| EventAttribute { key: key.to_string(), value, index: false };
    system_transfers(tx)
        .map(|(from, to, amount)| Event {
            r#type: "transfer".to_string(),
            attributes: vec![
                attribute("sender", hex::encode(from.0)),
                attribute("recipient", hex::encode(to.0)),
                attribute("amount", amount.to_string()),
            ],
        })
        .collect()
}

fn rejection_code(rejection: &Rejection) -> u32 {
    match rejection {
        Rejection::Decode(_) => CODE_DECODE,
        Rejection::Duplicate => CODE_DUPLICATE,
        Rejection::Signature(_) => CODE_BAD_SIGNATURE,
    }
}

fn height_to_abci(height: u64) -> HandlerResult<i64> {
    i64::try_from(height).map_err(|_| format!("height {height} exceeds i64"))
}
