//! Opening a WebSocket to the gateway: plain TCP for `ws://`, TLS for
//! `wss://` (pinned to a fingerprint, or trusting the web roots).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_tungstenite::WebSocketStream;
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use rustls::pki_types::ServerName;
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;

pub(crate) type Socket = WebSocketStream<Stream>;

/// The connection under the WebSocket: plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// Where a gateway url points.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `host:port`, for connecting.
    pub authority: String,
    /// The host alone (an IPv6 literal without brackets), for TLS.
    pub host: String,
    pub tls: bool,
}

/// `ws://host[:port][/path]` or `wss://…` → where to connect (default ports
/// 80 and 443).
pub(crate) fn endpoint(url: &str) -> Result<Endpoint, String> {
    let (rest, tls) = match (url.strip_prefix("ws://"), url.strip_prefix("wss://")) {
        (Some(rest), _) => (rest, false),
        (None, Some(rest)) => (rest, true),
        (None, None) => {
            return Err(format!(
                "unsupported gateway url {url:?} (expected ws://host:port or wss://host:port)"
            ))
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("gateway url {url:?} has no host"));
    }
    // A bracketed IPv6 literal has colons of its own; the port follows "]".
    let (host, has_port) = match authority.rfind(']') {
        Some(close) => (
            authority[..close].trim_start_matches('['),
            authority[close..].contains(':'),
        ),
        None => (
            authority.split(':').next().unwrap_or_default(),
            authority.contains(':'),
        ),
    };
    let authority = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    Ok(Endpoint {
        authority,
        host: host.to_owned(),
        tls,
    })
}

/// TCP connect (+ TLS handshake for `wss://`) + WebSocket upgrade. Errors
/// are one readable line.
pub(crate) async fn open(url: &str, tls_fingerprint: Option<&str>) -> Result<Socket, String> {
    let endpoint = endpoint(url)?;
    let addr = &endpoint.authority;
    let pin = match tls_fingerprint {
        Some(text) => Some(crate::tls::normalize_fingerprint(text).ok_or_else(|| {
            "Invalid TLS fingerprint; expected a SHA-256 certificate fingerprint.".to_owned()
        })?),
        None => None,
    };
    if pin.is_some() && !endpoint.tls {
        return Err(format!("a TLS fingerprint needs a wss:// url (got {url})"));
    }
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| connect_error(addr, &e))?;
    // Frames are small JSON messages: send them as soon as they are written.
    let _ = tcp.set_nodelay(true);
    let stream = if endpoint.tls {
        let config = crate::tls::pin::client_config(pin.as_deref())?;
        let name = ServerName::try_from(endpoint.host.clone()).map_err(|_| {
            format!(
                "gateway url {url:?}: {:?} is not a host name",
                endpoint.host
            )
        })?;
        let session = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
        Stream::Tls(Box::new(session))
    } else {
        Stream::Plain(tcp)
    };
    let (ws, _) = async_tungstenite::client_async(url, stream)
        .await
        .map_err(|e| format!("websocket upgrade to {url}: {e}"))?;
    Ok(ws)
}

/// A failed TCP connect in the words the reference's clients use (Node's
/// `connect ECONNREFUSED 127.0.0.1:18789`), which scripts and users match on;
/// other errors keep the system's description.
fn connect_error(addr: &str, error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let code = match error.kind() {
        ErrorKind::ConnectionRefused => "ECONNREFUSED",
        ErrorKind::TimedOut => "ETIMEDOUT",
        ErrorKind::HostUnreachable => "EHOSTUNREACH",
        ErrorKind::NetworkUnreachable => "ENETUNREACH",
        _ => return format!("connect {addr}: {error}"),
    };
    format!("connect {code} {addr}")
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints() {
        let at = |url| endpoint(url).map(|e| (e.authority, e.host, e.tls));
        assert_eq!(
            at("ws://127.0.0.1:18789").unwrap(),
            ("127.0.0.1:18789".into(), "127.0.0.1".into(), false)
        );
        assert_eq!(
            at("ws://localhost/x").unwrap(),
            ("localhost:80".into(), "localhost".into(), false)
        );
        assert_eq!(
            at("ws://[::1]:5/").unwrap(),
            ("[::1]:5".into(), "::1".into(), false)
        );
        assert_eq!(
            at("wss://gw.example").unwrap(),
            ("gw.example:443".into(), "gw.example".into(), true)
        );
        assert_eq!(
            at("wss://[::1]:9").unwrap(),
            ("[::1]:9".into(), "::1".into(), true)
        );
        assert!(at("http://x").is_err());
        assert!(at("ws://").is_err());
    }
}
