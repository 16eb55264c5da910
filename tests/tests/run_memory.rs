//! `sluice run` generates blocks as it goes, so its memory does not grow
//! with `--txs`. Checked on the resident set the run reports, against the
//! same workload generated up front (`--pregenerate`): no timings.

use sluice_tests::sluice_json;

/// Enough transactions that holding them all is plain in the heap figure
/// (the encoded bytes alone are 165 per transfer), in blocks small enough
/// that the blocks in flight are not.
const TXS: u64 = 24_000;
const SIGNED_TRANSFER_BYTES: u64 = 165;

fn heap_peak(extra: &[&str]) -> Option<u64> {
    let txs = TXS.to_string();
    let mut args = vec!["run", "--json", "--txs", &txs, "--accounts", "50", "--block-size", "100", "--seed", "9"];
    args.extend_from_slice(extra);
    let v = sluice_json(&args);
    assert_eq!(v["ok"], TXS, "{v}");
    v["rss_anon_bytes_max"].as_u64()
}

#[test]
fn streamed_blocks_keep_the_heap_below_a_materialised_workload() {
    let Some(streamed) = heap_peak(&[]) else {
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
