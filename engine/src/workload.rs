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
use std::sync::Arc;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::account::{AccountId, ProgramId};
pub use crate::limits::{WORKLOAD_AMOUNT_MAX, WORKLOAD_STREAM_TXS_MAX, WORKLOAD_TXS_MAX};
use crate::program::system;
use crate::state::{AccountMap, Genesis, GenesisKeys, GenesisKeysError, State};
use crate::tx::{sign, AccountMeta, ChainId, Instruction, Transaction};

/// Fee every generated transaction pays.
pub const WORKLOAD_FEE: u64 = 10;

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
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, WorkloadError> {
        match s {
            "uniform" => Ok(WorkloadKind::Uniform),
            "hot" => Ok(WorkloadKind::Hot),
            "zipf" => Ok(WorkloadKind::Zipf),
            _ => {
                let k = s.strip_prefix("groups:").ok_or_else(|| WorkloadError::UnknownKind { name: s.to_string() })?;
                match k.parse::<u32>() {
                    Ok(k) if k >= 1 => Ok(WorkloadKind::Groups(k)),
                    _ => Err(WorkloadError::InvalidGroups { name: s.to_string() }),
                }
            }
        }
    }
}

/// Why a workload cannot be named, checked or drawn. The fields named are
/// those of [`WorkloadSpec`], as the command line spells them (`--txs`,
/// `--accounts`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum WorkloadError {
    /// `name` is no workload kind.
    UnknownKind { name: String },
    /// `name` is `groups:K` with K not an integer ≥ 1.
    InvalidGroups { name: String },
    /// `txs` is over `WORKLOAD_TXS_MAX`, the limit of a materialised workload.
    TooManyTxs { txs: u64 },
    /// `txs` is over `WORKLOAD_STREAM_TXS_MAX`, the limit of a stream.
    TooManyStreamTxs { txs: u64 },
    /// `accounts` cannot carry `kind`, which needs at least `needed`.
    TooFewAccounts { accounts: u32, kind: WorkloadKind, needed: u32 },
    /// The genesis keys given are not those of the spec's seed and accounts.
    KeysMismatch { keys_seed: u64, keys_accounts: usize, seed: u64, accounts: u32 },
    /// The spec's genesis cannot be built.
    Genesis(GenesisKeysError),
}

impl From<GenesisKeysError> for WorkloadError {
    fn from(error: GenesisKeysError) -> WorkloadError {
        WorkloadError::Genesis(error)
    }
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkloadError::UnknownKind { name } => {
                write!(f, "unknown workload {name:?}: expected uniform, hot, zipf or groups:K")
            }
            WorkloadError::InvalidGroups { name } => {
                write!(f, "workload {name:?}: K in groups:K must be an integer ≥ 1")
            }
            WorkloadError::TooManyTxs { txs } => write!(f, "--txs {txs} exceeds WORKLOAD_TXS_MAX {WORKLOAD_TXS_MAX}"),
            WorkloadError::TooManyStreamTxs { txs } => {
                write!(f, "--txs {txs} exceeds WORKLOAD_STREAM_TXS_MAX {WORKLOAD_STREAM_TXS_MAX}")
            }
            WorkloadError::TooFewAccounts { accounts, kind, needed } => {
                write!(f, "--accounts {accounts} is too few for workload {kind}: need at least {needed}")
            }
            WorkloadError::KeysMismatch { keys_seed, keys_accounts, seed, accounts } => write!(
                f,
                "the genesis keys given are those of seed {keys_seed} and {keys_accounts} accounts, not of seed \
                 {seed} and {accounts} accounts"
            ),
            WorkloadError::Genesis(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for WorkloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkloadError::Genesis(error) => Some(error),
            _ => None,
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
    /// Checks a spec for a materialised workload.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if self.txs > WORKLOAD_TXS_MAX {
            return Err(WorkloadError::TooManyTxs { txs: self.txs });
        }
        self.validate_shape()
    }

    /// Checks that the accounts can carry the workload kind.
    pub fn validate_shape(&self) -> Result<(), WorkloadError> {
        let groups = match self.kind {
            WorkloadKind::Groups(k) => k,
            _ => 1,
        };
        let needed = groups.saturating_mul(2);
        if self.accounts < needed {
            return Err(WorkloadError::TooFewAccounts { accounts: self.accounts, kind: self.kind, needed });
        }
        Ok(())
    }
}

