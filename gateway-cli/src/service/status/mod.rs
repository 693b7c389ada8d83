//! `openclaw gateway status`: the service, the log file, the config, where the
//! gateway should be and how it is probed, the versions, the service runtime,
//! the probe's answer, what actually listens on the port, and (with `--deep`)
//! other gateway-like services and the port's local clients: the reference's
//! lines in its order, and its `--json` document.

pub mod audit;
pub mod extra_services;
pub mod gateway_target;
pub mod manager;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde_json::{json, Value};

use super::{config_path, home, names, profile, unit_path, Env};
use crate::client::GatewayStatusArgs;
use crate::sockets::{self, SocketOwner};
use extra_services::ExtraService;
use gateway_target::{GatewaySummary, PortInputs};
use manager::ServiceState;

/// One read of the config file, as the status reports it.
struct ConfigRead {
    path: std::path::PathBuf,
    exists: bool,
    valid: bool,
    issue: Option<String>,
}

impl ConfigRead {
    fn to_json(&self) -> Value {
        let mut doc = json!({"path": self.path, "exists": self.exists, "valid": self.valid});
        if let Some(issue) = &self.issue {
            doc["issues"] = json!([{"path": "", "message": issue}]);
        }
        doc
    }

    fn line(&self, env: Env) -> String {
        format!(
            "{}{}{}",
            shorten_home(&self.path, env),
            if self.exists { "" } else { " (missing)" },
            if self.valid { "" } else { " (invalid)" }
        )
    }
}

/// What the port looks like from the OS.
struct PortStatus {
    port: u16,
    /// `busy`, `free` or `unknown`.
    status: &'static str,
    listeners: Vec<SocketOwner>,
    hints: Vec<String>,
}

/// Everything the status reports, gathered before anything is printed.
struct Status {
    service: ServiceState,
    target_role: &'static str,
    log_file: std::path::PathBuf,
    config: ConfigRead,
    gateway: GatewaySummary,
    port: PortStatus,
    /// The port the CLI's own config and environment name, when the gateway
    /// is looked for elsewhere (`--port`, the service's `--port`).
    port_cli: Option<PortStatus>,
    rpc: Option<Rpc>,
    clients: Vec<SocketOwner>,
    extra_services: Vec<ExtraService>,
    /// What the service config audit found in the installed unit.
    audit: Vec<audit::AuditIssue>,
}

/// The probe's answer (`rpc` in the JSON).
struct Rpc {
    ok: bool,
    kind: &'static str,
    capability: String,
    auth: Option<Value>,
    server: Option<Value>,
    version: Option<String>,
    error: Option<String>,
    /// On a failure: the reference's `connectFailure` and `gatewayReached`.
    connect_failure: Option<Value>,
    gateway_reached: bool,
}

pub fn run(args: GatewayStatusArgs) -> i32 {
    let env = &|k: &str| std::env::var(k).ok();
    let url_given = args.url.as_deref().is_some_and(|u| !u.trim().is_empty());
    let refusal = if args.port.is_some() && url_given {
        Some("Gateway status failed: Use either --url or --port, not both.".to_string())
    } else if args.require_rpc && args.no_probe {
        Some("Gateway status failed: --require-rpc needs probing enabled. Remove --no-probe or drop --require-rpc.".to_string())
    } else if args.deep {
        // --deep validates the whole config, and stops at a file the
        // gateway would refuse.
        let path = config_path(env);
        crate::config_file::load(&path).err().map(|e| {
            let detail = e
                .strip_prefix(&format!("invalid config {}: ", path.display()))
                .unwrap_or(&e)
                .to_string();
            format!(
                "Gateway status failed: Invalid config at {}:\n- {detail}",
                path.display()
            )
        })
    } else {
        None
    };
    if let Some(message) = refusal {
        if args.json {
            crate::client::print::json(
                &json!({"ok": false, "error": {"type": "cli_error", "message": message}}),
            );
        } else {
            eprintln!("{message}");
        }
        return 1;
    }
    let status = gather(&args, env);
    if args.json {
        crate::client::print::json(&status_json(&status));
    } else {
        print_human(&status, env);
    }
    // Like the reference: only --require-rpc makes a failed probe an error.
    match (&status.rpc, args.require_rpc) {
        (Some(rpc), true) if !rpc.ok => 1,
        _ => 0,
    }
}

