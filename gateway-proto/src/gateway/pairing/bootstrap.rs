//! One-time bootstrap tokens: a credential minted on the gateway host (by
//! `openclaw dashboard`, into the shared state database) that lets one
//! signed device pair itself, once, with the access its profile carries.
//!
//! The reference's rules (notes §2, `src/shared/device-bootstrap-profile.ts`
//! and `src/infra/device-bootstrap.ts`):
//!
//! - A token lives [`BOOTSTRAP_TOKEN_TTL_MS`] from its issue and is good for
//!   one redemption; the runtime reads and deletes its row in one
//!   transaction, so two sockets racing with the same token cannot both win.
//! - A profile names roles, scopes and a closed `purpose`. Scopes are
//!   always cut to the purpose's allowlist: only the Control UI owner
//!   profile carries `operator.admin` and `operator.pairing`.
//! - An owner token is good only for the Control UI client asking exactly
//!   the owner profile (role `operator`, every owner scope): a page that
//!   asked less would hold a limited credential the owner then cannot repair.
//!
//! One difference, on purpose: the reference binds the token to the first
//! device at verification and deletes it after the hello is sent; here the
//! token is spent when it is presented, even by a request its profile does
//! not allow. That never lets more in; a refused page asks for a new link.

use serde::{Deserialize, Serialize};

use super::scopes::{normalize_token_scopes, role_scopes_allow, OPERATOR_ROLE};
use crate::gateway::control_ui::CONTROL_UI_CLIENT_ID;

/// How long a bootstrap token may be redeemed after it was issued: ten minutes.
pub const BOOTSTRAP_TOKEN_TTL_MS: u64 = 10 * 60 * 1000;

/// `purpose` of the profile `openclaw dashboard` issues.
pub const CONTROL_UI_OWNER_PURPOSE: &str = "control-ui-owner";

/// Operator scopes a generic (setup code) handoff may carry.
const HANDOFF_SCOPES: [&str; 5] = [
    "operator.approvals",
    "operator.questions",
    "operator.read",
    "operator.talk.secrets",
    "operator.write",
];

/// Operator scopes of the Control UI owner profile (sorted, as stored).
pub const CONTROL_UI_OWNER_SCOPES: [&str; 7] = [
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
    "operator.questions",
    "operator.read",
    "operator.talk.secrets",
    "operator.write",
];

/// Operator scopes of the full mobile setup profile.
const MOBILE_FULL_SCOPES: [&str; 6] = [
    "operator.admin",
    "operator.approvals",
    "operator.questions",
    "operator.read",
    "operator.talk.secrets",
    "operator.write",
];

const VOICE_NODE_SCOPES: [&str; 2] = ["operator.read", "operator.talk"];

/// The purposes the reference knows; any other is dropped when read.
const PURPOSES: [&str; 5] = [
    "control-ui",
    CONTROL_UI_OWNER_PURPOSE,
    "mobile-full",
    "voice-node",
    "cloud-worker",
];

/// What a bootstrap token hands over (`profile_json` in the store).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapProfile {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

impl BootstrapProfile {
    /// The profile `openclaw dashboard` issues: the browser becomes an
    /// administrator device.
    pub fn control_ui_owner() -> BootstrapProfile {
        BootstrapProfile {
            roles: vec![OPERATOR_ROLE.to_owned()],
            scopes: CONTROL_UI_OWNER_SCOPES.map(str::to_owned).to_vec(),
            purpose: Some(CONTROL_UI_OWNER_PURPOSE.to_owned()),
        }
    }

    /// Roles sorted and deduplicated, scopes cut to the purpose's
    /// allowlist, an unknown purpose dropped: the profile as it may be used.
    pub fn normalized(&self) -> BootstrapProfile {
        let purpose = self
            .purpose
            .as_deref()
            .filter(|p| PURPOSES.contains(p))
            .map(str::to_owned);
        let mut roles: Vec<String> = self
            .roles
            .iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        roles.sort();
        roles.dedup();
        let scopes = if roles.iter().any(|r| r == OPERATOR_ROLE) {
            scopes_for_operator(&self.scopes, purpose.as_deref())
        } else {
            Vec::new()
        };
        BootstrapProfile {
            roles,
            scopes,
            purpose,
        }
    }

