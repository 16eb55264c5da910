//! `sluice node`: serve a chain to CometBFT over ABCI++ (sluice_engine::node).

use sluice_engine::node::{self, NodeConfig, NodeOverrides};
use sluice_engine::program::ProgramRegistry;

use crate::args::NodeArgs;
use crate::CommandResult;

/// Loads the config file, the flags overriding it, and serves until stopped.
pub fn node(args: NodeArgs) -> CommandResult {
    let overrides = NodeOverrides {
        abci: args.abci,
        data: args.data,
        metrics: args.metrics,
        ingest: args.ingest,
        log_level: args.log_level,
        log_format: args.log_format,
    };
    let config = NodeConfig::load(args.config.as_deref(), overrides)?;
    node::run(config, ProgramRegistry::native())?;
    Ok(())
}
