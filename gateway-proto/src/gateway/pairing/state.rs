//! The pairing book: pending requests and paired devices, and every change
//! the reference allows on them.
//!
//! Each operation changes the book in memory and appends the matching
//! [`PairingChange`]s, which the hub hands to the runtime as one durable
//! write; callers answer only once that write has committed. Times are Unix
//! milliseconds passed in; new ids and tokens come from the caller's seeded
//! generator, so the book stays deterministic.

use std::collections::BTreeMap;

use super::records::{
    DeviceTokenRecord, PairedDevice, PairingChange, PairingSnapshot, PendingRequest,
};
use super::scopes::{
    merge_lists, missing_scope, normalize_token_scopes, role_scopes_allow, roles_of, same_set,
    scopes_for_role, sorted_unique, OPERATOR_ROLE, READ,
};
use crate::server::secrets_equal;

/// A pending request expires this long after it was created or last refreshed.
pub const PENDING_TTL_MS: u64 = 5 * 60 * 1000;

/// Where ids and tokens come from (the hub's seeded generator).
pub(crate) trait Mint {
    /// A new request id (a UUID).
    fn request_id(&mut self) -> String;
    /// A new device token: 32 random bytes, base64url without padding.
    fn token(&mut self) -> String;
}

/// What a connecting device asks for (one pending request's worth).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ask {
    pub device_id: String,
    pub public_key: String,
    pub display_name: Option<String>,
    pub platform: Option<String>,
    pub device_family: Option<String>,
    pub client_id: Option<String>,
    pub client_mode: Option<String>,
    pub browser_origin: Option<String>,
    pub role: String,
    pub scopes: Vec<String>,
    pub remote_ip: Option<String>,
    pub silent: bool,
}

/// The outcome of [`PairingBook::request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Requested {
    pub request: PendingRequest,
    /// A new request (else an existing one was refreshed).
    pub created: bool,
    /// Older requests of the device that the new one replaced.
    pub superseded: Vec<String>,
}

/// Who approves and with what rights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Approval<'a> {
    /// The approver's scopes (an operator request needs all it asks for).
    pub caller_scopes: Option<&'a [String]>,
    /// `owner` for an operator's approval, `silent` for a local device.
    pub approved_via: &'a str,
}

/// Why an approval was refused (the reference's `forbidden` reasons).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Forbidden {
    CallerScopesRequired(String),
    CallerMissingScope(String),
    ScopeOutsideRequestedRoles(String),
}

impl Forbidden {
    /// The reference's message for this refusal.
    pub(crate) fn message(&self) -> String {
        match self {
            Forbidden::CallerScopesRequired(scope) | Forbidden::CallerMissingScope(scope) => {
                format!("missing scope: {scope}")
            }
            Forbidden::ScopeOutsideRequestedRoles(scope) => {
                format!("invalid scope for requested roles: {scope}")
            }
        }
    }
}

/// Why a device token was not accepted (the reference's reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    DeviceNotPaired,
    RoleMissing,
    TokenMissing,
    TokenRevoked,
    TokenMismatch,
    IssuerGenerationStale,
    ScopeMismatch,
}

impl TokenRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRefusal::DeviceNotPaired => "device-not-paired",
            TokenRefusal::RoleMissing => "role-missing",
            TokenRefusal::TokenMissing => "token-missing",
            TokenRefusal::TokenRevoked => "token-revoked",
            TokenRefusal::TokenMismatch => "token-mismatch",
            TokenRefusal::IssuerGenerationStale => "issuer-generation-stale",
            TokenRefusal::ScopeMismatch => "scope-mismatch",
        }
    }
}

/// Why a token rotation or revocation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenChangeRefusal {
    UnknownDeviceOrRole,
    MissingApprovedScopeBaseline,
    ScopeOutsideApprovedBaseline,
    CallerMissingScope(String),
}

/// The pending requests and paired devices of one gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PairingBook {
    pending: BTreeMap<String, PendingRequest>,
    paired: BTreeMap<String, PairedDevice>,
}

/// The TTL of a pending request runs from its last refresh.
fn pending_expires_at(request: &PendingRequest) -> u64 {
    request
        .refreshed_at_ms
        .unwrap_or(request.ts)
        .saturating_add(PENDING_TTL_MS)
}

