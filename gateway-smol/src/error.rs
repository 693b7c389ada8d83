//! Errors the runtime reports to its caller (the CLI turns them into one line).

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening address could not be bound (most often: port in use).
    #[error("{}", bind_message(.addr, .source))]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The OS random source failed (needed to seed the hub).
    #[error("cannot seed the gateway: {0}")]
    Seed(String),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The pairing store could not be opened or read at start-up.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn bind_message(addr: &SocketAddr, source: &std::io::Error) -> String {
    match source.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "gateway already running or port {} is in use ({addr}); stop it or use --force",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("cannot bind {addr}: address not available on this host")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("cannot bind {addr}: permission denied")
        }
        _ => format!("cannot bind {addr}: {source}"),
    }
}
