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

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tendermint_proto::v0_38::abci::{
    request, response, response_offer_snapshot::Result as OfferResult, response_process_proposal::ProposalStatus,
    response_verify_vote_extension::VerifyStatus, Event, EventAttribute, ExecTxResult, RequestApplySnapshotChunk,
    RequestCheckTx, RequestFinalizeBlock, RequestInfo, RequestInitChain, RequestLoadSnapshotChunk,
    RequestOfferSnapshot, RequestPrepareProposal, RequestProcessProposal, RequestQuery, ResponseApplySnapshotChunk,
    ResponseCheckTx, ResponseCommit, ResponseFinalizeBlock, ResponseInfo, ResponseInitChain, ResponseListSnapshots,
    ResponseLoadSnapshotChunk, ResponseOfferSnapshot, ResponsePrepareProposal, ResponseProcessProposal, ResponseQuery,
};

use tracing::{error, info, warn};

use super::config::ConfigError;
use super::mempool::{system_transfers, PendingState};
use super::metrics::Metrics;
use super::pool::{PoolEntry, TxHashSet, TxPool, PROPOSAL_POOL_BYTES_MAX};
use super::query::{account_path_id, QueryError};
use super::statesync::{apply_result, load_chunk, ChainIdentity, ChunkVerdict, Restore, SnapshotServer};
use super::tx_status::{tx_path_hash, TxStatusCache};
use super::{
    verify_batch, verify_one, NodeConfig, CODE_BAD_SIGNATURE, CODE_BLOCK_FULL, CODE_DECODE, CODE_DUPLICATE,
    CODE_NOT_INITIALIZED,
};
use crate::block::{check_block_limits, BlockLimitError, BLOCK_TXS_MAX, BLOCK_TX_BYTES_MAX};
use crate::chain::{Chain, ChainError, ExecutedBlock};
use crate::exec::TxStatus;
use crate::genesis::{app_state_hash, genesis_state, AppState, GenesisError};
use crate::ingest::Rejection;
use crate::persist::store::BLOCK_RECORD_BYTES_MAX;
use crate::persist::{
    block_record_bytes, AppStateGenesis, BlockStore, PersistError, RestoredBase, ResumeReport, StoreOrigin,
};
use crate::program::ProgramRegistry;
use crate::tx::{ChainId, ChainIdError};
use rayon::prelude::*;

pub const APP_VERSION: u64 = 1;

/// What the node knows once InitChain or state sync has run (or the store had it).
struct Initialized {
    chain: Chain,
    chain_id: ChainId,
    genesis: GenesisIdentity,
    /// Where every block is committed; its snapshots are what state sync serves.
    store: BlockStore,
    /// Height of the store's origin: 0 for genesis, H after a state sync.
    origin_height: u64,
}

/// What identifies the genesis a chain started from.
struct GenesisIdentity {
    /// `blake3(app_state)`: what a repeated InitChain must match.
    app_state_hash: [u8; 32],
    /// Listed plus seeded accounts, for metrics; 0 when unknown (state sync).
    accounts: u64,
}

/// A block FinalizeBlock executed, waiting for Commit to make it durable.
struct Finalized {
    /// Its header (the app hash is its state root), receipts and delta.
    executed: ExecutedBlock,
    /// The bytes of the transactions that verified and executed, in block
    /// order: what the block record holds (the rest change no state).
    accepted: Vec<Vec<u8>>,
    txs: usize,
    failed_txs: u64,
    /// CometBFT hashes of every transaction of the block, in block order,
    /// with their results: for the pool and the recent-results cache.
    comet_hashes: Vec<[u8; 32]>,
    results: Vec<(u32, String)>,
}

pub struct App {
    config: NodeConfig,
    /// The chain's programs: the native ones plus any the chain registered.
    programs: ProgramRegistry,
    init: Option<Initialized>,
    committed_height: u64,
    committed_app_hash: [u8; 32],
    finalized: Option<Finalized>,
    pending: PendingState,
    /// Transactions from the ingest endpoint, waiting for a block.
    pool: TxPool,
    /// Recent committed results by CometBFT hash (Query `/tx/<hash>`).
    tx_status: TxStatusCache,
    /// How opening the store rebuilt state; `None` for a node with no chain yet.
    startup: Option<ResumeReport>,
    /// A snapshot being restored by state sync.
    restore: Option<Restore>,
    /// Largest block record FinalizeBlock lets a block make:
    /// `BLOCK_RECORD_BYTES_MAX`, smaller only in tests.
    record_bytes_max: u64,
}

/// Shared between the four ABCI connection threads.
pub struct Node {
    app: Mutex<App>,
    /// Apart from `app`, so serving snapshots to peers never waits on, or
    /// holds up, the consensus connection.
    snapshot_server: Mutex<SnapshotServer>,
    pub metrics: Arc<Metrics>,
}

/// A handler's failure: answered as an ABCI exception (its message is the
/// exception's `error`), which CometBFT treats as fatal for consensus
/// calls. Used only where continuing would risk diverging from the other
/// validators.
pub type HandlerResult<T> = Result<T, AppError>;

/// The node's verdict on each transaction of one ingest request, in
/// request order, and the pool's size after it.
pub struct IngestOutcome {
    /// `Ok`: admitted to the pool; `Err`: the ABCI code and log.
    pub verdicts: Vec<Result<(), (u32, String)>>,
    pub pool_txs: usize,
    pub pool_bytes: u64,
}

