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
//! a dense vector indexed by slot. When the block runs in order, that is a
//! plain `Vec<Account>` owned by the one worker. When it is scheduled, a
//! slot is a `Mutex<Account>`: the graph already guarantees that no two
//! running transactions touch a slot when either writes it, so every lock
//! is uncontended, a pair of atomic operations, and it keeps the executor
//! free of `unsafe`. A transaction moves its writable accounts out of
//! their slots and back, and copies its read-only ones.
//!
//! **Scheduling.** Work stealing on a rayon pool. The transactions with no
//! dependencies are spawned in chunks. When a transaction finishes, it
//! decrements its successors' counters and pushes those it released onto
//! its task's ready stack; the newest runs next on the same worker, with
//! no spawn and no queue, and above 16 half the stack is spawned for idle
//! workers to steal. A chain of conflicts, such as every transaction on a
//! hot account, therefore runs as a plain loop on one worker.
//!
//! **When not to schedule.** A pool of fewer than `THREADS_MIN` threads
//! runs every block in block order on one worker, with the other threads
//! loading the working set and building the delta around it: scheduling
//! costs each transaction more than two threads can repay. A larger pool
//! does the same for a block that offers less than
//! `PARALLELISM_PER_THREAD_MIN` times its thread count (transactions over
//! the longest dependency chain). In order, no edges are built, no
//! counters touched, no locks taken.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::account::{Account, AccountId};
use crate::exec::graph::{Access, ConflictGraph, Dependencies};
use crate::exec::serial::{differs_from, is_canonical_delta};
use crate::exec::{execute_transaction_in, BlockOutcome, Receipt, RollbackImages};
use crate::limits::{LOCAL_READY_MAX, PARALLELISM_PER_THREAD_MIN, THREADS_MIN};
use crate::program::ProgramRegistry;
use crate::state::{State, StateDelta};
use crate::tx::Transaction;

/// Ready transactions spawned as one task. Spawning one task per
/// transaction would cost about as much as a transfer's execution.
const ROOT_CHUNK_TXS: usize = 64;

/// When a block is worth scheduling across the pool's threads.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct SchedulePolicy {
    /// Pools with fewer threads run every block in order.
    pub threads_min: usize,
    /// Blocks with less available parallelism per thread run in order.
    pub parallelism_per_thread_min: f64,
}

impl SchedulePolicy {
    pub const DEFAULT: SchedulePolicy =
        SchedulePolicy { threads_min: THREADS_MIN, parallelism_per_thread_min: PARALLELISM_PER_THREAD_MIN };
    /// Schedules every block, however few threads the pool has and however
    /// little parallelism the block offers. Tests and fuzzing use it, so
    /// that the scheduler runs on every block they generate rather than
    /// only on the few a default policy would hand it.
    pub const ALWAYS: SchedulePolicy = SchedulePolicy { threads_min: 1, parallelism_per_thread_min: 0.0 };

    /// Whether a block with this graph is worth scheduling across
    /// `threads`. The pipeline asks this early, to build the edges in its
    /// schedule stage only for blocks that will use them.
    pub fn schedules(&self, graph: &ConflictGraph, threads: usize) -> bool {
        let parallelism = graph.tx_count() as f64 / graph.critical_path_txs.max(1) as f64;
        threads >= self.threads_min && parallelism >= self.parallelism_per_thread_min * threads as f64
    }

    /// Builds a block's graph with its edges when the block will be
    /// scheduled on `threads`: a stage that prepares blocks ahead of
    /// execution (the pipeline's schedule stage) calls this, so the
    /// execute stage finds the edges built.
    pub fn build_graph(&self, txs: &[Transaction], threads: usize) -> ConflictGraph {
        let graph = ConflictGraph::build(txs);
        if self.schedules(&graph, threads) {
            graph.dependencies();
        }
        graph
    }
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
    let outcome = if policy.schedules(graph, rayon::current_num_threads()) {
        execute_scheduled(state, txs, programs, graph)
    } else {
        execute_in_order(state, txs, programs, graph)
    };
    assert_eq!(outcome.receipts.len(), txs.len(), "one receipt per transaction");
    assert!(outcome.delta.len() <= graph.slot_ids.len(), "the delta holds only accounts the block declared");
    debug_assert!(is_canonical_delta(&outcome.delta), "delta sorted by id, each id once");
    outcome
}

