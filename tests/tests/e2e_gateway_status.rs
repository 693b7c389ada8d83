//! `openclaw gateway status` of OUR binary against OUR running gateway: every
//! line the reference prints (log file, probe note, versions, runtime, what
//! listens on the port, the closing pointers) and the JSON fields behind them,
//! for the default loopback gateway, a `lan` gateway on a configured port, a
//! TLS gateway, and `--deep` with a gateway-like unit of another install.

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tests::process::{free_port, our_command, run_with_timeout, GatewayOptions, OurGateway};

/// `openclaw gateway status <extra>` under the gateway's HOME, with its token.
fn status(gw: &OurGateway, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = our_command(gw.dir.path());
    cmd.args(["gateway", "status"])
        .args(extra)
        .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    run_with_timeout(cmd, Duration::from_secs(30))
}

fn text_of(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(out: &Output) -> Value {
    tests::process::success_json(out, "gateway status")
}

/// The lines of `text` that start with each of `prefixes`, which must all be
/// there, in this order.
fn assert_in_order(text: &str, lines: &[String]) {
    let mut rest = text;
    for line in lines {
        let at = rest
            .find(line.as_str())
            .unwrap_or_else(|| panic!("{line:?} missing (or out of order) in:\n{text}"));
        rest = &rest[at + line.len()..];
    }
}

/// Is there no service manager here (a container)? Then the reference says so
/// in the Service and Runtime lines.
fn no_service_manager() -> bool {
    let Ok(out) = Command::new("systemctl")
        .args(["--system", "is-system-running"])
        .output()
    else {
        return true;
    };
    String::from_utf8_lossy(&out.stdout).trim() == "offline"
}

fn shortened(path: &Path, home: &Path) -> String {
    format!("~/{}", path.strip_prefix(home).unwrap().display())
}

#[test]
fn a_loopback_gateway_gets_every_line_of_the_reference() {
    let gw = OurGateway::start(GatewayOptions::default());
    let home = gw.dir.path();
    let port = gw.port.to_string();
    let env = [("OPENCLAW_GATEWAY_PORT", port.as_str())];

    let out = status(&gw, &[], &env);
    let (text, stderr) = text_of(&out);
    assert!(out.status.success(), "{text}\n{stderr}");
    let exe = tests::process::our_binary();
    let version = env!("CARGO_PKG_VERSION");
    let mut expected = vec![
        "Service: ".to_string(),
        format!("File logs: {}", shortened(&gw.log_file(), home)),
        "Host desktop: disabled".into(),
        "Config (cli): ~/state/openclaw.json (missing)".into(),
        "Config (service): ~/state/openclaw.json (missing)".into(),
        format!("Gateway: bind=loopback (127.0.0.1), port={port} (env/config)"),
        format!("Probe target: ws://127.0.0.1:{port}"),
        format!("Dashboard: http://127.0.0.1:{port}/"),
        "Probe note: Loopback-only gateway; only local clients can connect.".into(),
        format!("CLI version: {version} ({})", exe.display()),
        format!("Gateway version: {version}"),
        "Runtime: ".into(),
        "Connectivity probe: ok".into(),
        "Capability: ".into(),
        format!("Listening: 127.0.0.1:{port}"),
        "Troubles: run openclaw status".into(),
        "Troubleshooting: https://docs.openclaw.ai/troubleshooting".into(),
    ];
    if no_service_manager() {
        expected[0] =
            "Service: no supported service manager detected (diagnostic only, not the probe target)"
                .into();
        expected[11] = "Runtime: unknown (diagnostic only, not the probe target)".into();
        assert!(
            stderr.contains("No supported service manager detected."),
            "{stderr}"
        );
    }
    assert_in_order(&text, &expected);

    let doc = json_of(&status(&gw, &["--json"], &env));
    assert_eq!(doc["logFile"], gw.log_file().display().to_string());
    assert_eq!(doc["cli"]["version"], version);
    assert_eq!(doc["cli"]["entrypoint"], exe.display().to_string());
    let gateway = &doc["gateway"];
    assert_eq!(gateway["bindMode"], "loopback");
    assert_eq!(gateway["bindHost"], "127.0.0.1");
    assert_eq!(gateway["port"], gw.port);
    assert_eq!(gateway["portSource"], "env/config");
    assert_eq!(gateway["probeUrl"], format!("ws://127.0.0.1:{port}"));
    assert_eq!(
        gateway["probeNote"],
        "Loopback-only gateway; only local clients can connect."
    );
    assert_eq!(gateway["version"], version);
    assert_eq!(
        gateway["controlUiLinks"]["httpUrl"],
        format!("http://127.0.0.1:{port}/")
    );
    assert_eq!(
        doc["config"]["cli"]["path"],
        home.join("state/openclaw.json").display().to_string()
    );
    assert_eq!(doc["service"]["installed"], false);
    // What listens is found from the OS: our gateway's own process.
    assert_eq!(doc["port"]["status"], "busy", "{doc}");
    let listener = &doc["port"]["listeners"][0];
    assert_eq!(listener["address"], format!("127.0.0.1:{port}"));
    assert_eq!(listener["pid"], gw.pid(), "{doc}");
    assert_eq!(listener["command"], "openclaw");
    assert_eq!(doc["rpc"]["ok"], true);
    assert_eq!(doc["rpc"]["kind"], "connect");
    assert_eq!(doc["rpc"]["url"], format!("ws://127.0.0.1:{port}"));
    assert!(doc["rpc"]["capability"].is_string(), "{doc}");
    assert_eq!(doc["extraServices"], serde_json::json!([]));

    // `--port` names the port on the command line: source `cli`.
    let doc = json_of(&status(&gw, &["--json", "--port", &port], &[]));
    assert_eq!(doc["gateway"]["portSource"], "cli");
    assert_eq!(doc["rpc"]["ok"], true, "{doc}");
    assert_eq!(doc["service"]["targetRole"], "diagnostic-only");
    // The CLI's own config and environment name another port: noted.
    assert_eq!(doc["portCli"]["port"], 18789, "{doc}");
    let (text, _) = text_of(&status(&gw, &["--port", &port], &[]));
    assert!(
        text.contains("Note: CLI config resolves gateway port=18789 ("),
        "{text}"
    );
}

#[test]
fn a_stopped_gateway_is_a_failed_probe_and_a_free_port_yet_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = our_command(dir.path());
    cmd.args(["gateway", "status"])
        .env("OPENCLAW_GATEWAY_PORT", port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", "t")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    let (text, stderr) = text_of(&out);
    // As the reference: only --require-rpc turns a failed probe into exit 1.
    assert!(out.status.success(), "{text}\n{stderr}");
    assert!(stderr.contains("Connectivity probe: failed"), "{stderr}");
    assert!(
        stderr.contains(&format!("Probe target: ws://127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(text.contains("Capability: unknown"), "{text}");
    assert!(!text.contains("Listening:"), "nothing listens:\n{text}");
    assert!(
        !text.contains("CLI version:"),
        "no gateway version, no versions:\n{text}"
    );

    let mut cmd = our_command(dir.path());
    cmd.args(["gateway", "status", "--json", "--require-rpc"])
        .env("OPENCLAW_GATEWAY_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["port"]["status"], "free", "{doc}");
    assert_eq!(doc["port"]["listeners"], serde_json::json!([]));
    assert_eq!(doc["rpc"]["ok"], false);
    assert_eq!(doc["rpc"]["kind"], "read");
    assert!(doc["rpc"]["error"].is_string(), "{doc}");
}

#[test]
fn a_lan_gateway_on_a_configured_port_is_probed_over_loopback() {
    let port = free_port();
    let config = format!(r#"{{ gateway: {{ bind: "lan", port: {port} }} }}"#);
    let gw = OurGateway::start_on(
        GatewayOptions {
            bind: "lan".into(),
            config: Some(config),
            ..GatewayOptions::default()
        },
        tempfile::tempdir().unwrap(),
        port,
    );
    // No OPENCLAW_GATEWAY_PORT: bind and port come from the config file.
    let out = status(&gw, &[], &[]);
    let (text, stderr) = text_of(&out);
    assert!(out.status.success(), "{text}\n{stderr}");
    assert_in_order(
        &text,
        &[
            "Config (cli): ~/state/openclaw.json\n".into(),
            format!("Gateway: bind=lan (0.0.0.0), port={port} (env/config)"),
            format!("Probe target: ws://127.0.0.1:{port}"),
            "Probe note: bind=lan listens on 0.0.0.0 (all interfaces); probing via 127.0.0.1."
                .into(),
            "Connectivity probe: ok".into(),
            format!("Listening: *:{port}"),
        ],
    );
    let doc = json_of(&status(&gw, &["--json"], &[]));
    let gateway = &doc["gateway"];
    assert_eq!(gateway["bindMode"], "lan");
    assert_eq!(gateway["bindHost"], "0.0.0.0");
    assert_eq!(gateway["port"], port);
    assert_eq!(gateway["portSource"], "env/config");
    assert_eq!(gateway["probeUrl"], format!("ws://127.0.0.1:{port}"));
    assert_eq!(doc["config"]["cli"]["exists"], true);
    assert_eq!(doc["port"]["listeners"][0]["address"], format!("*:{port}"));
    assert_eq!(doc["rpc"]["ok"], true, "{doc}");
}

#[test]
fn a_tls_gateway_is_probed_over_wss_pinned_to_its_certificate() {
    let port = free_port();
    let config = format!(r#"{{ gateway: {{ port: {port}, tls: {{ enabled: true }} }} }}"#);
    let gw = OurGateway::start_on(
        GatewayOptions {
            config: Some(config),
            ..GatewayOptions::default()
        },
        tempfile::tempdir().unwrap(),
        port,
    );
    assert!(
        gw.tls_fingerprint.is_some(),
        "TLS gateway announces its fingerprint"
    );
    let out = status(&gw, &[], &[]);
    let (text, stderr) = text_of(&out);
    assert!(out.status.success(), "{text}\n{stderr}");
    assert_in_order(
        &text,
        &[
            format!("Probe target: wss://127.0.0.1:{port}"),
            format!("Dashboard: https://127.0.0.1:{port}/"),
            "Connectivity probe: ok".into(),
            format!("Listening: 127.0.0.1:{port}"),
        ],
    );
    let doc = json_of(&status(&gw, &["--json"], &[]));
    assert_eq!(doc["gateway"]["tlsEnabled"], true);
    assert_eq!(
        doc["gateway"]["probeUrl"],
        format!("wss://127.0.0.1:{port}")
    );
    assert_eq!(doc["rpc"]["ok"], true, "{doc}");

    // The probe pins the certificate in the config: another one is refused.
    let tls_dir = gw.dir.path().join("state/gateway/tls");
    let other = tempfile::tempdir().unwrap();
    let maker = OurGateway::start_in(
        GatewayOptions {
            config: Some(r#"{ gateway: { tls: { enabled: true } } }"#.into()),
            ..GatewayOptions::default()
        },
        other,
    );
    let other_cert = maker.dir.path().join("state/gateway/tls/gateway-cert.pem");
    let config = serde_json::json!({"gateway": {"port": port, "tls": {
        "enabled": true, "certPath": other_cert, "keyPath": tls_dir.join("gateway-key.pem"),
    }}});
    std::fs::write(
        gw.dir.path().join("state/openclaw.json"),
        config.to_string(),
    )
    .unwrap();
    let doc: Value = serde_json::from_slice(&status(&gw, &["--json"], &[]).stdout).unwrap();
    assert_eq!(
        doc["rpc"]["ok"], false,
        "a foreign certificate must not pass: {doc}"
    );
}

#[test]
fn deep_lists_another_installs_gateway_unit_and_the_ports_clients() {
    let gw = OurGateway::start(GatewayOptions::default());
    let units = gw.dir.path().join(".config/systemd/user");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(
        units.join("rescue-bot.service"),
        "[Service]\nExecStart=/opt/clawdbot/bin/clawdbot gateway --port 1\n",
    )
    .unwrap();
    let port = gw.port.to_string();
    let env = [("OPENCLAW_GATEWAY_PORT", port.as_str())];
    // A client held open on the port while status looks.
    let client = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();

    let out = status(&gw, &[], &env);
    let (text, _) = text_of(&out);
    assert!(
        !text.contains("Other gateway-like services"),
        "only --deep scans:\n{text}"
    );
    assert!(!text.contains("Established clients"), "{text}");

    let out = status(&gw, &["--deep"], &env);
    let (text, stderr) = text_of(&out);
    assert!(out.status.success(), "{text}\n{stderr}");
    let unit = units.join("rescue-bot.service");
    assert_in_order(
        &text,
        &[
            "Established clients: ".into(),
            format!("Other gateway-like services detected (best effort):\n- rescue-bot.service (user, unit: {})", unit.display()),
            "Inspection hint: systemctl --user status -- rescue-bot.service".into(),
            "Recommendation: run a single gateway per machine".into(),
            "Troubles: run openclaw status".into(),
        ],
    );
    let doc = json_of(&status(&gw, &["--json", "--deep"], &env));
    assert_eq!(doc["extraServices"][0]["label"], "rescue-bot.service");
    assert_eq!(doc["extraServices"][0]["marker"], "clawdbot");
    let clients = doc["connections"]["established"].as_array().unwrap();
    let ours = clients.iter().any(|c| {
        c["pid"] == std::process::id()
            && c["address"]
                .as_str()
                .is_some_and(|a| a.starts_with(&format!("{}->", client.local_addr().unwrap())))
    });
    assert!(ours, "this test's connection is listed: {doc}");
}

/// `gateway status <args>` with no gateway, under `dir`: (exit, stdout, stderr).
fn status_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = our_command(dir);
    cmd.args(["gateway", "status"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    let (stdout, stderr) = text_of(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn the_config_is_read_quickly_and_validated_only_by_deep() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("state/openclaw.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    // A key this gateway refuses: the quick read still takes the port.
    std::fs::write(&config, "{ gateway: { port: 18999, bogus: 1 } }").unwrap();
    let (code, text, _) = status_in(dir.path(), &["--no-probe"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Config (cli): ~/state/openclaw.json\n"),
        "{text}"
    );
    assert!(text.contains("port=18999 (env/config)"), "{text}");
    let (code, _, stderr) = status_in(dir.path(), &["--no-probe", "--deep"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "Gateway status failed: Invalid config at {}:\n- unknown key gateway.bogus",
            config.display()
        )),
        "{stderr}"
    );

    // A file that does not parse is invalid either way, and says where.
    std::fs::write(&config, "{ gateway: { port: 18999, ").unwrap();
    let (code, text, stderr) = status_in(dir.path(), &["--no-probe"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Config (cli): ~/state/openclaw.json (invalid)"),
        "{text}"
    );
    assert!(
        stderr.contains("Config issue: <root>: line 1, column 27"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Service config issue: <root>: "),
        "{stderr}"
    );

    let (code, _, stderr) = status_in(dir.path(), &["--port", "1", "--url", "ws://127.0.0.1:1"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("Use either --url or --port, not both."),
        "{stderr}"
    );
}
