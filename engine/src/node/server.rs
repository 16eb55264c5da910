//! ABCI socket server: CometBFT's wire protocol over TCP.
//!
//! Each message is a protobuf `Request`/`Response` (tendermint-proto,
//! `v0_38`) preceded by its length as an unsigned varint. CometBFT opens
//! four connections (consensus, mempool, info, snapshot) and pipelines
//! requests on each, expecting responses in order, so each connection is
//! served by its own thread, one request at a time.
//!
//! Robustness rules:
//!
//! - A frame that does not decode, or decodes to an empty request, gets an
//!   `Exception` response and the connection goes on.
//! - A frame longer than `request_bytes_max` gets an `Exception`, then the
//!   connection is closed: its bytes cannot be skipped without reading them.
//! - At most `connections_max` connections are served. A connection that
//!   arrives when all are taken waits (unread, at most `idle_timeout`) for
//!   one to close or to become evictable; the evicted one is the connection
//!   idle the longest, if it has been idle at least `idle_timeout`, and
//!   never one of CometBFT's own (below). If none becomes evictable in
//!   time, the new connection is closed.
//! - Responses are flushed when no further request is already buffered,
//!   which batches pipelined CheckTx responses and never leaves a response
//!   unsent while the peer waits.
//!
//! Why idle connections are evicted, not timed out: CometBFT 0.38 never
//! reconnects an ABCI connection. If one of its four is closed, CometBFT
//! stops itself, and the chain with it. And two of the four may stay
//! silent for the node's whole life: the snapshot connection carries
//! requests only while a peer state-syncs from this node, the mempool
//! connection none at all under `mempool.type = "nop"`, and CometBFT sends
//! no Echo or Flush to keep them alive. So a read timeout, or an eviction
//! that only prefers connections which have never completed a request,
//! would sooner or later close one of CometBFT's and halt the chain. A
//! connection is therefore closed only when a newcomer needs its slot, and
//! CometBFT's current four are never chosen. They are recognised by the
//! order CometBFT opens them in (query, snapshot, mempool, consensus, one
//! after the other at its start, `proxy/multi_app_conn.go`) and by the
//! requests that only CometBFT's consensus connection (InitChain,
//! PrepareProposal, ProcessProposal, ExtendVote, VerifyVoteExtension,
//! FinalizeBlock, Commit) or its state-sync restore (OfferSnapshot,
//! ApplySnapshotChunk, on the snapshot connection) sends: the connection
//! that sends one, and the three accepted around it in that order, are
//! protected. A newer CometBFT (a restart) moves the protection to its own
//! four, so the connections a dead one left half-open become evictable.
//! What is left: before CometBFT's first such request (normally within a
//! second of its start: the handshake's InitChain or replay, or the first
//! block) its four are not yet protected, and a client connecting in the
//! same instant as CometBFT's four can shift the window by one.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prost::Message;
use tendermint_proto::v0_38::abci::{request, response, Request, Response};

use super::app::Node;
use super::config::AbciConfig;
use crate::limits::VARINT_BYTES_MAX;

const SOCKET_BUFFER_BYTES: usize = 256 * 1024;
/// CometBFT's ABCI connections, in the order it opens them.
const COMETBFT_CONNECTIONS: u64 = 4;
/// Positions in that order: query 0, snapshot 1, mempool 2, consensus 3.
const SNAPSHOT_POSITION: u64 = 1;
const CONSENSUS_POSITION: u64 = 3;

/// The server's limits: `[abci]` in the node config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub connections_max: u32,
    pub request_bytes_max: u64,
    /// How long a connection must have been idle before a newcomer may
    /// evict it, and so also the longest a newcomer waits for a slot.
    pub idle_timeout: Duration,
}

impl ServerLimits {
    pub fn from_config(abci: &AbciConfig) -> ServerLimits {
        ServerLimits {
            connections_max: abci.connections_max,
            request_bytes_max: abci.request_bytes_max,
            idle_timeout: Duration::from_millis(abci.idle_timeout_ms),
        }
    }
}

pub struct Server {
    listener: TcpListener,
    node: Arc<Node>,
    limits: ServerLimits,
}

