//! Idle ABCI connections under a real CometBFT 0.38 (issue 17, item 3).
//!
//! The node's free connection slots are filled with clients that connect
//! and send nothing, then newcomers keep arriving. Each newcomer must be
//! served, by evicting the connection idle the longest, and none of
//! CometBFT's four may be evicted although, under `mempool.type = "nop"`,
//! its snapshot and mempool connections never send a request and so are
//! the longest idle of all: CometBFT does not reconnect, so one eviction
//! would stop the chain. Skips like tests/tests/chain_node.rs when no
//! `cometbft` binary is found. No assertion depends on timing: deadlines
//! only bound the waits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sluice_tests::cometbft::{cometbft_or_skip, wait_for, Localnet, START_TIMEOUT};

const BASE_PORT: u16 = 21900;
const CONNECTIONS_MAX: usize = 8;

/// An ABCI `Request{echo: RequestEcho{message: "hi"}}`, varint-framed,
/// and the `Response{echo: ResponseEcho{message: "hi"}}` it must get:
/// protobuf by hand, since this crate does not depend on the ABCI types.
const ECHO_REQUEST: [u8; 7] = [6, 0x0a, 4, 0x0a, 2, b'h', b'i'];
const ECHO_RESPONSE: [u8; 7] = [6, 0x12, 4, 0x0a, 2, b'h', b'i'];

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node's ABCI port");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
}

fn echo(stream: &mut TcpStream) -> Result<(), String> {
    stream.write_all(&ECHO_REQUEST).map_err(|e| format!("write: {e}"))?;
    let mut response = [0u8; ECHO_RESPONSE.len()];
    stream.read_exact(&mut response).map_err(|e| format!("read: {e}"))?;
    if response != ECHO_RESPONSE {
        return Err(format!("unexpected response {response:?}"));
    }
    Ok(())
}

/// Whether the node closed `stream` (waits at most its read timeout).
fn closed_by_node(stream: &mut TcpStream) -> bool {
    match stream.read(&mut [0u8; 1]) {
        Ok(n) => n == 0,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn idle_clients_neither_lock_cometbft_out_nor_evict_its_connections() {
    let Some(cometbft) = cometbft_or_skip("chain_idle") else { return };
    let mut localnet = Localnet::create_with_env(&cometbft, 1, BASE_PORT, &[("INGEST", "1")]);
    let config = localnet.validators[0].home.join("sluice.toml");
    let text = std::fs::read_to_string(&config).expect("sluice.toml");
    assert!(text.starts_with("[abci]\n"), "{text}");
    let limits = format!("[abci]\nconnections_max = {CONNECTIONS_MAX}\nidle_timeout_ms = 300\n");
    std::fs::write(&config, text.replacen("[abci]\n", &limits, 1)).unwrap();
    localnet.start_all();
    let validator = &localnet.validators[0];
    let abci_port = BASE_PORT + 2;

    // CometBFT holds 4 slots; silent clients take the rest.
    let mut idle: Vec<TcpStream> = (0..CONNECTIONS_MAX - 4).map(|_| connect(abci_port)).collect();
    // Twice as many newcomers as there are idle clients: each is served,
    // and once the idle clients are gone, the oldest newcomers go.
    let mut newcomers = Vec::new();
    for i in 0..2 * idle.len() {
        let mut newcomer = connect(abci_port);
        echo(&mut newcomer).unwrap_or_else(|e| panic!("newcomer {i} not served: {e}\n{}", validator.logs()));
        newcomers.push(newcomer);
    }
    assert!(idle.iter_mut().all(closed_by_node), "the idle clients were evicted\n{}", validator.logs());

    // CometBFT kept all four connections: it still commits blocks (it
    // stops itself when one of them closes).
    let height = validator.height().expect("height");
    wait_for("three more blocks", START_TIMEOUT, || validator.height().filter(|h| *h >= height + 3))
        .unwrap_or_else(|e| panic!("{e}\n{}", validator.logs()));
    let cometbft_log = std::fs::read_to_string(validator.home.join("cometbft.log")).unwrap_or_default();
    assert!(!cometbft_log.contains("connection terminated"), "{}", validator.logs());
    let sluice_log = std::fs::read_to_string(validator.home.join("sluice.log")).unwrap_or_default();
    assert!(sluice_log.contains("closed the connection idle the longest"), "{}", validator.logs());
    // The newest newcomer is still served.
    echo(newcomers.last_mut().unwrap()).unwrap_or_else(|e| panic!("{e}\n{}", validator.logs()));
}
