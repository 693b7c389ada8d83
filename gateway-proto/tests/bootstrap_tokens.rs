//! One-time bootstrap tokens (`openclaw dashboard`): the browser that
//! presents one pairs itself as the owner, once, without the shared secret.

use gateway_proto::client::{DeviceKey, SignInput};
use gateway_proto::gateway::pairing::bootstrap::{BOOTSTRAP_TOKEN_TTL_MS, CONTROL_UI_OWNER_SCOPES};
use gateway_proto::gateway::pairing::BootstrapProfile;
use gateway_proto::gateway::{AuthConfig, Config, Peer};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::{json, Value};

const START_MS: u64 = 1_800_000_000_000;
const ADMIN: ConnId = ConnId(1);
const REJECTED: &str = "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)";

/// A gateway that approves no local device by itself, so only the bootstrap
/// token can pair the page; with an admin CLI on `ADMIN`.
fn harness() -> Harness {
    let config = Config::default()
        .with_auth(AuthConfig::Token("tok".into()))
        .with_pairing_auto_approve_local(false);
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    h.open(ADMIN, "127.0.0.1");
    let connect = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.admin", "operator.pairing"], "caps": [],
        "auth": {"token": "tok"}}});
    h.text(ADMIN, &connect.to_string());
    assert_eq!(h.response(ADMIN, "c", 0).unwrap()["ok"], true);
    h
}

fn owner_scopes() -> Vec<String> {
    CONTROL_UI_OWNER_SCOPES.map(str::to_owned).to_vec()
}

/// The Control UI page on `conn` (loopback, its own Origin) connecting with
/// `auth` and `scopes`, signing with `auth`'s bootstrap or device token.
fn page_connect(h: &mut Harness, conn: ConnId, auth: Value, scopes: &[String]) -> Value {
    let peer = Peer::new("127.0.0.1".parse().unwrap(), true)
        .with_host("127.0.0.1:18789")
        .with_origin("http://127.0.0.1:18789");
    h.open_peer(conn, peer);
    let nonce = h.frames(conn)[0]["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let signed_token = auth["deviceToken"]
        .as_str()
        .or(auth["bootstrapToken"].as_str())
        .unwrap_or("")
        .to_owned();
    let proof = DeviceKey::from_secret([9; 32]).sign(
        &SignInput {
            client_id: "openclaw-control-ui",
            client_mode: "webchat",
            role: "operator",
            scopes,
            token: &signed_token,
            nonce: &nonce,
            platform: "Linux x86_64",
            device_family: "",
        },
        START_MS + h.elapsed_ms(),
    );
    let frame = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "openclaw-control-ui", "version": "2026.9.6",
                   "platform": "Linux x86_64", "mode": "webchat"},
        "role": "operator", "scopes": scopes, "caps": [], "auth": auth,
        "device": {"id": proof.id, "publicKey": proof.public_key, "signature": proof.signature,
                   "signedAt": proof.signed_at, "nonce": proof.nonce}}});
    h.text(conn, &frame.to_string());
    h.response(conn, "c", 0).cloned().expect("connect answered")
}

fn issue(h: &mut Harness, token: &str, profile: BootstrapProfile, issued_at_ms: u64) {
    h.bootstrap_tokens
        .insert(token.to_owned(), (profile, issued_at_ms));
}

fn assert_rejected(h: &Harness, conn: ConnId, res: &Value) {
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    assert_eq!(res["error"]["message"], REJECTED);
    assert_eq!(
        res["error"]["details"],
        json!({"code": "AUTH_BOOTSTRAP_TOKEN_INVALID", "authReason": "bootstrap_token_invalid",
               "canRetryWithDeviceToken": false, "recommendedNextStep": "review_auth_configuration"})
    );
    assert_eq!(h.close_of(conn).expect("closed").1, 1008);
}

