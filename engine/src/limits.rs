//! Every limit of the engine, in one place, with compile-time assertions of
//! how they relate (at the end of the file).
//!
//! A limit is a bound on something an input, a configuration or a run can
//! make grow: bytes, counts, capacities, thread counts, and the defaults
//! operators start from. Each is defined here once and re-exported by the
//! module that enforces it (`tx::TX_BYTES_MAX` is this file's
//! `TX_BYTES_MAX`), so a reader finds it both where it bites and beside the
//! limits it must agree with. Sizes fixed by a format (a header's bytes, a
//! version byte) stay with their format; the storage layer's own limits
//! stay in `sluice_storage`, below the engine, and are asserted against
//! here where the engine depends on them.
//!
//! Names end in their unit (`_BYTES_MAX`, `_MS_DEFAULT`); `_LIMIT` is the
//! most an operator may configure, `_DEFAULT` what they get without saying.
//! The node's and the client's limits are plain numbers, so they live here
//! whatever features are on.

use std::time::Duration;

use sluice_storage::format::{RECORD_ALIGN_BYTES, RECORD_HEADER_SIZE_BYTES, SEGMENT_HEADER_SIZE_BYTES};
use sluice_storage::{SEGMENT_SIZE_BYTES_MAX, SEGMENT_SIZE_BYTES_MIN, SNAPSHOT_SIZE_BYTES_MAX};

use crate::exec::graph::Access;
use crate::ingest::FRAME_LENGTH_BYTES;
use crate::persist::codec::{block_record_body_bytes, ACCOUNT_FIXED_BYTES, ID_BYTES};
use crate::sigverify::SIGNATURE_BYTES;

// --------------------------------------------------------------------------
// Transactions (docs/format.md, "Transaction")

/// Largest encoded transaction. 1232 = IPv6 minimum MTU (1280) less
/// headers, as in Solana: a transaction fits one unfragmented packet.
pub const TX_BYTES_MAX: usize = 1232;

/// The smallest valid transaction: signature, version, nonce, fee, one
/// account, zero instructions.
pub const TX_BYTES_MIN: usize = SIGNATURE_BYTES + 1 + 8 + 8 + 1 + 33 + 1;

/// Declared accounts per transaction. Bounds conflict-graph work and the
/// linear account lookups programs make.
pub const ACCOUNTS_PER_TX_MAX: usize = 32;

/// Instructions per transaction.
pub const INSTRUCTIONS_PER_TX_MAX: usize = 8;

/// Account references per instruction.
pub const ACCOUNTS_PER_INSTRUCTION_MAX: usize = 16;

/// Data bytes per instruction.
pub const INSTRUCTION_DATA_BYTES_MAX: usize = 1024;

/// Chain ids are 1..=64 printable ASCII bytes.
pub const CHAIN_ID_BYTES_MAX: usize = 64;

// --------------------------------------------------------------------------
// Accounts

/// Program data held by one account is at most this many bytes. Bounds the
/// working set, snapshot size, and the cost of hashing an account.
pub const ACCOUNT_DATA_BYTES_MAX: usize = 4096;

// --------------------------------------------------------------------------
// Programs

/// Registered programs are at most this many.
pub const PROGRAMS_MAX: usize = 1024;

// --------------------------------------------------------------------------
// Blocks

/// Transactions per block are at most this many: bounds a block's memory,
/// its conflict graph, and its log record.
pub const BLOCK_TXS_MAX: usize = 100_000;

/// Bytes of transactions per block, summed over their encodings. With
/// `BLOCK_TXS_MAX` it bounds everything in a block record but the delta,
/// and leaves the delta room for a full block of transfers: a block within
/// both limits encodes into a record that fits the log (the relations are
/// the compile-time assertions at the end of this file). 100,000 transfers of 165 bytes are 16.5 MB, so a full
/// block of transfers is cut by count, not by bytes.
pub const BLOCK_TX_BYTES_MAX: usize = 16 * 1024 * 1024;

// --------------------------------------------------------------------------
// Genesis

/// Genesis accounts are at most this many: key derivation costs a scalar
/// multiplication each, and the whole state is held in memory.
pub const GENESIS_ACCOUNTS_MAX: u32 = 10_000_000;

