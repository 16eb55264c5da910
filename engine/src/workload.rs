//! Seeded workloads of real, signed transfers.
//!
//! A workload is a genesis (funded accounts with keys derived from the
//! seed) and a list of encoded, signed system transfers between those
//! accounts. The same [`WorkloadSpec`] gives the same bytes on every
//! machine: the RNG is ChaCha8 (a fixed, portable stream), integer ranges
//! are drawn as u32 (never usize, whose width varies), and the Zipf
//! sampler below uses only IEEE-exact arithmetic (division and addition;
//! no `powf` or `ln`, which libm may round differently across platforms).
//!
//! | workload | who transfers to whom | conflicts |
//! |---|---|---|
//! | `uniform` | two distinct accounts drawn uniformly | few, with many accounts |
//! | `hot` | account 0 and one other, either direction | every transaction writes account 0 |
//! | `zipf` | both ends drawn with P(rank k) ∝ 1/k | skewed toward low ranks |
//! | `groups:K` | both ends from one of K equal groups | K disjoint chains |
//!
//! It lives in the engine, not the bench crate, because `sluice run`
//! generates workloads and dependencies only point engine ← bench.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::account::{AccountId, ProgramId};
use crate::program::system;
use crate::state::{Genesis, GenesisKeys, State};
use crate::tx::{sign, AccountMeta, ChainId, Instruction, Transaction};

/// Generated transactions are at most this many (about 200 bytes each in
/// memory, so 2 GB at the limit).
pub const WORKLOAD_TXS_MAX: u64 = 10_000_000;
/// Fee every generated transaction pays.
pub const WORKLOAD_FEE: u64 = 10;
/// Transfers move 1..=this many units.
pub const WORKLOAD_AMOUNT_MAX: u32 = 1000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WorkloadKind {
    Uniform,
    Hot,
    Zipf,
    Groups(u32),
}

impl WorkloadKind {
    /// Accounts when `--accounts` is not given: 100k, except `hot`, whose
    /// point is two accounts that every transaction shares.
    pub fn default_accounts(self) -> u32 {
        match self {
            WorkloadKind::Hot => 2,
            _ => 100_000,
        }
    }
}

impl FromStr for WorkloadKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "uniform" => Ok(WorkloadKind::Uniform),
            "hot" => Ok(WorkloadKind::Hot),
            "zipf" => Ok(WorkloadKind::Zipf),
            _ => {
                let k = s
                    .strip_prefix("groups:")
                    .ok_or_else(|| format!("unknown workload {s:?}: expected uniform, hot, zipf or groups:K"))?;
                match k.parse::<u32>() {
                    Ok(k) if k >= 1 => Ok(WorkloadKind::Groups(k)),
                    _ => Err(format!("workload {s:?}: K in groups:K must be an integer ≥ 1")),
                }
            }
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadKind::Uniform => f.write_str("uniform"),
            WorkloadKind::Hot => f.write_str("hot"),
            WorkloadKind::Zipf => f.write_str("zipf"),
            WorkloadKind::Groups(k) => write!(f, "groups:{k}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    pub kind: WorkloadKind,
    pub accounts: u32,
    pub txs: u64,
    pub seed: u64,
    pub chain: ChainId,
}

impl WorkloadSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.txs > WORKLOAD_TXS_MAX {
            return Err(format!("--txs {} exceeds WORKLOAD_TXS_MAX {WORKLOAD_TXS_MAX}", self.txs));
        }
        let groups = match self.kind {
            WorkloadKind::Groups(k) => k,
            _ => 1,
        };
        let needed = groups.saturating_mul(2);
        if self.accounts < needed {
            return Err(format!(
                "--accounts {} is too few for workload {}: need at least {needed}",
                self.accounts, self.kind
            ));
        }
        Ok(())
    }
}

pub struct Workload {
    pub genesis: Genesis,
    /// Encoded, signed transactions in generation order.
    pub txs: Vec<Vec<u8>>,
}

pub fn generate(spec: &WorkloadSpec) -> Result<Workload, String> {
    spec.validate()?;
    let genesis = Genesis::new(spec.seed, spec.accounts)?;
    let nonces = vec![0u64; spec.accounts as usize];
    Ok(generate_with(spec, genesis, spec.seed, nonces))
}

