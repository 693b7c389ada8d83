//! What pairing says about a signed device's `connect`: go on, pair it
//! silently, or refuse it with a pending request.
//!
//! The reference's rules (its `shouldAllowSilentLocalPairing`,
//! `resolvePairingLocality`, `authorizeExistingGatewayDevice`):
//!
//! - A device that is not paired (or paired under another key) needs
//!   pairing, reason `not-paired`; one paired without the asked role needs
//!   `role-upgrade`; one asking for scopes beyond its approval needs
//!   `scope-upgrade`; one whose platform or device family differs from the
//!   pinned ones needs `metadata-upgrade`.
//! - A local backend (`gateway-client`/`backend` on loopback) skips pairing.
//! - Silent approval needs a local client (loopback, no forwarded headers);
//!   never for a browser Origin on a client other than the Control UI or
//!   webchat; a `metadata-upgrade` only for a native app UI; a
//!   `scope-upgrade` only with auth `none`, `token` or `password`; and
//!   never for a new role on an already paired device.
//!
//! The reference also treats some loopback connections with a shared
//! secret as local when they came through a container bridge; this
//! gateway does not see those hops, so they count as remote (a manual
//! approval, never a silent one).

use serde_json::json;

use super::state::{access_scopes, effective_roles, PairingBook};
use crate::gateway::Peer;
use crate::server::{AuthMethod, ConnectRequest, Role};
use crate::wire::{ErrorCode, ErrorShape};

/// Why a device must be (re-)approved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    NotPaired,
    RoleUpgrade,
    ScopeUpgrade,
    MetadataUpgrade,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::NotPaired => "not-paired",
            Reason::RoleUpgrade => "role-upgrade",
            Reason::ScopeUpgrade => "scope-upgrade",
            Reason::MetadataUpgrade => "metadata-upgrade",
        }
    }

    fn requirement(self) -> &'static str {
        match self {
            Reason::NotPaired => "device is not approved yet",
            Reason::RoleUpgrade => "device is asking for a higher role than currently approved",
            Reason::ScopeUpgrade => "device is asking for more scopes than currently approved",
            Reason::MetadataUpgrade => "device identity changed and must be re-approved",
        }
    }

    fn remediation_hint(self) -> &'static str {
        match self {
            Reason::NotPaired => "Approve this device from the pending pairing requests.",
            Reason::RoleUpgrade => {
                "Review the requested role upgrade, then approve the pending request."
            }
            Reason::ScopeUpgrade => {
                "Review the requested scopes, then approve the pending upgrade."
            }
            Reason::MetadataUpgrade => {
                "Review the refreshed device details, then approve the pending request."
            }
        }
    }
}

/// What the book says about a verified device's connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Assessment {
    /// Paired for this role and these scopes.
    Paired,
    /// Needs an approval first.
    Needs(Reason),
    /// A local backend client: pairing does not apply.
    Skip,
}

/// The kinds of client the silent-pairing rules single out.
struct ClientKind {
    control_ui: bool,
    webchat: bool,
    native_app_ui: bool,
    local_backend: bool,
}

fn client_kind(request: &ConnectRequest, peer: &Peer) -> ClientKind {
    let client = &request.params.client;
    let (id, mode) = (client.id.as_str(), client.mode.as_str());
    ClientKind {
        control_ui: id == "openclaw-control-ui",
        webchat: mode == "webchat" || id == "webchat-ui",
        native_app_ui: mode == "ui"
            && matches!(
                id,
                "openclaw-macos" | "openclaw-linux" | "openclaw-ios" | "openclaw-android"
            ),
        local_backend: id == "gateway-client"
            && mode == "backend"
            && peer.is_local
            && !has_origin(peer),
    }
}

fn has_origin(peer: &Peer) -> bool {
    peer.origin.as_deref().is_some_and(|o| !o.trim().is_empty())
}

/// Platform and device family are pinned at approval: a device that later
/// claims others must be re-approved.
fn metadata_mismatch(paired: Option<&str>, claimed: Option<&str>) -> bool {
    let normalize = |s: &str| s.trim().to_ascii_lowercase();
    match paired.map(normalize).filter(|s| !s.is_empty()) {
        Some(pinned) => claimed.map(normalize).unwrap_or_default() != pinned,
        None => false,
    }
}

