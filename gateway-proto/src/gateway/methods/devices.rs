//! `device.pair.*` and `device.token.*`: operators list, approve, reject,
//! remove and rename paired devices, and rotate or revoke their tokens.
//!
//! Who may do what (the reference's rules): these methods need
//! `operator.pairing`. A caller signed in with its own device token and
//! without `operator.admin` acts only on its own device, never on a
//! non-operator role, and never grants a scope it does not hold. Every
//! change is answered once its store write has committed; then its event
//! goes out and, for remove/rotate/revoke, the device's sessions close.

use serde::Deserialize;
use serde_json::json;

use super::{Call, HubView};
use crate::gateway::pairing::hub::{AfterWrite, PairingEvent};
use crate::gateway::pairing::{is_expired, public_request, redacted, Approval};
use crate::server::{AuthMethod, Scope};
use crate::wire::{ArrayRules, ErrorShape, Property, Schema};

const ID: Schema = Schema::string(Some(1), None);
static IDS: Schema = Schema::string(Some(1), None);

pub(crate) static LIST_PARAMS: Schema = Schema::object(&[], &[]);
pub(crate) static REQUEST_ID_PARAMS: Schema =
    Schema::object(&[Property::new("requestId", ID)], &["requestId"]);
pub(crate) static DEVICE_ID_PARAMS: Schema =
    Schema::object(&[Property::new("deviceId", ID)], &["deviceId"]);
