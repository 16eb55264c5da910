//! `sluice keys`, `sluice tx` and `sluice query`: the client for people,
//! over CometBFT's RPC (sluice_engine::client).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use sluice_engine::account::AccountId;
use sluice_engine::client::send::{self, COMMIT_WAIT_DEFAULT, COMMIT_WAIT_MAX, FEE_DEFAULT};
use sluice_engine::client::{AccountView, ClientError, CometRpc, KeyFile, TxOutcome, RPC_URL_DEFAULT};
use sluice_engine::genesis::AccountIdError;
use sluice_engine::tx::TransactionBuilder;

use crate::args::OutputFlags;
use crate::output::{errln, outln};
use crate::CommandResult;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new ed25519 key and write it to a key file (mode 0600; an
    /// existing file is never overwritten); print its account id.
    #[command(mut_arg("json", json_id_help))]
    New {
        /// Where to write the key file (docs/format.md §12).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        output: OutputFlags,
    },
    /// Print the account id of a key file.
    #[command(mut_arg("json", json_id_help))]
    Show {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        output: OutputFlags,
    },
}

/// `--json` of `keys`, whose human output is the bare id.
fn json_id_help(arg: clap::Arg) -> clap::Arg {
    arg.help("Print {\"id\": …} instead of the bare id")
}

/// Where the node is, how to print, how long to wait: every command that
/// talks to a node takes these.
#[derive(Args)]
pub struct RpcArgs {
    /// The node's CometBFT RPC address.
    #[arg(long, value_name = "URL", default_value = RPC_URL_DEFAULT)]
    rpc: String,
    #[command(flatten)]
    output: OutputFlags,
    /// Give up after SECS seconds: each RPC request (10 s at most) and the
    /// wait for a commit.
    #[arg(long, value_name = "SECS", default_value_t = COMMIT_WAIT_DEFAULT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=COMMIT_WAIT_MAX.as_secs()))]
    timeout: u64,
}

/// What every transaction command takes: who signs, the fee, the nonce.
#[derive(Args)]
pub struct SignerArgs {
    /// Key file of the signer, who pays the fee (`sluice keys new`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Fee, burned from the signer's balance.
    #[arg(long, value_name = "N", default_value_t = FEE_DEFAULT)]
    fee: u64,
    /// Sign with this nonce instead of the signer's committed one (to send
    /// after transactions still waiting in the mempool).
    #[arg(long, value_name = "N")]
    nonce: Option<u64>,
    /// Submit to the node's ingest endpoint ([ingest] listen, e.g.
    /// http://127.0.0.1:26659) instead of CometBFT's mempool: for a chain
    /// whose CometBFT runs mempool.type = "nop".
    #[arg(long, value_name = "URL")]
    ingest: Option<String>,
    #[command(flatten)]
    node: RpcArgs,
}