/// Whether a pending request's TTL has passed at `now_ms`.
pub(crate) fn is_expired(request: &PendingRequest, now_ms: u64) -> bool {
    pending_expires_at(request) <= now_ms
}

fn requested_roles(request: &PendingRequest) -> Vec<String> {
    roles_of(request.roles.as_deref(), request.role.as_deref())
}

/// The roles an owner approved for a device.
pub(crate) fn approved_roles(device: &PairedDevice) -> Vec<String> {
    roles_of(device.roles.as_deref(), device.role.as_deref())
}

/// Approved roles that still hold an unrevoked token.
pub(crate) fn effective_roles(device: &PairedDevice) -> Vec<String> {
    let approved = approved_roles(device);
    let Some(tokens) = &device.tokens else {
        return Vec::new();
    };
    let active: Vec<String> = tokens
        .values()
        .filter(|t| t.revoked_at_ms.is_none())
        .map(|t| t.role.clone())
        .collect();
    roles_of(Some(&active), None)
        .into_iter()
        .filter(|r| approved.contains(r))
        .collect()
}

/// The scopes a device may use: its approved baseline, else its scopes.
pub(crate) fn access_scopes(device: &PairedDevice) -> Vec<String> {
    sorted_unique(
        device
            .approved_scopes
            .as_deref()
            .or(device.scopes.as_deref())
            .unwrap_or(&[]),
    )
}

/// The approved baseline tokens must stay within, normalized; `None` when
/// the record has none at all.
fn approved_baseline(device: &PairedDevice) -> Option<Vec<String>> {
    device
        .approved_scopes
        .as_deref()
        .or(device.scopes.as_deref())
        .map(normalize_token_scopes)
}

fn within_baseline(role: &str, scopes: &[String], baseline: Option<&[String]>) -> bool {
    baseline.is_some_and(|baseline| role_scopes_allow(role, scopes, baseline))
}

/// A role token fresh from `mint`, keeping the lifecycle fields of the one it replaces.
fn new_token(
    mint: &mut dyn Mint,
    role: &str,
    scopes: Vec<String>,
    existing: Option<&DeviceTokenRecord>,
    keep_issuer: bool,
    now_ms: u64,
    rotated: bool,
) -> DeviceTokenRecord {
    DeviceTokenRecord {
        token: mint.token(),
        role: role.to_owned(),
        scopes,
        issuer: existing
            .filter(|_| keep_issuer)
            .and_then(|e| e.issuer.clone()),
        created_at_ms: existing.map_or(now_ms, |e| e.created_at_ms),
        rotated_at_ms: rotated.then_some(now_ms),
        revoked_at_ms: None,
        last_used_at_ms: existing.and_then(|e| e.last_used_at_ms),
        extra: Default::default(),
    }
}

impl PairingBook {
    pub(crate) fn from_snapshot(snapshot: PairingSnapshot) -> Self {
        PairingBook {
            pending: snapshot
                .pending
                .into_iter()
                .map(|p| (p.request_id.clone(), p))
                .collect(),
            paired: snapshot
                .paired
                .into_iter()
                .map(|d| (d.device_id.clone(), d))
                .collect(),
        }
    }

    pub(crate) fn paired(&self, device_id: &str) -> Option<&PairedDevice> {
        self.paired.get(device_id.trim())
    }

    pub(crate) fn pending(&self, request_id: &str) -> Option<&PendingRequest> {
        self.pending.get(request_id)
    }

    /// Pending requests, newest first (the order `device.pair.list` gives).
    pub(crate) fn pending_list(&self) -> Vec<&PendingRequest> {
        let mut list: Vec<&PendingRequest> = self.pending.values().collect();
        list.sort_by(|a, b| b.ts.cmp(&a.ts).then(a.request_id.cmp(&b.request_id)));
        list
    }

    /// Paired devices, most recently approved first.
    pub(crate) fn paired_list(&self) -> Vec<&PairedDevice> {
        let mut list: Vec<&PairedDevice> = self.paired.values().collect();
        list.sort_by(|a, b| {
            b.approved_at_ms
                .cmp(&a.approved_at_ms)
                .then(a.device_id.cmp(&b.device_id))
        });
        list
    }