pub struct Workload {
    pub genesis: Genesis,
    /// Encoded, signed transactions in generation order.
    pub txs: Vec<Vec<u8>>,
}

/// Materialises the whole workload: every transaction in memory at once,
/// so the bench harness can cache it and keep signing out of its timings.
pub fn generate(spec: &WorkloadSpec) -> Result<Workload, WorkloadError> {
    spec.validate()?;
    let keys = Arc::new(GenesisKeys::new(spec.seed, spec.accounts)?);
    let txs =
        WorkloadStream::with_start_nonces(spec, Arc::clone(&keys), spec.seed, AccountMap::default()).collect_all();
    let keys = Arc::into_inner(keys).expect("the stream, the only other holder of the keys, is consumed");
    Ok(Workload { genesis: keys.into_genesis(), txs })
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
    keys: &Arc<GenesisKeys>,
    state: &State,
    start_height: u64,
) -> Result<Vec<Vec<u8>>, WorkloadError> {
    spec.validate()?;
    Ok(WorkloadStream::resumed(spec, Arc::clone(keys), state, start_height)?.collect_all())
}

/// Mixes the start height into the seed (splitmix64's finaliser), keeping
/// height 0 at the seed itself so a fresh run equals `generate`.
fn resumed_seed(seed: u64, start_height: u64) -> u64 {
    if start_height == 0 {
        return seed;
    }
    crate::splitmix64::mix(seed ^ start_height.wrapping_mul(crate::splitmix64::GOLDEN_GAMMA))
}

/// A workload drawn lazily, a batch of transactions at a time, so a run
/// holds only the blocks in flight instead of every transaction it will
/// ever send. The pair draws come from one RNG in one order whatever the
/// batch sizes, so the bytes equal those of [`generate_resumed`] for the
/// same spec, state and start height.
///
/// Genesis keys are derived only for the accounts a batch touches, on first
/// touch, into a [`GenesisKeys`] that may be shared with the store that
/// built the genesis state (so no key is derived twice). An account's
/// starting nonce is read from the state the stream continues when the
/// account is first touched; the stream keeps the nonces of that state
/// (those above 0) for this, since the state itself moves on with the chain.
pub struct WorkloadStream {
    keys: Arc<GenesisKeys>,
    chain: ChainId,
    picker: PairPicker,
    /// Each account's next nonce, once `seen`.
    nonces: Vec<u64>,
    /// Accounts a drawn transaction has touched: their keys are derived and
    /// their nonces loaded.
    seen: Vec<bool>,
    /// Nonces above 0 in the state the stream continues, of accounts not
    /// seen yet.
    start_nonces: AccountMap<u64>,
    remaining: u64,
}

impl WorkloadStream {
    /// The stream [`generate_resumed`] would collect, with `spec.txs` up to
    /// [`WORKLOAD_STREAM_TXS_MAX`] instead of the in-memory limit. `keys`
    /// must be those of `spec`'s seed and account count; none is derived
    /// here.
    pub fn resumed(
        spec: &WorkloadSpec,
        keys: Arc<GenesisKeys>,
        state: &State,
        start_height: u64,
    ) -> Result<WorkloadStream, WorkloadError> {
        spec.validate_shape()?;
        if spec.txs > WORKLOAD_STREAM_TXS_MAX {
            return Err(WorkloadError::TooManyStreamTxs { txs: spec.txs });
        }
        if keys.seed() != spec.seed || keys.len() as u64 != u64::from(spec.accounts) {
            return Err(WorkloadError::KeysMismatch {
                keys_seed: keys.seed(),
                keys_accounts: keys.len(),
                seed: spec.seed,
                accounts: spec.accounts,
            });
        }
        let start_nonces =
            state.iter().filter(|(_, account)| account.nonce > 0).map(|(id, account)| (*id, account.nonce)).collect();
        Ok(WorkloadStream::with_start_nonces(spec, keys, resumed_seed(spec.seed, start_height), start_nonces))
    }

