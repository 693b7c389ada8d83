//! `gateway probe`: can we connect, with which scopes, and do read calls work?

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argh::FromArgs;
use gateway_proto::client::ClientIdentity;
use serde_json::{json, Value};

use gateway_proto::client::CallFailure;
use gateway_smol::client::ConnectError;

use super::call::target_or_exit;
use super::connect::Session;
use super::print;

/// Probe the gateway: connect, report auth and basic read calls.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "probe")]
pub struct ProbeArgs {
    /// gateway WebSocket url (requires --token or --password)
    #[argh(option)]
    pub url: Option<String>,
    /// gateway token
    #[argh(option)]
    pub token: Option<String>,
    /// gateway password
    #[argh(option)]
    pub password: Option<String>,
    /// output JSON
    #[argh(switch)]
    pub json: bool,
    /// timeout in milliseconds (default 3000)
    #[argh(option, default = "3_000")]
    pub timeout: u64,
}

/// Is the gateway running and reachable? (the probe, by the reference's name)
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "status")]
pub struct GatewayStatusArgs {
    /// gateway WebSocket url (requires --token or --password)
    #[argh(option)]
    pub url: Option<String>,
    /// gateway token
    #[argh(option)]
    pub token: Option<String>,
    /// gateway password
    #[argh(option)]
    pub password: Option<String>,
    /// output JSON
    #[argh(switch)]
    pub json: bool,
    /// timeout in milliseconds (default 10000, as the reference)
    #[argh(option, default = "10_000")]
    pub timeout: u64,
    /// probe the gateway on this local port (not with --url)
    #[argh(option)]
    pub port: Option<u16>,
    /// also list other gateway-like services and local clients of the port
    #[argh(switch)]
    pub deep: bool,
    /// skip the connectivity probe (service and config only)
    #[argh(switch)]
    pub no_probe: bool,
    /// fail (exit 1) unless the read RPCs succeed
    #[argh(switch)]
    pub require_rpc: bool,
}

impl From<&GatewayStatusArgs> for ProbeArgs {
    fn from(a: &GatewayStatusArgs) -> Self {
        ProbeArgs {
            url: a.url.clone(),
            token: a.token.clone(),
            password: a.password.clone(),
            json: a.json,
            timeout: a.timeout,
        }
    }
}

fn capability(scopes: &[String]) -> &'static str {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    if has("operator.admin") {
        "admin"
    } else if has("operator.write") {
        "read_write"
    } else if has("operator.read") {
        "read_only"
    } else {
        "connected_no_operator_scope"
    }
}

pub fn run_probe(args: ProbeArgs) -> i32 {
    match probe(&args) {
        Ok(outcome) => print_probe(&args, &outcome),
        Err(code) => code,
    }
}

/// What one probe found: the reference's `gateway probe --json` document, the
/// per-connection report (capability, auth, server) and the url probed.
pub struct ProbeOutcome {
    pub ok: bool,
    pub full: Value,
    pub report: Value,
    pub url: String,
}

pub fn probe(args: &ProbeArgs) -> Result<ProbeOutcome, i32> {
    let target = target_or_exit(
        args.url.as_deref(),
        args.token.as_deref(),
        args.password.as_deref(),
        args.json,
    )?;
    Ok(probe_target(&target, args.timeout))
}