/// The pool's size and limits.
pub struct PoolStatus {
    pub txs: usize,
    pub bytes: u64,
    pub txs_max: u32,
    pub bytes_max: u64,
}

impl Node {
    pub fn new(app: App, metrics: Arc<Metrics>) -> Node {
        metrics.committed_height.store(app.committed_height, Relaxed);
        if let Some(startup) = &app.startup {
            metrics.startup_snapshot_height.store(startup.snapshot_height.unwrap_or(0), Relaxed);
            metrics.startup_blocks_replayed.store(startup.blocks_replayed, Relaxed);
        }
        metrics.programs.store(app.programs.len() as u64, Relaxed);
        if let Some(init) = &app.init {
            metrics.genesis_accounts.store(init.genesis.accounts, Relaxed);
        }
        Node { app: Mutex::new(app), snapshot_server: Mutex::default(), metrics }
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
            startup: app.startup.clone(),
        })
    }

    fn lock(&self) -> HandlerResult<MutexGuard<'_, App>> {
        self.app.lock().map_err(|_| AppError::Poisoned)
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
            Rq::ListSnapshots(_) => self.list_snapshots().map(Rs::ListSnapshots),
            Rq::OfferSnapshot(r) => self.offer_snapshot(r).map(Rs::OfferSnapshot),
            Rq::LoadSnapshotChunk(r) => self.load_snapshot_chunk(r).map(Rs::LoadSnapshotChunk),
            Rq::ApplySnapshotChunk(r) => self.apply_snapshot_chunk(r).map(Rs::ApplySnapshotChunk),
            Rq::PrepareProposal(r) => {
                let start = Instant::now();
                let response = self.prepare_proposal(r).map(Rs::PrepareProposal);
                self.metrics.prepare_proposal.observe(start.elapsed());
                response
            }
            Rq::ProcessProposal(r) => {
                let start = Instant::now();
                let response = self.process_proposal(r).map(Rs::ProcessProposal);
                self.metrics.process_proposal.observe(start.elapsed());
                response
            }
            Rq::ExtendVote(_) => Ok(Rs::ExtendVote(Default::default())),
            Rq::VerifyVoteExtension(_) => {
                Ok(Rs::VerifyVoteExtension(tendermint_proto::v0_38::abci::ResponseVerifyVoteExtension {
                    status: VerifyStatus::Accept as i32,
                }))
            }
            Rq::FinalizeBlock(r) => self.finalize_block(r).map(Rs::FinalizeBlock),
        };
        result.unwrap_or_else(|error| self.exception(&error))
    }

    /// An exception answering a request, counted and logged: `error` is
    /// its message.
    pub fn exception(&self, error: &impl fmt::Display) -> response::Value {
        let error = error.to_string();
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
            return Err(AppError::InitialHeight { initial_height: request.initial_height });
        }
        let chain_id = ChainId::new(&request.chain_id)
            .map_err(|source| AppError::InvalidChainId { chain_id: request.chain_id.clone(), source })?;
        let hash = app_state_hash(&request.app_state_bytes);
        if let Some(init) = &app.init {
            // CometBFT repeats InitChain while the app reports height 0.
            if init.chain_id != chain_id || init.genesis.app_state_hash != hash || app.committed_height != 0 {
                return Err(AppError::GenesisMismatch {
                    chain_id,
                    app_state_hash: hash,
                    store_chain_id: init.chain_id.clone(),
                    store_app_state_hash: init.genesis.app_state_hash,
                    committed_height: app.committed_height,
                });
            }
        } else {
            // Everything is checked before anything is written: a bad
            // genesis leaves the data directory as it was.
            let genesis = genesis_state(&request.app_state_bytes).map_err(AppError::InvalidGenesis)?;
            let state_root = genesis.state.root();
            let origin = StoreOrigin::AppState(AppStateGenesis {
                chain_id: chain_id.clone(),
                app_state: request.app_state_bytes.to_vec(),
            });
            let store = BlockStore::create(app.data_dir()?, app.config.store()?, origin, &genesis.state)
                .map_err(|source| AppError::CreateStore { during: "InitChain", source })?;
            info!(
                chain_id = chain_id.as_str(),
                genesis_hash = %hex::encode(hash),
                accounts = genesis.accounts,
                supply = genesis.supply,
                state_root = %hex::encode(state_root),
                "genesis initialized from app_state"
            );
            self.metrics.genesis_accounts.store(genesis.accounts, Relaxed);
            let identity = GenesisIdentity { app_state_hash: hash, accounts: genesis.accounts };
            let chain = Chain::new(genesis.state, app.programs.clone(), app.config.executor()?);
            app.init = Some(Initialized { chain, chain_id, genesis: identity, store, origin_height: 0 });
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
        if let Some(hash) = tx_path_hash(&request.path) {
            return Ok(self.query_tx(&app, hash));
        }
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

    fn query_tx(&self, app: &App, hash: Result<[u8; 32], String>) -> ResponseQuery {
        let reply = |error: QueryError| ResponseQuery { code: error.code(), log: error.log(), ..Default::default() };
        let hash = match hash {
            Ok(hash) => hash,
            Err(reason) => return reply(QueryError::BadTxHash { reason }),
        };
        match app.tx_status.get(&hash) {
            Some(status) => ResponseQuery {
                key: hash.to_vec().into(),
                value: status.to_json(&hash).to_string().into_bytes().into(),
                height: height_to_abci(app.committed_height).unwrap_or(0),
                ..Default::default()
            },
            None => reply(QueryError::TxNotFound { held: app.tx_status.len() }),
        }
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
            Err(e) => return reject(CODE_NOT_INITIALIZED, e.to_string()),
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
            Err(e) => return reject(CODE_NOT_INITIALIZED, e.to_string()),
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

    /// Admits transactions from the ingest endpoint into the pool:
    /// decoded and verified in batches on every core without the lock,
    /// then admitted in request order under it. One refusal never
    /// affects another transaction.
    pub fn ingest(&self, raw: Vec<Vec<u8>>) -> IngestOutcome {
        let start = Instant::now();
        let outcome = self.ingest_inner(raw);
        let refused = outcome.verdicts.iter().filter(|v| v.is_err()).count() as u64;
        let metrics = &self.metrics;
        metrics.ingest.observe(start.elapsed());
        metrics.ingest_accepted_total.fetch_add(outcome.verdicts.len() as u64 - refused, Relaxed);
        metrics.ingest_rejected_total.fetch_add(refused, Relaxed);
        metrics.pool_txs.store(outcome.pool_txs as u64, Relaxed);
        metrics.pool_bytes.store(outcome.pool_bytes, Relaxed);
        outcome
    }

    fn ingest_inner(&self, raw: Vec<Vec<u8>>) -> IngestOutcome {
        let refuse_all = |raw: &[Vec<u8>], code: u32, log: &str| IngestOutcome {
            verdicts: raw.iter().map(|_| Err((code, log.to_string()))).collect(),
            pool_txs: 0,
            pool_bytes: 0,
        };
        let chain_id = match self.chain_id() {
            Ok(chain_id) => chain_id,
            Err(_) => return refuse_all(&raw, CODE_NOT_INITIALIZED, "not_initialized: InitChain has not run"),
        };
        let verified = verify_batch(&raw, &chain_id);
        let mut app = match self.lock() {
            Ok(app) => app,
            Err(e) => return refuse_all(&raw, CODE_NOT_INITIALIZED, &e.to_string()),
        };
        let App { init, pending, pool, .. } = &mut *app;
        let Some(init) = init else {
            return refuse_all(&raw, CODE_NOT_INITIALIZED, "not_initialized");
        };
        let verdicts = raw
            .into_iter()
            .zip(verified)
            .map(|(bytes, verdict)| {
                let tx = verdict.map_err(|rejection| (rejection_code(&rejection), rejection.reason()))?;
                let committed = init.chain.state.load(tx.signer());
                let entry = PoolEntry { hash: crate::tx::comet_tx_hash(&bytes), bytes: bytes.into(), tx };
                pool.admit(entry, pending, &committed).map_err(|refusal| (refusal.code(), refusal.log()))
            })
            .collect();
        IngestOutcome { verdicts, pool_txs: pool.len(), pool_bytes: pool.bytes() }
    }

    pub fn pool_status(&self) -> PoolStatus {
        match self.lock() {
            Ok(app) => PoolStatus {
                txs: app.pool.len(),
                bytes: app.pool.bytes(),
                txs_max: app.pool.txs_max(),
                bytes_max: app.pool.bytes_max(),
            },
            Err(_) => PoolStatus { txs: 0, bytes: 0, txs_max: 0, bytes_max: 0 },
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
        // Then the pool, behind CometBFT's mempool (empty under `nop`).
        let app = self.lock()?;
        let pool_bytes_max = (max_tx_bytes - bytes).min(PROPOSAL_POOL_BYTES_MAX);
        txs.extend(app.pool.proposal(pool_bytes_max, BLOCK_TXS_MAX - txs.len()));
        // Within both limits by construction: what ProcessProposal accepts.
        debug_assert!(check_block_limits(&txs).is_ok_and(|bytes| bytes <= max_tx_bytes));
        Ok(ResponsePrepareProposal { txs })
    }

    fn process_proposal(&self, request: RequestProcessProposal) -> HandlerResult<ResponseProcessProposal> {
        let status = match self.check_proposal(&request.txs)? {
            Ok(()) => ProposalStatus::Accept,
            Err(reason) => {
                warn!(height = request.height, txs = request.txs.len(), %reason, "ProcessProposal rejects the block");
                ProposalStatus::Reject
            }
        };
        Ok(ResponseProcessProposal { status: status as i32 })
    }

    /// ProcessProposal's verdict on a proposed block, with the reason for a
    /// rejection, named: over `BLOCK_TXS_MAX` transactions
    /// (`block_too_many_txs`) or `BLOCK_TX_BYTES_MAX` bytes
    /// (`block_too_large`), checked before any signature, or a transaction
    /// that does not decode or verify (`bad_transaction`). Within both
    /// limits the block's record fits (see `BLOCK_RECORD_BYTES_MAX`).
    pub(crate) fn check_proposal<T: AsRef<[u8]>>(&self, txs: &[T]) -> HandlerResult<Result<(), ProposalRejection>> {
        let chain_id = self.chain_id()?;
        if let Err(error) = check_block_limits(txs) {
            return Ok(Err(ProposalRejection::Limits(error)));
        }
        let raw: Vec<Vec<u8>> = txs.iter().map(|tx| tx.as_ref().to_vec()).collect();
        let bad = verify_batch(&raw, &chain_id).into_iter().enumerate().find_map(|(index, verdict)| {
            verdict.err().map(|rejection| ProposalRejection::BadTransaction { index, rejection })
        });
        Ok(bad.map_or(Ok(()), Err))
    }

    fn finalize_block(&self, request: RequestFinalizeBlock) -> HandlerResult<ResponseFinalizeBlock> {
        let start = Instant::now();
        let mut app = self.lock()?;
        if app.finalized.is_some() {
            return Err(AppError::FinalizeTwice { height: request.height });
        }
        let height = u64::try_from(request.height).map_err(|_| AppError::NegativeHeight { height: request.height })?;
        // Where a block is cut decides which transactions get `block_full`,
        // and so the app hash: it must be the same on every validator, so it
        // never depends on this node's store. The node's store is built to
        // hold a record of `BLOCK_RECORD_BYTES_MAX` (default segments).
        let record_bytes_max = app.record_bytes_max;
        let init = app.init.as_mut().ok_or(AppError::NotInitialized { call: Some("FinalizeBlock") })?;
        if init.store.block_record_bytes_max() < record_bytes_max {
            return Err(AppError::StoreRecordsTooSmall {
                store_max: init.store.block_record_bytes_max(),
                chain_max: record_bytes_max,
            });
        }
        if height != init.chain.height + 1 {
            return Err(AppError::UnexpectedHeight { height, expected: init.chain.height + 1 });
        }
        let txs: Vec<Vec<u8>> = request.txs.into_iter().map(|tx| tx.to_vec()).collect();
        let tx_count = txs.len();
        let comet_hashes: Vec<[u8; 32]> = txs.par_iter().map(|tx| crate::tx::comet_tx_hash(tx)).collect();
        let block = execute_block(init, txs, record_bytes_max)?;
        let tx_results = block.results;
        let app_hash = init.chain.state.root();
        debug_assert_eq!(block.executed.header.state_root, app_hash);
        let failed = tx_results.iter().filter(|r| r.code != 0).count() as u64;
        app.finalized = Some(Finalized {
            executed: block.executed,
            accepted: block.accepted,
            txs: tx_count,
            failed_txs: failed,
            comet_hashes,
            results: tx_results.iter().map(|r| (r.code, r.log.clone())).collect(),
        });
        self.metrics.finalize_txs_total.fetch_add(tx_results.len() as u64, Relaxed);
        self.metrics.finalize_txs_failed_total.fetch_add(failed, Relaxed);
        self.metrics.finalize.observe(start.elapsed());
        Ok(ResponseFinalizeBlock { tx_results, app_hash: app_hash.to_vec().into(), ..Default::default() })
    }

    fn commit(&self) -> HandlerResult<ResponseCommit> {
        let start = Instant::now();
        let mut app = self.lock()?;
        let block = app.finalized.take().ok_or(AppError::CommitWithoutFinalize)?;
        let header = block.executed.header;
        let init = app.init.as_mut().ok_or(AppError::NotInitialized { call: Some("Commit") })?;
        let outcome = &block.executed.outcome;
        init.store
            .commit(&header, &block.accepted, &outcome.receipts, &outcome.delta)
            .map_err(|source| AppError::Commit { height: header.height, source })?;
        let snapshot_written = self.snapshot_if_due(init);
        assert_eq!(header.height, app.committed_height + 1, "commits are consecutive");
        app.committed_height = header.height;
        app.committed_app_hash = header.state_root;
        let recheck = {
            let App { init, pending, pool, .. } = &mut *app;
            pending.reset();
            let state = &init.as_ref().expect("committed above").chain.state;
            let included: TxHashSet = match pool.is_empty() {
                true => TxHashSet::default(),
                false => block.comet_hashes.iter().copied().collect(),
            };
            pool.recheck(&included, pending, state)
        };
        app.tx_status.insert_block(header.height, block.comet_hashes, block.results.into_iter());
        self.metrics.pool_evicted_total.fetch_add(recheck.evicted as u64, Relaxed);
        self.metrics.pool_txs.store(app.pool.len() as u64, Relaxed);
        self.metrics.pool_bytes.store(app.pool.bytes(), Relaxed);
        self.metrics.committed_height.store(header.height, Relaxed);
        self.metrics.mempool_pending_txs.store(u64::from(app.pending.pending_txs()), Relaxed);
        self.metrics.mempool_signers.store(app.pending.signers() as u64, Relaxed);
        let elapsed = start.elapsed();
        self.metrics.commit.observe(elapsed);
        info!(
            height = header.height,
            txs = block.txs,
            failed = block.failed_txs,
            app_hash = %hex::encode(header.state_root),
            commit_us = elapsed.as_micros() as u64,
            snapshot = snapshot_written,
            pool_txs = app.pool.len(),
            pool_evicted = recheck.evicted,
            "committed block"
        );
        Ok(ResponseCommit { retain_height: 0 })
    }

    /// Writes a snapshot after a block whose height is a multiple of the
    /// interval. It holds Commit for the time it takes (a sort and a write
    /// of every account), which is why it comes only every N blocks. A
    /// failure is logged and counted, not fatal: the block is already
    /// durable and the log alone rebuilds state; a failure to sync the log
    /// poisons it, and the next Commit fails on that.
    fn snapshot_if_due(&self, init: &mut Initialized) -> bool {
        let start = Instant::now();
        match init.store.snapshot_if_due(&init.chain.state) {
            Ok(false) => false,
            Ok(true) => {
                self.metrics.snapshot_write.observe(start.elapsed());
                info!(
                    height = init.chain.height,
                    accounts = init.chain.state.len(),
                    write_ms = start.elapsed().as_millis() as u64,
                    "snapshot written"
                );
                true
            }
            Err(error) => {
                self.metrics.snapshot_write_failed_total.fetch_add(1, Relaxed);
                error!(height = init.chain.height, %error, "snapshot not written; restarts apply more deltas until the next one");
                false
            }
        }
    }

    fn list_snapshots(&self) -> HandlerResult<ResponseListSnapshots> {
        let Some((dir, identity)) = self.serving()? else {
            return Ok(ResponseListSnapshots::default());
        };
        let mut server = self.snapshot_server.lock().map_err(|_| AppError::SnapshotServerPoisoned)?;
        Ok(ResponseListSnapshots { snapshots: server.list(&dir, &identity) })
    }

    fn load_snapshot_chunk(&self, request: RequestLoadSnapshotChunk) -> HandlerResult<ResponseLoadSnapshotChunk> {
        let Some((dir, _)) = self.serving()? else {
            return Ok(ResponseLoadSnapshotChunk::default());
        };
        let chunk = load_chunk(&dir, request.height, request.format, request.chunk);
        if !chunk.is_empty() {
            self.metrics.snapshot_chunks_served_total.fetch_add(1, Relaxed);
        }
        Ok(ResponseLoadSnapshotChunk { chunk: chunk.into() })
    }

    /// The snapshot directory and the chain's identity, taken under the
    /// application lock and used after it is released.
    fn serving(&self) -> HandlerResult<Option<(std::path::PathBuf, ChainIdentity)>> {
        let app = self.lock()?;
        Ok(app.init.as_ref().map(|init| {
            let identity =
                ChainIdentity { chain_id: init.chain_id.clone(), app_state_hash: init.genesis.app_state_hash };
            (init.store.dir().join(crate::persist::SNAPSHOTS_DIR_NAME), identity)
        }))
    }

    /// Accepts an offered snapshot to restore, if this node has no chain
    /// yet (CometBFT state-syncs only a node at height 0).
    fn offer_snapshot(&self, request: RequestOfferSnapshot) -> HandlerResult<ResponseOfferSnapshot> {
        let mut app = self.lock()?;
        let answer = |result: OfferResult| Ok(ResponseOfferSnapshot { result: result as i32 });
        // A new offer ends any restore in progress (CometBFT moved on).
        app.restore = None;
        // A store with blocks after its origin is a chain this node runs.
        // One with only its origin (a restore or InitChain whose node died
        // before CometBFT recorded it) is replaced when a restore completes.
        if app.init.as_ref().is_some_and(|init| init.chain.height > init.origin_height) {
            warn!(height = app.committed_height, "state sync offered a snapshot, but this node already holds a chain");
            return answer(OfferResult::Abort);
        }
        let Some(snapshot) = request.snapshot else {
            return answer(OfferResult::Reject);
        };
        match Restore::offer(&snapshot, &request.app_hash, &app.config.statesync_pins()?) {
            Ok(restore) => {
                info!(height = snapshot.height, chunks = snapshot.chunks, "state sync: restoring an offered snapshot");
                app.restore = Some(restore);
                answer(OfferResult::Accept)
            }
            Err((result, reason)) => {
                warn!(height = snapshot.height, %reason, "state sync: refused an offered snapshot");
                answer(result)
            }
        }
    }

    fn apply_snapshot_chunk(&self, request: RequestApplySnapshotChunk) -> HandlerResult<ResponseApplySnapshotChunk> {
        let mut app = self.lock()?;
        let Some(restore) = app.restore.as_mut() else {
            // No snapshot was accepted: nothing to apply this chunk to.
            let result = tendermint_proto::v0_38::abci::response_apply_snapshot_chunk::Result::RejectSnapshot;
            return Ok(ResponseApplySnapshotChunk { result: result as i32, ..Default::default() });
        };
        let verdict = restore.apply(request.index, request.chunk.to_vec());
        let mut response = ResponseApplySnapshotChunk { result: apply_result(&verdict) as i32, ..Default::default() };
        match verdict {
            ChunkVerdict::Accepted => {}
            ChunkVerdict::Refetch { index, reason } => {
                self.metrics.snapshot_chunks_rejected_total.fetch_add(1, Relaxed);
                warn!(index, sender = %request.sender, %reason, "state sync: refetching a chunk");
                response.refetch_chunks = vec![index];
                if !request.sender.is_empty() {
                    response.reject_senders = vec![request.sender];
                }
            }
            ChunkVerdict::Reject(reason) => {
                self.metrics.snapshot_chunks_rejected_total.fetch_add(1, Relaxed);
                warn!(%reason, "state sync: rejected the snapshot");
                app.restore = None;
            }
            ChunkVerdict::Complete(restored) => {
                let restore = app.restore.take().expect("restoring");
                self.install_restored(&mut app, restore, *restored)?;
            }
        }
        Ok(response)
    }

    /// Makes a whole, checked snapshot this node's chain: the store begins
    /// at it, and the node answers Info at its height.
    fn install_restored(
        &self,
        app: &mut App,
        restore: Restore,
        restored: super::statesync::RestoredSnapshot,
    ) -> HandlerResult<()> {
        let base = RestoredBase {
            chain_id: restore.metadata.chain_id.clone(),
            app_state_hash: restore.metadata.app_state_hash,
            height: restored.height,
            block_hash: restored.block_hash,
        };
        let root = restored.state.root();
        let data = app.data_dir()?;
        if app.init.as_ref().is_some_and(|init| init.chain.height > init.origin_height) {
            // Blocks were committed while the restore ran: never replace them.
            return Err(AppError::CommittedDuringRestore { restored_height: restored.height });
        }
        if let Some(replaced) = app.init.take() {
            warn!(height = replaced.origin_height, "state sync replaces a store that holds no block after its origin");
            drop(replaced);
            remove_store(&data)?;
        }
        let store = BlockStore::create_restored(&data, app.config.store()?, base, &restored.bytes, root)
            .map_err(|source| AppError::CreateStore { during: "state sync", source })?;
        let chain = Chain::resume(
            restored.state,
            app.programs.clone(),
            app.config.executor()?,
            restored.height,
            restored.block_hash,
        );
        let accounts = chain.state.len();
        let genesis = GenesisIdentity { app_state_hash: restore.metadata.app_state_hash, accounts: 0 };
        let origin_height = restored.height;
        app.init = Some(Initialized { chain, chain_id: restore.metadata.chain_id, genesis, store, origin_height });
        app.committed_height = restored.height;
        app.committed_app_hash = root;
        self.metrics.committed_height.store(restored.height, Relaxed);
        self.metrics.statesync_restored_height.store(restored.height, Relaxed);
        info!(
            height = restored.height,
            app_hash = %hex::encode(root),
            accounts,
            chain_id = app.init.as_ref().map_or("", |init| init.chain_id.as_str()),
            "state sync restored a snapshot"
        );
        Ok(())
    }

    /// Makes FinalizeBlock cut blocks whose record exceeds `bytes`, so a
    /// test can reach the limit without a 32 MiB block.
    #[cfg(test)]
    pub(crate) fn limit_block_records(&self, bytes: u64) {
        self.lock().expect("not poisoned").record_bytes_max = bytes;
    }

    fn chain_id(&self) -> HandlerResult<ChainId> {
        let app = self.lock()?;
        app.init.as_ref().map(|init| init.chain_id.clone()).ok_or(AppError::NotInitialized { call: None })
    }
}

impl App {
    /// Opens the node's store and rebuilds state from it: the newest
    /// snapshot that agrees with the log, plus the deltas of the blocks
    /// after it, each checked against its state root. Nothing is
    /// re-executed. A data directory with no chain yet waits for InitChain
    /// or state sync. `programs` must be the chain's programs, the same on
    /// every validator and across restarts.
    pub fn open(config: NodeConfig, programs: ProgramRegistry) -> Result<App, AppError> {
        let data = config.storage.data.clone().ok_or(AppError::NoDataDirectory)?;
        refuse_journal(&data)?;
        let pending = PendingState::new(config.mempool.signers_max, config.mempool.pending_txs_max);
        let pool = TxPool::new(config.ingest.pool_txs_max, config.ingest.pool_bytes_max);
        let opened = BlockStore::open_existing(&data, config.store()?)
            .map_err(|source| AppError::OpenStore { data: data.clone(), source })?;
        let mut app = App {
            init: None,
            committed_height: 0,
            committed_app_hash: [0; 32],
            finalized: None,
            pending,
            pool,
            tx_status: TxStatusCache::default(),
            startup: None,
            restore: None,
            record_bytes_max: BLOCK_RECORD_BYTES_MAX,
            config,
            programs,
        };
        let Some((store, resumed, origin)) = opened else {
            return Ok(app);
        };
        let genesis = match &origin {
            StoreOrigin::AppState(genesis) => GenesisIdentity {
                app_state_hash: app_state_hash(&genesis.app_state),
                accounts: AppState::from_bytes(&genesis.app_state).map_or(0, |state| state.count()),
            },
            StoreOrigin::Restored(base) => GenesisIdentity { app_state_hash: base.app_state_hash, accounts: 0 },
            StoreOrigin::Seeded(_) => return Err(AppError::SeededStore { data }),
        };
        let chain_id = origin.chain_id().clone();
        let (height, app_hash) = (resumed.height, resumed.state.root());
        let chain =
            Chain::resume(resumed.state, app.programs.clone(), app.config.executor()?, height, resumed.last_hash);
        app.init = Some(Initialized { chain, chain_id, genesis, store, origin_height: origin.height() });
        app.committed_height = height;
        app.committed_app_hash = app_hash;
        app.startup = Some(resumed.report);
        Ok(app)
    }

    pub fn committed(&self) -> (u64, [u8; 32]) {
        (self.committed_height, self.committed_app_hash)
    }

    fn data_dir(&self) -> Result<PathBuf, AppError> {
        self.config.storage.data.clone().ok_or(AppError::NoDataDirectory)
    }
}

/// Removes a store's log and snapshots, for a restore that replaces a
/// store with no block after its origin.
fn remove_store(data: &Path) -> HandlerResult<()> {
    for dir in [crate::persist::LOG_DIR_NAME, crate::persist::SNAPSHOTS_DIR_NAME] {
        let path = data.join(dir);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|source| AppError::RemoveStore { path, source })?;
        }
    }
    Ok(())
}

