//! How a change to a config path takes effect, with the reference's rules
//! (`config.schema.lookup`'s `reloadKind`, the CLI's "Restart the gateway to
//! apply." lines and `config.patch`'s `changedPaths`): the longest matching
//! prefix decides; a path no rule matches needs a restart.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadKind {
    /// Applied by the running gateway.
    Hot,
    /// Needs a gateway restart.
    Restart,
    /// Nothing to apply (read when used).
    None,
}

impl ReloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadKind::Hot => "hot",
            ReloadKind::Restart => "restart",
            ReloadKind::None => "none",
        }
    }
}

use ReloadKind::{Hot, None as Nothing, Restart};

/// Prefix rules (`*` matches one segment), as the reference declares them.
const RULES: &[(&str, ReloadKind)] = &[
    ("gateway.remote", Nothing),
    ("gateway.reload", Nothing),
    ("gateway.auth.token", Restart),
    ("gateway.auth.password", Restart),
    ("mcp.apps", Restart),
    ("secrets.egressProxy", Restart),
    ("gateway.portals", Restart),
    ("gateway.http.endpoints", Hot),
    ("gateway.http.securityHeaders.strictTransportSecurity", Hot),
    ("gateway.tools", Hot),
    ("gateway.cliAgents", Hot),
    ("gateway.controlUi.enabled", Hot),
    ("gateway.controlUi.environment", Hot),
    ("gateway.controlUi.communityInvite", Hot),
    ("gateway.controlUi.github", Hot),
    ("gateway.controlUi.sessionObserver", Hot),
    ("gateway.controlUi.embedSandbox", Hot),
    ("gateway.controlUi.allowExternalEmbedUrls", Hot),
    ("gateway.controlUi.automaticallyFetchFavicons", Hot),
    ("gateway.controlUi.experimental.customPlugins", Hot),
    ("gateway.controlUi.allowedOrigins", Hot),
    (
        "gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback",
        Hot,
    ),
    ("gateway.nodes.browser", Hot),
    ("gateway.nodes.pairing", Hot),
    ("gateway.nodes.commands", Hot),
    ("gateway.nodes.pluginTools.enabled", Hot),
    ("gateway.nodes.allowSkills", Hot),
    ("gateway.push.apns.relay", Hot),
    ("gateway.terminal", Hot),
    ("gateway.auth.rateLimit", Hot),
    ("gateway.roles", Hot),
    ("gateway.trustedProxies", Hot),
    ("gateway.allowRealIpFallback", Hot),
    ("gateway.auth.allowTailscale", Hot),
    ("gateway.auth.identityScopes", Hot),
    ("gateway.auth.trustedProxy", Hot),
    ("diagnostics.enabled", Hot),
    ("discovery.mdns.mode", Hot),
    ("mcp.apps.sandboxOrigin", Hot),
    ("agents.defaults", Hot),
    ("desktop.host", Hot),
    ("cloudWorkers", Hot),
    ("hooks", Hot),
    ("agents.defaults.heartbeat", Hot),
    ("agents.defaults.models", Hot),
    ("agents.defaults.modelPolicy", Hot),
    ("agents.defaults.model", Hot),
    ("models", Hot),
    ("agent.heartbeat", Hot),
    ("agents.entries", Hot),
    ("agents.entries.*.decisionModel", Hot),
    ("agents.defaults.sessionStore", Hot),
    ("agents.ownership", Hot),
    ("skills.workshop.autonomous.mode", Hot),
    ("plugins.load", Hot),
    ("plugins.installs", Hot),
    ("cron", Hot),
    ("transcripts", Hot),
    ("mcp", Hot),
    ("gateway.publicOrigin", Hot),
    ("talk.provider", Hot),
    ("talk.realtime.provider", Hot),
    ("session.scope", Hot),
    ("session.store", Hot),
    ("meta", Nothing),
    ("identity", Nothing),
    ("wizard", Nothing),
    ("logging", Nothing),
    ("agents", Nothing),
    ("bindings", Nothing),
    ("audio", Nothing),
    ("agent", Nothing),
    ("routing", Nothing),
    ("messages", Nothing),
    ("session", Nothing),
    ("talk", Nothing),
    ("skills", Nothing),
    ("secrets", Nothing),
    ("tui", Nothing),
    ("ui", Nothing),
    ("tools", Hot),
    ("approvals.exec", Hot),
    ("approvals.plugin", Hot),
    ("auth.order", Hot),
    ("auth.profiles", Hot),
    ("broadcast", Hot),
    ("memory.citations", Hot),
    ("worktreeRoot", Hot),
    ("worktreeAcceleration", Hot),
    ("security.audit.suppressions", Hot),
    ("security.installPolicy", Hot),
    ("diagnostics.cacheTrace.enabled", Hot),
    ("acp", Hot),
    ("attachments.ttlHours", Hot),
    ("update.checkOnStart", Hot),
    ("update.channel", Hot),
    ("update.auto.enabled", Hot),
    ("telemetry.enabled", Hot),
    ("telemetry.consentedAt", Hot),
    ("plugins", Hot),
    ("channels", Hot),
    ("gateway", Restart),
    ("discovery", Restart),
];

