//! The fuzz targets' properties, as plain functions over bytes.
//!
//! Each libFuzzer target in `fuzz/fuzz_targets/` is one line that calls a
//! function here, and `tests/tests/fuzz_corpus.rs` calls the same function
//! on every file of `fuzz/corpus/<target>/`. The properties therefore build
//! and run on stable Rust as part of `cargo test --workspace`, and a crash
//! input saved into the corpus is a regression test with no further work.
//!
//! A property panics when it is broken, with a message naming the rule;
//! libFuzzer records that as a crash, `cargo test` as a failure.
//!
//! | target | property |
//! |---|---|
//! | [`tx_decode`] | decoding any bytes never panics; accepted bytes re-encode to themselves; rejections carry a named error at an offset inside the input |
//! | [`sigverify_batch`] | `verify_batch` and `verify_parallel` give `verify_single`'s verdict on every item of adversarial batches |
//! | [`execute_block`] | the differential harness ([`sluice_engine::exec::differential`]) on generated blocks: parallel equals serial at 1, 2 and 4 threads, conservation, failed/rejected effects |
//! | [`log_recover`] | a damaged commit log recovers exactly its undamaged prefix, or is refused with a named error; never a damaged record |
//! | [`custom_program`] | the differential harness on a chain's own program ([`crate::toy_program`]) |

mod log_recover;
mod sigverify_batch;
mod tx_decode;

use std::path::PathBuf;
use std::sync::OnceLock;

use sluice_engine::exec::differential::BlockFuzzer;
use sluice_engine::program::ProgramRegistry;

pub use log_recover::log_recover;
pub use sigverify_batch::sigverify_batch;
pub use tx_decode::tx_decode;

/// A target's property: panics when the input breaks it.
pub type Property = fn(&[u8]);

/// Every target, by the name of its file in `fuzz/fuzz_targets/` and of its
/// corpus directory.
pub const TARGETS: [(&str, Property); 5] = [
    ("tx_decode", tx_decode),
    ("sigverify_batch", sigverify_batch),
    ("execute_block", execute_block),
    ("log_recover", log_recover),
    ("custom_program", custom_program),
];

/// Native programs plus the probe program, compared at 1, 2 and 4 threads.
/// Built once per process: the thread pools are the expensive part.
pub fn execute_block(data: &[u8]) {
    static FUZZER: OnceLock<BlockFuzzer> = OnceLock::new();
    FUZZER.get_or_init(|| BlockFuzzer::new(ProgramRegistry::native()).with_probe_program()).check_or_panic(data);
}

/// What a chain builder writes to fuzz their own program; see
/// [`crate::toy_program::fuzzer`].
pub fn custom_program(data: &[u8]) {
    static FUZZER: OnceLock<BlockFuzzer> = OnceLock::new();
    FUZZER.get_or_init(crate::toy_program::fuzzer).check_or_panic(data);
}

/// `fuzz/corpus/<target>` in this repository.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

/// A byte string for the log: hex, 32 bytes a line.
pub fn hex_lines(data: &[u8]) -> String {
    data.chunks(32).map(hex::encode).collect::<Vec<_>>().join("\n")
}
