//! The service manager's view of the gateway unit, for the `Service:` and
//! `Runtime:` lines: is there a usable systemd at all (a container or a host
//! without it has none: the reference then says "no supported service manager
//! detected"), is the unit enabled, and what `systemctl show` says of it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the reference prints when no service manager can be asked.
pub const UNAVAILABLE_DETAIL: &str =
    "No supported service manager detected. Restart the Gateway you launched manually after the update.";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runtime {
    /// `running`, `stopped` or `unknown`.
    pub status: String,
    pub pid: Option<u32>,
    pub state: Option<String>,
    pub sub_state: Option<String>,
    pub last_exit_status: Option<i64>,
    pub last_exit_reason: Option<String>,
    pub detail: Option<String>,
    pub missing_unit: bool,
    /// `user` once systemd answered for the unit.
    pub scope: Option<String>,
    /// The unit file changed since systemd last read it.
    pub reload_pending: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    /// No systemd to ask (the reference's `service-manager-unavailable`).
    pub manager_unavailable: bool,
    pub unit: String,
    pub unit_path: PathBuf,
    pub installed: bool,
    /// `loaded` (enabled), `not-loaded` or `unknown`.
    pub load_state: &'static str,
    pub runtime: Runtime,
    /// `--port` of the unit's ExecStart, which the service gateway listens on.
    pub service_port: Option<u16>,
    /// What the unit file records (command words, environment, working dir).
    pub command: Option<crate::service::systemd::RecordedCommand>,
    /// The unit file's text (empty when there is none), read once.
    pub unit_text: String,
}

/// Ask systemd (if there is one) about `unit` (with `.service`) at `unit_path`.
pub fn inspect(unit: &str, unit_path: &Path) -> ServiceState {
    let installed = unit_path.exists();
    let text = std::fs::read_to_string(unit_path).unwrap_or_default();
    let command = crate::service::systemd::recorded_command(&text);
    let mut state = ServiceState {
        manager_unavailable: false,
        unit: unit.to_string(),
        unit_path: unit_path.to_path_buf(),
        installed,
        load_state: "not-loaded",
        runtime: Runtime::default(),
        service_port: command
            .as_ref()
            .and_then(|c| service_port(&c.program_arguments)),
        command,
        unit_text: text,
    };
    if !systemd_available() {
        state.manager_unavailable = true;
        state.runtime = Runtime {
            status: "unknown".into(),
            detail: Some(UNAVAILABLE_DETAIL.into()),
            ..Default::default()
        };
        return state;
    }
    state.load_state = match super::super::systemctl(true, &["is-enabled", unit]) {
        Ok(s) if s.trim() == "enabled" => "loaded",
        Ok(_) => "not-loaded",
        Err(e) if e.contains("disabled") || e.contains("not-found") || !installed => "not-loaded",
        Err(_) => "unknown",
    };
    state.runtime = if installed {
        show(unit)
    } else {
        Runtime {
            status: "stopped".into(),
            missing_unit: true,
            ..Default::default()
        }
    };
    state
}

/// Is there a systemd to ask? Like the reference: not when `systemctl` is
/// missing, or the system manager reports `offline` or was never booted.
fn systemd_available() -> bool {
    match Command::new("systemctl")
        .args(["--system", "is-system-running"])
        .output()
    {
        Err(_) => false,
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            stdout.trim() != "offline"
                && !stderr.contains("System has not been booted with systemd")
        }
    }
}

fn show(unit: &str) -> Runtime {
    let properties =
        "Id,LoadState,ActiveState,SubState,Result,MainPID,ExecMainStatus,ExecMainCode,NeedDaemonReload";
    match super::super::systemctl(true, &["show", unit, "--no-page", "--property", properties]) {
        Ok(text) => parse_show(unit, &text),
        Err(detail) => Runtime {
            status: "unknown".into(),
            detail: Some(detail).filter(|d| !d.is_empty()),
            ..Default::default()
        },
    }
}

