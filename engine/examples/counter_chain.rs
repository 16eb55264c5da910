//! `counter_chain`: a whole chain with a program of its own, on Sluice and
//! CometBFT. docs/operations.md ("A chain with its own programs") walks
//! through it; tests/tests/chain_programs.rs drives it with a real CometBFT.
//!
//! The chain runs Sluice's native programs plus [`Counter`] (program 300).
//! An account the counter program owns holds `authority (32) ‖ count u64`:
//!
//! | tag | instruction | accounts | data after the tag |
//! |---|---|---|---|
//! | 0 | `Init`: the signer becomes the authority | 0: counter (w, owned by program 300, empty) | — |
//! | 1 | `Increment` | 0: counter (w) | by u64 |
//!
//! Only the authority may increment: anyone else fails with the program's
//! own error 1 (`Custom(1)`, ABCI code 1001). A count that would pass
//! u64::MAX fails with `arithmetic_overflow`.
//!
//! ```text
//! counter_chain node --config FILE                      serve CometBFT with Counter registered
//! counter_chain create --key FILE [--seed N]            create a counter, print its address
//! counter_chain increment --key FILE --counter HEX --by N
//! counter_chain show --counter HEX                      print its authority and count
//! ```
//!
//! Everything but the program and these commands is the library: the node
//! (`sluice_engine::node::run` with this chain's registry) and the client
//! (`sluice_engine::client`). `sluice keys`, `sluice genesis`,
//! `sluice query` and `sluice tx transfer` work on this chain unchanged.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use sluice_engine::account::{derive_address, AccountId, ProgramId};
use sluice_engine::client::send::{self, COMMIT_WAIT_DEFAULT, FEE_DEFAULT};
use sluice_engine::client::{ClientError, CometRpc, KeyFile, RPC_URL_DEFAULT};
use sluice_engine::exec::ExecError;
use sluice_engine::node::{NodeConfig, NodeError, NodeOverrides};
use sluice_engine::program::{system, DataReader, InvokeContext, Program, ProgramRegistry};
use sluice_engine::tx::TransactionBuilder;

/// The counter program's id: registered programs sit at 256 and above.
pub const COUNTER_ID: ProgramId = ProgramId(300);
const COUNTER_BYTES: usize = 40;
const TAG_INIT: u8 = 0;
const TAG_INCREMENT: u8 = 1;
/// `Custom(1)`: the signer is not the counter's authority.
const ERROR_NOT_AUTHORITY: u16 = 1;

/// Counts, for the one account that created the counter.
pub struct Counter;

impl Program for Counter {
    fn id(&self) -> ProgramId {
        COUNTER_ID
    }

    fn name(&self) -> &'static str {
        "counter"
    }

    fn execute(&self, ctx: &mut InvokeContext<'_>, data: &[u8]) -> Result<(), ExecError> {
        let mut reader = DataReader::new(data);
        let tag = reader.u8()?;
        let by = if tag == TAG_INCREMENT { reader.u64()? } else { 0 };
        reader.finish()?;
        let counter = ctx.instruction_account(0)?;
        let signer = ctx.signer();
        match tag {
            TAG_INIT => {
                let account = ctx.write(&counter)?;
                if account.owner != COUNTER_ID {
                    return Err(ExecError::InvalidAccountOwner);
                }
                if !account.data.is_empty() {
                    return Err(ExecError::AccountAlreadyInitialized);
                }
                account.data = [signer.0.as_slice(), &0u64.to_le_bytes()].concat();
                Ok(())
            }
            TAG_INCREMENT => {
                let (authority, count) = decode(&ctx.read(&counter)?.data)?;
                if authority != signer {
                    return Err(ExecError::Custom(ERROR_NOT_AUTHORITY));
                }
                let count = count.checked_add(by).ok_or(ExecError::ArithmeticOverflow)?;
                ctx.write(&counter)?.data[32..].copy_from_slice(&count.to_le_bytes());
                Ok(())
            }
            _ => Err(ExecError::InvalidInstructionData),
        }
    }
}

/// A counter account's authority and count.
fn decode(data: &[u8]) -> Result<(AccountId, u64), ExecError> {
    if data.len() != COUNTER_BYTES {
        return Err(ExecError::InvalidAccountData);
    }
    let authority = AccountId(data[..32].try_into().expect("32 bytes"));
    Ok((authority, u64::from_le_bytes(data[32..].try_into().expect("8 bytes"))))
}

/// This chain's programs: every validator must run exactly these.
fn programs() -> ProgramRegistry {
    let mut programs = ProgramRegistry::native();
    programs.register(Arc::new(Counter)).expect("program id 300 is free");
    programs
}

