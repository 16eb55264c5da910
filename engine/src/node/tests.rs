//! The node in-process: ABCI calls through a real socket, without
//! CometBFT. The end-to-end tests in tests/tests/chain_node.rs run it
//! under CometBFT itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tendermint_proto::v0_38::abci::{
    request, response, response_process_proposal::ProposalStatus, Request, RequestCheckTx, RequestEcho,
    RequestFinalizeBlock, RequestInfo, RequestInitChain, RequestProcessProposal, RequestQuery, Response,
};

use super::app::{App, Node};
use super::config::IDLE_TIMEOUT_MS_DEFAULT;
use super::metrics::Metrics;
use super::server::{Server, ServerLimits};
use super::*;
use crate::program::ProgramRegistry;
use crate::state::genesis_key;
use crate::tx;
use crate::workload;

const CHAIN: &str = "sluice-test";

/// The genesis of these tests: ten accounts seeded from seed 1.
const APP_STATE: &str = r#"{"seeded":{"seed":"1","accounts":10,"balance":"1000000000000"}}"#;

fn open(dir: &std::path::Path) -> (NodeConfig, Arc<Node>) {
    open_with_interval(dir, crate::persist::store::SNAPSHOT_INTERVAL_BLOCKS_DEFAULT)
}

fn open_with_interval(dir: &std::path::Path, snapshot_interval_blocks: u64) -> (NodeConfig, Arc<Node>) {
    let mut config = NodeConfig::default();
    config.storage.data = Some(dir.to_path_buf());
    config.storage.snapshot_interval_blocks = snapshot_interval_blocks;
    config.abci.listen = "127.0.0.1:0".into();
    let node = Arc::new(Node::new(
        App::open(config.clone(), ProgramRegistry::native()).unwrap(),
        Arc::new(Metrics::default()),
    ));
    (config, node)
}

/// Serves a node on a loopback port for the rest of the test process.
fn start(dir: &std::path::Path) -> std::net::SocketAddr {
    start_with(dir, 4, Duration::from_millis(IDLE_TIMEOUT_MS_DEFAULT))
}

fn start_with(dir: &std::path::Path, connections_max: u32, idle_timeout: Duration) -> std::net::SocketAddr {
    let (config, node) = open(dir);
    let limits = ServerLimits { connections_max, request_bytes_max: 1 << 20, idle_timeout };
    let server = Server::bind(&config.abci.listen, node, limits).unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.serve());
    addr
}

/// Talks to a node over a socket, or calls it in-process (`direct`), so
/// that a test can drop the node and reopen its directory.
struct Client {
    stream: Option<TcpStream>,
    direct: Option<Arc<Node>>,
}

impl Client {
    fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client { stream: Some(stream), direct: None }
    }

    fn direct(node: Arc<Node>) -> Client {
        Client { stream: None, direct: Some(node) }
    }

    fn send_raw(&mut self, frame: &[u8]) -> response::Value {
        self.stream.as_mut().unwrap().write_all(frame).unwrap();
        self.read()
    }

    fn call(&mut self, value: request::Value) -> response::Value {
        if let Some(node) = &self.direct {
            return node.handle(value);
        }
        let frame = Request { value: Some(value) }.encode_length_delimited_to_vec();
        self.send_raw(&frame)
    }

    fn read(&mut self) -> response::Value {
        let mut len = 0u64;
        for shift in (0..70).step_by(7) {
            let mut byte = [0u8];
            self.stream.as_mut().unwrap().read_exact(&mut byte).unwrap();
            len |= u64::from(byte[0] & 0x7f) << shift;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len as usize];
        self.stream.as_mut().unwrap().read_exact(&mut body).unwrap();
        Response::decode(body.as_slice()).unwrap().value.unwrap()
    }
}

fn transfer(from: u32, to: u32, nonce: u64) -> Vec<u8> {
    let id = |i| crate::account::AccountId(genesis_key(1, i).verifying_key().to_bytes());
    let mut t = workload::transfer(id(from), id(to), nonce, 5);
    tx::sign(&mut t, &genesis_key(1, from), &tx::ChainId::new(CHAIN).unwrap());
    t.encode()
}

fn init_chain_with(app_state: &str) -> request::Value {
    request::Value::InitChain(RequestInitChain {
        chain_id: CHAIN.into(),
        initial_height: 1,
        app_state_bytes: app_state.as_bytes().to_vec().into(),
        ..Default::default()
    })
}

fn init_chain() -> request::Value {
    init_chain_with(APP_STATE)
}

/// Sends InitChain and returns its response; any other answer (an
/// exception naming what failed, say) is the test's failure message.
fn initialize(client: &mut Client) -> tendermint_proto::v0_38::abci::ResponseInitChain {
    match client.call(init_chain()) {
        response::Value::InitChain(init) => init,
        other => panic!("InitChain was answered {other:?}"),
    }
}

