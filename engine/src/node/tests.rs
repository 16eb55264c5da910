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
use super::metrics::Metrics;
use super::server::Server;
use super::*;
use crate::program::ProgramRegistry;
use crate::state::genesis_key;
use crate::tx;
use crate::workload;

const CHAIN: &str = "sluice-test";

/// The genesis of these tests: ten accounts seeded from seed 1.
const APP_STATE: &str = r#"{"seeded":{"seed":"1","accounts":10,"balance":"1000000000000"}}"#;

fn open(dir: &std::path::Path) -> (NodeConfig, Arc<Node>) {
    let mut config = NodeConfig::default();
    config.storage.data = Some(dir.to_path_buf());
    config.abci.listen = "127.0.0.1:0".into();
    let node = Arc::new(Node::new(
        App::open(config.clone(), ProgramRegistry::native()).unwrap(),
        Arc::new(Metrics::default()),
    ));
    (config, node)
}

/// Serves a node on a loopback port for the rest of the test process.
fn start(dir: &std::path::Path) -> std::net::SocketAddr {
    let (config, node) = open(dir);
    let server = Server::bind(&config.abci.listen, node, 4, 1 << 20).unwrap();
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
        let response::Value::InitChain(init) = client.call(init_chain()) else { panic!() };
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
    // Reopen the same directory: the journal replays to the same state.
    let mut client = Client::connect(start(dir.path()));
    let response::Value::Info(info) = client.call(request::Value::Info(RequestInfo::default())) else { panic!() };
    assert_eq!((info.last_block_height, info.last_block_app_hash.to_vec()), (1, app_hash));
    // InitChain again with another genesis is refused: the journal has one.
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
    // Nothing was journaled: the directory reopens uninitialised, and a
    // good genesis is still accepted.
    let mut client = Client::direct(open(dir.path()).1);
    assert!(matches!(client.call(init_chain()), response::Value::InitChain(_)));
    assert_eq!(check(&mut client, transfer(0, 1, 0)).0, 0);
}
