//! The chain: committed state plus the position of the next block.
//!
//! [`Chain::execute_block`] turns a list of verified transactions into the
//! next block: it executes them, applies the delta to state, and builds the
//! header that binds height, parent, transactions, receipts and state root.

use std::fmt;

use crate::block::{merkle_root, receipts_root, BlockHeader, BLOCK_TXS_MAX};
use crate::exec::parallel::execute_graph;
use crate::exec::{execute_block_serial, BlockOutcome, ConflictGraph, ExecutorKind};
use crate::program::ProgramRegistry;
use crate::state::State;
use crate::tx::{tx_hash, Transaction};

pub struct Chain {
    pub state: State,
    pub programs: ProgramRegistry,
    pub executor: ExecutorKind,
    /// Height of the last block; 0 before the first.
    pub height: u64,
    /// Hash of the last block; zeros before the first.
    pub last_hash: [u8; 32],
}

/// A block as executed: its header, and what execution produced.
pub struct ExecutedBlock {
    pub header: BlockHeader,
    pub outcome: BlockOutcome,
}

/// Why the chain refused to execute a block; nothing of it ran.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChainError {
    /// The block at `height` holds more than `BLOCK_TXS_MAX` transactions.
    TooManyTxs { height: u64, count: usize },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::TooManyTxs { count, .. } => {
                write!(f, "block of {count} transactions exceeds BLOCK_TXS_MAX {BLOCK_TXS_MAX}")
            }
        }
    }
}

impl std::error::Error for ChainError {}

impl Chain {
    pub fn new(state: State, programs: ProgramRegistry, executor: ExecutorKind) -> Chain {
        Chain { state, programs, executor, height: 0, last_hash: [0; 32] }
    }

    /// A chain continuing after block `height` (hash `last_hash`), whose
    /// result is `state`: what `persist::BlockStore::open` rebuilt.
    pub fn resume(
        state: State,
        programs: ProgramRegistry,
        executor: ExecutorKind,
        height: u64,
        last_hash: [u8; 32],
    ) -> Chain {
        Chain { state, programs, executor, height, last_hash }
    }

    /// Executes the next block on the current rayon pool.
    pub fn execute_block(&mut self, txs: &[Transaction]) -> Result<ExecutedBlock, ChainError> {
        let graph = (self.executor == ExecutorKind::Parallel).then(|| ConflictGraph::build(txs));
        let hashes: Vec<[u8; 32]> = txs.iter().map(|tx| tx_hash(&tx.encode())).collect();
        self.execute_scheduled(txs, &hashes, graph.as_ref())
    }

    /// Executes the next block with its conflict graph already built (the
    /// pipeline's schedule stage) and its transaction hashes known. With no
    /// graph, the serial reference executor runs.
    pub fn execute_scheduled(
        &mut self,
        txs: &[Transaction],
        tx_hashes: &[[u8; 32]],
        graph: Option<&ConflictGraph>,
    ) -> Result<ExecutedBlock, ChainError> {
        let outcome = self.outcome_scheduled(txs, graph)?;
        Ok(self.apply_outcome(tx_hashes, outcome))
    }

    /// What the next block of `txs` would do, without doing it: the caller
    /// may look at the outcome (its size, say) before `apply_outcome`.
    pub fn outcome(&self, txs: &[Transaction]) -> Result<BlockOutcome, ChainError> {
        let graph = (self.executor == ExecutorKind::Parallel).then(|| ConflictGraph::build(txs));
        self.outcome_scheduled(txs, graph.as_ref())
    }

    /// `outcome` with the conflict graph already built (or none: the
    /// serial executor), as the pipeline's execute stage has it.
    pub fn outcome_scheduled(
        &self,
        txs: &[Transaction],
        graph: Option<&ConflictGraph>,
    ) -> Result<BlockOutcome, ChainError> {
        if txs.len() > BLOCK_TXS_MAX {
            return Err(ChainError::TooManyTxs { height: self.height + 1, count: txs.len() });
        }
        let outcome = match graph {
            Some(graph) => execute_graph(&self.state, txs, &self.programs, graph),
            None => execute_block_serial(&self.state, txs, &self.programs),
        };
        assert_eq!(outcome.receipts.len(), txs.len(), "one receipt per transaction");
        Ok(outcome)
    }

    /// Makes `outcome`, computed by `outcome` on this chain's current
    /// state, the next block: applies its delta and links its header.
    pub fn apply_outcome(&mut self, tx_hashes: &[[u8; 32]], outcome: BlockOutcome) -> ExecutedBlock {
        assert_eq!(outcome.receipts.len(), tx_hashes.len(), "one hash per transaction");
        self.state.apply(&outcome.delta);
        let header = BlockHeader {
            height: self.height + 1,
            parent_hash: self.last_hash,
            tx_root: merkle_root(tx_hashes),
            receipts_root: receipts_root(&outcome.receipts),
            state_root: self.state.root(),
            tx_count: tx_hashes.len() as u32,
        };
        self.height = header.height;
        self.last_hash = header.hash();
        ExecutedBlock { header, outcome }
    }
}