impl Server {
    pub fn bind(addr: &str, node: Arc<Node>, limits: ServerLimits) -> Result<Server, ServerError> {
        assert!(limits.connections_max > 0 && limits.request_bytes_max > 0);
        let listener =
            TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr: addr.to_string(), source })?;
        Ok(Server { listener, node, limits })
    }

    pub fn local_addr(&self) -> Result<std::net::SocketAddr, ServerError> {
        self.listener.local_addr().map_err(ServerError::LocalAddr)
    }

    /// Serves until the process exits.
    pub fn serve(self) -> Result<(), ServerError> {
        let connections = Arc::new(Connections::new(self.limits));
        for stream in self.listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "abci accept failed");
                    continue;
                }
            };
            // Blocks this loop (later connections wait in the listen
            // backlog) for at most idle_timeout.
            let id = match connections.admit(&stream) {
                Ok(id) => id,
                Err(reason) => {
                    tracing::warn!(
                        connections_max = self.limits.connections_max,
                        idle_timeout_ms = self.limits.idle_timeout.as_millis() as u64,
                        "{reason}: closing new connection"
                    );
                    continue;
                }
            };
            let node = self.node.clone();
            let slot = Slot { connections: connections.clone(), id };
            let request_bytes_max = self.limits.request_bytes_max;
            // If the thread cannot start, the closure and the slot in it are
            // dropped here, which releases the slot.
            let spawned = std::thread::Builder::new().name("sluice-abci".into()).spawn(move || {
                if let Err(e) = serve_connection(stream, &node, request_bytes_max, &slot.connections, slot.id) {
                    tracing::warn!(error = %e, "abci connection closed");
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "abci: cannot start a connection thread");
            }
        }
        Ok(())
    }
}

/// A connection's place in the table, released when its thread ends: by
/// return, or by a panic unwinding through it. The table holds a clone of
/// the socket, so without this a handler that panicked would leave the
/// socket open and the peer (CometBFT) waiting for an answer forever,
/// where it must see the connection close and stop.
struct Slot {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.release(self.id);
    }
}

/// The open connections, shared by the accept loop and their threads.
struct Connections {
    table: Mutex<Table>,
    /// Signalled when a connection closes or finishes a request.
    changed: Condvar,
    limits: ServerLimits,
}

#[derive(Default)]
struct Table {
    /// By accept number: connections served, in the order accepted.
    open: BTreeMap<u64, Open>,
    next_id: u64,
    /// Accept number of the first of the newest CometBFT's four
    /// connections, once one of them has sent a request only CometBFT
    /// sends.
    cometbft_first: Option<u64>,
}

struct Open {
    /// A clone of the connection's socket, to shut it down on eviction.
    stream: TcpStream,
    peer: Option<SocketAddr>,
    /// When the connection was accepted or last answered a request;
    /// `None` while a request is being handled.
    idle_since: Option<Instant>,
}

impl Table {
    fn protected(&self, id: u64) -> bool {
        self.cometbft_first.is_some_and(|first| (first..first + COMETBFT_CONNECTIONS).contains(&id))
    }

    /// Idle connections a newcomer may evict, with when each became idle.
    fn evictable(&self) -> impl Iterator<Item = (u64, Instant)> + '_ {
        self.open
            .iter()
            .filter(|(id, _)| !self.protected(**id))
            .filter_map(|(id, open)| open.idle_since.map(|since| (*id, since)))
    }
}

