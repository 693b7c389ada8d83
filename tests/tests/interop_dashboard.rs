//! `openclaw dashboard` across implementations, through the shared state
//! database: the REFERENCE CLI's one-time link pairs a Control UI page on
//! OUR gateway, and OUR CLI's link pairs one on the REFERENCE gateway. The
//! token row each writes is the one the other gateway spends. Skipped (with
//! a note) when the reference cannot be installed.

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use gateway_proto::gateway::pairing::bootstrap::CONTROL_UI_OWNER_SCOPES;
use serde_json::{json, Value};
use tests::device::{paired_row, Device, Operator};
use tests::process::{
    our_command, reference_cli, run_with_timeout, success_json, GatewayOptions, OurGateway,
    ReferenceGateway, TOKEN,
};

const TIMEOUT: Duration = Duration::from_secs(90);

/// What the Control UI asks when it follows an owner link.
const OWNER_SCOPES: [&str; 7] = CONTROL_UI_OWNER_SCOPES;

/// The one-time token in a `browserUrl`.
fn bootstrap_token(doc: &Value) -> String {
    let link = doc["browserUrl"].as_str().expect("browserUrl");
    tests::device::bootstrap_token_of(link).expect("a bootstrapToken in the link")
}

/// A Control UI page at `port` follows the link: paired as the owner, by
/// bootstrap, and the link is spent.
fn page_follows_the_link(url: &str, port: u16, token: &str, seed: u8) {
    smol::block_on(async {
        let origin = format!("http://127.0.0.1:{port}");
        let mut page = Device::control_ui(seed);
        let auth = json!({"bootstrapToken": token});
        let (_ws, mut res) = page
            .connect_from(url, Some(&origin), &OWNER_SCOPES, auth.clone())
            .await
            .unwrap();
        // The reference holds a page it served to its build, and names it
        // (before it looks at the token): the page reloads with it.
        if let Some(build) = res["error"]["details"]["gatewayBuildId"].as_str() {
            page.build_id = Some(build.to_owned());
            res = page
                .connect_from(url, Some(&origin), &OWNER_SCOPES, auth.clone())
                .await
                .unwrap()
                .1;
        }
        assert_eq!(res["ok"], true, "{res}");
        assert!(res["payload"]["auth"]["deviceToken"].is_string(), "{res}");
        let mut admin = Operator::connect(url, TOKEN).await.unwrap();
        let list = admin.pair_list().await.unwrap();
        let row = paired_row(&list, &page.id()).expect("paired");
        assert_eq!(row["approvedVia"], "bootstrap", "{row}");

        let other = Device {
            build_id: page.build_id.clone(),
            ..Device::control_ui(seed + 1)
        };
        let (_ws2, res) = other
            .connect_from(url, Some(&origin), &OWNER_SCOPES, auth)
            .await
            .unwrap();
        assert_eq!(res["ok"], false, "a spent link: {res}");
        assert_eq!(
            res["error"]["details"]["code"], "AUTH_BOOTSTRAP_TOKEN_INVALID",
            "{res}"
        );
    });
}

#[test]
fn the_reference_cli_link_pairs_a_page_on_our_gateway() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("index.html"),
        "<!doctype html><title>app</title>",
    )
    .unwrap();
    let gw = OurGateway::start(GatewayOptions {
        config: Some(format!(
            "{{ gateway: {{ controlUi: {{ root: {:?} }} }} }}",
            app.path().display().to_string()
        )),
        ..GatewayOptions::default()
    });
    let port = gw.port.to_string();
    let out = cli.run(
        gw.dir.path(),
        &["dashboard", "--json"],
        &[
            ("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str()),
            ("OPENCLAW_GATEWAY_PORT", port.as_str()),
        ],
        TIMEOUT,
    );
    let doc = success_json(&out, "reference dashboard");
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["httpUrl"], format!("http://127.0.0.1:{}/", gw.port));
    page_follows_the_link(&gw.url(), gw.port, &bootstrap_token(&doc), 41);
}

#[test]
fn our_cli_link_pairs_a_page_on_the_reference_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let Some(reference) = ReferenceGateway::start_in("v4", TOKEN, dir) else {
        return;
    };
    let mut cmd = our_command(Path::new(&home));
    cmd.args(["dashboard", "--json"])
        .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        .env("OPENCLAW_GATEWAY_PORT", reference.port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let doc = success_json(&run_with_timeout(cmd, TIMEOUT), "our dashboard");
    assert_eq!(doc["ok"], true, "{doc}");
    page_follows_the_link(&reference.url(), reference.port, &bootstrap_token(&doc), 51);
}
