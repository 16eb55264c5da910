//! # sluice-engine
//!
//! The execution core of Sluice: transactions come in as bytes and leave
//! as executed blocks with receipts and a state root.
//!
//! | module | owns |
//! |---|---|
//! | [`tx`] | wire format v1: model, canonical encoding, total decoder, signing message |
//! | [`sigverify`] | ed25519 verification under the ZIP-215 rule |
//! | [`ingest`] | bytes → verified transactions, with named rejections |
//! | [`limits`] | every limit, in one place, with compile-time assertions of how they relate |
//! | [`account`], [`state`], [`lthash`] | accounts, committed state, seeded genesis keys, the lattice-hash state root |
//! | [`genesis`] | a chain's genesis: CometBFT's `app_state`, its hash and its state |
//! | [`program`] | the `Program` trait, its fenced context, native `system` and `token` |
//! | [`exec`] | transaction semantics, receipts, the serial and parallel executors, and, with feature `fuzzing`, the differential harness that checks one against the other |
//! | [`byte_reader`] | the one bounds-checked cursor every decoder reads through |
//! | [`block`] | block header, block hash, Merkle roots |
//! | [`chain`] | the sequence of blocks: height, parent hash, state |
//! | [`pipeline`] | the staged engine: ingest → sigverify → schedule → execute → commit |
//! | [`workload`] | seeded workloads of signed transfers, whole or as a lazy stream |
//! | [`source`] | the block generator: signs a workload stream block by block ahead of the pipeline |
//! | [`splitmix64`] | the one small seeded generator and mixer, for non-adversarial spreading and tests |
//! | [`memory`] | resident-memory sampling for run reports (Linux `/proc`) |
//! | [`persist`] | block records in the commit log, snapshots, resume, verify and replay |
//! | [`node`] | `sluice node`: the CometBFT 0.38 ABCI++ application (feature `node`) |
//! | [`client`] | `sluice keys/tx/query`: key files, transactions and queries over CometBFT's RPC (feature `client`) |
//!
//! The `node`, `client` and `cli` features are on by default. An embedder
//! that only executes blocks turns them off (`default-features = false`)
//! and links none of their dependencies (tendermint-proto, prost, toml,
//! tracing, the HTTP client; clap, indicatif, mimalloc and tempfile, which
//! only the `sluice` binary needs). Feature `fuzzing` adds the differential
//! harness and `arbitrary`, for fuzzing a chain's own programs.
//!
//! See docs/architecture.md for how the parts fit and docs/format.md for
//! every byte.

// The engine needs no `unsafe`: the memory map and the syscalls live in
// sluice-storage, each under a `// SAFETY:` comment.
#![forbid(unsafe_code)]

pub mod account;
pub mod block;
pub mod byte_reader;
pub mod chain;
#[cfg(feature = "client")]
pub mod client;
pub mod exec;
pub mod genesis;
pub mod ingest;
pub mod limits;
pub mod lthash;
pub mod memory;
#[cfg(feature = "node")]
pub mod node;
pub mod persist;
pub mod pipeline;
pub mod program;
pub mod sigverify;
pub mod source;
pub mod splitmix64;
pub mod state;
pub mod tx;
pub mod workload;
