//! The server half of the WebSocket opening handshake (RFC 6455 §4.2), done by
//! hand so that probes and upgrades share one request-head reader.

use async_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::http::Head;

/// Whether the client asks for a WebSocket (anything else is a plain HTTP request).
pub(crate) fn is_upgrade(head: &Head) -> bool {
    head.header_has_token("upgrade", "websocket")
}

/// The `Sec-WebSocket-Accept` value, or why the upgrade is refused (400).
pub(crate) fn accept_key(head: &Head) -> Result<String, &'static str> {
    if head.method != "GET" || head.version != "HTTP/1.1" {
        return Err("Invalid HTTP method or version");
    }
    // Without it the request is not an upgrade (RFC 7230 §6.7), and the
    // reference does not switch either.
    if !head.header_has_token("connection", "upgrade") {
        return Err("Missing Connection: Upgrade");
    }
    let key = head
        .header("sec-websocket-key")
        .ok_or("Missing Sec-WebSocket-Key")?;
    // Two keys are no key (Node joins repeated headers, which the reference
    // then refuses as invalid).
    if head.header_count("sec-websocket-key") > 1 {
        return Err("Invalid Sec-WebSocket-Key");
    }
    // A key is 16 random bytes in base64: 22 significant characters and "==".
    let valid_key = key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !valid_key {
        return Err("Invalid Sec-WebSocket-Key");
    }
    match head.header("sec-websocket-version") {
        Some("13") | Some("8") if head.header_count("sec-websocket-version") == 1 => {}
        _ => return Err("Missing or invalid Sec-WebSocket-Version"),
    }
    Ok(derive_accept_key(key.as_bytes()))
}

pub(crate) fn switching_protocols(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    #[test]
    fn rfc_example_key() {
        let head = parse_head(
            b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        assert!(is_upgrade(&head));
        assert_eq!(accept_key(&head).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn bad_key_is_refused() {
        let head = parse_head(
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        assert_eq!(accept_key(&head), Err("Invalid Sec-WebSocket-Key"));
    }

    const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    fn head_with(lines: &str) -> Head {
        parse_head(format!("GET / HTTP/1.1\r\nUpgrade: websocket\r\n{lines}\r\n").as_bytes())
            .unwrap()
    }

    #[test]
    fn upgrade_needs_connection_upgrade() {
        let head = head_with(&format!("{KEY}Sec-WebSocket-Version: 13\r\n"));
        assert!(is_upgrade(&head));
        assert_eq!(accept_key(&head), Err("Missing Connection: Upgrade"));
        let head = head_with(&format!(
            "Connection: keep-alive, Upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\n"
        ));
        assert!(accept_key(&head).is_ok());
    }

    #[test]
    fn repeated_key_or_version_is_refused() {
        let head = head_with(&format!(
            "Connection: Upgrade\r\n{KEY}{KEY}Sec-WebSocket-Version: 13\r\n"
        ));
        assert_eq!(accept_key(&head), Err("Invalid Sec-WebSocket-Key"));
        let head = head_with(&format!(
            "Connection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"
        ));
        assert!(accept_key(&head).is_err());
    }
}