#[test]
fn an_owner_token_pairs_the_page_once_as_an_administrator_device() {
    let mut h = harness();
    // Without a credential the page needs an operator's approval.
    let res = page_connect(&mut h, ConnId(2), json!({}), &owner_scopes());
    assert_eq!(res["ok"], false, "{res}");

    issue(
        &mut h,
        "boot-1",
        BootstrapProfile::control_ui_owner(),
        START_MS,
    );
    let res = page_connect(
        &mut h,
        ConnId(3),
        json!({"bootstrapToken": "boot-1"}),
        &owner_scopes(),
    );
    assert_eq!(res["ok"], true, "{res}");
    let auth = &res["payload"]["auth"];
    let device_token = auth["deviceToken"]
        .as_str()
        .expect("a device token")
        .to_owned();
    assert_eq!(auth["role"], "operator");
    assert_eq!(auth["scopes"], json!(owner_scopes()));
    assert!(h.bootstrap_tokens.is_empty(), "the token is spent");

    let list = {
        let frame = json!({"type": "req", "id": "l", "method": "device.pair.list", "params": {}});
        h.text(ADMIN, &frame.to_string());
        h.response(ADMIN, "l", 0).cloned().unwrap()
    };
    let paired = &list["payload"]["paired"][0];
    assert_eq!(paired["approvedVia"], "bootstrap", "{list}");
    assert_eq!(paired["clientId"], "openclaw-control-ui");
    assert_eq!(paired["scopes"], json!(owner_scopes()));
    assert_eq!(
        list["payload"]["pending"],
        json!([]),
        "the earlier request is settled"
    );

    // The same link again: spent.
    let res = page_connect(
        &mut h,
        ConnId(4),
        json!({"bootstrapToken": "boot-1"}),
        &owner_scopes(),
    );
    assert_rejected(&h, ConnId(4), &res);

    // The page's later visits use its own device token.
    let res = page_connect(
        &mut h,
        ConnId(5),
        json!({"deviceToken": device_token}),
        &owner_scopes(),
    );
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["auth"]["role"], "operator");
}

#[test]
fn an_unknown_expired_or_mismatched_token_is_refused() {
    let mut h = harness();
    let res = page_connect(
        &mut h,
        ConnId(2),
        json!({"bootstrapToken": "never-issued"}),
        &owner_scopes(),
    );
    assert_rejected(&h, ConnId(2), &res);

    // Issued more than ten minutes before it is presented.
    issue(
        &mut h,
        "old",
        BootstrapProfile::control_ui_owner(),
        START_MS,
    );
    h.advance_ms(BOOTSTRAP_TOKEN_TTL_MS + 1);
    let res = page_connect(
        &mut h,
        ConnId(3),
        json!({"bootstrapToken": "old"}),
        &owner_scopes(),
    );
    assert_rejected(&h, ConnId(3), &res);

    // An owner token asked for less than the owner profile.
    let now = START_MS + h.elapsed_ms();
    issue(&mut h, "owner", BootstrapProfile::control_ui_owner(), now);
    let res = page_connect(
        &mut h,
        ConnId(4),
        json!({"bootstrapToken": "owner"}),
        &["operator.read".to_owned()],
    );
    assert_rejected(&h, ConnId(4), &res);

    // A generic handoff cannot make an administrator.
    let generic = BootstrapProfile {
        roles: vec!["operator".into()],
        scopes: vec!["operator.admin".into(), "operator.read".into()],
        purpose: None,
    };
    issue(&mut h, "generic", generic, now);
    let res = page_connect(
        &mut h,
        ConnId(5),
        json!({"bootstrapToken": "generic"}),
        &owner_scopes(),
    );
    assert_rejected(&h, ConnId(5), &res);

    let frame = json!({"type": "req", "id": "l", "method": "device.pair.list", "params": {}});
    h.text(ADMIN, &frame.to_string());
    let list = h.response(ADMIN, "l", 0).cloned().unwrap();
    assert_eq!(list["payload"]["paired"], json!([]), "{list}");
}
