//! The parallel executor: runs a block's conflict graph on a worker pool.
//!
//! Sluice transactions declare their accounts, so unlike Block-STM this
//! executor never guesses. It builds the [`ConflictGraph`], runs every
//! transaction exactly once when its predecessors are done, and never
//! aborts or re-executes. Each transaction goes through the same
//! [`execute_transaction`](crate::exec::execute_transaction) as the
//! serial reference. The graph orders every conflicting pair as block
//! order does, so receipts and delta equal the serial executor's, bit for
//! bit, at any thread count.
//!
//! **Working set.** The block's accounts are loaded once, in parallel, into
//! a dense vector indexed by slot. A slot is a `Mutex<Account>`. The graph
//! already guarantees that no two running transactions touch a slot when
//! either writes it, so every lock is uncontended: it is a pair of atomic
//! operations, and it keeps the executor free of `unsafe`. A transaction moves its writable accounts
//! out of their slots and back, and copies its read-only ones.
//!
//! **Scheduling.** Work stealing on a rayon pool. The transactions with no
//! dependencies are spawned in chunks. When a transaction finishes, it
//! decrements its successors' counters and pushes those it released onto
//! its task's ready stack; the newest runs next on the same worker, with
//! no spawn and no queue, and above 16 half the stack is spawned for idle
//! workers to steal. A chain of conflicts, such as every transaction on a
//! hot account, therefore runs as a plain loop on one worker. When the
//! whole block offers less than `PARALLELISM_PER_THREAD_MIN` times the
//! pool's thread count (transactions over the longest dependency chain),
//! or the pool has one thread, it runs in block order with no scheduling.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use rayon::prelude::*;

use crate::account::{Account, AccountId};
use crate::exec::graph::ConflictGraph;
use crate::exec::serial::differs_from;
use crate::exec::{execute_transaction_in, BlockOutcome, Receipt, RollbackImages};
use crate::program::ProgramRegistry;
use crate::state::State;
use crate::tx::Transaction;

/// Below this much available parallelism (transactions over critical
/// path) per pool thread, a block runs in order on one worker.
///
/// Handing a transaction to another core moves its accounts' cache lines
/// there, which costs about as much as a transfer's execution. A block
/// whose conflicts are dense pays that on most transactions: `zipf`
/// (parallelism 6.2 per 10,000 transfers) ran at 0.6–0.8× of one thread
/// on two threads, while `uniform` and `groups:8` (parallelism in the
/// thousands) gained. Measured on a 2-core machine only; see
/// docs/benchmarks.md.
const PARALLELISM_PER_THREAD_MIN: f64 = 8.0;

/// Ready transactions spawned as one task. Spawning one task per
/// transaction would cost about as much as a transfer's execution.
const ROOT_CHUNK_TXS: usize = 64;

/// A worker keeps up to this many ready transactions to itself; beyond it,
/// it hands half to the pool, so an idle worker finds work to steal
/// without every newly ready transaction paying for a spawn.
const LOCAL_READY_MAX: usize = 16;

/// When a block is worth scheduling across the pool's threads.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct SchedulePolicy {
    /// Blocks with less available parallelism per thread run in order.
    pub parallelism_per_thread_min: f64,
}

impl SchedulePolicy {
    pub const DEFAULT: SchedulePolicy = SchedulePolicy { parallelism_per_thread_min: PARALLELISM_PER_THREAD_MIN };
    /// Schedules every block across threads when the pool has more than
    /// one, however little parallelism it offers. Tests and fuzzing use
    /// it, so that the scheduler runs on every block they generate rather
    /// than only on the few with parallelism to spare.
    pub const ALWAYS: SchedulePolicy = SchedulePolicy { parallelism_per_thread_min: 0.0 };
}

impl Default for SchedulePolicy {
    fn default() -> SchedulePolicy {
        SchedulePolicy::DEFAULT
    }
}

/// Executes a block on the current rayon pool (wrap the call in
/// `pool.install` to choose the thread count).
pub fn execute_block_parallel(state: &State, txs: &[Transaction], programs: &ProgramRegistry) -> BlockOutcome {
    execute_block_parallel_with(state, txs, programs, SchedulePolicy::DEFAULT)
}

/// [`execute_block_parallel`] under a chosen [`SchedulePolicy`].
pub fn execute_block_parallel_with(
    state: &State,
    txs: &[Transaction],
    programs: &ProgramRegistry,
    policy: SchedulePolicy,
) -> BlockOutcome {
    let graph = ConflictGraph::build(txs);
    execute_graph_with(state, txs, programs, &graph, policy)
}

