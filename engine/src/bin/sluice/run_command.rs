//! `sluice run`: sign a seeded workload (ahead of the pipeline, or block by
//! block while it runs), commit it through the pipeline into a block store,
//! and report it beside this machine's measured verification limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_engine::chain::Chain;
use sluice_engine::memory::{RssSampler, RSS_SAMPLE_INTERVAL_MS};
use sluice_engine::persist::Resumed;
use sluice_engine::pipeline::{run_pipeline, CommitSink, PipelineConfig, PipelineReport, StageMetrics};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::source::{cut_blocks, spawn_generator, GeneratorConfig};
use sluice_engine::state::GenesisKeys;
use sluice_engine::tx::ChainId;
use sluice_engine::workload::{WorkloadSpec, WorkloadStream};

use crate::args::RunArgs;
use crate::calibrate;
use crate::output::outln;
use crate::persistence::Persistence;
use crate::progress::{Progress, ProgressSink};
use crate::report::Summary;
use crate::worker_pool::worker_pool;
use crate::CommandResult;

use sluice_engine::limits::SIGN_AHEAD_BATCH_TXS_MAX;

/// Runs `sluice run`: opens the store, prepares the feed, runs the
/// pipeline, syncs, calibrates, and prints the summary.
pub fn run(args: RunArgs) -> CommandResult {
    let started = Instant::now();
    let (pool, threads) = worker_pool(args.execution.threads)?;
    let spec = WorkloadSpec {
        kind: args.workload,
        accounts: args.accounts.unwrap_or(args.workload.default_accounts()),
        txs: args.txs_limit(),
        seed: args.seed,
        chain: ChainId::new(&args.chain_id)?,
    };
    // Before opening the store, whose genesis takes seconds to derive.
    match args.signs_ahead() {
        true => spec.validate()?,
        false => spec.validate_shape()?,
    }
    // The store needs the genesis state only when it is new or has no usable
    // snapshot, and the workload needs only the keys it signs for and sends
    // to: both draw on one set of lazily derived keys, so each key is derived
    // at most once, and only if something uses it.
    let keys = Arc::new(GenesisKeys::new(spec.seed, spec.accounts)?);
    let open_start = Instant::now();
    let (mut persistence, resumed) = pool.install(|| Persistence::open(&args, &spec, &keys))?;
    persistence.info.open_s = open_start.elapsed().as_secs_f64();
    let sampler = RssSampler::start(Duration::from_millis(RSS_SAMPLE_INTERVAL_MS))?;
    // The feed takes the keys: a stream derives the ones its blocks touch
    // as it goes, and signing ahead frees them once it has signed.
    let feed = pool.install(|| Feed::prepare(&args, &spec, keys, &resumed))?;
    let mut chain = Chain::resume(
        resumed.state,
        ProgramRegistry::native(),
        args.execution.executor,
        resumed.height,
        resumed.last_hash,
    );
    let progress = Progress::committing(feed.blocks(&args), args.output.json);
    let mut sink = ProgressSink { inner: persistence, progress: &progress, first_commit: None };
    let config = PipelineConfig {
        chain: spec.chain.clone(),
        snapshot_interval_blocks: args.snapshot_interval,
        block_record_bytes_max: sink.inner.store.block_record_bytes_max(),
        ..PipelineConfig::default()
    };
    let pipeline_start = Instant::now();
    let (report, generation) = feed.run(&mut chain, &mut sink, &pool, &config, &args)?;
    progress.finish();
    let mut persistence = sink.inner;
    persistence.finish()?;
    // After the run, so that the first block waits for none of it, and
    // alone on the cores: nothing of the pipeline is left running.
    let calibration = calibrate::calibrate(&pool, &spec.chain)?;
    let startup = Startup {
        pipeline_start_s: (pipeline_start - started).as_secs_f64(),
        first_block_s: sink.first_commit.map(|at| (at - started).as_secs_f64()),
        calibrate_s: calibration.elapsed.as_secs_f64(),
        verify_limit_tps: calibration.limit_tps,
    };
    let memory = sampler.finish();
    let persisted = &persistence.info;
    let summary = Summary {
        spec: &spec,
        args: &args,
        chain: &chain,
        report: &report,
        threads,
        generation,
        startup,
        memory,
        persisted,
    };
    if args.output.json {
        outln!("{}", summary.json());
    } else {
        summary.print_human();
    }
    Ok(())
}

/// Where the pipeline's blocks come from.
enum Feed {
    /// Generated and signed before the pipeline starts (the default up to
    /// `SIGN_AHEAD_TXS_MAX`, or `--pregenerate`).
    Pregenerated { blocks: Vec<Vec<Vec<u8>>>, generate_s: f64, genesis_keys_derived: usize },
    /// Drawn and signed block by block while the pipeline runs. Boxed: the
    /// RNG's buffer makes the stream hundreds of bytes.
    Streamed(Box<WorkloadStream>),
}

