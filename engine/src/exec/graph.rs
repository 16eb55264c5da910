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
//! One pass over the declared accesses builds it. Per slot we keep the
//! last writer and the readers since; each reader is recorded once and
//! consumed at most once, so the work is O(total declared accesses). The
//! edges then go into compressed rows (CSR): one allocation for all
//! successors, no per-transaction vectors.
//!
//! Reads-only pairs get no edge: two readers of one account run in
//! parallel.

use crate::account::AccountId;
use crate::state::AccountMap;
use crate::tx::Transaction;

pub struct ConflictGraph {
    /// Slot → account id, in order of first appearance in the block.
    pub slot_ids: Vec<AccountId>,
    /// Per transaction, its declared accounts' slots, in declared order:
    /// `tx_slots[tx_slot_starts[t]..tx_slot_starts[t + 1]]`.
    tx_slot_starts: Vec<u32>,
    tx_slots: Vec<u32>,
    /// How many earlier transactions each one waits for.
    pub dependency_counts: Vec<u32>,
    /// Successors of each transaction: `successors[successor_starts[t]..successor_starts[t + 1]]`.
    successor_starts: Vec<u32>,
    successors: Vec<u32>,
    /// Per slot, whether some transaction declared it writable: only
    /// those can be in the block's delta.
    pub slot_written: Vec<bool>,
    /// Transactions on the longest dependency chain. `tx_count /
    /// critical_path_txs` bounds the speedup any schedule can reach.
    pub critical_path_txs: u32,
}

impl ConflictGraph {
    pub fn build(txs: &[Transaction]) -> ConflictGraph {
        assert!(txs.len() < u32::MAX as usize, "transaction indices fit u32");
        // Every vector is sized up front from the access count: regrowth
        // (memcpy) was a third of this function's instructions.
        let accesses: usize = txs.iter().map(|tx| tx.accounts.len()).sum();
        let mut slot_of: AccountMap<u32> = AccountMap::with_capacity_and_hasher(accesses, Default::default());
        let mut slot_ids = Vec::with_capacity(accesses);
        let mut tracks: Vec<SlotTrack> = Vec::with_capacity(accesses);
        let mut tx_slot_starts = Vec::with_capacity(txs.len() + 1);
        let mut tx_slots = Vec::with_capacity(accesses);
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(accesses);
        let mut deps: Vec<u32> = Vec::with_capacity(16);

        tx_slot_starts.push(0);
        for (t, tx) in txs.iter().enumerate() {
            let t = t as u32;
            deps.clear();
            for meta in &tx.accounts {
                let slot = *slot_of.entry(meta.id).or_insert_with(|| {
                    slot_ids.push(meta.id);
                    tracks.push(SlotTrack { last_writer: NONE, written: false, readers_since: Vec::new() });
                    (slot_ids.len() - 1) as u32
                });
                tx_slots.push(slot);
                let track = &mut tracks[slot as usize];
                // The decoder and the builder both refuse a repeated
                // account; one here would make `t` wait for itself.
                assert!(
                    track.last_writer != t && track.readers_since.last() != Some(&t),
                    "transaction {t} declares account {:?} twice",
                    meta.id
                );
                if track.last_writer != NONE {
                    deps.push(track.last_writer);
                }
                if meta.writable {
                    deps.append(&mut track.readers_since);
                    track.last_writer = t;
                    track.written = true;
                } else {
                    track.readers_since.push(t);
                }
            }
            tx_slot_starts.push(tx_slots.len() as u32);
            deps.sort_unstable();
            deps.dedup();
            edges.extend(deps.iter().map(|&d| (d, t)));
        }
        let (dependency_counts, successor_starts, successors) = compress(txs.len(), &edges);
        let slot_written = tracks.iter().map(|track| track.written).collect();
        let critical_path_txs = longest_chain(txs.len(), &edges);
        ConflictGraph {
            slot_ids,
            tx_slot_starts,
            tx_slots,
            dependency_counts,
            successor_starts,
            successors,
            slot_written,
            critical_path_txs,
        }
    }

    pub fn tx_count(&self) -> usize {
        self.dependency_counts.len()
    }

    pub fn slots_of(&self, tx: usize) -> &[u32] {
        &self.tx_slots[self.tx_slot_starts[tx] as usize..self.tx_slot_starts[tx + 1] as usize]
    }

    pub fn successors_of(&self, tx: usize) -> &[u32] {
        &self.successors[self.successor_starts[tx] as usize..self.successor_starts[tx + 1] as usize]
    }

    pub fn edge_count(&self) -> usize {
        self.successors.len()
    }
}

const NONE: u32 = u32::MAX;

/// What the build remembers about one account while it walks the block.
struct SlotTrack {
    /// The latest transaction so far that writes it, or `NONE`.
    last_writer: u32,
    written: bool,
    /// Readers since that writer; the next writer depends on all of them.
    readers_since: Vec<u32>,
}

/// Length of the longest dependency chain. Edges point forward in block
/// order and arrive sorted by their target, so one pass computes every
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
fn compress(tx_count: usize, edges: &[(u32, u32)]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut dependency_counts = vec![0u32; tx_count];
    let mut starts = vec![0u32; tx_count + 1];
    for &(from, to) in edges {
        dependency_counts[to as usize] += 1;
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
    (dependency_counts, starts, successors)
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
        (0..g.tx_count()).map(|t| g.successors_of(t).to_vec()).collect()
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
        assert_eq!(g.dependency_counts, vec![0, 1, 1, 3, 0, 2]);
        assert_eq!(g.critical_path_txs, 4, "0 → 1 → 3 → 5");
        assert_eq!(g.slot_ids[0], AccountId([1; 32]));
        assert_eq!(g.slots_of(5), &[4, 3, 0]);
    }

    #[test]
    fn readers_alone_do_not_conflict() {
        let txs = [tx(&[(1, true), (5, false)]), tx(&[(2, true), (5, false)]), tx(&[(3, true), (5, false)])];
        let g = ConflictGraph::build(&txs);
        assert_eq!(g.edge_count(), 0);
        assert_eq!(g.critical_path_txs, 1);
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
        assert_eq!(g.dependency_counts, vec![0, 1]);
    }
}