/// Largest `app_state` accepted, in bytes. Listed accounts cost about 100
/// bytes each, so this holds some 300,000 of them; larger test sets use
/// `seeded`. It fits the node's ABCI request limit (64 MiB by default),
/// which must carry it in one InitChain, and the store's origin record
/// (`ORIGIN_RECORD_BYTES_MAX`).
pub const GENESIS_APP_STATE_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Largest genesis.json `GenesisFile` reads: the app state plus CometBFT's
/// own fields (validators, consensus parameters) with room to spare.
pub const GENESIS_FILE_BYTES_MAX: u64 = 2 * GENESIS_APP_STATE_BYTES_MAX as u64;

// --------------------------------------------------------------------------
// Signature verification

/// Default number of signatures per batch for [`verify_parallel`].
///
/// 256 since signatures are grouped by key. A chunk of `n` signatures from
/// `m` keys is a multiscalar multiplication of `n + m + 1` points, and
/// curve25519-dalek switches from Straus to Pippenger above 190 points, so
/// at 128 a chunk with repeated signers stayed on the costlier Straus side.
/// Measured (`sluice-bench --workload uniform,hot,zipf,groups:8 --txs 30000
/// --threads 2 --repeats 3 --batch-size 128|256`, 2026-11-30, quiet 2-core
/// VM, load 0.46–0.47 at the start of each run, one run each): the
/// sigverify stage at 256 over 128 was 0.98 on `uniform`, 1.12 on `hot`,
/// 1.13 on `zipf` and 1.11 on `groups:8`.
///
/// Earlier, before grouping (`cargo bench -p sluice-bench --bench
/// sigverify`, group `parallel_cpu`: 4096 valid signatures on all cores,
/// median CPU time per signature, two runs):
///
/// | batch size | 4 | 8 | 16 | 32 | 64 | 128 | 256 | all single |
/// |---|---|---|---|---|---|---|---|---|
/// | run A, µs | 38.1 | 32.6 | 30.3 | 29.8 | 28.7 | 25.4 | 23.6 | 58.3 |
/// | run B, µs | – | – | – | 28.8 | 28.4 | 26.8 | 25.0 | – |
///
/// A failed batch of 256 throws away twice the work of one of 128, but
/// when bad signatures appear the bad-rate estimate shrinks the batches
/// actually attempted (see module `bisect`), and a 10,000-transaction block
/// still makes 40 chunks to spread over the cores.
pub const BATCH_SIZE_DEFAULT: usize = 256;

/// Signatures per chunk at which the reference libraries are measured:
/// `sluice-bench`'s verify limit and ed25519-zebra columns, and `sluice
/// run`'s calibration. Fixed at the size the limit was first defined with,
/// so that a change of [`BATCH_SIZE_DEFAULT`] moves Sluice's figures and not
/// the yardstick they are divided by.
pub const REFERENCE_BATCH_SIZE: usize = 128;

/// Decoded keys the process-wide [`KeyCache::shared`] holds. An entry costs
/// about 250 bytes (the key, a 160-byte extended point, the map's and the
/// queue's overhead), so a full cache takes about 32 MiB: enough for every
/// signer of a 100,000-account chain's recent blocks.
pub const KEY_CACHE_CAPACITY: usize = 131_072;

/// Default number of transaction hashes a [`VerifiedCache`] holds: a few
/// mempools' worth. 200,000 hashes of 32 bytes take roughly 12 MiB.
pub const VERIFIED_CACHE_CAPACITY: usize = 200_000;

/// Default number of signatures a [`ReplayWindow`] remembers: about ten
/// blocks of the default 10,000 transactions. 100,000 entries of 64 bytes
/// take roughly 15 MiB with the set's overhead.
pub const REPLAY_WINDOW_CAPACITY: usize = 100_000;

// --------------------------------------------------------------------------
// Execution

/// A block can declare at most this many accesses: slots and access
/// indices are u32, with the top bit of an [`Access`] taken by the
/// writable flag.
pub const ACCESSES_MAX: usize = (Access::WRITABLE - 1) as usize;