    fn with_start_nonces(
        spec: &WorkloadSpec,
        keys: Arc<GenesisKeys>,
        picker_seed: u64,
        start_nonces: AccountMap<u64>,
    ) -> WorkloadStream {
        let accounts = keys.len();
        WorkloadStream {
            keys,
            chain: spec.chain.clone(),
            picker: PairPicker::new(spec, picker_seed),
            nonces: vec![0; accounts],
            seen: vec![false; accounts],
            start_nonces,
            remaining: spec.txs,
        }
    }

    /// Transactions not yet drawn.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The genesis keys the stream signs with (and derives into).
    pub fn keys(&self) -> &Arc<GenesisKeys> {
        &self.keys
    }

    /// The next `max` transactions (fewer at the end, none once the stream
    /// is exhausted), signed in parallel on the current rayon pool.
    pub fn next_batch(&mut self, max: usize) -> Vec<Vec<u8>> {
        let count = self.remaining.min(max as u64);
        self.remaining -= count;
        // Draw the batch first (the RNG is sequential), then derive the keys
        // of the accounts it touches for the first time in parallel, then
        // build and sign: the same draws, nonces and signatures as with
        // every key derived up front.
        let picks: Vec<(u32, u32, u64)> = (0..count).map(|_| self.picker.next()).collect();
        let mut first_seen = Vec::new();
        for &(from, to, _) in &picks {
            for index in [from, to] {
                if !self.seen[index as usize] {
                    self.seen[index as usize] = true;
                    first_seen.push(index);
                }
            }
        }
        self.keys.derive(&first_seen);
        let keys = &*self.keys;
        for &index in &first_seen {
            if let Some(nonce) = self.start_nonces.remove(&keys.id(index)) {
                self.nonces[index as usize] = nonce;
                if self.start_nonces.is_empty() {
                    self.start_nonces = AccountMap::default();
                }
            }
        }
        let mut unsigned = Vec::with_capacity(picks.len());
        for (from, to, amount) in picks {
            let nonce = self.nonces[from as usize];
            self.nonces[from as usize] += 1;
            unsigned.push((from, transfer(keys.id(from), keys.id(to), nonce, amount)));
        }
        // Signing is deterministic, so doing it in parallel keeps the bytes
        // identical to a serial run.
        let chain = &self.chain;
        unsigned
            .into_par_iter()
            .map(|(from, mut tx)| {
                sign(&mut tx, keys.key(from), chain);
                tx.encode()
            })
            .collect()
    }

    fn collect_all(mut self) -> Vec<Vec<u8>> {
        self.next_batch(usize::try_from(self.remaining).expect("validated to fit memory"))
    }
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

    fn keys(spec: &WorkloadSpec) -> Arc<GenesisKeys> {
        Arc::new(GenesisKeys::new(spec.seed, spec.accounts).unwrap())
    }