/// Probe an already resolved target (`gateway status` picks its own URL).
pub fn probe_target(target: &super::target::Target, timeout_ms: u64) -> ProbeOutcome {
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let mut session = Session::cli(vec!["operator.read".into()], timeout);
    session.client = ClientIdentity {
        mode: "probe".into(),
        ..session.client
    };
    session.protocol = (3, 4);
    let started = Instant::now();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;

    let report = smol::block_on(async {
        let client = match session.connect(target).await {
            Ok(c) => c,
            Err(e) => {
                let reached = !matches!(e, ConnectError::Io(_));
                return json!({"ok": false, "error": e.to_string(),
                    "gatewayReached": reached, "connectFailure": connect_failure(&e)});
            }
        };
        let latency = started.elapsed().as_millis() as u64;
        let hello = client.hello().clone();
        let mut results = serde_json::Map::new();
        let mut first_error = None;
        for method in ["health", "status", "system-presence"] {
            match client.call(method, None).await {
                Ok(v) => {
                    results.insert(method.into(), v);
                }
                Err(e) => {
                    results.insert(method.into(), Value::Null);
                    first_error.get_or_insert_with(|| {
                        e.gateway_error()
                            .map(|g| g.message.clone())
                            .unwrap_or(e.to_string())
                    });
                }
            }
        }
        client.close().await;
        let cap = capability(&hello.scopes);
        let scope_limited = first_error.is_some();
        json!({
            "ok": true,
            "degraded": scope_limited,
            "capability": cap,
            "connect": {"ok": true, "rpcOk": !scope_limited, "scopeLimited": scope_limited,
                        "latencyMs": latency, "error": first_error, "close": null},
            "auth": {"role": hello.role, "scopes": hello.scopes, "capability": cap},
            "server": {"version": hello.server_version, "connId": hello.conn_id},
            "protocol": hello.protocol,
            "health": results.get("health"),
            "summary": results.get("status"),
            "presence": results.get("system-presence"),
        })
    });
    let ok = report["ok"].as_bool().unwrap_or(false);
    let duration = started.elapsed().as_millis() as u64;
    let target_report = json!({
        "id": "localLoopback", "kind": "localLoopback", "url": target.url, "active": true, "tunnel": null,
        "connect": report.get("connect").cloned().unwrap_or(json!({"ok": false, "error": report.get("error")})),
        "auth": report.get("auth"), "server": report.get("server"),
        "health": report.get("health"), "summary": report.get("summary"), "presence": report.get("presence"),
    });
    let full = json!({
        "ok": ok,
        "degraded": report.get("degraded").and_then(Value::as_bool).unwrap_or(!ok),
        "capability": report.get("capability"),
        "ts": ts,
        "durationMs": duration,
        "timeoutMs": timeout_ms,
        "primaryTargetId": "localLoopback",
        "network": {"localLoopbackUrl": target.url},
        "targets": [target_report],
    });
    ProbeOutcome {
        ok,
        full,
        report,
        url: target.url.to_string(),
    }
}

fn print_probe(args: &ProbeArgs, outcome: &ProbeOutcome) -> i32 {
    let (ok, full, report) = (outcome.ok, &outcome.full, &outcome.report);
    if args.json {
        print::json(full);
    } else if ok {
        print::line(&format!("Probe target: {}", outcome.url));
        print::line("Connectivity probe: ok");
        print::line(&format!(
            "Capability: {}",
            report["capability"]
                .as_str()
                .unwrap_or("?")
                .replace('_', "-")
        ));
        if let Some(v) = report.pointer("/server/version").and_then(Value::as_str) {
            print::line(&format!("Gateway version: {v}"));
        }
        if let Some(e) = report.pointer("/connect/error").and_then(Value::as_str) {
            print::line(&format!("Warning: read calls limited: {e}"));
        }
    } else {
        eprintln!(
            "Connectivity probe: failed ({})",
            report["error"].as_str().unwrap_or("unknown error")
        );
    }
    if ok {
        0
    } else {
        1
    }
}

/// Why a connect failed, as the reference's probe classifies it
/// (`connectFailure`: `kind`, and the gateway's `detailCode` when it sent one).
pub fn connect_failure(error: &ConnectError) -> Value {
    let (code, text) = match error {
        ConnectError::Io(_) => return json!({"kind": "unreachable"}),
        ConnectError::Refused(CallFailure::Handshake(shape)) => (
            shape.detail_code().map(str::to_owned),
            shape.message.clone(),
        ),
        ConnectError::Refused(other) => (None, other.to_string()),
        ConnectError::Closed { .. } => (None, error.to_string()),
    };
    let lower = text.to_ascii_lowercase();
    let code_is = |c: &str| code.as_deref() == Some(c);
    let kind = if code_is("PAIRING_REQUIRED") || lower.contains("pairing required") {
        "pairing-required"
    } else if code_is("DEVICE_IDENTITY_REQUIRED")
        || code_is("CONTROL_UI_DEVICE_IDENTITY_REQUIRED")
        || lower.contains("device identity required")
    {
        "device-identity-required"
    } else if code_is("AUTH_SCOPE_MISMATCH") || lower.contains("scope mismatch") {
        "scope-mismatch"
    } else if code_is("AUTH_RATE_LIMITED")
        || (code.is_none() && lower.contains("too many failed authentication attempts"))
    {
        "rate-limited"
    } else if code
        .as_deref()
        .is_some_and(|c| c.starts_with("AUTH_") || c.starts_with("DEVICE_AUTH_"))
        || lower.contains("token mismatch")
    {
        "auth-rejected"
    } else if code.is_some() || lower.contains("gateway closed") {
        "gateway-rejected"
    } else {
        "unreachable"
    };
    let mut doc = json!({"kind": kind});
    if let Some(code) = code {
        doc["detailCode"] = code.into();
    }
    doc
}
