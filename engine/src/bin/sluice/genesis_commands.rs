//! `sluice genesis`: edit and check `app_state` in CometBFT's genesis.json
//! (sluice_engine::genesis), as `gaiad genesis` does for a Cosmos chain.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use sluice_engine::account::{AccountId, ProgramId};
use sluice_engine::genesis::{validate_genesis_file, AppState, GenesisAccount, GenesisFile, SeededAccounts};
use sluice_engine::state::{GENESIS_ACCOUNTS_MAX, GENESIS_BALANCE};

use crate::args::OutputFlags;
use crate::output::{errln, outln};
use crate::CommandResult;

#[derive(Subcommand)]
pub enum GenesisCommand {
    /// Add an account with a balance to app_state in a CometBFT genesis.json,
    /// in place (like `gaiad genesis add-genesis-account`). Refuses, writing
    /// nothing, an id already there or a total supply past u64::MAX.
    AddAccount {
        /// CometBFT's genesis.json (HOME/config/genesis.json).
        #[arg(long, value_name = "PATH")]
        genesis: PathBuf,
        /// Account id: the ed25519 public key, 64 hex digits (`sluice keys show`).
        #[arg(long, value_name = "HEX", value_parser = sluice_engine::genesis::parse_account_id)]
        id: AccountId,
        /// Starting balance, in the chain's smallest unit.
        #[arg(long, value_name = "N")]
        balance: u64,
    },
    /// DEVELOPMENT ONLY: fund N accounts whose private keys derive from a
    /// public seed, as testnets, benchmarks and the tests do. Anyone who
    /// reads the genesis can spend them. Sets app_state.seeded in place.
    Seeded {
        #[arg(long, value_name = "PATH")]
        genesis: PathBuf,
        /// How many seeded accounts (1..=10000000).
        #[arg(long, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=GENESIS_ACCOUNTS_MAX as i64))]
        accounts: u32,
        /// The seed the keys derive from.
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
        /// Balance of each seeded account.
        #[arg(long, value_name = "N", default_value_t = GENESIS_BALANCE)]
        balance: u64,
    },
    /// Check a genesis.json the way the node will at InitChain, and print its
    /// chain id, genesis hash, accounts, supply and genesis state root.
    Validate {
        #[arg(long, value_name = "PATH")]
        genesis: PathBuf,
        #[command(flatten)]
        output: OutputFlags,
    },
}

pub fn genesis(command: GenesisCommand) -> CommandResult {
    match command {
        GenesisCommand::AddAccount { genesis, id, balance } => {
            let account = GenesisAccount { id, balance, owner: ProgramId::SYSTEM, data: Vec::new() };
            let app_state = edit(&genesis, |file| file.add_account(&account))?;
            outln!("added account {} with balance {balance} to {}", hex::encode(id.0), genesis.display());
            print_totals(&app_state);
        }
        GenesisCommand::Seeded { genesis, accounts, seed, balance } => {
            let seeded = SeededAccounts { seed, accounts, balance };
            let app_state = edit(&genesis, |file| file.set_seeded(&seeded))?;
            errln!(
                "warning: the private keys of these {accounts} accounts derive from seed {seed}, which is in the \
                 genesis: anyone can spend them. Use this for testnets and benchmarks only."
            );
            outln!(
                "set app_state.seeded ({accounts} accounts from seed {seed}, {balance} each) in {}",
                genesis.display()
            );
            print_totals(&app_state);
        }
        GenesisCommand::Validate { genesis, output } => validate(&genesis, output.json)?,
    }
    Ok(())
}

/// Loads, edits and saves; nothing is written if the edit is refused.
fn edit(
    path: &std::path::Path,
    change: impl FnOnce(&mut GenesisFile) -> Result<AppState, sluice_engine::genesis::GenesisError>,
) -> Result<AppState, String> {
    let describe = |e: sluice_engine::genesis::GenesisError| format!("{}: {e}", path.display());
    let mut file = GenesisFile::load(path).map_err(describe)?;
    let app_state = change(&mut file).map_err(describe)?;
    file.save().map_err(describe)?;
    Ok(app_state)
}

fn print_totals(app_state: &AppState) {
    let seeded = app_state.seeded.map_or(0, |s| s.accounts);
    outln!("app_state now has {} listed and {seeded} seeded accounts", app_state.accounts.len());
}

fn validate(path: &std::path::Path, json: bool) -> Result<(), String> {
    let summary = validate_genesis_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let genesis = &summary.genesis;
    let chain_id = summary.chain_id.as_deref().unwrap_or("");
    sluice_engine::tx::ChainId::new(chain_id).map_err(|e| format!("{}: chain_id: {e}", path.display()))?;
    let (hash, root) = (hex::encode(genesis.app_state_hash), hex::encode(genesis.state.root()));
    if json {
        let value = json!({
            "chain_id": chain_id,
            "genesis_hash": hash,
            "accounts": genesis.accounts,
            "supply": genesis.supply.to_string(),
            "state_root": root,
        });
        outln!("{value}");
        return Ok(());
    }
    outln!("sluice genesis: {} is valid", path.display());
    outln!("  chain_id      {chain_id}");
    outln!("  genesis_hash  {hash} (blake3 of app_state; the node logs it)");
    outln!("  accounts      {}", genesis.accounts);
    outln!("  supply        {}", genesis.supply);
    outln!("  state_root    {root} (the app hash CometBFT starts from)");
    Ok(())
}
