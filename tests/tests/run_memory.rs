//! `sluice run --stream` generates blocks as it goes, so its memory does
//! not grow with `--txs` (the default above SIGN_AHEAD_TXS_MAX and with
//! `--duration`). Checked on the resident set the run reports, against the
//! same workload signed up front (`--pregenerate`): no timings.

use sluice_tests::sluice_json;

/// Enough transactions that holding them all is plain in the heap figure,
/// in blocks small enough that the blocks in flight are not. A workload
/// signed ahead holds about 200 bytes a transfer (165 encoded), and the
/// pipeline's own heap moves by several MiB from run to run, so 24,000
/// transfers (the count when signing ahead held 1.3 KB each) no longer
/// stand out; 100,000 do, by about 20 MiB.
const TXS: u64 = 100_000;
const SIGNED_TRANSFER_BYTES: u64 = 165;

fn heap_peak(extra: &[&str]) -> Option<u64> {
    let txs = TXS.to_string();
    // One worker thread: each thread's allocator heap adds to the noise.
    let sizes = ["--txs", &txs, "--accounts", "50", "--block-size", "100", "--threads", "1"];
    let mut args = vec!["run", "--json", "--seed", "9"];
    args.extend_from_slice(&sizes);
    args.extend_from_slice(extra);
    let v = sluice_json(&args);
    assert_eq!(v["ok"], TXS, "{v}");
    v["rss_anon_bytes_max"].as_u64()
}

#[test]
fn streamed_blocks_keep_the_heap_below_a_materialised_workload() {
    let Some(streamed) = heap_peak(&["--stream"]) else {
        eprintln!("skipped: this platform reports no resident set (/proc/self/status)");
        return;
    };
    let pregenerated = heap_peak(&["--pregenerate"]).expect("the same platform reports it twice");
    // Holding the workload costs at least its encoded bytes, at once. The
    // streamed run must stay below the pregenerated one by half of that;
    // it in fact holds a few blocks of 100 transactions.
    let workload_bytes = TXS * SIGNED_TRANSFER_BYTES;
    assert!(
        streamed + workload_bytes / 2 < pregenerated,
        "streamed heap peak {streamed} B is not clearly below the pregenerated {pregenerated} B \
         (workload {workload_bytes} B)"
    );
}