#[derive(Subcommand)]
pub enum TxCommand {
    /// Send native balance: a v1 system transfer, signed, submitted, and
    /// waited for until committed. Prints the tx hash, height, code and log;
    /// exits non-zero, naming the error, if it is refused or fails.
    Transfer {
        #[command(flatten)]
        signer: SignerArgs,
        /// Recipient account id (64 hex digits); a new id is created.
        #[arg(long, value_name = "HEX", value_parser = parse_id)]
        to: AccountId,
        /// Amount to send, in the chain's smallest unit.
        #[arg(long, value_name = "N")]
        amount: u64,
    },
    /// The token program: mints, token accounts, minting and transfers.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a mint with the signer as its authority; prints its address.
    CreateMint {
        #[command(flatten)]
        signer: SignerArgs,
        /// Decimal places the token is displayed with (informational).
        #[arg(long, default_value_t = 0)]
        decimals: u8,
        /// Seed of the mint's address, derive_address(signer, seed)
        /// [default: the signer's nonce, which is never reused].
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
    },
    /// Create a token account for a mint, owned by the signer; prints its address.
    CreateAccount {
        #[command(flatten)]
        signer: SignerArgs,
        /// The mint's address (64 hex digits).
        #[arg(long, value_name = "HEX", value_parser = parse_id)]
        mint: AccountId,
        /// Seed of the account's address [default: the signer's nonce].
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
    },
    /// Mint tokens into a token account; the signer must be the mint's authority.
    MintTo {
        #[command(flatten)]
        signer: SignerArgs,
        #[arg(long, value_name = "HEX", value_parser = parse_id)]
        mint: AccountId,
        /// The token account that receives them.
        #[arg(long, value_name = "HEX", value_parser = parse_id)]
        to: AccountId,
        #[arg(long, value_name = "N")]
        amount: u64,
    },
    /// Move tokens between two token accounts of one mint; the signer must
    /// own the source.
    Transfer {
        #[command(flatten)]
        signer: SignerArgs,
        #[arg(long, value_name = "HEX", value_parser = parse_id)]
        from: AccountId,
        #[arg(long, value_name = "HEX", value_parser = parse_id)]
        to: AccountId,
        #[arg(long, value_name = "N")]
        amount: u64,
    },
}

#[derive(Subcommand)]
pub enum QueryCommand {
    /// An account's balance, nonce, owner and data, with token fields for
    /// a mint or token account. Exits non-zero if it does not exist.
    Account {
        /// Account id (64 hex digits).
        #[arg(value_name = "HEX", value_parser = parse_id)]
        id: AccountId,
        #[command(flatten)]
        node: RpcArgs,
    },
}

fn parse_id(text: &str) -> Result<AccountId, AccountIdError> {
    sluice_engine::genesis::parse_account_id(text)
}

pub fn keys(command: KeysCommand) -> CommandResult {
    let (key, output) = match command {
        KeysCommand::New { out, output } => {
            let key = KeyFile::generate();
            key.write_new(&out)?;
            errln!("wrote {} (mode 0600): whoever reads it can spend from this account", out.display());
            (key, output)
        }
        KeysCommand::Show { file, output } => (KeyFile::load(&file)?, output),
    };
    let id = hex::encode(key.id.0);
    match output.json {
        true => outln!("{}", json!({ "id": id })),
        false => outln!("{id}"),
    }
    Ok(())
}

impl RpcArgs {
    fn rpc(&self) -> Result<CometRpc, ClientError> {
        CometRpc::new(&self.rpc, self.wait())
    }