/// Whether `request` (from a verified device) may go on as it is.
pub(crate) fn assess(book: &PairingBook, request: &ConnectRequest, peer: &Peer) -> Assessment {
    let Some(device) = &request.device else {
        return Assessment::Skip;
    };
    if client_kind(request, peer).local_backend {
        return Assessment::Skip;
    }
    let public_key = public_key_text(request);
    let Some(paired) = book
        .paired(&device.id)
        .filter(|p| p.public_key == public_key)
    else {
        return Assessment::Needs(Reason::NotPaired);
    };
    let client = &request.params.client;
    if metadata_mismatch(paired.platform.as_deref(), Some(&client.platform))
        || metadata_mismatch(
            paired.device_family.as_deref(),
            client.device_family.as_deref(),
        )
    {
        return Assessment::Needs(Reason::MetadataUpgrade);
    }
    if !effective_roles(paired)
        .iter()
        .any(|r| r == request.role.as_str())
    {
        return Assessment::Needs(Reason::RoleUpgrade);
    }
    let scopes = &request.params.scopes;
    if !scopes.is_empty() {
        let approved = access_scopes(paired);
        if approved.is_empty()
            || !super::scopes::role_scopes_allow(request.role.as_str(), scopes, &approved)
        {
            return Assessment::Needs(Reason::ScopeUpgrade);
        }
    }
    Assessment::Paired
}

/// The device's public key as the store keeps it: the raw key in
/// base64url without padding, whatever alphabet the client sent.
pub(crate) fn public_key_text(request: &ConnectRequest) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    request
        .device
        .as_ref()
        .map(|d| URL_SAFE_NO_PAD.encode(d.public_key))
        .unwrap_or_default()
}

/// Whether the reference would approve this pairing without an operator.
pub(crate) fn silent_allowed(
    request: &ConnectRequest,
    peer: &Peer,
    reason: Reason,
    already_paired: bool,
    auto_approve_local: bool,
) -> bool {
    // A new role on a paired device always needs an operator.
    if already_paired && request.role != Role::Operator {
        return false;
    }
    if !peer.is_local {
        return false;
    }
    let kind = client_kind(request, peer);
    let origin = has_origin(peer);
    if origin && !kind.control_ui && !kind.webchat {
        return false;
    }
    if reason == Reason::MetadataUpgrade {
        return !origin && !kind.control_ui && !kind.webchat && kind.native_app_ui;
    }
    if !auto_approve_local {
        return false;
    }
    if reason == Reason::ScopeUpgrade {
        return matches!(
            request.auth_method,
            AuthMethod::None | AuthMethod::Token | AuthMethod::Password
        );
    }
    true
}

/// The refusal of a connect that needs pairing, and the close reason.
pub(crate) fn pairing_required(
    reason: Reason,
    request_id: Option<&str>,
    request: &ConnectRequest,
    approved: Option<(Vec<String>, Vec<String>)>,
) -> (ErrorShape, String) {
    let message = format!("pairing required: {}", reason.requirement());
    let mut details = json!({ "code": "PAIRING_REQUIRED", "reason": reason.as_str() });
    if let Some(id) = request_id {
        details["requestId"] = id.into();
    }
    details["remediationHint"] = reason.remediation_hint().into();
    if let Some(device) = &request.device {
        details["deviceId"] = device.id.clone().into();
    }
    details["requestedRole"] = request.role.as_str().into();
    details["requestedScopes"] = request.params.scopes.clone().into();
    if let Some((roles, scopes)) = approved {
        if !roles.is_empty() {
            details["approvedRoles"] = roles.into();
        }
        if !scopes.is_empty() {
            details["approvedScopes"] = scopes.into();
        }
    }
    let close = match request_id {
        Some(id) => format!("{message} (requestId: {id})"),
        None => message.clone(),
    };
    (
        ErrorShape::new(ErrorCode::NotPaired, message).with_details(details),
        close,
    )
}
