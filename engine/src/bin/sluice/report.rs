//! What `run`, `verify` and `replay` print: a human summary, or with
//! `--json` one JSON object (whose fields scripts and the tests read).

use std::path::Path;

use serde_json::json;

use sluice_engine::chain::Chain;
use sluice_engine::memory::{MemoryReport, Rss};
use sluice_engine::persist::{OpenTimings, ReplayReport, StoreOrigin, StoreVerifyReport};
use sluice_engine::pipeline::{PipelineReport, StageMetrics};
use sluice_engine::workload::WorkloadSpec;

use crate::args::{ReplayArgs, RunArgs};
use crate::output::outln;
use crate::persistence::PersistInfo;
use crate::run_command::{Generation, Startup};

/// Everything `sluice run` reports.
pub struct Summary<'a> {
    pub spec: &'a WorkloadSpec,
    pub args: &'a RunArgs,
    pub chain: &'a Chain,
    pub report: &'a PipelineReport,
    pub threads: usize,
    pub generation: Generation,
    pub startup: Startup,
    pub memory: MemoryReport,
    pub persisted: &'a PersistInfo,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Summary<'_> {
    fn tps(&self) -> f64 {
        self.report.txs_in as f64 / self.report.elapsed_s.max(f64::MIN_POSITIVE)
    }

    /// End-to-end throughput over the calibrated verification limit.
    fn fraction_of_limit(&self) -> f64 {
        self.tps() / self.startup.verify_limit_tps.max(f64::MIN_POSITIVE)
    }

    /// Seconds signed ahead, before the pipeline: none when streamed.
    fn signed_ahead_s(&self) -> Option<f64> {
        self.generation.stage.is_none().then_some(self.generation.generate_s)
    }

    /// The generator (when streamed) and the pipeline's stages, in order.
    fn stages(&self) -> impl Iterator<Item = &StageMetrics> {
        self.generation.stage.iter().chain(&self.report.stages)
    }

    /// The stage with the most busy time, the generator included: when
    /// signing is what bounded the run, the summary says so.
    fn bottleneck(&self) -> Option<&StageMetrics> {
        self.stages().max_by(|a, b| a.busy_s.total_cmp(&b.busy_s))
    }

    fn generation_mode(&self) -> &'static str {
        if self.generation.stage.is_some() {
            "streamed"
        } else {
            "pregenerated"
        }
    }

    pub fn json(&self) -> serde_json::Value {
        let r = self.report;
        let stages: serde_json::Map<String, serde_json::Value> =
            self.stages().map(|s| (s.name.to_string(), json!(s.busy_s))).collect();
        let mut value = json!({
            "workload": self.spec.kind.to_string(),
            "accounts": self.spec.accounts,
            "seed": self.spec.seed,
            "executor": self.chain.executor.to_string(),
            "threads": self.threads,
            "txs": r.txs_in,
            "duration_s": self.args.duration,
            "blocks": r.blocks,
            "height": self.chain.height,
            "state_root": hex::encode(self.chain.state.root()),
            "block_hash": hex::encode(self.chain.last_hash),
            "executed": r.executed,
            "ok": r.ok,
            "failed": r.failed,
            "failures": r.failures,
            "rejected": r.rejected,
            "stages": stages,
            "bottleneck": self.bottleneck().map(|s| s.name),
            "latency_ms_p50": r.latency_ms_quantile(0.50),
            "latency_ms_p99": r.latency_ms_quantile(0.99),
            "generation": self.generation_mode(),
            "generate_s": self.generation.generate_s,
            "genesis_keys_derived": self.generation.genesis_keys_derived,
            "elapsed_s": r.elapsed_s,
            "tps": self.tps(),
            "verify_limit_tps": self.startup.verify_limit_tps,
            "fraction_of_limit": self.fraction_of_limit(),
            "calibrate_s": self.startup.calibrate_s,
            "pipeline_start_s": self.startup.pipeline_start_s,
            "first_block_s": self.startup.first_block_s,
            "data_dir": self.persisted.data_dir.display().to_string(),
            "durability": self.persisted.durability.to_string(),
            "resumed_from_height": self.persisted.resumed_from_height,
            "open_s": self.persisted.open_s,
            "open": self.persisted.open_json(),
            "commit_s": self.persisted.commit_s,
            "appended_bytes": self.persisted.appended_bytes,
        });
        if let Some(object) = value.as_object_mut() {
            object.extend(memory_json(&self.memory));
        }
        value
    }

    pub fn print_human(&self) {
        let r = self.report;
        outln!(
            "sluice run: workload {}, {} accounts, {} txs, seed {}",
            self.spec.kind,
            self.spec.accounts,
            r.txs_in,
            self.spec.seed
        );
        outln!("  executor    {} on {} threads", self.chain.executor, self.threads);
        self.print_generation();
        outln!("  genesis     {} of {} keys derived", self.generation.genesis_keys_derived, self.spec.accounts);
        self.persisted.print_human();
        self.print_startup();
        outln!("  blocks      {} (height {})", r.blocks, self.chain.height);
        outln!("  executed    {} (ok {}, failed {})", r.executed, r.ok, r.failed);
        for (reason, count) in &r.failures {
            outln!("    failed    {reason}: {count}");
        }
        let rejected: u64 = r.rejected.values().sum();
        outln!("  rejected    {rejected} before execution");
        for (reason, count) in &r.rejected {
            outln!("    rejected  {reason}: {count}");
        }
        outln!("  elapsed     {:.3} s, {:.0} tx/s end to end", r.elapsed_s, self.tps());
        outln!(
            "  limit       {:.0} tx/s raw ed25519 verification on {} threads (calibrated in this run); \
             end to end is {:.2} of it",
            self.startup.verify_limit_tps,
            self.threads,
            self.fraction_of_limit()
        );
        let (p50, p99) = (r.latency_ms_quantile(0.5), r.latency_ms_quantile(0.99));
        outln!("  latency     p50 {p50:.1} ms, p99 {p99:.1} ms per block");
        outln!("  stages      busy / idle / blocked seconds, mean input queue");
        for s in self.stages() {
            let queue = s.queue_depth_mean();
            outln!("    {:<10}{:>8.3} {:>8.3} {:>8.3}   {queue:.1}", s.name, s.busy_s, s.idle_s, s.blocked_s);
        }
        if let Some(b) = self.bottleneck() {
            outln!("  bounded by  {} ({:.3} s busy of {:.3} s)", b.name, b.busy_s, r.elapsed_s);
        }
        print_memory(&self.memory);
        outln!("  state_root  {}", hex::encode(self.chain.state.root()));
        outln!("  block_hash  {}", hex::encode(self.chain.last_hash));
    }

    fn print_generation(&self) {
        let secs = self.generation.generate_s;
        match self.generation.stage {
            Some(_) => outln!(
                "  generated   block by block: {secs:.2} s drawing and signing on the worker threads, \
                 alongside the pipeline (counted below, as stage generate)"
            ),
            None => outln!("  generated   signed ahead in {secs:.2} s before the pipeline (not counted below)"),
        }
        if let Some(limit) = self.args.duration {
            outln!("  duration    {limit} s of generating blocks (--duration)");
        }
    }

    /// What came before the first block: the parts of the time to it.
    fn print_startup(&self) {
        let s = &self.startup;
        let first = match s.first_block_s {
            Some(t) => format!("first block committed {t:.2} s after start"),
            None => format!("no block committed; the pipeline started {:.2} s after start", s.pipeline_start_s),
        };
        let signing = match self.signed_ahead_s() {
            Some(secs) => format!("signing {secs:.2} s"),
            None => "signing block by block".to_string(),
        };
        let (open, cal) = (self.persisted.open_s, s.calibrate_s);
        outln!("  startup     {first}: open {open:.2} s, {signing}; calibration {cal:.2} s after the run");
    }
}

