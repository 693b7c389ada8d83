//! Opening a WebSocket to the gateway over a plain TCP stream.

use async_tungstenite::WebSocketStream;
use smol::net::TcpStream;

pub(crate) type Socket = WebSocketStream<TcpStream>;

/// `ws://host[:port][/path]` → `host:port`. Only plain `ws://` is supported:
/// the gateway is reached over loopback or a tunnel.
pub(crate) fn authority(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("unsupported gateway url {url:?} (expected ws://host:port)"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("gateway url {url:?} has no host"));
    }
    // A bracketed IPv6 literal has colons of its own; the port follows "]".
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    Ok(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

/// TCP connect + WebSocket upgrade. Errors are one readable line.
pub(crate) async fn open(url: &str) -> Result<Socket, String> {
    let addr = authority(url)?;
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    // Frames are small JSON messages: send them as soon as they are written.
    let _ = tcp.set_nodelay(true);
    let (ws, _) = async_tungstenite::client_async(url, tcp)
        .await
        .map_err(|e| format!("websocket upgrade to {url}: {e}"))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn authorities() {
        assert_eq!(
            authority("ws://127.0.0.1:18789").unwrap(),
            "127.0.0.1:18789"
        );
        assert_eq!(authority("ws://localhost/x").unwrap(), "localhost:80");
        assert_eq!(authority("ws://[::1]:5/").unwrap(), "[::1]:5");
        assert!(authority("wss://x").is_err());
        assert!(authority("ws://").is_err());
    }
}