/// The workload for a run that continues a chain after block `start_height`
/// with `state`: each signer starts at its nonce in `state`, and the pairs
/// are drawn from the seed mixed with `start_height`, so a resumed run sends
/// new transactions rather than replays of the earlier run's. At
/// `start_height` 0, on the genesis state, this gives exactly the
/// transactions of [`generate`].
///
/// Only the keys of the accounts the transactions touch are derived (and
/// kept in `keys`): a short run after a restart from a snapshot should not
/// pay one scalar multiplication per genesis account. `keys` must be those
/// of `spec`'s seed and account count.
pub fn generate_resumed(
    spec: &WorkloadSpec,
    keys: &GenesisKeys,
    state: &State,
    start_height: u64,
) -> Result<Vec<Vec<u8>>, String> {
    spec.validate()?;
    if keys.seed() != spec.seed || keys.len() as u64 != u64::from(spec.accounts) {
        return Err(format!(
            "the genesis keys given are those of seed {} and {} accounts, not of seed {} and {} accounts",
            keys.seed(),
            keys.len(),
            spec.seed,
            spec.accounts
        ));
    }
    // Draw every pair first (the RNG is sequential), then derive the keys
    // they touch in parallel, then build and sign: the same draws, nonces
    // and signatures as `generate_with`, whose keys are all derived.
    let mut picker = PairPicker::new(spec, resumed_seed(spec.seed, start_height));
    let picks: Vec<(u32, u32, u64)> = (0..spec.txs).map(|_| picker.next()).collect();
    let mut touched = vec![false; keys.len()];
    for &(from, to, _) in &picks {
        touched[from as usize] = true;
        touched[to as usize] = true;
    }
    let touched: Vec<u32> = (0..keys.len() as u32).filter(|&index| touched[index as usize]).collect();
    keys.derive(&touched);
    let mut nonces: Vec<Option<u64>> = vec![None; keys.len()];
    let unsigned: Vec<(u32, Transaction)> = picks
        .into_iter()
        .map(|(from, to, amount)| {
            let nonce = nonces[from as usize]
                .get_or_insert_with(|| state.get(&keys.id(from)).map_or(0, |account| account.nonce));
            let tx = transfer(keys.id(from), keys.id(to), *nonce, amount);
            *nonce += 1;
            (from, tx)
        })
        .collect();
    Ok(unsigned
        .into_par_iter()
        .map(|(from, mut tx)| {
            sign(&mut tx, keys.key(from), &spec.chain);
            tx.encode()
        })
        .collect())
}

