//! Whether a `system.run` may run, from the approvals document (reference
//! `evaluateSystemRunPolicy`, `requiresExecApproval`, 2026.9.6):
//!
//! - `security: deny` refuses everything;
//! - `ask: always` needs an operator's approval for every command;
//!   `ask: on-miss` needs one when `security: allowlist` and the command is
//!   not allowlisted; `ask: off` never asks;
//! - `security: allowlist` refuses what is not allowlisted (and not
//!   approved); `security: full` runs anything.
//!
//! Allowlist matching here is simpler than the reference's shell analysis:
//! an entry's `pattern` is a glob (`*` within a path segment, `**` across
//! segments, `?` one character, case-insensitive) matched against the
//! resolved absolute path of the executable; a pattern without `/` is
//! matched against its file name.

use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    Deny,
    Allowlist,
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    Off,
    OnMiss,
    Always,
}

impl Security {
    fn parse(v: Option<&Value>) -> Option<Security> {
        match v?.as_str()? {
            "deny" => Some(Security::Deny),
            "allowlist" => Some(Security::Allowlist),
            "full" => Some(Security::Full),
            _ => None,
        }
    }
}

impl Ask {
    fn parse(v: Option<&Value>) -> Option<Ask> {
        match v?.as_str()? {
            "off" => Some(Ask::Off),
            "on-miss" => Some(Ask::OnMiss),
            "always" => Some(Ask::Always),
            _ => None,
        }
    }
}

/// The effective policy for one agent (`None`: no agent given).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub security: Security,
    pub ask: Ask,
    /// `*` entries first, then the agent's own.
    pub allowlist: Vec<Value>,
}

/// The agent key the policy is read from when the request names none: the
/// reference reads `agents.default` (which normalization turns into
/// `main`), so only `*` and the defaults apply.
const NO_AGENT_KEY: &str = "default";