/// How the workload was generated, for the summary.
pub struct Generation {
    /// Seconds spent drawing and signing transactions, deriving the genesis
    /// keys they need.
    pub generate_s: f64,
    /// The generator thread's metrics, when blocks were streamed.
    pub stage: Option<StageMetrics>,
    /// Genesis keys derived by this run: by opening the store (all of them,
    /// when it had to build the genesis state) and by the workload (those of
    /// the accounts it touched).
    pub genesis_keys_derived: usize,
}

impl Feed {
    /// `keys` are the genesis keys the store was opened with: the stream
    /// keeps them and derives the ones its blocks touch; signing ahead
    /// derives what it signs with, then frees them (hundreds of bytes per
    /// account) before the pipeline runs. Runs on the worker pool.
    fn prepare(args: &RunArgs, spec: &WorkloadSpec, keys: Arc<GenesisKeys>, resumed: &Resumed) -> CommandResult<Feed> {
        if !args.signs_ahead() {
            let stream = WorkloadStream::resumed(spec, keys, &resumed.state, resumed.height)?;
            return Ok(Feed::Streamed(Box::new(stream)));
        }
        // What `workload::generate_resumed` does, a batch at a time so that
        // a terminal can watch it: batches give the same bytes as one call,
        // and the blocks are cut from the whole, as before.
        let start = Instant::now();
        spec.validate()?;
        let mut stream = WorkloadStream::resumed(spec, keys, &resumed.state, resumed.height)?;
        let total = stream.remaining();
        let batch = usize::try_from(SIGN_AHEAD_BATCH_TXS_MAX).expect("a small constant");
        let mut txs = Vec::with_capacity(usize::try_from(total).map_err(|_| "--txs does not fit in memory")?);
        let progress = Progress::signing(total, args.output.json);
        while stream.remaining() > 0 {
            let signed = stream.next_batch(batch);
            progress.advance(signed.len() as u64);
            txs.extend(signed);
        }
        progress.finish();
        let genesis_keys_derived = stream.keys().derived();
        drop(stream);
        let blocks = cut_blocks(txs, args.block_size as usize);
        let generate_s = start.elapsed().as_secs_f64();
        Ok(Feed::Pregenerated { blocks, generate_s, genesis_keys_derived })
    }

    /// Blocks the run will commit, when known before it starts (not when
    /// a duration ends it).
    fn blocks(&self, args: &RunArgs) -> Option<u64> {
        match self {
            Feed::Pregenerated { blocks, .. } => Some(blocks.len() as u64),
            Feed::Streamed(_) if args.duration.is_some() => None,
            Feed::Streamed(stream) => Some(stream.remaining().div_ceil(args.block_size)),
        }
    }

    fn run(
        self,
        chain: &mut Chain,
        sink: &mut dyn CommitSink,
        pool: &rayon::ThreadPool,
        config: &PipelineConfig,
        args: &RunArgs,
    ) -> CommandResult<(PipelineReport, Generation)> {
        let stream = match self {
            Feed::Streamed(stream) => stream,
            Feed::Pregenerated { blocks, generate_s, genesis_keys_derived } => {
                let report = run_pipeline(chain, blocks.into_iter(), sink, pool, config)?;
                return Ok((report, Generation { generate_s, stage: None, genesis_keys_derived }));
            }
        };
        // The stream moves to the generator thread; this handle counts the
        // keys derived once it is done, and frees them on return.
        let keys = Arc::clone(stream.keys());
        let plan = GeneratorConfig {
            block_size: args.block_size as usize,
            channel_blocks_max: config.channel_blocks_max,
            deadline: args.duration.map(|secs| Instant::now() + Duration::from_secs(secs)),
        };
        std::thread::scope(|scope| {
            let (blocks, generator) = spawn_generator(scope, *stream, plan, pool)?;
            let result = run_pipeline(chain, blocks.into_iter(), sink, pool, config);
            // The pipeline dropped the receiver, so the generator has stopped
            // or stops at its next send; a pipeline error names the cause.
            let stage = generator.join();
            let report = result?;
            let stage = stage?;
            let genesis_keys_derived = keys.derived();
            Ok((report, Generation { generate_s: stage.busy_s, stage: Some(stage), genesis_keys_derived }))
        })
    }
}

/// What a run did before its pipeline ran, and how far this machine's
/// verification goes, for the summary.
pub struct Startup {
    /// From the start of `run` to the start of the pipeline: opening the
    /// store and signing ahead.
    pub pipeline_start_s: f64,
    /// From the start of `run` to the first committed block; none when no
    /// block was committed.
    pub first_block_s: Option<f64>,
    /// The calibration, signing its messages included; it runs after the
    /// pipeline, so neither the first block nor the rate waits for it.
    pub calibrate_s: f64,
    /// Raw batch verification on the worker pool, signatures per second.
    pub verify_limit_tps: f64,
}
