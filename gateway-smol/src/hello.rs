//! Spotting the moment a connection becomes authenticated.
//!
//! The runtime needs it for two things the core leaves to it: the per-IP
//! pre-auth socket cap and the keepalive pings, which start after auth.
//! Before auth the only request the core answers successfully is `connect`
//! (protocol §3: anything else closes the socket), so the first `ok:true`
//! response on a connection is its hello-ok.
// If the hub grows `Gateway::is_authenticated(ConnId)`, this sniffing goes away.

use gateway_proto::wire::OutFrame;

/// Whether `frame` is a successful response (`{"type":"res","id":…,"ok":true…`).
pub(crate) fn is_ok_response(frame: &OutFrame) -> bool {
    // Only whole frames are responses; sequenced frames are broadcast events.
    if frame.seq().is_some() {
        return false;
    }
    let bytes = frame.to_bytes();
    let Some(rest) = bytes.strip_prefix(br#"{"type":"res","id":""#.as_slice()) else {
        return false;
    };
    // Skip the JSON-escaped id: the first unescaped quote ends it.
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 2,
            b'"' => return rest[i + 1..].starts_with(br#","ok":true"#),
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn whole(s: &'static str) -> OutFrame {
        OutFrame::whole(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn recognises_ok_responses_only() {
        assert!(is_ok_response(&whole(
            r#"{"type":"res","id":"1","ok":true,"payload":{}}"#
        )));
        assert!(is_ok_response(&whole(
            r#"{"type":"res","id":"a\"b\\","ok":true}"#
        )));
        assert!(!is_ok_response(&whole(
            r#"{"type":"res","id":"x\",\"ok\":true","ok":false}"#
        )));
        assert!(!is_ok_response(&whole(
            r#"{"type":"res","id":"1","ok":false,"payload":{"ok":true}}"#
        )));
        assert!(!is_ok_response(&whole(
            r#"{"type":"event","event":"tick"}"#
        )));
    }
}
