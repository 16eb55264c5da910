//! Engine micro-benchmarks: the transaction codec, the conflict-graph
//! build, and the serial and parallel executors, on one 10,000-transfer
//! block (the design brief's default block) of each workload.
//!
//! Run: `cargo bench -p sluice-bench --bench engine`
//!
//! `execute_parallel` is one call of the parallel executor, graph build
//! included; `execute_graph` runs a prebuilt graph, which is what the
//! pipeline's execute stage does while its schedule stage builds the next
//! block's graph. Both run on a pool of every core; the figures are only
//! comparable to `execute_serial` within one run on one machine.
//!
//! Short measurement windows keep the whole run to about a minute; the
//! shared machine's noise is larger than what longer windows would buy.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_engine::exec::parallel::execute_graph;
use sluice_engine::exec::{execute_block_parallel, execute_block_serial, ConflictGraph};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::tx::{decode, ChainId, Transaction};
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};

// The binaries run on mimalloc; so must what measures their parts.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BLOCK_TXS: u64 = 10_000;

fn block(kind: WorkloadKind) -> (sluice_engine::state::State, Vec<Vec<u8>>, Vec<Transaction>) {
    let spec =
        WorkloadSpec { kind, accounts: kind.default_accounts(), txs: BLOCK_TXS, seed: 1, chain: ChainId::default() };
    let generated = workload::generate(&spec).expect("workload");
    let txs = generated.txs.iter().map(|raw| decode(raw).expect("valid")).collect();
    (generated.genesis.state(), generated.txs, txs)
}

fn engine(c: &mut Criterion) {
    let programs = ProgramRegistry::native();
    for kind in [WorkloadKind::Uniform, WorkloadKind::Zipf, WorkloadKind::Hot, WorkloadKind::Groups(8)] {
        let (state, raw, txs) = block(kind);
        let graph = ConflictGraph::build(&txs);
        let mut group = c.benchmark_group(format!("engine_10k_{kind}"));
        group.throughput(Throughput::Elements(BLOCK_TXS));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        if kind == WorkloadKind::Uniform {
            group
                .bench_function("decode", |b| b.iter(|| raw.iter().map(|r| decode(r).is_ok() as usize).sum::<usize>()));
            group.bench_function("encode", |b| b.iter(|| txs.iter().map(|t| t.encode().len()).sum::<usize>()));
        }
        group.bench_function("conflict_graph_build", |b| b.iter(|| ConflictGraph::build(&txs).critical_path_txs));
        group.bench_function("conflict_graph_build_with_edges", |b| {
            b.iter(|| ConflictGraph::build(&txs).dependencies().edge_count())
        });
        group
            .bench_function("execute_serial", |b| b.iter(|| execute_block_serial(&state, &txs, &programs).delta.len()));
        group.bench_function("execute_parallel", |b| {
            b.iter(|| execute_block_parallel(&state, &txs, &programs).delta.len())
        });
        group
            .bench_function("execute_graph", |b| b.iter(|| execute_graph(&state, &txs, &programs, &graph).delta.len()));
        group.finish();
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
