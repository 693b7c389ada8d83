//! The little HTTP/1.1 this port speaks: read one bounded request head, answer
//! the probes, and hand WebSocket upgrades on.
//!
//! Hand-rolled on purpose: only a request line and headers are ever parsed, the
//! head is bounded in size and time, and every answer closes the connection.

use std::time::Duration;

use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One parsed request head. Header names are kept as sent; look-ups ignore case.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: String,
    pub path: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (e.g. `Connection`) lists `token`.
    pub(crate) fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

#[derive(Debug)]
pub(crate) enum HeadError {
    /// Not HTTP/1.x as far as we can tell: answer 400.
    Malformed,
    /// The head did not end within the size limit: answer 431.
    TooLarge,
    /// The client went away or stalled: just drop the socket.
    Gone,
}

/// Read a request head; also returns whatever bytes followed it (the start of
/// the WebSocket stream, if the client did not wait for our 101).
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    max: usize,
    timeout: Duration,
) -> Result<(Head, Vec<u8>), HeadError> {
    let read = async {
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 2048];
        loop {
            let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Gone)?;
            if n == 0 {
                // A client that sent something and hung up gets no answer either way.
                return Err(HeadError::Gone);
            }
            let scan_from = buf.len().saturating_sub(3);
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = find_head_end(&buf[scan_from..]) {
                let end = scan_from + end;
                if end > max {
                    return Err(HeadError::TooLarge);
                }
                let rest = buf[end..].to_vec();
                buf.truncate(end);
                return Ok((parse_head(&buf)?, rest));
            }
            if buf.len() > max {
                return Err(HeadError::TooLarge);
            }
        }
    };
    smol::future::or(read, async {
        smol::Timer::after(timeout).await;
        Err(HeadError::Gone)
    })
    .await
}

/// Offset just past the blank line ending the head.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn parse_head(buf: &[u8]) -> Result<Head, HeadError> {
    let text = std::str::from_utf8(buf).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(HeadError::Malformed)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    if !is_token(method) || !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(HeadError::Malformed);
    }
    let path = if target.starts_with('/') {
        target
    } else if let Some(after_scheme) = target.split_once("://").map(|(_, rest)| rest) {
        // absolute-form (proxies): keep only the path.
        after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
    } else {
        return Err(HeadError::Malformed);
    };
    let path = path.split(['?', '#']).next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(HeadError::Malformed)?;
        if !is_token(name) {
            return Err(HeadError::Malformed);
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head {
        method: method.to_string(),
        path,
        version: version.to_string(),
        headers,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Write a complete response and close our side. Errors are ignored: the
/// client may already be gone, and there is nobody else to tell.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &str,
    with_body: bool,
) {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    if with_body {
        out.push_str(body);
    }
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.close().await;
}

pub(crate) async fn respond_json<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    body: &str,
    head: bool,
) {
    respond(
        stream,
        status,
        "application/json; charset=utf-8",
        body,
        !head,
    )
    .await
}

pub(crate) async fn respond_text<S: AsyncWrite + Unpin>(stream: &mut S, status: u16, body: &str) {
    respond(stream, status, "text/plain; charset=utf-8", body, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_head() {
        let head = parse_head(
            b"GET /readyz?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/readyz");
        assert_eq!(head.header("host"), Some("a"));
        assert!(head.header_has_token("connection", "upgrade"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"\x16\x03\x01 hello\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(bad), Err(HeadError::Malformed)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn head_is_bounded() {
        smol::block_on(async {
            let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
            big.extend(std::iter::repeat_n(b'a', 10_000));
            let mut input = smol::io::Cursor::new(big);
            let res = read_head(&mut input, 8192, Duration::from_secs(1)).await;
            assert!(matches!(res, Err(HeadError::TooLarge)));
        });
    }

    #[test]
    fn leftover_bytes_are_returned() {
        smol::block_on(async {
            let mut input = smol::io::Cursor::new(b"GET / HTTP/1.1\r\n\r\nabc".to_vec());
            let (head, rest) = read_head(&mut input, 8192, Duration::from_secs(1))
                .await
                .unwrap();
            assert_eq!(head.path, "/");
            assert_eq!(rest, b"abc");
        });
    }
}
