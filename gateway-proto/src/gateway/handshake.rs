//! The hub's side of a handshake: the hello-ok it sends, the presence entry
//! a new client gets, and which sessions a config change ends.

use serde_json::value::RawValue;

use super::connections::ConnEntry;
use super::presence::{presence_key, PresenceEntry};
use super::Config;
use crate::server::{
    check_browser_origin, close_code, AuthMethod, ConnectRequest, HelloAuth, HelloFeatures,
    HelloOk, HelloPolicy, HelloServer, HelloSnapshot, ServerConnection,
};
use crate::wire::StateVersion;

/// What hello-ok reports besides the client's own session.
pub(crate) struct HelloFacts<'a> {
    pub(crate) config: &'a Config,
    pub(crate) boot_id: &'a str,
    pub(crate) presence: &'a RawValue,
    pub(crate) health: &'a RawValue,
    pub(crate) state_version: StateVersion,
    pub(crate) uptime_ms: u64,
    /// `features.methods` and `features.events`.
    pub(crate) features: (&'a [&'static str], &'a [&'static str]),
}

/// Open the session of an approved `connect` with its hello-ok.
pub(crate) fn send_hello(
    conn: &mut ServerConnection,
    conn_uuid: &str,
    request: &ConnectRequest,
    device_token: Option<&super::pairing::DeviceTokenRecord>,
    facts: &HelloFacts<'_>,
    buf: &mut Vec<u8>,
) {
    let config = facts.config;
    let hello = HelloOk {
        kind: "hello-ok",
        protocol: request.protocol.number(),
        server: HelloServer {
            version: &config.server_version,
            build_id: config.control_ui.build_id.as_deref(),
            conn_id: conn_uuid,
            boot_id: Some(facts.boot_id),
            control_ui_build_source: Some(config.control_ui.build_source()),
        },
        features: HelloFeatures {
            methods: facts.features.0,
            events: facts.features.1,
        },
        snapshot: HelloSnapshot {
            presence: facts.presence,
            health: facts.health,
            state_version: facts.state_version,
            uptime_ms: facts.uptime_ms,
            config_path: config.config_path.as_deref(),
            state_dir: config.state_dir.as_deref(),
            auth_mode: Some(config.auth.mode_name()),
        },
        policy: HelloPolicy {
            max_payload: config.limits.max_payload as u64,
            max_buffered_bytes: config.limits.max_buffered_bytes as u64,
            tick_interval_ms: u64::try_from(config.limits.tick_interval.as_millis())
                .unwrap_or(u64::MAX),
        },
        auth: HelloAuth {
            role: request.role.as_str(),
            scopes: &request.granted_scopes,
            method: Some(request.auth_method.as_str()),
            device_token: device_token.map(|t| t.token.as_str()),
            issued_at_ms: device_token.map(|t| t.rotated_at_ms.unwrap_or(t.created_at_ms)),
        },
    }
    .for_protocol(request.protocol);
    conn.accept(&hello, buf);
}

/// Whether a client gets a presence entry. As with the reference, the
/// short-lived and machine clients (`cli`, `backend`, `probe` modes) do not:
/// a thousand SDK clients would otherwise make every connect a broadcast of
/// a thousand-entry list.
pub(crate) fn is_tracked(request: &ConnectRequest) -> bool {
    !matches!(
        request.params.client.mode.to_ascii_lowercase().as_str(),
        "cli" | "backend" | "probe"
    )
}

/// The presence key and entry of a newly connected tracked client, as the
/// reference builds them: a node is keyed by its device (else its instance,
/// else its connection), anyone else by its connection, so two windows of one
/// app are two entries. A local client's address is not shown.
pub(crate) fn presence_of(
    entry: &ConnEntry,
    request: &ConnectRequest,
    ts: u64,
) -> (String, PresenceEntry) {
    let client = &request.params.client;
    let device_id = request.device.as_ref().map(|d| d.id.as_str());
    let is_node = request.role == crate::server::Role::Node;
    let raw_key = if is_node {
        device_id
            .or(client.instance_id.as_deref())
            .unwrap_or(&entry.conn_uuid)
    } else {
        &entry.conn_uuid
    };
    let peer = entry.conn.peer();
    let ip = (!peer.is_local && !peer.ip.is_loopback()).then(|| peer.ip.to_string());
    let host = client
        .display_name
        .clone()
        .unwrap_or_else(|| client.id.clone());
    let granted = &request.granted_scopes;
    let presence = PresenceEntry {
        text: Some(format!("Node: {host} · mode {}", client.mode)),
        host: Some(host),
        client_id: Some(client.id.clone()),
        ip,
        version: Some(client.version.clone()),
        platform: Some(client.platform.clone()),
        device_family: client.device_family.clone(),
        model_identifier: client.model_identifier.clone(),
        mode: Some(client.mode.clone()),
        reason: Some("connect".to_owned()),
        ts,
        instance_id: if is_node {
            device_id.map(str::to_owned).or(client.instance_id.clone())
        } else {
            client.instance_id.clone()
        },
        device_id: device_id.map(str::to_owned),
        roles: Some(vec![request.role.as_str().to_owned()]),
        scopes: (!granted.is_empty()).then(|| granted.clone()),
        ..PresenceEntry::default()
    };
    (presence_key(raw_key), presence)
}

/// After a config change, close `conn` if the new settings would not admit
/// its session (see [`super::Gateway::reconfigure`]).
pub(crate) fn evict_if_disallowed(
    conn: &mut ServerConnection,
    config: &Config,
    auth_changed: bool,
) {
    let Some(session) = conn.session() else {
        return;
    };
    if auth_changed && used_gateway_auth(session.auth_method) {
        conn.close(close_code::AUTH_CHANGED, "gateway auth changed");
        return;
    }
    let peer = conn.peer();
    if let Some(origin) = peer.origin.as_deref() {
        let allowed = check_browser_origin(
            origin,
            peer.host.as_deref(),
            peer.is_local,
            &config.origin_policy,
        )
        .is_ok();
        if !allowed {
            conn.close(close_code::POLICY_VIOLATION, "origin not allowed");
        }
    }
}

/// Whether a session rests on the gateway-wide auth settings: a shared token
/// or password, no auth at all, or a bootstrap handoff (which the reference
/// ties to the shared auth generation too). Device tokens, once issued, do
/// not: rotating the shared secret leaves paired devices connected.
fn used_gateway_auth(method: AuthMethod) -> bool {
    matches!(
        method,
        AuthMethod::Token | AuthMethod::Password | AuthMethod::None | AuthMethod::BootstrapToken
    )
}
