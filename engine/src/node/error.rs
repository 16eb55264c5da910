//! The node's errors that cross its modules: why `run` stopped, and why an
//! HTTP endpoint (metrics, ingest) could not start. Each module's own kind
//! lives with it (`ConfigError`, `ServerError`, `AppError`, …); `NodeError`
//! wraps them, so that only the binary turns one into a message.

use std::error::Error;
use std::fmt;

use super::app::AppError;
use super::config::ConfigError;
use super::server::ServerError;

/// Why an HTTP endpoint (`metrics`, `ingest`) did not start.
#[derive(Debug)]
pub enum EndpointError {
    /// `addr` cannot be listened on.
    Bind {
        endpoint: &'static str,
        addr: String,
        source: Box<dyn Error + Send + Sync>,
    },
    LocalAddr {
        endpoint: &'static str,
        source: std::io::Error,
    },
    /// The bound address is not an IP address (a Unix socket path).
    NotAnIpAddress {
        endpoint: &'static str,
        addr: String,
    },
    /// A thread serving it did not start; `what` names the thread.
    Thread {
        endpoint: &'static str,
        what: &'static str,
        source: std::io::Error,
    },
}

impl EndpointError {
    pub(crate) fn bind(endpoint: &'static str, addr: &str, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        EndpointError::Bind { endpoint, addr: addr.to_string(), source: source.into() }
    }

    /// `metrics` or `ingest`.
    pub fn endpoint(&self) -> &'static str {
        match self {
            EndpointError::Bind { endpoint, .. }
            | EndpointError::LocalAddr { endpoint, .. }
            | EndpointError::NotAnIpAddress { endpoint, .. }
            | EndpointError::Thread { endpoint, .. } => endpoint,
        }
    }
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.endpoint())?;
        match self {
            EndpointError::Bind { addr, source, .. } => write!(f, "cannot listen on {addr}: {source}"),
            EndpointError::LocalAddr { source, .. } => write!(f, "{source}"),
            EndpointError::NotAnIpAddress { addr, .. } => write!(f, "{addr} is not an IP address"),
            EndpointError::Thread { what, source, .. } => write!(f, "cannot start {what}: {source}"),
        }
    }
}

impl Error for EndpointError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            EndpointError::Bind { source, .. } => Some(source.as_ref()),
            EndpointError::LocalAddr { source, .. } | EndpointError::Thread { source, .. } => Some(source),
            EndpointError::NotAnIpAddress { .. } => None,
        }
    }
}

/// Why [`run`](super::run) returned: the node did not start, or stopped
/// serving. Its message is the wrapped error's.
#[derive(Debug)]
pub enum NodeError {
    Config(ConfigError),
    /// The global worker pool (`execution.threads`) did not start.
    WorkerThreads(rayon::ThreadPoolBuildError),
    /// Opening the store, or reading the state it rebuilt. Boxed: the
    /// largest kind, and `run` returns it once.
    App(Box<AppError>),
    Endpoint(EndpointError),
    Server(ServerError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Config(error) => error.fmt(f),
            NodeError::WorkerThreads(error) => write!(f, "cannot start worker threads: {error}"),
            NodeError::App(error) => error.fmt(f),
            NodeError::Endpoint(error) => error.fmt(f),
            NodeError::Server(error) => error.fmt(f),
        }
    }
}

impl Error for NodeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        // The wrapped error's message is this one's: its source comes next.
        match self {
            NodeError::Config(error) => error.source(),
            NodeError::WorkerThreads(error) => Some(error),
            NodeError::App(error) => error.as_ref().source(),
            NodeError::Endpoint(error) => error.source(),
            NodeError::Server(error) => error.source(),
        }
    }
}

impl From<ConfigError> for NodeError {
    fn from(error: ConfigError) -> Self {
        NodeError::Config(error)
    }
}

impl From<AppError> for NodeError {
    fn from(error: AppError) -> Self {
        NodeError::App(Box::new(error))
    }
}

impl From<EndpointError> for NodeError {
    fn from(error: EndpointError) -> Self {
        NodeError::Endpoint(error)
    }
}

impl From<ServerError> for NodeError {
    fn from(error: ServerError) -> Self {
        NodeError::Server(error)
    }
}

/// Callers box these as `Box<dyn Error + Send + Sync>` (the binary does).
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<NodeError>();
    send_and_sync::<ConfigError>();
};