fn check(client: &mut Client, tx: Vec<u8>) -> (u32, String) {
    match client.call(request::Value::CheckTx(RequestCheckTx { tx: tx.into(), r#type: 0 })) {
        response::Value::CheckTx(r) => (r.code, r.log),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_requests_get_exceptions_and_the_connection_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = Client::connect(start(dir.path()));
    assert!(matches!(client.send_raw(&[3, 0xff, 0xff, 0xff]), response::Value::Exception(_)));
    assert!(matches!(client.send_raw(&[0]), response::Value::Exception(_)), "empty request");
    let echo = client.call(request::Value::Echo(RequestEcho { message: "still here".into() }));
    assert!(matches!(echo, response::Value::Echo(e) if e.message == "still here"));
    // Calls before InitChain are refused by name, not by crashing.
    assert_eq!(check(&mut client, transfer(0, 1, 0)).0, CODE_NOT_INITIALIZED);
    // A frame over request_bytes_max: an exception, then the connection closes.
    let mut huge = Vec::new();
    prost::encoding::encode_varint(1 << 30, &mut huge);
    assert!(matches!(client.send_raw(&huge), response::Value::Exception(_)));
}

#[test]
fn abci_calls_follow_the_contract_and_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let genesis_root;
    let app_hash;
    {
        let mut client = Client::direct(open(dir.path()).1);
        let init = initialize(&mut client);
        genesis_root = init.app_hash.to_vec();
        assert_eq!(genesis_root.len(), 32);

        assert_eq!(check(&mut client, transfer(0, 1, 0)), (0, String::new()));
        let (code, log) = check(&mut client, transfer(0, 1, 0));
        assert_eq!((code, log.starts_with("bad_nonce")), (crate::exec::ExecError::BadNonce.code(), true), "{log}");
        assert_eq!(check(&mut client, transfer(0, 1, 1)).0, 0, "pending nonce advanced");
        assert_eq!(check(&mut client, vec![1, 2, 3]).0, CODE_DECODE);
        let mut forged = transfer(2, 1, 0);
        forged[0] ^= 1;
        let (code, log) = check(&mut client, forged.clone());
        assert_eq!(code, CODE_BAD_SIGNATURE, "{log}");

        let process = |client: &mut Client, txs: Vec<Vec<u8>>| match client.call(request::Value::ProcessProposal(
            RequestProcessProposal { txs: txs.into_iter().map(Into::into).collect(), height: 1, ..Default::default() },
        )) {
            response::Value::ProcessProposal(r) => r.status,
            other => panic!("{other:?}"),
        };
        assert_eq!(process(&mut client, vec![transfer(0, 1, 0), forged.clone()]), ProposalStatus::Reject as i32);
        assert_eq!(process(&mut client, vec![transfer(0, 1, 0)]), ProposalStatus::Accept as i32);

        let txs = vec![transfer(0, 1, 0), vec![9; 10], transfer(0, 1, 5)];
        let finalize =
            RequestFinalizeBlock { txs: txs.into_iter().map(Into::into).collect(), height: 1, ..Default::default() };
        let response::Value::FinalizeBlock(block) = client.call(request::Value::FinalizeBlock(finalize)) else {
            panic!()
        };
        let codes: Vec<u32> = block.tx_results.iter().map(|r| r.code).collect();
        assert_eq!(codes, vec![0, CODE_DECODE, crate::exec::ExecError::BadNonce.code()]);
        assert_eq!(block.tx_results[0].events[0].r#type, "transfer");
        app_hash = block.app_hash.to_vec();
        assert_ne!(app_hash, genesis_root);
        assert!(matches!(client.call(request::Value::Commit(Default::default())), response::Value::Commit(_)));
        // Commit reset the pending state: nonce 1 is next again, from committed state.
        assert_eq!(check(&mut client, transfer(0, 1, 1)).0, 0);
    }
    // Reopen the same directory: the store rebuilds the same state.
    let mut client = Client::connect(start(dir.path()));
    let response::Value::Info(info) = client.call(request::Value::Info(RequestInfo::default())) else { panic!() };
    assert_eq!((info.last_block_height, info.last_block_app_hash.to_vec()), (1, app_hash));
    // InitChain again with another genesis is refused: the store has one.
    let other = r#"{"seeded":{"seed":"2","accounts":10,"balance":"1000000000000"}}"#;
    assert!(matches!(client.call(init_chain_with(other)), response::Value::Exception(_)));
    let query = |client: &mut Client, path: String| match client
        .call(request::Value::Query(RequestQuery { path, ..Default::default() }))
    {
        response::Value::Query(q) => q,
        other => panic!("{other:?}"),
    };
    let sender = hex::encode(genesis_key(1, 0).verifying_key().to_bytes());
    let account = query(&mut client, format!("/account/{sender}"));
    let value: serde_json::Value = serde_json::from_slice(&account.value).unwrap();
    assert_eq!((account.code, value["nonce"].as_u64(), value["exists"].as_bool()), (0, Some(1), Some(true)));
    assert_eq!(value["balance"].as_u64(), Some(crate::state::GENESIS_BALANCE - 5 - workload::WORKLOAD_FEE));
    assert_eq!(query(&mut client, "/nope".into()).code, CODE_QUERY_BAD_PATH);
    assert_eq!(query(&mut client, "/account/zz".into()).code, CODE_QUERY_BAD_ID);
}

#[test]
fn a_bad_genesis_is_refused_by_json_path_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut client = Client::direct(open(dir.path()).1);
        let bad = r#"{"accounts":[{"id":"abcd","balance":"1"}]}"#;
        match client.call(init_chain_with(bad)) {
            response::Value::Exception(e) => {
                assert!(e.error.contains("app_state.accounts[0].id: bad_hex"), "{}", e.error)
            }
            other => panic!("{other:?}"),
        }
        match client.call(init_chain_with("")) {
            response::Value::Exception(e) => assert!(e.error.contains("app_state: missing"), "{}", e.error),
            other => panic!("{other:?}"),
        }
        assert_eq!(check(&mut client, transfer(0, 1, 0)).0, CODE_NOT_INITIALIZED, "no genesis was adopted");
    }
    // Nothing was written: the directory reopens uninitialised, and a
    // good genesis is still accepted.
    let mut client = Client::direct(open(dir.path()).1);
    initialize(&mut client);
    assert_eq!(check(&mut client, transfer(0, 1, 0)).0, 0);
}

/// Finalizes and commits one block of `txs` at `height`; returns the app hash.
fn commit_block(client: &mut Client, height: i64, txs: Vec<Vec<u8>>) -> Vec<u8> {
    let finalize =
        RequestFinalizeBlock { txs: txs.into_iter().map(Into::into).collect(), height, ..Default::default() };
    let response::Value::FinalizeBlock(block) = client.call(request::Value::FinalizeBlock(finalize)) else { panic!() };
    assert!(block.tx_results.iter().all(|r| r.code == 0), "{:?}", block.tx_results);
    assert!(matches!(client.call(request::Value::Commit(Default::default())), response::Value::Commit(_)));
    block.app_hash.to_vec()
}

/// A chain of `blocks` blocks of two transfers each, committed with a
/// snapshot every 2 blocks; returns the app hash after each block.
fn build_chain(client: &mut Client, blocks: u64) -> Vec<Vec<u8>> {
    initialize(client);
    (1..=blocks)
        .map(|height| commit_block(client, height as i64, vec![transfer(0, 1, height - 1), transfer(2, 3, height - 1)]))
        .collect()
}

fn info(client: &mut Client) -> (i64, Vec<u8>) {
    let response::Value::Info(info) = client.call(request::Value::Info(RequestInfo::default())) else { panic!() };
    (info.last_block_height, info.last_block_app_hash.to_vec())
}

#[test]
fn restart_rebuilds_from_the_newest_snapshot_without_re_executing() {
    let dir = tempfile::tempdir().unwrap();
    let hashes = build_chain(&mut Client::direct(open_with_interval(dir.path(), 2).1), 5);
    let (_, node) = open_with_interval(dir.path(), 2);
    let startup = node.describe().unwrap().startup.expect("the store held a chain");
    assert_eq!(startup.snapshot_height, Some(4), "the snapshot after block 4 is the newest");
    assert_eq!((startup.blocks_replayed, startup.txs_replayed), (1, 2), "only block 5's delta is applied");
    assert_eq!(node.metrics.startup_snapshot_height.load(std::sync::atomic::Ordering::Relaxed), 4);
    let mut client = Client::direct(node);
    assert_eq!(info(&mut client), (5, hashes[4].clone()));
    // The chain goes on from there, and the store is whole for the audits.
    commit_block(&mut client, 6, vec![transfer(0, 1, 5)]);
    drop(client);
    let verified = crate::persist::verify_store(dir.path()).unwrap();
    assert_eq!((verified.height, verified.txs), (6, 11));
    assert!(matches!(verified.origin, Some(crate::persist::StoreOrigin::AppState(_))));
    let replayed =
        crate::persist::replay_reexecute(dir.path(), crate::exec::ExecutorKind::Serial, &ProgramRegistry::native())
            .unwrap();
    assert_eq!((replayed.height, replayed.start_height), (6, 0));
}

#[test]
fn a_journal_of_an_earlier_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("chain")).unwrap();
    let mut config = NodeConfig::default();
    config.storage.data = Some(dir.path().to_path_buf());
    let error = App::open(config, ProgramRegistry::native()).err().expect("refused").to_string();
    assert!(error.contains("journal of an earlier sluice") && error.contains("new data directory"), "{error}");
}

