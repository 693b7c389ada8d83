//! A node host's signed `connect` frame, as the reference node host sends
//! it (`fakenode` capture): role `node`, client `node-host`/`node` on Linux,
//! no scopes, the `system` cap, the declared commands and a device proof
//! over the challenge nonce. Shared by the scenario tests, the fuzz target
//! and the end-to-end fake node.

use serde_json::json;

use crate::client::{DeviceKey, SignInput};

/// Who the node host says it is and what it declares.
#[derive(Clone, Copy, Debug)]
pub struct NodeHost<'a> {
    pub key: &'a DeviceKey,
    /// The shared gateway token (also signed).
    pub token: &'a str,
    pub display_name: &'a str,
    pub commands: &'a [&'a str],
}

impl NodeHost<'_> {
    /// The `connect` request (id `c0`) answering challenge `nonce`, signed
    /// at `signed_at_ms`.
    pub fn connect_frame(&self, nonce: &str, signed_at_ms: u64) -> String {
        let proof = self.key.sign(
            &SignInput {
                client_id: "node-host",
                client_mode: "node",
                role: "node",
                scopes: &[],
                token: self.token,
                nonce,
                platform: "linux",
                device_family: "Linux",
            },
            signed_at_ms,
        );
        json!({"type": "req", "id": "c0", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "node-host", "version": "2026.9.6", "platform": "linux",
                       "mode": "node", "deviceFamily": "Linux", "displayName": self.display_name},
            "role": "node", "scopes": [], "caps": ["system"], "commands": self.commands,
            "pathEnv": "/usr/bin:/bin", "auth": {"token": self.token},
            "device": {"id": proof.id, "publicKey": proof.public_key, "signature": proof.signature,
                       "signedAt": proof.signed_at, "nonce": proof.nonce},
        }})
        .to_string()
    }
}
