//! Sending a transaction: read the chain id and the signer's nonce from the
//! node, sign, submit through `broadcast_tx_sync`, and wait, with a
//! deadline, until the transaction is committed.
//!
//! The builders here make the native programs' transactions (system
//! transfer, token instructions); a chain's own client builds its
//! instructions with [`crate::tx::TransactionBuilder`] and sends them with
//! [`prepare`] and [`submit`] the same way.

use std::time::{Duration, Instant};

use super::rpc::{comet_tx_hash, CometRpc};
use super::{ClientError, KeyFile};
use crate::account::{derive_address, AccountId, ProgramId};
pub use crate::limits::{COMMIT_WAIT_DEFAULT, COMMIT_WAIT_MAX};
use crate::program::{system, token};
use crate::tx::{ChainId, Transaction, TransactionBuilder};

/// Fee a client transaction pays unless `--fee` says otherwise, the same
/// as the generated workloads pay. Fees are burned and the chain sets no
/// minimum.
pub const FEE_DEFAULT: u64 = 10;
/// Between two `tx` lookups while waiting for a commit. CometBFT's block
/// interval is a second by default, so this answers within a quarter of one.
const COMMIT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What a transaction is signed with: the chain and the signer's position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub chain: ChainId,
    pub signer: AccountId,
    pub nonce: u64,
    pub balance: u64,
}

/// A committed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    /// CometBFT's hash (SHA-256 of the bytes, upper-case hex): what
    /// `/tx?hash=0x…` finds.
    pub hash: String,
    pub height: u64,
    pub code: u32,
    pub log: String,
}

impl TxOutcome {
    /// The outcome, or [`ClientError::Failed`] when execution failed.
    pub fn into_result(self) -> Result<TxOutcome, ClientError> {
        if self.code == 0 {
            return Ok(self);
        }
        Err(ClientError::Failed { hash: self.hash, height: self.height, code: self.code, log: self.log })
    }
}

/// Reads the chain id and the signer's account. `nonce` overrides the
/// committed nonce (to send after transactions still in the mempool).
/// An account that is not in state cannot pay a fee: refused here.
pub fn prepare(rpc: &CometRpc, signer: &AccountId, nonce: Option<u64>) -> Result<Prepared, ClientError> {
    let status = rpc.status()?;
    let chain = ChainId::new(&status.chain_id).map_err(|reason| ClientError::BadResponse {
        url: rpc.url().to_string(),
        method: "status".into(),
        reason: format!("chain id: {reason}"),
    })?;
    let account = rpc.account(signer)?;
    if !account.exists {
        return Err(ClientError::UnknownAccount { id: *signer, height: account.height });
    }
    Ok(Prepared { chain, signer: *signer, nonce: nonce.unwrap_or(account.nonce), balance: account.balance })
}

/// Signs what `builder` holds as `key` for `chain`; a transaction past
/// the wire limits (too many accounts, too much data) is refused by name.
pub fn sign(builder: TransactionBuilder, key: &KeyFile, chain: &ChainId) -> Result<Transaction, ClientError> {
    builder.sign(&key.key, chain).map_err(|e| ClientError::invalid("transaction", e.to_string()))
}

/// Submits `tx` and waits up to `wait` for its commit, as the node's
/// recent results (Query `/tx/<hash>`) report it. CheckTx's refusal
/// is [`ClientError::Rejected`]; a commit whose execution failed comes back
/// as an outcome with a non-zero code (see [`TxOutcome::into_result`]).
pub fn submit(rpc: &CometRpc, tx: &Transaction, wait: Duration) -> Result<TxOutcome, ClientError> {
    submit_via(rpc, None, tx, wait)
}

