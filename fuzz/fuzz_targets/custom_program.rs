//! `custom_program`: how a chain fuzzes its own program.
//!
//! `sluice_tests::toy_program::fuzzer` registers the chain's program next to
//! the natives and says how to draw its instruction data; the
//! `BlockFuzzer` builds blocks around it and checks parallel against serial
//! execution, conservation and the failed/rejected rules. A chain copies
//! these lines with its own `fuzzer()`.
#![no_main]

use std::sync::OnceLock;

use sluice_engine::exec::differential::BlockFuzzer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static FUZZER: OnceLock<BlockFuzzer> = OnceLock::new();
    FUZZER.get_or_init(sluice_tests::toy_program::fuzzer).check_or_panic(data);
});
