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
//! - At most `connections_max` connections are served; extra ones are
//!   closed at once.
//! - Responses are flushed when no further request is already buffered,
//!   which batches pipelined CheckTx responses and never leaves a response
//!   unsent while the peer waits.

use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use prost::Message;
use tendermint_proto::v0_38::abci::{Request, Response};

use super::app::Node;

/// A varint length prefix is at most 10 bytes.
const VARINT_BYTES_MAX: usize = 10;
const SOCKET_BUFFER_BYTES: usize = 256 * 1024;

pub struct Server {
    listener: TcpListener,
    node: Arc<Node>,
    connections_max: u32,
    request_bytes_max: u64,
}

impl Server {
    pub fn bind(addr: &str, node: Arc<Node>, connections_max: u32, request_bytes_max: u64) -> Result<Server, String> {
        assert!(connections_max > 0 && request_bytes_max > 0);
        let listener = TcpListener::bind(addr).map_err(|e| format!("abci: cannot listen on {addr}: {e}"))?;
        Ok(Server { listener, node, connections_max, request_bytes_max })
    }

    pub fn local_addr(&self) -> Result<std::net::SocketAddr, String> {
        self.listener.local_addr().map_err(|e| format!("abci: {e}"))
    }

    /// Serves until the process exits.
    pub fn serve(self) -> Result<(), String> {
        let active = Arc::new(AtomicU32::new(0));
        for stream in self.listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "abci accept failed");
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::SeqCst) >= self.connections_max {
                active.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(
                    connections_max = self.connections_max,
                    "abci connection limit reached: closing new connection"
                );
                continue;
            }
            let (node, active, request_bytes_max) = (self.node.clone(), active.clone(), self.request_bytes_max);
            let spawned = std::thread::Builder::new().name("sluice-abci".into()).spawn(move || {
                if let Err(e) = serve_connection(stream, &node, request_bytes_max) {
                    tracing::warn!(error = %e, "abci connection closed");
                }
                active.fetch_sub(1, Ordering::SeqCst);
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "abci: cannot start a connection thread");
            }
        }
        Ok(())
    }
}

/// Reads requests until the peer closes; answers each in order.
pub fn serve_connection(stream: TcpStream, node: &Node, request_bytes_max: u64) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
    let mut reader = BufReader::with_capacity(SOCKET_BUFFER_BYTES, stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = BufWriter::with_capacity(SOCKET_BUFFER_BYTES, stream);
    let mut frame = Vec::new();
    loop {
        let Some(len) = read_varint(&mut reader)? else {
            return Ok(());
        };
        if len > request_bytes_max {
            let error = format!("request of {len} bytes exceeds request_bytes_max {request_bytes_max}");
            write_response(&mut writer, node.exception(error.clone()))?;
            writer.flush().map_err(|e| format!("write: {e}"))?;
            return Err(error);
        }
        frame.resize(len as usize, 0);
        reader.read_exact(&mut frame).map_err(|e| format!("read frame: {e}"))?;
        let response = match Request::decode(frame.as_slice()) {
            Ok(Request { value: Some(value) }) => node.handle(value),
            Ok(Request { value: None }) => node.exception("empty request".to_string()),
            Err(e) => node.exception(format!("malformed request: {e}")),
        };
        write_response(&mut writer, response)?;
        if reader.buffer().is_empty() {
            writer.flush().map_err(|e| format!("write: {e}"))?;
        }
    }
}

fn write_response(
    writer: &mut impl Write,
    value: tendermint_proto::v0_38::abci::response::Value,
) -> Result<(), String> {
    let bytes = Response { value: Some(value) }.encode_length_delimited_to_vec();
    writer.write_all(&bytes).map_err(|e| format!("write: {e}"))
}

/// `None` on a clean end of stream before the first byte.
fn read_varint(reader: &mut impl Read) -> Result<Option<u64>, String> {
    let mut value = 0u64;
    for index in 0..VARINT_BYTES_MAX {
        let mut byte = [0u8; 1];
        match reader.read_exact(&mut byte) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof && index == 0 => return Ok(None),
            Err(e) => return Err(format!("read length: {e}")),
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * index);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err("length prefix longer than 10 bytes".to_string())
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
}
