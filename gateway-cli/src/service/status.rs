//! `openclaw gateway status`: where the service and config are, what the
//! gateway should be bound to, then the connectivity probe (unless --no-probe).

use super::{config_path, names, profile, profile_port, unit_path, Env};

/// The human lines before the probe, in the reference's order.
pub fn service_lines(env: Env, unit_state: &str) -> Vec<String> {
    let unit = names::gateway_unit(profile(env).as_deref());
    let path = unit_path(env, &unit, false);
    let config = config_path(env);
    let exists = |p: &std::path::Path| if p.exists() { "" } else { " (missing)" };
    let port = profile_port(env);
    let port_source = if env("OPENCLAW_GATEWAY_PORT").is_some() {
        "env/config"
    } else {
        "default"
    };
    vec![
        if path.exists() {
            format!("Service: systemd ({unit_state}) {}", path.display())
        } else {
            format!("Service: systemd (not installed) {}", path.display())
        },
        String::new(),
        format!("Config (cli): {}{}", config.display(), exists(&config)),
        format!("Config (service): {}{}", config.display(), exists(&config)),
        String::new(),
        format!("Gateway: bind=loopback (127.0.0.1), port={port} ({port_source})"),
        format!("Probe target: ws://127.0.0.1:{port}"),
        format!("Dashboard: http://127.0.0.1:{port}/"),
        String::new(),
    ]
}

/// `enabled`/`disabled`/… as systemd reports it, or `unknown` without systemd.
pub fn unit_state(unit: &str) -> String {
    match super::systemctl(true, &["is-enabled", unit]) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.contains("disabled") => "disabled".into(),
        Err(_) => "unknown".into(),
    }
}

/// The reference's `gateway status --json` document: service, config,
/// gateway, port and (unless --no-probe) the `rpc` result of the probe.
fn status_json(
    env: Env,
    unit: &str,
    state: &str,
    rpc: Option<serde_json::Value>,
) -> serde_json::Value {
    let port = profile_port(env);
    let path = unit_path(env, unit.trim_end_matches(".service"), false);
    let config = config_path(env);
    let installed = path.exists();
    let probe_url = format!("ws://127.0.0.1:{port}");
    serde_json::json!({
        "cli": {
            "version": env!("CARGO_PKG_VERSION"),
            "entrypoint": std::env::current_exe().ok(),
        },
        "service": {
            "label": "systemd",
            "loaded": installed && state == "enabled",
            "loadedText": "enabled",
            "notLoadedText": "disabled",
            "unit": unit,
            "unitPath": path,
            "installed": installed,
        },
        "config": {
            "cli": {"path": config, "exists": config.exists(), "valid": true},
            "daemon": {"path": config, "exists": config.exists(), "valid": true},
        },
        "gateway": {
            "bindMode": "loopback",
            "bindHost": "127.0.0.1",
            "port": port,
            "portSource": "env/config",
            "probeUrl": probe_url,
            "controlUiLinks": {
                "httpUrl": format!("http://127.0.0.1:{port}/"),
                "wsUrl": probe_url,
            },
        },
        "rpc": rpc,
        "extraServices": [],
    })
}

pub fn run(args: crate::client::GatewayStatusArgs) -> i32 {
    let env = &|k: &str| std::env::var(k).ok();
    let unit = format!("{}.service", names::gateway_unit(profile(env).as_deref()));
    let state = unit_state(&unit);
    if !args.json {
        for line in service_lines(env, &state) {
            println!("{line}");
        }
    }
    if args.no_probe {
        if args.json {
            let doc = status_json(env, &unit, &state, None);
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        return 0;
    }
    let outcome = match crate::client::probe(&(&args).into()) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let report = &outcome.report;
    let capability = report["capability"].clone();
    let rpc = serde_json::json!({
        "ok": outcome.ok,
        "kind": "connect",
        "capability": capability,
        "auth": report.get("auth"),
        "server": report.get("server"),
        "version": report.pointer("/server/version"),
        "url": outcome.url,
        "error": report.get("error"),
    });
    if args.json {
        let doc = status_json(env, &unit, &state, Some(rpc));
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else if outcome.ok {
        if let Some(v) = report.pointer("/server/version").and_then(|v| v.as_str()) {
            println!("Gateway version: {v}");
        }
        println!("Connectivity probe: ok");
        println!(
            "Capability: {}",
            capability.as_str().unwrap_or("?").replace('_', "-")
        );
    } else {
        println!(
            "Connectivity probe: failed ({})",
            report["error"].as_str().unwrap_or("unknown error")
        );
    }
    // The probe reads health, status and system-presence; a failed read
    // (what --require-rpc asks about) or no connection at all exits 1.
    let rpc_failed = report.pointer("/connect/rpcOk") == Some(&serde_json::Value::Bool(false));
    if !outcome.ok || (args.require_rpc && rpc_failed) {
        1
    } else {
        0
    }
}