/// The memory fields of `sluice run --json`: start, peak and end of the
/// resident set, its anonymous part (heap) and mapped-file part, and the
/// sampled series. Null where the figures cannot be read (not Linux).
fn memory_json(memory: &MemoryReport) -> serde_json::Map<String, serde_json::Value> {
    let field = |rss: Option<Rss>, pick: fn(Rss) -> u64| json!(rss.map(pick));
    let series: Vec<serde_json::Value> = memory
        .series
        .iter()
        .map(|p| json!({"t_s": p.t_s, "rss_bytes": p.rss.total_bytes, "rss_anon_bytes": p.rss.anon_bytes, "rss_file_bytes": p.rss.file_bytes}))
        .collect();
    let total: fn(Rss) -> u64 = |r| r.total_bytes;
    let anon: fn(Rss) -> u64 = |r| r.anon_bytes;
    let file: fn(Rss) -> u64 = |r| r.file_bytes;
    let pairs = [
        ("rss_bytes_start", field(memory.start, total)),
        ("rss_bytes_max", field(memory.max, total)),
        ("rss_bytes_end", field(memory.end, total)),
        ("rss_anon_bytes_start", field(memory.start, anon)),
        ("rss_anon_bytes_max", field(memory.max, anon)),
        ("rss_anon_bytes_end", field(memory.end, anon)),
        ("rss_file_bytes_max", field(memory.max, file)),
        ("rss_samples", json!(memory.samples)),
        ("rss_series", json!(series)),
    ];
    pairs.into_iter().map(|(name, value)| (name.to_string(), value)).collect()
}