/// Resolve the policy for `agent_id`: agent, then `*`, then defaults, then full/off.
pub fn resolve(file: &Value, agent_id: Option<&str>) -> Policy {
    let agent = file.pointer(&format!(
        "/agents/{}",
        escape(agent_id.unwrap_or(NO_AGENT_KEY))
    ));
    let wildcard = file.pointer("/agents/*");
    let defaults = file.get("defaults");
    let field = |name: &str| {
        [agent, wildcard, defaults]
            .into_iter()
            .flatten()
            .find_map(|v| v.get(name).filter(|x| x.is_string()))
    };
    let list = |v: Option<&Value>| {
        v.and_then(|v| v.get("allowlist"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut allowlist = list(wildcard);
    allowlist.extend(list(agent));
    Policy {
        security: Security::parse(field("security")).unwrap_or(Security::Full),
        ask: Ask::parse(field("ask")).unwrap_or(Ask::Off),
        allowlist,
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// `resolvedDefaults` of `system.execApprovals.get`.
pub fn resolved_defaults(file: &Value) -> Value {
    let d = file.get("defaults");
    let text = |name: &str, fallback: &str| {
        d.and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .unwrap_or(fallback)
            .to_owned()
    };
    json!({
        "security": text("security", "full"),
        "ask": text("ask", "off"),
        "askFallback": text("askFallback", "deny"),
        "autoAllowSkills": d.and_then(|d| d.get("autoAllowSkills")).and_then(Value::as_bool).unwrap_or(false),
    })
}

/// What the policy decides before anyone is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// An operator must approve it first.
    NeedsApproval,
    /// Refused with this message (`SYSTEM_RUN_DENIED` code).
    Denied(String),
}

pub const DENIED_SECURITY: &str = "SYSTEM_RUN_DISABLED: security=deny";
pub const DENIED_APPROVAL: &str = "SYSTEM_RUN_DENIED: approval required";
pub const DENIED_ALLOWLIST: &str = "SYSTEM_RUN_DENIED: allowlist miss";

/// The allowlist entry `resolved` (the executable's absolute path; `None`
/// when it cannot be found) matches, if any.
pub fn matching_entry<'a>(policy: &'a Policy, resolved: Option<&str>) -> Option<&'a Value> {
    let resolved = resolved?;
    policy.allowlist.iter().find(|entry| {
        entry
            .get("pattern")
            .and_then(Value::as_str)
            .is_some_and(|p| pattern_matches(p.trim(), resolved))
    })
}

/// Decide for a command whose executable resolved to `resolved`.
/// `approved` is an operator's allow-once/allow-always for this very request.
pub fn decide(policy: &Policy, resolved: Option<&str>, approved: bool) -> Verdict {
    if policy.security == Security::Deny {
        return Verdict::Denied(DENIED_SECURITY.into());
    }
    let entry = matching_entry(policy, resolved);
    let allowlisted = policy.security == Security::Allowlist && entry.is_some();
    let durable =
        entry.and_then(|e| e.get("source")).and_then(Value::as_str) == Some("allow-always");
    let requires_ask = match policy.ask {
        Ask::Always => true,
        _ if durable => false,
        Ask::OnMiss => policy.security == Security::Allowlist && !allowlisted,
        Ask::Off => false,
    };
    if requires_ask && !approved {
        return Verdict::NeedsApproval;
    }
    if policy.security == Security::Allowlist && !allowlisted && !approved && !durable {
        return Verdict::Denied(DENIED_ALLOWLIST.into());
    }
    Verdict::Run
}

/// Glob match, case-insensitive; a pattern without `/` matches the file name.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let pattern = pattern.to_lowercase();
    let path = path.to_lowercase();
    let subject = if pattern.contains('/') {
        path.as_str()
    } else {
        path.rsplit('/').next().unwrap_or(&path)
    };
    glob(pattern.as_bytes(), subject.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => {
            let (across, rest) = match rest.split_first() {
                Some((b'*', r)) => (true, r),
                _ => (false, rest),
            };
            (0..=s.len())
                .take_while(|&i| across || !s[..i].contains(&b'/'))
                .any(|i| glob(rest, &s[i..]))
        }
        Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(file: Value, agent: Option<&str>) -> Policy {
        resolve(&crate::node_host::approvals::normalize(&file), agent)
    }

    #[test]
    fn defaults_are_full_and_off() {
        let p = policy(json!({"version": 1}), None);
        assert_eq!((p.security, p.ask), (Security::Full, Ask::Off));
        assert_eq!(decide(&p, Some("/bin/ls"), false), Verdict::Run);
        assert_eq!(decide(&p, None, false), Verdict::Run);
    }

    #[test]
    fn the_agent_wins_over_the_wildcard_over_the_defaults() {
        let file = json!({"version": 1, "defaults": {"security": "deny"},
            "agents": {"*": {"security": "allowlist", "allowlist": [{"pattern": "/usr/bin/*"}]},
                       "ops": {"security": "full", "ask": "always"}}});
        assert_eq!(policy(file.clone(), None).security, Security::Allowlist);
        let ops = policy(file.clone(), Some("ops"));
        assert_eq!((ops.security, ops.ask), (Security::Full, Ask::Always));
        assert_eq!(
            ops.allowlist.len(),
            1,
            "the wildcard allowlist applies to every agent"
        );
        assert_eq!(
            policy(
                json!({"version": 1, "defaults": {"security": "deny"}}),
                None
            )
            .security,
            Security::Deny
        );
    }

    #[test]
    fn deny_allowlist_and_ask_decisions() {
        let deny = policy(
            json!({"version": 1, "defaults": {"security": "deny", "ask": "always"}}),
            None,
        );
        assert_eq!(
            decide(&deny, Some("/bin/ls"), true),
            Verdict::Denied(DENIED_SECURITY.into())
        );

        let allow = policy(
            json!({"version": 1, "defaults": {"security": "allowlist"},
            "agents": {"*": {"allowlist": [{"pattern": "/usr/bin/ls"}]}}}),
            None,
        );
        assert_eq!(decide(&allow, Some("/usr/bin/ls"), false), Verdict::Run);
        assert_eq!(
            decide(&allow, Some("/usr/bin/rm"), false),
            Verdict::Denied(DENIED_ALLOWLIST.into())
        );
        assert_eq!(
            decide(&allow, None, false),
            Verdict::Denied(DENIED_ALLOWLIST.into())
        );

        let on_miss = Policy {
            ask: Ask::OnMiss,
            ..allow.clone()
        };
        assert_eq!(decide(&on_miss, Some("/usr/bin/ls"), false), Verdict::Run);
        assert_eq!(
            decide(&on_miss, Some("/usr/bin/rm"), false),
            Verdict::NeedsApproval
        );
        assert_eq!(decide(&on_miss, Some("/usr/bin/rm"), true), Verdict::Run);

        let always = Policy {
            ask: Ask::Always,
            ..allow.clone()
        };
        assert_eq!(
            decide(&always, Some("/usr/bin/ls"), false),
            Verdict::NeedsApproval
        );
        // full + on-miss never asks; full + always always asks.
        let full = policy(json!({"version": 1, "defaults": {"ask": "on-miss"}}), None);
        assert_eq!(decide(&full, Some("/x"), false), Verdict::Run);
        let full_always = Policy {
            ask: Ask::Always,
            ..full
        };
        assert_eq!(
            decide(&full_always, Some("/x"), false),
            Verdict::NeedsApproval
        );
    }

    #[test]
    fn an_allow_always_entry_satisfies_on_miss_without_asking() {
        let p = policy(
            json!({"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"},
            "agents": {"*": {"allowlist": [{"pattern": "/bin/date", "source": "allow-always"}]}}}),
            None,
        );
        assert_eq!(decide(&p, Some("/bin/date"), false), Verdict::Run);
    }

    #[test]
    fn globs() {
        assert!(pattern_matches("/usr/bin/*", "/usr/bin/ls"));
        assert!(!pattern_matches("/usr/bin/*", "/usr/bin/sub/ls"));
        assert!(pattern_matches("/usr/**", "/usr/bin/sub/ls"));
        assert!(pattern_matches("/USR/BIN/L?", "/usr/bin/ls"));
        assert!(pattern_matches("ls", "/usr/bin/ls"));
        assert!(!pattern_matches("ls", "/usr/bin/lsof"));
        assert!(!pattern_matches("", "/usr/bin/ls"));
    }
}