/// Pools with fewer threads run every block in order.
///
/// Scheduled, a transaction costs more than in order: its slots sit
/// behind uncontended locks, it is released through counters and ready
/// stacks, and its receipt is placed afterwards. In order, the second
/// thread is not idle either: it loads the working set, sorts the delta's
/// candidates during the run and builds the delta. Measured on the 2-core
/// development machine over a prebuilt 10,000 transfer block, interleaved
/// and rotated (`schedule_compare` in docs/benchmarks.md): scheduled on
/// one thread took 1.5–1.7× the in-order time on all four workloads; on
/// two threads, in order took 0.46–0.93× the scheduled time. Two threads
/// cannot repay that; four should. The 16-core figures are where this
/// should be tuned.
pub const THREADS_MIN: usize = 4;

/// Below this much available parallelism (transactions over critical
/// path) per pool thread, a block runs in order on one worker.
///
/// Handing a transaction to another core moves its accounts' cache lines
/// there, which costs about as much as a transfer's execution. A block
/// whose conflicts are dense pays that on most transactions: `zipf`
/// (parallelism 6.2 per 10,000 transfers) ran at 0.6–0.8× of one thread
/// on two threads, while `uniform` and `groups:8` (parallelism in the
/// thousands) gained. Measured on a 2-core machine only; see
/// docs/benchmarks.md.
pub const PARALLELISM_PER_THREAD_MIN: f64 = 8.0;

/// A worker keeps up to this many ready transactions to itself; beyond it,
/// it hands half to the pool, so an idle worker finds work to steal
/// without every newly ready transaction paying for a spawn.
pub const LOCAL_READY_MAX: usize = 16;

/// Worker threads (`sluice run --threads`, the node's `threads`): beyond
/// this, scheduling overhead and memory per thread outgrow any machine
/// Sluice targets.
pub const THREADS_MAX: u32 = 1024;

// --------------------------------------------------------------------------
// Pipeline

/// Channel capacity between stages is at most this many blocks.
pub const CHANNEL_BLOCKS_MAX: usize = 64;

/// A report keeps at most this many block latencies (512 KiB): every
/// block's in a run of up to this many blocks, a uniform sample of that
/// many in a longer one, so a run of any length reports in bounded memory.
pub const LATENCY_SAMPLES_MAX: usize = 65_536;

/// Fewest transactions the sigverify stage hands the pool at once.
pub const VERIFY_SLICE_TXS_MIN: usize = 2048;

// --------------------------------------------------------------------------
// Workloads

/// A materialised workload ([`generate`]) holds at most this many
/// transactions (about 200 bytes each in memory, so 2 GB at the limit).
pub const WORKLOAD_TXS_MAX: u64 = 10_000_000;

/// A [`WorkloadStream`] draws at most this many. Memory does not depend on
/// it; the log does, at about 275 bytes a transfer, so the disk fills long
/// before the count runs out. It exists so that the count has a limit.
pub const WORKLOAD_STREAM_TXS_MAX: u64 = 100_000_000_000;

/// Transfers move 1..=this many units.
pub const WORKLOAD_AMOUNT_MAX: u32 = 1000;

// --------------------------------------------------------------------------
// The `sluice run` command

/// `--txs` when neither it nor `--duration` is given.
pub const RUN_TXS_DEFAULT: u64 = 50_000;

/// Without `--duration`, a run of at most this many transactions signs its
/// whole workload before the pipeline starts, so that `tps` measures the
/// engine rather than the signing a chain's clients would do. The signed
/// workload is held in memory, about 200 bytes per transfer, so about
/// 200 MB at this limit; above it (or with `--duration`) the run streams
/// instead, in bounded memory. `--pregenerate` signs ahead up to
/// `WORKLOAD_TXS_MAX` (about 2 GB).
pub const SIGN_AHEAD_TXS_MAX: u64 = 1_000_000;

/// Signing ahead draws and signs this many transactions at a time: enough
/// to keep every worker thread signing, few enough that the progress bar
/// moves. The size does not change a byte (`WorkloadStream::next_batch`).
pub const SIGN_AHEAD_BATCH_TXS_MAX: u64 = 10_000;

/// One `sluice run --duration` lasts at most a day. A longer soak is a
/// series of runs on the same `--data`, each resuming the last.
pub const RUN_DURATION_S_MAX: u64 = 86_400;

