//! The conflict graph of a block, built from declared access sets.
//!
//! Every account a block touches gets a dense *slot* (0, 1, 2, … in order
//! of first appearance), so the executor indexes a vector, not a map.
//! Edges order every pair of transactions that touch one account when at
//! least one of them writes it, so the result cannot depend on timing:
//!
//! - a transaction depends on the latest earlier *writer* of each account
//!   it touches (read-after-write, write-after-write);
//! - a writer also depends on every *reader* of the account since that
//!   writer (write-after-read).
//!
//! Reads-only pairs get no edge: two readers of one account run in
//! parallel.
//!
//! **Two passes, the second only when needed.** [`ConflictGraph::build`]
//! walks the declared accesses once: it hashes each account id to its
//! slot and keeps, per slot, the depth of the latest writer and the
//! deepest reader since. That is enough for the longest dependency chain,
//! which decides whether the block is worth scheduling at all; a block
//! that runs in order (a hot account, dense conflicts) never pays for
//! edges. [`ConflictGraph::dependencies`] builds the edges on first use,
//! by replaying the same rules over the slot numbers with no hashing: per
//! slot the last writer and the readers since, each reader recorded once
//! and consumed at most once, so both passes are O(total declared
//! accesses). Edges go into compressed rows (CSR): one allocation for all
//! successors, no per-transaction vectors.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use crate::account::AccountId;
use crate::limits::ACCESSES_MAX;
use crate::tx::Transaction;

pub struct ConflictGraph {
    /// Slot → account id, in order of first appearance in the block.
    pub slot_ids: Vec<AccountId>,
    /// Per transaction, its declared accesses in declared order:
    /// `accesses[access_starts[t]..access_starts[t + 1]]`.
    access_starts: Vec<u32>,
    accesses: Vec<Access>,
    /// Per slot, whether some transaction declared it writable: only
    /// those can be in the block's delta.
    pub slot_written: Vec<bool>,
    /// Transactions on the longest dependency chain. `tx_count /
    /// critical_path_txs` bounds the speedup any schedule can reach.
    pub critical_path_txs: u32,
    dependencies: OnceLock<Dependencies>,
}

/// One declared account of one transaction: its slot, and whether the
/// transaction may write it, in one word (the top bit) so the executor
/// and the edge pass read a single array.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Access(u32);

impl Access {
    pub(crate) const WRITABLE: u32 = 1 << 31;

    fn new(slot: u32, writable: bool) -> Access {
        debug_assert!(slot < Access::WRITABLE, "slot fits 31 bits");
        Access(slot | if writable { Access::WRITABLE } else { 0 })
    }

    pub fn slot(self) -> usize {
        (self.0 & !Access::WRITABLE) as usize
    }

    pub fn writable(self) -> bool {
        self.0 & Access::WRITABLE != 0
    }
}

/// The edges of a [`ConflictGraph`], for the scheduler.
pub struct Dependencies {
    /// How many earlier transactions each one waits for.
    pub counts: Vec<u32>,
    /// Successors of each transaction: `successors[successor_starts[t]..successor_starts[t + 1]]`.
    successor_starts: Vec<u32>,
    successors: Vec<u32>,
}

impl Dependencies {
    pub fn successors_of(&self, tx: usize) -> &[u32] {
        &self.successors[self.successor_starts[tx] as usize..self.successor_starts[tx + 1] as usize]
    }

    pub fn edge_count(&self) -> usize {
        self.successors.len()
    }
}

