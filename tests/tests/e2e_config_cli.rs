//! `openclaw config get|set|unset|validate|file` of OUR binary: the lines
//! and exit codes of the reference's CLI (observed with 2026.9.6 under a
//! temp HOME), and a running gateway picking a `config set` up.

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::process::{our_command, GatewayOptions, OurGateway};
use tests::ws::{Incoming, RawWs};

/// `(exit code, stdout, stderr)` of `openclaw <args>` with state under `home`.
fn run(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = our_command(home).args(args).output().expect("run openclaw");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_commands_answer_as_the_reference() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let path = home.join("state/openclaw.json");
    let shown = path.display().to_string();

    assert_eq!(
        run(home, &["config", "file"]),
        (0, format!("{shown}\n"), String::new())
    );
    let (code, out, _) = run(home, &["config", "file", "--json"]);
    assert_eq!(
        (code, serde_json::from_str::<Value>(&out).unwrap()),
        (0, json!({"path": shown}))
    );

    let (code, _, err) = run(home, &["config", "validate"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("Config file not found: {shown}\n")),
        "{err}"
    );
    let (code, out, _) = run(home, &["config", "validate", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["message"], "file not found");
    assert_eq!(v["valid"], false);

    assert_eq!(
        run(home, &["config", "get", "gateway.port"]),
        (1, String::new(), "Config path is valid but unset: gateway.port. The runtime default applies until you set an authored value with openclaw config set gateway.port <value>.\n".into())
    );
    assert_eq!(
        run(home, &["config", "set", "gateway.port", "19001"]),
        (
            0,
            "Updated gateway.port. Restart the gateway to apply.\n".into(),
            String::new()
        )
    );
    assert_eq!(run(home, &["config", "get", "gateway.port"]).1, "19001\n");
    let mode = std::fs::metadata(&path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    assert_eq!(
        run(home, &["config", "set", "gateway.auth.token", "secret123"]).0,
        0
    );
    let (code, out, _) = run(home, &["config", "get", "gateway.auth"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "{\n  \"token\": \"__OPENCLAW_REDACTED__\"\n}\n")
    );
    assert_eq!(
        run(home, &["config", "get", "gateway.auth.token"]).1,
        "__OPENCLAW_REDACTED__\n"
    );

    assert_eq!(
        run(home, &["config", "get", "gateway.prot"]),
        (1, String::new(), "Unknown config path: gateway.prot. Run openclaw config schema to inspect valid paths.\n".into())
    );
    let (code, out, _) = run(home, &["config", "get", "gateway.prot", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["error"]["type"],
        "cli_error"
    );

    let before = std::fs::read_to_string(&path).unwrap();
    let (code, _, err) = run(home, &["config", "set", "gateway.prot", "5"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Config validation failed: unknown key gateway.prot (did you mean gateway.port?)\n"
    );
    let (code, _, err) = run(home, &["config", "set", "gateway.port", "abc"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Config validation failed: gateway.port"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "refused edits change nothing"
    );

    assert_eq!(
        run(home, &["config", "set", "logging.level", "debug"]).1,
        "Updated logging.level. No gateway restart needed.\n"
    );
    assert_eq!(
        run(home, &["config", "set", "gateway.controlUi.allowedOrigins", r#"["https://a.example"]"#]).1,
        "Updated gateway.controlUi.allowedOrigins. Change will apply without restarting the gateway.\n"
    );
    assert_eq!(
        run(home, &["config", "unset", "logging.level"]),
        (
            0,
            "Removed logging.level. No gateway restart needed.\n".into(),
            String::new()
        )
    );
    assert_eq!(
        run(home, &["config", "unset", "logging.level"]),
        (1, String::new(), "Config path not found: logging.level. Nothing was changed. Run openclaw config get <path> first if you are unsure of the path.\n".into())
    );
    assert_eq!(
        run(home, &["config", "set", "a"]),
        (
            1,
            String::new(),
            "config set mode error: value/json mode requires <value>.\n".into()
        )
    );
    assert_eq!(
        run(home, &["config", "validate"]),
        (0, format!("Config valid: {shown}\n"), String::new())
    );
    let (code, out, _) = run(home, &["config", "validate", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"valid": true, "path": shown, "warnings": []})
    );

    std::fs::write(&path, "{ gateway: { prot: 1 } }").unwrap();
    let (code, _, err) = run(home, &["config", "validate"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!(
            "OpenClaw config is invalid: {shown}\n  × unknown key gateway.prot"
        )),
        "{err}"
    );
    let (code, out, _) = run(home, &["config", "validate", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["issues"][0]["path"], "gateway", "{v}");
    assert_eq!(run(home, &["config", "get", "gateway"]).0, 1);
}

/// Whether a page from `origin` may connect (hello-ok) with `token`.
async fn origin_admitted(url: &str, token: &str, origin: &str) -> bool {
    let mut ws = RawWs::open_with_headers(url, &[("Origin", origin)])
        .await
        .expect("open");
    if !matches!(ws.recv_timeout(Duration::from_secs(10)).await, Some(Incoming::Json(v)) if v["event"] == "connect.challenge")
    {
        return false;
    }
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.read"], "auth": {"token": token}}});
    ws.send_json(&frame).await.expect("send");
    loop {
        match ws.recv_timeout(Duration::from_secs(10)).await {
            Some(Incoming::Json(v)) if v["id"] == "c0" => return v["ok"] == true,
            Some(Incoming::Json(_) | Incoming::Text(_)) => {}
            _ => return false,
        }
    }
}

#[test]
fn a_running_gateway_picks_up_config_set() {
    let gw = OurGateway::start(GatewayOptions::default());
    let url = gw.url();
    let origin = "https://ui.example";
    smol::block_on(async {
        assert!(!origin_admitted(&url, &gw.token, origin).await);
    });
    let (code, out, err) = run(
        gw.dir.path(),
        &[
            "config",
            "set",
            "gateway.controlUi.allowedOrigins",
            r#"["https://ui.example"]"#,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(15);
    smol::block_on(async {
        while !origin_admitted(&url, &gw.token, origin).await {
            assert!(
                Instant::now() < deadline,
                "the edit never took effect:\n{}",
                gw.output()
            );
            smol::Timer::after(Duration::from_millis(200)).await;
        }
    });
}