// --------------------------------------------------------------------------
// Persistence

/// What `BLOCK_RECORD_BYTES_MAX` leaves for the delta of any block within
/// the count and byte bounds.
pub const BLOCK_DELTA_BYTES_ROOM: u64 = BLOCK_RECORD_BYTES_MAX - BLOCK_RECORD_BODY_BYTES_MAX;

/// Record bytes of the largest block apart from its delta:
/// `BLOCK_TXS_MAX` transactions, `BLOCK_TX_BYTES_MAX` bytes of them.
pub const BLOCK_RECORD_BODY_BYTES_MAX: u64 = block_record_body_bytes(BLOCK_TXS_MAX, BLOCK_TX_BYTES_MAX) as u64;

/// Largest block record: 32 MiB. A block within `BLOCK_TXS_MAX`
/// transactions and `BLOCK_TX_BYTES_MAX` bytes of them makes at most
/// `BLOCK_RECORD_BODY_BYTES_MAX` (18,377,362) bytes of record before its
/// delta, which leaves `BLOCK_DELTA_BYTES_ROOM` (15,177,070) for the delta:
/// 291,866 entries of accounts without data, more than the 200,000 of a
/// full block of transfers between distinct accounts (about 28.5 MB in
/// all). Only a block that writes many accounts holding data can need
/// more; FinalizeBlock and the pipeline measure the delta before applying
/// it and never let such a block change state (docs/format.md §10).
pub const BLOCK_RECORD_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// Largest origin record: an app-state genesis record holds `app_state`
/// itself (up to `GENESIS_APP_STATE_BYTES_MAX`) beside its chain id, hash
/// and root.
pub const ORIGIN_RECORD_BYTES_MAX: u64 = crate::genesis::GENESIS_APP_STATE_BYTES_MAX as u64 + 512;

/// The log's record limit (`LogConfig::record_size_max`): whichever of the
/// two record limits is larger. Storage's own default, `RECORD_SIZE_MAX`
/// (16 MiB), is below `BLOCK_RECORD_BYTES_MAX`: `StoreConfig::log_config`
/// always sets this instead.
pub const STORE_RECORD_BYTES_MAX: u64 =
    if ORIGIN_RECORD_BYTES_MAX > BLOCK_RECORD_BYTES_MAX { ORIGIN_RECORD_BYTES_MAX } else { BLOCK_RECORD_BYTES_MAX };

/// Default log segment size: twice the largest block record, so any record fits.
pub const STORE_SEGMENT_SIZE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// Blocks between snapshots by default: at 10,000-transaction blocks a
/// restart then replays at most 99 blocks' deltas (about a million
/// transactions' worth), while the snapshot cost (a sort and a write of all
/// accounts) is paid once per hundred blocks.
pub const SNAPSHOT_INTERVAL_BLOCKS_DEFAULT: u64 = 100;

/// Largest encoded delta or snapshot entry: an account with the most data.
pub const ACCOUNT_ENTRY_BYTES_MAX: usize = ACCOUNT_ENTRY_BYTES_MIN + ACCOUNT_DATA_BYTES_MAX;

/// Smallest encoded delta or snapshot entry: id plus an account without data.
pub const ACCOUNT_ENTRY_BYTES_MIN: usize = ID_BYTES + ACCOUNT_FIXED_BYTES;

/// Most delta bytes one transaction can add to its block's record: it
/// writes only accounts it declares writable (`InvokeContext::write`), at
/// most `ACCOUNTS_PER_TX_MAX`, each with at most `ACCOUNT_DATA_BYTES_MAX`
/// of data. 132,736 bytes, 108 times the largest transaction: a block bound
/// derived from it would hold 250 transactions, so the bound on a block's
/// transactions leaves the delta a share of the record instead (see
/// `BLOCK_RECORD_BYTES_MAX`).
pub const TX_DELTA_BYTES_MAX: usize = ACCOUNTS_PER_TX_MAX * ACCOUNT_ENTRY_BYTES_MAX;

// --------------------------------------------------------------------------
// Run reports

/// How often the sampler reads `/proc/self/status`. Reading it costs
/// microseconds; 100 ms catches peaks that last a fraction of a block.
pub const RSS_SAMPLE_INTERVAL_MS: u64 = 100;

