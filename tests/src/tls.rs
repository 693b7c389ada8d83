//! Talking to a gateway's TLS port from a test: HTTP requests over a pinned
//! TLS session (blocking, one request per connection).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// `GET path` over TLS to 127.0.0.1:`port`, accepting exactly the
/// certificate with `fingerprint`: the status and the whole response.
pub fn https_get(port: u16, path: &str, fingerprint: &str) -> io::Result<(u16, String)> {
    let config =
        gateway_smol::tls::pin::client_config(Some(fingerprint)).map_err(io::Error::other)?;
    let name = ServerName::try_from("127.0.0.1").map_err(io::Error::other)?;
    let session =
        rustls::ClientConnection::new(Arc::clone(&config), name).map_err(io::Error::other)?;
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(session, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    tls.flush()?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // A peer that closes without `close_notify` after a whole response.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(crate::process::http_status_and_text(&response))
}

/// Whether the TLS port answers `/readyz` with ready.
pub fn ready(port: u16, fingerprint: &str) -> bool {
    matches!(https_get(port, "/readyz", fingerprint),
        Ok((200, text)) if text.contains("\"ready\":true"))
}
