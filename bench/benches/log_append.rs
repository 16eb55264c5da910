//! Append throughput of the commit log, per durability mode, with ~2 MB
//! payloads (a 10k-transaction block), 64 MiB segments.
//!
//! Run: `cargo bench -p sluice-bench --bench log_append`
//!
//! Each timing sample appends into a fresh log in a temporary directory that
//! is deleted afterwards, so the disk use stays bounded by one sample.
//! Segment creation (preallocation and two fsyncs every 32 records) is part
//! of what is measured, as it is in production.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_storage::{CommitLog, Durability, LogConfig};

const PAYLOAD_BYTES: usize = 2_000_000;

fn append_many(durability: Durability, payload: &[u8], iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = LogConfig::new(dir.path());
    config.durability = durability;
    let (mut log, _) = CommitLog::open(config).expect("open log");
    let start = Instant::now();
    for height in 0..iters {
        log.append(1, height, payload).expect("append");
    }
    let elapsed = start.elapsed();
    // The final sync of a partial batch is left out of the per-append cost.
    drop(log);
    elapsed
}

fn log_append(c: &mut Criterion) {
    let payload: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    let mut group = c.benchmark_group("log_append_2MB");
    group.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for durability in [
        Durability::None,
        Durability::BATCH_DEFAULT,
        Durability::Sync,
    ] {
        group.bench_function(BenchmarkId::from_parameter(durability), |b| {
            b.iter_custom(|iters| append_many(durability, &payload, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, log_append);
criterion_main!(benches);