/// The series never holds more points than this.
pub const RSS_SERIES_POINTS_MAX: usize = 128;

// --------------------------------------------------------------------------
// Chain node (feature `node`): configuration

/// CometBFT opens four connections; the rest of the default leaves room
/// for reconnects and for operators' probes, while bounding threads.
pub const CONNECTIONS_MAX_DEFAULT: u32 = 16;

pub const CONNECTIONS_MAX_LIMIT: u32 = 1024;

/// How long an ABCI connection must have been idle before a new one, at
/// `connections_max`, may take its slot; also the longest the new one
/// waits for a slot before it is closed. CometBFT's own connections, once
/// recognised, are never closed (`node::server` says when they are).
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 30_000;

/// An hour: the longest a restarted CometBFT may have to wait for a slot.
pub const IDLE_TIMEOUT_MS_LIMIT: u64 = 3_600_000;

pub const IDLE_TIMEOUT_MS_MIN: u64 = 100;

pub const MEMPOOL_LIMIT: u32 = 100_000_000;

/// Transactions admitted by CheckTx since the last Commit. CometBFT's own
/// mempool `size` (default 5000) is normally the tighter bound.
pub const MEMPOOL_PENDING_TXS_MAX_DEFAULT: u32 = 1_000_000;

/// Distinct signers with transactions pending in the mempool.
pub const MEMPOOL_SIGNERS_MAX_DEFAULT: u32 = 100_000;

/// One ABCI request frame. CometBFT's default block `max_bytes` is 21 MiB;
/// a PrepareProposal carries up to that much plus the last commit.
pub const REQUEST_BYTES_MAX_DEFAULT: u64 = 64 * 1024 * 1024;

pub const REQUEST_BYTES_MAX_LIMIT: u64 = 1024 * 1024 * 1024;

/// A snapshot at least every million blocks: beyond that a restart would
/// apply more deltas than a snapshot costs to load.
pub const SNAPSHOT_INTERVAL_BLOCKS_LIMIT: u64 = 1_000_000;

// --------------------------------------------------------------------------
// Chain node (feature `node`): transaction pool

pub const POOL_BYTES_LIMIT: u64 = 1024 * 1024 * 1024;

/// Bytes the pool holds by default: `POOL_TXS_MAX_DEFAULT` transactions of
/// a few hundred bytes, with room for larger ones.
pub const POOL_BYTES_MAX_DEFAULT: u64 = 64 * 1024 * 1024;

/// Largest `pool_txs_max`: the pool must fit in the verified-signature
/// cache beside a block's worth of other transactions, or its entries
/// would be verified twice.
pub const POOL_TXS_LIMIT: u32 = (crate::sigverify::VERIFIED_CACHE_CAPACITY - crate::block::BLOCK_TXS_MAX) as u32;

/// Transactions the pool holds by default: about two seconds at 40,000
/// tx/s, enough to fill every block while keeping queueing delay low.
pub const POOL_TXS_MAX_DEFAULT: u32 = 100_000;

/// Pool bytes one proposal takes at most: a quarter of the largest block
/// record, which leaves the rest for receipts and the state delta of
/// transfer-like transactions. A block whose record would still not fit
/// is cut by FinalizeBlock (code 106), deterministically.
pub const PROPOSAL_POOL_BYTES_MAX: usize = (crate::persist::store::BLOCK_RECORD_BYTES_MAX / 4) as usize;

// --------------------------------------------------------------------------
// Chain node (feature `node`): ingest endpoint

/// Largest request body by default: a full request of the largest
/// transactions.
pub const INGEST_REQUEST_BYTES_MAX_DEFAULT: u64 = 32 * 1024 * 1024;

pub const INGEST_REQUEST_BYTES_MAX_LIMIT: u64 = 256 * 1024 * 1024;

/// Worker threads answering ingest requests, by default.
pub const INGEST_THREADS_DEFAULT: u32 = 4;

pub const INGEST_THREADS_LIMIT: u32 = 256;

/// Transactions one `POST /v1/txs` carries at most: a batch the node
/// verifies in well under a second on one core.
pub const REQUEST_TXS_MAX: usize = 20_000;