fn print_memory(memory: &MemoryReport) {
    let (Some(start), Some(max), Some(end)) = (memory.start, memory.max, memory.end) else {
        outln!("  memory      not sampled (needs Linux /proc/self/status)");
        return;
    };
    let mib = |bytes: u64| bytes as f64 / MIB;
    outln!(
        "  memory      peak RSS {:.1} MiB (start {:.1}, end {:.1}); heap (anon) peak {:.1} MiB, mapped files peak {:.1} MiB",
        mib(max.total_bytes),
        mib(start.total_bytes),
        mib(end.total_bytes),
        mib(max.anon_bytes),
        mib(max.file_bytes)
    );
}

/// The store's part of the run summary.
impl PersistInfo {
    fn print_human(&self) {
        let dir = self.data_dir.display();
        if self.temporary {
            outln!("  data        {dir} (temporary, removed at exit; pass --data DIR to keep it)");
        } else {
            outln!("  data        {dir}");
        }
        outln!("  durability  {}", self.durability);
        if self.resumed_from_height > 0 {
            let from = self.open.snapshot_height.map_or("genesis".to_string(), |h| format!("snapshot {h}"));
            outln!("  resumed     after height {} (state rebuilt from {from})", self.resumed_from_height);
        }
        if self.open.torn_tail_bytes > 0 {
            outln!("  recovered   cut a torn tail of {} bytes", self.open.torn_tail_bytes);
        }
        for skipped in &self.open.snapshots_skipped {
            outln!("  skipped     {skipped}");
        }
        let t = &self.open.timings;
        outln!(
            "  opened      in {:.3} s: log scan {:.3} s, snapshot {:.3} s, genesis {:.3} s, {} blocks' deltas {:.3} s",
            self.open_s,
            t.log_scan.as_secs_f64(),
            t.snapshot_load.as_secs_f64(),
            t.genesis_state.as_secs_f64(),
            self.open.blocks_replayed,
            t.delta_replay.as_secs_f64()
        );
    }

    fn open_json(&self) -> serde_json::Value {
        let mut value = timings_json(&self.open.timings);
        value["snapshot_height"] = json!(self.open.snapshot_height);
        value["blocks_replayed"] = json!(self.open.blocks_replayed);
        value["txs_replayed"] = json!(self.open.txs_replayed);
        value
    }
}

/// The parts of opening a store (or of a replay), in seconds.
fn timings_json(t: &OpenTimings) -> serde_json::Value {
    json!({
        "log_scan_s": t.log_scan.as_secs_f64(),
        "snapshot_load_s": t.snapshot_load.as_secs_f64(),
        "genesis_state_s": t.genesis_state.as_secs_f64(),
        "delta_replay_s": t.delta_replay.as_secs_f64(),
    })
}

