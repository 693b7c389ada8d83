//! `openclaw dashboard`: hand the Control UI to a browser without putting
//! the shared secret on the command line, in the clipboard or in the
//! browser's history.
//!
//! As the reference does it (`src/commands/dashboard.ts`): check the
//! gateway answers and serves its page, then write a one-time owner
//! bootstrap token (ten minutes) into the shared state database and give
//! the browser `…/#bootstrapToken=…&bootstrapProfile=owner&gatewayUrl=…`.
//! The page trades the token for its own administrator device token on its
//! first connect. The terminal only ever shows the clean base URL.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::desktop::{browser_command, copy_to_clipboard, open_url};

use argh::FromArgs;
use gateway_proto::gateway::pairing::BootstrapProfile;
use gateway_proto::text::percent_encode_component;
use gateway_smol::document_probe;
use gateway_smol::store::PairingStore;
use serde_json::json;

use crate::client::target::{self, Target};
use crate::service::status::gateway_target::{self, base_path, GatewaySummary, PortInputs};

/// Open the Control UI with a one-time owner pairing link.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "dashboard")]
pub struct DashboardArgs {
    /// print the URL but do not launch a browser
    #[argh(switch)]
    pub no_open: bool,
    /// print one machine-readable connection object (no browser, clipboard or prompt)
    #[argh(switch)]
    pub json: bool,
    /// start/install the gateway without prompting when needed
    #[argh(switch)]
    pub yes: bool,
}

/// How long each readiness check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the browser goes and how the CLI checks it.
struct Handoff {
    port: u16,
    base_path: String,
    tls: bool,
    http_url: String,
    ws_url: String,
    /// The page, always over loopback (what this host's browser loads).
    document_url: String,
    target: Target,
}

impl Handoff {
    /// `url` of the JSON: the base URL with `#token=` when the token is a
    /// plain configured string (never a secret reference).
    fn shared_auth_url(&self) -> (String, bool) {
        match self.target.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => (
                format!(
                    "{}#token={}",
                    self.http_url,
                    percent_encode_component(token)
                ),
                true,
            ),
            None => (self.http_url.clone(), false),
        }
    }
}

pub fn run(args: DashboardArgs) -> i32 {
    let env = &|k: &str| std::env::var(k).ok();
    let handoff = match resolve(env) {
        Ok(handoff) => handoff,
        Err(reason) => return fail(&args, &reason),
    };
    if let Err(reason) = ensure_ready(&args, &handoff) {
        if args.json {
            return fail(&args, &reason);
        }
        // Like the reference: the hints are the answer, not an error.
        return 0;
    }
    if let Err(reason) = document_ready(&handoff) {
        if !args.json {
            eprintln!("{reason}");
            println!("Run `openclaw gateway status --deep` for details.");
            return 1;
        }
        return fail(&args, &reason);
    }
    let state_dir = crate::service::state_dir(env);
    let issued = PairingStore::open(&state_dir).and_then(|mut store| {
        store.issue_bootstrap_token(&BootstrapProfile::control_ui_owner(), now_ms())
    });
    let issued = match issued {
        Ok(issued) => issued,
        Err(e) if args.json => return fail(&args, &e.to_string()),
        Err(e) => {
            eprintln!("Could not create a one-time browser pairing link: {e}");
            println!("Run `openclaw doctor`, then retry `openclaw dashboard`.");
            return 0;
        }
    };
    let browser_url = format!(
        "{}#bootstrapToken={}&bootstrapProfile=owner&gatewayUrl={}",
        handoff.http_url,
        percent_encode_component(&issued.token),
        percent_encode_component(&handoff.ws_url)
    );
    if args.json {
        let (url, token_included) = handoff.shared_auth_url();
        let mut doc = json!({
            "ok": true,
            "url": url,
            "httpUrl": handoff.http_url,
            "wsUrl": handoff.ws_url,
            "port": handoff.port,
            "tokenIncluded": token_included,
            "browserUrl": browser_url,
            "browserBootstrapExpiresAtMs": issued.expires_at_ms,
        });
        if let Some(fingerprint) = &handoff.target.tls_fingerprint {
            doc["tlsFingerprint"] = fingerprint.clone().into();
        }
        crate::client::print::json(&doc);
        return 0;
    }
    deliver(&args, &handoff, &browser_url);
    0
}

fn fail(args: &DashboardArgs, reason: &str) -> i32 {
    if args.json {
        crate::client::print::json(&json!({"ok": false, "reason": reason}));
    } else {
        eprintln!("{reason}");
    }
    1
}

