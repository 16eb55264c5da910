//! `sluice verify` and `sluice replay`: read-only checks of a data
//! directory written by `sluice run --data` or a node (sluice_engine::persist).

use std::time::Instant;

use sluice_engine::persist::{self, ReplayOptions};
use sluice_engine::program::ProgramRegistry;

use crate::args::{ReplayArgs, VerifyArgs};
use crate::report::{print_replay, print_verify};
use crate::worker_pool::worker_pool;
use crate::CommandResult;

/// Checks every record of the store; an error names where it is damaged.
pub fn verify(args: VerifyArgs) -> CommandResult {
    let start = Instant::now();
    let report = persist::verify_store(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let elapsed_s = start.elapsed().as_secs_f64();
    print_verify(&args.data, &report, elapsed_s, args.output.json);
    Ok(())
}

/// Rebuilds state from deltas (or by re-executing every block), failing
/// where a root differs from its block header.
pub fn replay(args: ReplayArgs) -> CommandResult {
    let (pool, _) = worker_pool(args.execution.threads)?;
    let report = pool
        .install(|| match args.reexecute {
            true => persist::replay_reexecute(&args.data, args.execution.executor, &ProgramRegistry::native()),
            false => persist::replay_from_deltas(&args.data, ReplayOptions { from_genesis: args.from_genesis }),
        })
        .map_err(|e| format!("{}: {e}", args.data.display()))?;
    let mode = if args.reexecute { "reexecute" } else { "deltas" };
    print_replay(&args, mode, &report);
    Ok(())
}
