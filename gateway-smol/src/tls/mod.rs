//! TLS on the gateway port and `wss://` in the client (rustls with ring).
//!
//! - [`pair`]: the server's certificate and key, from files or generated
//!   once into the state dir, and the rustls server config made of them.
//! - [`bridge`]: an accepted TLS socket handed to the ordinary socket code.
//! - [`renewal`]: a renewed certificate served without a restart.
//! - [`pin`]: the client's trust: exactly one pinned certificate, or the
//!   public web roots.
//!
//! Fingerprints are written as the reference writes them: the SHA-256 of the
//! leaf certificate's DER, 64 lowercase hex digits, no separators.

pub(crate) mod bridge;
pub mod pair;
pub mod pin;
pub mod renewal;

use sha2::{Digest, Sha256};

pub use pair::{cert_file_fingerprint, ServerTls, TlsError, TlsSettings};
pub use renewal::TlsRenewal;

/// The SHA-256 fingerprint of a certificate (its DER bytes), lowercase hex.
pub fn fingerprint_sha256(cert_der: &[u8]) -> String {
    Sha256::digest(cert_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fingerprint as a user may type it (`sha256:` prefix, colons between the
/// bytes, any case) in the canonical form; `None` when it is not a SHA-256
/// fingerprint at all.
pub fn normalize_fingerprint(text: &str) -> Option<String> {
    let text = text.trim();
    let text = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &text[7..],
        _ => text,
    };
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let plain = text.len() == 64 && hex(text);
    let colons = text.len() == 95
        && text.split(':').count() == 32
        && text.split(':').all(|pair| pair.len() == 2 && hex(pair));
    (plain || colons).then(|| text.replace(':', "").to_ascii_lowercase())
}

/// rustls with ring, chosen explicitly: nothing depends on a process-wide
/// default provider being installed.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_lowercase_hex_of_the_sha256() {
        // SHA-256 of the empty input, a well-known value.
        assert_eq!(
            fingerprint_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn typed_fingerprints_are_normalized() {
        let canonical = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(normalize_fingerprint(canonical).as_deref(), Some(canonical));
        let upper = format!("SHA256:{}", canonical.to_uppercase());
        assert_eq!(normalize_fingerprint(&upper).as_deref(), Some(canonical));
        let colons: Vec<String> = canonical
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(
            normalize_fingerprint(&format!(" {} ", colons.join(":"))).as_deref(),
            Some(canonical)
        );
        assert_eq!(normalize_fingerprint("abc"), None);
        assert_eq!(normalize_fingerprint(&canonical.replace('e', "g")), None);
        assert_eq!(normalize_fingerprint(&format!("{canonical}00")), None);
    }
}
