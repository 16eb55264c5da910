//! Invariant 1: the parallel executor's receipts, delta and state root equal
//! the serial reference's, bit for bit, at every thread count.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use sluice_engine::account::{Account, AccountId, ProgramId};
use sluice_engine::exec::parallel::{execute_block_parallel_with, SchedulePolicy};
use sluice_engine::exec::{execute_block_serial, BlockOutcome, ExecError};
use sluice_engine::program::{system, token, DataReader, InvokeContext, Program, ProgramRegistry};
use sluice_engine::state::State;
use sluice_engine::tx::{AccountMeta, Instruction, Transaction};
use sluice_engine::workload::{self, WorkloadKind, WorkloadSpec};

const THREAD_COUNTS: [usize; 4] = [1, 2, 4, 8];
const COUNTER: ProgramId = ProgramId(300);

/// A program whose result depends on read/write order: it adds the balance
/// of a (possibly read-only) account into a counter it owns, or reads an
/// account by id, which may be undeclared.
struct CounterProgram;

impl Program for CounterProgram {
    fn id(&self) -> ProgramId {
        COUNTER
    }

    fn name(&self) -> &'static str {
        "counter"
    }

    fn execute(&self, ctx: &mut InvokeContext<'_>, data: &[u8]) -> Result<(), ExecError> {
        let mut r = DataReader::new(data);
        match r.u8()? {
            0 => {
                r.finish()?;
                let counter = ctx.instruction_account(0)?;
                let source = ctx.instruction_account(1)?;
                let add = ctx.read(&source)?.balance;
                let account = ctx.write(&counter)?;
                let value = u64::from_le_bytes(account.data.as_slice().try_into().map_err(|_| ExecError::Custom(1))?);
                account.data = value.wrapping_mul(31).wrapping_add(add).to_le_bytes().to_vec();
                Ok(())
            }
            1 => {
                let id = AccountId(r.bytes()?);
                r.finish()?;
                ctx.read(&id).map(|_| ())
            }
            _ => Err(ExecError::InvalidInstructionData),
        }
    }
}

fn id(i: u8) -> AccountId {
    AccountId([i; 32])
}

/// Accounts 0..n: funded system accounts; 100..100+n: counters; 200: a
/// mint; 201..201+n: token accounts of that mint owned by account i.
fn genesis(n: u8) -> State {
    let mut accounts = vec![];
    for i in 0..n {
        accounts.push((id(i), Account { balance: 1_000 + i as u64, ..Account::default() }));
        accounts
            .push((id(100 + i), Account { balance: 1, owner: COUNTER, data: 0u64.to_le_bytes().to_vec(), nonce: 0 }));
        let mut data = vec![2];
        data.extend_from_slice(&id(200).0);
        data.extend_from_slice(&id(i).0);
        data.extend_from_slice(&500u64.to_le_bytes());
        accounts.push((id(201 + i), Account { balance: 0, owner: ProgramId::TOKEN, data, nonce: 0 }));
    }
    State::from_accounts(accounts)
}

fn programs() -> ProgramRegistry {
    let mut registry = ProgramRegistry::native();
    registry.register(Arc::new(CounterProgram)).unwrap();
    registry
}

#[derive(Clone, Debug)]
enum Op {
    Transfer { to: u8, amount: u64, to_writable: bool },
    TokenTransfer { to: u8, amount: u64 },
    Count { counter: u8, source: u8, source_writable: bool },
    ReadById { target: u8, declared: bool },
    BadData,
}

fn arb_op(n: u8) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..n, 0u64..1_500, prop::bool::weighted(0.9)).prop_map(|(to, amount, to_writable)| Op::Transfer { to, amount, to_writable }),
        2 => (0..n, 0u64..700).prop_map(|(to, amount)| Op::TokenTransfer { to, amount }),
        3 => (0..n, 0..n, any::<bool>()).prop_map(|(counter, source, source_writable)| Op::Count { counter, source, source_writable }),
        1 => (0..n, any::<bool>()).prop_map(|(target, declared)| Op::ReadById { target, declared }),
        1 => Just(Op::BadData),
    ]
}

/// One transaction: signer, nonce offset (0 = correct), fee, instructions.
fn arb_tx(n: u8) -> impl Strategy<Value = (u8, bool, u64, Vec<Op>)> {
    (0..n, prop::bool::weighted(0.1), 0u64..20, prop::collection::vec(arb_op(n), 1..4))
}

fn build_block(specs: &[(u8, bool, u64, Vec<Op>)], n: u8) -> Vec<Transaction> {
    let mut nonces = vec![0u64; n as usize];
    specs
        .iter()
        .map(|(signer, stale, fee, ops)| {
            let expected = nonces[*signer as usize];
            let nonce = if *stale { expected.wrapping_add(7) } else { expected };
            if !*stale {
                nonces[*signer as usize] += 1;
            }
            let mut metas = vec![AccountMeta { id: id(*signer), writable: true }];
            let instructions = ops.iter().map(|op| instruction(*signer, op, &mut metas)).collect();
            Transaction { signature: [0; 64], nonce, fee: *fee, accounts: metas, instructions }
        })
        .collect()
}

fn declare(metas: &mut Vec<AccountMeta>, account: AccountId, writable: bool) -> u8 {
    if let Some(i) = metas.iter().position(|m| m.id == account) {
        metas[i].writable |= writable;
        return i as u8;
    }
    metas.push(AccountMeta { id: account, writable });
    (metas.len() - 1) as u8
}

