//! `tx_decode`: see `sluice_tests::fuzz_props::tx_decode` for the property. The body
//! lives there so that `cargo test` replays this target's corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_tests::fuzz_props::tx_decode(data));
