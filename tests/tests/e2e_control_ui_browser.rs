//! The Control UI in a real browser: the system Chromium, driven by
//! `tests/browser/control-ui.mjs` (playwright-core), loads the UI from OUR
//! gateway, connects with the token, opens the chat, sessions, devices,
//! nodes, config and logs pages without an error banner or a failed request,
//! chats with a scripted model and approves a pending device. The same
//! script runs against the REFERENCE gateway, which proves the script right.
//!
//! Skipped with a note when Chromium, Node, the script's `npm ci` or the
//! reference's UI bundle is missing; `.ci/run` installs them all and sets
//! `OPENCLAW_REQUIRE_BROWSER=1`, which turns a skip into a failure.
//! `OPENCLAW_UI_SCREENSHOTS=<dir>` keeps the screenshots of our gateway's
//! pages there (README's are made this way).

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tests::chat::fake_model_config;
use tests::device::{paired_row, pending_of, Device, Operator};
use tests::fake_provider::{Api, FakeProvider, Script};
use tests::forwarder::Forwarder;
use tests::process::{
    install_reference, run_with_timeout, GatewayOptions, OurGateway, ReferenceGateway, TOKEN,
};

const REPLY: &str = "Hello from the browser test.";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);
const REQUIRE_BROWSER: &str = "OPENCLAW_REQUIRE_BROWSER";

/// What the browser test needs: Chromium, Node and the script's packages.
struct Browser {
    chromium: PathBuf,
    script_dir: PathBuf,
}

fn unavailable(why: &str) {
    if std::env::var(REQUIRE_BROWSER).is_ok_and(|v| v.trim() == "1") {
        panic!("browser test unavailable: {why}; {REQUIRE_BROWSER}=1 requires it");
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipping browser test: {why} (set {REQUIRE_BROWSER}=1 to fail instead)"
    );
}

fn browser() -> Option<Browser> {
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()));
    if !chromium.exists() {
        unavailable(&format!("no Chromium at {}", chromium.display()));
        return None;
    }
    if Command::new("node").arg("--version").output().is_err() {
        unavailable("no node on PATH");
        return None;
    }
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !script_dir.join("node_modules/playwright-core").is_dir() {
        unavailable("tests/browser has no node_modules (run `npm ci` there)");
        return None;
    }
    Some(Browser {
        chromium,
        script_dir,
    })
}

/// The Control UI bundle the reference package ships (`dist/control-ui`).
fn control_ui_root() -> Option<PathBuf> {
    let bin = install_reference("v4")?;
    let package = std::fs::canonicalize(bin.join("openclaw")).ok()?;
    let root = package.parent()?.join("dist/control-ui");
    if root.join("index.html").is_file() {
        Some(root)
    } else {
        unavailable(&format!("no Control UI bundle at {}", root.display()));
        None
    }
}

/// The scripted model: one reply per chat turn (spares for a retry).
fn provider() -> FakeProvider {
    let reply = || Script::reply(Api::OpenAi, &["Hello from", " the browser", " test."]);
    FakeProvider::start(vec![reply(), reply(), reply()])
}

/// The model config plus the trusted proxy the pending device comes
/// through, plus `extra_gateway` keys.
fn config(provider: &FakeProvider, extra_gateway: &str) -> String {
    let models = fake_model_config(provider);
    let body = models.trim().trim_start_matches('{');
    format!(r#"{{ gateway: {{ trustedProxies: ["127.0.0.1"]{extra_gateway} }}, {body}"#)
}

/// A device connecting from a non-local address (through a forwarder that
/// claims 192.0.2.9) is not paired silently: it leaves a pending request.
fn pending_device(port: u16, seed: u8) -> Device {
    let proxy = Forwarder::start(port, "192.0.2.9");
    let device = Device::mac(seed);
    let (_ws, res) =
        smol::block_on(device.connect(&proxy.url(), &["operator.read"], json!({"token": TOKEN})))
            .expect("connect the second device");
    assert_eq!(res["error"]["code"], "NOT_PAIRED", "{res}");
    device
}

/// Run the script against `base`; its JSON summary.
fn run_script(browser: &Browser, base: &str, out_dir: &Path, approve: &str) -> Value {
    let out_dir = out_dir.display().to_string();
    let reply = format!("--reply={REPLY}");
    let approve = format!("--approve={approve}");
    script(browser, base, &[TOKEN, &out_dir, &reply, &approve])
}

/// `node control-ui.mjs <base> <args…>`; its JSON summary, which must say ok.
fn script(browser: &Browser, base: &str, args: &[&str]) -> Value {
    let mut cmd = Command::new("node");
    cmd.current_dir(&browser.script_dir)
        .arg("control-ui.mjs")
        .arg(base)
        .args(args)
        .env("CHROMIUM", &browser.chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills Chromium with it.
        .process_group(0);
    let out = run_with_timeout(cmd, SCRIPT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}); stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && summary["ok"] == true,
        "the browser script failed against {base}: {:#}",
        summary["failures"]
    );
    summary
}

