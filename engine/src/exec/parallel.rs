//! The parallel executor: runs a block's conflict graph on a worker pool.
//!
//! Sluice transactions declare their accounts, so unlike Block-STM this
//! executor never guesses. It builds the [`ConflictGraph`], runs every
//! transaction exactly once when its predecessors are done, and never
//! aborts or re-executes. Each transaction goes through the same
//! [`execute_transaction`] as the serial reference. The graph orders every
//! conflicting pair as block order does, so receipts and delta equal the
//! serial executor's, bit for bit, at any thread count.
//!
//! **Working set.** The block's accounts are loaded once, in parallel, into
//! a dense vector indexed by slot. A slot is a `Mutex<Account>`. The graph
//! already guarantees that no two running transactions touch a slot when
//! either writes it, so every lock is uncontended: it is a pair of atomic
//! operations, and it keeps the executor free of `unsafe`.
//!
//! **Scheduling.** Work stealing on a rayon pool. The transactions with no
//! dependencies are spawned in chunks. When a transaction finishes, it
//! decrements its successors' counters. The first successor that becomes
//! ready runs next on the same worker, with no spawn and no queue, and any
//! others are spawned for idle workers to steal. A chain of conflicts,
//! such as every transaction on a hot account, therefore runs as a plain
//! loop on one worker. When the whole block offers less than
//! `PARALLELISM_MIN` (transactions over the longest dependency chain), or
//! the pool has one thread, it runs in block order with no scheduling.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use crate::account::Account;
use crate::exec::graph::ConflictGraph;
use crate::exec::serial::delta_from_overlay;
use crate::exec::{execute_transaction, BlockOutcome, Receipt};
use crate::program::ProgramRegistry;
use crate::state::State;
use crate::tx::Transaction;

/// Below this much available parallelism (transactions over critical
/// path), a block runs in order on one worker: a hot account's chain gains
/// nothing from scheduling and would only pay for it.
const PARALLELISM_MIN: f64 = 1.5;

/// Ready transactions spawned as one task. Spawning one task per
/// transaction would cost about as much as a transfer's execution.
const ROOT_CHUNK_TXS: usize = 64;

/// Executes a block on the current rayon pool (wrap the call in
/// `pool.install` to choose the thread count).
pub fn execute_block_parallel(state: &State, txs: &[Transaction], programs: &ProgramRegistry) -> BlockOutcome {
    let graph = ConflictGraph::build(txs);
    execute_graph(state, txs, programs, &graph)
}

/// Runs a prebuilt graph on the current rayon pool.
pub fn execute_graph(
    state: &State,
    txs: &[Transaction],
    programs: &ProgramRegistry,
    graph: &ConflictGraph,
) -> BlockOutcome {
    assert_eq!(graph.tx_count(), txs.len(), "graph built for this block");
    let run = BlockRun {
        txs,
        programs,
        graph,
        slots: graph.slot_ids.par_iter().map(|id| Mutex::new(state.load(id))).collect(),
        pending: graph.dependency_counts.iter().map(|&n| AtomicU32::new(n)).collect(),
        receipts: (0..txs.len()).map(|_| OnceLock::new()).collect(),
    };
    let parallelism = txs.len() as f64 / graph.critical_path_txs.max(1) as f64;
    if parallelism < PARALLELISM_MIN || rayon::current_num_threads() == 1 {
        // Block order is a valid schedule of any conflict graph.
        (0..txs.len()).for_each(|t| run.run_one(t));
        return run.finish(state);
    }
    let roots: Vec<u32> = (0..txs.len() as u32).filter(|&t| graph.dependency_counts[t as usize] == 0).collect();
    rayon::scope(|scope| {
        for chunk in roots.chunks(ROOT_CHUNK_TXS) {
            let run = &run;
            scope.spawn(move |scope| chunk.iter().for_each(|&t| run.run_chain(t, scope)));
        }
    });
    run.finish(state)
}

struct BlockRun<'a> {
    txs: &'a [Transaction],
    programs: &'a ProgramRegistry,
    graph: &'a ConflictGraph,
    slots: Vec<Mutex<Account>>,
    /// Unfinished predecessors of each transaction.
    pending: Vec<AtomicU32>,
    receipts: Vec<OnceLock<Receipt>>,
}

impl<'a> BlockRun<'a> {
    /// Runs `first`, then keeps going along ready successors on this worker.
    fn run_chain<'s>(&'s self, first: u32, scope: &rayon::Scope<'s>) {
        let mut next = Some(first);
        while let Some(t) = next {
            self.run_one(t as usize);
            next = None;
            for &succ in self.graph.successors_of(t as usize) {
                // AcqRel: the successor's worker must see this
                // transaction's writes (the slot mutexes also order them).
                if self.pending[succ as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                    match next {
                        None => next = Some(succ),
                        Some(_) => scope.spawn(move |scope| self.run_chain(succ, scope)),
                    }
                }
            }
        }
    }

    fn run_one(&self, t: usize) {
        let tx = &self.txs[t];
        let slots = self.graph.slots_of(t);
        let mut accounts: Vec<Account> = slots.iter().map(|&s| self.lock(s).clone()).collect();
        let receipt = execute_transaction(tx, &mut accounts, self.programs);
        for ((meta, &slot), account) in tx.accounts.iter().zip(slots).zip(accounts) {
            if meta.writable {
                *self.lock(slot) = account;
            }
        }
        let fresh = self.receipts[t].set(receipt).is_ok();
        assert!(fresh, "transaction {t} ran twice");
    }

    fn lock(&self, slot: u32) -> std::sync::MutexGuard<'_, Account> {
        // A poisoned slot means a program panicked mid-transaction; the
        // panic propagates out of the scope, so no poisoned value is used.
        self.slots[slot as usize].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn finish(self, state: &State) -> BlockOutcome {
        let receipts: Vec<Receipt> = self
            .receipts
            .into_iter()
            .enumerate()
            .map(|(t, r)| r.into_inner().unwrap_or_else(|| panic!("transaction {t} never ran")))
            .collect();
        let mut slots: Vec<Option<Account>> =
            self.slots.into_iter().map(|m| Some(m.into_inner().unwrap_or_else(|p| p.into_inner()))).collect();
        let written = self.graph.written_slots.iter().map(|&s| {
            let account = slots[s as usize].take().expect("each slot listed once");
            (self.graph.slot_ids[s as usize], account)
        });
        BlockOutcome { receipts, delta: delta_from_overlay(state, written) }
    }
}