#[derive(Parser)]
#[command(name = "counter_chain", about = "A Sluice chain with a counter program of its own (program 300)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve CometBFT over ABCI++ with the counter program registered (the
    /// flags and config file of `sluice node`).
    Node {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long, value_name = "ADDR")]
        abci: Option<String>,
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Create a counter owned by program 300 at derive_address(signer, seed),
    /// with the signer as its authority; prints its address.
    Create {
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// [default: the signer's nonce]
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value = RPC_URL_DEFAULT)]
        rpc: String,
    },
    /// Add to a counter; only its authority may.
    Increment {
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[arg(long, value_name = "HEX", value_parser = sluice_engine::genesis::parse_account_id)]
        counter: AccountId,
        #[arg(long)]
        by: u64,
        #[arg(long, default_value = RPC_URL_DEFAULT)]
        rpc: String,
    },
    /// Print a counter's authority and count.
    Show {
        #[arg(long, value_name = "HEX", value_parser = sluice_engine::genesis::parse_account_id)]
        counter: AccountId,
        #[arg(long, default_value = RPC_URL_DEFAULT)]
        rpc: String,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Node { config, abci, data } => node(config, abci, data).map_err(|e| e.to_string()),
        Command::Create { key, seed, rpc } => create(&key, seed, &rpc).map_err(|e| e.to_string()),
        Command::Increment { key, counter, by, rpc } => increment(&key, counter, by, &rpc).map_err(|e| e.to_string()),
        Command::Show { counter, rpc } => show(counter, &rpc).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("counter_chain: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn node(config: Option<PathBuf>, abci: Option<String>, data: Option<PathBuf>) -> Result<(), NodeError> {
    let overrides = NodeOverrides { abci, data, ..NodeOverrides::default() };
    let config = NodeConfig::load(config.as_deref(), overrides)?;
    sluice_engine::node::run(config, programs())
}

/// Signs what `build` makes for the prepared signer, submits it, waits for
/// the commit, and prints the outcome; a failure is an error.
fn send(
    key: &std::path::Path,
    rpc: &str,
    build: impl FnOnce(&send::Prepared) -> TransactionBuilder,
) -> Result<(), ClientError> {
    let key = KeyFile::load(key)?;
    let rpc = CometRpc::new(rpc, COMMIT_WAIT_DEFAULT)?;
    let prepared = send::prepare(&rpc, &key.id, None)?;
    let tx = send::sign(build(&prepared), &key, &prepared.chain)?;
    let outcome = send::submit(&rpc, &tx, COMMIT_WAIT_DEFAULT)?.into_result()?;
    println!("txhash {} height {} code {}", outcome.hash, outcome.height, outcome.code);
    Ok(())
}

fn create(key: &std::path::Path, seed: Option<u64>, rpc: &str) -> Result<(), ClientError> {
    let mut address = None;
    send(key, rpc, |p| {
        let seed = seed.unwrap_or(p.nonce);
        let counter = derive_address(&p.signer, seed);
        address = Some(counter);
        TransactionBuilder::new(p.signer, p.nonce, FEE_DEFAULT)
            .instruction(
                ProgramId::SYSTEM,
                &[(p.signer, true), (counter, true)],
                system::create_account_data(seed, 0, COUNTER_ID),
            )
            .instruction(COUNTER_ID, &[(counter, true)], vec![TAG_INIT])
    })?;
    println!("counter {}", hex::encode(address.expect("built").0));
    Ok(())
}

fn increment(key: &std::path::Path, counter: AccountId, by: u64, rpc: &str) -> Result<(), ClientError> {
    let mut data = vec![TAG_INCREMENT];
    data.extend_from_slice(&by.to_le_bytes());
    send(key, rpc, |p| {
        TransactionBuilder::new(p.signer, p.nonce, FEE_DEFAULT).instruction(COUNTER_ID, &[(counter, true)], data)
    })
}

fn show(counter: AccountId, rpc: &str) -> Result<(), ClientError> {
    let account = CometRpc::new(rpc, Duration::from_secs(10))?.account(&counter)?;
    let data = hex::decode(account.json["data"].as_str().unwrap_or_default()).unwrap_or_default();
    match (account.owner, decode(&data)) {
        (owner, Ok((authority, count))) if owner == COUNTER_ID.0 => {
            println!("authority {}\ncount {count}", hex::encode(authority.0));
            Ok(())
        }
        _ => Err(ClientError::Query { code: 0, log: format!("{} is not a counter", hex::encode(counter.0)) }),
    }
}