/// Runs a prebuilt graph on the current rayon pool.
pub fn execute_graph(
    state: &State,
    txs: &[Transaction],
    programs: &ProgramRegistry,
    graph: &ConflictGraph,
) -> BlockOutcome {
    execute_graph_with(state, txs, programs, graph, SchedulePolicy::DEFAULT)
}

/// [`execute_graph`] under a chosen [`SchedulePolicy`].
pub fn execute_graph_with(
    state: &State,
    txs: &[Transaction],
    programs: &ProgramRegistry,
    graph: &ConflictGraph,
    policy: SchedulePolicy,
) -> BlockOutcome {
    assert_eq!(graph.tx_count(), txs.len(), "graph built for this block");
    let committed: Vec<Option<&Account>> = graph.slot_ids.par_iter().map(|id| state.get(id)).collect();
    let run = BlockRun {
        txs,
        programs,
        graph,
        slots: committed.par_iter().map(|account| Slot(Mutex::new(account.cloned().unwrap_or_default()))).collect(),
        committed,
        pending: graph.dependency_counts.iter().map(|&n| AtomicU32::new(n)).collect(),
        receipts: Mutex::new(Vec::new()),
    };
    let parallelism = txs.len() as f64 / graph.critical_path_txs.max(1) as f64;
    let threads = rayon::current_num_threads();
    if threads == 1 || parallelism < policy.parallelism_per_thread_min * threads as f64 {
        // Block order is a valid schedule of any conflict graph.
        let mut worker = Worker::default();
        (0..txs.len()).for_each(|t| run.run_one(t, &mut worker));
        run.keep_receipts(worker);
        return run.finish();
    }
    let roots: Vec<u32> = (0..txs.len() as u32).filter(|&t| graph.dependency_counts[t as usize] == 0).collect();
    rayon::scope(|scope| {
        for chunk in roots.chunks(ROOT_CHUNK_TXS) {
            let run = &run;
            scope.spawn(move |scope| run.run_ready(chunk.to_vec(), scope));
        }
    });
    run.finish()
}

struct BlockRun<'a> {
    txs: &'a [Transaction],
    programs: &'a ProgramRegistry,
    graph: &'a ConflictGraph,
    slots: Vec<Slot>,
    /// Per slot, the committed value it started from (`None`: absent).
    /// Kept as references into the state, which outlives the run, so the
    /// delta compares against them without a second lookup per account.
    committed: Vec<Option<&'a Account>>,
    /// Unfinished predecessors of each transaction.
    pending: Vec<AtomicU32>,
    /// Each task's receipts, handed over once when the task ends: one lock
    /// per task rather than a synchronised cell per transaction.
    receipts: Mutex<Vec<Vec<(u32, Receipt)>>>,
}

/// One account of the working set. Padding slots to a cache line, against
/// false sharing between hot accounts in adjacent slots, was measured and
/// changed nothing on two threads, so slots are packed.
struct Slot(Mutex<Account>);

/// What one task reuses from one transaction to the next.
#[derive(Default)]
struct Worker {
    accounts: Vec<Account>,
    images: RollbackImages,
    receipts: Vec<(u32, Receipt)>,
}

