//! Small text helpers shared by the core and the runtime's HTTP surfaces.

/// Decode `%XX` escapes of a URL path or query part.
///
/// Strict on purpose, since callers feed the result to file lookups and
/// routing: `None` for an escape that is not exactly two hex digits (no sign,
/// no short escape) or for bytes that are not UTF-8. `+` stays `+`.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex_value(*bytes.get(i + 1)?)?;
            let low = hex_value(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `text` as JavaScript's `encodeURIComponent` writes it: UTF-8 bytes,
/// every one but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` as `%XX`.
pub fn percent_encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn components_are_encoded_as_encode_uri_component_does() {
        assert_eq!(
            super::percent_encode_component("ws://127.0.0.1:18789/ui"),
            "ws%3A%2F%2F127.0.0.1%3A18789%2Fui"
        );
        assert_eq!(
            super::percent_encode_component("a-b_c.d~e é"),
            "a-b_c.d~e%20%C3%A9"
        );
        let round = super::percent_decode(&super::percent_encode_component("x y/z")).unwrap();
        assert_eq!(round, "x y/z");
    }

    use super::percent_decode;

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(
            percent_decode("openclaw%2Fdefault").as_deref(),
            Some("openclaw/default")
        );
        assert_eq!(percent_decode("%2e%2E/x").as_deref(), Some("../x"));
        assert_eq!(percent_decode("a%00b").as_deref(), Some("a\0b"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        for bad in ["%zz", "%4", "%2", "%", "%+1", "%-1", "%ff"] {
            assert_eq!(percent_decode(bad), None, "{bad:?}");
        }
    }
}
