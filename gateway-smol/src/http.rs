//! The little HTTP/1.1 this port speaks: read bounded request heads, answer
//! the probes, and hand WebSocket upgrades on.
//!
//! Hand-rolled on purpose: only a request line and headers are ever parsed,
//! each head is bounded in size and time, and lines must end in CRLF. A
//! connection may stay open for more requests (keep-alive, pipelining), which
//! are answered in order.

use std::time::Duration;

use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One parsed request head. Header names are kept as sent; look-ups ignore case.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: String,
    /// The request target's path, still percent-encoded.
    pub path: String,
    /// What followed `?` in the target (without it; empty when none).
    pub query: String,
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

    /// How many times the header `name` was sent.
    pub(crate) fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// Whether the client asked to keep the connection for another request
    /// (the HTTP/1.1 default; HTTP/1.0 must ask).
    pub(crate) fn wants_keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            return false;
        }
        self.version == "HTTP/1.1" || self.header_has_token("connection", "keep-alive")
    }

    /// What follows the head: `Some(n)` for a body of `n` bytes (0 for none),
    /// `None` when its length is unknown (chunked, or a bad `Content-Length`).
    pub(crate) fn body_len(&self) -> Option<usize> {
        if self.header("transfer-encoding").is_some() || self.header_count("content-length") > 1 {
            return None;
        }
        match self.header("content-length") {
            None => Some(0),
            Some(len) => len.parse().ok(),
        }
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

/// Read a request head, starting with `buf` (bytes already read: what
/// followed the previous request); also returns whatever bytes followed it
/// (the next pipelined request, or the start of the WebSocket stream if the
/// client did not wait for our 101).
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut buf: Vec<u8>,
    max: usize,
    timeout: Duration,
) -> Result<(Head, Vec<u8>), HeadError> {
    let read = async {
        let mut chunk = [0u8; 2048];
        loop {
            let end = find_head_end(&buf);
            // A line ending in a bare LF is refused at once (as Node does),
            // rather than waiting for a CRLFCRLF that never comes.
            if has_bare_lf(&buf[..end.unwrap_or(buf.len())]) {
                return Err(HeadError::Malformed);
            }
            if let Some(end) = end {
                if end > max {
                    return Err(HeadError::TooLarge);
                }
                let rest = buf.split_off(end);
                return Ok((parse_head(&buf)?, rest));
            }
            if buf.len() > max {
                return Err(HeadError::TooLarge);
            }
            let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Gone)?;
            if n == 0 {
                // A client that sent something and hung up gets no answer either way.
                return Err(HeadError::Gone);
            }
            buf.extend_from_slice(&chunk[..n]);
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

/// Whether some line ends in LF without CR.
fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
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
    let target = path.split('#').next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
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
        path: path.to_string(),
        query: query.to_string(),
        version: version.to_string(),
        headers,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// One response.
pub(crate) struct Response<'a> {
    pub status: u16,
    pub content_type: &'static str,
    pub body: &'a str,
    /// False for an answer to `HEAD` (the length is still announced).
    pub with_body: bool,
    /// Extra header lines, each ending in CRLF (e.g. `Allow: GET, HEAD\r\n`).
    pub extra_headers: &'static str,
}

impl<'a> Response<'a> {
    pub(crate) fn json(status: u16, body: &'a str, head_only: bool) -> Self {
        Response {
            status,
            content_type: "application/json; charset=utf-8",
            body,
            with_body: !head_only,
            extra_headers: "",
        }
    }

    pub(crate) fn text(status: u16, body: &'a str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
            with_body: true,
            extra_headers: "",
        }
    }
}

/// Write a complete response; unless `keep_alive`, close our side after it.
/// False when the write failed or took longer than `timeout` (the client
/// does not read): the caller then drops the connection. There is nobody
/// else to tell about the failure.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response<'_>,
    keep_alive: bool,
    timeout: Duration,
) -> bool {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\n{}Connection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        response.extra_headers,
        if keep_alive { "keep-alive" } else { "close" },
    );
    if response.with_body {
        out.push_str(response.body);
    }
    let write = async {
        stream.write_all(out.as_bytes()).await?;
        stream.flush().await?;
        if !keep_alive {
            stream.close().await?;
        }
        Ok::<(), std::io::Error>(())
    };
    smol::future::or(async { write.await.is_ok() }, async {
        smol::Timer::after(timeout).await;
        false
    })
    .await
}

