//! Engine micro-benchmarks: the transaction codec, the conflict-graph
//! build, and the serial and parallel executors, on one 10,000-transfer
//! `uniform` block (the design brief's default block).
//!
//! Run: `cargo bench -p sluice-bench --bench engine`
//!
//! Short measurement windows keep the whole run to about a minute; the
//! shared machine's noise is larger than what longer windows would buy.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_engine::exec::{execute_block_parallel, execute_block_serial, ConflictGraph};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::tx::{decode, ChainId, Transaction};
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};

const BLOCK_TXS: u64 = 10_000;

fn block() -> (sluice_engine::state::State, Vec<Vec<u8>>, Vec<Transaction>) {
    let spec = WorkloadSpec {
        kind: WorkloadKind::Uniform,
        accounts: 20_000,
        txs: BLOCK_TXS,
        seed: 1,
        chain: ChainId::default(),
    };
    let generated = workload::generate(&spec).expect("workload");
    let txs = generated.txs.iter().map(|raw| decode(raw).expect("valid")).collect();
    (generated.genesis.state(), generated.txs, txs)
}

fn engine(c: &mut Criterion) {
    let (state, raw, txs) = block();
    let programs = ProgramRegistry::native();
    let mut group = c.benchmark_group("engine_10k_uniform");
    group.throughput(Throughput::Elements(BLOCK_TXS));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("decode", |b| b.iter(|| raw.iter().map(|r| decode(r).is_ok() as usize).sum::<usize>()));
    group.bench_function("encode", |b| b.iter(|| txs.iter().map(|t| t.encode().len()).sum::<usize>()));
    group.bench_function("conflict_graph_build", |b| b.iter(|| ConflictGraph::build(&txs).edge_count()));
    group.bench_function("execute_serial", |b| b.iter(|| execute_block_serial(&state, &txs, &programs).delta.len()));
    group
        .bench_function("execute_parallel", |b| b.iter(|| execute_block_parallel(&state, &txs, &programs).delta.len()));
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
