//! Replays every file of `fuzz/corpus/<target>/` through the target's
//! property (`sluice_tests::fuzz_props`), on stable Rust, in `cargo test`.
//!
//! The corpus holds the seed inputs and every crash input the fuzzer ever
//! found (renamed `regression-*`), so each past crash stays a test. A
//! failure names the file and prints its bytes; docs/fuzzing.md says how
//! to reproduce it under the fuzzer.

use std::fs;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use sluice_engine::splitmix64::{SplitMix64, GOLDEN_GAMMA};
use sluice_tests::fuzz_props::{corpus_dir, hex_lines, TARGETS};

fn replay(target: &str) {
    let (_, property) = TARGETS.iter().find(|(name, _)| *name == target).expect("known target");
    let dir = corpus_dir(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    // An empty or missing corpus would make this test pass vacuously.
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    for path in files {
        let data = fs::read(&path).expect("read corpus file");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| property(&data))) {
            eprintln!("{target}: corpus file {} fails; its bytes:\n{}", path.display(), hex_lines(&data));
            resume_unwind(panic);
        }
    }
}

#[test]
fn tx_decode_corpus() {
    replay("tx_decode");
}

#[test]
fn sigverify_batch_corpus() {
    replay("sigverify_batch");
}

#[test]
fn execute_block_corpus() {
    replay("execute_block");
}

#[test]
fn log_recover_corpus() {
    replay("log_recover");
}

#[test]
fn custom_program_corpus() {
    replay("custom_program");
}

#[test]
fn every_target_has_a_replay_test() {
    // Adding a target to TARGETS without a test above would leave its
    // corpus unreplayed.
    let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["tx_decode", "sigverify_batch", "execute_block", "log_recover", "custom_program"]);
}

/// Writes the hand-made seeds (`seed-*` files) into each corpus directory.
/// Run once when a target's input format changes:
/// `cargo test -p sluice-tests --test fuzz_corpus -- --ignored write_seed_corpus`.
/// The rest of each corpus is what the fuzzer found, minimised with
/// `cargo fuzz cmin` (docs/fuzzing.md).
#[test]
#[ignore = "writes into fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    for (target, seeds) in [
        ("tx_decode", transaction_seeds()),
        ("sigverify_batch", pseudo_random_seeds(1, &[16, 64, 256, 1024])),
        ("execute_block", pseudo_random_seeds(2, &[64, 512, 2048, 4096])),
        ("log_recover", pseudo_random_seeds(3, &[32, 128, 512, 1024])),
        ("custom_program", pseudo_random_seeds(4, &[64, 512, 2048, 4096])),
    ] {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }
}

/// Valid transactions of every shape, so mutation starts inside the format.
fn transaction_seeds() -> Vec<Vec<u8>> {
    use sluice_engine::account::{derive_address, AccountId, ProgramId};
    use sluice_engine::program::{system, token};
    use sluice_engine::tx::{ChainId, TransactionBuilder};
    use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};

    let spec = WorkloadSpec { kind: WorkloadKind::Uniform, accounts: 4, txs: 3, seed: 1, chain: ChainId::default() };
    let mut seeds: Vec<Vec<u8>> = workload::generate(&spec).unwrap().txs;
    let signer = AccountId([7; 32]);
    let other = AccountId([8; 32]);
    let built = [
        TransactionBuilder::new(signer, 0, 0).build(),
        TransactionBuilder::new(signer, u64::MAX, 5)
            .instruction(ProgramId::SYSTEM, &[(signer, true), (derive_address(&signer, 3), true)], {
                system::create_account_data(3, 100, ProgramId::TOKEN)
            })
            .instruction(ProgramId::TOKEN, &[(other, true)], token::init_mint_data(6))
            .instruction(ProgramId::TOKEN, &[(AccountId([9; 32]), true), (other, false)], token::init_account_data())
            .build(),
        TransactionBuilder::new(signer, 1, 1)
            .instruction(ProgramId(300), &[(other, false), (other, false), (signer, true)], vec![0xAB; 40])
            .declare(AccountId([10; 32]), false)
            .build(),
        // Near the size limit: many accounts and a large data field.
        (0..20u8)
            .fold(TransactionBuilder::new(signer, 2, 2), |b, i| b.declare(AccountId([100 + i; 32]), i % 2 == 0))
            .instruction(ProgramId(9), &[(other, true)], vec![1; 300])
            .build(),
    ];
    seeds.extend(built.into_iter().map(|tx| tx.unwrap().encode()));
    seeds
}

fn pseudo_random_seeds(stream: u64, lengths: &[usize]) -> Vec<Vec<u8>> {
    let mut rng = SplitMix64::new(stream.wrapping_mul(GOLDEN_GAMMA));
    lengths.iter().map(|&len| (0..len).map(|_| rng.next_u64() as u8).collect()).collect()
}
