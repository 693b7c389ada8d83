//! Device identity: Ed25519 key, id = hex SHA-256 of the raw key, and the
//! signature over the connect payload that binds it to this challenge.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::wire::{ConnectParams, DeviceIdentity, ErrorCode, ErrorShape};

/// Longest base64 text accepted for a key or signature.
const MAX_B64_CHARS: usize = 4096;
/// `signedAt` must be this close to the server's clock.
pub(crate) const MAX_SIGNATURE_SKEW_MS: i64 = 2 * 60 * 1000;

/// A device whose signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedDevice {
    pub id: String,
    pub public_key: [u8; 32],
}

fn device_error(detail_code: &str, message: &str) -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, message).with_details(json!({ "code": detail_code }))
}

/// Standard or URL-safe alphabet, padded or not.
pub(crate) fn decode_base64_any(text: &str) -> Option<Vec<u8>> {
    if text.len() > MAX_B64_CHARS {
        return None;
    }
    let text = text.trim();
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// Lowercase hex SHA-256 of the raw public key.
pub(crate) fn device_id_for_key(raw_key: &[u8]) -> String {
    let digest = Sha256::digest(raw_key);
    let mut s = String::with_capacity(64);
    for byte in digest {
        crate::ids::push_hex(&mut s, byte);
    }
    s
}

/// The string a client signs. `v3` adds platform and device family.
pub(crate) fn signature_payload(
    version: u8,
    device_id: &str,
    params: &ConnectParams,
    role: &str,
    nonce: &str,
    signed_at: i64,
) -> String {
    let auth = &params.auth;
    let token = auth
        .token
        .as_deref()
        .or(auth.device_token.as_deref())
        .or(auth.bootstrap_token.as_deref())
        .unwrap_or("");
    let mut payload = format!(
        "v{version}|{device_id}|{}|{}|{role}|{}|{signed_at}|{token}|{nonce}",
        params.client.id,
        params.client.mode,
        params.scopes.join(","),
    );
    if version >= 3 {
        let platform = params.client.platform.trim().to_ascii_lowercase();
        let family = params
            .client
            .device_family
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        payload.push('|');
        payload.push_str(&platform);
        payload.push('|');
        payload.push_str(&family);
    }
    payload
}

/// Check the `device` block of a connect against the challenge `nonce` and the
/// server clock `now_ms`.
pub(crate) fn verify_device(
    device: &DeviceIdentity,
    params: &ConnectParams,
    role: &str,
    nonce: &str,
    now_ms: u64,
) -> Result<VerifiedDevice, ErrorShape> {
    let key_bytes = decode_base64_any(&device.public_key)
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| {
            device_error(
                "DEVICE_AUTH_PUBLIC_KEY_INVALID",
                "device public key invalid",
            )
        })?;
    let mut raw_key = [0u8; 32];
    raw_key.copy_from_slice(&key_bytes);
    let key = VerifyingKey::from_bytes(&raw_key).map_err(|_| {
        device_error(
            "DEVICE_AUTH_PUBLIC_KEY_INVALID",
            "device public key invalid",
        )
    })?;

    let expected_id = device_id_for_key(&raw_key);
    if !device.id.trim().eq_ignore_ascii_case(&expected_id) {
        return Err(device_error(
            "DEVICE_AUTH_DEVICE_ID_MISMATCH",
            "device identity mismatch",
        ));
    }

    let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
    if (now_ms.saturating_sub(device.signed_at)).abs() > MAX_SIGNATURE_SKEW_MS {
        return Err(device_error(
            "DEVICE_AUTH_SIGNATURE_EXPIRED",
            "device signature expired",
        ));
    }

    match device.nonce.as_deref() {
        None | Some("") => {
            return Err(device_error(
                "DEVICE_AUTH_NONCE_REQUIRED",
                "device nonce required",
            ));
        }
        Some(sent) if sent != nonce => {
            return Err(device_error(
                "DEVICE_AUTH_NONCE_MISMATCH",
                "device nonce mismatch",
            ));
        }
        Some(_) => {}
    }

    let signature = decode_base64_any(&device.signature)
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| device_error("DEVICE_AUTH_SIGNATURE_INVALID", "device signature invalid"))?;
    let signed_ok = [3u8, 2].iter().any(|&version| {
        let payload =
            signature_payload(version, &expected_id, params, role, nonce, device.signed_at);
        key.verify_strict(payload.as_bytes(), &signature).is_ok()
    });
    if !signed_ok {
        return Err(device_error(
            "DEVICE_AUTH_SIGNATURE_INVALID",
            "device signature invalid",
        ));
    }
    Ok(VerifiedDevice {
        id: expected_id,
        public_key: raw_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed_params(nonce: &str, signed_at: i64, version: u8) -> (ConnectParams, SigningKey) {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let public = key.verifying_key().to_bytes();
        let mut params = ConnectParams::default();
        params.client.id = "cli".into();
        params.client.mode = "cli".into();
        params.client.platform = " Linux ".into();
        params.scopes = vec!["operator.read".into(), "operator.admin".into()];
        params.auth.token = Some("secret".into());
        let id = device_id_for_key(&public);
        let payload = signature_payload(version, &id, &params, "operator", nonce, signed_at);
        let signature = key.sign(payload.as_bytes());
        params.device = Some(DeviceIdentity {
            id,
            public_key: URL_SAFE_NO_PAD.encode(public),
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            signed_at,
            nonce: Some(nonce.into()),
        });
        (params, key)
    }

    #[test]
    fn v3_and_v2_signatures_verify() {
        for version in [3, 2] {
            let (params, _) = signed_params("n1", 1_000_000, version);
            let device = params.device.clone().unwrap();
            let verified = verify_device(&device, &params, "operator", "n1", 1_000_500).unwrap();
            assert_eq!(verified.id, device.id);
        }
    }

    #[test]
    fn every_failure_has_its_code() {
        let (params, _) = signed_params("n1", 1_000_000, 3);
        let device = params.device.clone().unwrap();
        let code = |d: &DeviceIdentity, nonce: &str, now: u64| {
            verify_device(d, &params, "operator", nonce, now)
                .unwrap_err()
                .detail_code()
                .map(str::to_owned)
        };
        assert_eq!(
            code(&device, "other", 1_000_000).as_deref(),
            Some("DEVICE_AUTH_NONCE_MISMATCH")
        );
        assert_eq!(
            code(&device, "n1", 1_000_000 + 200_000).as_deref(),
            Some("DEVICE_AUTH_SIGNATURE_EXPIRED")
        );
        let mut wrong_id = device.clone();
        wrong_id.id = "00".repeat(32);
        assert_eq!(
            code(&wrong_id, "n1", 1_000_000).as_deref(),
            Some("DEVICE_AUTH_DEVICE_ID_MISMATCH")
        );
        let mut bad_key = device.clone();
        bad_key.public_key = "!!".into();
        assert_eq!(
            code(&bad_key, "n1", 1_000_000).as_deref(),
            Some("DEVICE_AUTH_PUBLIC_KEY_INVALID")
        );
        let mut bad_sig = device.clone();
        bad_sig.signature = URL_SAFE_NO_PAD.encode([0u8; 64]);
        assert_eq!(
            code(&bad_sig, "n1", 1_000_000).as_deref(),
            Some("DEVICE_AUTH_SIGNATURE_INVALID")
        );
        let mut no_nonce = device.clone();
        no_nonce.nonce = None;
        assert_eq!(
            code(&no_nonce, "n1", 1_000_000).as_deref(),
            Some("DEVICE_AUTH_NONCE_REQUIRED")
        );
    }

    #[test]
    fn padded_standard_base64_key_is_accepted() {
        let (mut params, _) = signed_params("n1", 1_000_000, 3);
        let mut device = params.device.take().unwrap();
        let raw = decode_base64_any(&device.public_key).unwrap();
        device.public_key = STANDARD.encode(raw);
        assert!(verify_device(&device, &params, "operator", "n1", 1_000_000).is_ok());
    }
}
