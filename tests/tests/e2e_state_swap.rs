//! Switching gateways on one state dir keeps every paired device: devices
//! paired on the REFERENCE gateway (2026.9.6) get in to OUR gateway with the
//! device token the reference issued, and the reverse. One device of each
//! side is paired silently on loopback, one is approved by the admin after
//! connecting through a trusted proxy (so its record says `owner` and carries
//! a remote address). Skipped (with a note) without the reference.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use serde_json::{json, Value};
use tests::device::{paired_row, pending_of, Device, Operator};
use tests::forwarder::Forwarder;
use tests::process::{install_reference, GatewayOptions, OurGateway, ReferenceGateway, TOKEN};

/// One reference gateway at a time: two Node gateways booting at once on a
/// small, busy machine can each take longer than the start-up limit.
static ONE_REFERENCE: std::sync::Mutex<()> = std::sync::Mutex::new(());

const CONFIG: &str = r#"{"gateway":{"trustedProxies":["127.0.0.1"]}}"#;
const SCOPES: &[&str] = &["operator.read"];

/// A paired device and the token its gateway issued.
struct Paired {
    device: Device,
    token: String,
}

fn device_token(res: &Value) -> String {
    res["payload"]["auth"]["deviceToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no device token in {res}"))
        .to_owned()
}

/// Pair `local` silently (loopback) and `remote` through `proxy_url` with
/// an admin approval, on the gateway at `url`.
async fn pair_both(url: &str, proxy_url: &str, local: Device, remote: Device) -> (Paired, Paired) {
    let (_ws, res) = local
        .connect(url, SCOPES, json!({"token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(res["ok"], true, "silent pairing on loopback: {res}");
    let local = Paired {
        token: device_token(&res),
        device: local,
    };

    let (_ws, res) = remote
        .connect(proxy_url, SCOPES, json!({"token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(res["error"]["code"], "NOT_PAIRED", "{res}");
    let mut admin = Operator::connect(url, TOKEN).await.unwrap();
    let list = admin.pair_list().await.unwrap();
    let pending = pending_of(&list, &remote.id());
    assert_eq!(pending.len(), 1, "{list}");
    let approved = admin
        .call(
            "device.pair.approve",
            json!({"requestId": pending[0]["requestId"]}),
        )
        .await
        .unwrap();
    assert_eq!(approved["ok"], true, "{approved}");
    let (_ws, res) = remote
        .connect(proxy_url, SCOPES, json!({"token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(res["ok"], true, "after approval: {res}");
    let remote = Paired {
        token: device_token(&res),
        device: remote,
    };
    (local, remote)
}

/// Both devices get in with their device token alone, and the gateway
/// lists them as paired the way they were.
async fn tokens_work(url: &str, proxy_url: &str, local: &Paired, remote: &Paired, side: &str) {
    for (paired, via, how) in [(local, url, "silent"), (remote, proxy_url, "owner")] {
        let (_ws, res) = paired
            .device
            .connect(via, SCOPES, json!({"deviceToken": paired.token}))
            .await
            .unwrap();
        assert_eq!(
            res["ok"], true,
            "{side}: the device token of a {how} device was refused: {res}"
        );
    }
    let mut admin = Operator::connect(url, TOKEN).await.unwrap();
    let list = admin.pair_list().await.unwrap();
    let row = paired_row(&list, &local.device.id()).expect("local device listed");
    assert_eq!(row["approvedVia"], "silent", "{side}: {row}");
    let row = paired_row(&list, &remote.device.id()).expect("remote device listed");
    assert_eq!(row["approvedVia"], "owner", "{side}: {row}");
    assert_eq!(row["remoteIp"], "192.0.2.2", "{side}: {row}");
}

fn start_reference(dir: tempfile::TempDir) -> Option<ReferenceGateway> {
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/openclaw.json"), CONFIG).unwrap();
    ReferenceGateway::start_in("v4", TOKEN, dir)
}

fn ours_options() -> GatewayOptions {
    GatewayOptions {
        config: Some(CONFIG.to_owned()),
        ..GatewayOptions::default()
    }
}

#[test]
fn devices_paired_on_the_reference_are_paired_on_ours() {
    let _one = ONE_REFERENCE.lock().unwrap_or_else(|e| e.into_inner());
    if install_reference("v4").is_none() {
        return;
    }
    let Some(reference) = start_reference(tempfile::tempdir().unwrap()) else {
        return;
    };
    let proxy = Forwarder::start(reference.port, "192.0.2.2");
    let (local, remote) = smol::block_on(pair_both(
        &reference.url(),
        &proxy.url(),
        Device::mac(51),
        Device::mac(52),
    ));
    drop(proxy);
    let dir = reference.into_dir();
    let ours = OurGateway::start_in(ours_options(), dir);
    let proxy = Forwarder::start(ours.port, "192.0.2.2");
    smol::block_on(tokens_work(
        &ours.url(),
        &proxy.url(),
        &local,
        &remote,
        "ours",
    ));
}

#[test]
fn devices_paired_on_ours_are_paired_on_the_reference() {
    let _one = ONE_REFERENCE.lock().unwrap_or_else(|e| e.into_inner());
    if install_reference("v4").is_none() {
        return;
    }
    let ours = OurGateway::start(ours_options());
    let proxy = Forwarder::start(ours.port, "192.0.2.2");
    let (local, remote) = smol::block_on(pair_both(
        &ours.url(),
        &proxy.url(),
        Device::mac(61),
        Device::mac(62),
    ));
    drop(proxy);
    let dir = ours.stop();
    let Some(reference) = start_reference(dir) else {
        return;
    };
    let proxy = Forwarder::start(reference.port, "192.0.2.2");
    smol::block_on(tokens_work(
        &reference.url(),
        &proxy.url(),
        &local,
        &remote,
        "reference",
    ));
}