/// Mixes the start height into the seed (splitmix64's finaliser), keeping
/// height 0 at the seed itself so a fresh run equals `generate`.
fn resumed_seed(seed: u64, start_height: u64) -> u64 {
    if start_height == 0 {
        return seed;
    }
    let mut z = seed ^ start_height.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn generate_with(spec: &WorkloadSpec, genesis: Genesis, picker_seed: u64, mut nonces: Vec<u64>) -> Workload {
    assert_eq!(nonces.len(), genesis.keys.len());
    let mut picker = PairPicker::new(spec, picker_seed);
    let mut unsigned = Vec::with_capacity(spec.txs as usize);
    for _ in 0..spec.txs {
        let (from, to, amount) = picker.next();
        let nonce = nonces[from as usize];
        nonces[from as usize] += 1;
        unsigned.push((from, transfer(genesis.id(from as usize), genesis.id(to as usize), nonce, amount)));
    }
    // Signing is deterministic, so doing it in parallel keeps the bytes
    // identical to a serial run.
    let txs = unsigned
        .into_par_iter()
        .map(|(from, mut tx)| {
            sign(&mut tx, &genesis.keys[from as usize], &spec.chain);
            tx.encode()
        })
        .collect();
    Workload { genesis, txs }
}

/// An unsigned system transfer of `amount` from `from` (the signer) to `to`.
pub fn transfer(from: AccountId, to: AccountId, nonce: u64, amount: u64) -> Transaction {
    Transaction {
        signature: [0; 64],
        nonce,
        fee: WORKLOAD_FEE,
        accounts: vec![AccountMeta { id: from, writable: true }, AccountMeta { id: to, writable: true }],
        instructions: vec![Instruction {
            program: ProgramId::SYSTEM,
            accounts: vec![0, 1],
            data: system::transfer_data(amount),
        }],
    }
}

/// Draws (from, to, amount) triples for a workload kind.
struct PairPicker {
    kind: WorkloadKind,
    accounts: u32,
    rng: ChaCha8Rng,
    zipf: Option<ZipfTable>,
}

impl PairPicker {
    fn new(spec: &WorkloadSpec, seed: u64) -> PairPicker {
        let zipf = (spec.kind == WorkloadKind::Zipf).then(|| ZipfTable::new(spec.accounts));
        PairPicker { kind: spec.kind, accounts: spec.accounts, rng: ChaCha8Rng::seed_from_u64(seed), zipf }
    }

    fn next(&mut self) -> (u32, u32, u64) {
        let (from, to) = match self.kind {
            WorkloadKind::Uniform => self.distinct_in(0, self.accounts),
            WorkloadKind::Hot => {
                let other = self.rng.gen_range(1..self.accounts);
                if self.rng.gen::<bool>() {
                    (0, other)
                } else {
                    (other, 0)
                }
            }
            WorkloadKind::Zipf => self.zipf_pair(),
            WorkloadKind::Groups(k) => {
                let size = self.accounts / k;
                let group = self.rng.gen_range(0..k);
                self.distinct_in(group * size, size)
            }
        };
        let amount = self.rng.gen_range(1..=WORKLOAD_AMOUNT_MAX) as u64;
        (from, to, amount)
    }

    /// Two distinct accounts from `start..start + len` (len ≥ 2).
    fn distinct_in(&mut self, start: u32, len: u32) -> (u32, u32) {
        let a = self.rng.gen_range(0..len);
        let b = (a + self.rng.gen_range(1..len)) % len;
        (start + a, start + b)
    }

    fn zipf_pair(&mut self) -> (u32, u32) {
        let table = self.zipf.as_ref().expect("zipf table built for zipf workloads");
        let from = table.sample(self.rng.next_u64());
        loop {
            let to = table.sample(self.rng.next_u64());
            if to != from {
                return (from, to);
            }
        }
    }
}

/// Inverse-CDF sampler for Zipf with s = 1.0 over `n` ranks.
struct ZipfTable {
    cumulative: Vec<f64>,
}

impl ZipfTable {
    fn new(n: u32) -> ZipfTable {
        let mut total = 0.0f64;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect();
        ZipfTable { cumulative }
    }

    /// Maps 64 random bits to a rank index in 0..n.
    fn sample(&self, bits: u64) -> u32 {
        let unit = (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let target = unit * self.cumulative.last().expect("n ≥ 1");
        let index = self.cumulative.partition_point(|&c| c <= target);
        index.min(self.cumulative.len() - 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::tx::decode;

    fn spec(kind: WorkloadKind, accounts: u32, txs: u64, seed: u64) -> WorkloadSpec {
        WorkloadSpec { kind, accounts, txs, seed, chain: ChainId::default() }
    }

    #[test]
    fn parses_workload_names() {
        assert_eq!("uniform".parse(), Ok(WorkloadKind::Uniform));
        assert_eq!("groups:4".parse(), Ok(WorkloadKind::Groups(4)));
        assert!("groups:0".parse::<WorkloadKind>().is_err());
        assert!("groups:x".parse::<WorkloadKind>().is_err());
        assert!("zipfy".parse::<WorkloadKind>().is_err());
        assert_eq!(WorkloadKind::Groups(3).to_string(), "groups:3");
    }

    #[test]
    fn a_signed_transfer_is_165_bytes() {
        // docs/format.md quotes this size.
        let w = generate(&spec(WorkloadKind::Uniform, 2, 1, 1)).unwrap();
        assert_eq!(w.txs[0].len(), 165);
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = generate(&spec(WorkloadKind::Zipf, 50, 40, 3)).unwrap();
        let b = generate(&spec(WorkloadKind::Zipf, 50, 40, 3)).unwrap();
        let c = generate(&spec(WorkloadKind::Zipf, 50, 40, 4)).unwrap();
        assert_eq!(a.txs, b.txs);
        assert_ne!(a.txs, c.txs);
    }

    #[test]
    fn workloads_respect_their_shape() {
        let genesis_ids = |w: &Workload| (0..w.genesis.keys.len()).map(|i| w.genesis.id(i)).collect::<Vec<_>>();
        let hot = generate(&spec(WorkloadKind::Hot, 5, 50, 1)).unwrap();
        let ids = genesis_ids(&hot);
        for bytes in &hot.txs {
            let tx = decode(bytes).unwrap();
            assert!(tx.accounts.iter().any(|m| m.id == ids[0]), "every hot tx touches account 0");
            assert_ne!(tx.accounts[0].id, tx.accounts[1].id);
        }
        let groups = generate(&spec(WorkloadKind::Groups(4), 40, 200, 1)).unwrap();
        let ids = genesis_ids(&groups);
        for bytes in &groups.txs {
            let tx = decode(bytes).unwrap();
            let group = |id: &AccountId| ids.iter().position(|x| x == id).unwrap() / 10;
            assert_eq!(group(&tx.accounts[0].id), group(&tx.accounts[1].id));
        }
    }

    #[test]
    fn zipf_prefers_low_ranks() {
        let table = ZipfTable::new(1000);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut counts = [0u32; 2];
        for _ in 0..10_000 {
            match table.sample(rng.next_u64()) {
                0 => counts[0] += 1,
                999 => counts[1] += 1,
                _ => {}
            }
        }
        // P(rank 1) ≈ 1/H(1000) ≈ 13%; P(rank 1000) ≈ 0.013%.
        assert!(counts[0] > 1000 && counts[1] < 20, "{counts:?}");
        assert_eq!(table.sample(u64::MAX), 999);
        assert_eq!(table.sample(0), 0);
    }

    #[test]
    fn resumed_generation_derives_only_touched_keys_and_equals_the_eager_path() {
        for kind in [WorkloadKind::Uniform, WorkloadKind::Hot, WorkloadKind::Zipf, WorkloadKind::Groups(3)] {
            let spec = spec(kind, 30, 40, 6);
            let eager = generate(&spec).unwrap();
            let genesis_state = eager.genesis.state();
            let keys = GenesisKeys::new(spec.seed, spec.accounts).unwrap();
            let fresh = generate_resumed(&spec, &keys, &genesis_state, 0).unwrap();
            assert_eq!(fresh, eager.txs, "{kind}: at height 0 a resumed run is a fresh one");

            // Later: signer 3 has sent one transaction, and the draws move on.
            let mut state = genesis_state.clone();
            let sent_one = Account { balance: 5, nonce: 1, ..Account::default() };
            state.apply(&vec![(eager.genesis.id(3), sent_one)]);
            let nonces = (0..spec.accounts as usize).map(|i| u64::from(i == 3)).collect();
            let expected =
                generate_with(&spec, Genesis::new(spec.seed, spec.accounts).unwrap(), resumed_seed(6, 4), nonces);
            let keys = GenesisKeys::new(spec.seed, spec.accounts).unwrap();
            let resumed = generate_resumed(&spec, &keys, &state, 4).unwrap();
            assert_eq!(resumed, expected.txs, "{kind}");
        }
        let one = spec(WorkloadKind::Uniform, 1000, 1, 6);
        let keys = GenesisKeys::new(one.seed, one.accounts).unwrap();
        generate_resumed(&one, &keys, &State::default(), 9).unwrap();
        assert_eq!(keys.derived(), 2, "one transfer derives its two accounts' keys, not a thousand");
    }

    #[test]
    fn resumed_generation_refuses_another_genesis_keys() {
        let spec = spec(WorkloadKind::Uniform, 12, 3, 6);
        for keys in [GenesisKeys::new(7, 12).unwrap(), GenesisKeys::new(6, 11).unwrap()] {
            let error = generate_resumed(&spec, &keys, &State::default(), 1).expect_err("other keys are refused");
            assert!(error.contains("genesis keys"), "{error}");
        }
    }

    #[test]
    fn rejects_impossible_specs() {
        assert!(spec(WorkloadKind::Groups(10), 19, 1, 1).validate().is_err());
        assert!(spec(WorkloadKind::Uniform, 1, 1, 1).validate().is_err());
        assert!(spec(WorkloadKind::Uniform, 2, WORKLOAD_TXS_MAX + 1, 1).validate().is_err());
    }
}