mod statesync {
    use tendermint_proto::v0_38::abci::{
        response_apply_snapshot_chunk::Result as ApplyResult, response_offer_snapshot::Result as OfferResult,
        RequestApplySnapshotChunk, RequestListSnapshots, RequestLoadSnapshotChunk, RequestOfferSnapshot, Snapshot,
    };

    use super::*;

    fn list(client: &mut Client) -> Vec<Snapshot> {
        match client.call(request::Value::ListSnapshots(RequestListSnapshots {})) {
            response::Value::ListSnapshots(r) => r.snapshots,
            other => panic!("{other:?}"),
        }
    }

    fn offer(client: &mut Client, snapshot: &Snapshot, app_hash: &[u8]) -> i32 {
        let request = RequestOfferSnapshot { snapshot: Some(snapshot.clone()), app_hash: app_hash.to_vec().into() };
        match client.call(request::Value::OfferSnapshot(request)) {
            response::Value::OfferSnapshot(r) => r.result,
            other => panic!("{other:?}"),
        }
    }

    fn load(client: &mut Client, snapshot: &Snapshot, chunk: u32) -> Vec<u8> {
        let request = RequestLoadSnapshotChunk { height: snapshot.height, format: snapshot.format, chunk };
        match client.call(request::Value::LoadSnapshotChunk(request)) {
            response::Value::LoadSnapshotChunk(r) => r.chunk.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    fn apply(
        client: &mut Client,
        index: u32,
        chunk: Vec<u8>,
    ) -> tendermint_proto::v0_38::abci::ResponseApplySnapshotChunk {
        let request = RequestApplySnapshotChunk { index, chunk: chunk.into(), sender: "peer-a".into() };
        match client.call(request::Value::ApplySnapshotChunk(request)) {
            response::Value::ApplySnapshotChunk(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fresh_node_restores_a_served_snapshot_and_follows_the_chain() {
        let served = tempfile::tempdir().unwrap();
        let mut server = Client::direct(open_with_interval(served.path(), 2).1);
        let hashes = build_chain(&mut server, 5);
        let snapshots = list(&mut server);
        assert_eq!(snapshots.iter().map(|s| s.height).collect::<Vec<_>>(), vec![4, 2], "newest first");
        let snapshot = &snapshots[0];
        assert_eq!((snapshot.format, snapshot.chunks), (super::super::statesync::SNAPSHOT_FORMAT, 1));

        let fresh = tempfile::tempdir().unwrap();
        let mut joiner = Client::direct(open_with_interval(fresh.path(), 2).1);
        assert_eq!(offer(&mut joiner, snapshot, &hashes[2]), OfferResult::Reject as i32, "not the trusted hash");
        assert_eq!(offer(&mut joiner, snapshot, &hashes[3]), OfferResult::Accept as i32);
        let chunk = load(&mut server, snapshot, 0);
        assert!(load(&mut server, snapshot, 1).is_empty(), "no such chunk");

        // A corrupted chunk is refetched from someone else, never applied.
        let mut corrupted = chunk.clone();
        corrupted[chunk.len() / 2] ^= 0x40;
        let response = apply(&mut joiner, 0, corrupted);
        assert_eq!(response.result, ApplyResult::Retry as i32);
        assert_eq!((response.refetch_chunks, response.reject_senders), (vec![0], vec!["peer-a".to_string()]));
        assert_eq!(info(&mut joiner), (0, Vec::new()), "nothing restored yet");

        assert_eq!(apply(&mut joiner, 0, chunk.clone()).result, ApplyResult::Accept as i32);
        assert_eq!(info(&mut joiner), (4, hashes[3].clone()), "what CometBFT checks after the restore");
        // Only an origin so far: had the node died before CometBFT recorded
        // the restore, CometBFT would state-sync again, and may.
        assert_eq!(offer(&mut joiner, snapshot, &hashes[3]), OfferResult::Accept as i32, "an origin alone");
        assert_eq!(apply(&mut joiner, 0, chunk).result, ApplyResult::Accept as i32, "the store is replaced");
        assert_eq!(info(&mut joiner), (4, hashes[3].clone()));

        // Block 5 on the joiner gives the chain's app hash; it survives a restart.
        let block5 = vec![transfer(0, 1, 4), transfer(2, 3, 4)];
        assert_eq!(commit_block(&mut joiner, 5, block5), hashes[4]);
        assert_eq!(offer(&mut joiner, snapshot, &hashes[3]), OfferResult::Abort as i32, "holds blocks now");
        drop(joiner);
        let (_, node) = open_with_interval(fresh.path(), 2);
        let startup = node.describe().unwrap().startup.unwrap();
        assert_eq!((startup.snapshot_height, startup.blocks_replayed), (Some(4), 1));
        let mut joiner = Client::direct(node);
        assert_eq!(info(&mut joiner), (5, hashes[4].clone()));
        drop(joiner);

        // The audits work on a restored store: they start at its base.
        let verified = crate::persist::verify_store(fresh.path()).unwrap();
        assert_eq!((verified.height, verified.txs), (5, 2));
        assert!(matches!(verified.origin, Some(crate::persist::StoreOrigin::Restored(ref base)) if base.height == 4));
        let replayed = crate::persist::replay_reexecute(
            fresh.path(),
            crate::exec::ExecutorKind::Serial,
            &ProgramRegistry::native(),
        )
        .unwrap();
        assert_eq!((replayed.start_height, replayed.height, replayed.blocks), (4, 5, 1));
        let deltas = crate::persist::replay_from_deltas(fresh.path(), Default::default()).unwrap();
        assert_eq!(deltas.state_root.to_vec(), hashes[4]);
    }

    #[test]
    fn a_snapshot_whose_state_is_not_the_trusted_one_is_rejected_whole() {
        let served = tempfile::tempdir().unwrap();
        let mut server = Client::direct(open_with_interval(served.path(), 2).1);
        let hashes = build_chain(&mut server, 2);
        let snapshot = list(&mut server).remove(0);
        let mut chunk = load(&mut server, &snapshot, 0);
        // A lying server: one balance changed, and the metadata and hash
        // recomputed to match it, so only the state root can tell.
        let balance_at = chunk.len() - 20; // in the last account: id 32, then balance
        chunk[balance_at] ^= 1;
        let mut metadata = super::super::statesync::SnapshotMetadata::decode(&snapshot.metadata).unwrap();
        metadata.chunk_hashes = vec![*blake3::hash(&chunk).as_bytes()];
        let forged = Snapshot {
            hash: blake3::hash(&chunk).as_bytes().to_vec().into(),
            metadata: metadata.encode().into(),
            ..snapshot.clone()
        };
        let fresh = tempfile::tempdir().unwrap();
        let mut joiner = Client::direct(open_with_interval(fresh.path(), 2).1);
        assert_eq!(offer(&mut joiner, &forged, &hashes[1]), OfferResult::Accept as i32);
        assert_eq!(apply(&mut joiner, 0, chunk).result, ApplyResult::RejectSnapshot as i32);
        assert_eq!(info(&mut joiner), (0, Vec::new()));
        assert!(!fresh.path().join("log").exists(), "nothing is written for a rejected snapshot");
        // A chunk with no offer in progress is refused, not applied.
        assert_eq!(apply(&mut joiner, 0, vec![1, 2, 3]).result, ApplyResult::RejectSnapshot as i32);
        // Garbage metadata and a foreign format are refused by the offer.
        let garbage = Snapshot { metadata: vec![1, 2, 3].into(), ..snapshot.clone() };
        assert_eq!(offer(&mut joiner, &garbage, &hashes[1]), OfferResult::Reject as i32);
        let foreign = Snapshot { format: 7, ..snapshot };
        assert_eq!(offer(&mut joiner, &foreign, &hashes[1]), OfferResult::RejectFormat as i32);
    }
}

#[test]
fn a_block_whose_record_would_not_fit_commits_its_prefix_and_names_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (_, node) = open(dir.path());
    let mut client = Client::direct(node.clone());
    initialize(&mut client);
    // Room for about two transfers with their delta (3 accounts of 52 bytes
    // for the first, 2 more for the second) but not four.
    let one_transfer = crate::persist::block_record_bytes(&[transfer(0, 1, 0)], &Vec::new()) as u64;
    node.limit_block_records(one_transfer * 2 + 5 * 52);
    let txs = vec![transfer(0, 1, 0), transfer(2, 3, 0), transfer(4, 5, 0), transfer(6, 7, 0)];
    let finalize =
        RequestFinalizeBlock { txs: txs.into_iter().map(Into::into).collect(), height: 1, ..Default::default() };
    let response::Value::FinalizeBlock(block) = client.call(request::Value::FinalizeBlock(finalize)) else { panic!() };
    let codes: Vec<u32> = block.tx_results.iter().map(|r| r.code).collect();
    assert_eq!(codes, vec![0, 0, CODE_BLOCK_FULL, CODE_BLOCK_FULL], "halved once: the first two fit");
    assert!(block.tx_results[2].log.starts_with("block_full"));
    assert!(matches!(client.call(request::Value::Commit(Default::default())), response::Value::Commit(_)));
    // The cut transactions changed nothing: signer 4 can still send nonce 0.
    assert_eq!(check(&mut client, transfer(4, 5, 0)).0, 0);
    drop(client);
    let verified = crate::persist::verify_store(dir.path()).unwrap();
    assert_eq!((verified.height, verified.txs), (1, 2));
}

/// The app-owned pool through one block: ingest admits in order and
/// names each refusal, PrepareProposal takes the pool's prefix,
/// FinalizeBlock and Commit empty the pool of what the block included,
/// and Query `/tx/<hash>` answers each committed result.
#[test]
fn the_pool_fills_a_block_and_commit_empties_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, node) = open(dir.path());
    let mut client = Client::direct(node.clone());
    initialize(&mut client);
    let good = [transfer(0, 1, 0), transfer(0, 1, 1), transfer(2, 1, 0)];
    let mut forged = transfer(3, 1, 0);
    forged[0] ^= 1;
    let offered =
        vec![good[0].clone(), vec![7; 9], good[1].clone(), good[1].clone(), forged, transfer(4, 1, 3), good[2].clone()];
    let outcome = node.ingest(offered);
    let codes: Vec<u32> = outcome.verdicts.iter().map(|v| v.as_ref().map_or_else(|(code, _)| *code, |()| 0)).collect();
    let bad_nonce = crate::exec::ExecError::BadNonce.code();
    assert_eq!(codes, vec![0, CODE_DECODE, 0, CODE_DUPLICATE, CODE_BAD_SIGNATURE, bad_nonce, 0]);
    assert_eq!((outcome.pool_txs, node.pool_status().txs), (3, 3));

    let prepare = request::Value::PrepareProposal(tendermint_proto::v0_38::abci::RequestPrepareProposal {
        max_tx_bytes: 1 << 20,
        height: 1,
        ..Default::default()
    });
    let response::Value::PrepareProposal(proposal) = client.call(prepare) else { panic!() };
    let proposed: Vec<Vec<u8>> = proposal.txs.iter().map(|tx| tx.to_vec()).collect();
    assert_eq!(proposed, good.to_vec(), "the pool's prefix, in admission order");
    let finalize = RequestFinalizeBlock { txs: proposal.txs, height: 1, ..Default::default() };
    let response::Value::FinalizeBlock(block) = client.call(request::Value::FinalizeBlock(finalize)) else { panic!() };
    assert!(block.tx_results.iter().all(|r| r.code == 0));
    assert_eq!(node.pool_status().txs, 3, "nothing leaves the pool before Commit");
    client.call(request::Value::Commit(Default::default()));
    assert_eq!(node.pool_status().txs, 0);

    let query = |client: &mut Client, path: String| match client
        .call(request::Value::Query(RequestQuery { path, ..Default::default() }))
    {
        response::Value::Query(q) => q,
        other => panic!("{other:?}"),
    };
    let hash = hex::encode_upper(tx::comet_tx_hash(&good[1]));
    let found = query(&mut client, format!("/tx/{hash}"));
    let status: serde_json::Value = serde_json::from_slice(&found.value).unwrap();
    assert_eq!((found.code, status["height"].as_u64(), status["index"].as_u64()), (0, Some(1), Some(1)), "{status}");
    assert_eq!(status["hash"].as_str(), Some(hash.as_str()));
    assert_eq!(query(&mut client, format!("/tx/{}", "00".repeat(32))).code, CODE_QUERY_TX_NOT_FOUND);
    assert_eq!(query(&mut client, "/tx/xyz".into()).code, CODE_QUERY_BAD_TX_HASH);
    // Nonce 2 is next for account 0 now that 0 and 1 committed.
    assert_eq!(node.ingest(vec![transfer(0, 1, 2)]).verdicts, vec![Ok(())]);
}

fn echo(client: &mut Client, message: &str) {
    let echo = client.call(request::Value::Echo(RequestEcho { message: message.into() }));
    assert!(matches!(&echo, response::Value::Echo(e) if e.message == message), "{echo:?}");
}

/// Whether the server closed `stream`: waits (generously) for its end.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    match stream.read(&mut [0u8; 1]) {
        Ok(n) => n == 0,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

/// The issue-17 lockout: `connections_max` idle connections (silent, or
/// quiet after one Echo) no longer keep a new connection out. It waits
/// until one has been idle `idle_timeout`, which is then closed.
#[test]
fn idle_connections_are_evicted_so_a_new_connection_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_with(dir.path(), 4, Duration::from_millis(200));
    let mut silent: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut quiet: Vec<Client> = (0..2).map(|_| Client::connect(addr)).collect();
    for client in &mut quiet {
        echo(client, "then idle");
    }
    // CometBFT connecting again: its handshake's Info, then an Echo.
    let mut newcomers: Vec<Client> = Vec::new();
    for _ in 0..2 {
        let mut cometbft = Client::connect(addr);
        assert!(matches!(cometbft.call(request::Value::Info(RequestInfo::default())), response::Value::Info(_)));
        echo(&mut cometbft, "served");
        newcomers.push(cometbft);
    }
    // The two evicted were the connections idle the longest: the silent ones.
    assert!(silent.iter_mut().all(closed_by_server));
    for client in &mut quiet {
        echo(client, "still served");
    }
}

/// CometBFT's own four connections (recognised by the consensus request
/// on the fourth) are never evicted, though two of them never send a
/// request: the others are, the longest idle first.
#[test]
fn cometbft_connections_are_never_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_with(dir.path(), 6, Duration::from_millis(200));
    // Opened as CometBFT opens them: query, snapshot, mempool, consensus.
    let mut cometbft: Vec<Client> = (0..4).map(|_| Client::connect(addr)).collect();
    assert!(matches!(cometbft[0].call(request::Value::Info(RequestInfo::default())), response::Value::Info(_)));
    initialize(&mut cometbft[3]);
    let mut others: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Full. Each newcomer evicts the connection idle the longest that is
    // not CometBFT's, even though CometBFT's snapshot and mempool
    // connections have been idle longer.
    let mut newcomers: Vec<Client> = Vec::new();
    for i in 0..3 {
        let mut newcomer = Client::connect(addr);
        echo(&mut newcomer, &format!("newcomer {i}"));
        newcomers.push(newcomer);
    }
    assert!(others.iter_mut().all(closed_by_server));
    assert!(closed_by_server(newcomers[0].stream.as_mut().unwrap()), "then the newcomer idle the longest");
    for (i, client) in cometbft.iter_mut().enumerate() {
        echo(client, &format!("cometbft {i} still served"));
    }
    echo(&mut newcomers[2], "the newest still served");
}