/// What every run must show, whichever gateway served it.
fn check_summary(summary: &Value, out_dir: &Path) {
    let calls: Vec<&str> = summary["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(calls.first(), Some(&"connect"), "{calls:?}");
    for method in [
        "chat.send",
        "device.pair.approve",
        "device.pair.list",
        "logs.tail",
    ] {
        assert!(calls.contains(&method), "{method} never called: {calls:?}");
    }
    assert!(summary["loadMs"].as_u64().is_some_and(|ms| ms > 0));
    for page in ["chat", "sessions", "devices", "nodes", "config", "logs"] {
        let shot = out_dir.join(format!("{page}.png"));
        let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
        assert!(size > 1000, "no screenshot {}", shot.display());
    }
}

fn device_is_paired(url: &str, device: &Device) -> bool {
    smol::block_on(async {
        let mut admin = Operator::connect(url, TOKEN).await.expect("operator");
        let list = admin.pair_list().await.expect("device.pair.list");
        paired_row(&list, &device.id()).is_some() && pending_of(&list, &device.id()).is_empty()
    })
}

fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// One Chromium at a time: two would starve each other's timeouts on a
/// small machine.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

#[test]
fn the_control_ui_works_in_chromium_against_our_gateway() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(browser) = browser() else { return };
    let Some(root) = control_ui_root() else {
        return;
    };
    let provider = provider();
    let root_key = format!(r#", controlUi: {{ root: "{}" }}"#, root.display());
    let gateway = OurGateway::start(GatewayOptions {
        config: Some(config(&provider, &root_key)),
        ..GatewayOptions::default()
    });
    let device = pending_device(gateway.port, 81);
    let shots = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let summary = run_script(&browser, &base, shots.path(), &device.id());
    check_summary(&summary, shots.path());
    assert!(
        device_is_paired(&gateway.url(), &device),
        "the device approved in the UI is not paired"
    );
    note(&format!(
        "control UI first load on our gateway: {} ms; methods: {}",
        summary["loadMs"], summary["methods"]
    ));
    if let Ok(dir) = std::env::var("OPENCLAW_UI_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        for shot in summary["screenshots"].as_array().unwrap() {
            let from = PathBuf::from(shot.as_str().unwrap());
            std::fs::copy(&from, Path::new(&dir).join(from.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn the_same_script_passes_against_the_reference_gateway() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(browser) = browser() else { return };
    if install_reference("v4").is_none() {
        return;
    }
    let provider = provider();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(
        dir.path().join("state/openclaw.json"),
        config(&provider, ""),
    )
    .unwrap();
    let Some(reference) = ReferenceGateway::start_in("v4", TOKEN, dir) else {
        return;
    };
    let device = pending_device(reference.port, 82);
    let shots = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{}", reference.port);
    let summary = run_script(&browser, &base, shots.path(), &device.id());
    check_summary(&summary, shots.path());
    assert!(
        device_is_paired(&reference.url(), &device),
        "the device approved in the UI is not paired on the reference"
    );
    note(&format!(
        "control UI first load on the reference gateway: {} ms",
        summary["loadMs"]
    ));
}

/// `openclaw dashboard`'s one-time link signs a fresh browser in without the
/// shared token, and the page then comes back on its own device token.
#[test]
fn the_dashboard_link_signs_the_browser_in_without_the_shared_token() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(browser) = browser() else { return };
    let Some(root) = control_ui_root() else {
        return;
    };
    let gateway = OurGateway::start(GatewayOptions {
        config: Some(format!(
            r#"{{ gateway: {{ controlUi: {{ root: "{}" }} }} }}"#,
            root.display()
        )),
        ..GatewayOptions::default()
    });
    let mut cmd = tests::process::our_command(gateway.dir.path());
    cmd.args(["dashboard", "--json"])
        .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        .env("OPENCLAW_GATEWAY_PORT", gateway.port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("dashboard --json");
    let link = doc["browserUrl"].as_str().expect("browserUrl");
    assert!(!link.contains(TOKEN), "{link}");
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let summary = script(
        &browser,
        &base,
        &["-", &format!("--open={link}"), "--connect-only"],
    );
    let connects = summary["connects"].as_array().expect("connects");
    assert_eq!(
        connects.first().map(|c| c["auth"].clone()),
        Some(json!(["bootstrapToken"])),
        "{summary:#}"
    );
    let last = connects.last().unwrap();
    assert_eq!(last["ok"], true, "{summary:#}");
    assert_eq!(last["auth"], json!(["deviceToken"]), "{summary:#}");
    assert!(
        connects.iter().all(|c| c["auth"] != json!(["token"])),
        "the shared token was never used: {summary:#}"
    );
}