// --------------------------------------------------------------------------
// Chain node (feature `node`): transaction status

/// Results the cache holds at most: half a minute at 30,000 tx/s. Each
/// costs about 64 bytes of map entry, 32 of per-block list and the map's
/// spare capacity; the node's resident memory levels off about 300 MiB
/// above idle once the cache is full (docs/benchmarks.md, "Chain
/// throughput").
pub const TX_STATUS_TXS_MAX: usize = 1_000_000;

// --------------------------------------------------------------------------
// Chain node (feature `node`): state sync

pub const METADATA_BYTES_MAX: usize = 1 + 1 + CHAIN_ID_BYTES_MAX + 32 + 32 + 4 + 32 * SNAPSHOT_CHUNKS_MAX as usize;

/// Chunks of the largest snapshot the store writes (`SNAPSHOT_SIZE_BYTES_MAX`):
/// the metadata then holds at most 26 KiB of chunk hashes, far under
/// CometBFT's 4 MB snapshot message, and a restore holds at most that
/// many bytes in memory.
pub const SNAPSHOT_CHUNKS_MAX: u32 = SNAPSHOT_SIZE_BYTES_MAX.div_ceil(SNAPSHOT_CHUNK_BYTES as u64) as u32;

/// Bytes per chunk: under CometBFT 0.38's 16 MB chunk message (statesync
/// `chunkMsgSize`), with room for the message's own fields.
pub const SNAPSHOT_CHUNK_BYTES: usize = 10 * 1024 * 1024;

// --------------------------------------------------------------------------
// Chain node (feature `node`): ABCI socket

/// A varint length prefix is at most 10 bytes.
pub const VARINT_BYTES_MAX: usize = 10;

// --------------------------------------------------------------------------
// Chain node (feature `node`): metrics endpoint

/// A scrape request larger than this is refused: it is not a scrape.
pub const HTTP_REQUEST_BYTES_MAX: usize = 8 * 1024;

// --------------------------------------------------------------------------
// Client (feature `client`)

/// One RPC request waits at most this long for its answer.
pub const RPC_REQUEST_TIMEOUT_MAX: Duration = Duration::from_secs(10);

/// Largest RPC answer read: a full 21 MiB block, base64 encoded, with room.
pub const RPC_RESPONSE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// How long `sluice tx` waits for its commit by default, and at most.
pub const COMMIT_WAIT_DEFAULT: Duration = Duration::from_secs(30);

pub const COMMIT_WAIT_MAX: Duration = Duration::from_secs(600);

/// Calls in one JSON-RPC batch: CometBFT's default
/// `[rpc] max_request_batch_size`.
pub const RPC_BATCH_MAX: usize = 10;

/// Most load accounts: listed genesis accounts, each about 100 bytes of
/// app_state JSON, well inside `GENESIS_APP_STATE_BYTES_MAX`.
pub const LOAD_ACCOUNTS_MAX: u32 = 200_000;

/// Transactions per submit request, by default and at most (the ingest
/// endpoint's `REQUEST_TXS_MAX`).
pub const LOAD_BATCH_DEFAULT: usize = 2_000;

pub const LOAD_BATCH_MAX: usize = 20_000;

/// Longest run `--duration` allows.
pub const LOAD_DURATION_MAX: Duration = Duration::from_secs(3600);

/// Most transactions one run signs ahead (about 250 bytes of memory each).
pub const LOAD_TXS_MAX: usize = 20_000_000;

/// How long after the run the load waits for admitted transactions to commit.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A key file is about 200 bytes; anything much larger is not one.
pub const KEY_FILE_BYTES_MAX: u64 = 4096;

// --------------------------------------------------------------------------
// How the limits relate, checked when the crate compiles.