    /// Drop the requests whose TTL has passed (the reference prunes before
    /// every change, so an expired request can be neither refreshed nor
    /// approved).
    pub(crate) fn prune_expired(&mut self, now_ms: u64, changes: &mut Vec<PairingChange>) {
        let expired: Vec<String> = self
            .pending
            .values()
            .filter(|p| is_expired(p, now_ms))
            .map(|p| p.request_id.clone())
            .collect();
        for request_id in expired {
            self.pending.remove(&request_id);
            changes.push(PairingChange::DeletePending { request_id });
        }
    }

    /// Record what a connecting device asks for. A device has at most one
    /// pending request: a reconnect that asks for the same or less refreshes
    /// it (same id); anything wider replaces it with one new request whose
    /// roles and scopes are the union of both.
    pub(crate) fn request(
        &mut self,
        ask: &Ask,
        now_ms: u64,
        mint: &mut dyn Mint,
        changes: &mut Vec<PairingChange>,
    ) -> Requested {
        self.prune_expired(now_ms, changes);
        let device_id = ask.device_id.trim().to_owned();
        let is_repair = self.paired.contains_key(&device_id);
        let mut existing: Vec<PendingRequest> = self
            .pending
            .values()
            .filter(|p| p.device_id == device_id)
            .cloned()
            .collect();
        existing.sort_by_key(|p| std::cmp::Reverse(p.ts));

        if let [only] = existing.as_slice() {
            if covered_by(only, ask) {
                let refreshed = PendingRequest {
                    public_key: ask.public_key.clone(),
                    display_name: ask.display_name.clone().or(only.display_name.clone()),
                    platform: ask.platform.clone().or(only.platform.clone()),
                    device_family: ask.device_family.clone().or(only.device_family.clone()),
                    client_id: ask.client_id.clone().or(only.client_id.clone()),
                    client_mode: ask.client_mode.clone().or(only.client_mode.clone()),
                    remote_ip: ask.remote_ip.clone().or(only.remote_ip.clone()),
                    silent: Some(only.silent == Some(true) && ask.silent),
                    is_repair: Some(only.is_repair == Some(true) || is_repair),
                    refreshed_at_ms: Some(now_ms),
                    ..only.clone()
                };
                self.pending
                    .insert(refreshed.request_id.clone(), refreshed.clone());
                changes.push(PairingChange::PutPending(refreshed.clone()));
                return Requested {
                    request: refreshed,
                    created: false,
                    superseded: Vec::new(),
                };
            }
        }

        for old in &existing {
            self.pending.remove(&old.request_id);
            changes.push(PairingChange::DeletePending {
                request_id: old.request_id.clone(),
            });
        }
        let mut role_lists: Vec<Option<&[String]>> = Vec::new();
        let singles: Vec<Vec<String>> = existing
            .iter()
            .map(|p| p.role.iter().cloned().collect())
            .collect();
        for (old, single) in existing.iter().zip(&singles) {
            role_lists.push(old.roles.as_deref());
            role_lists.push(Some(single));
        }
        let ask_role = vec![ask.role.clone()];
        role_lists.push(Some(&ask_role));
        let roles = merge_lists(role_lists);
        let scopes = merge_lists(
            existing
                .iter()
                .map(|p| p.scopes.as_deref())
                .chain([Some(&ask.scopes[..])]),
        );
        let silent = ask.silent && existing.iter().all(|p| p.silent == Some(true));
        let request = PendingRequest {
            request_id: mint.request_id(),
            device_id: device_id.clone(),
            public_key: ask.public_key.clone(),
            display_name: ask.display_name.clone(),
            platform: ask.platform.clone(),
            device_family: ask.device_family.clone(),
            client_id: ask.client_id.clone(),
            client_mode: ask.client_mode.clone(),
            browser_origin: ask.browser_origin.clone(),
            role: Some(ask.role.clone()),
            roles,
            scopes,
            remote_ip: ask.remote_ip.clone(),
            silent: Some(silent),
            is_repair: Some(is_repair),
            ts: now_ms,
            refreshed_at_ms: None,
        };
        self.pending
            .insert(request.request_id.clone(), request.clone());
        changes.push(PairingChange::PutPending(request.clone()));
        Requested {
            request,
            created: true,
            superseded: existing.into_iter().map(|p| p.request_id).collect(),
        }
    }

