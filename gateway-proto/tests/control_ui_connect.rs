//! The connect rules for the browser Control UI, as the reference applies
//! them (2026.9.6): an Origin it trusts, a signed device, and (for a page
//! this gateway served from an installed package) the app's build id.

use gateway_proto::client::{DeviceKey, SignInput};
use gateway_proto::gateway::control_ui::{ControlUiApi, ControlUiInfo};
use gateway_proto::gateway::{AuthConfig, Config, Peer};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::{json, Value};

const START_MS: u64 = 1_800_000_000_000;
const BUILD: &str = "2026.9.6-release-abc";
const SCOPES: &[&str] = &["operator.admin", "operator.read", "operator.write"];

fn harness(control_ui: ControlUiInfo) -> Harness {
    let mut config = Config::default().with_auth(AuthConfig::Token("tok".into()));
    config.control_ui = control_ui;
    Harness::new(config, Timestamp::ZERO, START_MS)
}

fn bundled() -> ControlUiInfo {
    ControlUiInfo {
        build_id: Some(BUILD.into()),
        ..ControlUiInfo::default()
    }
}

/// A Control UI page on `conn` (loopback, `Host: 127.0.0.1:18789`),
/// connecting with `origin`, `build_id` and, when `signed`, a device
/// signature. Returns the connect response.
fn ui_connect(
    h: &mut Harness,
    conn: ConnId,
    origin: Option<&str>,
    build_id: Option<&str>,
    signed: bool,
) -> Value {
    let mut peer = Peer::new("127.0.0.1".parse().unwrap(), true).with_host("127.0.0.1:18789");
    if let Some(origin) = origin {
        peer = peer.with_origin(origin);
    }
    h.open_peer(conn, peer);
    let nonce = h.frames(conn)[0]["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    let mut client = json!({"id": "openclaw-control-ui", "version": "2026.9.6", "platform": "Linux x86_64", "mode": "webchat"});
    if let Some(build) = build_id {
        client["buildId"] = json!(build);
    }
    let mut params = json!({
        "minProtocol": 4, "maxProtocol": 4, "client": client, "role": "operator",
        "scopes": scopes, "caps": [], "auth": {"token": "tok"},
    });
    if signed {
        let key = DeviceKey::from_secret([7; 32]);
        let proof = key.sign(
            &SignInput {
                client_id: "openclaw-control-ui",
                client_mode: "webchat",
                role: "operator",
                scopes: &scopes,
                token: "tok",
                nonce: &nonce,
                platform: "Linux x86_64",
                device_family: "",
            },
            START_MS + h.elapsed_ms(),
        );
        params["device"] = json!({"id": proof.id, "publicKey": proof.public_key,
            "signature": proof.signature, "signedAt": proof.signed_at, "nonce": proof.nonce});
    }
    let frame = json!({"type": "req", "id": "c", "method": "connect", "params": params});
    h.text(conn, &frame.to_string());
    h.response(conn, "c", 0).cloned().expect("connect answered")
}

fn refused(h: &Harness, conn: ConnId, res: &Value) -> (String, String, Value) {
    assert_eq!(res["ok"], false, "{res}");
    let close = h.close_of(conn).expect("closed");
    assert_eq!(close.1, 1008, "{close:?}");
    let error = &res["error"];
    (
        error["code"].as_str().unwrap().to_owned(),
        error["message"].as_str().unwrap().to_owned(),
        error["details"].clone(),
    )
}

const ORIGIN_MESSAGE: &str = "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)";

#[test]
fn the_ui_needs_an_origin_it_is_allowed_to_come_from() {
    let mut h = harness(bundled());
    let res = ui_connect(&mut h, ConnId(1), None, Some(BUILD), true);
    assert_eq!(
        refused(&h, ConnId(1), &res),
        (
            "INVALID_REQUEST".into(),
            ORIGIN_MESSAGE.into(),
            json!({"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED", "reason": "origin missing or invalid"})
        )
    );
    let res = ui_connect(
        &mut h,
        ConnId(2),
        Some("http://192.0.2.7:18789"),
        Some(BUILD),
        true,
    );
    assert_eq!(
        refused(&h, ConnId(2), &res).2,
        json!({"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED", "reason": "origin not allowed"})
    );
}

#[test]
fn the_ui_needs_a_device_identity() {
    let mut h = harness(bundled());
    let res = ui_connect(
        &mut h,
        ConnId(1),
        Some("http://127.0.0.1:18789"),
        Some(BUILD),
        false,
    );
    assert_eq!(
        refused(&h, ConnId(1), &res),
        (
            "INVALID_REQUEST".into(),
            "control ui requires device identity (use HTTPS or localhost secure context)".into(),
            json!({"code": "CONTROL_UI_DEVICE_IDENTITY_REQUIRED"})
        )
    );
}

#[test]
fn a_page_of_another_build_must_reload() {
    let mut h = harness(bundled());
    for (conn, build) in [(1, Some("2026.9.5-old")), (2, None)] {
        let res = ui_connect(
            &mut h,
            ConnId(conn),
            Some("http://127.0.0.1:18789"),
            build,
            true,
        );
        assert_eq!(res["error"]["retryable"], false, "{res}");
        assert_eq!(
            refused(&h, ConnId(conn), &res),
            (
                "UNAVAILABLE".into(),
                "protocol mismatch: Control UI updated; reload this page to continue".into(),
                json!({"code": "PROTOCOL_MISMATCH", "gatewayBuildId": BUILD, "reloadRequired": true})
            ),
            "{build:?}"
        );
    }
}

#[test]
fn the_served_build_connects_and_is_paired_silently() {
    let mut h = harness(bundled());
    let res = ui_connect(
        &mut h,
        ConnId(1),
        Some("http://127.0.0.1:18789"),
        Some(BUILD),
        true,
    );
    assert_eq!(res["ok"], true, "{res}");
    let hello = &res["payload"];
    assert_eq!(hello["server"]["buildId"], BUILD);
    assert_eq!(hello["server"]["controlUiBuildSource"], "bundled");
    assert!(
        hello["auth"]["deviceToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{hello}"
    );
    assert_eq!(hello["auth"]["scopes"], json!(SCOPES));
}

#[test]
fn builds_are_not_compared_where_the_gateway_cannot_vouch_for_them() {
    // A development build of the UI.
    let mut h = harness(bundled());
    let res = ui_connect(
        &mut h,
        ConnId(1),
        Some("http://127.0.0.1:18789"),
        Some("dev"),
        true,
    );
    assert_eq!(res["ok"], true, "{res}");
    // A page from another origin (allowed by the list): not served here.
    let mut h = harness(bundled());
    let mut cfg = Config::default().with_auth(AuthConfig::Token("tok".into()));
    cfg.control_ui = bundled();
    cfg.origin_policy.allowed_origins = vec!["https://ui.example".into()];
    h.gateway.reconfigure(cfg);
    let res = ui_connect(
        &mut h,
        ConnId(2),
        Some("https://ui.example"),
        Some("other"),
        true,
    );
    assert_eq!(res["ok"], true, "{res}");
    // A configured app: the user's own build.
    let mut h = harness(ControlUiInfo {
        configured_root: true,
        ..ControlUiInfo::default()
    });
    let res = ui_connect(
        &mut h,
        ConnId(3),
        Some("http://127.0.0.1:18789"),
        Some("anything"),
        true,
    );
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(
        res["payload"]["server"]["controlUiBuildSource"],
        "configured"
    );
    assert!(res["payload"]["server"].get("buildId").is_none());
}

#[test]
fn the_read_routes_take_the_shared_secret_or_a_paired_device_token() {
    let mut h = harness(bundled());
    let res = ui_connect(
        &mut h,
        ConnId(1),
        Some("http://127.0.0.1:18789"),
        Some(BUILD),
        true,
    );
    let payload = &res["payload"];
    let device_token = payload["auth"]["deviceToken"].as_str().unwrap().to_owned();
    let device_id = DeviceKey::from_secret([7; 32]).device_id();
    let status = |h: &Harness, authorization: Option<&str>| {
        h.gateway
            .control_ui_api(&ControlUiApi::Config, authorization)
            .status
    };
    assert_eq!(status(&h, Some("Bearer tok")), 200);
    // After a reload the app has only the device token hello-ok gave it.
    assert_eq!(status(&h, Some(&format!("Bearer {device_token}"))), 200);
    assert_eq!(status(&h, Some("Bearer not-a-token")), 401);
    assert_eq!(status(&h, None), 401);
    // A revoked token opens nothing.
    let revoke = json!({"type": "req", "id": "r", "method": "device.token.revoke",
        "params": {"deviceId": device_id, "role": "operator"}});
    h.text(ConnId(1), &revoke.to_string());
    assert_eq!(h.response(ConnId(1), "r", 0).unwrap()["ok"], true);
    assert_eq!(status(&h, Some(&format!("Bearer {device_token}"))), 401);
    assert_eq!(status(&h, Some("Bearer tok")), 200);
}
