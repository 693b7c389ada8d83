//! `openclaw dashboard` of OUR binary against OUR running gateway: the
//! one-time owner link it mints pairs a Control UI page exactly once, the
//! terminal never shows a secret, and a stopped gateway or a missing page is
//! reported instead of a link.

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use gateway_proto::gateway::pairing::bootstrap::CONTROL_UI_OWNER_SCOPES;
use serde_json::{json, Value};
use tests::device::Device;
use tests::process::{free_port, our_command, run_with_timeout, GatewayOptions, OurGateway};

/// What the Control UI asks when it follows an owner link.
const OWNER_SCOPES: [&str; 7] = CONTROL_UI_OWNER_SCOPES;

/// `openclaw dashboard <extra>` under `home`, for the gateway on `port`,
/// with no display and nothing on PATH but the system's.
fn dashboard(home: &Path, port: u16, token: &str, extra: &[&str]) -> Output {
    let mut cmd = our_command(home);
    cmd.arg("dashboard")
        .args(extra)
        .env("OPENCLAW_GATEWAY_TOKEN", token)
        .env("OPENCLAW_GATEWAY_PORT", port.to_string())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    run_with_timeout(cmd, Duration::from_secs(30))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A gateway serving a one-page app as its Control UI.
fn gateway_with_app() -> (OurGateway, tempfile::TempDir) {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("index.html"),
        "<!doctype html><html><head><title>app</title></head><body></body></html>",
    )
    .unwrap();
    let config = format!(
        "{{ gateway: {{ controlUi: {{ root: {:?} }} }} }}",
        app.path().display().to_string()
    );
    let gw = OurGateway::start(GatewayOptions {
        config: Some(config),
        ..GatewayOptions::default()
    });
    (gw, app)
}

/// How many bootstrap tokens the state database under `home` holds.
fn bootstrap_rows(home: &Path) -> i64 {
    let path = home.join("state/state/openclaw.sqlite");
    let Ok(db) =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    db.query_row("SELECT count(*) FROM device_bootstrap_tokens", [], |r| {
        r.get(0)
    })
    .unwrap_or(0)
}

/// The `bootstrapToken` and `gatewayUrl` of a `browserUrl`'s fragment,
/// which holds those and `bootstrapProfile=owner`, nothing else.
fn fragment_params(browser_url: &str) -> (String, String) {
    let fragment = browser_url.split_once('#').expect("a fragment").1;
    let keys: Vec<&str> = fragment
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(k, _)| k))
        .collect();
    assert_eq!(
        keys,
        ["bootstrapToken", "bootstrapProfile", "gatewayUrl"],
        "{fragment}"
    );
    assert!(fragment.contains("&bootstrapProfile=owner&"), "{fragment}");
    let gateway_url = fragment.rsplit_once("gatewayUrl=").unwrap().1;
    (
        tests::device::bootstrap_token_of(browser_url).expect("bootstrapToken"),
        gateway_proto::text::percent_decode(gateway_url).expect("gatewayUrl"),
    )
}