/// Data directories of earlier versions hold a journal (`DATA/chain`) that
/// this version does not read; starting beside it would silently begin a
/// second chain.
fn refuse_journal(data: &Path) -> Result<(), AppError> {
    match data.join("chain").is_dir() {
        true => Err(AppError::JournalPresent { data: data.to_path_buf() }),
        false => Ok(()),
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
    /// How the store was opened: the snapshot used and the blocks whose
    /// deltas were applied; `None` when it held no chain yet.
    pub startup: Option<ResumeReport>,
}

/// FinalizeBlock's and replay's one definition of a block: verify every
/// transaction, execute those that verified, and give each input its
/// result. Deterministic: the same bytes give the same state on every
/// validator (executors are deterministic, verification is pure).
/// Takes the block's bytes by value: those that verify move into the block record.
fn execute_block(init: &mut Initialized, txs: Vec<Vec<u8>>, record_bytes_max: u64) -> HandlerResult<BlockExecution> {
    if txs.len() > BLOCK_TXS_MAX {
        return Err(AppError::TooManyTxs { height: init.chain.height + 1, count: txs.len() });
    }
    let verdicts = verify_batch(&txs, &init.chain_id);
    let mut results: Vec<Option<ExecTxResult>> = Vec::with_capacity(txs.len());
    let mut accepted = Vec::with_capacity(txs.len());
    let mut accepted_bytes = Vec::with_capacity(txs.len());
    for (raw, verdict) in txs.into_iter().zip(verdicts) {
        match verdict {
            Ok(tx) => {
                accepted.push(tx);
                accepted_bytes.push(raw);
                results.push(None);
            }
            Err(rejection) => results.push(Some(ExecTxResult {
                code: rejection_code(&rejection),
                log: rejection.reason(),
                ..Default::default()
            })),
        }
    }
    let (outcome, executed_count) = outcome_that_fits(init, &accepted, &accepted_bytes, record_bytes_max)?;
    accepted_bytes.truncate(executed_count);
    let hashes: Vec<[u8; 32]> = accepted_bytes.iter().map(|raw| crate::tx::tx_hash(raw)).collect();
    let executed = init.chain.apply_outcome(&hashes, outcome);
    // Inputs that verified take, in order, a receipt while the executed
    // prefix lasts, then `block_full`.
    let mut receipts = executed.outcome.receipts.iter();
    let mut verified = accepted.iter().enumerate();
    let results = results
        .into_iter()
        .map(|slot| {
            slot.unwrap_or_else(|| {
                let (index, tx) = verified.next().expect("one slot per verified tx");
                match index < executed_count {
                    true => exec_result(tx, receipts.next().expect("one receipt per executed tx")),
                    false => ExecTxResult { code: CODE_BLOCK_FULL, log: BLOCK_FULL_LOG.into(), ..Default::default() },
                }
            })
        })
        .collect();
    assert!(receipts.next().is_none(), "every receipt was used");
    Ok(BlockExecution { results, executed, accepted: accepted_bytes })
}

const BLOCK_FULL_LOG: &str = "block_full: the block's record would exceed BLOCK_RECORD_BYTES_MAX; send it again";

/// The outcome of the longest prefix of `txs` (halving from all of them)
/// whose block record fits `record_bytes_max`, and that prefix's length.
/// A block CometBFT decided must commit whatever it holds: rather than
/// fail Commit on every validator, the transactions past the prefix are
/// answered `block_full` and change nothing. Deterministic: every
/// validator computes the same outcomes and so cuts at the same place.
fn outcome_that_fits(
    init: &Initialized,
    txs: &[crate::tx::Transaction],
    raw: &[Vec<u8>],
    record_bytes_max: u64,
) -> HandlerResult<(crate::exec::BlockOutcome, usize)> {
    let mut count = txs.len();
    loop {
        let outcome = init.chain.outcome(&txs[..count])?;
        if count == 0 || block_record_bytes(&raw[..count], &outcome.delta) as u64 <= record_bytes_max {
            return Ok((outcome, count));
        }
        count /= 2;
    }
}

/// One block's execution: a result per input, and what the store records.
struct BlockExecution {
    results: Vec<ExecTxResult>,
    executed: ExecutedBlock,
    accepted: Vec<Vec<u8>>,
}

fn exec_result(tx: &crate::tx::Transaction, receipt: &crate::exec::Receipt) -> ExecTxResult {
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
    i64::try_from(height).map_err(|_| AppError::HeightOverflow { height })
}

/// Why ProcessProposal rejects a block, by name: over a block limit, or a
/// transaction that does not decode or verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalRejection {
    Limits(BlockLimitError),
    /// The first transaction that does not decode or verify.
    BadTransaction {
        index: usize,
        rejection: Rejection,
    },
}