/// A final plain-text answer (an error or refusal), then close.
pub(crate) async fn respond_text<S: AsyncWrite + Unpin>(stream: &mut S, status: u16, body: &str) {
    let _ = respond(
        stream,
        &Response::text(status, body),
        false,
        Duration::from_secs(10),
    )
    .await;
}

/// A final JSON 403 (a refused upgrade), then close.
pub(crate) async fn respond_json_403<S: AsyncWrite + Unpin>(stream: &mut S, body: &str) {
    let _ = respond(
        stream,
        &Response::json(403, body, false),
        false,
        Duration::from_secs(10),
    )
    .await;
}

/// Read and throw away `n` bytes of a request body, of which `buffered`
/// were already read; whatever was read past it is returned.
pub(crate) async fn skip_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut buffered: Vec<u8>,
    n: usize,
    timeout: Duration,
) -> Option<Vec<u8>> {
    if buffered.len() >= n {
        return Some(buffered.split_off(n));
    }
    let mut left = n - buffered.len();
    let read = async {
        let mut chunk = [0u8; 2048];
        while left > 0 {
            let got = stream.read(&mut chunk[..left.min(2048)]).await.ok()?;
            if got == 0 {
                return None;
            }
            left -= got;
        }
        Some(Vec::new())
    };
    smol::future::or(read, async {
        smol::Timer::after(timeout).await;
        None
    })
    .await
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
        assert_eq!(head.query, "x=1");
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
            let res = read_head(&mut input, Vec::new(), 8192, Duration::from_secs(1)).await;
            assert!(matches!(res, Err(HeadError::TooLarge)));
        });
    }

    #[test]
    fn leftover_bytes_are_returned() {
        smol::block_on(async {
            let mut input = smol::io::Cursor::new(b"GET / HTTP/1.1\r\n\r\nabc".to_vec());
            let (head, rest) = read_head(&mut input, Vec::new(), 8192, Duration::from_secs(1))
                .await
                .unwrap();
            assert_eq!(head.path, "/");
            assert_eq!(rest, b"abc");
        });
    }

    #[test]
    fn bare_lf_is_refused_without_waiting() {
        smol::block_on(async {
            for bad in [
                &b"GET /healthz HTTP/1.1\n\n"[..],
                b"GET /healthz HTTP/1.1\r\nHost: a\n\r\n",
                b"GET /healthz HTTP/1.1\n",
            ] {
                // (Waiting for more would end in `Gone` here, at the end of input.)
                let mut input = smol::io::Cursor::new(bad.to_vec());
                let res = read_head(&mut input, Vec::new(), 8192, Duration::from_secs(30)).await;
                assert!(matches!(res, Err(HeadError::Malformed)), "{bad:?}");
            }
        });
    }

    #[test]
    fn pipelined_heads_are_read_one_by_one() {
        smol::block_on(async {
            let two = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n".to_vec();
            let mut input = smol::io::Cursor::new(Vec::new());
            let (first, rest) = read_head(&mut input, two, 8192, Duration::from_secs(1))
                .await
                .unwrap();
            let (second, rest) = read_head(&mut input, rest, 8192, Duration::from_secs(1))
                .await
                .unwrap();
            assert_eq!((first.path.as_str(), second.path.as_str()), ("/a", "/b"));
            assert!(rest.is_empty());
        });
    }

    #[test]
    fn keep_alive_and_body_rules() {
        let head = |text: &str| parse_head(text.as_bytes()).unwrap();
        assert!(head("GET / HTTP/1.1\r\n\r\n").wants_keep_alive());
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").wants_keep_alive());
        assert!(!head("GET / HTTP/1.0\r\n\r\n").wants_keep_alive());
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").wants_keep_alive());
        assert_eq!(head("GET / HTTP/1.1\r\n\r\n").body_len(), Some(0));
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").body_len(),
            Some(5)
        );
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n").body_len(),
            None
        );
        assert_eq!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").body_len(),
            None
        );
    }
}