// Transactions: the wire's count fields are one byte, lengths two.
const _: () = assert!(TX_BYTES_MIN <= TX_BYTES_MAX);
const _: () = assert!(ACCOUNTS_PER_TX_MAX <= u8::MAX as usize, "account_count is a u8 on the wire");
const _: () = assert!(INSTRUCTIONS_PER_TX_MAX <= u8::MAX as usize, "instruction_count is a u8 on the wire");
const _: () = assert!(ACCOUNTS_PER_INSTRUCTION_MAX <= ACCOUNTS_PER_TX_MAX, "an instruction names declared accounts");
const _: () = assert!(INSTRUCTION_DATA_BYTES_MAX <= u16::MAX as usize, "instruction_data_length is a u16");
const _: () = assert!(INSTRUCTION_DATA_BYTES_MAX < TX_BYTES_MAX, "the largest instruction data fits a transaction");
const _: () = assert!(CHAIN_ID_BYTES_MAX <= u8::MAX as usize, "chain id lengths are a u8 in records");

// Blocks: a block's accesses fit the conflict graph's u32 slots.
const _: () = assert!(BLOCK_TXS_MAX <= u32::MAX as usize, "transaction indices are u32 in the graph");
const _: () = assert!(BLOCK_TXS_MAX * ACCOUNTS_PER_TX_MAX <= ACCESSES_MAX, "a full block's declared accesses fit");

// Signature verification: a slice handed to the pool fills whole batches,
// and a whole block's hashes and signatures fit the caches that remember them.
const _: () = assert!(BATCH_SIZE_DEFAULT > 0 && REFERENCE_BATCH_SIZE > 0);
const _: () = assert!(VERIFY_SLICE_TXS_MIN >= BATCH_SIZE_DEFAULT, "a verify slice holds at least one full batch");
const _: () = assert!(VERIFIED_CACHE_CAPACITY >= BLOCK_TXS_MAX, "a whole block's verified hashes fit the cache");
const _: () = assert!(REPLAY_WINDOW_CAPACITY >= BLOCK_TXS_MAX, "a whole block's signatures fit the replay window");

// Execution and the node's thread counts.
const _: () = assert!(THREADS_MIN as u32 <= THREADS_MAX);
const _: () = assert!(LOCAL_READY_MAX >= 2, "a worker can hand half its ready transactions away");

// Workloads and `sluice run`.
const _: () = assert!(WORKLOAD_TXS_MAX <= WORKLOAD_STREAM_TXS_MAX);
const _: () = assert!(RUN_TXS_DEFAULT <= SIGN_AHEAD_TXS_MAX, "the default run signs ahead");
const _: () = assert!(SIGN_AHEAD_TXS_MAX <= WORKLOAD_TXS_MAX && SIGN_AHEAD_BATCH_TXS_MAX <= SIGN_AHEAD_TXS_MAX);
const _: () = assert!(WORKLOAD_AMOUNT_MAX > 0);

// Genesis: one InitChain carries the whole app_state, and the store's origin
// record holds it.
const _: () =
    assert!(GENESIS_APP_STATE_BYTES_MAX as u64 <= REQUEST_BYTES_MAX_DEFAULT, "app_state fits one ABCI request");
const _: () = assert!(GENESIS_APP_STATE_BYTES_MAX as u64 <= ORIGIN_RECORD_BYTES_MAX);
const _: () = assert!(GENESIS_FILE_BYTES_MAX >= GENESIS_APP_STATE_BYTES_MAX as u64);