impl fmt::Display for ProposalRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposalRejection::Limits(error) => error.fmt(f),
            ProposalRejection::BadTransaction { index, rejection } => {
                write!(f, "bad_transaction: transaction {index}: {}", rejection.reason())
            }
        }
    }
}

impl std::error::Error for ProposalRejection {}

/// Why the application cannot open its store, or a handler cannot answer
/// (then an ABCI exception whose `error` is this message).
#[derive(Debug)]
pub enum AppError {
    /// A handler panicked while holding the application state.
    Poisoned,
    SnapshotServerPoisoned,
    /// Neither `--data` nor `[storage] data` (`NodeConfig::validate` checks first).
    NoDataDirectory,
    Config(ConfigError),
    /// The data directory holds the journal of an earlier version.
    JournalPresent {
        data: PathBuf,
    },
    /// The store in `data` does not open.
    OpenStore {
        data: PathBuf,
        source: PersistError,
    },
    /// The store in `data` was written by `sluice run`.
    SeededStore {
        data: PathBuf,
    },
    /// A request that needs the chain came before InitChain or state sync;
    /// `call` names it where it matters.
    NotInitialized {
        call: Option<&'static str>,
    },
    InitialHeight {
        initial_height: i64,
    },
    InvalidChainId {
        chain_id: String,
        source: ChainIdError,
    },
    /// A repeated InitChain for another genesis than the store's, or after a block.
    GenesisMismatch {
        chain_id: ChainId,
        app_state_hash: [u8; 32],
        store_chain_id: ChainId,
        store_app_state_hash: [u8; 32],
        committed_height: u64,
    },
    InvalidGenesis(GenesisError),
    /// Creating the store failed; `during`: `InitChain` or `state sync`.
    CreateStore {
        during: &'static str,
        source: PersistError,
    },
    /// FinalizeBlock at `height` while the block before it awaits Commit.
    FinalizeTwice {
        height: i64,
    },
    NegativeHeight {
        height: i64,
    },
    /// The store's segments cannot hold the largest block record the chain makes.
    StoreRecordsTooSmall {
        store_max: u64,
        chain_max: u64,
    },
    UnexpectedHeight {
        height: u64,
        expected: u64,
    },
    /// A decided block at `height` over `BLOCK_TXS_MAX`.
    TooManyTxs {
        height: u64,
        count: usize,
    },
    Execute(ChainError),
    CommitWithoutFinalize,
    /// The store did not make the block at `height` durable.
    Commit {
        height: u64,
        source: PersistError,
    },
    /// A restore to `restored_height` completed after this node committed blocks.
    CommittedDuringRestore {
        restored_height: u64,
    },
    /// Removing the replaced store's `path` failed.
    RemoveStore {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A height CometBFT cannot take (over `i64::MAX`).
    HeightOverflow {
        height: u64,
    },
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Poisoned => f.write_str("application state poisoned by an earlier panic; restart the node"),
            AppError::SnapshotServerPoisoned => f.write_str("snapshot server poisoned"),
            AppError::NoDataDirectory => f.write_str("no data directory"),
            AppError::Config(error) => error.fmt(f),
            AppError::JournalPresent { data } => write!(
                f,
                "{}: holds the journal of an earlier sluice (chain/), which this version does not read; \
                 start this node in a new data directory, by state sync or from genesis (docs/operations.md, \"Run a chain\")",
                data.display()
            ),
            AppError::OpenStore { data, source } => write!(f, "{}: {source}", data.display()),
            AppError::SeededStore { data } => write!(
                f,
                "{}: written by `sluice run` (a seeded benchmark chain), not by a node; give the node its own data directory",
                data.display()
            ),
            AppError::NotInitialized { call } => write!(f, "{} before InitChain", call.unwrap_or("called")),
            AppError::InitialHeight { initial_height } => {
                write!(f, "initial_height {initial_height} is not supported: Sluice heights start at 1")
            }
            AppError::InvalidChainId { chain_id, source } => {
                write!(f, "InitChain: chain_id {chain_id:?} cannot be signed over: {source}")
            }
            AppError::GenesisMismatch {
                chain_id,
                app_state_hash,
                store_chain_id,
                store_app_state_hash,
                committed_height,
            } => write!(
                f,
                "InitChain for chain {} with app_state hash {} does not match the store's genesis \
                 (chain {}, app_state hash {}, committed height {committed_height})",
                chain_id.as_str(),
                hex::encode(app_state_hash),
                store_chain_id.as_str(),
                hex::encode(store_app_state_hash),
            ),
            AppError::InvalidGenesis(error) => write!(f, "invalid genesis: {error}"),
            AppError::CreateStore { during, source } => write!(f, "{during}: creating the store: {source}"),
            AppError::FinalizeTwice { .. } => f.write_str("FinalizeBlock twice without Commit"),
            AppError::NegativeHeight { height } => write!(f, "negative height {height}"),
            AppError::StoreRecordsTooSmall { store_max, chain_max } => write!(
                f,
                "the store's segments hold block records of at most {store_max} bytes, less than the chain's {chain_max}"
            ),
            AppError::UnexpectedHeight { height, expected } => {
                write!(f, "FinalizeBlock height {height}, expected {expected}")
            }
            AppError::TooManyTxs { count, .. } => {
                write!(f, "block of {count} txs exceeds BLOCK_TXS_MAX {BLOCK_TXS_MAX}")
            }
            AppError::Execute(error) => error.fmt(f),
            AppError::CommitWithoutFinalize => f.write_str("Commit without FinalizeBlock"),
            AppError::Commit { height, source } => write!(f, "Commit at height {height}: {source}"),
            AppError::CommittedDuringRestore { .. } => {
                f.write_str("state sync completed a restore, but this node committed blocks meanwhile")
            }
            AppError::RemoveStore { path, source } => write!(f, "state sync: removing {}: {source}", path.display()),
            AppError::HeightOverflow { height } => write!(f, "height {height} exceeds i64"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Shown as their own message: what comes next is their source.
            AppError::Config(error) => error.source(),
            AppError::Execute(error) => error.source(),
            AppError::OpenStore { source, .. } | AppError::CreateStore { source, .. } => Some(source),
            AppError::Commit { source, .. } => Some(source),
            AppError::InvalidChainId { source, .. } => Some(source),
            AppError::InvalidGenesis(error) => Some(error),
            AppError::RemoveStore { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ConfigError> for AppError {
    fn from(error: ConfigError) -> Self {
        AppError::Config(error)
    }
}

impl From<ChainError> for AppError {
    fn from(error: ChainError) -> Self {
        AppError::Execute(error)
    }
}