    fn wait(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// A transaction command, once its signer is known: builds the
/// transaction from the prepared signer and the fee, and names what it
/// created.
type Build<'a> =
    Box<dyn FnOnce(&send::Prepared, u64) -> Result<(TransactionBuilder, Option<Created>), ClientError> + 'a>;

/// An account the transaction creates, printed with its outcome.
struct Created {
    label: &'static str,
    id: AccountId,
}

pub fn tx(command: TxCommand) -> CommandResult {
    use send::{token_create_account, token_create_mint, token_mint_to, token_transfer};
    let created = |label, id| Some(Created { label, id });
    let (signer, build): (SignerArgs, Build<'_>) = match command {
        TxCommand::Transfer { signer, to, amount } => {
            (signer, Box::new(move |p, fee| Ok((send::transfer(p, fee, to, amount)?, None))))
        }
        TxCommand::Token(TokenCommand::CreateMint { signer, decimals, seed }) => (
            signer,
            Box::new(move |p, fee| {
                let (builder, mint) = token_create_mint(p, fee, seed.unwrap_or(p.nonce), decimals);
                Ok((builder, created("mint", mint)))
            }),
        ),
        TxCommand::Token(TokenCommand::CreateAccount { signer, mint, seed }) => (
            signer,
            Box::new(move |p, fee| {
                let (builder, account) = token_create_account(p, fee, seed.unwrap_or(p.nonce), mint);
                Ok((builder, created("account", account)))
            }),
        ),
        TxCommand::Token(TokenCommand::MintTo { signer, mint, to, amount }) => {
            (signer, Box::new(move |p, fee| Ok((token_mint_to(p, fee, mint, to, amount), None))))
        }
        TxCommand::Token(TokenCommand::Transfer { signer, from, to, amount }) => {
            (signer, Box::new(move |p, fee| Ok((token_transfer(p, fee, from, to, amount), None))))
        }
    };
    send_transaction(&signer, build)?;
    Ok(())
}

/// Reads the key, asks the node for the chain id and nonce, signs,
/// submits, waits, prints the outcome; a refusal or a failed execution is
/// an error after the outcome is printed.
fn send_transaction(signer: &SignerArgs, build: Build<'_>) -> Result<(), ClientError> {
    let key = KeyFile::load(&signer.key)?;
    let rpc = signer.node.rpc()?;
    let prepared = send::prepare(&rpc, &key.id, signer.nonce)?;
    let (builder, created) = build(&prepared, signer.fee)?;
    let tx = send::sign(builder, &key, &prepared.chain)?;
    let ingest = signer.ingest.as_deref().map(|url| CometRpc::new(url, signer.node.wait())).transpose()?;
    let outcome = send::submit_via(&rpc, ingest.as_ref(), &tx, signer.node.wait())?;
    print_outcome(&outcome, &prepared, created.as_ref(), signer.node.output.json);
    outcome.into_result().map(|_| ())
}

fn print_outcome(outcome: &TxOutcome, prepared: &send::Prepared, created: Option<&Created>, json: bool) {
    if json {
        let mut value = json!({
            "hash": outcome.hash,
            "height": outcome.height,
            "code": outcome.code,
            "log": outcome.log,
            "signer": hex::encode(prepared.signer.0),
            "nonce": prepared.nonce,
        });
        if let Some(created) = created {
            value[created.label] = Value::String(hex::encode(created.id.0));
        }
        outln!("{value}");
        return;
    }
    outln!("txhash    {}", outcome.hash);
    outln!("height    {}", outcome.height);
    outln!("code      {}", outcome.code);
    outln!("log       {}", outcome.log);
    if let Some(created) = created {
        outln!("{:<9} {}", created.label, hex::encode(created.id.0));
    }
}

pub fn query(command: QueryCommand) -> CommandResult {
    let QueryCommand::Account { id, node } = command;
    let account = node.rpc().and_then(|rpc| rpc.account(&id))?;
    if !account.exists {
        return Err(ClientError::UnknownAccount { id, height: account.height }.into());
    }
    if node.output.json {
        let mut value = account.json.clone();
        value["height"] = json!(account.height);
        outln!("{value}");
    } else {
        print_account(&account);
    }
    Ok(())
}

fn print_account(account: &AccountView) {
    let owner = match account.owner {
        0 => "system",
        1 => "token",
        _ => "program",
    };
    let data = account.json["data"].as_str().unwrap_or_default();
    outln!("account   {}", hex::encode(account.id.0));
    outln!("balance   {}", account.balance);
    outln!("nonce     {}", account.nonce);
    outln!("owner     {} ({owner})", account.owner);
    outln!("data      {} bytes{}", data.len() / 2, if data.is_empty() { String::new() } else { format!(": {data}") });
    let token = &account.json["token"];
    match token["kind"].as_str() {
        Some("mint") => outln!(
            "token     mint: authority {}, supply {}, decimals {}",
            token["authority"].as_str().unwrap_or_default(),
            token["supply"],
            token["decimals"]
        ),
        Some("account") => outln!(
            "token     account of mint {}: owner {}, amount {}",
            token["mint"].as_str().unwrap_or_default(),
            token["owner"].as_str().unwrap_or_default(),
            token["amount"]
        ),
        _ => {}
    }
    outln!("height    {}", account.height);
}