impl<'a> BlockRun<'a> {
    /// Runs `ready` and everything it makes ready, on this worker, newest
    /// first: the successor a transaction just released runs next, while
    /// its accounts are still in this core's cache, so a chain of
    /// conflicts is a plain loop with no queue in between.
    fn run_ready<'s>(&'s self, mut ready: Vec<u32>, scope: &rayon::Scope<'s>) {
        ready.reverse();
        let mut worker = Worker::default();
        while let Some(t) = ready.pop() {
            self.run_one(t as usize, &mut worker);
            self.release_successors(t as usize, &mut ready);
            if ready.len() > LOCAL_READY_MAX {
                let shared = ready.split_off(ready.len() / 2);
                scope.spawn(move |scope| self.run_ready(shared, scope));
            }
        }
        self.keep_receipts(worker);
    }

    /// Pushes the successors of `t` that it was the last to wait for.
    fn release_successors(&self, t: usize, ready: &mut Vec<u32>) {
        for &succ in self.graph.successors_of(t) {
            let waits_for_one = self.graph.dependency_counts[succ as usize] == 1;
            // AcqRel: the successor's worker must see this transaction's
            // writes (the slot mutexes also order them). A successor that
            // waits for `t` alone is released without touching the counter.
            if waits_for_one || self.pending[succ as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                ready.push(succ);
            }
        }
    }

    /// Executes `t` on its declared accounts, moved out of their slots
    /// (writable) or copied (read-only: other readers may run at once),
    /// and moves the writable ones back.
    fn run_one(&self, t: usize, worker: &mut Worker) {
        let tx = &self.txs[t];
        let slots = self.graph.slots_of(t);
        worker.accounts.clear();
        worker.accounts.extend(tx.accounts.iter().zip(slots).map(|(meta, &slot)| {
            let mut account = self.lock(slot);
            if meta.writable {
                std::mem::take(&mut *account)
            } else {
                account.clone()
            }
        }));
        let receipt = execute_transaction_in(tx, &mut worker.accounts, self.programs, &mut worker.images);
        for ((meta, &slot), account) in tx.accounts.iter().zip(slots).zip(worker.accounts.drain(..)) {
            if meta.writable {
                *self.lock(slot) = account;
            }
        }
        worker.receipts.push((t as u32, receipt));
    }

    fn lock(&self, slot: u32) -> MutexGuard<'_, Account> {
        // A poisoned slot means a program panicked mid-transaction; the
        // panic propagates out of the scope, so no poisoned value is used.
        self.slots[slot as usize].0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keep_receipts(&self, worker: Worker) {
        self.receipts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(worker.receipts);
    }

    fn finish(self) -> BlockOutcome {
        let receipts = self.receipts_in_block_order();
        let graph = self.graph;
        let mut accounts: Vec<Account> =
            self.slots.into_par_iter().map(|slot| slot.0.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        let committed = &self.committed;
        let mut changed: Vec<u32> = (0..accounts.len() as u32)
            .into_par_iter()
            .filter(|&s| {
                let s = s as usize;
                graph.slot_written[s] && differs_from(committed[s], &accounts[s])
            })
            .collect();
        sort_slots_by_id(&mut changed, &graph.slot_ids);
        let delta = changed
            .into_iter()
            .map(|s| (graph.slot_ids[s as usize], std::mem::take(&mut accounts[s as usize])))
            .collect();
        BlockOutcome { receipts, delta }
    }

    /// Every transaction ran exactly once: the graph is a DAG whose every
    /// transaction is released exactly once by its last predecessor.
    fn receipts_in_block_order(&self) -> Vec<Receipt> {
        let mut receipts: Vec<Option<Receipt>> = vec![None; self.txs.len()];
        let lists = self.receipts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for &(t, receipt) in lists.iter().flatten() {
            let previous = receipts[t as usize].replace(receipt);
            assert!(previous.is_none(), "transaction {t} ran twice");
        }
        let receipts = receipts.into_iter().enumerate();
        receipts.map(|(t, r)| r.unwrap_or_else(|| panic!("transaction {t} never ran"))).collect()
    }
}

/// Sorts slots into the canonical delta order, ascending account id.
///
/// Sorts (first eight bytes, slot) pairs, then settles ties on the whole
/// id. Ids are public keys and hashes, so a tie is all but impossible, and
/// the integer sort is several times cheaper than comparing 32-byte ids
/// through the slot table.
fn sort_slots_by_id(slots: &mut Vec<u32>, ids: &[AccountId]) {
    let prefix = |s: u32| u64::from_be_bytes(ids[s as usize].0[..8].try_into().expect("8 bytes"));
    let mut keyed: Vec<(u64, u32)> = slots.iter().map(|&s| (prefix(s), s)).collect();
    keyed.sort_unstable();
    slots.clear();
    slots.extend(keyed.iter().map(|&(_, s)| s));
    let mut start = 0;
    while start < keyed.len() {
        let run = keyed[start..].iter().take_while(|k| k.0 == keyed[start].0).count();
        if run > 1 {
            slots[start..start + run].sort_unstable_by_key(|&s| ids[s as usize]);
        }
        start += run;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_sort_by_whole_id_when_prefixes_tie() {
        // Ids 0..4 share their first eight bytes and differ after them;
        // ids 4..6 differ in the first byte. The order must be the ids'.
        let mut ids = Vec::new();
        for tail in [9u8, 3, 7, 1] {
            let mut bytes = [0x42u8; 32];
            bytes[31] = tail;
            ids.push(AccountId(bytes));
        }
        ids.push(AccountId([0x01; 32]));
        ids.push(AccountId([0xff; 32]));
        let mut slots: Vec<u32> = vec![5, 0, 3, 4, 1, 2];
        sort_slots_by_id(&mut slots, &ids);
        let mut expected: Vec<u32> = (0..ids.len() as u32).collect();
        expected.sort_by_key(|&s| ids[s as usize]);
        assert_eq!(slots, expected);
        assert_eq!(slots, vec![4, 3, 1, 2, 0, 5]);
    }
}
