//! Which keys `openclaw.json` may hold. The reference validates the whole file
//! against a strict schema and refuses a key it does not know; so do we, for
//! the top-level sections and for `gateway`, `gateway.auth` and
//! `gateway.controlUi` (the parts a gateway reads). Sections this gateway does
//! not use (agents, models, channels, …) are accepted as the reference names
//! them, without looking inside, so a user's existing config keeps working.

use serde_json::{Map, Value};

/// Top-level sections of the reference's config schema (openclaw 2026.9.6).
const TOP_LEVEL: &[&str] = &[
    "$schema",
    "meta",
    "env",
    "wizard",
    "diagnostics",
    "logging",
    "update",
    "telemetry",
    "browser",
    "ui",
    "secrets",
    "auth",
    "accessGroups",
    "acp",
    "models",
    "nodeHost",
    "agents",
    "worktreeRoot",
    "worktreeAcceleration",
    "tools",
    "security",
    "bindings",
    "broadcast",
    "attachments",
    "messages",
    "tts",
    "commands",
    "approvals",
    "session",
    "cron",
    "transcripts",
    "hooks",
    "channels",
    "discovery",
    "talk",
    "gateway",
    "cloudWorkers",
    "desktop",
    "memory",
    "mcp",
    "skills",
    "plugins",
    "surfaces",
    "proxy",
];

/// Keys of `gateway` in the reference's schema.
const GATEWAY: &[&str] = &[
    "port",
    "mode",
    "bind",
    "customBindHost",
    "publicOrigin",
    "portals",
    "controlUi",
    "cliAgents",
    "terminal",
    "auth",
    "roles",
    "trustedProxies",
    "allowRealIpFallback",
    "tools",
    "tailscale",
    "remote",
    "reload",
    "tls",
    "http",
    "push",
    "nodes",
];

/// Keys of `gateway.auth` in the reference's schema.
const GATEWAY_AUTH: &[&str] = &[
    "mode",
    "token",
    "password",
    "allowTailscale",
    "identityScopes",
    "rateLimit",
    "trustedProxy",
];

/// Keys of `gateway.controlUi` in the reference's schema.
const GATEWAY_CONTROL_UI: &[&str] = &[
    "dangerouslyDisableDeviceAuth",
    "enabled",
    "basePath",
    "experimental",
    "root",
    "environment",
    "communityInvite",
    "github",
    "sessionObserver",
    "embedSandbox",
    "allowExternalEmbedUrls",
    "automaticallyFetchFavicons",
    "allowedOrigins",
    "dangerouslyAllowHostHeaderOriginFallback",
];

/// The first key (in file order) that the schema does not know, as
/// "unknown key gateway.prot (did you mean gateway.port?)".
pub fn check(root: &Map<String, Value>) -> Result<(), String> {
    check_object(root, "", TOP_LEVEL)?;
    if let Some(Value::Object(gateway)) = root.get("gateway") {
        check_object(gateway, "gateway.", GATEWAY)?;
        if let Some(Value::Object(auth)) = gateway.get("auth") {
            check_object(auth, "gateway.auth.", GATEWAY_AUTH)?;
        }
        if let Some(Value::Object(ui)) = gateway.get("controlUi") {
            check_object(ui, "gateway.controlUi.", GATEWAY_CONTROL_UI)?;
        }
    }
    Ok(())
}

fn check_object(object: &Map<String, Value>, prefix: &str, known: &[&str]) -> Result<(), String> {
    let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) else {
        return Ok(());
    };
    let closest = known
        .iter()
        .map(|k| {
            (
                edit_distance(&unknown.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .min()
        .filter(|(d, k)| *d <= (k.len().max(unknown.len()) / 2).max(1));
    Err(match closest {
        Some((_, k)) => format!("unknown key {prefix}{unknown} (did you mean {prefix}{k}?)"),
        None => format!(
            "unknown key {prefix}{unknown} (known keys{}: {})",
            if prefix.is_empty() {
                String::new()
            } else {
                format!(" in {}", prefix.trim_end_matches('.'))
            },
            known.join(", ")
        ),
    })
}

/// Levenshtein distance over characters (keys are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<(), String> {
        let Value::Object(root) = json5::from_str::<Value>(text).unwrap() else {
            panic!("not an object")
        };
        check(&root)
    }

    #[test]
    fn misspelled_keys_name_the_closest() {
        assert_eq!(
            check_text("{ gateway: { prot: 1 } }"),
            Err("unknown key gateway.prot (did you mean gateway.port?)".into())
        );
        assert_eq!(
            check_text("{ gateway: { auth: { tokn: 'x' } } }"),
            Err("unknown key gateway.auth.tokn (did you mean gateway.auth.token?)".into())
        );
        assert_eq!(
            check_text("{ gatway: {} }"),
            Err("unknown key gatway (did you mean gateway?)".into())
        );
        assert_eq!(
            check_text("{ gateway: { controlUi: { allowedOrigin: [] } } }"),
            Err(
                "unknown key gateway.controlUi.allowedOrigin (did you mean gateway.controlUi.allowedOrigins?)"
                    .into()
            )
        );
        let far = check_text("{ zzzzzzzz: 1 }").unwrap_err();
        assert!(
            far.starts_with("unknown key zzzzzzzz (known keys: $schema, meta"),
            "{far}"
        );
    }

    #[test]
    fn reference_keys_we_do_not_use_are_accepted() {
        let text = "{ agents: { defaults: { anything: 1 } }, models: {}, channels: { x: 1 },
            gateway: { mode: 'local', trustedProxies: ['10.0.0.1'], reload: { mode: 'off' },
              controlUi: { allowedOrigins: ['https://a.example'], enabled: true },
              auth: { mode: 'token', token: 't', rateLimit: { maxAttempts: 3 } },
              tailscale: { mode: 'off' }, nodes: {}, tls: {} } }";
        assert_eq!(check_text(text), Ok(()));
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("prot", "port"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("token", "token"), 0);
    }
}
