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

pub mod bootstrap;
mod bootstrap_connect;
pub(crate) mod connect;
pub(crate) mod hub;
mod records;
pub(crate) mod scopes;
mod state;
pub(crate) mod upgrades;

pub use bootstrap::BootstrapProfile;
pub use records::{
    DeviceTokenRecord, PairedDevice, PairingChange, PairingSnapshot, PendingRequest,
};
pub use state::{TokenRefusal, PENDING_TTL_MS};

pub(crate) use state::{approved_roles, is_expired, Approval, Ask, Mint, PairingBook};

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
    let shown = PairedDevice {
        tokens: None,
        approved_scopes: None,
        ..device.clone()
    };
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

/// Approve `request_id` in a copy of the store's contents, outside any
/// gateway, with the owner's rights: the `openclaw devices approve` fallback
/// on the gateway's host when the gateway will not let the CLI approve. The
/// same rules as `device.pair.approve` (union of roles and scopes, a fresh
/// token per requested role, expired requests pruned). Returns the paired
/// device and the changes to commit; `Ok(None)` for an unknown or expired
/// request; `Err` with the reference's message when the request itself is
/// malformed (a scope outside its roles).
pub fn approve_in_snapshot(
    snapshot: PairingSnapshot,
    request_id: &str,
    now_ms: u64,
    seed: [u8; 32],
) -> Result<Option<(PairedDevice, Vec<PairingChange>)>, String> {
    let mut book = PairingBook::from_snapshot(snapshot);
    let mut rng = Rng::from_seed(seed);
    let mut changes = Vec::new();
    let owner = ["operator.admin".to_owned()];
    let approval = Approval {
        caller_scopes: Some(&owner),
        approved_via: "owner",
    };
    match book.approve(request_id, &approval, now_ms, &mut rng, &mut changes) {
        Ok(Some(device)) => Ok(Some((device, changes))),
        Ok(None) => Ok(None),
        Err(forbidden) => Err(forbidden.message()),
    }
}

#[cfg(test)]
mod snapshot_approval_tests {
    use super::*;

    fn pending(request_id: &str, ts: u64) -> PendingRequest {
        PendingRequest {
            request_id: request_id.into(),
            device_id: "dev".into(),
            public_key: "pk".into(),
            role: Some("operator".into()),
            roles: Some(vec!["operator".into()]),
            scopes: Some(vec!["operator.read".into()]),
            ts,
            ..PendingRequest::default()
        }
    }

    #[test]
    fn approves_with_a_token_and_commits_the_move() {
        let snapshot = PairingSnapshot {
            pending: vec![pending("r1", 1_000)],
            paired: vec![],
        };
        let (device, changes) = approve_in_snapshot(snapshot, "r1", 2_000, [1; 32])
            .unwrap()
            .unwrap();
        assert_eq!(device.device_id, "dev");
        assert_eq!(device.approved_via.as_deref(), Some("owner"));
        let token = &device.tokens.as_ref().unwrap()["operator"];
        assert_eq!(token.scopes, vec!["operator.read".to_owned()]);
        assert_eq!(token.token.len(), 43);
        assert!(changes.contains(&PairingChange::DeletePending {
            request_id: "r1".into()
        }));
        assert!(changes.contains(&PairingChange::PutPaired(device)));
    }

    #[test]
    fn unknown_or_expired_requests_are_none() {
        let snapshot = PairingSnapshot {
            pending: vec![pending("r1", 1_000)],
            paired: vec![],
        };
        assert_eq!(
            approve_in_snapshot(snapshot.clone(), "other", 2_000, [1; 32]),
            Ok(None)
        );
        let late = 1_000 + PENDING_TTL_MS + 1;
        assert_eq!(approve_in_snapshot(snapshot, "r1", late, [1; 32]), Ok(None));
    }
}