fn matches(path: &str, prefix: &str) -> bool {
    if prefix.contains('*') {
        let segments: Vec<&str> = path.split('.').collect();
        return prefix.split('.').enumerate().all(|(i, p)| {
            segments
                .get(i)
                .is_some_and(|s| if p == "*" { !s.is_empty() } else { *s == p })
        });
    }
    path == prefix || path.starts_with(&format!("{prefix}."))
}

/// The most specific rule first: more segments, then fewer wildcards; ties
/// keep declaration order.
fn best_rule(path: &str) -> Option<ReloadKind> {
    RULES
        .iter()
        .enumerate()
        .filter(|(_, (prefix, _))| matches(path, prefix))
        .min_by_key(|(i, (prefix, _))| {
            let segments = prefix.split('.').count();
            let stars = prefix.split('.').filter(|s| *s == "*").count();
            (usize::MAX - segments, stars, *i)
        })
        .map(|(_, (_, kind))| *kind)
}

/// The reload kind of a config path.
pub fn kind(path: &str) -> ReloadKind {
    best_rule(path).unwrap_or(Restart)
}

/// Changed paths between two configs at the granularity of the rules: an
/// object is looked into only while some rule lies deeper (the reference's
/// `changedPaths`).
pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(before, after, "", &mut out);
    out
}

fn refines(prefix: &str) -> bool {
    prefix.is_empty()
        || RULES
            .iter()
            .any(|(rule, _)| rule.starts_with(&format!("{prefix}.")))
}

fn diff(before: &Value, after: &Value, prefix: &str, out: &mut Vec<String>) {
    if before == after {
        return;
    }
    let (b, a) = (before.as_object(), after.as_object());
    if (b.is_some() && a.is_some()) || ((b.is_some() || a.is_some()) && refines(prefix)) {
        let empty = serde_json::Map::new();
        let (b, a) = (b.unwrap_or(&empty), a.unwrap_or(&empty));
        let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let (bv, av) = (b.get(key), a.get(key));
            diff(
                bv.unwrap_or(&Value::Null),
                av.unwrap_or(&Value::Null),
                &path,
                out,
            );
        }
        return;
    }
    out.push(if prefix.is_empty() {
        "<root>".into()
    } else {
        prefix.into()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_follow_the_longest_prefix() {
        assert_eq!(kind("gateway.port"), Restart);
        assert_eq!(kind("gateway.auth.token"), Restart);
        assert_eq!(kind("gateway.controlUi.allowedOrigins"), Hot);
        assert_eq!(kind("gateway.reload.mode"), Nothing);
        assert_eq!(kind("logging.level"), Nothing);
        assert_eq!(kind("agents.entries.main.decisionModel"), Hot);
        assert_eq!(kind("agents.list"), Nothing);
        assert_eq!(kind("somethingElse"), Restart);
    }

    #[test]
    fn changed_paths_stop_where_no_rule_is_deeper() {
        // As captured: a new `logging` section is one path.
        let before = json!({"gateway": {"port": 1}});
        let after = json!({"logging": {"level": "info"}, "gateway": {"port": 1, "controlUi": {"allowedOrigins": ["x"]}}});
        assert_eq!(
            changed_paths(&before, &after),
            ["gateway.controlUi.allowedOrigins", "logging"]
        );
        let later = json!({"logging": {"level": "debug"}, "gateway": {"port": 2, "controlUi": {"allowedOrigins": ["x"]}}});
        assert_eq!(
            changed_paths(&after, &later),
            ["gateway.port", "logging.level"]
        );
        assert!(changed_paths(&before, &before).is_empty());
    }
}
