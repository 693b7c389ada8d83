//! The service config audit of `gateway status` (`service.configAudit`):
//! what in the installed unit differs from what a gateway service needs,
//! with the reference's codes, words and order (`src/daemon/service-audit.ts`).
//!
//! Checked, from the unit file itself (as the reference does when no
//! service manager can be asked): the command runs `gateway`, its `--port`
//! matches the configured port, no gateway token or password is embedded
//! (and an embedded token matches the configured one), and the systemd
//! policy a graceful drain needs (`TimeoutStopSec` of at least 330 s,
//! `After=`/`Wants=network-online.target`, `RestartSec=5`,
//! `KillMode=mixed`). Not checked: the reference's Node runtime, PATH and
//! managed-environment findings, and its definition drift report.

use std::path::Path;

use serde_json::{json, Value};

use crate::service::systemd::RecordedCommand;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditIssue {
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub level: &'static str,
}

impl AuditIssue {
    fn new(code: &'static str, message: impl Into<String>, detail: Option<String>) -> Self {
        AuditIssue {
            code,
            message: message.into(),
            detail,
            level: "recommended",
        }
    }

    pub fn to_json(&self) -> Value {
        let mut doc = json!({"code": self.code, "message": self.message});
        if let Some(detail) = &self.detail {
            doc["detail"] = detail.clone().into();
        }
        doc["level"] = self.level.into();
        doc
    }

    /// `Service config issue: <message> (<detail>)`.
    pub fn line(&self) -> String {
        match &self.detail {
            Some(detail) => format!("Service config issue: {} ({detail})", self.message),
            None => format!("Service config issue: {}", self.message),
        }
    }
}

/// What the configuration expects of the service.
#[derive(Clone, Debug, Default)]
pub struct Expected<'a> {
    /// `gateway.port` of the config file, when it sets one.
    pub port: Option<u16>,
    /// `gateway.auth.token` of the config file, when it sets one.
    pub token: Option<&'a str>,
}

/// systemd's own stop timeout when a unit sets none: 90 s.
const SYSTEMD_DEFAULT_STOP_TIMEOUT_MS: u64 = 90_000;
/// What the gateway's drain needs.
const REQUIRED_STOP_TIMEOUT_MS: u64 = 330_000;

/// Audit the unit at `unit_path` (its text and recorded command).
/// `manager_available`: only says where the unit's values were read from.
pub fn audit(
    unit_path: &Path,
    unit_text: &str,
    command: &RecordedCommand,
    expected: &Expected<'_>,
    manager_available: bool,
) -> Vec<AuditIssue> {
    let mut issues = Vec::new();
    let args = &command.program_arguments;
    if !args.is_empty() && !args.iter().any(|a| a == "gateway") {
        issues.push(AuditIssue {
            level: "aggressive",
            ..AuditIssue::new(
                "gateway-command-missing",
                "Service command does not include the gateway subcommand",
                None,
            )
        });
    }
    let last_port = super::manager::port_arguments(args)
        .last()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty());
    if let (Some(want), Some(have)) = (expected.port, last_port) {
        if have != want.to_string() {
            issues.push(AuditIssue::new(
                "gateway-port-mismatch",
                "Gateway service port does not match current gateway config.",
                Some(format!("{have} -> {want}")),
            ));
        }
    }
    let env = |key: &str| {
        command
            .environment
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    if let Some(token) = env("OPENCLAW_GATEWAY_TOKEN") {
        issues.push(AuditIssue::new(
            "gateway-token-embedded",
            "Gateway service embeds OPENCLAW_GATEWAY_TOKEN and should be reinstalled.",
            None,
        ));
        if expected.token.is_some_and(|t| t.trim() != token) {
            issues.push(AuditIssue::new(
                "gateway-token-mismatch",
                "Gateway service OPENCLAW_GATEWAY_TOKEN does not match gateway.auth.token in openclaw.json",
                Some("service token is stale".into()),
            ));
        }
    }
    if env("OPENCLAW_GATEWAY_PASSWORD").is_some() {
        issues.push(AuditIssue::new(
            "gateway-password-embedded",
            "Gateway service embeds OPENCLAW_GATEWAY_PASSWORD and should be reinstalled.",
            Some(
                "Rotate the password after reinstalling because the service definition exposed it."
                    .into(),
            ),
        ));
    }
    audit_systemd_policy(unit_path, unit_text, manager_available, &mut issues);
    issues
}

