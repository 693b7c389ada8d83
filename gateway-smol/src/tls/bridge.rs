//! An accepted socket on a TLS listener: the TLS handshake, then the plain
//! bytes handed to the ordinary socket code ([`crate::socket::serve`]).
//!
//! The socket code is built on a raw socket (vectored frame writes from one
//! task while another reads, `shutdown`, draining on close); a TLS session
//! cannot be shared that way. So each TLS connection gets a Unix socket pair:
//! the socket code serves one end exactly as it serves a TCP socket (with the
//! peer's real address, so limits, loopback rules and logs are unchanged),
//! and this task moves bytes between the other end and the TLS session.
//! The cost is one more pair of kernel buffers and a copy per byte; the
//! raw-socket paths stay as they are.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::TlsAcceptor;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::Async;

use crate::server::Shared;

/// How long the peer's direction may still run once the gateway has closed
/// its side: time for a close reply to come back, never an idle hold.
const LINGER_AFTER_CLOSE: Duration = Duration::from_secs(2);
/// Bytes moved per read in each direction (a WebSocket message of the
/// gateway's is usually one read; large ones take several).
const COPY_BUFFER_BYTES: usize = 8 * 1024;

/// Handshake (bounded like a request head), then serve the connection.
pub(crate) async fn serve(
    stream: TcpStream,
    remote: SocketAddr,
    shared: Arc<Shared>,
    config: Arc<rustls::ServerConfig>,
) {
    let started = std::time::Instant::now();
    let handshake = TlsAcceptor::from(config).accept(stream);
    let timeout = async {
        smol::Timer::after(shared.opts.http_head_timeout).await;
        Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    let session = match smol::future::or(handshake, timeout).await {
        Ok(session) => session,
        Err(e) => {
            // A plain-HTTP client, a scanner, a client that does not trust
            // the certificate: nothing to answer over TLS; just close.
            log::debug!(target: "gateway/tls", "handshake with {remote} failed: {e}");
            return;
        }
    };
    log::trace!(target: "gateway/tls", "handshake with {remote} in {:?}", started.elapsed());
    let (ours, theirs) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => {
            log::warn!(target: "gateway/tls", "no socket pair for {remote}: {e}");
            return;
        }
    };
    // The socket code's end, typed as the TCP stream it expects: every call
    // it makes on it (read, vectored write, shutdown) means the same on a
    // Unix stream socket; the peer's address is passed along separately.
    let plain = match (
        Async::new(ours),
        TcpStream::try_from(std::net::TcpStream::from(OwnedFd::from(theirs))),
    ) {
        (Ok(ours), Ok(plain)) => {
            shared
                .executor
                .spawn(crate::socket::serve(plain, remote, Arc::clone(&shared)))
                .detach();
            ours
        }
        (Err(e), _) | (_, Err(e)) => {
            log::warn!(target: "gateway/tls", "cannot register a socket pair for {remote}: {e}");
            return;
        }
    };
    pump(session, plain).await;
}

/// Move bytes both ways until both directions are done: the peer's bytes
/// to the gateway (then end-of-stream), the gateway's to the peer (then
/// `close_notify`). Once the gateway has closed its side, the peer's
/// direction gets [`LINGER_AFTER_CLOSE`] more.
async fn pump<S>(session: S, plain: Async<UnixStream>)
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin,
{
    let (mut from_peer, mut to_peer) = smol::io::split(session);
    let plain = &plain;
    let inbound = async {
        let mut buf = vec![0u8; COPY_BUFFER_BYTES];
        loop {
            match from_peer.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if (&mut &*plain).write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The gateway reads end-of-stream, as from a TCP peer that closed.
        let _ = plain.get_ref().shutdown(std::net::Shutdown::Write);
    };
    let outbound = async {
        let mut buf = vec![0u8; COPY_BUFFER_BYTES];
        loop {
            match (&mut &*plain).read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_peer.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_peer.close().await;
    };
    let mut inbound = std::pin::pin!(inbound);
    let mut outbound = std::pin::pin!(outbound);
    let peer_done_first = smol::future::or(
        async {
            (&mut inbound).await;
            true
        },
        async {
            (&mut outbound).await;
            false
        },
    )
    .await;
    if peer_done_first {
        // The gateway has read end-of-stream and closes (its own write
        // deadlines bound what it still sends).
        outbound.await;
    } else {
        smol::future::or(inbound, async {
            smol::Timer::after(LINGER_AFTER_CLOSE).await;
        })
        .await;
    }
}
