//! Is the Control UI served? One blocking `HEAD` of its page, over plain
//! HTTP or TLS (pinned, as the CLI pins its own gateway), for
//! `openclaw dashboard` before it hands out a link.
//!
//! Only the status line and the `Content-Type` and `Retry-After` headers
//! are read; the connection is closed after the head. Bounded: one connect
//! and every read within `timeout`, and at most 16 KiB of head.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What the page's `HEAD` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentHead {
    pub status: u16,
    /// The media type, without parameters, lower case.
    pub media_type: Option<String>,
    pub retry_after: Option<String>,
}

impl DocumentHead {
    /// A page a browser can open: 200 and `text/html`.
    pub fn is_ready(&self) -> bool {
        self.status == 200 && self.media_type.as_deref() == Some("text/html")
    }
}

const MAX_HEAD_BYTES: usize = 16 * 1024;

/// `HEAD url` with `Accept: text/html`. An `https` URL must present the
/// certificate `tls_fingerprint` pins (or one the web roots vouch for).
pub fn head(
    url: &str,
    tls_fingerprint: Option<&str>,
    timeout: Duration,
) -> Result<DocumentHead, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("not an http(s) URL: {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let path = path.split('#').next().unwrap_or("/");
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    let addr = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("no address for {authority}"))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "HEAD {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/html\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
    );
    let head = if tls {
        let config = crate::tls::pin::client_config(tls_fingerprint)?;
        let name =
            rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        exchange(rustls::StreamOwned::new(conn, tcp), &request)?
    } else {
        exchange(tcp, &request)?
    };
    parse_head(&head)
}

/// Send `request`, read until the blank line that ends the head.
fn exchange(mut stream: impl Read + Write, request: &str) -> Result<Vec<u8>, String> {
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD_BYTES {
            return Err("response head too large".into());
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(head)
}

fn parse_head(bytes: &[u8]) -> Result<DocumentHead, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or("no HTTP status line in the answer")?;
    let mut head = DocumentHead {
        status,
        media_type: None,
        retry_after: None,
    };
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or("").trim();
            head.media_type = Some(media.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = Some(value.to_owned());
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_gives_status_media_type_and_retry_after() {
        let head = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX: y\r\n\r\n",
        )
        .unwrap();
        assert!(head.is_ready());
        let head =
            parse_head(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n\r\n").unwrap();
        assert_eq!((head.status, head.retry_after.as_deref()), (503, Some("2")));
        assert!(!head.is_ready());
        assert!(parse_head(b"garbage").is_err());
    }

    #[test]
    fn a_page_served_on_loopback_is_probed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = [0u8; 512];
            let n = socket.read(&mut request).unwrap();
            socket
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let url = format!("http://127.0.0.1:{port}/ui/#x");
        let head = head(&url, None, Duration::from_secs(5)).unwrap();
        assert_eq!(head.status, 404);
        assert_eq!(head.media_type.as_deref(), Some("text/plain"));
        let request = server.join().unwrap();
        assert!(request.starts_with("HEAD /ui/ HTTP/1.1\r\n"), "{request}");
    }
}