pub(crate) static RENAME_PARAMS: Schema = Schema::object(
    &[
        Property::new("deviceId", ID),
        Property::new("label", Schema::string(Some(1), Some(64))),
    ],
    &["deviceId", "label"],
);
pub(crate) static ROTATE_PARAMS: Schema = Schema::object(
    &[
        Property::new("deviceId", ID),
        Property::new("role", ID),
        Property::new(
            "scopes",
            Schema::Array(ArrayRules {
                items: &IDS,
                min_items: None,
                max_items: None,
                unique_items: false,
            }),
        ),
    ],
    &["deviceId", "role"],
);
pub(crate) static REVOKE_PARAMS: Schema = Schema::object(
    &[Property::new("deviceId", ID), Property::new("role", ID)],
    &["deviceId", "role"],
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIdParams {
    request_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceIdParams {
    device_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenameParams {
    device_id: String,
    label: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenParams {
    device_id: String,
    role: String,
    scopes: Option<Vec<String>>,
}

/// The caller as the device rules see it.
pub(crate) struct Caller {
    /// Set only when the caller signed in with its own device token.
    pub(crate) device_id: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) admin: bool,
}

impl Caller {
    pub(crate) fn of(hub: &HubView<'_>, call: &Call<'_>) -> Caller {
        let device_id = (call.session.auth_method == AuthMethod::DeviceToken)
            .then(|| hub.out.conns.get(call.conn))
            .flatten()
            .and_then(|e| e.device_id.as_deref().map(str::to_owned));
        Caller {
            device_id,
            scopes: call.session.scopes.names(),
            admin: call.session.scopes.contains_exactly(Scope::Admin),
        }
    }

    /// A non-admin device may manage only itself.
    pub(crate) fn denied_other_device(&self, target: &str) -> bool {
        !self.admin
            && self
                .device_id
                .as_deref()
                .is_some_and(|own| own != target.trim())
    }

    /// A non-admin caller with a device token manages operator roles only.
    fn denied_role(&self, role: &str) -> bool {
        let role = role.trim();
        !self.admin && !role.is_empty() && role != "operator"
    }
}

fn has_non_operator_role(role: Option<&str>, roles: Option<&[String]>) -> bool {
    role.into_iter()
        .chain(roles.unwrap_or(&[]).iter().map(String::as_str))
        .map(str::trim)
        .any(|r| !r.is_empty() && r != "operator")
}

pub(crate) fn pair_list(hub: &mut HubView<'_>, call: &Call<'_>) {
    let now_ms = hub.clock.unix_ms(hub.now);
    let caller = Caller::of(hub, call);
    let mine = |id: &str| caller.admin || caller.device_id.as_deref().is_none_or(|own| own == id);
    let live = |request: &&crate::gateway::pairing::PendingRequest| !is_expired(request, now_ms);
    let pending: Vec<_> = hub
        .pairing
        .pending_list()
        .into_iter()
        .filter(live)
        .filter(|p| mine(&p.device_id))
        .map(public_request)
        .collect();
    let paired: Vec<_> = hub
        .pairing
        .paired_list()
        .into_iter()
        .filter(|d| mine(&d.device_id))
        .map(|d| {
            let connected = hub.out.conns.any(|e| {
                e.device_id.as_deref() == Some(d.device_id.as_str()) && e.conn.is_authenticated()
            });
            redacted(d, Some(connected))
        })
        .collect();
    hub.out.respond_ok(
        call.conn,
        call.id,
        &json!({ "pending": pending, "paired": paired }),
    );
}

pub(crate) fn pair_approve(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, RequestIdParams);
    let request_id = params.request_id.trim().to_owned();
    let caller = Caller::of(hub, call);
    let denied = || ErrorShape::invalid_request("device pairing approval denied");
    if !caller.admin {
        let Some(pending) = hub.pairing.pending(&request_id) else {
            return hub.out.respond_error(call.conn, call.id, &denied());
        };
        if caller.denied_other_device(&pending.device_id)
            || has_non_operator_role(pending.role.as_deref(), pending.roles.as_deref())
        {
            return hub.out.respond_error(call.conn, call.id, &denied());
        }
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    let approval = Approval {
        caller_scopes: Some(&caller.scopes),
        approved_via: "owner",
    };
    match hub
        .pairing
        .approve(&request_id, &approval, now_ms, hub.rng, &mut changes)
    {
        Ok(Some(device)) => {
            let events = vec![PairingEvent::Resolved {
                request_id: request_id.clone(),
                device_id: device.device_id.clone(),
                approved: true,
                ts: now_ms,
            }];
            let payload = json!({ "requestId": request_id, "device": redacted(&device, None) });
            hub.commit_pairing(changes, reply(call, payload, events, None), before);
        }
        Ok(None) => {
            hub.commit_pairing(changes, AfterWrite::Nothing, before);
            let error = ErrorShape::invalid_request("unknown requestId");
            hub.out.respond_error(call.conn, call.id, &error);
        }
        Err(forbidden) => {
            hub.commit_pairing(changes, AfterWrite::Nothing, before);
            let error = ErrorShape::invalid_request(forbidden.message());
            hub.out.respond_error(call.conn, call.id, &error);
        }
    }
}

pub(crate) fn pair_reject(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, RequestIdParams);
    let request_id = params.request_id.trim().to_owned();
    let caller = Caller::of(hub, call);
    if caller.device_id.is_some() && !caller.admin {
        let owned = hub
            .pairing
            .pending(&request_id)
            .is_some_and(|p| !caller.denied_other_device(&p.device_id));
        if !owned {
            let error = ErrorShape::invalid_request("device pairing rejection denied");
            return hub.out.respond_error(call.conn, call.id, &error);
        }
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    match hub.pairing.reject(&request_id, now_ms, &mut changes) {
        Some(device_id) => {
            let events = vec![PairingEvent::Resolved {
                request_id: request_id.clone(),
                device_id: device_id.clone(),
                approved: false,
                ts: now_ms,
            }];
            let payload = json!({ "requestId": request_id, "deviceId": device_id });
            hub.commit_pairing(changes, reply(call, payload, events, None), before);
        }
        None => {
            hub.commit_pairing(changes, AfterWrite::Nothing, before);
            let error = ErrorShape::invalid_request("unknown requestId");
            hub.out.respond_error(call.conn, call.id, &error);
        }
    }
}

pub(crate) fn pair_remove(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, DeviceIdParams);
    let caller = Caller::of(hub, call);
    let denied = || ErrorShape::invalid_request("device pairing removal denied");
    if caller.denied_other_device(&params.device_id) {
        return hub.out.respond_error(call.conn, call.id, &denied());
    }
    let device_id = params.device_id.trim().to_owned();
    if caller.device_id.is_some() && !caller.admin && manages_non_operator(hub, &device_id) {
        return hub.out.respond_error(call.conn, call.id, &denied());
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    if hub.pairing.remove(&device_id, now_ms, &mut changes) {
        let payload = json!({ "deviceId": device_id });
        let after = reply(call, payload, Vec::new(), Some((device_id, None)));
        hub.commit_pairing(changes, after, before);
    } else {
        hub.commit_pairing(changes, AfterWrite::Nothing, before);
        let error = ErrorShape::invalid_request("unknown deviceId");
        hub.out.respond_error(call.conn, call.id, &error);
    }
}

pub(crate) fn pair_rename(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, RenameParams);
    let label = params.label.trim().to_owned();
    if label.is_empty() {
        let error = ErrorShape::invalid_request("label required");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let caller = Caller::of(hub, call);
    let denied = || ErrorShape::invalid_request("device pairing rename denied");
    if caller.denied_other_device(&params.device_id) {
        return hub.out.respond_error(call.conn, call.id, &denied());
    }
    if caller.device_id.is_some() && !caller.admin && manages_non_operator(hub, &params.device_id) {
        return hub.out.respond_error(call.conn, call.id, &denied());
    }
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    let renamed = hub
        .pairing
        .update_paired(&params.device_id, &mut changes, |d| {
            d.operator_label = Some(label.clone())
        });
    if renamed {
        let payload = json!({ "deviceId": params.device_id, "label": label });
        let after = reply(call, payload, vec![PairingEvent::Changed], None);
        hub.commit_pairing(changes, after, before);
    } else {
        let error = ErrorShape::invalid_request("unknown deviceId");
        hub.out.respond_error(call.conn, call.id, &error);
    }
}

pub(crate) fn token_rotate(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, TokenParams);
    let caller = Caller::of(hub, call);
    let denied = || ErrorShape::invalid_request("device token rotation denied");
    if caller.denied_other_device(&params.device_id) || caller.denied_role(&params.role) {
        return hub.out.respond_error(call.conn, call.id, &denied());
    }
    let caller_scopes = (params.role.trim() == "operator").then_some(&caller.scopes[..]);
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    let rotated = hub.pairing.rotate_token(
        &params.device_id,
        &params.role,
        params.scopes.as_deref(),
        caller_scopes,
        now_ms,
        hub.rng,
        &mut changes,
    );
    let entry = match rotated {
        Ok(entry) => entry,
        // The reference answers every refused token change with one message.
        Err(_) => return hub.out.respond_error(call.conn, call.id, &denied()),
    };
    let device_id = params.device_id.trim().to_owned();
    let in_band = caller.device_id.as_deref() == Some(device_id.as_str());
    let mut payload = json!({ "deviceId": params.device_id, "role": entry.role });
    if in_band {
        payload["token"] = entry.token.clone().into();
    }
    payload["scopes"] = entry.scopes.clone().into();
    payload["rotatedAtMs"] = entry.rotated_at_ms.unwrap_or(entry.created_at_ms).into();
    payload["tokenDelivery"] = if in_band {
        "in-band"
    } else {
        "withheld-cross-device"
    }
    .into();
    let after = reply(
        call,
        payload,
        Vec::new(),
        Some((device_id, Some(entry.role))),
    );
    hub.commit_pairing(changes, after, before);
}

pub(crate) fn token_revoke(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params = params_or_answer!(hub, call, TokenParams);
    let caller = Caller::of(hub, call);
    let denied = || ErrorShape::invalid_request("device token revocation denied");
    if caller.denied_other_device(&params.device_id) || caller.denied_role(&params.role) {
        return hub.out.respond_error(call.conn, call.id, &denied());
    }
    let caller_scopes = (params.role.trim() == "operator").then_some(&caller.scopes[..]);
    let now_ms = hub.clock.unix_ms(hub.now);
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    let revoked = hub.pairing.revoke_token(
        &params.device_id,
        &params.role,
        caller_scopes,
        now_ms,
        &mut changes,
    );
    let entry = match revoked {
        Ok(entry) => entry,
        // The reference answers every refused token change with one message.
        Err(_) => return hub.out.respond_error(call.conn, call.id, &denied()),
    };
    let device_id = params.device_id.trim().to_owned();
    let payload = json!({
        "deviceId": device_id,
        "role": entry.role,
        "revokedAtMs": entry.revoked_at_ms.unwrap_or(now_ms),
    });
    let after = reply(
        call,
        payload,
        Vec::new(),
        Some((device_id, Some(entry.role))),
    );
    hub.commit_pairing(changes, after, before);
}

fn manages_non_operator(hub: &HubView<'_>, device_id: &str) -> bool {
    hub.pairing.paired(device_id).is_some_and(|d| {
        has_non_operator_role(d.role.as_deref(), d.roles.as_deref())
            || d.tokens
                .as_ref()
                .is_some_and(|t| t.values().any(|t| t.role.trim() != "operator"))
    })
}

fn reply(
    call: &Call<'_>,
    payload: serde_json::Value,
    events: Vec<PairingEvent>,
    disconnect: Option<(String, Option<String>)>,
) -> AfterWrite {
    AfterWrite::Reply {
        conn: call.conn,
        request_id: call.id.to_owned(),
        payload,
        events,
        disconnect,
    }
}
