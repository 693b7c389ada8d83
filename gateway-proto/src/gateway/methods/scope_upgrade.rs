//! `device.scopes.requestUpgrade` and `device.scopes.waitUpgrade`: a paired
//! device asks for more operator scopes from inside its session, then waits
//! for the decision (see [`crate::gateway::pairing::upgrades`]).
//!
//! Both need no scope (a read-only session may ask for more), but only a
//! paired operator device may use them.

use serde::Deserialize;
use serde_json::json;

use super::{Call, HubView};
use crate::gateway::pairing::hub::{AfterWrite, PairingEvent};
use crate::gateway::pairing::scopes::{normalize_token_scopes, role_scopes_allow};
use crate::gateway::pairing::{public_request, Ask, PENDING_TTL_MS};
use crate::server::{Role, Scope};
use crate::wire::{ArrayRules, ErrorCode, ErrorShape, Property, Schema};

static SCOPE: Schema = Schema::string(Some(1), None);

pub(crate) static REQUEST_PARAMS: Schema = Schema::object(
    &[Property::new(
        "scopes",
        Schema::Array(ArrayRules {
            items: &SCOPE,
            min_items: Some(1),
            max_items: Some(8),
            unique_items: true,
        }),
    )],
    &["scopes"],
);
pub(crate) static WAIT_PARAMS: Schema = Schema::object(
    &[Property::new("requestId", Schema::string(Some(1), None))],
    &["requestId"],
);

#[derive(Deserialize)]
struct RequestParams {
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitParams {
    request_id: String,
}

fn device_required() -> ErrorShape {
    ErrorShape::invalid_request(
        "device scope upgrade requires a paired browser identity; reopen the Control UI over HTTPS or localhost, then retry",
    )
    .with_details(json!({
        "code": "DEVICE_IDENTITY_REQUIRED",
        "recommendedNextStep": "reopen_control_ui_securely",
    }))
}

/// Operator scopes the gateway knows (and the session scopes the
/// reference adds to them).
fn is_operator_scope(scope: &str) -> bool {
    Scope::parse(scope).is_some()
        || matches!(scope, "operator.sessions.read" | "operator.sessions.write")
}

/// The calling operator's device id, if it is a signed device session.
fn owner(hub: &HubView<'_>, call: &Call<'_>) -> Option<String> {
    if call.session.role != Role::Operator {
        return None;
    }
    hub.out
        .conns
        .get(call.conn)
        .and_then(|e| e.device_id.as_deref().map(str::to_owned))
}

pub(crate) fn request_upgrade(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params: RequestParams = match call.params() {
        Ok(params) => params,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let Some(device_id) = owner(hub, call) else {
        return hub
            .out
            .respond_error(call.conn, call.id, &device_required());
    };
    let Some(paired) = hub.pairing.paired(&device_id).cloned() else {
        return hub
            .out
            .respond_error(call.conn, call.id, &device_required());
    };
    let requested = normalize_token_scopes(&params.scopes);
    if !requested.iter().all(|s| is_operator_scope(s)) {
        let error =
            ErrorShape::invalid_request("requested scopes contain an unknown operator scope");
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    if !role_scopes_allow("operator", &call.session.scopes.names(), &requested) {
        let error = ErrorShape::invalid_request(
            "requested scopes must include the connection's current scopes",
        );
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let now_ms = hub.clock.unix_ms(hub.now);
    let remote_ip = hub
        .out
        .conns
        .get(call.conn)
        .map(|e| e.conn.peer())
        .filter(|p| !p.is_local)
        .map(|p| p.ip.to_string());
    let ask = Ask {
        device_id: device_id.clone(),
        public_key: paired.public_key.clone(),
        display_name: paired.display_name.clone(),
        platform: paired.platform.clone(),
        device_family: paired.device_family.clone(),
        client_id: paired.client_id.clone(),
        client_mode: paired.client_mode.clone(),
        browser_origin: paired.browser_origin.clone(),
        role: "operator".to_owned(),
        scopes: requested,
        remote_ip,
        silent: false,
    };
    let before = hub.pairing.clone();
    let mut changes = Vec::new();
    let requested = hub.pairing.request(&ask, now_ms, hub.rng, &mut changes);
    let request_id = requested.request.request_id.clone();
    let expires_at = hub.now + std::time::Duration::from_millis(PENDING_TTL_MS);
    if !hub.upgrades.register(&request_id, &device_id, expires_at) {
        *hub.pairing = before;
        let mut error = ErrorShape::new(
            ErrorCode::Unavailable,
            "device scope upgrade is temporarily unavailable",
        );
        error.retryable = Some(true);
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    let mut events: Vec<PairingEvent> = requested
        .superseded
        .iter()
        .map(|old| PairingEvent::Resolved {
            request_id: old.clone(),
            device_id: device_id.clone(),
            approved: false,
            ts: now_ms,
        })
        .collect();
    if requested.created {
        events.push(PairingEvent::Requested(Box::new(public_request(
            &requested.request,
        ))));
    }
    let after = AfterWrite::Reply {
        conn: call.conn,
        request_id: call.id.to_owned(),
        payload: json!({ "requestId": request_id }),
        events,
        disconnect: None,
    };
    hub.commit_pairing(changes, after, before);
}

pub(crate) fn wait_upgrade(hub: &mut HubView<'_>, call: &Call<'_>) {
    let params: WaitParams = match call.params() {
        Ok(params) => params,
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    let Some(device_id) = owner(hub, call) else {
        return hub
            .out
            .respond_error(call.conn, call.id, &device_required());
    };
    match hub
        .upgrades
        .wait(&params.request_id, &device_id, call.conn, call.id)
    {
        Ok(Some(result)) => hub.out.respond_ok(call.conn, call.id, &result),
        Ok(None) => {}
        Err(()) => {
            let error = ErrorShape::invalid_request("scope upgrade expired or not found");
            hub.out.respond_error(call.conn, call.id, &error);
        }
    }
}
