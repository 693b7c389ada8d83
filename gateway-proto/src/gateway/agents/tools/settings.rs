//! The config keys that shape the agent's tools (`agents.defaults.workspace`,
//! `tools.exec.*`), read once per config load.

use serde_json::Value;

/// Where `exec` runs when the call does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecHost {
    /// The gateway host, in the workspace folder (the reference's `auto`
    /// without a sandbox).
    #[default]
    Gateway,
    /// A connected node that offers `system.run`.
    Node,
}

/// `tools.exec.ask` on the gateway host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecAsk {
    #[default]
    Off,
    /// Every command waits for an operator's approval.
    Always,
}

/// `tools.exec.security` on the gateway host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecSecurity {
    /// Commands run (subject to `ask`).
    #[default]
    Full,
    /// No command runs on the gateway host.
    Deny,
}

/// The tool settings of one config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolSettings {
    /// `agents.defaults.workspace`: the agent's folder; `<stateDir>/workspace`
    /// when unset.
    pub workspace: Option<String>,
    pub exec_host: ExecHost,
    /// `tools.exec.node`: the node `exec` uses for host=node.
    pub exec_node: Option<String>,
    /// `tools.exec.timeoutSeconds` (1800 when unset; 0: no limit).
    pub exec_timeout_seconds: Option<u64>,
    pub exec_ask: ExecAsk,
    pub exec_security: ExecSecurity,
}

impl ToolSettings {
    /// The settings in a config document (missing or odd values keep their
    /// defaults; the config checker reports mistakes).
    pub fn from_config(root: &Value) -> ToolSettings {
        let text = |pointer: &str| {
            root.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let exec = |key: &str| text(&format!("/tools/exec/{key}"));
        ToolSettings {
            workspace: text("/agents/defaults/workspace"),
            exec_host: match exec("host").as_deref() {
                Some("node") => ExecHost::Node,
                _ => ExecHost::Gateway,
            },
            exec_node: exec("node"),
            exec_timeout_seconds: root
                .pointer("/tools/exec/timeoutSeconds")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| s as u64),
            exec_ask: match exec("ask").as_deref() {
                Some("always") | Some("on-miss") => ExecAsk::Always,
                _ => ExecAsk::Off,
            },
            exec_security: match exec("security").as_deref() {
                Some("deny") => ExecSecurity::Deny,
                _ => ExecSecurity::Full,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_exec_keys() {
        let settings = ToolSettings::from_config(&json!({
            "agents": {"defaults": {"workspace": "/srv/ws"}},
            "tools": {"exec": {"host": "node", "node": "pi", "timeoutSeconds": 60, "ask": "always", "security": "deny"}},
        }));
        assert_eq!(settings.workspace.as_deref(), Some("/srv/ws"));
        assert_eq!(settings.exec_host, ExecHost::Node);
        assert_eq!(settings.exec_node.as_deref(), Some("pi"));
        assert_eq!(settings.exec_timeout_seconds, Some(60));
        assert_eq!(settings.exec_ask, ExecAsk::Always);
        assert_eq!(settings.exec_security, ExecSecurity::Deny);
        assert_eq!(
            ToolSettings::from_config(&json!({})),
            ToolSettings::default()
        );
    }
}
