//! `sluice load`: fund load accounts in a genesis, then drive a chain
//! and report what it committed (sluice_engine::client::load).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use sluice_engine::client::load::{
    self, LoadConfig, LoadKeys, LOAD_ACCOUNTS_MAX, LOAD_BALANCE_DEFAULT, LOAD_BATCH_DEFAULT, LOAD_BATCH_MAX,
    LOAD_DURATION_MAX, LOAD_TXS_MAX,
};
use sluice_engine::client::RPC_URL_DEFAULT;

use crate::args::OutputFlags;
use crate::output::outln;
use crate::CommandResult;

/// Transactions signed ahead per second of `--duration` unless `--txs`
/// says: above what one validator on 2 cores commits.
const TXS_PER_SECOND_AHEAD: usize = 40_000;

#[derive(Args)]
#[command(after_long_help = "\
Fund, then run:

  sluice load --fund-genesis ~/.cometbft/config/genesis.json --accounts 20000 --keys load-keys.json
  # start the chain (scripts/cometbft-localnet.sh with INGEST=1 for the app-owned pool)
  sluice load --rpc http://127.0.0.1:26657 --ingest http://127.0.0.1:26659 --keys load-keys.json --duration 60

Baseline, CometBFT's own kvstore app through its mempool:

  abci-cli kvstore &  cometbft start ...
  sluice load --kvstore --rpc http://127.0.0.1:26657 --duration 60

Only committed transactions count: after the run every block since the start
is read back over the RPC and matched by hash. See docs/benchmarks.md.")]
pub struct LoadArgs {
    /// Add the load accounts to this CometBFT genesis.json and exit.
    #[arg(long, value_name = "GENESIS", requires = "accounts")]
    fund_genesis: Option<PathBuf>,
    /// How many load accounts to fund (with --fund-genesis).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(LOAD_ACCOUNTS_MAX)))]
    accounts: Option<u32>,
    /// Each load account's genesis balance (with --fund-genesis).
    #[arg(long, value_name = "AMOUNT", default_value_t = LOAD_BALANCE_DEFAULT)]
    balance: u64,
    /// The load key file: written by --fund-genesis if absent (mode 0600,
    /// a random seed), read by a run.
    #[arg(long, value_name = "FILE", default_value = "load-keys.json")]
    keys: PathBuf,
    /// CometBFT RPC addresses, comma-separated; the first is read for
    /// blocks. Without --ingest, transactions go to all of them.
    #[arg(long, value_name = "URL,...", value_delimiter = ',', default_value = RPC_URL_DEFAULT)]
    rpc: Vec<String>,
    /// Sluice ingest endpoints ([ingest] listen), comma-separated: submit
    /// to the node's own pool instead of CometBFT's mempool.
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    ingest: Vec<String>,
    /// Seconds to submit for; the run then waits for what was admitted to commit.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=LOAD_DURATION_MAX.as_secs()))]
    duration: u64,
    /// Transactions to sign ahead [default: 40,000 per second of --duration].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=LOAD_TXS_MAX as u64))]
    txs: Option<u64>,
    /// Transactions per submit request.
    #[arg(long, value_name = "N", default_value_t = LOAD_BATCH_DEFAULT as u64,
          value_parser = clap::value_parser!(u64).range(1..=LOAD_BATCH_MAX as u64))]
    batch: u64,
    /// Transactions waiting in the pools, all endpoints together:
    /// submission to an endpoint waits while its pool (or CometBFT
    /// mempool) holds its share, which bounds queueing delay.
    #[arg(long, value_name = "N", default_value_t = 40_000)]
    pool_target: u64,
    /// Send `key=value` transactions of a transfer's size, for CometBFT's
    /// `abci-cli kvstore`: the peer baseline.
    #[arg(long, conflicts_with_all = ["fund_genesis", "ingest"])]
    kvstore: bool,
    /// Seeds the recipients and kvstore values.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    output: OutputFlags,
}

pub fn load(args: LoadArgs) -> CommandResult {
    if let Some(genesis) = &args.fund_genesis {
        let accounts = args.accounts.expect("clap requires --accounts");
        let keys = load::fund_genesis(genesis, &args.keys, accounts, args.balance)?;
        outln!(
            "funded {} load accounts of {} each in {}; keys: {}",
            keys.accounts,
            args.balance,
            genesis.display(),
            args.keys.display()
        );
        return Ok(());
    }
    let keys = match args.kvstore {
        true => None,
        false => Some(LoadKeys::load(&args.keys)?),
    };
    let txs = args.txs.map_or(TXS_PER_SECOND_AHEAD * args.duration as usize, |n| n as usize).min(LOAD_TXS_MAX);
    let config = LoadConfig {
        rpc: args.rpc,
        ingest: args.ingest,
        keys,
        duration: Duration::from_secs(args.duration),
        txs,
        batch: args.batch as usize,
        pool_target: args.pool_target,
        kvstore: args.kvstore,
        seed: args.seed,
        progress: !args.output.json,
    };
    let report = load::run(&config)?;
    if args.output.json {
        outln!("{}", report.to_json());
        return Ok(());
    }
    outln!("target {} via {} ({} endpoint(s))", report.target, report.submit_path, report.endpoints);
    outln!(
        "signed {}, submitted {}, rejected {} {:?}",
        report.signed,
        report.submitted,
        report.rejected_total(),
        report.rejected
    );
    outln!(
        "committed {} ok, {} failed {:?}, in {} blocks (heights {}..={}), {:.0} tx/block",
        report.committed,
        report.failed_total(),
        report.failed,
        report.blocks,
        report.height_first + 1,
        report.height_last,
        report.txs_per_block_mean()
    );
    outln!("submit-to-commit latency p50 {:.0} ms, p99 {:.0} ms", report.latency_ms_p50, report.latency_ms_p99);
    if report.txs_exhausted {
        outln!("note: the signed transactions ran out before --duration; sign more with --txs");
    }
    if report.drain_timed_out {
        outln!("note: transactions were still pooled when the drain deadline passed");
    }
    outln!("Overall committed TPS: {:.0} tx/s over {:.1} s", report.committed_tps, report.window_s);
    Ok(())
}