/// `systemctl show` output (`Key=value` lines) as the runtime the reference
/// derives from it.
pub fn parse_show(unit: &str, text: &str) -> Runtime {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let load = get("LoadState").unwrap_or_default().to_lowercase();
    if load != "loaded" {
        let detail = if load == "not-found" {
            format!("Unit {unit} is not visible in the user systemd manager.")
        } else {
            format!("Unit {unit} has an unverified systemd load state.")
        };
        return Runtime {
            status: "unknown".into(),
            detail: Some(detail),
            ..Default::default()
        };
    }
    let active = get("ActiveState");
    let status = match active.as_deref().map(str::to_lowercase).as_deref() {
        Some("active") => "running",
        Some("inactive" | "failed") => "stopped",
        _ => "unknown",
    };
    Runtime {
        status: status.into(),
        pid: get("MainPID")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p > 0),
        state: active,
        sub_state: get("SubState"),
        last_exit_status: get("ExecMainStatus").and_then(|s| s.parse().ok()),
        last_exit_reason: get("ExecMainCode"),
        detail: None,
        missing_unit: false,
        scope: Some("user".into()),
        reload_pending: get("NeedDaemonReload").as_deref() == Some("yes"),
    }
}

impl Runtime {
    /// The text after `Runtime:`: `running (pid 42, state active, sub running, …)`.
    pub fn line(&self, with_detail: bool) -> String {
        let mut details = Vec::new();
        if let Some(pid) = self.pid {
            details.push(format!("pid {pid}"));
        }
        if let Some(state) = &self.state {
            if !state.eq_ignore_ascii_case(&self.status) {
                details.push(format!("state {state}"));
            }
        }
        if let Some(sub) = &self.sub_state {
            details.push(format!("sub {sub}"));
        }
        if let Some(code) = self.last_exit_status {
            details.push(match signal_name(code) {
                Some(name) => format!("last exit {code} ({name})"),
                None => format!("last exit {code}"),
            });
        }
        if let Some(reason) = &self.last_exit_reason {
            details.push(format!("reason {reason}"));
        }
        if let (true, Some(detail)) = (with_detail, &self.detail) {
            details.push(detail.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        let status = if self.status.is_empty() {
            "unknown"
        } else {
            &self.status
        };
        if details.is_empty() {
            status.to_string()
        } else {
            format!("{status} ({})", details.join(", "))
        }
    }
}

/// Exit statuses the reference names by the signal that caused them.
fn signal_name(code: i64) -> Option<&'static str> {
    Some(match code {
        129 => "SIGHUP",
        130 => "SIGINT",
        131 => "SIGQUIT",
        134 => "SIGABRT/abort",
        137 => "SIGKILL",
        143 => "SIGTERM",
        _ => return None,
    })
}

/// Every `--port N` / `--port=N` value of a command, in order, as written.
pub fn port_arguments(args: &[String]) -> Vec<&str> {
    let mut ports = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--port" {
            ports.extend(words.next().map(String::as_str));
        } else if let Some(value) = word.strip_prefix("--port=") {
            ports.push(value);
        }
    }
    ports
}

/// The port the service gateway listens on: the last valid `--port`.
pub fn service_port(args: &[String]) -> Option<u16> {
    port_arguments(args)
        .into_iter()
        .rev()
        .find_map(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_unit_reads_as_the_reference_prints_it() {
        let text =
            "Id=openclaw-gateway.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\
                    MainPID=4242\nExecMainStatus=0\nExecMainCode=0\n";
        let runtime = parse_show("openclaw-gateway.service", text);
        assert_eq!(
            runtime.line(true),
            "running (pid 4242, state active, sub running, last exit 0, reason 0)"
        );
        assert!(!runtime.reload_pending);
        let edited = format!("{text}NeedDaemonReload=yes\n");
        assert!(parse_show("openclaw-gateway.service", &edited).reload_pending);
        let failed = "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nExecMainStatus=143\n";
        assert_eq!(
            parse_show("u", failed).line(true),
            "stopped (state failed, sub failed, last exit 143 (SIGTERM))"
        );
        assert_eq!(
            parse_show("u.service", "LoadState=not-found\n").line(true),
            "unknown (Unit u.service is not visible in the user systemd manager.)"
        );
    }

    #[test]
    fn the_service_port_is_the_last_port_argument() {
        let port = |text: &str| {
            let unit = format!("[Service]\nExecStart={text}\n");
            service_port(
                &crate::service::systemd::recorded_command(&unit)
                    .unwrap()
                    .program_arguments,
            )
        };
        assert_eq!(port("/usr/bin/openclaw gateway --port 19001"), Some(19001));
        assert_eq!(port("x --port=1 --port 2"), Some(2));
        assert_eq!(port("x --port nope"), None);
    }
}