/// With every slot held by CometBFT, a newcomer waits `idle_timeout` for
/// a slot, then is closed, and CometBFT is untouched.
#[test]
fn a_newcomer_is_closed_when_only_cometbft_holds_the_slots() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_with(dir.path(), 4, Duration::from_millis(200));
    let mut cometbft: Vec<Client> = (0..4).map(|_| Client::connect(addr)).collect();
    initialize(&mut cometbft[3]);
    let mut newcomer = TcpStream::connect(addr).unwrap();
    let frame = Request { value: Some(request::Value::Echo(RequestEcho { message: "in?".into() })) }
        .encode_length_delimited_to_vec();
    let _ = newcomer.write_all(&frame);
    assert!(closed_by_server(&mut newcomer));
    for (i, client) in cometbft.iter_mut().enumerate() {
        echo(client, &format!("cometbft {i} still served"));
    }
}

/// A signed transfer of 1 from genesis account `from` to `to`, padded to
/// exactly `len` bytes with what the system program ignores: read-only
/// accounts (33 bytes each), transfers of 0 (16 bytes each) and extra
/// account indices (1 byte each).
fn transfer_of_len(key: &ed25519_dalek::SigningKey, to: u32, nonce: u64, len: usize) -> Vec<u8> {
    use crate::account::AccountId;
    let recipient = AccountId(genesis_key(1, to).verifying_key().to_bytes());
    let mut t = workload::transfer(AccountId(key.verifying_key().to_bytes()), recipient, nonce, 1);
    let mut rest = len - t.encode().len();
    let mut padding = (rest / 33).min(tx::ACCOUNTS_PER_TX_MAX - t.accounts.len());
    if (rest - 33 * padding) % 16 == 15 && (rest - 33 * padding) < 16 {
        padding -= 1; // 15 extra indices do not fit the first instruction alone
    }
    rest -= 33 * padding;
    for k in 0..padding {
        t.accounts.push(tx::AccountMeta { id: AccountId([0xa0 + k as u8; 32]), writable: false });
    }
    let transfer = t.instructions[0].clone();
    let zero = tx::Instruction { data: crate::program::system::transfer_data(0), ..transfer };
    for _ in 0..rest / 16 {
        t.instructions.push(zero.clone());
    }
    for extra in 0..rest % 16 {
        let count = t.instructions.len();
        t.instructions[extra % count].accounts.push(0);
    }
    tx::sign(&mut t, key, &tx::ChainId::new(CHAIN).unwrap());
    t.validate().expect("within every wire limit");
    let bytes = t.encode();
    assert_eq!(bytes.len(), len);
    bytes
}

