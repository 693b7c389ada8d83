//! The reference's config key tree (names and JSON types only, our own
//! compact data in `reference_keys.txt`), and what it answers: is a key
//! known (with the closest known one when not), which keys of a file this
//! gateway does not use, and the shallow schema of one path.

use serde_json::{json, Map, Value};

const DATA: &str = include_str!("reference_keys.txt");

/// Keys (and everything under them) this gateway reads or keeps on purpose.
/// A key of the file outside these is accepted (the reference knows it) but
/// listed once at start-up as not used here.
pub const IMPLEMENTED: &[&str] = &[
    "$schema",
    "meta",
    "ui.prefs",
    "gateway.port",
    "gateway.bind",
    "gateway.customBindHost",
    "gateway.auth.mode",
    "gateway.auth.token",
    "gateway.auth.password",
    "gateway.controlUi.allowedOrigins",
    "gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback",
    "gateway.trustedProxies",
    "gateway.allowRealIpFallback",
    "gateway.nodes.pairing.autoApproveLocal",
    "gateway.nodes.commands",
    "gateway.http.endpoints.chatCompletions.enabled",
    "gateway.tls",
    "models.mode",
    "models.providers",
    "agents.defaults.model",
    // Only `agentRuntime.id` of each entry (which models a CLI backend runs).
    "agents.defaults.models",
    // The v3 key, read on purpose (the v4 reference dropped it).
    "agents.defaults.cliBackends",
];

/// One key of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyNode<'a> {
    /// Schema path: dotted, with `*` for a map's keys and `[]` for items.
    pub path: &'a str,
    /// JSON types, `|`-separated (e.g. `object|string`).
    pub types: &'a str,
    /// Any key is allowed, shaped by `<path>.*`.
    pub map: bool,
    /// Any key is allowed and not looked at.
    pub open: bool,
}

fn nodes() -> impl Iterator<Item = KeyNode<'static>> {
    DATA.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let path = parts.next()?;
            let types = parts.next()?;
            let flag = parts.next();
            Some(KeyNode {
                path,
                types,
                map: flag == Some("map"),
                open: flag == Some("open"),
            })
        })
}

/// The node at a schema path.
pub fn node(path: &str) -> Option<KeyNode<'static>> {
    nodes().find(|n| n.path == path)
}

/// The named children of a schema path (`""`: the top level).
pub fn children(path: &str) -> Vec<KeyNode<'static>> {
    nodes()
        .filter(|n| match n.path.strip_prefix(path) {
            Some(rest) if path.is_empty() => !rest.contains('.') && !rest.contains("[]"),
            Some(rest) => rest
                .strip_prefix('.')
                .is_some_and(|k| !k.contains('.') && !k.contains("[]")),
            None => false,
        })
        .collect()
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The first key (in file order) the reference does not know, as
/// "unknown key gateway.prot (did you mean gateway.port?)".
pub fn check(root: &Map<String, Value>) -> Result<(), String> {
    check_object(root, "", "")
}

/// `schema` is the schema path of the object, `shown` the path as written.
fn check_object(object: &Map<String, Value>, schema: &str, shown: &str) -> Result<(), String> {
    let parent = (!schema.is_empty()).then(|| node(schema)).flatten();
    if parent.is_some_and(|p| p.open) {
        return Ok(());
    }
    let map = parent.is_some_and(|p| p.map);
    let known = if map { Vec::new() } else { children(schema) };
    if !map && known.is_empty() {
        // Not described deeper (e.g. a SecretRef's own keys are listed, a
        // free-form object is not): nothing to check.
        return Ok(());
    }
    for (key, value) in object {
        let (schema_child, known_child) = if map {
            (format!("{schema}.*"), true)
        } else {
            let path = child_path(schema, key);
            let found = known.iter().any(|n| n.path == path);
            (path, found)
        };
        if !known_child {
            let names: Vec<&str> = known
                .iter()
                .map(|n| n.path.rsplit('.').next().unwrap_or(n.path))
                .collect();
            return Err(unknown(shown, key, &names));
        }
        let shown_child = child_path(shown, key);
        check_value(value, &schema_child, &shown_child)?;
    }
    Ok(())
}