impl ConflictGraph {
    /// The first pass: slots, accesses, and the longest chain.
    pub fn build(txs: &[Transaction]) -> ConflictGraph {
        // Every vector is sized up front from the access count: regrowth
        // (memcpy) was a third of the build's instructions.
        let access_count: usize = txs.iter().map(|tx| tx.accounts.len()).sum();
        assert!(access_count <= ACCESSES_MAX, "a block declares at most {ACCESSES_MAX} accesses");
        assert!(txs.len() < NONE as usize, "transaction indices fit u32 below the NONE sentinel");
        let mut slot_of = SlotTable::with_capacity(access_count);
        let mut slot_ids = Vec::with_capacity(access_count);
        let mut tracks: Vec<DepthTrack> = Vec::with_capacity(access_count);
        let mut access_starts = Vec::with_capacity(txs.len() + 1);
        let mut accesses = Vec::with_capacity(access_count);
        let mut critical_path_txs = 0;

        access_starts.push(0);
        for (t, tx) in txs.iter().enumerate() {
            let t = t as u32;
            let first = accesses.len();
            // 1 + the depth of the deepest transaction `t` must wait for.
            let mut depth = 1;
            for meta in &tx.accounts {
                let slot = slot_of.slot_of(&meta.id, &mut slot_ids, || tracks.push(DepthTrack::UNTOUCHED));
                let track = &mut tracks[slot as usize];
                // The decoder and the builder both refuse a repeated
                // account; one here would make `t` wait for itself.
                assert!(track.last_tx != t, "transaction {t} declares account {:?} twice", meta.id);
                track.last_tx = t;
                let waits_for =
                    if meta.writable { track.writer_depth.max(track.readers_depth) } else { track.writer_depth };
                depth = depth.max(waits_for + 1);
                accesses.push(Access::new(slot, meta.writable));
            }
            // Only now is `t`'s depth known; its accesses are distinct
            // slots, so each track takes it once.
            for access in &accesses[first..] {
                let track = &mut tracks[access.slot()];
                if access.writable() {
                    track.writer_depth = depth;
                    track.readers_depth = 0;
                    track.written = true;
                } else {
                    track.readers_depth = track.readers_depth.max(depth);
                }
            }
            critical_path_txs = critical_path_txs.max(depth);
            access_starts.push(accesses.len() as u32);
        }
        assert_eq!(access_starts.len(), txs.len() + 1, "access rows: one per transaction, plus the end");
        assert_eq!(accesses.len(), access_count, "one access per declared account");
        assert_eq!(tracks.len(), slot_ids.len(), "one depth track per slot");
        assert!(slot_ids.len() <= access_count, "a slot per distinct declared account");
        assert!(
            critical_path_txs as usize <= txs.len() && (critical_path_txs == 0) == txs.is_empty(),
            "the longest chain ({critical_path_txs}) is 1 to {} transactions",
            txs.len()
        );
        let slot_written = tracks.iter().map(|track| track.written).collect();
        ConflictGraph {
            slot_ids,
            access_starts,
            accesses,
            slot_written,
            critical_path_txs,
            dependencies: OnceLock::new(),
        }
    }

    pub fn tx_count(&self) -> usize {
        debug_assert!(!self.access_starts.is_empty(), "access rows end with the total");
        self.access_starts.len() - 1
    }

    pub fn accesses_of(&self, tx: usize) -> &[Access] {
        &self.accesses[self.access_starts[tx] as usize..self.access_starts[tx + 1] as usize]
    }

    /// Whether the edges have been built.
    #[cfg(test)]
    pub(crate) fn edges_built(&self) -> bool {
        self.dependencies.get().is_some()
    }

    /// The edges, built on first call (the second pass) and kept.
    pub fn dependencies(&self) -> &Dependencies {
        self.dependencies.get_or_init(|| self.build_dependencies())
    }

    fn build_dependencies(&self) -> Dependencies {
        let tx_count = self.tx_count();
        let mut tracks: Vec<EdgeTrack> = (0..self.slot_ids.len()).map(|_| EdgeTrack::UNTOUCHED).collect();
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(self.accesses.len());
        let mut deps: Vec<u32> = Vec::with_capacity(16);
        for t in 0..tx_count {
            deps.clear();
            for access in self.accesses_of(t) {
                let track = &mut tracks[access.slot()];
                if track.last_writer != NONE {
                    deps.push(track.last_writer);
                }
                if access.writable() {
                    deps.append(&mut track.readers_since);
                    track.last_writer = t as u32;
                } else {
                    track.readers_since.push(t as u32);
                }
            }
            deps.sort_unstable();
            deps.dedup();
            edges.extend(deps.iter().map(|&d| (d, t as u32)));
        }
        // Each access adds at most its last writer, and each reader is
        // recorded once and consumed at most once.
        assert!(edges.len() <= 2 * self.accesses.len(), "{} edges from {} accesses", edges.len(), self.accesses.len());
        let dependencies = compress(tx_count, &edges);
        debug_assert_eq!(longest_chain(tx_count, &edges), self.critical_path_txs, "both passes see one graph");
        dependencies
    }
}

const NONE: u32 = u32::MAX;