    /// Approve a pending request: the device is paired with the union of
    /// what it had and what it asked for, and gets a fresh token for each
    /// requested role. `Ok(None)` when the request is unknown (or expired).
    pub(crate) fn approve(
        &mut self,
        request_id: &str,
        approval: &Approval<'_>,
        now_ms: u64,
        mint: &mut dyn Mint,
        changes: &mut Vec<PairingChange>,
    ) -> Result<Option<PairedDevice>, Forbidden> {
        self.prune_expired(now_ms, changes);
        let Some(pending) = self.pending.get(request_id).cloned() else {
            return Ok(None);
        };
        let existing = self.paired.get(&pending.device_id).cloned();
        let roles_requested = requested_roles(&pending);
        let requested_scopes = normalize_token_scopes(pending.scopes.as_deref().unwrap_or(&[]));
        if let Some(scope) = scope_outside_roles(&roles_requested, &requested_scopes) {
            return Err(Forbidden::ScopeOutsideRequestedRoles(scope));
        }
        let existing_roles = existing.as_ref().map(approved_roles);
        let roles = merge_lists([existing_roles.as_deref(), Some(&roles_requested[..])]);
        let baseline = existing
            .as_ref()
            .and_then(|e| e.approved_scopes.as_deref().or(e.scopes.as_deref()));
        let approved_scopes = merge_lists([baseline, pending.scopes.as_deref()]);
        let mut tokens = existing
            .as_ref()
            .and_then(|e| e.tokens.clone())
            .unwrap_or_default();
        let mut next_scopes: Vec<(String, Vec<String>)> = Vec::new();
        for role in &roles_requested {
            let scopes = approved_token_scopes(
                role,
                &pending,
                tokens.get(role),
                approved_scopes.as_deref(),
                existing.as_ref(),
            );
            if role == "operator" && !scopes.is_empty() {
                let wanted = merge_lists([
                    Some(&scopes_for_role(role, pending.scopes.as_deref().unwrap_or(&[]))[..]),
                    Some(&scopes[..]),
                ])
                .unwrap_or_default();
                let Some(caller) = approval.caller_scopes else {
                    return Err(Forbidden::CallerScopesRequired(
                        wanted.first().cloned().unwrap_or_default(),
                    ));
                };
                if let Some(scope) = missing_scope("operator", &wanted, caller) {
                    return Err(Forbidden::CallerMissingScope(scope.to_owned()));
                }
            }
            next_scopes.push((role.clone(), scopes));
        }
        for (role, scopes) in next_scopes {
            let existing_token = tokens.get(&role).cloned();
            let token = new_token(
                mint,
                &role,
                scopes,
                existing_token.as_ref(),
                true,
                now_ms,
                existing_token.is_some(),
            );
            tokens.insert(role, token);
        }
        let device = PairedDevice {
            device_id: pending.device_id.clone(),
            public_key: pending.public_key.clone(),
            display_name: pending.display_name.clone(),
            operator_label: existing.as_ref().and_then(|e| e.operator_label.clone()),
            platform: pending.platform.clone(),
            device_family: pending.device_family.clone(),
            client_id: pending.client_id.clone(),
            client_mode: pending.client_mode.clone(),
            browser_origin: pending.browser_origin.clone(),
            role: pending.role.clone(),
            roles,
            scopes: approved_scopes.clone(),
            approved_scopes,
            remote_ip: pending.remote_ip.clone(),
            tokens: Some(tokens),
            approved_via: merge_approval_kind(existing.as_ref(), approval.approved_via),
            node_surface: existing.as_ref().and_then(|e| e.node_surface.clone()),
            pending_node_surface: existing
                .as_ref()
                .and_then(|e| e.pending_node_surface.clone()),
            created_at_ms: existing.as_ref().map_or(now_ms, |e| e.created_at_ms),
            approved_at_ms: now_ms,
            last_seen_at_ms: existing.as_ref().and_then(|e| e.last_seen_at_ms),
            last_seen_reason: existing.as_ref().and_then(|e| e.last_seen_reason.clone()),
        };
        self.pending.remove(request_id);
        changes.push(PairingChange::DeletePending {
            request_id: request_id.to_owned(),
        });
        self.paired.insert(device.device_id.clone(), device.clone());
        changes.push(PairingChange::PutPaired(device.clone()));
        Ok(Some(device))
    }

