//! `gateway.trustedProxies` on OUR gateway, end to end: forwarded-client
//! headers from a peer nobody trusts are refused with the reference's 403;
//! behind a trusted proxy the client is known by its forwarded address and is
//! remote (so its device must be approved); the list is reloaded with the file.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::json;
use tests::device::{paired_row, pending_of, Device, Operator};
use tests::forwarder::Forwarder;
use tests::process::{http_raw, GatewayOptions, OurGateway, TOKEN};
use tests::ws::RawWs;

/// The reference's answer, byte for byte after the head (observed on 2026.9.6).
const REFUSAL: &str = r#"{"error":{"message":"Proxy client attribution is required. Configure gateway.trustedProxies narrowly and make the proxy overwrite or safely rebuild forwarded client headers.","type":"proxy_attribution_required"}}"#;

fn upgrade_with(port: u16, extra: &str) -> (u16, String) {
    http_raw(
        port,
        &format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        ),
    )
}

fn get_with(port: u16, path: &str, extra: &str) -> (u16, String) {
    http_raw(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{extra}\r\n"
        ),
    )
}

fn trusting_loopback() -> GatewayOptions {
    GatewayOptions {
        config: Some(r#"{"gateway":{"trustedProxies":["127.0.0.1"]}}"#.to_owned()),
        ..GatewayOptions::default()
    }
}

#[test]
fn forwarded_headers_from_an_untrusted_peer_are_refused_with_403() {
    let gw = OurGateway::start(GatewayOptions::default());
    for header in [
        "X-Forwarded-For: 192.0.2.2\r\n",
        "X-Forwarded-Proto: https\r\n",
        "X-Real-IP: 192.0.2.2\r\n",
        "Forwarded: for=192.0.2.2\r\n",
    ] {
        let (status, text) = upgrade_with(gw.port, header);
        assert_eq!(status, 403, "{header}: {text}");
        assert!(
            text.contains("Content-Type: application/json; charset=utf-8"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("\r\n\r\n{REFUSAL}")),
            "{header}: {text}"
        );
        // Probes other than liveness refuse it too; liveness answers anyone.
        let (status, text) = get_with(gw.port, "/readyz", header);
        assert_eq!(status, 403, "{text}");
        assert!(text.ends_with(REFUSAL), "{text}");
        let (status, _) = get_with(gw.port, "/health", header);
        assert_eq!(status, 200);
    }
    // Trusting loopback does not make a forwarded loopback client acceptable.
    drop(gw);
    let gw = OurGateway::start(trusting_loopback());
    let (status, text) = upgrade_with(gw.port, "X-Forwarded-For: 127.0.0.1\r\n");
    assert_eq!(status, 403, "{text}");
    let (status, text) = upgrade_with(gw.port, "X-Real-IP: 192.0.2.2\r\n");
    assert_eq!(status, 403, "X-Real-IP without allowRealIpFallback: {text}");
    let (status, text) = get_with(gw.port, "/readyz", "X-Forwarded-For: 192.0.2.2\r\n");
    assert_eq!(status, 200, "{text}");
}

#[test]
fn behind_a_trusted_proxy_a_device_is_remote_and_needs_approval() {
    let gw = OurGateway::start(trusting_loopback());
    let proxy = Forwarder::start(gw.port, "192.0.2.2");
    smol::block_on(async {
        let mut admin = Operator::connect(&gw.url(), TOKEN).await.unwrap();
        // Through the proxy: remote, so not paired silently.
        let remote = Device::mac(21);
        let scopes = ["operator.read"];
        let (_ws, res) = remote
            .connect(&proxy.url(), &scopes, json!({"token": TOKEN}))
            .await
            .unwrap();
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(res["error"]["code"], "NOT_PAIRED", "{res}");
        let list = admin.pair_list().await.unwrap();
        let pending = pending_of(&list, &remote.id());
        assert_eq!(pending.len(), 1, "{list}");
        assert_eq!(pending[0]["remoteIp"], "192.0.2.2", "{list}");
        let request_id = pending[0]["requestId"].as_str().unwrap().to_owned();
        let approved = admin
            .call("device.pair.approve", json!({"requestId": request_id}))
            .await
            .unwrap();
        assert_eq!(approved["ok"], true, "{approved}");
        let (_ws, res) = remote
            .connect(&proxy.url(), &scopes, json!({"token": TOKEN}))
            .await
            .unwrap();
        assert_eq!(res["ok"], true, "{res}");
        let device_token = res["payload"]["auth"]["deviceToken"]
            .as_str()
            .unwrap_or_else(|| panic!("no device token: {res}"))
            .to_owned();
        // The device token alone is enough now.
        let (_ws, res) = remote
            .connect(&proxy.url(), &scopes, json!({"deviceToken": device_token}))
            .await
            .unwrap();
        assert_eq!(res["ok"], true, "{res}");
        let row = paired_row(&admin.pair_list().await.unwrap(), &remote.id()).unwrap();
        assert_eq!(row["approvedVia"], "owner", "{row}");
        assert_eq!(row["remoteIp"], "192.0.2.2", "{row}");

        // The same kind of device straight on loopback is local: silent.
        let local = Device::mac(22);
        let (_ws, res) = local
            .connect(&gw.url(), &scopes, json!({"token": TOKEN}))
            .await
            .unwrap();
        assert_eq!(res["ok"], true, "{res}");
        let row = paired_row(&admin.pair_list().await.unwrap(), &local.id()).unwrap();
        assert_eq!(row["approvedVia"], "silent", "{row}");
    });
}

#[test]
fn trusted_proxies_are_reloaded_with_the_config_file() {
    let gw = OurGateway::start(GatewayOptions::default());
    let proxy = Forwarder::start(gw.port, "192.0.2.2");
    smol::block_on(async {
        let refused = RawWs::open(&proxy.url()).await.err().unwrap_or_default();
        assert!(refused.contains("403"), "untrusted proxy: {refused}");
    });
    std::fs::write(
        gw.dir.path().join("state/openclaw.json"),
        r#"{"gateway":{"trustedProxies":["127.0.0.1"]}}"#,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    smol::block_on(async {
        loop {
            match RawWs::open(&proxy.url()).await {
                Ok(_) => break,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "trustedProxies not applied in 15 s: {e}; output:\n{}",
                    gw.output()
                ),
            }
            smol::Timer::after(Duration::from_millis(200)).await;
        }
    });
}