/// Account id → slot, for the first pass. A `HashMap<AccountId, u32>`
/// stores each 32-byte id a second time beside `slot_ids` (36 bytes a
/// bucket); this table stores only the slot (4 bytes) and compares
/// through `slot_ids`, so a 20,000-account block's table is 160 KB, not
/// 1.2 MB, and stays in cache. Hashing is foldhash under a per-process
/// random seed, as for every account map (`state::AccountMap`), so ids
/// chosen by users cannot be crafted to collide.
struct SlotTable {
    slots: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl SlotTable {
    fn with_capacity(capacity: usize) -> SlotTable {
        SlotTable { slots: hashbrown::HashTable::with_capacity(capacity), hasher: Default::default() }
    }

    /// The slot of `id`, numbering it next (pushing it onto `slot_ids` and
    /// calling `on_new`) if this is its first appearance.
    fn slot_of(&mut self, id: &AccountId, slot_ids: &mut Vec<AccountId>, on_new: impl FnOnce()) -> u32 {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(id);
        let ids: &[AccountId] = slot_ids;
        let entry = self.slots.entry(hash, |&s| ids[s as usize] == *id, |&s| hasher.hash_one(ids[s as usize]));
        match entry {
            hashbrown::hash_table::Entry::Occupied(occupied) => {
                debug_assert!((*occupied.get() as usize) < slot_ids.len(), "a numbered slot has its id");
                *occupied.get()
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                let slot = slot_ids.len() as u32;
                vacant.insert(slot);
                slot_ids.push(*id);
                on_new();
                slot
            }
        }
    }
}

/// What the first pass remembers about one account.
struct DepthTrack {
    /// Depth of the latest writer so far (0: none).
    writer_depth: u32,
    /// Deepest reader since that writer (0: none); the next writer comes
    /// after all of them.
    readers_depth: u32,
    /// The latest transaction that declared it, to catch a repeat.
    last_tx: u32,
    written: bool,
}

impl DepthTrack {
    const UNTOUCHED: DepthTrack = DepthTrack { writer_depth: 0, readers_depth: 0, last_tx: NONE, written: false };
}

/// What the edge pass remembers about one account.
struct EdgeTrack {
    /// The latest transaction so far that writes it, or `NONE`.
    last_writer: u32,
    /// Readers since that writer; the next writer depends on all of them.
    readers_since: Vec<u32>,
}

impl EdgeTrack {
    const UNTOUCHED: EdgeTrack = EdgeTrack { last_writer: NONE, readers_since: Vec::new() };
}

/// Length of the longest dependency chain, from the edges: the check on
/// the first pass's depth tracking. Edges point forward in block order and
/// arrive sorted by their target, so one pass computes every
/// transaction's depth after all of its predecessors'.
fn longest_chain(tx_count: usize, edges: &[(u32, u32)]) -> u32 {
    let mut depth = vec![1u32; tx_count];
    for &(from, to) in edges {
        debug_assert!(from < to, "dependencies point backwards in block order");
        depth[to as usize] = depth[to as usize].max(depth[from as usize] + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

/// Edges (from, to) into dependency counts and CSR successor rows. Each
/// row lists successors in ascending order, because edges arrive sorted
/// by `to`.
fn compress(tx_count: usize, edges: &[(u32, u32)]) -> Dependencies {
    let mut counts = vec![0u32; tx_count];
    let mut starts = vec![0u32; tx_count + 1];
    for &(from, to) in edges {
        debug_assert!(from < to && (to as usize) < tx_count, "edge {from} → {to} goes forward within the block");
        counts[to as usize] += 1;
        starts[from as usize + 1] += 1;
    }
    for i in 0..tx_count {
        starts[i + 1] += starts[i];
    }
    let mut fill = starts.clone();
    let mut successors = vec![0u32; edges.len()];
    for &(from, to) in edges {
        successors[fill[from as usize] as usize] = to;
        fill[from as usize] += 1;
    }
    // Paired with the counting pass: every row filled exactly to where the
    // next one starts.
    debug_assert!(fill[..tx_count] == starts[1..], "each successor row filled to its end");
    assert_eq!(starts[tx_count] as usize, edges.len(), "successor rows hold every edge");
    debug_assert!(
        (0..tx_count).all(|t| {
            let row = &successors[starts[t] as usize..starts[t + 1] as usize];
            row.windows(2).all(|pair| pair[0] < pair[1]) && row.iter().all(|&to| to as usize > t)
        }),
        "successor rows ascending, without repeats, all later in the block"
    );
    Dependencies { counts, successor_starts: starts, successors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ProgramId;
    use crate::tx::{AccountMeta, Instruction};

    fn tx(accounts: &[(u8, bool)]) -> Transaction {
        Transaction {
            signature: [0; 64],
            nonce: 0,
            fee: 0,
            accounts: accounts
                .iter()
                .map(|&(id, writable)| AccountMeta { id: AccountId([id; 32]), writable })
                .collect(),
            instructions: vec![Instruction { program: ProgramId::SYSTEM, accounts: vec![], data: vec![] }],
        }
    }

    fn successors(g: &ConflictGraph) -> Vec<Vec<u32>> {
        (0..g.tx_count()).map(|t| g.dependencies().successors_of(t).to_vec()).collect()
    }

    fn slots_of(g: &ConflictGraph, t: usize) -> Vec<usize> {
        g.accesses_of(t).iter().map(|a| a.slot()).collect()
    }

    #[test]
    fn edges_follow_read_write_rules() {
        // 0 writes A; 1 and 2 read A; 3 writes A; 4 writes B; 5 reads B and A.
        let txs = [
            tx(&[(1, true)]),
            tx(&[(9, true), (1, false)]),
            tx(&[(8, true), (1, false)]),
            tx(&[(1, true)]),
            tx(&[(2, true)]),
            tx(&[(7, true), (2, false), (1, false)]),
        ];
        let g = ConflictGraph::build(&txs);
        assert_eq!(successors(&g), vec![vec![1, 2, 3], vec![3], vec![3], vec![5], vec![5], vec![]]);
        assert_eq!(g.dependencies().counts, vec![0, 1, 1, 3, 0, 2]);
        assert_eq!(g.critical_path_txs, 4, "0 → 1 → 3 → 5");
        assert_eq!(g.slot_ids[0], AccountId([1; 32]));
        assert_eq!(slots_of(&g, 5), vec![4, 3, 0]);
        let writable: Vec<bool> = g.accesses_of(5).iter().map(|a| a.writable()).collect();
        assert_eq!(writable, vec![true, false, false]);
    }

    #[test]
    fn readers_alone_do_not_conflict() {
        let txs = [tx(&[(1, true), (5, false)]), tx(&[(2, true), (5, false)]), tx(&[(3, true), (5, false)])];
        let g = ConflictGraph::build(&txs);
        assert_eq!(g.critical_path_txs, 1);
        assert_eq!(g.dependencies().edge_count(), 0);
        assert_eq!(g.slot_written, vec![true, false, true, true]);
    }

    #[test]
    fn a_hot_account_makes_a_chain_without_duplicate_edges() {
        let txs: Vec<Transaction> = (0..5).map(|i| tx(&[(1, true), (10 + i, true)])).collect();
        let g = ConflictGraph::build(&txs);
        assert_eq!(successors(&g), vec![vec![1], vec![2], vec![3], vec![4], vec![]]);
        assert_eq!(g.critical_path_txs, 5);
        // Both accounts written by the same predecessor: one edge, not two.
        let g = ConflictGraph::build(&[tx(&[(1, true), (2, true)]), tx(&[(2, true), (1, true)])]);
        assert_eq!(g.dependencies().counts, vec![0, 1]);
    }

    #[test]
    fn a_writer_after_readers_is_deeper_than_all_of_them() {
        // 0 writes A; 1 reads A and writes B; 2 writes B (depth 3);
        // 3 reads B (depth 4); 4 reads A (depth 2, beside 1); 5 writes A:
        // after readers 1 and 4, so depth 3, not 2.
        let txs = [
            tx(&[(1, true)]),
            tx(&[(2, true), (1, false)]),
            tx(&[(2, true)]),
            tx(&[(9, true), (2, false)]),
            tx(&[(8, true), (1, false)]),
            tx(&[(1, true)]),
        ];
        let g = ConflictGraph::build(&txs);
        assert_eq!(g.critical_path_txs, 4, "0 → 1 → 2 → 3");
        assert_eq!(successors(&g), vec![vec![1, 4, 5], vec![2, 5], vec![3], vec![], vec![5], vec![]]);
    }

    #[test]
    #[should_panic(expected = "declares account")]
    fn a_repeated_account_is_refused() {
        ConflictGraph::build(&[tx(&[(1, false), (1, true)])]);
    }

    #[test]
    fn slot_table_numbers_ids_by_first_appearance_and_survives_growth() {
        // Capacity 1, so inserting rehashes many times through the
        // table's hasher closure, which must find each slot's id again.
        let mut table = SlotTable::with_capacity(1);
        let mut slot_ids = Vec::new();
        let mut new_count = 0;
        let id = |i: u32| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            AccountId(bytes)
        };
        for round in 0..2 {
            for i in 0..1000 {
                assert_eq!(table.slot_of(&id(i), &mut slot_ids, || new_count += 1), i, "round {round}");
            }
        }
        assert_eq!(new_count, 1000, "each id is new once");
        assert!(slot_ids.iter().enumerate().all(|(s, slot_id)| *slot_id == id(s as u32)));
    }

    #[test]
    fn access_keeps_slot_and_flag_apart() {
        let top = Access::WRITABLE - 1;
        for (slot, writable) in [(0, false), (0, true), (top, false), (top, true), (12345, true)] {
            let access = Access::new(slot, writable);
            assert_eq!((access.slot(), access.writable()), (slot as usize, writable));
        }
    }
}