/// Block order is a valid schedule of any conflict graph. One worker owns
/// every slot, so it needs neither edges nor locks; another sorts the
/// delta's candidates meanwhile.
fn execute_in_order(
    state: &State,
    txs: &[Transaction],
    programs: &ProgramRegistry,
    graph: &ConflictGraph,
) -> BlockOutcome {
    let (committed, mut slots) = load_working_set(state, graph, |account| account);
    let (receipts, written) =
        rayon::join(|| run_in_order(txs, programs, graph, &mut slots), || written_slots_by_id(graph));
    BlockOutcome { receipts, delta: delta_of(graph, &committed, &slots, &written) }
}

fn run_in_order(
    txs: &[Transaction],
    programs: &ProgramRegistry,
    graph: &ConflictGraph,
    slots: &mut [Account],
) -> Vec<Receipt> {
    let mut worker = Worker::default();
    let receipts = txs.iter().enumerate().map(|(t, tx)| worker.execute(tx, graph.accesses_of(t), programs, slots));
    receipts.collect()
}

/// Runs the graph's transactions as their dependencies finish, on every
/// thread of the current pool.
fn execute_scheduled(
    state: &State,
    txs: &[Transaction],
    programs: &ProgramRegistry,
    graph: &ConflictGraph,
) -> BlockOutcome {
    let dependencies = graph.dependencies();
    let (committed, slots) = load_working_set(state, graph, |account| Slot(Mutex::new(account)));
    let run = BlockRun {
        txs,
        programs,
        graph,
        dependencies,
        slots,
        pending: dependencies.counts.iter().map(|&n| AtomicU32::new(n)).collect(),
        receipts: Mutex::new(Vec::new()),
    };
    let roots: Vec<u32> = (0..txs.len() as u32).filter(|&t| dependencies.counts[t as usize] == 0).collect();
    // The first transaction waits for nothing: edges point forward.
    assert!(txs.is_empty() || roots.first() == Some(&0), "transaction 0 is a root of the graph");
    let run_all = || {
        rayon::scope(|scope| {
            // Spawned last to first: this worker pops its own newest spawn
            // first, so it starts at the block's beginning, whose slots the
            // load gave it (a parallel iterator keeps the first half on the
            // calling worker), while thieves take from the block's end. In
            // block order, every transaction on two threads ran on the core
            // that had not loaded its accounts, and the run took 1.7× longer.
            for chunk in roots.chunks(ROOT_CHUNK_TXS).rev() {
                let run = &run;
                scope.spawn(move |scope| run.run_ready(chunk.to_vec(), scope));
            }
        })
    };
    let ((), written) = rayon::join(run_all, || written_slots_by_id(graph));
    let receipts = run.receipts_in_block_order();
    let slots: Vec<Account> =
        run.slots.into_par_iter().map(|slot| slot.0.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
    // Counters of transactions with one predecessor are never touched;
    // every other counter ends at zero.
    debug_assert!(
        run.pending
            .iter()
            .zip(&dependencies.counts)
            .all(|(n, &count)| n.load(Ordering::Relaxed) == u32::from(count == 1)),
        "every predecessor of every transaction counted down once"
    );
    BlockOutcome { receipts, delta: delta_of(graph, &committed, &slots, &written) }
}

/// Per slot, its committed value (`None`: absent), kept as a reference
/// into the state so the delta compares against it without a second
/// lookup; and the working copy, wrapped as the executor needs.
fn load_working_set<'s, S: Send>(
    state: &'s State,
    graph: &ConflictGraph,
    wrap: impl Fn(Account) -> S + Sync,
) -> (Vec<Option<&'s Account>>, Vec<S>) {
    let (committed, working): (Vec<_>, Vec<_>) = graph
        .slot_ids
        .par_iter()
        .map(|id| {
            let committed = state.get(id);
            (committed, wrap(committed.cloned().unwrap_or_default()))
        })
        .unzip();
    assert_eq!(committed.len(), graph.slot_ids.len(), "a committed value per slot");
    assert_eq!(working.len(), graph.slot_ids.len(), "a working copy per slot");
    (committed, working)
}

struct BlockRun<'a> {
    txs: &'a [Transaction],
    programs: &'a ProgramRegistry,
    graph: &'a ConflictGraph,
    dependencies: &'a Dependencies,
    slots: Vec<Slot>,
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

impl Worker {
    /// Executes `tx` on its declared accounts, moved out of their slots
    /// (writable) or copied (read-only: other readers may run at once),
    /// and moves the writable ones back.
    fn execute(
        &mut self,
        tx: &Transaction,
        accesses: &[Access],
        programs: &ProgramRegistry,
        slots: &mut (impl WorkingSlots + ?Sized),
    ) -> Receipt {
        debug_assert!(self.accounts.is_empty(), "no accounts left over from the previous transaction");
        self.accounts.extend(accesses.iter().map(|access| {
            slots.with_slot(
                access.slot(),
                |account| {
                    if access.writable() {
                        std::mem::take(account)
                    } else {
                        account.clone()
                    }
                },
            )
        }));
        let receipt = execute_transaction_in(tx, &mut self.accounts, programs, &mut self.images);
        for (access, account) in accesses.iter().zip(self.accounts.drain(..)) {
            if access.writable() {
                slots.with_slot(access.slot(), |slot| *slot = account);
            }
        }
        receipt
    }
}