impl Connections {
    fn new(limits: ServerLimits) -> Connections {
        Connections { table: Mutex::new(Table::default()), changed: Condvar::new(), limits }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new connection: a free one, or the slot of the
    /// evictable connection idle the longest once it has been idle
    /// `idle_timeout`. Waits at most `idle_timeout` for one; an error:
    /// the new connection must be closed, for that reason.
    fn admit(&self, stream: &TcpStream) -> Result<u64, ServerError> {
        let clone = stream.try_clone().map_err(ServerError::Track)?;
        let deadline = Instant::now() + self.limits.idle_timeout;
        let mut table = self.lock();
        let mut waited = false;
        loop {
            let now = Instant::now();
            if table.open.len() >= self.limits.connections_max as usize {
                let oldest = table.evictable().min_by_key(|(_, since)| *since);
                match oldest {
                    Some((victim, since)) if now.duration_since(since) >= self.limits.idle_timeout => {
                        let evicted = table.open.remove(&victim).expect("listed");
                        let _ = evicted.stream.shutdown(Shutdown::Both);
                        tracing::warn!(
                            peer = ?evicted.peer,
                            idle_ms = now.duration_since(since).as_millis() as u64,
                            connections_max = self.limits.connections_max,
                            "abci connection limit reached: closed the connection idle the longest to serve a new one"
                        );
                    }
                    _ if now >= deadline => {
                        return Err(ServerError::NoSlot {
                            connections_max: self.limits.connections_max,
                            idle_timeout: self.limits.idle_timeout,
                        })
                    }
                    _ => {
                        if !waited {
                            waited = true;
                            tracing::debug!("abci connection limit reached: the new connection waits for a slot");
                        }
                        let wake =
                            oldest.map_or(deadline, |(_, since)| (since + self.limits.idle_timeout).min(deadline));
                        let wait = wake.saturating_duration_since(now).max(Duration::from_millis(1));
                        table = self.changed.wait_timeout(table, wait).unwrap_or_else(PoisonError::into_inner).0;
                        continue;
                    }
                }
            }
            let id = table.next_id;
            table.next_id += 1;
            table.open.insert(id, Open { stream: clone, peer: stream.peer_addr().ok(), idle_since: Some(now) });
            return Ok(id);
        }
    }

    /// The connection starts handling a request; `false` if it was
    /// evicted (its socket is shut down) and must not handle it.
    fn begin_request(&self, id: u64) -> bool {
        let mut table = self.lock();
        let Some(open) = table.open.get_mut(&id) else {
            return false;
        };
        open.idle_since = None;
        true
    }

    /// The connection answered its request. `cometbft_position`: where a
    /// request that only CometBFT sends, and that the node accepted, puts
    /// this connection among CometBFT's four. Only an accepted one counts,
    /// so a stray client's bogus Commit does not move the protection.
    fn end_request(&self, id: u64, cometbft_position: Option<u64>) {
        let mut table = self.lock();
        if let Some(open) = table.open.get_mut(&id) {
            open.idle_since = Some(Instant::now());
        }
        if let Some(position) = cometbft_position {
            let first = id.saturating_sub(position);
            if table.cometbft_first.is_none_or(|current| first > current) {
                table.cometbft_first = Some(first);
            }
        }
        drop(table);
        self.changed.notify_all();
    }

    fn release(&self, id: u64) {
        self.lock().open.remove(&id);
        self.changed.notify_all();
    }
}

/// Where a request shows its connection to be among CometBFT's four, for
/// the requests no one but CometBFT sends (see the module docs).
fn cometbft_position(request: &request::Value) -> Option<u64> {
    use request::Value as Rq;
    match request {
        Rq::InitChain(_)
        | Rq::PrepareProposal(_)
        | Rq::ProcessProposal(_)
        | Rq::ExtendVote(_)
        | Rq::VerifyVoteExtension(_)
        | Rq::FinalizeBlock(_)
        | Rq::Commit(_) => Some(CONSENSUS_POSITION),
        Rq::OfferSnapshot(_) | Rq::ApplySnapshotChunk(_) => Some(SNAPSHOT_POSITION),
        _ => None,
    }
}

/// Reads requests until the peer closes (or the connection is evicted);
/// answers each in order.
fn serve_connection(
    stream: TcpStream,
    node: &Node,
    request_bytes_max: u64,
    connections: &Connections,
    id: u64,
) -> Result<(), ServerError> {
    stream.set_nodelay(true).map_err(ServerError::io("set_nodelay"))?;
    let clone = stream.try_clone().map_err(ServerError::io("clone socket"))?;
    let mut reader = BufReader::with_capacity(SOCKET_BUFFER_BYTES, clone);
    let mut writer = BufWriter::with_capacity(SOCKET_BUFFER_BYTES, stream);
    let mut frame = Vec::new();
    loop {
        let Some(len) = read_varint(&mut reader)? else {
            return Ok(());
        };
        if len > request_bytes_max {
            let error = ServerError::RequestTooLarge { len, max: request_bytes_max };
            write_response(&mut writer, node.exception(&error))?;
            writer.flush().map_err(ServerError::io("write"))?;
            return Err(error);
        }
        frame.resize(len as usize, 0);
        reader.read_exact(&mut frame).map_err(ServerError::io("read frame"))?;
        let request = Request::decode(frame.as_slice());
        if !connections.begin_request(id) {
            return Ok(());
        }
        let position = request.as_ref().ok().and_then(|r| r.value.as_ref()).and_then(cometbft_position);
        let response = match request {
            Ok(Request { value: Some(value) }) => node.handle(value),
            Ok(Request { value: None }) => node.exception(&ServerError::EmptyRequest),
            Err(source) => node.exception(&ServerError::MalformedRequest(source)),
        };
        let accepted = !matches!(response, response::Value::Exception(_));
        // Idle from here: a peer that stops reading its responses blocks
        // the write below, and may then be evicted like a silent one.
        connections.end_request(id, position.filter(|_| accepted));
        write_response(&mut writer, response)?;
        if reader.buffer().is_empty() {
            writer.flush().map_err(ServerError::io("write"))?;
        }
    }
}

fn write_response(
    writer: &mut impl Write,
    value: tendermint_proto::v0_38::abci::response::Value,
) -> Result<(), ServerError> {
    let bytes = Response { value: Some(value) }.encode_length_delimited_to_vec();
    writer.write_all(&bytes).map_err(ServerError::io("write"))
}

/// `None` on a clean end of stream before the first byte.
fn read_varint(reader: &mut impl Read) -> Result<Option<u64>, ServerError> {
    let mut value = 0u64;
    for index in 0..VARINT_BYTES_MAX {
        let mut byte = [0u8; 1];
        match reader.read_exact(&mut byte) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof && index == 0 => return Ok(None),
            Err(source) => return Err(ServerError::Io { op: "read length", source }),
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * index);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(ServerError::LengthPrefixTooLong)
}

/// Why the ABCI server cannot start, a connection is refused or closed, or
/// a request is answered with an exception.
#[derive(Debug)]
pub enum ServerError {
    /// The ABCI address cannot be listened on.
    Bind {
        addr: String,
        source: std::io::Error,
    },
    LocalAddr(std::io::Error),
    /// A new connection's socket cannot be cloned into the table.
    Track(std::io::Error),
    /// A new connection found every slot taken and none evictable in time.
    NoSlot {
        connections_max: u32,
        idle_timeout: Duration,
    },
    /// A connection's socket failed; `op` names the operation.
    Io {
        op: &'static str,
        source: std::io::Error,
    },
    /// A length prefix over 10 bytes: the stream is not ABCI.
    LengthPrefixTooLong,
    /// A frame longer than `request_bytes_max`: answered, then closed.
    RequestTooLarge {
        len: u64,
        max: u64,
    },
    /// A frame that decodes to a request with no value.
    EmptyRequest,
    /// A frame that does not decode as a request.
    MalformedRequest(prost::DecodeError),
}

impl ServerError {
    /// For `map_err`: an I/O failure of `op` on a connection.
    fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> ServerError {
        move |source| ServerError::Io { op, source }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind { addr, source } => write!(f, "abci: cannot listen on {addr}: {source}"),
            ServerError::LocalAddr(source) => write!(f, "abci: {source}"),
            ServerError::Track(source) => write!(f, "abci: cannot track a connection: {source}"),
            ServerError::NoSlot { .. } => {
                f.write_str("abci connection limit reached and no connection idle long enough to evict")
            }
            ServerError::Io { op, source } => write!(f, "{op}: {source}"),
            ServerError::LengthPrefixTooLong => f.write_str("length prefix longer than 10 bytes"),
            ServerError::RequestTooLarge { len, max } => {
                write!(f, "request of {len} bytes exceeds request_bytes_max {max}")
            }
            ServerError::EmptyRequest => f.write_str("empty request"),
            ServerError::MalformedRequest(source) => write!(f, "malformed request: {source}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { source, .. } | ServerError::Io { source, .. } => Some(source),
            ServerError::LocalAddr(source) | ServerError::Track(source) => Some(source),
            ServerError::MalformedRequest(source) => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_and_rejects_overlong() {
        for value in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut bytes = Vec::new();
            prost::encoding::encode_varint(value, &mut bytes);
            assert_eq!(read_varint(&mut bytes.as_slice()).unwrap(), Some(value));
        }
        assert_eq!(read_varint(&mut [].as_slice()).unwrap(), None);
        assert!(read_varint(&mut [0x80u8; 11].as_slice()).is_err());
        assert!(read_varint(&mut [0x80u8].as_slice()).is_err());
    }

    #[test]
    fn a_panicking_connection_thread_releases_its_slot_and_closes_its_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let limits =
            ServerLimits { connections_max: 1, request_bytes_max: 1024, idle_timeout: Duration::from_secs(60) };
        let connections = Arc::new(Connections::new(limits));
        let id = connections.admit(&server_side).unwrap();
        assert_eq!(connections.lock().open.len(), 1);
        let slot = Slot { connections: connections.clone(), id };
        let thread = std::thread::spawn(move || {
            let _stream = server_side;
            let _slot = slot;
            panic!("a handler panicked");
        });
        assert!(thread.join().is_err());
        assert!(connections.lock().open.is_empty(), "the slot is released");
        // The table's clone of the socket went with it: the peer sees EOF.
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).unwrap(), 0);
    }
}
