//! Transaction semantics, checked through the serial reference executor:
//! fees and nonces, rollback, declared access, ownership, native programs,
//! and supply conservation.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use sluice_engine::account::{derive_address, Account, AccountId, ProgramId};
use sluice_engine::exec::{execute_block_serial, ExecError, Receipt, TxStatus};
use sluice_engine::program::{system, token, InvokeContext, Program, ProgramRegistry};
use sluice_engine::state::{Genesis, State, GENESIS_BALANCE};
use sluice_engine::tx::{ChainId, Transaction, TransactionBuilder};

const FEE: u64 = 10;

/// One instruction by account ids: program, (id, writable) list, data.
type Ix = (ProgramId, Vec<(AccountId, bool)>, Vec<u8>);

struct Fixture {
    genesis: Genesis,
    state: State,
    programs: ProgramRegistry,
}

impl Fixture {
    fn new(accounts: u32) -> Fixture {
        let genesis = Genesis::new(42, accounts).unwrap();
        let state = genesis.state();
        Fixture { genesis, state, programs: ProgramRegistry::native() }
    }

    fn id(&self, i: usize) -> AccountId {
        self.genesis.id(i)
    }

    fn key(&self, i: usize) -> &SigningKey {
        &self.genesis.keys[i]
    }

    fn transfer(&self, from: usize, to: usize, nonce: u64, amount: u64) -> Transaction {
        TransactionBuilder::new(self.id(from), nonce, FEE)
            .instruction(
                ProgramId::SYSTEM,
                &[(self.id(from), true), (self.id(to), true)],
                system::transfer_data(amount),
            )
            .sign(self.key(from), &ChainId::default())
            .unwrap()
    }

    /// Executes one block and commits its delta.
    fn run(&mut self, txs: &[Transaction]) -> Vec<Receipt> {
        let outcome = execute_block_serial(&self.state, txs, &self.programs);
        self.state.apply(&outcome.delta);
        outcome.receipts
    }

    fn balance(&self, id: &AccountId) -> u64 {
        self.state.load(id).balance
    }
}

fn failed(error: ExecError, instruction: u8) -> Receipt {
    Receipt { status: TxStatus::Failed { error, instruction }, fee_charged: FEE }
}

#[test]
fn transfer_moves_balance_and_charges_fee() {
    let mut f = Fixture::new(2);
    let receipts = f.run(&[f.transfer(0, 1, 0, 500)]);
    assert_eq!(receipts, vec![Receipt { status: TxStatus::Ok, fee_charged: FEE }]);
    assert_eq!(f.balance(&f.id(0)), GENESIS_BALANCE - 500 - FEE);
    assert_eq!(f.balance(&f.id(1)), GENESIS_BALANCE + 500);
    assert_eq!(f.state.load(&f.id(0)).nonce, 1);
    assert_eq!(f.state.root(), f.state.root_from_scratch());
}

#[test]
fn replayed_nonce_is_rejected_without_charge() {
    let mut f = Fixture::new(2);
    let tx = f.transfer(0, 1, 0, 5);
    let receipts = f.run(&[tx.clone(), tx.clone()]);
    assert!(receipts[0].is_ok());
    assert_eq!(receipts[1], Receipt { status: TxStatus::Rejected { error: ExecError::BadNonce }, fee_charged: 0 });
    // Replayed in a later block, too.
    let root = f.state.root();
    let receipts = f.run(&[tx]);
    assert_eq!(receipts[0].status, TxStatus::Rejected { error: ExecError::BadNonce });
    assert_eq!(f.state.root(), root, "a rejected transaction changes nothing");
}

#[test]
fn failing_transaction_pays_fee_and_bumps_nonce_only() {
    let mut f = Fixture::new(2);
    // First instruction succeeds, second overdraws: both must roll back.
    let tx = TransactionBuilder::new(f.id(0), 0, FEE)
        .instruction(ProgramId::SYSTEM, &[(f.id(0), true), (f.id(1), true)], system::transfer_data(100))
        .instruction(ProgramId::SYSTEM, &[(f.id(0), true), (f.id(1), true)], system::transfer_data(GENESIS_BALANCE))
        .sign(f.key(0), &ChainId::default())
        .unwrap();
    let receipts = f.run(&[tx]);
    assert_eq!(receipts, vec![failed(ExecError::InsufficientFunds, 1)]);
    let payer = f.state.load(&f.id(0));
    assert_eq!((payer.balance, payer.nonce), (GENESIS_BALANCE - FEE, 1));
    assert_eq!(f.balance(&f.id(1)), GENESIS_BALANCE, "receiver unchanged");
}

#[test]
fn fee_payer_who_cannot_pay_is_rejected() {
    let mut f = Fixture::new(2);
    let tx = TransactionBuilder::new(f.id(0), 0, GENESIS_BALANCE + 1).sign(f.key(0), &ChainId::default()).unwrap();
    let root = f.state.root();
    let receipts = f.run(&[tx]);
    assert_eq!(receipts[0].status, TxStatus::Rejected { error: ExecError::InsufficientFeeBalance });
    assert_eq!(f.state.root(), root);
}

