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

pub fn run(args: crate::client::GatewayStatusArgs) -> i32 {
    let env = &|k: &str| std::env::var(k).ok();
    let unit = format!("{}.service", names::gateway_unit(profile(env).as_deref()));
    let state = unit_state(&unit);
    if args.json && args.no_probe {
        let port = profile_port(env);
        let path = unit_path(env, &unit.replace(".service", ""), false);
        let config = config_path(env);
        let report = serde_json::json!({
            "service": {
                "label": "systemd",
                "loaded": state == "enabled",
                "unit": unit,
                "unitPath": path,
                "installed": path.exists(),
            },
            "config": {
                "cli": {"path": config, "exists": config.exists()},
                "daemon": {"path": config, "exists": config.exists()},
            },
            "gateway": {
                "bindMode": "loopback",
                "bindHost": "127.0.0.1",
                "port": port,
                "probeUrl": format!("ws://127.0.0.1:{port}"),
            },
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return 0;
    }
    if !args.json {
        for line in service_lines(env, &state) {
            println!("{line}");
        }
    }
    if args.no_probe {
        return 0;
    }
    // The probe reads health, status and system-presence and exits non-zero
    // when they fail, which is what --require-rpc asks for.
    crate::client::run_probe(args.into())
}