fn instruction(signer: u8, op: &Op, metas: &mut Vec<AccountMeta>) -> Instruction {
    match *op {
        Op::Transfer { to, amount, to_writable } => {
            let accounts = vec![declare(metas, id(signer), true), declare(metas, id(to), to_writable)];
            Instruction { program: ProgramId::SYSTEM, accounts, data: system::transfer_data(amount) }
        }
        Op::TokenTransfer { to, amount } => {
            let accounts = vec![declare(metas, id(201 + signer), true), declare(metas, id(201 + to), true)];
            Instruction { program: ProgramId::TOKEN, accounts, data: token::transfer_data(amount) }
        }
        Op::Count { counter, source, source_writable } => {
            let accounts = vec![declare(metas, id(100 + counter), true), declare(metas, id(source), source_writable)];
            Instruction { program: COUNTER, accounts, data: vec![0] }
        }
        Op::ReadById { target, declared } => {
            if declared {
                declare(metas, id(target), false);
            }
            let mut data = vec![1];
            data.extend_from_slice(&id(target).0);
            Instruction { program: COUNTER, accounts: vec![], data }
        }
        Op::BadData => Instruction { program: ProgramId::SYSTEM, accounts: vec![0], data: vec![9] },
    }
}

fn pools() -> Vec<rayon::ThreadPool> {
    THREAD_COUNTS.iter().map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()).collect()
}

fn root_after(state: &State, outcome: &BlockOutcome) -> [u8; 32] {
    let mut next = state.clone();
    next.apply(&outcome.delta);
    next.root()
}

fn assert_parallel_equals_serial(
    state: &State,
    txs: &[Transaction],
    programs: &ProgramRegistry,
    pools: &[rayon::ThreadPool],
) {
    let serial = execute_block_serial(state, txs, programs);
    let serial_root = root_after(state, &serial);
    // The default policy runs most small blocks in order; `ALWAYS` puts
    // every block through the scheduler at every thread count above one.
    for policy in [SchedulePolicy::DEFAULT, SchedulePolicy::ALWAYS] {
        for (pool, threads) in pools.iter().zip(THREAD_COUNTS) {
            let parallel = pool.install(|| execute_block_parallel_with(state, txs, programs, policy));
            assert_eq!(parallel.receipts, serial.receipts, "receipts differ at {threads} threads, {policy:?}");
            assert_eq!(parallel.delta, serial.delta, "delta differs at {threads} threads, {policy:?}");
            assert_eq!(root_after(state, &parallel), serial_root, "root differs at {threads} threads, {policy:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Heavy conflicts: 3 accounts.
    #[test]
    fn parallel_equals_serial_heavy_conflicts(specs in prop::collection::vec(arb_tx(3), 1..120)) {
        let (state, programs, pools) = (genesis(3), programs(), pools());
        assert_parallel_equals_serial(&state, &build_block(&specs, 3), &programs, &pools);
    }

    /// Light conflicts: 40 accounts.
    #[test]
    fn parallel_equals_serial_light_conflicts(specs in prop::collection::vec(arb_tx(40), 1..200)) {
        let (state, programs, pools) = (genesis(40), programs(), pools());
        assert_parallel_equals_serial(&state, &build_block(&specs, 40), &programs, &pools);
    }
}

#[test]
fn generated_blocks_exercise_every_outcome() {
    // Guards the generator: if it stopped producing failures, the property
    // tests above would silently test less.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let specs = prop::collection::vec(arb_tx(3), 300).new_tree(&mut runner).unwrap().current();
    let txs = build_block(&specs, 3);
    let outcome = execute_block_serial(&genesis(3), &txs, &programs());
    let names: std::collections::BTreeSet<&str> = outcome
        .receipts
        .iter()
        .map(|r| match r.status {
            sluice_engine::exec::TxStatus::Ok => "ok",
            sluice_engine::exec::TxStatus::Failed { error, .. } | sluice_engine::exec::TxStatus::Rejected { error } => {
                error.name()
            }
        })
        .collect();
    for expected in
        ["ok", "bad_nonce", "insufficient_funds", "read_only_account", "undeclared_account", "invalid_instruction_data"]
    {
        assert!(names.contains(expected), "no {expected} among {names:?}");
    }
}

/// Several seeds of every named workload, several blocks each, with state
/// carried from block to block.
#[test]
fn multi_seed_stress_over_workloads() {
    let pools = pools();
    let programs = ProgramRegistry::native();
    for kind in [WorkloadKind::Uniform, WorkloadKind::Hot, WorkloadKind::Zipf, WorkloadKind::Groups(4)] {
        for seed in 1..=3 {
            let accounts = if kind == WorkloadKind::Hot { 2 } else { 300 };
            let spec = WorkloadSpec { kind, accounts, txs: 1_500, seed, chain: Default::default() };
            let generated = workload::generate(&spec).unwrap();
            let txs: Vec<Transaction> = generated.txs.iter().map(|b| sluice_engine::tx::decode(b).unwrap()).collect();
            let mut state = generated.genesis.state();
            for block in txs.chunks(500) {
                assert_parallel_equals_serial(&state, block, &programs, &pools);
                let outcome = execute_block_serial(&state, block, &programs);
                state.apply(&outcome.delta);
            }
        }
    }
}
