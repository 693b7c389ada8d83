//! Ed25519 device identity: the key, its id, and the signature over the v3
//! connect payload (`v3|deviceId|clientId|clientMode|role|scopesCsv|signedAtMs|token|nonce|platform|deviceFamily`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

/// A device's signing key. `Debug` does not print the secret.
#[derive(Clone)]
pub struct DeviceKey {
    key: SigningKey,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("id", &self.device_id())
            .finish()
    }
}

/// What goes into `connect.device`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceProof {
    pub id: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: u64,
    pub nonce: String,
}

/// The fields of the signed payload other than the key and the time.
pub struct SignInput<'a> {
    pub client_id: &'a str,
    pub client_mode: &'a str,
    pub role: &'a str,
    pub scopes: &'a [String],
    pub token: &'a str,
    pub nonce: &'a str,
    pub platform: &'a str,
    pub device_family: &'a str,
}

impl DeviceKey {
    pub fn from_secret(secret: [u8; 32]) -> Self {
        DeviceKey {
            key: SigningKey::from_bytes(&secret),
        }
    }

    pub fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Raw 32-byte public key, base64url without padding.
    pub fn public_key_b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// Lowercase hex SHA-256 of the raw public key.
    pub fn device_id(&self) -> String {
        let digest = Sha256::digest(self.key.verifying_key().as_bytes());
        let mut s = String::with_capacity(64);
        for b in digest {
            crate::ids::push_hex(&mut s, b);
        }
        s
    }

    /// The exact string the gateway verifies (v3 form).
    pub fn payload_v3(&self, input: &SignInput<'_>, signed_at_ms: u64) -> String {
        // The gateway normalises platform/deviceFamily this way before verifying.
        let platform = input.platform.trim().to_ascii_lowercase();
        let family = input.device_family.trim().to_ascii_lowercase();
        format!(
            "v3|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.device_id(),
            input.client_id,
            input.client_mode,
            input.role,
            input.scopes.join(","),
            signed_at_ms,
            input.token,
            input.nonce,
            platform,
            family
        )
    }

    pub fn sign(&self, input: &SignInput<'_>, signed_at_ms: u64) -> DeviceProof {
        let payload = self.payload_v3(input, signed_at_ms);
        let signature = self.key.sign(payload.as_bytes());
        DeviceProof {
            id: self.device_id(),
            public_key: self.public_key_b64url(),
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            signed_at: signed_at_ms,
            nonce: input.nonce.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier};

    #[test]
    fn signature_verifies_over_v3_payload() {
        let key = DeviceKey::from_secret([9; 32]);
        let scopes = vec!["operator.read".to_string(), "operator.write".to_string()];
        let input = SignInput {
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &scopes,
            token: "t",
            nonce: "n-1",
            platform: " Linux ",
            device_family: "",
        };
        let proof = key.sign(&input, 1234);
        assert_eq!(proof.id.len(), 64);
        let payload = key.payload_v3(&input, 1234);
        assert!(payload.ends_with("|1234|t|n-1|linux|"));
        let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(&proof.signature)
            .unwrap()
            .try_into()
            .unwrap();
        key.key
            .verifying_key()
            .verify(payload.as_bytes(), &Signature::from_bytes(&sig_bytes))
            .unwrap();
    }
}
