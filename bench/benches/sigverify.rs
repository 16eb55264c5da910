//! Signature verification micro-benchmarks.
//!
//! Run: `cargo bench -p sluice-bench --bench sigverify`. Every group reports
//! throughput in signatures, so criterion's "thrpt" is signatures per second
//! and per-signature cost is time / elements.
//!
//! Clocks: the development machine is shared with other builds, so wall time
//! there measures the neighbours as much as the code. All groups except
//! `parallel_wall` therefore measure **CPU time of the whole process** (all
//! threads, `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` via `cpu-time`), which
//! preemption does not inflate. `parallel_wall` measures wall time, the
//! figure that matters on a dedicated machine; compare its ratios only
//! within one run.
//!
//! Groups:
//! * `single` — one signature: ours (curve25519-dalek 4) and
//!   ed25519-consensus.
//! * `batch_equation` — the raw batch check from bytes, all valid, one core,
//!   batch sizes 2..1024: (b) ours vs (a) ed25519-consensus. Picks the
//!   implementation, the bisection cutoff and the default batch size.
//! * `parallel_wall`, `parallel_cpu` — the same signatures on all cores
//!   (rayon chunks): `ed25519_dalek::verify_batch` (cofactorless, no failure
//!   location; the raw limit) vs our `verify_parallel`.
//! * `one_bad_in_64` — `verify_batch` locating one bad signature among 64.
//! * `bad_fraction` — `verify_parallel` at 0/1/10/50/100% invalid
//!   signatures, vs verifying every signature singly on all cores.

use cpu_time::ProcessTime;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::{Signer, SigningKey};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use sluice_engine::sigverify::{
    impls, verify_batch, verify_parallel, verify_single, SignatureItem, BATCH_SIZE_DEFAULT,
};
use std::hint::black_box;
use std::time::Duration;

const BATCH_SIZES: [usize; 10] = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const PARALLEL_LEN: usize = 4096;
const BAD_FRACTION_LEN: usize = 2048;

/// Signatures by distinct keys over distinct 100-byte messages.
struct Corpus {
    public_keys: Vec<[u8; 32]>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<[u8; 64]>,
}

impl Corpus {
    fn new(len: usize, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut corpus = Corpus {
            public_keys: Vec::with_capacity(len),
            messages: Vec::with_capacity(len),
            signatures: Vec::with_capacity(len),
        };
        for _ in 0..len {
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            let key = SigningKey::from_bytes(&secret);
            let mut message = vec![0u8; 100];
            rng.fill_bytes(&mut message);
            corpus.signatures.push(key.sign(&message).to_bytes());
            corpus.public_keys.push(key.verifying_key().to_bytes());
            corpus.messages.push(message);
        }
        corpus
    }

    /// Makes `fraction` of the signatures invalid (message altered after
    /// signing, so only the equation catches it), at random positions.
    fn corrupt(&mut self, fraction: f64, seed: u64) {
        let mut positions: Vec<usize> = (0..self.messages.len()).collect();
        positions.shuffle(&mut ChaCha20Rng::seed_from_u64(seed));
        let bad_len = (fraction * self.messages.len() as f64).round() as usize;
        for &i in &positions[..bad_len] {
            self.messages[i][0] ^= 1;
        }
    }

    fn items(&self) -> Vec<SignatureItem<'_>> {
        (0..self.signatures.len())
            .map(|i| SignatureItem {
                public_key: &self.public_keys[i],
                message: &self.messages[i],
                signature: &self.signatures[i],
            })
            .collect()
    }
}

/// CPU time consumed by all threads of this process.
struct ProcessCpuTime;

impl Measurement for ProcessCpuTime {
    type Intermediate = ProcessTime;
    type Value = Duration;

    fn start(&self) -> ProcessTime {
        ProcessTime::now()
    }
    fn end(&self, started: ProcessTime) -> Duration {
        started.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, exactly as for wall time.
        WallTime.formatter()
    }
}

fn short<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

fn cpu_config() -> Criterion<ProcessCpuTime> {
    short(Criterion::default().with_measurement(ProcessCpuTime))
}

fn wall_config() -> Criterion {
    short(Criterion::default())
}

fn bench_single<M: Measurement>(c: &mut Criterion<M>) {
    let corpus = Corpus::new(64, 1);
    let items = corpus.items();
    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Elements(items.len() as u64));
    group.bench_function("ours", |b| {
        b.iter(|| {
            for i in &items {
                black_box(verify_single(i.public_key, i.message, i.signature)).ok();
            }
        })
    });
    group.bench_function("consensus", |b| {
        b.iter(|| {
            for i in &items {
                black_box(impls::consensus_verify_single(i.public_key, i.message, i.signature));
            }
        })
    });
    group.finish();
}

fn bench_batch_equation<M: Measurement>(c: &mut Criterion<M>) {
    let corpus = Corpus::new(1024, 2);
    let items = corpus.items();
    let mut group = c.benchmark_group("batch_equation");
    for &n in &BATCH_SIZES {
        let batch = &items[..n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("ours", n), batch, |b, batch| {
            b.iter(|| assert!(impls::dalek_batch_holds(black_box(batch))))
        });
        group.bench_with_input(BenchmarkId::new("consensus", n), batch, |b, batch| {
            b.iter(|| assert!(impls::consensus_batch_holds(black_box(batch))))
        });
    }
    group.finish();
}