    /// Drop a pending request. Returns its device id, or `None` if unknown.
    pub(crate) fn reject(
        &mut self,
        request_id: &str,
        now_ms: u64,
        changes: &mut Vec<PairingChange>,
    ) -> Option<String> {
        self.prune_expired(now_ms, changes);
        let pending = self.pending.remove(request_id)?;
        changes.push(PairingChange::DeletePending {
            request_id: request_id.to_owned(),
        });
        Some(pending.device_id)
    }

    /// Unpair a device and drop its pending requests. `false` if unknown.
    pub(crate) fn remove(
        &mut self,
        device_id: &str,
        now_ms: u64,
        changes: &mut Vec<PairingChange>,
    ) -> bool {
        self.prune_expired(now_ms, changes);
        let device_id = device_id.trim();
        if self.paired.remove(device_id).is_none() {
            return false;
        }
        changes.push(PairingChange::DeletePaired {
            device_id: device_id.to_owned(),
        });
        let stale: Vec<String> = self
            .pending
            .values()
            .filter(|p| p.device_id == device_id)
            .map(|p| p.request_id.clone())
            .collect();
        for request_id in stale {
            self.pending.remove(&request_id);
            changes.push(PairingChange::DeletePending { request_id });
        }
        true
    }

    /// Apply `update` to a paired device and record the change. `false` if unknown.
    pub(crate) fn update_paired(
        &mut self,
        device_id: &str,
        changes: &mut Vec<PairingChange>,
        update: impl FnOnce(&mut PairedDevice),
    ) -> bool {
        let Some(device) = self.paired.get_mut(device_id.trim()) else {
            return false;
        };
        update(device);
        changes.push(PairingChange::PutPaired(device.clone()));
        true
    }

    /// Check a presented device token for `role` covering `scopes`.
    pub(crate) fn verify_token(
        &self,
        device_id: &str,
        role: &str,
        token: &str,
        scopes: &[String],
    ) -> Result<&DeviceTokenRecord, TokenRefusal> {
        let device = self
            .paired
            .get(device_id.trim())
            .ok_or(TokenRefusal::DeviceNotPaired)?;
        let role = role.trim();
        if role.is_empty() {
            return Err(TokenRefusal::RoleMissing);
        }
        let entry = device
            .tokens
            .as_ref()
            .and_then(|t| t.get(role))
            .ok_or(TokenRefusal::TokenMissing)?;
        if entry.revoked_at_ms.is_some() {
            return Err(TokenRefusal::TokenRevoked);
        }
        let (given, expected) = (token.trim(), entry.token.trim());
        if given.is_empty() || expected.is_empty() || !secrets_equal(given, &entry.token) {
            return Err(TokenRefusal::TokenMismatch);
        }
        // We issue no shared-auth generations: a token bound to one (the
        // reference's browser sessions) cannot be checked here.
        if entry
            .issuer
            .as_ref()
            .and_then(|i| i.get("kind"))
            .and_then(|k| k.as_str())
            == Some("shared-gateway-auth")
        {
            return Err(TokenRefusal::IssuerGenerationStale);
        }
        let baseline = approved_baseline(device);
        if !within_baseline(role, &entry.scopes, baseline.as_deref()) {
            return Err(TokenRefusal::ScopeMismatch);
        }
        let requested = normalize_token_scopes(scopes);
        if !role_scopes_allow(role, &requested, &entry.scopes) {
            return Err(TokenRefusal::ScopeMismatch);
        }
        Ok(entry)
    }

    /// The paired device whose unrevoked operator token is `token`, when
    /// that token still passes [`Self::verify_token`] for `operator.read`
    /// plus its own scopes: an HTTP bearer credential of a browser that
    /// paired (the Control UI sends its device token to its read routes).
    pub(crate) fn operator_by_token(&self, token: &str) -> Option<&PairedDevice> {
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        let (device, entry) = self.paired.values().find_map(|device| {
            let entry = device.tokens.as_ref()?.get(OPERATOR_ROLE)?;
            let live = entry.revoked_at_ms.is_none() && secrets_equal(token, entry.token.trim());
            live.then_some((device, entry))
        })?;
        let mut scopes = vec![READ.to_owned()];
        scopes.extend(entry.scopes.iter().cloned());
        self.verify_token(&device.device_id, OPERATOR_ROLE, token, &scopes)
            .ok()
            .map(|_| device)
    }