#[test]
fn the_json_link_pairs_one_control_ui_page_as_the_owner() {
    let (gw, _app) = gateway_with_app();
    let out = dashboard(gw.dir.path(), gw.port, &gw.token, &["--json"]);
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let base = format!("http://127.0.0.1:{}/", gw.port);
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["httpUrl"], base);
    assert_eq!(doc["wsUrl"], format!("ws://127.0.0.1:{}", gw.port));
    assert_eq!(doc["port"], gw.port);
    assert_eq!(doc["tokenIncluded"], true);
    assert_eq!(doc["url"], format!("{base}#token={}", gw.token));
    let expires = doc["browserBootstrapExpiresAtMs"].as_u64().unwrap();
    let browser_url = doc["browserUrl"].as_str().unwrap();
    assert!(
        browser_url.starts_with(&format!("{base}#bootstrapToken=")),
        "{browser_url}"
    );
    assert!(
        !browser_url.contains(&gw.token),
        "the shared token stays out of the link"
    );
    let (token, gateway_url) = fragment_params(browser_url);
    assert_eq!(
        bootstrap_rows(gw.dir.path()),
        1,
        "one token in the shared store"
    );
    assert_eq!(gateway_url, format!("ws://127.0.0.1:{}", gw.port));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        expires > now_ms + 9 * 60_000 && expires <= now_ms + 10 * 60_000,
        "ten minutes"
    );

    smol::block_on(async {
        let origin = format!("http://127.0.0.1:{}", gw.port);
        let page = Device::control_ui(31);
        let auth = json!({"bootstrapToken": token});
        let (_ws, res) = page
            .connect_from(&gw.url(), Some(&origin), &OWNER_SCOPES, auth.clone())
            .await
            .unwrap();
        assert_eq!(res["ok"], true, "{res}");
        let granted = &res["payload"]["auth"];
        let device_token = granted["deviceToken"].as_str().expect("device token");
        assert!(granted["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("operator.admin")));

        // The link is spent: a second page (or a replay) is refused.
        let other = Device::control_ui(32);
        let (_ws2, res) = other
            .connect_from(&gw.url(), Some(&origin), &OWNER_SCOPES, auth)
            .await
            .unwrap();
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(
            res["error"]["details"]["code"], "AUTH_BOOTSTRAP_TOKEN_INVALID",
            "{res}"
        );

        // The owner page comes back with its own device token, and it is
        // recorded as paired by bootstrap.
        let (_ws3, res) = page
            .connect_from(
                &gw.url(),
                Some(&origin),
                &OWNER_SCOPES,
                json!({"deviceToken": device_token}),
            )
            .await
            .unwrap();
        assert_eq!(res["ok"], true, "{res}");
        let mut admin = tests::device::Operator::connect(&gw.url(), &gw.token)
            .await
            .unwrap();
        let list = admin.pair_list().await.unwrap();
        let row = tests::device::paired_row(&list, &page.id()).expect("paired");
        assert_eq!(row["approvedVia"], "bootstrap", "{row}");
        assert!(tests::device::paired_row(&list, &other.id()).is_none());
        assert_eq!(bootstrap_rows(gw.dir.path()), 0, "spent and deleted");
    });
}

#[test]
fn the_terminal_shows_only_the_clean_url() {
    let (gw, _app) = gateway_with_app();
    let out = dashboard(gw.dir.path(), gw.port, &gw.token, &["--no-open"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!("Dashboard URL: http://127.0.0.1:{}/", gw.port).as_str(),
            "One-time browser pairing included in browser/clipboard URL.",
        ]
    );
    assert!(
        !text.contains(&gw.token),
        "no secret on the terminal:\n{text}"
    );
    assert!(!text.contains("bootstrapToken"), "{text}");
    // Nothing could take the link here: the way to get one is named.
    assert!(text.contains("Copy to clipboard unavailable."), "{text}");
    assert!(text.contains("Token auto-auth not delivered."), "{text}");

    // Without --no-open and without a display: the SSH tunnel advice.
    let out = dashboard(gw.dir.path(), gw.port, &gw.token, &[]);
    let text = stdout(&out);
    assert!(
        text.contains("No GUI detected. Open from your computer:"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ssh -N -L {0}:127.0.0.1:{0} <user>@<host>",
            gw.port
        )),
        "{text}"
    );
}

#[test]
fn no_link_without_a_running_gateway_or_its_page() {
    // Nothing listens on the port.
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dashboard(home.path(), port, "tok", &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        doc,
        json!({"ok": false, "reason": "Gateway is not running."})
    );
    let out = dashboard(home.path(), port, "tok", &[]);
    let text = stdout(&out);
    assert!(text.starts_with("Gateway is not running.\n"), "{text}");
    assert!(text.contains("Run `openclaw gateway start` to start a managed gateway."));
    assert_eq!(bootstrap_rows(home.path()), 0, "no token was minted");

    // A gateway whose Control UI is switched off: no page, no link.
    let gw = OurGateway::start(GatewayOptions {
        config: Some("{ gateway: { controlUi: { enabled: false } } }".into()),
        ..GatewayOptions::default()
    });
    let out = dashboard(gw.dir.path(), gw.port, &gw.token, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["ok"], false);
    assert_eq!(
        doc["reason"], "Control UI dashboard is unavailable (HTTP 404).",
        "{doc}"
    );
}
