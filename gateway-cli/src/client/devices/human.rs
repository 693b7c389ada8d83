//! The human output of `devices list` and of the `approve` preview.

use serde_json::Value;

use super::super::print;
use super::access::{self, text};
use super::table::{self, Column};
use super::Common;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Control characters (and so escape sequences) out of peer-chosen text.
pub fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// "just now", "5m ago", "3h ago", "2d ago", as the reference rounds them.
pub fn time_ago(ms: u64) -> String {
    let seconds = (ms as f64 / 1000.0).round();
    let minutes = (seconds / 60.0).round();
    if minutes < 1.0 {
        return "just now".into();
    }
    if minutes < 60.0 {
        return format!("{minutes}m ago");
    }
    let hours = (minutes / 60.0).round();
    if hours < 48.0 {
        return format!("{hours}h ago");
    }
    format!("{}d ago", (hours / 24.0).round())
}

pub fn heading(title: &str, count: usize) -> String {
    let color = print::color_enabled();
    format!(
        "{} {}",
        print::paint(title, "1", color),
        print::paint(&format!("({count})"), "2", color)
    )
}

/// A pending request's device: its display name, else its id.
pub fn pending_identity(request: &Value) -> String {
    clean(
        text(request, "displayName")
            .or_else(|| text(request, "deviceId"))
            .unwrap_or(""),
    )
}

fn token_summary(device: &Value) -> String {
    let mut items: Vec<String> = device
        .get("tokens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            let revoked = t.get("revokedAtMs").is_some_and(|v| !v.is_null());
            format!(
                "{}{}",
                clean(text(t, "role").unwrap_or("")),
                if revoked { " (revoked)" } else { "" }
            )
        })
        .collect();
    if items.is_empty() {
        return "none".into();
    }
    items.sort();
    items.join(", ")
}