/// The links for this host's browser. A `lan` or wildcard bind is not a
/// browser destination, and a plain-HTTP page needs loopback to be a
/// secure context; only a TLS gateway on a specific host keeps that host
/// (so the certificate's names match).
fn resolve(env: crate::service::Env) -> Result<Handoff, String> {
    let config_path = crate::service::config_path(env);
    let file = match crate::config_file::load(&config_path) {
        Ok(loaded) => loaded.config(),
        Err(_) if !config_path.exists() => Default::default(),
        Err(_) => {
            return Err(format!(
                "OpenClaw config is invalid: {}. Run `openclaw doctor --fix` or `openclaw config validate`.",
                config_path.display()
            ))
        }
    };
    let inputs = PortInputs {
        env_port: env("OPENCLAW_GATEWAY_PORT"),
        ..Default::default()
    };
    let summary = gateway_target::summarize(&file, &inputs, crate::settings::tailnet_ip());
    let (http_url, ws_url) = browser_links(&summary, file.control_ui_base_path.as_deref());
    let target = target::resolve_local_at(&summary.probe_url, summary.tls_enabled, None, None)
        .map_err(|e| e.message)?;
    let base_path = base_path(file.control_ui_base_path.as_deref().unwrap_or(""));
    let scheme = if summary.tls_enabled { "https" } else { "http" };
    Ok(Handoff {
        port: summary.port,
        document_url: format!("{scheme}://127.0.0.1:{}{base_path}/", summary.port),
        base_path,
        tls: summary.tls_enabled,
        http_url,
        ws_url,
        target,
    })
}

fn browser_links(summary: &GatewaySummary, base_path_raw: Option<&str>) -> (String, String) {
    let specific_host = summary.tls_enabled
        && match summary.bind_mode.as_str() {
            "tailnet" => true,
            "custom" => summary
                .custom_bind_host
                .as_deref()
                .is_some_and(|h| h.trim() != "0.0.0.0"),
            _ => false,
        };
    if let (true, Some(links)) = (specific_host, &summary.control_ui_links) {
        return links.clone();
    }
    let base = base_path(base_path_raw.unwrap_or(""));
    let (http, ws) = if summary.tls_enabled {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    (
        format!("{http}://127.0.0.1:{}{base}/", summary.port),
        format!("{ws}://127.0.0.1:{}{base}", summary.port),
    )
}

/// The gateway answers its handshake, or (with `--yes`, or when the user
/// agrees at a terminal) its service is started and then does.
fn ensure_ready(args: &DashboardArgs, handoff: &Handoff) -> Result<(), String> {
    let probe = || crate::client::probe_target(&handoff.target, PROBE_TIMEOUT.as_millis() as u64);
    let first = probe();
    if first.ok {
        return Ok(());
    }
    let error = first.report["error"].as_str().unwrap_or("").to_owned();
    let stopped = looks_stopped(&error);
    let reason = not_ready_reason(stopped, &error);
    if args.json || !stopped {
        if !args.json {
            print_not_ready(&reason, false);
        }
        return Err(reason);
    }
    let env = &|k: &str| std::env::var(k).ok();
    let unit = crate::service::names::gateway_unit(crate::service::profile(env).as_deref());
    let installed = crate::service::unit_path(env, &unit, false).exists();
    let question = if installed {
        "The background Gateway service is not running. Start it to open the dashboard?"
    } else {
        "No background Gateway service was detected for this profile. Install and start one to open the dashboard?"
    };
    if !(args.yes || confirm(question)) {
        print_not_ready(&reason, true);
        return Err(reason);
    }
    let started = if installed {
        crate::service::run_control("start")
    } else {
        crate::service::run_install(crate::service::InstallArgs {
            port: None,
            system: false,
            no_start: false,
            force: false,
        })
    };
    if started == 0 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if probe().ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let again = probe();
    let error = again.report["error"].as_str().unwrap_or("").to_owned();
    let reason = not_ready_reason(looks_stopped(&error), &error);
    print_not_ready(&reason, looks_stopped(&error));
    Err(reason)
}

fn looks_stopped(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("refused") || lower.contains("couldn't connect")
}

fn not_ready_reason(stopped: bool, error: &str) -> String {
    if stopped {
        "Gateway is not running.".into()
    } else if error.is_empty() {
        "Gateway is not healthy.".into()
    } else {
        format!("Gateway probe failed: {error}")
    }
}

fn print_not_ready(reason: &str, can_start: bool) {
    println!("{reason}");
    println!("Run `openclaw gateway status --deep` for details.");
    if can_start {
        println!("Run `openclaw gateway start` to start a managed gateway.");
        println!("Run `openclaw gateway run` for a foreground gateway.");
    } else {
        println!(
            "Use the owning environment or supervisor to start or repair the selected Gateway."
        );
    }
}

/// Ask at a terminal (default yes); never without one.
fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!("{question} (Y/n) ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "" | "y" | "yes"
    )
}

