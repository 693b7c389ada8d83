//! `--node <idOrNameOrIp>`: which node a query means, by the reference's
//! rules (docs `cli/nodes.md`): an exact id, else an exact IP, else the best
//! name match (same name once punctuation and case are ignored) or an id
//! prefix of at least six characters; among equal matches the connected
//! ones win; several left is an error that lists them.

use serde_json::Value;

fn text<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A name as a lookup key: lowercase words joined by `-`.
fn node_key(name: &str) -> String {
    let mut key = String::new();
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if gap && !key.is_empty() {
                key.push('-');
            }
            gap = false;
            key.push(c);
        } else {
            gap = true;
        }
    }
    key
}

fn label(node: &Value) -> &str {
    text(node, "displayName")
        .or_else(|| text(node, "remoteIp"))
        .or_else(|| text(node, "nodeId"))
        .unwrap_or("")
}

fn candidate(node: &Value) -> String {
    let mut details = vec![format!("node={}", text(node, "nodeId").unwrap_or(""))];
    if let Some(client) = text(node, "clientId")
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        details.push(format!("client={client}"));
    }
    format!("{} [{}]", label(node), details.join(", "))
}

fn is_openclaw(node: &Value) -> bool {
    text(node, "clientId").is_some_and(|c| c.trim().to_lowercase().starts_with("openclaw-"))
}

fn is_legacy(node: &Value) -> bool {
    text(node, "clientId").is_some_and(|c| {
        let c = c.trim().to_lowercase();
        c.starts_with("clawdbot-") || c.starts_with("moldbot-")
    })
}

/// The node id `query` names among `nodes` (objects with `nodeId`), or the
/// reference's error message.
pub fn resolve_node_id(nodes: &[Value], query: &str) -> Result<String, String> {
    let q = query.trim();
    if q.is_empty() {
        return Err("node required".into());
    }
    let id_of = |n: &Value| text(n, "nodeId").unwrap_or("").to_owned();
    let mut strongest: Vec<&Value> = nodes
        .iter()
        .filter(|n| text(n, "nodeId") == Some(q))
        .collect();
    if strongest.is_empty() {
        strongest = nodes
            .iter()
            .filter(|n| text(n, "remoteIp") == Some(q))
            .collect();
    }
    if strongest.is_empty() {
        let wanted = node_key(q);
        let score = |n: &Value| -> u32 {
            let name = text(n, "displayName").map(node_key).unwrap_or_default();
            if !name.is_empty() && name == wanted {
                2000
            } else if q.chars().count() >= 6
                && text(n, "nodeId").is_some_and(|id| id.starts_with(q))
            {
                1000
            } else {
                0
            }
        };
        let top = nodes.iter().map(score).max().unwrap_or(0);
        if top > 0 {
            strongest = nodes.iter().filter(|n| score(n) == top).collect();
        }
    }
    if strongest.is_empty() {
        let known: Vec<&str> = nodes.iter().map(label).filter(|l| !l.is_empty()).collect();
        return Err(if known.is_empty() {
            format!("unknown node: {q}")
        } else {
            format!("unknown node: {q} (known: {})", known.join(", "))
        });
    }
    let connected: Vec<&Value> = strongest
        .iter()
        .copied()
        .filter(|n| n.get("connected") == Some(&Value::Bool(true)))
        .collect();
    let matches = if connected.is_empty() {
        strongest
    } else {
        connected
    };
    if let [one] = matches.as_slice() {
        return Ok(id_of(one));
    }
    // A renamed install: one current client among legacy ones wins.
    let current: Vec<&&Value> = matches.iter().filter(|n| is_openclaw(n)).collect();
    let legacy = matches.iter().filter(|n| is_legacy(n)).count();
    if let [one] = current.as_slice() {
        if legacy > 0 && legacy + 1 == matches.len() {
            return Ok(id_of(one));
        }
    }
    let listed: Vec<String> = matches.iter().map(|n| candidate(n)).collect();
    Err(format!(
        "ambiguous node: {q} (matches: {})",
        listed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nodes() -> Vec<Value> {
        vec![
            json!({"nodeId": "a1b2c3d4e5f6", "displayName": "Build Box", "remoteIp": "10.0.0.5", "connected": true}),
            json!({"nodeId": "a1b2c3ffffff", "displayName": "build-box", "connected": false}),
            json!({"nodeId": "ffee00112233", "displayName": "Mac Studio", "remoteIp": "10.0.0.9"}),
        ]
    }

    #[test]
    fn exact_id_then_ip_then_names_and_prefixes() {
        let n = nodes();
        assert_eq!(resolve_node_id(&n, "ffee00112233").unwrap(), "ffee00112233");
        assert_eq!(resolve_node_id(&n, " 10.0.0.9 ").unwrap(), "ffee00112233");
        assert_eq!(resolve_node_id(&n, "mac studio").unwrap(), "ffee00112233");
        assert_eq!(resolve_node_id(&n, "MAC_STUDIO").unwrap(), "ffee00112233");
        // Two nodes share the name: the connected one wins.
        assert_eq!(resolve_node_id(&n, "Build Box").unwrap(), "a1b2c3d4e5f6");
        assert_eq!(resolve_node_id(&n, "ffee00").unwrap(), "ffee00112233");
        // Too short a prefix is no match.
        assert_eq!(
            resolve_node_id(&n, "ffee0").unwrap_err(),
            "unknown node: ffee0 (known: Build Box, build-box, Mac Studio)"
        );
        assert_eq!(resolve_node_id(&n, "  ").unwrap_err(), "node required");
    }

    #[test]
    fn equal_matches_are_an_error_listing_them() {
        let n = vec![
            json!({"nodeId": "a1b2c3d4e5f6", "displayName": "Box", "clientId": "node-host"}),
            json!({"nodeId": "a1b2c3ffffff", "displayName": "box"}),
        ];
        assert_eq!(
            resolve_node_id(&n, "a1b2c3").unwrap_err(),
            "ambiguous node: a1b2c3 (matches: Box [node=a1b2c3d4e5f6, client=node-host], box [node=a1b2c3ffffff])"
        );
        let renamed = vec![
            json!({"nodeId": "old000000001", "displayName": "Mac", "clientId": "clawdbot-macos"}),
            json!({"nodeId": "new000000001", "displayName": "Mac", "clientId": "openclaw-macos"}),
        ];
        assert_eq!(resolve_node_id(&renamed, "mac").unwrap(), "new000000001");
    }
}