/// The working set as a worker reaches it, one slot at a time: owned
/// outright when the block runs in order, behind each slot's lock when it
/// is scheduled. One [`Worker::execute`] serves both.
trait WorkingSlots {
    fn with_slot<R>(&mut self, slot: usize, f: impl FnOnce(&mut Account) -> R) -> R;
}

impl WorkingSlots for [Account] {
    fn with_slot<R>(&mut self, slot: usize, f: impl FnOnce(&mut Account) -> R) -> R {
        f(&mut self[slot])
    }
}

impl WorkingSlots for &[Slot] {
    fn with_slot<R>(&mut self, slot: usize, f: impl FnOnce(&mut Account) -> R) -> R {
        // A poisoned slot means a program panicked mid-transaction; the
        // panic propagates out of the scope, so no poisoned value is used.
        f(&mut self[slot].0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
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
        self.receipts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(worker.receipts);
    }

    /// Pushes the successors of `t` that it was the last to wait for.
    fn release_successors(&self, t: usize, ready: &mut Vec<u32>) {
        for &succ in self.dependencies.successors_of(t) {
            debug_assert!(succ as usize > t, "edge {t} → {succ} points backwards in block order");
            let waits_for_one = self.dependencies.counts[succ as usize] == 1;
            // AcqRel: the successor's worker must see this transaction's
            // writes (the slot mutexes also order them). A successor that
            // waits for `t` alone is released without touching the counter.
            if waits_for_one || self.last_predecessor_done(succ as usize) {
                ready.push(succ);
            }
        }
    }

    /// Counts one finished predecessor of `succ`; true if it was the last.
    fn last_predecessor_done(&self, succ: usize) -> bool {
        let waiting = self.pending[succ].fetch_sub(1, Ordering::AcqRel);
        debug_assert!(waiting >= 1, "transaction {succ} released by more predecessors than it has");
        waiting == 1
    }

    fn run_one(&self, t: usize, worker: &mut Worker) {
        let receipt = worker.execute(&self.txs[t], self.graph.accesses_of(t), self.programs, &mut &self.slots[..]);
        worker.receipts.push((t as u32, receipt));
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

/// The slots some transaction may write, the only candidates for the
/// delta, in ascending id order. It depends on the graph alone, so it is
/// sorted while the block runs.
fn written_slots_by_id(graph: &ConflictGraph) -> Vec<u32> {
    let mut written: Vec<u32> =
        (0..graph.slot_written.len() as u32).filter(|&s| graph.slot_written[s as usize]).collect();
    sort_slots_by_id(&mut written, &graph.slot_ids);
    written
}

/// The block's delta: every written slot whose final value differs from
/// its committed one, in ascending id order. Copied rather than moved out
/// of `slots`, so both workers fill it at once; a transfer's account has
/// no data, so the copy allocates nothing.
fn delta_of(graph: &ConflictGraph, committed: &[Option<&Account>], slots: &[Account], written: &[u32]) -> StateDelta {
    assert_eq!(committed.len(), graph.slot_ids.len(), "a committed value per slot");
    assert_eq!(slots.len(), graph.slot_ids.len(), "a final value per slot");
    assert!(written.len() <= slots.len(), "written slots are distinct slots");
    // Two passes: an indexed parallel `collect` writes straight into the
    // result, where a filtering one gathers pieces and copies them again.
    let changed: Vec<u32> =
        written.par_iter().copied().filter(|&s| differs_from(committed[s as usize], &slots[s as usize])).collect();
    changed.par_iter().map(|&s| (graph.slot_ids[s as usize], slots[s as usize].clone())).collect()
}

/// Sorts slots into the canonical delta order, ascending account id.
///
/// Sorts words of (first four bytes of the id, slot), then settles ties on
/// the whole id. Ids are public keys and hashes, so ties are rare (about
/// one per 20 blocks of 20,000 changed accounts), and sorting plain
/// integers took half the time of (u64, u32) pairs and a fraction of
/// comparing 32-byte ids through the slot table.
fn sort_slots_by_id(slots: &mut [u32], ids: &[AccountId]) {
    let prefix = |s: u32| u32::from_be_bytes(ids[s as usize].0[..4].try_into().expect("4 bytes")) as u64;
    let mut keyed: Vec<u64> = slots.iter().map(|&s| prefix(s) << 32 | s as u64).collect();
    keyed.sort_unstable();
    for (slot, key) in slots.iter_mut().zip(&keyed) {
        *slot = *key as u32;
    }
    let mut start = 0;
    while start < keyed.len() {
        let run = keyed[start..].iter().take_while(|k| *k >> 32 == keyed[start] >> 32).count();
        if run > 1 {
            slots[start..start + run].sort_unstable_by_key(|&s| ids[s as usize]);
        }
        start += run;
    }
    // O(slots) after an O(slots log slots) sort: debug only.
    debug_assert!(
        slots.windows(2).all(|pair| ids[pair[0] as usize] < ids[pair[1] as usize]),
        "slots in ascending id order"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ProgramId;
    use crate::tx::{AccountMeta, Instruction};

    /// `count` transactions, each writing its own two accounts after
    /// every `chain_every`-th one also writes account 0xffff (a chain).
    fn block(count: u16, chain_every: u16) -> Vec<Transaction> {
        let id = |n: u16| {
            let mut bytes = [0u8; 32];
            bytes[..2].copy_from_slice(&n.to_be_bytes());
            AccountId(bytes)
        };
        (0..count)
            .map(|i| {
                let mut accounts = vec![
                    AccountMeta { id: id(2 * i), writable: true },
                    AccountMeta { id: id(2 * i + 1), writable: true },
                ];
                if i % chain_every == 0 {
                    accounts.push(AccountMeta { id: id(u16::MAX), writable: true });
                }
                Transaction {
                    signature: [0; 64],
                    nonce: 0,
                    fee: 0,
                    accounts,
                    instructions: vec![Instruction { program: ProgramId::SYSTEM, accounts: vec![], data: vec![] }],
                }
            })
            .collect()
    }

    #[test]
    fn the_default_policy_schedules_only_wide_blocks_on_four_threads_or_more() {
        // 1,000 transactions, a chain through every 100th: parallelism 100.
        let wide = ConflictGraph::build(&block(1000, 100));
        assert_eq!(wide.critical_path_txs, 10);
        for threads in 1..THREADS_MIN {
            assert!(!SchedulePolicy::DEFAULT.schedules(&wide, threads), "{threads} threads run in order");
        }
        assert!(SchedulePolicy::DEFAULT.schedules(&wide, THREADS_MIN));
        // 100 per thread is above the 8 per thread minimum up to 12 threads.
        assert!(SchedulePolicy::DEFAULT.schedules(&wide, 12));
        assert!(!SchedulePolicy::DEFAULT.schedules(&wide, 13));
        // Every transaction on the chain: parallelism 1, always in order.
        let narrow = ConflictGraph::build(&block(1000, 1));
        assert!(!SchedulePolicy::DEFAULT.schedules(&narrow, 16));
        // ALWAYS hands every block to the scheduler, even on one thread.
        for graph in [&wide, &narrow] {
            assert!(SchedulePolicy::ALWAYS.schedules(graph, 1));
        }
    }

    #[test]
    fn build_graph_builds_edges_only_for_a_block_it_will_schedule() {
        let txs = block(1000, 100);
        let scheduled = SchedulePolicy::DEFAULT.build_graph(&txs, THREADS_MIN);
        assert!(scheduled.edges_built(), "edges built ahead for the scheduler");
        let in_order = SchedulePolicy::DEFAULT.build_graph(&txs, 2);
        assert!(!in_order.edges_built(), "no edges for a block run in order");
    }

    #[test]
    fn slots_sort_by_whole_id_when_prefixes_tie() {
        // Ids 0..4 share their first eight bytes and differ in the last;
        // ids 4..6 differ in the first byte. The order must be the ids'.
        let mut ids = Vec::new();
        for tail in [9u8, 3, 7, 1] {
            let mut bytes = [0x42u8; 32];
            bytes[31] = tail;
            ids.push(AccountId(bytes));
        }
        ids.push(AccountId([0x01; 32]));
        ids.push(AccountId([0xff; 32]));
        // Equal in the four bytes the integer sort keys on, apart after.
        let mut bytes = [0x42u8; 32];
        bytes[4] = 0x41;
        ids.push(AccountId(bytes));
        let mut slots: Vec<u32> = vec![5, 0, 3, 6, 4, 1, 2];
        sort_slots_by_id(&mut slots, &ids);
        let mut expected: Vec<u32> = (0..ids.len() as u32).collect();
        expected.sort_by_key(|&s| ids[s as usize]);
        assert_eq!(slots, expected);
        assert_eq!(slots, vec![4, 6, 3, 1, 2, 0, 5]);
    }
}