/// The page is served (200 `text/html` on loopback), or why not.
fn document_ready(handoff: &Handoff) -> Result<(), String> {
    let fingerprint = handoff.target.tls_fingerprint.as_deref();
    match document_probe::head(&handoff.document_url, fingerprint, PROBE_TIMEOUT) {
        Ok(head) if head.is_ready() => Ok(()),
        Ok(head) if head.status == 503 && head.retry_after.is_some() => {
            Err("Control UI assets are still preparing.".into())
        }
        Ok(head) => Err(format!(
            "Control UI dashboard is unavailable (HTTP {}).",
            head.status
        )),
        Err(e) => Err(format!("Control UI dashboard is unavailable: {e}")),
    }
}

/// Print the clean URL; give the one-time link to the clipboard and the
/// browser only.
fn deliver(args: &DashboardArgs, handoff: &Handoff, browser_url: &str) {
    println!("Dashboard URL: {}", handoff.http_url);
    println!("One-time browser pairing included in browser/clipboard URL.");
    let copied = copy_to_clipboard(browser_url);
    println!(
        "{}",
        if copied {
            "Copied to clipboard."
        } else {
            "Copy to clipboard unavailable."
        }
    );
    let mut opened = false;
    let hint = if args.no_open {
        copied.then_some(
            "Browser launch disabled (--no-open). One-time browser pairing URL copied to clipboard."
                .to_owned(),
        )
    } else {
        match browser_command() {
            Some(opener) => {
                opened = open_url(&opener, browser_url);
                match (opened, copied) {
                    (true, _) => None,
                    (false, true) => Some(
                        "Browser launch failed. Open the one-time pairing URL copied to clipboard."
                            .to_owned(),
                    ),
                    (false, false) => Some(
                        "Browser launch failed. Open the Dashboard URL above manually.".to_owned(),
                    ),
                }
            }
            None => Some(ssh_hint(handoff)),
        }
    };
    if opened {
        println!("Opened in your browser. Keep that tab to control OpenClaw.");
    } else if let Some(hint) = hint {
        println!("{hint}");
    }
    if !copied && !opened {
        if handoff.shared_auth_url().1 {
            println!("Token auto-auth not delivered. Append your gateway token (from OPENCLAW_GATEWAY_TOKEN or gateway.auth.token) as a URL fragment with key `token` to authenticate.");
        } else {
            println!("One-time pairing URL not delivered. Run `openclaw dashboard --json` and open its `browserUrl` within ten minutes.");
        }
    }
}

/// The reference's advice when this host has no browser to open.
fn ssh_hint(handoff: &Handoff) -> String {
    let scheme = if handoff.tls { "https" } else { "http" };
    let port = handoff.port;
    [
        "No GUI detected. Open from your computer:".to_owned(),
        format!("ssh -N -L {port}:127.0.0.1:{port} <user>@<host>"),
        "Then open:".to_owned(),
        format!("{scheme}://localhost:{port}{}/", handoff.base_path),
        "BYOH note: lan, tailnet, and custom bind are currently IPv4-only.".to_owned(),
        "If your host is IPv6-only, use an IPv4 sidecar or proxy in front of the Gateway."
            .to_owned(),
        "Docs:".to_owned(),
        "https://docs.openclaw.ai/gateway/remote".to_owned(),
        "https://docs.openclaw.ai/web/control-ui".to_owned(),
    ]
    .join("\n")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> GatewaySummary {
        let file = crate::config_file::parse(text).unwrap().config();
        gateway_target::summarize(&file, &PortInputs::default(), None)
    }

    #[test]
    fn the_browser_goes_to_loopback_unless_tls_names_a_host() {
        let lan =
            summary("{ gateway: { bind: 'lan', port: 19555, controlUi: { basePath: '/ui/' } } }");
        assert_eq!(
            browser_links(&lan, Some("/ui/")),
            (
                "http://127.0.0.1:19555/ui/".to_owned(),
                "ws://127.0.0.1:19555/ui".to_owned()
            )
        );
        let custom = summary("{ gateway: { bind: 'custom', customBindHost: '10.0.0.5' } }");
        assert_eq!(browser_links(&custom, None).0, "http://127.0.0.1:18789/");
        let tls = summary(
            "{ gateway: { bind: 'custom', customBindHost: '10.0.0.5', tls: { enabled: true } } }",
        );
        assert_eq!(
            browser_links(&tls, None),
            (
                "https://10.0.0.5:18789/".to_owned(),
                "wss://10.0.0.5:18789".to_owned()
            )
        );
    }
}
