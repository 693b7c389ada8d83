//! Shared by the `devices` tests: our gateway with a token and a pairing
//! policy, our CLI on its state dir, and a signed device that asks to pair.
#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::disallowed_methods)] // real processes, real time

use std::time::Duration;

use gateway_proto::client::{ClientIdentity, DeviceKey};
use gateway_smol::client::{Client, ClientOptions, ConnectError};
use serde_json::Value;

use super::gateway_support::{run_to_end, Gateway};

pub const TOKEN: &str = "devices-test-token";

pub fn config(auto_approve_local: bool) -> String {
    format!(
        "{{ gateway: {{ auth: {{ token: '{TOKEN}' }}, nodes: {{ pairing: {{ autoApproveLocal: {auto_approve_local} }} }} }} }}"
    )
}

/// Our CLI on the gateway's own state dir and config (token from the
/// config, port from the environment): `(exit code, stdout, stderr)`.
pub fn cli(gw: &Gateway, args: &[&str]) -> (i32, String, String) {
    let port = gw.port.to_string();
    run_to_end(gw.dir.path(), args, |cmd| {
        cmd.env("OPENCLAW_GATEWAY_PORT", &port).env("NO_COLOR", "1");
    })
}

pub fn cli_json(gw: &Gateway, args: &[&str]) -> Value {
    let (code, out, err) = cli(gw, args);
    assert_eq!(code, 0, "{args:?}: {err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// A desktop app's signed connect asking for `operator.read`.
pub fn device_connect(
    gw: &Gateway,
    key: &DeviceKey,
    device_token: Option<&str>,
) -> Result<Client, ConnectError> {
    let app = ClientIdentity {
        id: "openclaw-macos".into(),
        mode: "ui".into(),
        platform: "macos".into(),
        device_family: Some("Mac".into()),
        display_name: Some("Remote Mac".into()),
        ..ClientIdentity::default()
    };
    connect_as(gw, key, device_token, app)
}

/// The same device on a gateway without auth (no shared token sent).
pub fn device_connect_no_auth(
    gw: &Gateway,
    key: &DeviceKey,
    device_token: Option<&str>,
) -> Result<Client, ConnectError> {
    let app = ClientIdentity {
        id: "openclaw-macos".into(),
        mode: "ui".into(),
        platform: "macos".into(),
        device_family: Some("Mac".into()),
        display_name: Some("Remote Mac".into()),
        ..ClientIdentity::default()
    };
    connect_with(gw, key, None, device_token, app)
}

/// What our CLI says it is (`devices`, `gateway call` on this machine).
pub fn our_cli() -> ClientIdentity {
    let family = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac",
        other => other,
    };
    ClientIdentity {
        device_family: Some(family.into()),
        ..ClientIdentity::default()
    }
}

pub fn connect_as(
    gw: &Gateway,
    key: &DeviceKey,
    device_token: Option<&str>,
    client: ClientIdentity,
) -> Result<Client, ConnectError> {
    let shared = device_token.is_none().then_some(TOKEN);
    connect_with(gw, key, shared, device_token, client)
}

pub fn connect_with(
    gw: &Gateway,
    key: &DeviceKey,
    shared_token: Option<&str>,
    device_token: Option<&str>,
    client: ClientIdentity,
) -> Result<Client, ConnectError> {
    let opts = ClientOptions {
        token: shared_token.map(str::to_owned),
        device_token: device_token.map(str::to_owned),
        device: Some(key.clone()),
        client,
        scopes: vec!["operator.read".into()],
        reconnect: false,
        refresh_on_gap: false,
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    let url = gw.url();
    smol::block_on(async {
        let connect = Client::connect(&url, opts);
        let limit = async {
            smol::Timer::after(Duration::from_secs(10)).await;
            Err(ConnectError::Io("connect timed out".into()))
        };
        smol::future::or(connect, limit).await
    })
}

pub fn close(client: Client) {
    smol::block_on(client.close());
}

/// The refusal's detail code (`PAIRING_REQUIRED`, `AUTH_DEVICE_TOKEN_MISMATCH`...).
pub fn refusal_code(result: Result<Client, ConnectError>) -> String {
    match result {
        Ok(client) => {
            close(client);
            panic!("the connect was accepted")
        }
        Err(ConnectError::Refused(failure)) => match failure {
            gateway_proto::client::CallFailure::Handshake(e) => {
                e.detail_code().unwrap_or(e.code.as_str()).to_owned()
            }
            other => panic!("unexpected refusal {other:?}"),
        },
        Err(other) => panic!("unexpected connect error {other}"),
    }
}

/// A device whose pairing waits for approval; its request id.
pub fn pending_device(gw: &Gateway, key: &DeviceKey) -> String {
    assert_eq!(
        refusal_code(device_connect(gw, key, None)),
        "PAIRING_REQUIRED"
    );
    let list = cli_json(gw, &["devices", "list", "--json"]);
    let pending = list["pending"].as_array().unwrap();
    let request = pending
        .iter()
        .find(|r| r["deviceId"] == key.device_id())
        .unwrap_or_else(|| panic!("no pending request for the device: {list:#}"));
    request["requestId"].as_str().unwrap().to_owned()
}

pub fn start() -> Gateway {
    let gw = Gateway::start_with_config(&config(false), &[]);
    gw.wait_ready();
    gw
}
