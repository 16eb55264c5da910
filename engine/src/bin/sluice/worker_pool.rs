//! The rayon pool on which `run` and `replay` verify and execute.

use crate::CommandResult;

/// The pool that verification and execution share: `threads` workers
/// (`--threads`), or one per core; and how many it has.
pub fn worker_pool(threads: Option<u16>) -> CommandResult<(rayon::ThreadPool, usize)> {
    let threads =
        threads.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sluice-worker-{i}"))
        .build()
        .map_err(|e| format!("cannot start {threads} worker threads: {e}"))?;
    Ok((pool, threads))
}