fn joined(row: &Value, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(clean)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The list as the reference prints it: a Pending table, a Paired table
/// with the full ids below it, or a line saying there is nothing.
pub fn list(pending: &[Value], paired: &[Value]) -> String {
    let width = table::terminal_width();
    let mut out = Vec::new();
    if !pending.is_empty() {
        let now = now_ms();
        let rows: Vec<Vec<String>> = pending
            .iter()
            .map(|req| {
                let state = access::approval_state(req, access::paired_for(paired, req));
                let mut status = state.kind.words().to_owned();
                if req.get("isRepair").and_then(Value::as_bool) == Some(true) {
                    status.push_str(", repair");
                }
                let ip = text(req, "remoteIp")
                    .map(|ip| format!(" · {}", clean(ip)))
                    .unwrap_or_default();
                vec![
                    clean(text(req, "requestId").unwrap_or("")),
                    format!("{}{ip}", pending_identity(req)),
                    state.requested.summary(),
                    state.approved.map_or("none".into(), |a| a.summary()),
                    req.get("ts")
                        .and_then(Value::as_u64)
                        .map(|ts| time_ago(now.saturating_sub(ts)))
                        .unwrap_or_default(),
                    status,
                ]
            })
            .collect();
        let columns = PENDING_COLUMNS;
        out.push(heading("Pending", pending.len()));
        out.push(table::render(&columns, &rows, width));
    }
    if !paired.is_empty() {
        let rows: Vec<Vec<String>> = paired
            .iter()
            .map(|d| {
                let name = ["operatorLabel", "displayName", "clientId", "deviceId"]
                    .iter()
                    .find_map(|k| text(d, k))
                    .unwrap_or("");
                vec![
                    clean(name),
                    clean(text(d, "deviceId").unwrap_or("")),
                    joined(d, "roles"),
                    joined(d, "scopes"),
                    token_summary(d),
                    clean(text(d, "remoteIp").unwrap_or("")),
                ]
            })
            .collect();
        let columns = PAIRED_COLUMNS;
        out.push(heading("Paired", paired.len()));
        out.push(table::render(&columns, &rows, width));
        out.push(print::paint("Full device IDs", "2", print::color_enabled()));
        for row in &rows {
            out.push(format!("  {}  {}", row[1], row[0]));
        }
    }
    if out.is_empty() {
        out.push(print::paint(
            "No device pairing entries.",
            "2",
            print::color_enabled(),
        ));
    }
    out.join("\n")
}

/// A word as a shell would need it quoted.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@=+,%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The command that approves `request_id` with the same target and output
/// mode (never the secrets).
pub fn approve_command(request_id: &str, common: &Common) -> String {
    let mut args = vec!["openclaw", "devices", "approve", request_id];
    let timeout = common.timeout.to_string();
    if let Some(url) = common.url.as_deref().filter(|u| !u.trim().is_empty()) {
        args.extend(["--url", url]);
    }
    if common.timeout != 10_000 {
        args.extend(["--timeout", &timeout]);
    }
    if common.json {
        args.push("--json");
    }
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// "Reuse the same --token option when rerunning." when secrets were given.
pub fn auth_reminder(common: &Common) -> Option<String> {
    let mut flags = Vec::new();
    if common
        .token
        .as_deref()
        .is_some_and(|t| !t.trim().is_empty())
    {
        flags.push("--token");
    }
    if common
        .password
        .as_deref()
        .is_some_and(|p| !p.trim().is_empty())
    {
        flags.push("--password");
    }
    if flags.is_empty() {
        return None;
    }
    let plural = if flags.len() == 1 { "" } else { "s" };
    Some(format!(
        "Reuse the same {} option{plural} when rerunning.",
        flags.join("/")
    ))
}

/// The note under a previewed request.
pub fn kind_note(kind: access::Kind) -> &'static str {
    match kind {
        access::Kind::ScopeUpgrade => "Already paired. Requested scopes exceed the current approval, so reconnect stays blocked until you approve this upgrade.",
        access::Kind::RoleUpgrade => "Already paired. Requested role exceeds the current approval, so reconnect stays blocked until you approve this upgrade.",
        access::Kind::ReApproval => "Already paired. Approval-bound device details changed, so OpenClaw created a fresh request instead of silently reusing the old approval.",
        access::Kind::NewPairing => "First-time device pairing request.",
    }
}

/// The columns of the pending-requests table (the reference's widths).
pub(crate) const PENDING_COLUMNS: [Column; 6] = [
    Column {
        header: "Request",
        min_width: 10,
        flex: false,
    },
    Column {
        header: "Device",
        min_width: 16,
        flex: true,
    },
    Column {
        header: "Requested",
        min_width: 20,
        flex: true,
    },
    Column {
        header: "Approved",
        min_width: 20,
        flex: true,
    },
    Column {
        header: "Age",
        min_width: 8,
        flex: false,
    },
    Column {
        header: "Status",
        min_width: 12,
        flex: false,
    },
];

/// The columns of the paired-devices table (the reference's widths).
pub(crate) const PAIRED_COLUMNS: [Column; 6] = [
    Column {
        header: "Device",
        min_width: 16,
        flex: true,
    },
    Column {
        header: "Device ID",
        min_width: 12,
        flex: true,
    },
    Column {
        header: "Roles",
        min_width: 12,
        flex: true,
    },
    Column {
        header: "Scopes",
        min_width: 12,
        flex: true,
    },
    Column {
        header: "Tokens",
        min_width: 12,
        flex: true,
    },
    Column {
        header: "IP",
        min_width: 12,
        flex: false,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_round_like_the_reference() {
        assert_eq!(time_ago(0), "just now");
        assert_eq!(time_ago(29_000), "just now");
        assert_eq!(time_ago(30_000), "1m ago");
        assert_eq!(time_ago(59 * 60_000), "59m ago");
        assert_eq!(time_ago(60 * 60_000), "1h ago");
        assert_eq!(time_ago(48 * 3_600_000), "2d ago");
    }

    #[test]
    fn approve_command_keeps_target_but_not_secrets() {
        let common = Common {
            url: Some("ws://127.0.0.1:1".into()),
            token: Some("secret".into()),
            timeout: 5000,
            json: true,
            ..Common::default()
        };
        assert_eq!(
            approve_command("abc", &common),
            "openclaw devices approve abc --url ws://127.0.0.1:1 --timeout 5000 --json"
        );
        assert_eq!(
            auth_reminder(&common).unwrap(),
            "Reuse the same --token option when rerunning."
        );
        assert_eq!(quote("a b"), "'a b'");
    }
}