/// [`submit`], through `ingest` (the node's ingest endpoint, which answers
/// CometBFT's `broadcast_tx_sync`) when given, else through `rpc`. The
/// commit is confirmed through `rpc` either way.
pub fn submit_via(
    rpc: &CometRpc,
    ingest: Option<&CometRpc>,
    tx: &Transaction,
    wait: Duration,
) -> Result<TxOutcome, ClientError> {
    let bytes = tx.encode();
    let hash_bytes = comet_tx_hash(&bytes);
    let hash = hex::encode_upper(hash_bytes);
    let broadcast = match ingest.unwrap_or(rpc).broadcast_tx_sync(&bytes) {
        // CometBFT under `mempool.type = "nop"` takes no transactions: the
        // chain's nodes take them on their ingest endpoints.
        Err(ClientError::Rpc { message, .. }) if message.contains("nop") => {
            return Err(ClientError::invalid(
                "--ingest",
                format!(
                    "{}: CometBFT's mempool is off ({message}); send to a node's ingest endpoint with --ingest URL",
                    rpc.url()
                ),
            ))
        }
        other => other?,
    };
    debug_assert!(broadcast.hash.eq_ignore_ascii_case(&hash), "CometBFT hashes a tx with SHA-256");
    if broadcast.code != 0 {
        return Err(ClientError::Rejected { hash, code: broadcast.code, log: broadcast.log });
    }
    let wait = wait.min(COMMIT_WAIT_MAX);
    let deadline = Instant::now() + wait;
    loop {
        if let Some(committed) = rpc.committed_tx(&hash_bytes)? {
            return Ok(TxOutcome { hash, height: committed.height, code: committed.code, log: committed.log });
        }
        if Instant::now() >= deadline {
            return Err(ClientError::NotCommitted { hash, after: wait });
        }
        std::thread::sleep(COMMIT_POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// A system transfer of `amount` from the signer to `to`.
pub fn transfer(prepared: &Prepared, fee: u64, to: AccountId, amount: u64) -> Result<TransactionBuilder, ClientError> {
    // The signer pays amount plus fee: a sum past u64::MAX could never be paid.
    amount
        .checked_add(fee)
        .ok_or_else(|| ClientError::invalid("--amount", format!("{amount} plus the fee {fee} exceeds {}", u64::MAX)))?;
    let from = prepared.signer;
    Ok(TransactionBuilder::new(from, prepared.nonce, fee).instruction(
        ProgramId::SYSTEM,
        &[(from, true), (to, true)],
        system::transfer_data(amount),
    ))
}

/// Creates a token-owned account at `derive_address(signer, seed)` (a
/// system `CreateAccount` with no lamports); returns the builder and the
/// new account's id. The token instruction that initialises it follows.
fn create_token_owned(prepared: &Prepared, fee: u64, seed: u64) -> (TransactionBuilder, AccountId) {
    let signer = prepared.signer;
    let address = derive_address(&signer, seed);
    let builder = TransactionBuilder::new(signer, prepared.nonce, fee).instruction(
        ProgramId::SYSTEM,
        &[(signer, true), (address, true)],
        system::create_account_data(seed, 0, ProgramId::TOKEN),
    );
    (builder, address)
}

/// A new mint with the signer as its authority; returns the mint's id.
pub fn token_create_mint(prepared: &Prepared, fee: u64, seed: u64, decimals: u8) -> (TransactionBuilder, AccountId) {
    let (builder, mint) = create_token_owned(prepared, fee, seed);
    (builder.instruction(ProgramId::TOKEN, &[(mint, true)], token::init_mint_data(decimals)), mint)
}

/// A new token account of `mint`, owned by the signer; returns its id.
pub fn token_create_account(
    prepared: &Prepared,
    fee: u64,
    seed: u64,
    mint: AccountId,
) -> (TransactionBuilder, AccountId) {
    let (builder, account) = create_token_owned(prepared, fee, seed);
    let builder = builder.instruction(ProgramId::TOKEN, &[(account, true), (mint, false)], token::init_account_data());
    (builder, account)
}

/// Mints `amount` of `mint` into token account `to`; the signer must be
/// the mint's authority.
pub fn token_mint_to(prepared: &Prepared, fee: u64, mint: AccountId, to: AccountId, amount: u64) -> TransactionBuilder {
    TransactionBuilder::new(prepared.signer, prepared.nonce, fee).instruction(
        ProgramId::TOKEN,
        &[(mint, true), (to, true)],
        token::mint_to_data(amount),
    )
}

/// Moves `amount` from token account `from` (owned by the signer) to `to`.
pub fn token_transfer(
    prepared: &Prepared,
    fee: u64,
    from: AccountId,
    to: AccountId,
    amount: u64,
) -> TransactionBuilder {
    TransactionBuilder::new(prepared.signer, prepared.nonce, fee).instruction(
        ProgramId::TOKEN,
        &[(from, true), (to, true)],
        token::transfer_data(amount),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{execute_block_serial, TxStatus};
    use crate::program::ProgramRegistry;
    use crate::state::State;

    /// The token builders make transactions the native programs run: a
    /// mint, two accounts, a mint-to and a transfer, all succeed.
    #[test]
    fn token_builders_run_on_the_native_programs() {
        let key = KeyFile::generate();
        let chain = ChainId::default();
        let mut state =
            State::from_accounts([(key.id, crate::account::Account { balance: 1000, ..Default::default() })]);
        let programs = ProgramRegistry::native();
        let mut nonce = 0;
        let mut run = |build: &dyn Fn(&Prepared) -> TransactionBuilder, state: &mut State| {
            let prepared = Prepared { chain: chain.clone(), signer: key.id, nonce, balance: 0 };
            let tx = build(&prepared).sign(&key.key, &chain).unwrap();
            let outcome = execute_block_serial(state, &[tx], &programs);
            assert_eq!(outcome.receipts[0].status, TxStatus::Ok);
            state.apply(&outcome.delta);
            nonce += 1;
        };
        let mint = derive_address(&key.id, 0);
        run(&|p| token_create_mint(p, 1, 0, 6).0, &mut state);
        let (a, b) = (derive_address(&key.id, 1), derive_address(&key.id, 2));
        run(&|p| token_create_account(p, 1, 1, mint).0, &mut state);
        run(&|p| token_create_account(p, 1, 2, mint).0, &mut state);
        run(&|p| token_mint_to(p, 1, mint, a, 50), &mut state);
        run(&|p| token_transfer(p, 1, a, b, 20), &mut state);
        let amount = |id| token::TokenAccount::decode(state.get(&id).unwrap()).unwrap().amount;
        assert_eq!((amount(a), amount(b)), (30, 20));
        assert_eq!(state.get(&key.id).unwrap().balance, 1000 - 5);
    }

    #[test]
    fn an_amount_that_overflows_with_the_fee_is_refused() {
        let prepared = Prepared { chain: ChainId::default(), signer: AccountId([1; 32]), nonce: 0, balance: 0 };
        let error = transfer(&prepared, 10, AccountId([2; 32]), u64::MAX).err().unwrap();
        assert_eq!(error.name(), "invalid_input");
    }
}