    /// The generator as it was before streaming and lazy keys: every key
    /// derived up front, every nonce given, one pass. The tests pin the
    /// current paths' bytes to it.
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
        let txs = unsigned
            .into_iter()
            .map(|(from, mut tx)| {
                sign(&mut tx, &genesis.keys[from as usize], &spec.chain);
                tx.encode()
            })
            .collect();
        Workload { genesis, txs }
    }

    #[test]
    fn parses_workload_names() {
        assert_eq!("uniform".parse(), Ok(WorkloadKind::Uniform));
        assert_eq!("groups:4".parse(), Ok(WorkloadKind::Groups(4)));
        assert!("groups:0".parse::<WorkloadKind>().is_err());
        assert!("groups:x".parse::<WorkloadKind>().is_err());
        let unknown = "zipfy".parse::<WorkloadKind>().unwrap_err();
        assert_eq!(unknown, WorkloadError::UnknownKind { name: "zipfy".into() });
        assert_eq!(unknown.to_string(), "unknown workload \"zipfy\": expected uniform, hot, zipf or groups:K");
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
    fn a_stream_in_any_batches_equals_the_materialised_workload() {
        for kind in [WorkloadKind::Uniform, WorkloadKind::Hot, WorkloadKind::Zipf, WorkloadKind::Groups(3)] {
            let spec = spec(kind, 30, 101, 5);
            let whole = generate(&spec).unwrap();
            let eager = generate_with(&spec, Genesis::new(5, 30).unwrap(), 5, vec![0; 30]);
            assert_eq!(whole.txs, eager.txs, "{kind}: the same bytes as the old path");
            let genesis = whole.genesis.state();
            let mut stream = WorkloadStream::resumed(&spec, keys(&spec), &genesis, 0).unwrap();
            let mut streamed = Vec::new();
            for size in [1, 7, 0, 40].into_iter().cycle() {
                if stream.remaining() == 0 {
                    break;
                }
                streamed.extend(stream.next_batch(size));
            }
            assert_eq!(streamed, whole.txs, "{kind}");
            assert!(stream.next_batch(10).is_empty(), "an exhausted stream yields nothing");
        }
    }

    #[test]
    fn a_resumed_stream_equals_generate_resumed() {
        let spec = spec(WorkloadKind::Uniform, 20, 60, 2);
        let first = generate(&spec).unwrap();
        let mut state = first.genesis.state();
        let bumped = first.genesis.id(3);
        let account = crate::account::Account { nonce: 9, ..state.load(&bumped) };
        state.apply(&vec![(bumped, account)]);
        let whole = generate_resumed(&spec, &keys(&spec), &state, 4).unwrap();
        let mut stream = WorkloadStream::resumed(&spec, keys(&spec), &state, 4).unwrap();
        let streamed: Vec<Vec<u8>> =
            std::iter::from_fn(|| Some(stream.next_batch(16)).filter(|batch| !batch.is_empty())).flatten().collect();
        assert_eq!(streamed, whole);
        assert_ne!(whole, first.txs, "a resumed workload sends new transactions");
    }

    #[test]
    fn a_stream_may_exceed_the_in_memory_limit_but_not_its_own() {
        let genesis = Genesis::new(1, 2).unwrap().state();
        let big = spec(WorkloadKind::Uniform, 2, WORKLOAD_TXS_MAX + 1, 1);
        assert!(generate_resumed(&big, &keys(&big), &genesis, 0).is_err());
        assert_eq!(WorkloadStream::resumed(&big, keys(&big), &genesis, 0).unwrap().remaining(), WORKLOAD_TXS_MAX + 1);
        let too_big = spec(WorkloadKind::Uniform, 2, WORKLOAD_STREAM_TXS_MAX + 1, 1);
        assert!(WorkloadStream::resumed(&too_big, keys(&too_big), &genesis, 0).is_err());
        let misshapen = spec(WorkloadKind::Groups(2), 3, 1, 1);
        assert!(WorkloadStream::resumed(&misshapen, keys(&misshapen), &genesis, 0).is_err());
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
            let fresh = generate_resumed(&spec, &keys(&spec), &genesis_state, 0).unwrap();
            assert_eq!(fresh, eager.txs, "{kind}: at height 0 a resumed run is a fresh one");

            // Later: signer 3 has sent one transaction, and the draws move on.
            let mut state = genesis_state.clone();
            let sent_one = Account { balance: 5, nonce: 1, ..Account::default() };
            state.apply(&vec![(eager.genesis.id(3), sent_one)]);
            let nonces = (0..spec.accounts as usize).map(|i| u64::from(i == 3)).collect();
            let expected =
                generate_with(&spec, Genesis::new(spec.seed, spec.accounts).unwrap(), resumed_seed(6, 4), nonces);
            let resumed = generate_resumed(&spec, &keys(&spec), &state, 4).unwrap();
            assert_eq!(resumed, expected.txs, "{kind}");
        }
        let one = spec(WorkloadKind::Uniform, 1000, 1, 6);
        let keys = keys(&one);
        generate_resumed(&one, &keys, &State::default(), 9).unwrap();
        assert_eq!(keys.derived(), 2, "one transfer derives its two accounts' keys, not a thousand");
    }

    #[test]
    fn a_stream_derives_keys_as_its_blocks_first_touch_accounts_and_equals_the_eager_path() {
        for kind in [WorkloadKind::Uniform, WorkloadKind::Hot, WorkloadKind::Zipf, WorkloadKind::Groups(3)] {
            let spec = spec(kind, 300, 500, 8);
            let genesis = Genesis::new(spec.seed, spec.accounts).unwrap();
            // A state some earlier run left: several signers have sent.
            let mut state = genesis.state();
            let mut nonces = vec![0u64; spec.accounts as usize];
            let mut delta: Vec<_> = [0usize, 1, 17, 150, 299]
                .iter()
                .map(|&i| {
                    nonces[i] = 3 * i as u64 + 1;
                    (genesis.id(i), Account { balance: 7, nonce: nonces[i], ..Account::default() })
                })
                .collect();
            delta.sort_by_key(|(id, _)| *id);
            state.apply(&delta);
            let expected =
                generate_with(&spec, Genesis::new(spec.seed, spec.accounts).unwrap(), resumed_seed(8, 11), nonces);

            let keys = keys(&spec);
            let mut stream = WorkloadStream::resumed(&spec, Arc::clone(&keys), &state, 11).unwrap();
            assert_eq!(keys.derived(), 0, "{kind}: nothing derived before the first block");
            let first = stream.next_batch(1);
            assert_eq!(keys.derived(), 2, "{kind}: the first transfer derives its two accounts' keys");
            let mut streamed = first;
            while stream.remaining() > 0 {
                streamed.extend(stream.next_batch(37));
            }
            assert_eq!(streamed, expected.txs, "{kind}");
            let touched: std::collections::BTreeSet<AccountId> =
                streamed.iter().flat_map(|bytes| decode(bytes).unwrap().accounts.into_iter().map(|m| m.id)).collect();
            assert_eq!(keys.derived(), touched.len(), "{kind}: only the touched accounts' keys are derived");
        }
        // Keys the store already derived (a new store, or no usable snapshot)
        // are not derived again.
        let spec = spec(WorkloadKind::Uniform, 50, 200, 2);
        let keys = keys(&spec);
        let state = keys.state();
        assert_eq!(keys.derived(), 50);
        let streamed = WorkloadStream::resumed(&spec, Arc::clone(&keys), &state, 0).unwrap().collect_all();
        assert_eq!(streamed, generate(&spec).unwrap().txs);
        assert_eq!(keys.derived(), 50);
    }

    #[test]
    fn resumed_generation_refuses_another_genesis_keys() {
        let spec = spec(WorkloadKind::Uniform, 12, 3, 6);
        for keys in [GenesisKeys::new(7, 12).unwrap(), GenesisKeys::new(6, 11).unwrap()] {
            let keys = Arc::new(keys);
            let error = generate_resumed(&spec, &keys, &State::default(), 1).expect_err("other keys are refused");
            assert!(matches!(error, WorkloadError::KeysMismatch { seed: 6, accounts: 12, .. }), "{error:?}");
            assert!(error.to_string().contains("genesis keys"), "{error}");
            let error =
                WorkloadStream::resumed(&spec, keys, &State::default(), 1).err().expect("other keys are refused");
            assert!(error.to_string().contains("genesis keys"), "{error}");
        }
    }

    #[test]
    fn rejects_impossible_specs() {
        let too_few = WorkloadError::TooFewAccounts { accounts: 19, kind: WorkloadKind::Groups(10), needed: 20 };
        assert_eq!(spec(WorkloadKind::Groups(10), 19, 1, 1).validate(), Err(too_few));
        assert!(spec(WorkloadKind::Uniform, 1, 1, 1).validate().is_err());
        let too_many = spec(WorkloadKind::Uniform, 2, WORKLOAD_TXS_MAX + 1, 1).validate().unwrap_err();
        assert_eq!(
            too_many.to_string(),
            format!("--txs {} exceeds WORKLOAD_TXS_MAX {WORKLOAD_TXS_MAX}", WORKLOAD_TXS_MAX + 1)
        );
    }
}
