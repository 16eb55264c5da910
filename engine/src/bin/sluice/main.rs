//! `sluice`: the command-line front end of the Sluice engine.
//!
//! This file parses the command line, runs the command and turns its
//! result into the exit status. Each concern has its own file:
//!
//! - args.rs: the command line, `Cli` and the flags of `run`, `verify`,
//!   `replay` and `node`, and the flag groups commands share;
//! - run_command.rs: `sluice run`, feeding signed blocks through the
//!   pipeline; persistence.rs, the block store it commits to;
//!   progress.rs, its progress bars; calibrate.rs, the verification limit
//!   it is measured against;
//! - store_commands.rs: `sluice verify` and `sluice replay`, read-only
//!   checks of a data directory;
//! - report.rs: what `run`, `verify` and `replay` print, human or JSON;
//! - node_command.rs: `sluice node`;
//! - genesis_commands.rs: `sluice genesis`; client_commands.rs: `keys`,
//!   `tx` and `query`, the client for people; load_commands.rs: `load`;
//! - worker_pool.rs: the threads `run` and `replay` work on;
//!   output.rs: standard output that a closed pipe cannot panic.

mod args;
mod calibrate;
mod client_commands;
mod genesis_commands;
mod load_commands;
mod node_command;
mod output;
mod persistence;
mod progress;
mod report;
mod run_command;
mod store_commands;
mod worker_pool;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::output::errln;

// mimalloc: the pipeline allocates many small per-transaction buffers
// across threads, where the system allocator's arenas contend.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a command returns. Boxed, so that `?` takes both the `String`
/// errors and the library's error types; `main` prints it after
/// `sluice: error: `.
pub type CommandResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let result = dispatch(Cli::parse().command);
    // Flushed after an error too. A reader that left early
    // (`sluice verify | head`) is no failure; any other error writing
    // stdout is.
    let flushed = output::finish().map_err(Into::into);
    match result.and(flushed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            errln!("sluice: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command the line names.
fn dispatch(command: Command) -> CommandResult {
    match command {
        Command::Run(args) => run_command::run(args),
        Command::Verify(args) => store_commands::verify(args),
        Command::Replay(args) => store_commands::replay(args),
        Command::Node(args) => node_command::node(args),
        Command::Genesis(command) => genesis_commands::genesis(command),
        Command::Keys(command) => client_commands::keys(command),
        Command::Tx(command) => client_commands::tx(command),
        Command::Query(command) => client_commands::query(command),
        Command::Load(args) => load_commands::load(args),
    }
}
