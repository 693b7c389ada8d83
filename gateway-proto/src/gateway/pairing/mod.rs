//! Device pairing: which signed devices may connect, with which role and
//! scopes, and the device tokens they are issued.
//!
//! What the core promises (the reference's rules, notes §2):
//!
//! - **No unpaired device gets a session.** A signed device that is not
//!   paired for the role and scopes it asks for is refused `NOT_PAIRED`
//!   (close 1008) with a pending request an operator can approve, unless the
//!   reference would approve it silently (a local client; see [`connect`]).
//! - **Answered after commit.** A connect or method that changes the book
//!   is answered only when the runtime reports its store write committed;
//!   the book is changed in memory at once so later requests see it.
//! - **One pending request per device**, refreshed by a reconnect that asks
//!   for no more, replaced by a union when it asks for more, expiring
//!   [`PENDING_TTL_MS`] after its last refresh.
//! - **Tokens are secrets**: 32 random bytes from the seeded CSPRNG,
//!   compared in constant time, never in `device.pair.list` answers.

pub(crate) mod connect;
pub(crate) mod hub;
mod records;
pub(crate) mod scopes;
mod state;
pub(crate) mod upgrades;

pub use records::{
    DeviceTokenRecord, PairedDevice, PairingChange, PairingSnapshot, PendingRequest,
};
pub use state::{TokenRefusal, PENDING_TTL_MS};

pub(crate) use state::{Approval, Ask, Mint, PairingBook, TokenChangeRefusal};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::ids::Rng;

impl Mint for Rng {
    fn request_id(&mut self) -> String {
        self.uuid_v4()
    }

    fn token(&mut self) -> String {
        let mut bytes = [0u8; 32];
        self.fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

/// The store writes of one operation are ordered behind each other.
pub(crate) const PAIRING_STORE: super::StoreKey = super::StoreKey("pairing");

/// `device.pair.requested` / `device.pair.list` show a request without its
/// refresh time.
pub(crate) fn public_request(request: &PendingRequest) -> PendingRequest {
    PendingRequest {
        refreshed_at_ms: None,
        ..request.clone()
    }
}

/// A paired device as answers show it: no token secrets, no approved-scope
/// baseline, tokens summarized; `connected` when asked.
pub(crate) fn redacted(device: &PairedDevice, connected: Option<bool>) -> serde_json::Value {
    let mut shown = PairedDevice {
        tokens: None,
        approved_scopes: None,
        ..device.clone()
    };
    shown.tokens = None;
    let mut value = serde_json::to_value(&shown).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        if let Some(connected) = connected {
            object.insert("connected".into(), connected.into());
        }
        let summaries: Vec<serde_json::Value> = device
            .tokens
            .iter()
            .flat_map(|tokens| tokens.values())
            .map(|t| {
                let mut s = serde_json::json!({
                    "role": t.role,
                    "scopes": t.scopes,
                    "createdAtMs": t.created_at_ms,
                });
                for (key, value) in [
                    ("rotatedAtMs", t.rotated_at_ms),
                    ("revokedAtMs", t.revoked_at_ms),
                    ("lastUsedAtMs", t.last_used_at_ms),
                ] {
                    if let Some(value) = value {
                        s[key] = value.into();
                    }
                }
                s
            })
            .collect();
        if device.tokens.is_some() {
            object.insert("tokens".into(), summaries.into());
        }
    }
    value
}

impl crate::server::DeviceTokens for PairingBook {
    fn check(
        &self,
        device_id: &str,
        role: &str,
        token: &str,
        scopes: &[String],
    ) -> Result<(), TokenRefusal> {
        self.verify_token(device_id, role, token, scopes)
            .map(|_| ())
    }
}

impl super::Gateway {
    /// Load the pairing store's contents (at start-up, before the first
    /// connection). Requests already past their TTL are dropped when the
    /// book is next changed, as the reference prunes them.
    pub fn restore_pairing(&mut self, snapshot: PairingSnapshot) {
        self.pairing = PairingBook::from_snapshot(snapshot);
    }

    /// The pairing book's current contents (tests, diagnostics).
    pub fn pairing_snapshot(&self) -> PairingSnapshot {
        PairingSnapshot {
            pending: self.pairing.pending_list().into_iter().cloned().collect(),
            paired: self.pairing.paired_list().into_iter().cloned().collect(),
        }
    }
}