fn prepare(client: &mut Client, txs: &[Vec<u8>], max_tx_bytes: i64) -> Vec<Vec<u8>> {
    let request = tendermint_proto::v0_38::abci::RequestPrepareProposal {
        txs: txs.iter().cloned().map(Into::into).collect(),
        max_tx_bytes,
        height: 1,
        ..Default::default()
    };
    match client.call(request::Value::PrepareProposal(request)) {
        response::Value::PrepareProposal(r) => r.txs.iter().map(|tx| tx.to_vec()).collect(),
        other => panic!("{other:?}"),
    }
}

fn process(client: &mut Client, txs: &[Vec<u8>]) -> i32 {
    let request =
        RequestProcessProposal { txs: txs.iter().cloned().map(Into::into).collect(), height: 1, ..Default::default() };
    match client.call(request::Value::ProcessProposal(request)) {
        response::Value::ProcessProposal(r) => r.status,
        other => panic!("{other:?}"),
    }
}

/// Issue 17: a block at the byte bound, of the largest transactions,
/// goes through PrepareProposal, ProcessProposal, FinalizeBlock and
/// Commit, and reads back whole; one byte more, or one transaction over
/// `BLOCK_TXS_MAX`, is refused by name before anything of it runs.
#[test]
fn a_block_at_the_byte_bound_commits_and_one_byte_more_is_refused_by_name() {
    use crate::block::{BLOCK_TXS_MAX, BLOCK_TX_BYTES_MAX};
    use crate::tx::TX_BYTES_MAX;
    let dir = tempfile::tempdir().unwrap();
    let (_, node) = open(dir.path());
    let mut client = Client::direct(node.clone());
    initialize(&mut client);
    let keys: Vec<_> = (0..10).map(|i| genesis_key(1, i)).collect();
    let tx_at = |i: usize, len: usize| transfer_of_len(&keys[i % 10], (i as u32 + 1) % 10, (i / 10) as u64, len);
    // 13,617 transactions of TX_BYTES_MAX, then one of the 1,072 bytes left.
    let largest = BLOCK_TX_BYTES_MAX / TX_BYTES_MAX;
    let last = BLOCK_TX_BYTES_MAX - largest * TX_BYTES_MAX;
    let mut txs: Vec<Vec<u8>> = (0..largest).map(|i| tx_at(i, TX_BYTES_MAX)).collect();
    txs.push(tx_at(largest, last));
    assert_eq!(txs.iter().map(Vec::len).sum::<usize>(), BLOCK_TX_BYTES_MAX);
    let mut over = txs.clone();
    *over.last_mut().unwrap() = tx_at(largest, last + 1);

    // One byte over: refused by name, and never proposed.
    let refusal = node.check_proposal(&over).unwrap().unwrap_err().to_string();
    assert!(refusal.starts_with(&format!("block_too_large: {} bytes", BLOCK_TX_BYTES_MAX + 1)), "{refusal}");
    assert_eq!(process(&mut client, &over), ProposalStatus::Reject as i32);
    let cometbft_max_bytes = 22_020_096; // CometBFT's default block max_bytes, 21 MiB
    let proposed = prepare(&mut client, &over, cometbft_max_bytes);
    assert!(proposed == txs[..largest], "PrepareProposal stops before the transaction that is over");
    // One transaction over BLOCK_TXS_MAX: refused by name, whatever its bytes.
    let many = vec![transfer(0, 1, 0); BLOCK_TXS_MAX + 1];
    let refusal = node.check_proposal(&many).unwrap().unwrap_err().to_string();
    assert!(refusal.starts_with(&format!("block_too_many_txs: {}", BLOCK_TXS_MAX + 1)), "{refusal}");
    assert_eq!(process(&mut client, &many), ProposalStatus::Reject as i32);
    drop(many);

    // At the bound: proposed whole, accepted, executed whole, committed.
    assert!(prepare(&mut client, &txs, cometbft_max_bytes) == txs, "proposed whole");
    assert_eq!(node.check_proposal(&txs).unwrap(), Ok(()));
    assert_eq!(process(&mut client, &txs), ProposalStatus::Accept as i32);
    let app_hash = commit_block(&mut client, 1, txs.clone());
    drop(client);
    drop(node);

    // It reads back: the record holds every transaction, within the limits,
    // and the store reopens at the block's app hash.
    let verified = crate::persist::verify_store(dir.path()).unwrap();
    assert_eq!((verified.height, verified.txs), (1, txs.len() as u64));
    let reader = sluice_storage::LogReader::open(dir.path().join(crate::persist::LOG_DIR_NAME)).unwrap();
    let record = reader.records().nth(1).expect("the block record").unwrap();
    let block = crate::persist::decode_block_record(&record.payload).unwrap();
    assert!(block.txs == txs, "the record holds the block's transactions, in order");
    let body = crate::persist::codec::block_record_body_bytes(txs.len(), BLOCK_TX_BYTES_MAX);
    assert!(record.payload.len() > body, "the delta comes on top of the body");
    assert!(record.payload.len() as u64 <= crate::persist::store::BLOCK_RECORD_BYTES_MAX);
    let mut client = Client::direct(open(dir.path()).1);
    assert_eq!(info(&mut client), (1, app_hash));
}