fn gather(args: &GatewayStatusArgs, env: Env) -> Status {
    let unit_name = names::gateway_unit(profile(env).as_deref());
    let service = manager::inspect(
        &format!("{unit_name}.service"),
        &unit_path(env, &unit_name, false),
    );
    let url_override = args.url.clone().filter(|u| !u.trim().is_empty());
    // The installed service is what the probe targets only when systemd can
    // be asked and no --port/--url points elsewhere.
    let service_context = !service.manager_unavailable && args.port.is_none();
    let target_role = if service_context && url_override.is_none() {
        "target"
    } else {
        "diagnostic-only"
    };
    let (config, file) = read_config(&config_path(env), args.deep);
    let gateway = gateway_target::summarize(
        &file,
        &PortInputs {
            cli_port: args.port,
            service_port: service.service_port.filter(|_| service_context),
            env_port: env("OPENCLAW_GATEWAY_PORT"),
            url_override: url_override.clone(),
        },
        crate::settings::tailnet_ip(),
    );
    let rows = sockets::read_tables();
    let port = port_status(&rows, &gateway, gateway.port);
    let cli_port = gateway_target::configured_port(&file, env("OPENCLAW_GATEWAY_PORT").as_deref());
    let port_cli = (cli_port != gateway.port).then(|| port_status(&rows, &gateway, cli_port));
    let rpc = (!args.no_probe).then(|| probe(args, &gateway, url_override.as_deref()));
    let local = url_override.is_none();
    let clients = if args.deep && local {
        sockets::clients(&rows, gateway.port)
    } else {
        Vec::new()
    };
    let extra_services = if args.deep {
        extra_services::find(&home(env), true)
            .into_iter()
            .filter(|s| {
                !(s.scope == "user" && s.label == service.unit && service.runtime.scope.is_some())
            })
            .collect()
    } else {
        Vec::new()
    };
    let audit = match &service.command {
        Some(command) => {
            let expected = audit::Expected {
                port: file.port,
                token: file.token.as_deref(),
            };
            audit::audit(
                &service.unit_path,
                &service.unit_text,
                command,
                &expected,
                !service.manager_unavailable,
            )
        }
        None => Vec::new(),
    };
    Status {
        audit,
        service,
        target_role,
        log_file: crate::logging::file_path(),
        config,
        gateway,
        port,
        port_cli,
        rpc,
        clients,
        extra_services,
    }
}

/// The config file's summary and what it says. Like the reference, only
/// `--deep` holds the file to the full key check; the quick read needs it to
/// parse, and takes port and bind from it either way.
fn read_config(path: &Path, deep: bool) -> (ConfigRead, crate::config_file::ConfigFile) {
    use crate::config_file::{parse, parse_known_keys};
    let summary = |exists, issue: Option<String>| ConfigRead {
        path: path.to_path_buf(),
        exists,
        valid: issue.is_none(),
        issue,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (summary(false, None), Default::default())
        }
        Err(e) => return (summary(true, Some(e.to_string())), Default::default()),
    };
    let (strict, lenient) = (parse(&text), parse_known_keys(&text));
    let issue = if deep {
        strict.as_ref().err()
    } else {
        lenient.as_ref().err()
    };
    let read = summary(true, issue.cloned());
    let file = strict.or(lenient).map(|l| l.config()).unwrap_or_default();
    (read, file)
}