#[test]
fn writing_a_read_only_account_fails_with_named_error() {
    let mut f = Fixture::new(2);
    let tx = TransactionBuilder::new(f.id(0), 0, FEE)
        .instruction(ProgramId::SYSTEM, &[(f.id(0), true), (f.id(1), false)], system::transfer_data(1))
        .sign(f.key(0), &ChainId::default())
        .unwrap();
    assert_eq!(f.run(&[tx]), vec![failed(ExecError::ReadOnlyAccount, 0)]);
    assert_eq!(f.balance(&f.id(1)), GENESIS_BALANCE);
}

#[test]
fn transfer_from_someone_else_is_unauthorized() {
    let mut f = Fixture::new(2);
    let tx = TransactionBuilder::new(f.id(0), 0, FEE)
        .instruction(ProgramId::SYSTEM, &[(f.id(1), true), (f.id(0), true)], system::transfer_data(1))
        .sign(f.key(0), &ChainId::default())
        .unwrap();
    assert_eq!(f.run(&[tx]), vec![failed(ExecError::Unauthorized, 0)]);
}

#[test]
fn unknown_program_and_bad_data_are_named() {
    let mut f = Fixture::new(2);
    let unknown = TransactionBuilder::new(f.id(0), 0, FEE)
        .instruction(ProgramId(999), &[], vec![])
        .sign(f.key(0), &ChainId::default())
        .unwrap();
    let trailing = TransactionBuilder::new(f.id(0), 1, FEE)
        .instruction(ProgramId::SYSTEM, &[(f.id(0), true), (f.id(1), true)], {
            let mut d = system::transfer_data(1);
            d.push(0);
            d
        })
        .sign(f.key(0), &ChainId::default())
        .unwrap();
    let receipts = f.run(&[unknown, trailing]);
    assert_eq!(receipts, vec![failed(ExecError::UnknownProgram, 0), failed(ExecError::InvalidInstructionData, 0)]);
}

/// A chain-registered program that misbehaves in a chosen way.
struct Rogue {
    behaviour: u8,
    target: AccountId,
}

impl Program for Rogue {
    fn id(&self) -> ProgramId {
        ProgramId(300)
    }

    fn name(&self) -> &'static str {
        "rogue"
    }

    fn execute(&self, ctx: &mut InvokeContext<'_>, _: &[u8]) -> Result<(), ExecError> {
        match self.behaviour {
            // Reads an account the transaction never declared.
            0 => ctx.read(&self.target).map(|_| ()),
            // Mints native balance out of nothing.
            1 => {
                ctx.write(&ctx.signer())?.balance += 1;
                Ok(())
            }
            // Writes data into an account owned by the system program.
            2 => {
                ctx.write(&ctx.signer())?.data = vec![1];
                Ok(())
            }
            // Debits someone else's account and credits its own signer.
            3 => {
                let victim = ctx.instruction_account(0)?;
                ctx.write(&victim)?.balance -= 5;
                ctx.write(&ctx.signer())?.balance += 5;
                Ok(())
            }
            _ => Err(ExecError::Custom(7)),
        }
    }
}

#[test]
fn runtime_fences_registered_programs() {
    let cases = [
        (0, ExecError::UndeclaredAccount),
        (1, ExecError::BalanceNotConserved),
        (2, ExecError::ExternalAccountModified),
        (3, ExecError::ExternalAccountModified),
        (4, ExecError::Custom(7)),
    ];
    for (behaviour, expected) in cases {
        let mut f = Fixture::new(3);
        f.programs.register(Arc::new(Rogue { behaviour, target: f.id(2) })).unwrap();
        let tx = TransactionBuilder::new(f.id(0), 0, FEE)
            .instruction(ProgramId(300), &[(f.id(1), true)], vec![])
            .sign(f.key(0), &ChainId::default())
            .unwrap();
        let before: Vec<Account> = (0..3).map(|i| f.state.load(&f.id(i))).collect();
        assert_eq!(f.run(&[tx]), vec![failed(expected, 0)], "behaviour {behaviour}");
        assert_eq!(f.balance(&f.id(0)), before[0].balance - FEE);
        assert_eq!(f.state.load(&f.id(1)), before[1]);
        assert_eq!(f.state.load(&f.id(2)), before[2]);
    }
}