/// The raw limit: ed25519-dalek's cofactorless batch check on rayon chunks,
/// from bytes (key parsing included, as ours decodes keys too).
fn raw_dalek_parallel(corpus: &Corpus, batch_size: usize) -> bool {
    let chunks: Vec<(usize, usize)> = (0..corpus.signatures.len())
        .step_by(batch_size)
        .map(|start| (start, (start + batch_size).min(corpus.signatures.len())))
        .collect();
    chunks.par_iter().all(|&(start, end)| {
        let keys: Option<Vec<ed25519_dalek::VerifyingKey>> =
            corpus.public_keys[start..end].iter().map(|k| ed25519_dalek::VerifyingKey::from_bytes(k).ok()).collect();
        let sigs: Vec<ed25519_dalek::Signature> =
            corpus.signatures[start..end].iter().map(ed25519_dalek::Signature::from_bytes).collect();
        let messages: Vec<&[u8]> = corpus.messages[start..end].iter().map(Vec::as_slice).collect();
        keys.is_some_and(|keys| ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok())
    })
}

fn bench_parallel_wall(c: &mut Criterion) {
    bench_parallel(c, "parallel_wall", &[64, 256], &[64, 256]);
}

/// In CPU time the chunk sizes below 32 also give `ρ(n)`, the per-signature
/// cost of a batch of `n` relative to `all_single`, with large samples.
fn bench_parallel_cpu(c: &mut Criterion<ProcessCpuTime>) {
    bench_parallel(c, "parallel_cpu", &[32, 64, 128, 256], &[4, 8, 16, 32, 64, 128, 256]);
}

fn bench_parallel<M: Measurement>(c: &mut Criterion<M>, name: &str, raw_sizes: &[usize], our_sizes: &[usize]) {
    let corpus = Corpus::new(PARALLEL_LEN, 3);
    let items = corpus.items();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(items.len() as u64));
    for &batch_size in raw_sizes {
        group.bench_function(BenchmarkId::new("raw_dalek_verify_batch", batch_size), |b| {
            b.iter(|| assert!(raw_dalek_parallel(black_box(&corpus), batch_size)))
        });
    }
    for &batch_size in our_sizes {
        group.bench_function(BenchmarkId::new("ours_verify_parallel", batch_size), |b| {
            b.iter(|| {
                let verdicts = verify_parallel(black_box(&items), batch_size);
                assert!(verdicts.iter().all(Result::is_ok));
            })
        });
    }
    group.bench_function("all_single", |b| {
        b.iter(|| {
            let all_ok =
                black_box(&items).par_iter().all(|i| verify_single(i.public_key, i.message, i.signature).is_ok());
            assert!(all_ok);
        })
    });
    group.finish();
}

/// Cost of locating one bad signature in a batch of 64, against the same
/// batch all valid and against verifying all 64 singly.
fn bench_one_bad<M: Measurement>(c: &mut Criterion<M>) {
    let valid = Corpus::new(64, 6);
    let mut one_bad = Corpus::new(64, 6);
    one_bad.messages[37][0] ^= 1;
    let mut group = c.benchmark_group("one_bad_in_64");
    group.throughput(Throughput::Elements(64));
    for (name, corpus) in [("all_valid", &valid), ("one_bad", &one_bad)] {
        let items = corpus.items();
        group.bench_function(BenchmarkId::new("verify_batch", name), |b| {
            b.iter(|| black_box(verify_batch(black_box(&items))))
        });
    }
    let items = valid.items();
    group.bench_function("singles", |b| {
        b.iter(|| {
            for i in black_box(&items) {
                black_box(verify_single(i.public_key, i.message, i.signature)).ok();
            }
        })
    });
    group.finish();
}

fn bench_bad_fraction<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("bad_fraction");
    group.throughput(Throughput::Elements(BAD_FRACTION_LEN as u64));
    for percent in [0u32, 1, 10, 50, 100] {
        let mut corpus = Corpus::new(BAD_FRACTION_LEN, 4);
        corpus.corrupt(f64::from(percent) / 100.0, 5);
        let items = corpus.items();
        group.bench_function(BenchmarkId::new("verify_parallel", percent), |b| {
            b.iter(|| black_box(verify_parallel(black_box(&items), BATCH_SIZE_DEFAULT)))
        });
        group.bench_function(BenchmarkId::new("all_single", percent), |b| {
            b.iter(|| {
                let verdicts: Vec<_> =
                    black_box(&items).par_iter().map(|i| verify_single(i.public_key, i.message, i.signature)).collect();
                black_box(verdicts)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = cpu_clock;
    config = cpu_config();
    targets = bench_single, bench_batch_equation, bench_parallel_cpu, bench_one_bad,
        bench_bad_fraction
}
criterion_group! {
    name = wall_clock;
    config = wall_config();
    targets = bench_parallel_wall
}
criterion_main!(cpu_clock, wall_clock);
