//! The REFERENCE `openclaw` CLI's `gateway call config.get|config.patch`
//! against OUR gateway: the answers have the shapes the reference gateway
//! gave (../shared/reference/captures-2026.9.6/config.ndjson) and the same
//! messages. Skipped (with a note) when the reference cannot be installed.

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use tests::process::{reference_cli, GatewayOptions, OurGateway, ReferenceCli, SHARED_DIR};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn call(cli: &ReferenceCli, gw: &OurGateway, method: &str, params: &Value) -> (Output, Value) {
    let home = tempfile::tempdir().unwrap();
    let port = gw.port.to_string();
    let params = params.to_string();
    let args = ["gateway", "call", method, "--params", &params, "--json"];
    let envs = [
        ("OPENCLAW_GATEWAY_PORT", port.as_str()),
        ("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str()),
    ];
    let out = cli.run(home.path(), &args, &envs, COMMAND_TIMEOUT);
    eprintln!(
        "openclaw {}: {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, answer)
}

/// The payload of a successful `--json` call (the CLI may wrap it).
fn payload(answer: &Value) -> &Value {
    answer.get("payload").unwrap_or(answer)
}

/// The keys of the captured reference answer to request `id`.
fn captured_keys(id: &str) -> BTreeSet<String> {
    let path = format!("{SHARED_DIR}/reference/captures-2026.9.6/config.ndjson");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|v| v["frame"]["type"] == "res" && v["frame"]["id"] == id)
        .and_then(|v| {
            v["frame"]["payload"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
        })
        .unwrap_or_else(|| panic!("no captured answer {id}"))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn reference_cli_reads_and_patches_our_config() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(GatewayOptions {
        config: Some("{ gateway: { mode: 'local', auth: { mode: 'token' } } }".into()),
        ..GatewayOptions::default()
    });

    let (out, got) = call(&cli, &gw, "config.get", &json!({}));
    assert!(out.status.success());
    let got = payload(&got).clone();
    assert_eq!(keys(&got), captured_keys("q4"), "{got}");
    assert_eq!(got["exists"], true);
    let hash = got["hash"].as_str().expect("hash").to_owned();

    // The captured exchange: no hash, a wrong one, then the right one.
    let level = json!({"raw": "{ logging: { level: \"info\" } }"});
    let (out, refused) = call(&cli, &gw, "config.patch", &level);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(refused["error"]["code"], "INVALID_REQUEST", "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "config base hash required for logging.level; re-run config.get and retry with baseHash"
    );
    let bogus = json!({"raw": level["raw"], "baseHash": "hmac-sha256:v1:bogus"});
    let (_, stale) = call(&cli, &gw, "config.patch", &bogus);
    assert_eq!(
        stale["error"]["message"],
        "config changed since last load; re-run config.get and retry"
    );
    let right = json!({"raw": level["raw"], "baseHash": hash});
    let (out, done) = call(&cli, &gw, "config.patch", &right);
    assert!(out.status.success());
    let done = payload(&done).clone();
    assert_eq!(keys(&done), captured_keys("q3"), "{done}");
    assert_eq!(done["changedPaths"], json!(["logging"]));
    assert_eq!(done["config"]["logging"]["level"], "info");
    assert_eq!(done["sentinel"]["payload"]["kind"], "config-patch");

    let (_, after) = call(&cli, &gw, "config.get", &json!({}));
    let after = payload(&after);
    assert_eq!(after["parsed"]["logging"]["level"], "info", "{after}");
    assert_eq!(after["hash"], done["hash"]);

    let (_, port) = call(
        &cli,
        &gw,
        "config.schema.lookup",
        &json!({"path": "gateway.port"}),
    );
    let port = payload(&port);
    assert_eq!(port["schema"]["type"], "integer", "{port}");
    assert_eq!(port["reloadKind"], "restart");
    assert_eq!(port["path"], "gateway.port");
}