/// Who listens on `port` at the addresses the gateway's bind requires; with
/// none in the tables, whether the port could be bound there at all.
fn port_status(rows: &[sockets::SocketRow], gateway: &GatewaySummary, port: u16) -> PortStatus {
    let bind: IpAddr = gateway
        .bind_host
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let listeners = sockets::listeners(rows, port, bind);
    let status = if !listeners.is_empty() {
        "busy"
    } else {
        let mut status = "free";
        for host in sockets::required_hosts(bind) {
            match std::net::TcpListener::bind((host, port)) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => status = "busy",
                Err(_) if status == "free" => status = "unknown",
                Err(_) => {}
            }
        }
        status
    };
    let mut hints = Vec::new();
    if status == "busy" && listeners.is_empty() {
        hints.push(
            "Port is in use but process details are unavailable (install lsof or run as an admin user)."
                .to_string(),
        );
    }
    PortStatus {
        port,
        status,
        listeners,
        hints,
    }
}

fn probe(args: &GatewayStatusArgs, gateway: &GatewaySummary, url: Option<&str>) -> Rpc {
    let kind = if args.require_rpc { "read" } else { "connect" };
    let (token, password) = (args.token.as_deref(), args.password.as_deref());
    let target = match url {
        Some(url) => crate::client::target::resolve(Some(url), token, password),
        None => crate::client::target::resolve_local_at(
            &gateway.probe_url,
            gateway.tls_enabled,
            token,
            password,
        ),
    };
    let target = match target {
        Ok(target) => target,
        Err(e) => {
            return Rpc {
                ok: false,
                kind,
                capability: "unknown".into(),
                auth: None,
                server: None,
                version: None,
                error: Some(e.message),
                connect_failure: None,
                gateway_reached: false,
            }
        }
    };
    let outcome = crate::client::probe_target(&target, args.timeout);
    let report = &outcome.report;
    let reads_ok = report.pointer("/connect/rpcOk") != Some(&Value::Bool(false));
    let ok = outcome.ok && (kind == "connect" || reads_ok);
    let capability = report["capability"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let error = match (outcome.ok, reads_ok) {
        (false, _) => report["error"].as_str().map(str::to_string),
        (true, false) if kind == "read" => report
            .pointer("/connect/error")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    };
    Rpc {
        ok,
        kind,
        capability,
        auth: report.get("auth").cloned(),
        server: report.get("server").cloned(),
        version: report
            .pointer("/server/version")
            .and_then(Value::as_str)
            .map(str::to_string),
        error: error.or_else(|| (!ok).then(|| "gateway probe failed".to_string())),
        connect_failure: report.get("connectFailure").cloned(),
        gateway_reached: report["gatewayReached"] == true,
    }
}

/// `~/…` for a path under HOME, as the reference shows paths.
fn shorten_home(path: &Path, env: Env) -> String {
    let text = path.display().to_string();
    let Some(home) = env("HOME").filter(|h| !h.is_empty() && h != "/") else {
        return text;
    };
    let home = home.trim_end_matches('/');
    if text == home {
        "~".into()
    } else if let Some(rest) = text.strip_prefix(home).filter(|r| r.starts_with('/')) {
        format!("~{rest}")
    } else {
        text
    }
}

fn service_label(status: &Status) -> String {
    if status.service.manager_unavailable {
        return "no supported service manager detected".into();
    }
    match &status.service.runtime.scope {
        Some(scope) => format!("systemd {scope}"),
        None => "systemd".into(),
    }
}

fn print_human(status: &Status, env: Env) {
    let service = &status.service;
    let suffix = if status.target_role == "target" {
        ""
    } else {
        " (diagnostic only, not the probe target)"
    };
    let state = match service.load_state {
        "loaded" => " (enabled)",
        "not-loaded" => " (disabled)",
        _ => " (unknown)",
    };
    let state = if service.manager_unavailable {
        ""
    } else {
        state
    };
    println!("Service: {}{state}{suffix}", service_label(status));
    if service.manager_unavailable && service.installed {
        println!("The recorded service unit is stale and was left unchanged.");
    }
    println!("File logs: {}", shorten_home(&status.log_file, env));
    if let Some(command) = &service.command {
        let label = if service.manager_unavailable {
            "Recorded command:"
        } else {
            "Command:"
        };
        println!("{label} {}", command.program_arguments.join(" "));
        println!("Service file: {}", shorten_home(&service.unit_path, env));
        if service.runtime.reload_pending && !service.manager_unavailable {
            println!("Systemd reload: pending (run systemctl --user daemon-reload)");
        }
        if let Some(dir) = &command.working_directory {
            println!("Working dir: {}", shorten_home(Path::new(dir), env));
        }
        let shown = printable_env(&command.environment);
        if !shown.is_empty() {
            let pairs: Vec<String> = shown.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("Service env: {}", pairs.join(" "));
        }
    }
    // This gateway has no host desktop feature: it is never enabled.
    println!("Host desktop: disabled");
    println!();
    if !status.audit.is_empty() {
        eprintln!("Service config looks out of date or non-standard.");
        for issue in &status.audit {
            eprintln!("{}", issue.line());
        }
        if service.manager_unavailable {
            eprintln!("Run \"openclaw doctor\" for guidance about this recorded service unit.");
        } else {
            eprintln!("Recommendation: run \"openclaw doctor\" interactively for guided checks, or reinstall with \"openclaw gateway install --force\".");
        }
    }

    let config = &status.config;
    println!("Config (cli): {}", config.line(env));
    if let Some(issue) = &config.issue {
        eprintln!("Config issue: <root>: {issue}");
    }
    println!("Config (service): {}", config.line(env));
    if let Some(issue) = &config.issue {
        eprintln!("Service config issue: <root>: {issue}");
    }
    println!();

    let gateway = &status.gateway;
    println!(
        "Gateway: bind={} ({}), port={} ({})",
        gateway.bind_mode, gateway.bind_host, gateway.port, gateway.port_source
    );
    println!("Probe target: {}", gateway.probe_url);
    match &gateway.control_ui_links {
        Some((http, _)) => println!("Dashboard: {http}"),
        None => println!("Dashboard: disabled"),
    }
    if let Some(note) = &gateway.probe_note {
        println!("Probe note: {note}");
    }
    println!();

    if let Some(version) = status.rpc.as_ref().and_then(|r| r.version.as_deref()) {
        let cli = env!("CARGO_PKG_VERSION");
        match std::env::current_exe() {
            Ok(exe) => println!("CLI version: {cli} ({})", shorten_home(&exe, env)),
            Err(_) => println!("CLI version: {cli}"),
        }
        println!("Gateway version: {version}");
        if version != cli {
            eprintln!("Warning: this OpenClaw command is version {cli}, but the running Gateway is version {version}.");
            eprintln!("Check `openclaw --version`, `which openclaw`, and `openclaw gateway status --deep`; if this mismatch is unexpected, update PATH so `openclaw` points to the version you want, or reinstall the Gateway service from that same OpenClaw install.");
        }
        println!();
    }

    // With no manager to ask, the reference leaves the detail for the
    // closing note below.
    println!(
        "Runtime: {}{suffix}",
        service.runtime.line(!service.manager_unavailable)
    );

    if let Some(rpc) = &status.rpc {
        let label = if rpc.kind == "read" {
            "Read probe:"
        } else {
            "Connectivity probe:"
        };
        if rpc.ok {
            println!("{label} ok");
        } else {
            eprintln!("{label} failed");
            eprintln!("Probe target: {}", gateway.probe_url);
            let error = rpc.error.as_deref().unwrap_or("unknown");
            for line in error.lines().filter(|l| !l.is_empty()).take(12) {
                eprintln!("  {line}");
            }
        }
        println!("Capability: {}", rpc.capability.replace('_', "-"));
        println!();
    }

    if !status.clients.is_empty() {
        println!("Established clients: {}", status.clients.len());
        for client in status.clients.iter().take(8) {
            println!("  {}", connection_line(client, env));
        }
        if status.clients.len() > 8 {
            println!("  ... {} more connection(s)", status.clients.len() - 8);
        }
        println!("If logs show protocol mismatch after rollback, stop stale OpenClaw client processes listed here and re-run gateway status.");
        println!();
    }

    if service.manager_unavailable {
        eprintln!("{}", manager::UNAVAILABLE_DETAIL);
        println!();
    } else if service.runtime.missing_unit {
        if status.target_role == "target" {
            eprintln!("Service unit not found.");
            eprintln!("Run: openclaw gateway install");
        } else {
            println!("Native service is not installed; diagnostic only, not the probe target.");
        }
    } else if service.load_state == "loaded" && service.runtime.status == "stopped" {
        eprintln!("Service is loaded but not running (likely exited immediately).");
        println!();
    }

    let port = &status.port;
    let probe_ok = status.rpc.as_ref().is_some_and(|r| r.ok);
    if port.status != "free" && !probe_ok {
        if port.status == "unknown" {
            eprintln!("Port {} availability could not be determined.", port.port);
        } else {
            eprintln!("Port {} is already in use.", port.port);
            for listener in &port.listeners {
                eprintln!("- {}", listener_line(listener));
            }
            for hint in &port.hints {
                eprintln!("- {hint}");
            }
        }
    }
    let mut addresses: Vec<&str> = Vec::new();
    for listener in &port.listeners {
        if !addresses.contains(&listener.address.as_str()) {
            addresses.push(&listener.address);
        }
    }
    if !addresses.is_empty() {
        println!("Listening: {}", addresses.join(", "));
    }
    if let Some(cli) = &status.port_cli {
        println!(
            "Note: CLI config resolves gateway port={} ({}).",
            cli.port, cli.status
        );
    }
    if status.target_role == "target"
        && service.load_state == "loaded"
        && service.runtime.status == "running"
        && port.status == "free"
    {
        eprintln!(
            "Gateway port {} is not listening (service appears running).",
            port.port
        );
        eprintln!(
            "Logs: journalctl --user -u {} -n 200 --no-pager",
            service.unit
        );
        println!();
    }

    if !status.extra_services.is_empty() {
        println!("Other gateway-like services detected (best effort):");
        for svc in &status.extra_services {
            println!("- {} ({}, {})", svc.label, svc.scope, svc.detail);
        }
        for svc in &status.extra_services {
            for hint in svc.hints() {
                println!("Inspection hint: {hint}");
            }
        }
        println!();
        println!("Recommendation: run a single gateway per machine for most setups. One gateway supports multiple agents (see docs: /gateway#multiple-gateways-same-host).");
        println!("If you need multiple gateways (e.g., a rescue bot on the same host), isolate ports + config/state (see docs: /gateway#multiple-gateways-same-host).");
        println!();
    }
    println!("Troubles: run openclaw status");
    println!("Troubleshooting: https://docs.openclaw.ai/troubleshooting");
}

/// `pid 42 user: command (address)`, the reference's listener row.
fn listener_line(listener: &SocketOwner) -> String {
    let pid = listener.pid.map_or("pid ?".into(), |p| format!("pid {p}"));
    let user = listener
        .user
        .as_deref()
        .map_or(String::new(), |u| format!(" {u}"));
    let command = listener
        .command_line
        .as_deref()
        .or(listener.command.as_deref())
        .unwrap_or("unknown");
    format!("{pid}{user}: {command} ({})", listener.address)
}

/// `pid=42 ppid=1 client node 127.0.0.1:5->127.0.0.1:18789 cmd=…`.
fn connection_line(client: &SocketOwner, env: Env) -> String {
    let mut line = client.pid.map_or("pid=?".into(), |p| format!("pid={p}"));
    if let Some(ppid) = client.ppid {
        line.push_str(&format!(" ppid={ppid}"));
    }
    line.push_str(" client");
    if let Some(command) = &client.command {
        line.push_str(&format!(" {command}"));
    }
    line.push_str(&format!(" {}", client.address));
    if let Some(cmd) = &client.command_line {
        line.push_str(&format!(" cmd={}", shorten_home(Path::new(cmd), env)));
    }
    line
}

fn service_json(status: &Status) -> Value {
    let service = &status.service;
    let runtime = &service.runtime;
    let mut runtime_json = json!({"status": runtime.status});
    let r = runtime_json.as_object_mut().expect("object");
    if let Some(pid) = runtime.pid {
        r.insert("pid".into(), pid.into());
    }
    if let Some(state) = &runtime.state {
        r.insert("state".into(), state.clone().into());
    }
    if let Some(sub) = &runtime.sub_state {
        r.insert("subState".into(), sub.clone().into());
    }
    if let Some(code) = runtime.last_exit_status {
        r.insert("lastExitStatus".into(), code.into());
    }
    if let Some(reason) = &runtime.last_exit_reason {
        r.insert("lastExitReason".into(), reason.clone().into());
    }
    if runtime.missing_unit {
        r.insert("missingUnit".into(), true.into());
    }
    if let Some(scope) = &runtime.scope {
        r.insert(
            "systemd".into(),
            json!({"scope": scope, "unit": service.unit}),
        );
    }
    let command = match &service.command {
        Some(command) => command_json(command, &service.unit_path),
        None => Value::Null,
    };
    let mut doc = json!({
        "label": service_label(status),
        "loaded": service.load_state == "loaded",
        "loadState": {"status": service.load_state},
        "loadedText": "enabled",
        "notLoadedText": "disabled",
        "targetRole": status.target_role,
        "command": command,
        "runtime": runtime_json,
        "unit": service.unit,
        "unitPath": service.unit_path,
        "installed": service.installed,
    });
    let issues: Vec<Value> = status.audit.iter().map(|i| i.to_json()).collect();
    doc["configAudit"] = json!({"ok": issues.is_empty(), "issues": issues});
    if service.manager_unavailable {
        let detail = manager::UNAVAILABLE_DETAIL;
        doc["inspectionReason"] = "service-manager-unavailable".into();
        doc["runtime"] = json!({
            "status": "unknown",
            "inspectionReason": "service-manager-unavailable",
            "detail": format!("{detail}; retry with openclaw gateway status --deep"),
            "inspectionFailure": {"code": "service-runtime-inspection-failed", "detail": detail},
        });
        if service.installed {
            // A recorded unit nobody can be asked about: its state is unknown.
            doc["loaded"] = Value::Null;
            doc["loadState"] = json!({
                "status": "unknown",
                "detail": format!("ServiceInspectionError: {detail}"),
                "inspectionReason": "service-manager-unavailable",
            });
            doc["systemdInstallation"] = json!({"kind": "user", "user": {
                "scope": "user", "unitName": service.unit, "unitPath": service.unit_path}});
        } else {
            doc["systemdInstallation"] = json!({"kind": "none"});
        }
    }
    doc
}

/// The environment keys the reference shows (never secrets such as a token).
const PRINTABLE_ENV_KEYS: [&str; 6] = [
    "OPENCLAW_PROFILE",
    "OPENCLAW_STATE_DIR",
    "OPENCLAW_CONFIG_PATH",
    "OPENCLAW_GATEWAY_PORT",
    "OPENCLAW_CONFIG_READONLY",
    "OPENCLAW_NIX_MODE",
];

/// The unit's environment as the reference prints it: only the keys above,
/// in that order, trimmed, non-empty.
fn printable_env(environment: &[(String, String)]) -> Vec<(&'static str, String)> {
    PRINTABLE_ENV_KEYS
        .iter()
        .filter_map(|key| {
            let value = environment.iter().rev().find(|(k, _)| k == key)?.1.trim();
            (!value.is_empty()).then(|| (*key, value.to_owned()))
        })
        .collect()
}

/// The reference's `service.command`: the recorded words, the printable
/// environment (omitted when none), where each variable came from, the unit.
fn command_json(command: &crate::service::systemd::RecordedCommand, unit_path: &Path) -> Value {
    let mut doc = json!({"programArguments": command.program_arguments});
    if let Some(dir) = &command.working_directory {
        doc["workingDirectory"] = dir.clone().into();
    }
    let shown = printable_env(&command.environment);
    if !shown.is_empty() {
        let map: serde_json::Map<String, Value> = shown
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        doc["environment"] = Value::Object(map);
    }
    if !command.environment.is_empty() {
        let sources: serde_json::Map<String, Value> = command
            .environment
            .iter()
            .map(|(k, _)| (k.clone(), "inline".into()))
            .collect();
        doc["environmentValueSources"] = Value::Object(sources);
    }
    doc["sourcePath"] = unit_path.display().to_string().into();
    doc
}

fn rpc_json(rpc: &Rpc, url: &str) -> Value {
    let mut doc = json!({"ok": rpc.ok, "kind": rpc.kind});
    if rpc.gateway_reached && !rpc.ok {
        doc["gatewayReached"] = true.into();
    }
    doc["capability"] = rpc.capability.clone().into();
    // A failed connect still reports who it was, as nobody.
    let nobody = (!rpc.ok).then(|| {
        (
            json!({"role": null, "scopes": [], "capability": "unknown"}),
            json!({"version": null, "connId": null}),
        )
    });
    if let Some(auth) = rpc.auth.clone().or(nobody.clone().map(|n| n.0)) {
        doc["auth"] = auth;
    }
    if let Some(server) = rpc.server.clone().or(nobody.map(|n| n.1)) {
        doc["server"] = server;
    }
    if let Some(failure) = &rpc.connect_failure {
        doc["connectFailure"] = failure.clone();
    }
    if let Some(version) = &rpc.version {
        doc["version"] = version.clone().into();
    }
    if let Some(error) = &rpc.error {
        doc["error"] = error.clone().into();
    }
    doc["url"] = url.into();
    doc
}

fn port_json(port: &PortStatus) -> Value {
    json!({
        "port": port.port,
        "status": port.status,
        "listeners": port.listeners.iter().map(SocketOwner::to_json).collect::<Vec<_>>(),
        "hints": port.hints,
    })
}

/// The reference's `gateway status --json` document.
fn status_json(status: &Status) -> Value {
    let mut gateway = status.gateway.to_json();
    if let Some(rpc) = &status.rpc {
        gateway["version"] = rpc.version.clone().map_or(Value::Null, Value::String);
    }
    let port = &status.port;
    let mut doc = json!({
        "cli": {
            "version": env!("CARGO_PKG_VERSION"),
            "entrypoint": std::env::current_exe().ok(),
        },
        "logFile": status.log_file,
        "service": service_json(status),
        "config": {"cli": status.config.to_json(), "daemon": status.config.to_json()},
        "gateway": gateway,
        "hostDesktop": {"enabled": false, "state": "disabled"},
        "port": port_json(port),
    });
    if let Some(cli) = &status.port_cli {
        doc["portCli"] = port_json(cli);
    }
    if !status.clients.is_empty() {
        doc["connections"] = json!({
            "port": port.port,
            "established": status.clients.iter().map(|c| {
                let mut v = c.to_json();
                v["direction"] = "client".into();
                v
            }).collect::<Vec<_>>(),
        });
    }
    if let Some(rpc) = &status.rpc {
        doc["rpc"] = rpc_json(rpc, &status.gateway.probe_url);
    }
    doc["extraServices"] = status
        .extra_services
        .iter()
        .map(ExtraService::to_json)
        .collect();
    doc
}