    /// The token a connecting device gets in hello-ok: its current one when
    /// it is unrevoked and covers `scopes` within the approved baseline,
    /// else a new one (recorded in `changes`). `None` when the device is not
    /// paired for `role` or `scopes` exceed its baseline.
    pub(crate) fn ensure_token(
        &mut self,
        device_id: &str,
        role: &str,
        scopes: &[String],
        now_ms: u64,
        mint: &mut dyn Mint,
        changes: &mut Vec<PairingChange>,
    ) -> Option<DeviceTokenRecord> {
        let device = self.paired.get_mut(device_id.trim())?;
        let role = role.trim();
        if role.is_empty() || !approved_roles(device).iter().any(|r| r == role) {
            return None;
        }
        let requested = normalize_token_scopes(scopes);
        let baseline = approved_baseline(device);
        if !within_baseline(role, &requested, baseline.as_deref()) {
            return None;
        }
        let existing = device.tokens.as_ref().and_then(|t| t.get(role)).cloned();
        if let Some(current) = existing.as_ref().filter(|t| t.revoked_at_ms.is_none()) {
            if within_baseline(role, &current.scopes, baseline.as_deref())
                && current.issuer.is_none()
                && role_scopes_allow(role, &requested, &current.scopes)
            {
                return Some(current.clone());
            }
        }
        let token = new_token(
            mint,
            role,
            requested,
            existing.as_ref(),
            false,
            now_ms,
            existing.is_some(),
        );
        device
            .tokens
            .get_or_insert_with(BTreeMap::new)
            .insert(role.to_owned(), token.clone());
        changes.push(PairingChange::PutPaired(device.clone()));
        Some(token)
    }

    /// Replace a role's token (`device.token.rotate`).
    #[allow(clippy::too_many_arguments)] // the method's params, the caller, the clock and the mint
    pub(crate) fn rotate_token(
        &mut self,
        device_id: &str,
        role: &str,
        scopes: Option<&[String]>,
        caller_scopes: Option<&[String]>,
        now_ms: u64,
        mint: &mut dyn Mint,
        changes: &mut Vec<PairingChange>,
    ) -> Result<DeviceTokenRecord, TokenChangeRefusal> {
        let role = role.trim();
        let device = self
            .paired
            .get_mut(device_id.trim())
            .filter(|d| !role.is_empty() && approved_roles(d).iter().any(|r| r == role))
            .ok_or(TokenChangeRefusal::UnknownDeviceOrRole)?;
        let existing = device.tokens.as_ref().and_then(|t| t.get(role)).cloned();
        let source = scopes
            .or(existing.as_ref().map(|e| &e.scopes[..]))
            .or(device.scopes.as_deref())
            .unwrap_or(&[]);
        let requested = normalize_token_scopes(source);
        let baseline =
            approved_baseline(device).ok_or(TokenChangeRefusal::MissingApprovedScopeBaseline)?;
        if !role_scopes_allow(role, &requested, &baseline) {
            return Err(TokenChangeRefusal::ScopeOutsideApprovedBaseline);
        }
        if let Some(caller) = caller_scopes {
            if let Some(scope) = missing_scope(role, &requested, caller) {
                return Err(TokenChangeRefusal::CallerMissingScope(scope.to_owned()));
            }
        }
        let token = new_token(mint, role, requested, existing.as_ref(), true, now_ms, true);
        device
            .tokens
            .get_or_insert_with(BTreeMap::new)
            .insert(role.to_owned(), token.clone());
        changes.push(PairingChange::PutPaired(device.clone()));
        Ok(token)
    }