#[test]
fn token_lifecycle() {
    let mut f = Fixture::new(3);
    let chain = ChainId::default();
    let (alice, bob) = (f.id(0), f.id(1));
    let mint = derive_address(&alice, 1);
    let alice_tokens = derive_address(&alice, 2);
    let bob_tokens = derive_address(&bob, 1);
    let create = |funder: AccountId, seed: u64, new: AccountId| {
        (ProgramId::SYSTEM, vec![(funder, true), (new, true)], system::create_account_data(seed, 0, ProgramId::TOKEN))
    };
    let build = |signer: usize, nonce: u64, ixs: Vec<Ix>| {
        let mut b = TransactionBuilder::new(f.id(signer), nonce, FEE);
        for (program, accounts, data) in ixs {
            b = b.instruction(program, &accounts, data);
        }
        b.sign(f.key(signer), &chain).unwrap()
    };
    let setup_alice = build(
        0,
        0,
        vec![
            create(alice, 1, mint),
            (ProgramId::TOKEN, vec![(mint, true)], token::init_mint_data(6)),
            create(alice, 2, alice_tokens),
            (ProgramId::TOKEN, vec![(alice_tokens, true), (mint, false)], token::init_account_data()),
            (ProgramId::TOKEN, vec![(mint, true), (alice_tokens, true)], token::mint_to_data(1_000)),
        ],
    );
    let setup_bob = build(
        1,
        0,
        vec![
            create(bob, 1, bob_tokens),
            (ProgramId::TOKEN, vec![(bob_tokens, true), (mint, false)], token::init_account_data()),
        ],
    );
    let pay = build(
        0,
        1,
        vec![(ProgramId::TOKEN, vec![(alice_tokens, true), (bob_tokens, true)], token::transfer_data(300))],
    );
    let overdraw = build(
        0,
        2,
        vec![(ProgramId::TOKEN, vec![(alice_tokens, true), (bob_tokens, true)], token::transfer_data(701))],
    );
    let theft =
        build(0, 3, vec![(ProgramId::TOKEN, vec![(bob_tokens, true), (alice_tokens, true)], token::transfer_data(1))]);
    let mint_by_bob =
        build(1, 1, vec![(ProgramId::TOKEN, vec![(mint, true), (bob_tokens, true)], token::mint_to_data(1))]);
    let overflow =
        build(0, 4, vec![(ProgramId::TOKEN, vec![(mint, true), (alice_tokens, true)], token::mint_to_data(u64::MAX))]);
    let reinit = build(0, 5, vec![(ProgramId::TOKEN, vec![(mint, true)], token::init_mint_data(6))]);

    let receipts = f.run(&[setup_alice, setup_bob, pay, overdraw, theft, mint_by_bob, overflow, reinit]);
    let statuses: Vec<TxStatus> = receipts.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            TxStatus::Ok,
            TxStatus::Ok,
            TxStatus::Ok,
            TxStatus::Failed { error: ExecError::InsufficientFunds, instruction: 0 },
            TxStatus::Failed { error: ExecError::Unauthorized, instruction: 0 },
            TxStatus::Failed { error: ExecError::Unauthorized, instruction: 0 },
            TxStatus::Failed { error: ExecError::ArithmeticOverflow, instruction: 0 },
            TxStatus::Failed { error: ExecError::AccountAlreadyInitialized, instruction: 0 },
        ]
    );
    let amount = |id: &AccountId| token::TokenAccount::decode(&f.state.load(id)).unwrap().amount;
    assert_eq!(amount(&alice_tokens), 700);
    assert_eq!(amount(&bob_tokens), 300);
    assert_eq!(token::Mint::decode(&f.state.load(&mint)).unwrap().supply, 1_000);
}

#[test]
fn create_account_refuses_foreign_and_existing_addresses() {
    let mut f = Fixture::new(2);
    let squat = TransactionBuilder::new(f.id(0), 0, FEE)
        .instruction(
            ProgramId::SYSTEM,
            &[(f.id(0), true), (f.id(1), true)],
            system::create_account_data(0, 0, ProgramId::TOKEN),
        )
        .sign(f.key(0), &ChainId::default())
        .unwrap();
    let new = derive_address(&f.id(0), 9);
    let create = |nonce| {
        TransactionBuilder::new(f.id(0), nonce, FEE)
            .instruction(
                ProgramId::SYSTEM,
                &[(f.id(0), true), (new, true)],
                system::create_account_data(9, 50, ProgramId::SYSTEM),
            )
            .sign(f.key(0), &ChainId::default())
            .unwrap()
    };
    let receipts = f.run(&[squat, create(1), create(2)]);
    assert_eq!(receipts[0], failed(ExecError::AddressMismatch, 0));
    assert!(receipts[1].is_ok());
    assert_eq!(receipts[2], failed(ExecError::AccountAlreadyExists, 0));
    assert_eq!(f.balance(&new), 50);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random transfer blocks, overdrafts and bad nonces included: every
    /// unit of native balance is either still in an account or was burned
    /// as a fee.
    #[test]
    fn supply_is_conserved(ops in prop::collection::vec((0usize..6, 0usize..6, 0u64..GENESIS_BALANCE * 2, any::<bool>()), 1..60)) {
        let mut f = Fixture::new(6);
        let supply = f.state.total_balance();
        let mut nonces = [0u64; 6];
        let mut txs = Vec::new();
        for (from, to, amount, stale_nonce) in ops {
            let nonce = if stale_nonce && nonces[from] > 0 { nonces[from] - 1 } else { nonces[from] };
            if nonce == nonces[from] {
                nonces[from] += 1;
            }
            txs.push(f.transfer(from, to, nonce, amount));
        }
        let receipts = f.run(&txs);
        let fees: u128 = receipts.iter().map(|r| r.fee_charged as u128).sum();
        prop_assert_eq!(f.state.total_balance() + fees, supply);
        prop_assert_eq!(f.state.root(), f.state.root_from_scratch());
    }
}
