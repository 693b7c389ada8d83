//! Session keys as the reference writes them.
//!
//! A client may name a session by its short key (`main`, `work`) or by its
//! canonical key (`agent:<agentId>:<rest>`); events, results and storage
//! always use the canonical one. `main` is the agent's main session.

/// The default agent's id.
pub const DEFAULT_AGENT: &str = "main";
/// The short key of an agent's main session.
pub const MAIN_KEY: &str = "main";
/// Longest session key accepted (`chat.send` caps `sessionKey` at 512).
pub const MAX_KEY_LEN: usize = 512;

/// The canonical form of `key` for agent `agent_id` (the default agent when
/// `None`): `main` → `agent:main:main`, `agent:x:y` unchanged (lower-cased
/// as the reference stores it), anything else `agent:<agent>:<key>`.
pub fn canonical(key: &str, agent_id: Option<&str>) -> String {
    let key = key.trim();
    if let Some(rest) = key.strip_prefix("agent:") {
        if rest
            .split_once(':')
            .is_some_and(|(a, r)| !a.is_empty() && !r.is_empty())
        {
            return key.to_ascii_lowercase();
        }
    }
    let agent = agent_id.unwrap_or(DEFAULT_AGENT);
    format!("agent:{agent}:{}", key.to_ascii_lowercase())
}

/// The agent a canonical key belongs to.
pub fn agent_of(canonical_key: &str) -> &str {
    canonical_key
        .strip_prefix("agent:")
        .and_then(|rest| rest.split_once(':'))
        .map_or(DEFAULT_AGENT, |(agent, _)| agent)
}

/// The canonical key of an agent's main session.
pub fn main_key(agent_id: &str) -> String {
    format!("agent:{agent_id}:{MAIN_KEY}")
}

/// Whether `canonical_key` is its agent's main session.
pub fn is_main(canonical_key: &str) -> bool {
    canonical_key == main_key(agent_of(canonical_key))
}

/// Whether `message` is `/new` or `/reset` (optionally followed by text):
/// a session reset, which needs `operator.admin`.
pub fn is_reset_command(message: &str) -> bool {
    let lower = message.trim_start().to_ascii_lowercase();
    ["/new", "/reset"].iter().any(|cmd| {
        lower
            .strip_prefix(cmd)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_become_canonical() {
        assert_eq!(canonical("main", None), "agent:main:main");
        assert_eq!(canonical("Work", None), "agent:main:work");
        assert_eq!(canonical("main", Some("ops")), "agent:ops:main");
        assert_eq!(canonical("agent:main:main", None), "agent:main:main");
        assert_eq!(canonical("agent:ops:x:y", None), "agent:ops:x:y");
        // Not a canonical key: no agent or no rest.
        assert_eq!(canonical("agent:", None), "agent:main:agent:");
    }

    #[test]
    fn agents_and_main_sessions() {
        assert_eq!(agent_of("agent:ops:main"), "ops");
        assert_eq!(agent_of("weird"), "main");
        assert!(is_main("agent:main:main"));
        assert!(is_main("agent:ops:main"));
        assert!(!is_main("agent:main:work"));
    }
}