fn audit_systemd_policy(
    unit_path: &Path,
    unit_text: &str,
    manager_available: bool,
    issues: &mut Vec<AuditIssue>,
) {
    let path = unit_path.display().to_string();
    let (mut after, mut wants) = (Vec::new(), Vec::new());
    let (mut restart_sec, mut kill_mode) = (None, None);
    let mut stop_timeout_ms = Some(SYSTEMD_DEFAULT_STOP_TIMEOUT_MS);
    let mut section = "";
    for line in unit_text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "TimeoutStopSec" if section == "[Service]" => {
                stop_timeout_ms = match time_span_ms(value) {
                    _ if value.is_empty() => Some(SYSTEMD_DEFAULT_STOP_TIMEOUT_MS),
                    Some(0) => None, // infinity
                    Some(ms) => Some(ms),
                    None => stop_timeout_ms,
                };
            }
            "After" => after.extend(value.split_whitespace().map(str::to_owned)),
            "Wants" => wants.extend(value.split_whitespace().map(str::to_owned)),
            "RestartSec" if !value.is_empty() => restart_sec = Some(value.to_owned()),
            "KillMode" if !value.is_empty() => kill_mode = Some(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    let source = if manager_available {
        "systemd manager"
    } else {
        "base unit; manager unavailable"
    };
    if let Some(ms) = stop_timeout_ms.filter(|ms| *ms > 0 && *ms < REQUIRED_STOP_TIMEOUT_MS) {
        issues.push(AuditIssue::new(
            "systemd-stop-timeout",
            "TimeoutStopSec=330 or longer is required for the Gateway drain and final cleanup; inspect unit and drop-in overrides.",
            Some(format!("{path}: {}s ({source})", seconds(ms))),
        ));
    }
    let online = "network-online.target";
    if !after.iter().any(|t| t == online) {
        issues.push(AuditIssue::new(
            "systemd-after-network-online",
            "Missing systemd After=network-online.target",
            Some(path.clone()),
        ));
    }
    if !wants.iter().any(|t| t == online) {
        issues.push(AuditIssue::new(
            "systemd-wants-network-online",
            "Missing systemd Wants=network-online.target",
            Some(path.clone()),
        ));
    }
    let restart_ok = restart_sec
        .as_deref()
        .and_then(time_span_ms)
        .is_some_and(|ms| ms.abs_diff(5_000) < 10);
    if !restart_ok {
        issues.push(AuditIssue::new(
            "systemd-restart-sec",
            "RestartSec does not match the recommended 5s",
            Some(path.clone()),
        ));
    }
    let kill_mode = kill_mode.unwrap_or_else(|| "control-group".into());
    if kill_mode != "mixed" {
        let code = if matches!(kill_mode.as_str(), "process" | "none") {
            "systemd-kill-mode-process-or-none"
        } else {
            "systemd-kill-mode-control-group"
        };
        issues.push(AuditIssue::new(
            code,
            "KillMode=mixed is required to drain active turns before final service child cleanup; inspect unit and drop-in overrides.",
            Some(format!("{path}: {kill_mode}")),
        ));
    }
}

/// `330`, `5s`, `500ms`, `5min 30s`, `1h`: a systemd time span in ms.
fn time_span_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("infinity") {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = value;
    let mut any = false;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let factor = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1_000.0,
            "ms" | "msec" => 1.0,
            "us" | "usec" => 0.001,
            "m" | "min" | "minute" | "minutes" => 60_000.0,
            "h" | "hr" | "hour" | "hours" => 3_600_000.0,
            "d" | "day" | "days" => 86_400_000.0,
            _ => return None,
        };
        total += number * factor;
        any = true;
    }
    any.then_some(total.round() as u64)
}

/// Seconds as JavaScript prints `ms / 1000`.
fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::systemd::recorded_command;

    const GOOD: &str = "[Unit]\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nExecStart=/bin/openclaw gateway --port 18789\nRestartSec=5\nTimeoutStopSec=330\nKillMode=mixed\nEnvironment=OPENCLAW_GATEWAY_PORT=18789\n";

    fn run(text: &str, expected: &Expected<'_>) -> Vec<AuditIssue> {
        let command = recorded_command(text).unwrap();
        audit(Path::new("/u.service"), text, &command, expected, false)
    }

    #[test]
    fn the_unit_install_writes_passes() {
        let expected = Expected {
            port: Some(18789),
            token: Some("t"),
        };
        assert_eq!(run(GOOD, &expected), []);
    }

    #[test]
    fn each_finding_in_the_reference_order_and_words() {
        // The reference's findings for this unit (captured from its
        // `gateway status --json` on this machine).
        let text = "[Unit]\nAfter=network-online.target\n\n[Service]\nExecStart=/bin/openclaw gateway --port 1234\nTimeoutStopSec=60\nEnvironment=OPENCLAW_GATEWAY_TOKEN=old\n";
        let issues = run(
            text,
            &Expected {
                port: Some(18789),
                token: Some("new"),
            },
        );
        let codes: Vec<&str> = issues.iter().map(|i| i.code).collect();
        assert_eq!(
            codes,
            [
                "gateway-port-mismatch",
                "gateway-token-embedded",
                "gateway-token-mismatch",
                "systemd-stop-timeout",
                "systemd-wants-network-online",
                "systemd-restart-sec",
                "systemd-kill-mode-control-group"
            ]
        );
        assert_eq!(issues[0].detail.as_deref(), Some("1234 -> 18789"));
        assert_eq!(
            issues[3].line(),
            "Service config issue: TimeoutStopSec=330 or longer is required for the Gateway drain and final cleanup; inspect unit and drop-in overrides. (/u.service: 60s (base unit; manager unavailable))"
        );
        assert_eq!(
            issues[6].to_json(),
            json!({"code": "systemd-kill-mode-control-group",
                   "message": "KillMode=mixed is required to drain active turns before final service child cleanup; inspect unit and drop-in overrides.",
                   "detail": "/u.service: control-group", "level": "recommended"})
        );
    }

    #[test]
    fn time_spans_read_as_systemd_reads_them() {
        assert_eq!(time_span_ms("330"), Some(330_000));
        assert_eq!(time_span_ms("5min 30s"), Some(330_000));
        assert_eq!(time_span_ms("500ms"), Some(500));
        assert_eq!(time_span_ms("infinity"), Some(0));
        assert_eq!(time_span_ms("soon"), None);
        assert_eq!(seconds(1_500), "1.5");
    }
}
