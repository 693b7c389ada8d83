//! Encoding outbound frames into a reused buffer.
//!
//! Each encoder clears `buf`, writes one frame and returns it as [`Bytes`]: the
//! only allocation is that copy, which is what gets shared between every
//! recipient of a broadcast.

use bytes::Bytes;
use serde::Serialize;

use super::{ErrorShape, StateVersion};

/// One outbound text message.
///
/// Broadcast events carry a per-connection `seq`, so the serialized event is
/// shared ([`Bytes`] is reference counted) and ends with `"seq":`; the seq and
/// the closing brace are written per recipient by [`OutFrame::write_to`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFrame {
    body: Bytes,
    seq: Option<u64>,
}

impl OutFrame {
    /// A complete frame.
    pub fn whole(body: Bytes) -> Self {
        OutFrame { body, seq: None }
    }

    /// A shared event body from [`encode_event`] with `with_seq = true`, stamped with `seq`.
    pub fn sequenced(body: Bytes, seq: u64) -> Self {
        OutFrame {
            body,
            seq: Some(seq),
        }
    }

    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// Length in bytes of the text message this frame becomes.
    pub fn len(&self) -> usize {
        match self.seq {
            None => self.body.len(),
            Some(seq) => self.body.len() + decimal_len(seq) + 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as contiguous bytes: free for whole frames, one copy for sequenced ones.
    pub fn to_bytes(&self) -> Bytes {
        match self.seq {
            None => self.body.clone(),
            Some(_) => {
                let mut out = Vec::with_capacity(self.len());
                self.write_to(&mut out);
                Bytes::from(out)
            }
        }
    }

    /// The shared part of the message (the whole of it for a frame without seq).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// What follows [`OutFrame::body`] on the wire: the seq digits and the
    /// closing brace of a sequenced frame, nothing otherwise. A writer sends
    /// body then tail, so a broadcast's body is never copied per recipient.
    pub fn tail(&self) -> SeqTail {
        let mut tail = SeqTail {
            bytes: [0; 21],
            len: 0,
        };
        if let Some(mut seq) = self.seq {
            let digits = decimal_len(seq);
            for i in (0..digits).rev() {
                tail.bytes[i] = b'0' + (seq % 10) as u8;
                seq /= 10;
            }
            tail.bytes[digits] = b'}';
            tail.len = digits as u8 + 1;
        }
        tail
    }

    /// Append the text message to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.body);
        if let Some(seq) = self.seq {
            write_u64(out, seq);
            out.push(b'}');
        }
    }

    /// The frame as a `String` (tests and logging).
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(self.len());
        self.write_to(&mut out);
        // Every encoder writes JSON, which is UTF-8; a lossless conversion cannot fail.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The per-recipient end of a sequenced frame (at most 20 digits and `}`).
#[derive(Clone, Copy, Debug)]
pub struct SeqTail {
    bytes: [u8; 21],
    len: u8,
}

impl SeqTail {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn write_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    // Serializing into a Vec only fails for maps with non-string keys, which no
    // payload type here has; the fallback keeps the frame valid JSON regardless.
    if serde_json::to_writer(&mut *buf, value).is_err() {
        buf.extend_from_slice(b"null");
    }
}

/// `{"type":"res","id":…,"ok":true,"payload":…}`.
pub fn encode_response_ok<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    id: &str,
    payload: &T,
) -> Bytes {
    buf.clear();
    buf.extend_from_slice(br#"{"type":"res","id":"#);
    write_json(buf, id);
    buf.extend_from_slice(br#","ok":true,"payload":"#);
    write_json(buf, payload);
    buf.push(b'}');
    Bytes::copy_from_slice(buf)
}

/// `{"type":"res","id":…,"ok":false,"payload"?:…,"error":…}`.
pub fn encode_response_err<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    id: &str,
    error: &ErrorShape,
    payload: Option<&T>,
) -> Bytes {
    buf.clear();
    buf.extend_from_slice(br#"{"type":"res","id":"#);
    write_json(buf, id);
    buf.extend_from_slice(br#","ok":false"#);
    if let Some(payload) = payload {
        buf.extend_from_slice(br#","payload":"#);
        write_json(buf, payload);
    }
    buf.extend_from_slice(br#","error":"#);
    write_json(buf, error);
    buf.push(b'}');
    Bytes::copy_from_slice(buf)
}

/// `{"type":"event","event":…,"payload"?:…,"stateVersion"?:…}`; with `with_seq`
/// the body ends in `,"seq":` for [`OutFrame::sequenced`].
pub fn encode_event<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    event: &str,
    payload: Option<&T>,
    state_version: Option<StateVersion>,
    with_seq: bool,
) -> Bytes {
    buf.clear();
    buf.extend_from_slice(br#"{"type":"event","event":"#);
    write_json(buf, event);
    if let Some(payload) = payload {
        buf.extend_from_slice(br#","payload":"#);
        write_json(buf, payload);
    }
    if let Some(sv) = state_version {
        buf.extend_from_slice(br#","stateVersion":{"presence":"#);
        write_u64(buf, sv.presence);
        buf.extend_from_slice(br#","health":"#);
        write_u64(buf, sv.health);
        buf.push(b'}');
    }
    if with_seq {
        buf.extend_from_slice(br#","seq":"#);
    } else {
        buf.push(b'}');
    }
    Bytes::copy_from_slice(buf)
}

/// `{"type":"req","id":…,"method":…,"params"?:…}` (client side).
pub fn encode_request<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    id: &str,
    method: &str,
    params: Option<&T>,
) -> Bytes {
    buf.clear();
    buf.extend_from_slice(br#"{"type":"req","id":"#);
    write_json(buf, id);
    buf.extend_from_slice(br#","method":"#);
    write_json(buf, method);
    if let Some(params) = params {
        buf.extend_from_slice(br#","params":"#);
        write_json(buf, params);
    }
    buf.push(b'}');
    Bytes::copy_from_slice(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ErrorCode;

    #[test]
    fn sequenced_event_gets_seq_and_brace() {
        let mut buf = Vec::new();
        let body = encode_event(
            &mut buf,
            "tick",
            Some(&serde_json::json!({"ts": 5})),
            None,
            true,
        );
        let frame = OutFrame::sequenced(body, 12);
        assert_eq!(
            frame.to_text(),
            r#"{"type":"event","event":"tick","payload":{"ts":5},"seq":12}"#
        );
        assert_eq!(frame.len(), frame.to_text().len());
    }

    #[test]
    fn body_then_tail_is_the_whole_message() {
        let mut buf = Vec::new();
        let body = encode_event(&mut buf, "tick", None::<&()>, None, true);
        for seq in [0u64, 7, 10, 12345, u64::MAX] {
            let frame = OutFrame::sequenced(body.clone(), seq);
            let mut joined = frame.body().to_vec();
            joined.extend_from_slice(frame.tail().as_bytes());
            assert_eq!(joined, frame.to_text().into_bytes());
        }
        let whole = OutFrame::whole(body.clone());
        assert!(whole.tail().as_bytes().is_empty());
        assert_eq!(whole.body(), &body);
    }

    #[test]
    fn ids_are_escaped() {
        let mut buf = Vec::new();
        let err = ErrorShape::invalid_request("x");
        let body = encode_response_err::<()>(&mut buf, "a\"b", &err, None);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "a\"b");
        assert_eq!(v["error"]["code"], ErrorCode::InvalidRequest.as_str());
    }

    #[test]
    fn decimal_len_matches_formatting() {
        for n in [0u64, 9, 10, 99, 100, 12345, u64::MAX] {
            assert_eq!(decimal_len(n), n.to_string().len());
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