    /// Mark a role's token revoked (`device.token.revoke`). Returns when.
    pub(crate) fn revoke_token(
        &mut self,
        device_id: &str,
        role: &str,
        caller_scopes: Option<&[String]>,
        now_ms: u64,
        changes: &mut Vec<PairingChange>,
    ) -> Result<DeviceTokenRecord, TokenChangeRefusal> {
        let role = role.trim();
        let device = self
            .paired
            .get_mut(device_id.trim())
            .filter(|d| !role.is_empty() && approved_roles(d).iter().any(|r| r == role))
            .ok_or(TokenChangeRefusal::UnknownDeviceOrRole)?;
        let existing = device
            .tokens
            .as_ref()
            .and_then(|t| t.get(role))
            .cloned()
            .ok_or(TokenChangeRefusal::UnknownDeviceOrRole)?;
        if let Some(caller) = caller_scopes {
            let target = normalize_token_scopes(&existing.scopes);
            if let Some(scope) = missing_scope(role, &target, caller) {
                return Err(TokenChangeRefusal::CallerMissingScope(scope.to_owned()));
            }
        }
        let revoked = DeviceTokenRecord {
            revoked_at_ms: Some(now_ms),
            ..existing
        };
        device
            .tokens
            .get_or_insert_with(BTreeMap::new)
            .insert(role.to_owned(), revoked.clone());
        changes.push(PairingChange::PutPaired(device.clone()));
        Ok(revoked)
    }
}

/// Whether a reconnect's ask is covered by the device's pending request
/// (same key, origin and role; no new role; every scope already asked).
fn covered_by(existing: &PendingRequest, ask: &Ask) -> bool {
    if existing.public_key != ask.public_key
        || existing.browser_origin != ask.browser_origin
        || existing.role.as_deref().map(str::trim) != Some(ask.role.trim())
    {
        return false;
    }
    let existing_roles = requested_roles(existing);
    let ask_roles = vec![ask.role.clone()];
    let existing_scopes = normalize_token_scopes(existing.scopes.as_deref().unwrap_or(&[]));
    let ask_scopes = normalize_token_scopes(&ask.scopes);
    if same_set(&existing_roles, &ask_roles) && same_set(&existing_scopes, &ask_scopes) {
        return true;
    }
    ask_roles.iter().all(|r| existing_roles.contains(r))
        && ask_scopes.iter().all(|scope| {
            ask_roles
                .iter()
                .any(|role| role_scopes_allow(role, std::slice::from_ref(scope), &existing_scopes))
        })
}

/// The first scope that belongs to none of the requested roles.
fn scope_outside_roles(roles: &[String], scopes: &[String]) -> Option<String> {
    scopes
        .iter()
        .find(|scope| {
            !roles.iter().any(|role| {
                scope
                    .trim()
                    .strip_prefix(role.trim())
                    .is_some_and(|rest| rest.starts_with('.'))
            })
        })
        .cloned()
}

/// The scopes of a role's token after an approval (the reference's rule:
/// a request that only repeats approved scopes keeps the current token's
/// scopes; new ones are added to them).
fn approved_token_scopes(
    role: &str,
    pending: &PendingRequest,
    existing_token: Option<&DeviceTokenRecord>,
    approved_scopes: Option<&[String]>,
    existing: Option<&PairedDevice>,
) -> Vec<String> {
    let for_role = |scopes: Option<&[String]>| scopes_for_role(role, scopes.unwrap_or(&[]));
    let pending_scopes = for_role(pending.scopes.as_deref());
    if !pending_scopes.is_empty() {
        let baseline =
            for_role(existing.and_then(|e| e.approved_scopes.as_deref().or(e.scopes.as_deref())));
        let delta: Vec<String> = if existing_token.is_some() && !baseline.is_empty() {
            pending_scopes
                .iter()
                .filter(|s| !baseline.contains(s))
                .cloned()
                .collect()
        } else {
            pending_scopes
        };
        if delta.is_empty() {
            if let Some(token) = existing_token {
                return for_role(Some(&token.scopes));
            }
        }
        let merged = merge_lists([existing_token.map(|t| &t.scopes[..]), Some(&delta[..])]);
        return for_role(merged.as_deref());
    }
    for_role(
        existing_token
            .map(|t| &t.scopes[..])
            .or(approved_scopes)
            .or(existing.and_then(|e| e.approved_scopes.as_deref().or(e.scopes.as_deref()))),
    )
}

/// `owner` always wins; an owner or bootstrap approval is never downgraded.
fn merge_approval_kind(existing: Option<&PairedDevice>, incoming: &str) -> Option<String> {
    let Some(existing) = existing.filter(|_| incoming != "owner") else {
        return Some(incoming.to_owned());
    };
    match existing.approved_via.as_deref() {
        None => (incoming == "bootstrap").then(|| "bootstrap".to_owned()),
        Some(kind @ ("owner" | "bootstrap")) => Some(kind.to_owned()),
        Some(_) => Some(incoming.to_owned()),
    }
}