/// `sluice verify`'s report on the store at `data`, checked in `elapsed_s`.
pub fn print_verify(data: &Path, report: &StoreVerifyReport, elapsed_s: f64, json: bool) {
    let tps = report.txs as f64 / elapsed_s.max(f64::MIN_POSITIVE);
    // No origin: the log holds no record. Nothing was committed, which is
    // not damage: the next `sluice run` starts the store afresh.
    let origin = report.origin.as_ref();
    if json {
        let value = json!({
            "intact": true,
            "empty": origin.is_none(),
            "data_dir": data.display().to_string(),
            "height": report.height,
            "block_hash": origin.map(|_| hex::encode(report.block_hash)),
            "state_root": origin.map(|_| hex::encode(report.state_root)),
            "records": report.records,
            "segments": report.segments,
            "txs": report.txs,
            "torn_tail_bytes": report.torn_tail_bytes,
            "chain_id": origin.map(|origin| origin.chain_id().as_str()),
            "origin": origin.map(origin_json),
            "elapsed_s": elapsed_s,
            "tps": tps,
        });
        outln!("{value}");
        return;
    }
    match origin {
        Some(origin) => {
            outln!("sluice verify: {} is intact", data.display());
            outln!("  origin      {origin}");
        }
        None => {
            outln!("sluice verify: {} is intact and empty: nothing was committed", data.display());
            outln!("  origin      none: the log holds no record (a first run stopped before its genesis record)");
        }
    }
    outln!("  records     {} in {} segments", report.records, report.segments);
    outln!("  height      {} ({} txs)", report.height, report.txs);
    if origin.is_some() {
        outln!("  block_hash  {}", hex::encode(report.block_hash));
        outln!("  state_root  {}", hex::encode(report.state_root));
    }
    outln!("  elapsed     {elapsed_s:.3} s, {tps:.0} tx/s");
    if report.torn_tail_bytes > 0 {
        outln!("  torn tail   {} bytes after the last whole record (cut by the next run)", report.torn_tail_bytes);
    }
    if origin.is_none() {
        outln!("  next        the next `sluice run` (or a node's InitChain or state sync) starts it afresh");
    }
}

/// What a store's chain starts from, for `verify --json`.
fn origin_json(origin: &StoreOrigin) -> serde_json::Value {
    match origin {
        StoreOrigin::Seeded(params) => json!({"kind": "seeded", "seed": params.seed, "accounts": params.accounts}),
        StoreOrigin::AppState(genesis) => json!({
            "kind": "app_state",
            "app_state_hash": hex::encode(sluice_engine::genesis::app_state_hash(&genesis.app_state)),
            "app_state_bytes": genesis.app_state.len(),
        }),
        StoreOrigin::Restored(base) => json!({
            "kind": "restored",
            "app_state_hash": hex::encode(base.app_state_hash),
            "height": base.height,
            "block_hash": hex::encode(base.block_hash),
        }),
    }
}

/// `sluice replay`'s report; `mode` is how state was rebuilt.
pub fn print_replay(args: &ReplayArgs, mode: &str, report: &ReplayReport) {
    if args.output.json {
        let value = json!({
            "mode": mode,
            "data_dir": args.data.display().to_string(),
            "height": report.height,
            "block_hash": hex::encode(report.block_hash),
            "state_root": hex::encode(report.state_root),
            "start_height": report.start_height,
            "blocks": report.blocks,
            "txs": report.txs,
            "elapsed_s": report.elapsed.as_secs_f64(),
            "tps": report.tps(),
            "torn_tail_bytes": report.torn_tail_bytes,
            "snapshots_skipped": report.snapshots_skipped,
            "timings": timings_json(&report.timings),
        });
        outln!("{value}");
        return;
    }
    outln!("sluice replay ({mode}): {}", args.data.display());
    outln!("  from        height {}", report.start_height);
    outln!("  replayed    {} blocks, {} txs", report.blocks, report.txs);
    outln!("  height      {}", report.height);
    outln!("  block_hash  {}", hex::encode(report.block_hash));
    outln!("  state_root  {} (matches every block header)", hex::encode(report.state_root));
    outln!("  elapsed     {:.3} s, {:.0} tx/s", report.elapsed.as_secs_f64(), report.tps());
    let t = &report.timings;
    let (scan, genesis) = (t.log_scan.as_secs_f64(), t.genesis_state.as_secs_f64());
    if args.reexecute {
        outln!("  of which    log scan {scan:.3} s, genesis {genesis:.3} s, the rest verifying and executing");
    } else {
        let (snapshot, deltas) = (t.snapshot_load.as_secs_f64(), t.delta_replay.as_secs_f64());
        outln!("  of which    log scan {scan:.3} s, snapshot {snapshot:.3} s, genesis {genesis:.3} s, deltas {deltas:.3} s");
    }
    for skipped in &report.snapshots_skipped {
        outln!("  skipped     {skipped}");
    }
}