fn check_value(value: &Value, schema: &str, shown: &str) -> Result<(), String> {
    match value {
        Value::Object(object) => check_object(object, schema, shown),
        Value::Array(items) => {
            let item_schema = format!("{schema}[]");
            if node(&item_schema).is_none() {
                return Ok(());
            }
            for (i, item) in items.iter().enumerate() {
                check_value(item, &item_schema, &format!("{shown}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn unknown(prefix: &str, key: &str, known: &[&str]) -> String {
    let dotted = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}.")
    };
    let closest = known
        .iter()
        .map(|k| (edit_distance(&key.to_lowercase(), &k.to_lowercase()), *k))
        .min()
        .filter(|(d, k)| *d <= (k.len().max(key.len()) / 2).max(1));
    match closest {
        Some((_, k)) => format!("unknown key {dotted}{key} (did you mean {dotted}{k}?)"),
        None => format!(
            "unknown key {dotted}{key} (known keys{}: {})",
            if prefix.is_empty() {
                String::new()
            } else {
                format!(" in {prefix}")
            },
            known.join(", ")
        ),
    }
}

/// Levenshtein distance over characters (keys are short).
pub fn edit_distance(a: &str, b: &str) -> usize {
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

/// Keys present in the file (at most two levels deep, e.g.
/// `channels.telegram`) that this gateway does not use.
pub fn unused(root: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    collect_unused(root, "", 0, &mut out);
    out
}

fn collect_unused(object: &Map<String, Value>, prefix: &str, depth: usize, out: &mut Vec<String>) {
    for (key, value) in object {
        let path = child_path(prefix, key);
        let used = IMPLEMENTED
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}.")));
        if used {
            continue;
        }
        let ancestor = IMPLEMENTED
            .iter()
            .any(|p| p.starts_with(&format!("{path}.")));
        match value {
            Value::Object(inner) if ancestor || (depth == 0 && !inner.is_empty()) => {
                if ancestor {
                    collect_unused(inner, &path, depth + 1, out);
                } else {
                    out.extend(inner.keys().map(|k| format!("{path}.{k}")));
                }
            }
            _ => out.push(path),
        }
    }
}

/// The schema path a config path (`gateway.auth.token`,
/// `channels.telegram`) falls under: map keys become `*`.
pub fn schema_path(path: &str) -> Option<String> {
    let mut current = String::new();
    for segment in path.split('.') {
        if segment.is_empty() {
            return None;
        }
        let named = child_path(&current, segment);
        if node(&named).is_some() {
            current = named;
            continue;
        }
        let parent = node(&current)?;
        if parent.map {
            current = format!("{current}.*");
        } else {
            return None;
        }
    }
    Some(current)
}

/// Whether the reference's schema has a place for this config path: in the
/// tree, or inside a section whose contents it does not check here.
pub fn is_known_path(path: &str) -> bool {
    if schema_path(path).is_some() {
        return true;
    }
    let segments: Vec<&str> = path.split('.').collect();
    (1..segments.len()).any(|n| {
        schema_path(&segments[..n].join("."))
            .and_then(|p| node(&p))
            .is_some_and(|node| node.open)
    })
}

fn type_value(types: &str) -> Value {
    let list: Vec<&str> = types.split('|').collect();
    match list.as_slice() {
        [one] => json!(one),
        many => json!(many),
    }
}

/// `config.schema.lookup`: the shallow schema of one path, its reload kind
/// and its immediate children, or `None` for a path the tree does not hold.
pub fn lookup(path: &str) -> Option<Value> {
    let schema = schema_path(path)?;
    let me = node(&schema)?;
    let kids: Vec<Value> = children(&schema)
        .into_iter()
        .map(|child| {
            let key = child.path.rsplit('.').next().unwrap_or(child.path);
            let full = format!("{path}.{key}");
            let has_children = child.map || !children(child.path).is_empty();
            json!({
                "key": key,
                "path": full,
                "type": type_value(child.types),
                "required": false,
                "hasChildren": has_children,
                "reloadKind": super::reload::kind(&full).as_str(),
            })
        })
        .collect();
    Some(json!({
        "path": path,
        "schema": { "type": type_value(me.types) },
        "reloadKind": super::reload::kind(path).as_str(),
        "hintPath": path,
        "children": kids,
    }))
}

/// `config.schema`: the whole tree as a JSON schema (types and keys only).
pub fn schema() -> Value {
    let mut root = schema_of("");
    if let Value::Object(map) = &mut root {
        map.insert(
            "$schema".into(),
            json!("http://json-schema.org/draft-07/schema#"),
        );
    }
    json!({ "schema": root, "uiHints": {}, "version": env!("CARGO_PKG_VERSION") })
}

fn schema_of(path: &str) -> Value {
    let me = (!path.is_empty()).then(|| node(path)).flatten();
    let mut out = Map::new();
    let types = me.map_or("object", |n| n.types);
    out.insert("type".into(), type_value(types));
    if me.is_some_and(|n| n.map) {
        out.insert(
            "additionalProperties".into(),
            schema_of(&format!("{path}.*")),
        );
    } else if !me.is_some_and(|n| n.open) {
        let kids = children(path);
        if !kids.is_empty() {
            let props: Map<String, Value> = kids
                .iter()
                .map(|k| {
                    let key = k.path.rsplit('.').next().unwrap_or(k.path);
                    (key.to_owned(), schema_of(k.path))
                })
                .collect();
            out.insert("properties".into(), Value::Object(props));
            out.insert("additionalProperties".into(), json!(false));
        }
    }
    let items = format!("{path}[]");
    if node(&items).is_some() {
        out.insert("items".into(), schema_of(&items));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<(), String> {
        let Value::Object(root) = serde_json::from_str::<Value>(text).unwrap() else {
            panic!("not an object")
        };
        check(&root)
    }

    #[test]
    fn misspelled_keys_name_the_closest_at_any_depth() {
        assert_eq!(
            check_text(r#"{"gateway":{"prot":1}}"#),
            Err("unknown key gateway.prot (did you mean gateway.port?)".into())
        );
        assert_eq!(
            check_text(r#"{"gateway":{"auth":{"rateLimit":{"maxAttempt":3}}}}"#),
            Err("unknown key gateway.auth.rateLimit.maxAttempt (did you mean gateway.auth.rateLimit.maxAttempts?)".into())
        );
        assert_eq!(
            check_text(r#"{"gateway":{"nodes":{"pairing":{"autoApprovLocal":true}}}}"#),
            Err("unknown key gateway.nodes.pairing.autoApprovLocal (did you mean gateway.nodes.pairing.autoApproveLocal?)".into())
        );
        assert_eq!(
            check_text(r#"{"logging":{"levl":"info"}}"#),
            Err("unknown key logging.levl (did you mean logging.level?)".into())
        );
        assert_eq!(
            check_text(r#"{"gatway":{}}"#),
            Err("unknown key gatway (did you mean gateway?)".into())
        );
    }

    #[test]
    fn maps_secret_refs_and_unchecked_sections_pass() {
        let text = r#"{"channels":{"telegram":{"anything":1}},"agents":{"x":{}},
            "gateway":{"auth":{"token":{"source":"env","provider":"default","id":"T"},
            "identityScopes":{"alice":["operator.read"]}},"remote":{"edgeAuth":{"a":"b"}}}}"#;
        assert_eq!(check_text(text), Ok(()));
    }

    #[test]
    fn unused_keys_are_listed_two_levels_deep() {
        let Value::Object(root) = serde_json::from_str::<Value>(
            r#"{"gateway":{"port":1,"mode":"local","auth":{"token":"t"}},
                "channels":{"telegram":{}},"logging":{"level":"info"},"meta":{}}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            unused(&root),
            ["channels.telegram", "gateway.mode", "logging.level"]
        );
    }

    #[test]
    fn lookup_gives_type_reload_kind_and_children() {
        let port = lookup("gateway.port").unwrap();
        assert_eq!(port["schema"]["type"], "integer");
        assert_eq!(port["reloadKind"], "restart");
        assert_eq!(port["children"], json!([]));
        let auth = lookup("gateway.auth").unwrap();
        let keys: Vec<&str> = auth["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect();
        assert!(
            keys.contains(&"token") && keys.contains(&"mode"),
            "{keys:?}"
        );
        assert_eq!(
            lookup("gateway.auth.identityScopes.alice").unwrap()["schema"]["type"],
            "array"
        );
        assert!(lookup("gateway.nope").is_none());
        assert!(is_known_path("gateway.port") && is_known_path("channels.telegram.botToken"));
        assert!(!is_known_path("gateway.prot") && !is_known_path("gatway"));
        assert!(lookup("").is_none());
    }
}