// Persistence: from a block's limits to the log's.
const _: () = assert!(TX_BYTES_MAX <= BLOCK_TX_BYTES_MAX, "any one transaction fits a block");
const _: () = assert!(
    STORE_SEGMENT_SIZE_BYTES_DEFAULT >= SEGMENT_SIZE_BYTES_MIN
        && STORE_SEGMENT_SIZE_BYTES_DEFAULT <= SEGMENT_SIZE_BYTES_MAX
        && STORE_SEGMENT_SIZE_BYTES_DEFAULT.is_multiple_of(RECORD_ALIGN_BYTES),
    "storage accepts the default segment size"
);
const _: () = assert!(
    SEGMENT_HEADER_SIZE_BYTES
        + RECORD_HEADER_SIZE_BYTES
        + STORE_RECORD_BYTES_MAX.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES
        <= STORE_SEGMENT_SIZE_BYTES_DEFAULT,
    "the largest record fits a default segment with its headers"
);
const _: () = assert!(STORE_RECORD_BYTES_MAX <= u32::MAX as u64, "record lengths are u32 in the log");
const _: () = assert!(BLOCK_RECORD_BYTES_MAX <= STORE_RECORD_BYTES_MAX, "the log accepts every block record");
const _: () = assert!(
    (block_record_body_bytes(1, TX_BYTES_MAX) + TX_DELTA_BYTES_MAX) as u64 <= BLOCK_RECORD_BYTES_MAX,
    "any one transaction fits a record whatever it writes: the prefix of a block that fits is never empty"
);
const _: () = assert!(
    BLOCK_DELTA_BYTES_ROOM >= (2 * BLOCK_TXS_MAX * ACCOUNT_ENTRY_BYTES_MIN) as u64,
    "a full block of transfers, two accounts without data each, fits with its delta"
);
// The chain from a block's limits to the log's: a block within
// `BLOCK_TXS_MAX` and `BLOCK_TX_BYTES_MAX` encodes, delta aside, into a
// record within `BLOCK_RECORD_BYTES_MAX`, which the log accepts, and which
// fits a default segment with its headers.
const _: () = assert!(
    BLOCK_RECORD_BODY_BYTES_MAX <= BLOCK_RECORD_BYTES_MAX,
    "a block within BLOCK_TXS_MAX and BLOCK_TX_BYTES_MAX fits a record, delta aside"
);
const _: () = assert!(ACCOUNT_DATA_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(TX_BYTES_MAX <= u16::MAX as usize, "transaction lengths are u16 in block records");
const _: () = assert!(PROPOSAL_POOL_BYTES_MAX >= crate::tx::TX_BYTES_MAX);
const _: () = assert!(POOL_BYTES_MAX_DEFAULT <= POOL_BYTES_LIMIT);
const _: () = assert!(POOL_TXS_MAX_DEFAULT <= POOL_TXS_LIMIT);
const _: () = assert!(
    (REQUEST_TXS_MAX * (FRAME_LENGTH_BYTES + TX_BYTES_MAX)) as u64 <= INGEST_REQUEST_BYTES_MAX_DEFAULT,
    "a request of REQUEST_TXS_MAX largest transactions fits the default body limit"
);
const _: () = assert!(TX_STATUS_TXS_MAX >= crate::block::BLOCK_TXS_MAX, "a whole block fits");
const _: () = assert!(SNAPSHOT_CHUNK_BYTES + 1024 < 16_000_000, "a chunk fits CometBFT's chunk message");
const _: () = assert!(METADATA_BYTES_MAX < 4_000_000 / 2, "metadata fits CometBFT's snapshot message");

// The node: configured defaults within their limits, a proposal within a
// block record, a status cache holding a whole block.
const _: () = assert!(CONNECTIONS_MAX_DEFAULT <= CONNECTIONS_MAX_LIMIT);
const _: () =
    assert!(IDLE_TIMEOUT_MS_MIN <= IDLE_TIMEOUT_MS_DEFAULT && IDLE_TIMEOUT_MS_DEFAULT <= IDLE_TIMEOUT_MS_LIMIT);
const _: () = assert!(REQUEST_BYTES_MAX_DEFAULT <= REQUEST_BYTES_MAX_LIMIT);
const _: () = assert!(MEMPOOL_PENDING_TXS_MAX_DEFAULT <= MEMPOOL_LIMIT && MEMPOOL_SIGNERS_MAX_DEFAULT <= MEMPOOL_LIMIT);
const _: () = assert!(SNAPSHOT_INTERVAL_BLOCKS_DEFAULT <= SNAPSHOT_INTERVAL_BLOCKS_LIMIT);
const _: () = assert!(INGEST_REQUEST_BYTES_MAX_DEFAULT <= INGEST_REQUEST_BYTES_MAX_LIMIT);
const _: () = assert!(INGEST_THREADS_DEFAULT <= INGEST_THREADS_LIMIT);
const _: () = assert!(PROPOSAL_POOL_BYTES_MAX as u64 <= BLOCK_RECORD_BYTES_MAX);

// The client: its batches fit the node's ingest requests.
const _: () = assert!(LOAD_BATCH_DEFAULT <= LOAD_BATCH_MAX && LOAD_BATCH_MAX <= REQUEST_TXS_MAX);
const _: () = assert!(COMMIT_WAIT_DEFAULT.as_secs() <= COMMIT_WAIT_MAX.as_secs());