    /// The scopes a device pairing as `role` with `requested` receives, or
    /// `None` when this profile does not allow that request. A Control UI
    /// profile is good only for the Control UI client (`client_id`).
    pub fn grant(&self, client_id: &str, role: &str, requested: &[String]) -> Option<Vec<String>> {
        let profile = self.normalized();
        let for_control_ui = matches!(
            profile.purpose.as_deref(),
            Some(CONTROL_UI_OWNER_PURPOSE | "control-ui")
        );
        if for_control_ui && client_id != CONTROL_UI_CLIENT_ID {
            return None;
        }
        if !profile.roles.iter().any(|r| r == role) {
            return None;
        }
        let asked = if role == OPERATOR_ROLE {
            scopes_for_operator(requested, profile.purpose.as_deref())
        } else {
            Vec::new()
        };
        if profile.purpose.as_deref() == Some(CONTROL_UI_OWNER_PURPOSE)
            && (role != OPERATOR_ROLE || asked != profile.scopes)
        {
            return None;
        }
        role_scopes_allow(role, requested, &profile.scopes).then_some(asked)
    }
}

/// `scopes` normalized and cut to what `purpose` may carry for an operator.
fn scopes_for_operator(scopes: &[String], purpose: Option<&str>) -> Vec<String> {
    let allowed: &[&str] = match purpose {
        Some(CONTROL_UI_OWNER_PURPOSE) => &CONTROL_UI_OWNER_SCOPES,
        Some("mobile-full") => &MOBILE_FULL_SCOPES,
        Some("voice-node") => &VOICE_NODE_SCOPES,
        _ => &HANDOFF_SCOPES,
    };
    normalize_token_scopes(scopes)
        .into_iter()
        .filter(|s| allowed.contains(&s.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UI: &str = CONTROL_UI_CLIENT_ID;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_owner_profile_serializes_as_the_reference_stores_it() {
        let json = serde_json::to_string(&BootstrapProfile::control_ui_owner()).unwrap();
        assert_eq!(
            json,
            r#"{"roles":["operator"],"scopes":["operator.admin","operator.approvals","operator.pairing","operator.questions","operator.read","operator.talk.secrets","operator.write"],"purpose":"control-ui-owner"}"#
        );
    }

    #[test]
    fn an_owner_token_grants_exactly_the_owner_request() {
        let owner = BootstrapProfile::control_ui_owner();
        let all = strings(&CONTROL_UI_OWNER_SCOPES);
        assert_eq!(owner.grant(UI, "operator", &all), Some(all.clone()));
        assert_eq!(
            owner.grant("openclaw-macos", "operator", &all),
            None,
            "only the Control UI"
        );
        // The Control UI's own order, with a scope outside the allowlist.
        let ui = strings(&[
            "operator.admin",
            "operator.read",
            "operator.write",
            "operator.approvals",
            "operator.questions",
            "operator.pairing",
            "operator.talk.secrets",
        ]);
        assert_eq!(owner.grant(UI, "operator", &ui), Some(all.clone()));
        // Less than the owner profile, or another role: refused.
        assert_eq!(
            owner.grant(UI, "operator", &strings(&["operator.read"])),
            None
        );
        assert_eq!(owner.grant(UI, "node", &[]), None);
        // A scope outside the profile is not granted (admin covers it anyway).
        let mut more = all.clone();
        more.push("operator.secrets".into());
        assert_eq!(owner.grant(UI, "operator", &more), Some(all));
    }

    #[test]
    fn a_generic_profile_never_carries_admin_or_pairing() {
        let forged = BootstrapProfile {
            roles: strings(&["operator", "node"]),
            scopes: strings(&["operator.admin", "operator.pairing", "operator.read"]),
            purpose: Some("made-up".into()),
        };
        // Admin implies read and write; only those may cross a handoff.
        let normalized = forged.normalized();
        assert_eq!(
            normalized.scopes,
            strings(&["operator.read", "operator.write"])
        );
        assert_eq!(normalized.purpose, None);
        assert_eq!(
            forged.grant("openclaw-macos", "operator", &strings(&["operator.read"])),
            Some(strings(&["operator.read"]))
        );
        assert_eq!(
            forged.grant("openclaw-macos", "operator", &strings(&["operator.admin"])),
            None
        );
        assert_eq!(
            forged.grant("openclaw-macos", "node", &[]),
            Some(Vec::new())
        );
    }
}
