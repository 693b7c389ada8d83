//! `config.patch`'s merge: a JSON merge patch (objects merge, `null`
//! deletes, anything else replaces), with two refinements the reference
//! makes: arrays of objects that carry an `id` merge entry by entry (by id),
//! and an array that would lose entries is refused unless its path is in
//! `replacePaths`.

use serde_json::{Map, Value};

/// `patch` applied to `target`. `replace_paths` name arrays that are
/// replaced as given, even when their entries have ids.
pub fn apply(target: &Value, patch: &Value, replace_paths: &[String]) -> Value {
    merge(target, patch, "", replace_paths)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn merge(target: &Value, patch: &Value, path: &str, replace: &[String]) -> Value {
    match patch {
        Value::Object(fields) => {
            let mut out = match target {
                Value::Object(existing) => existing.clone(),
                _ => Map::new(),
            };
            for (key, value) in fields {
                if value.is_null() {
                    out.remove(key);
                    continue;
                }
                let child = join(path, key);
                let merged = merge(out.get(key).unwrap_or(&Value::Null), value, &child, replace);
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        Value::Array(items) if !replace.iter().any(|p| p == path) => match target {
            Value::Array(existing) if by_id(existing) && by_id(items) => {
                merge_by_id(existing, items, path, replace)
            }
            _ => patch.clone(),
        },
        _ => patch.clone(),
    }
}

fn id_of(item: &Value) -> Option<&str> {
    item.get("id").and_then(Value::as_str)
}

/// Every entry is an object with a string `id` (and there is at least one).
fn by_id(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|item| id_of(item).is_some())
}

fn merge_by_id(existing: &[Value], patch: &[Value], path: &str, replace: &[String]) -> Value {
    let mut out: Vec<Value> = existing.to_vec();
    for item in patch {
        let id = id_of(item);
        match out.iter_mut().find(|e| id_of(e) == id) {
            Some(slot) => *slot = merge(slot, item, path, replace),
            None => out.push(item.clone()),
        }
    }
    Value::Array(out)
}

/// Paths of arrays named by `patch` that lost entries from `before` to
/// `after` and are not in `replace_paths`.
pub fn removed_array_entries(
    before: &Value,
    after: &Value,
    patch: &Value,
    replace_paths: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    walk_removals(before, after, patch, "", replace_paths, &mut out);
    out
}

fn walk_removals(
    before: &Value,
    after: &Value,
    patch: &Value,
    path: &str,
    replace: &[String],
    out: &mut Vec<String>,
) {
    match patch {
        Value::Object(fields) => {
            for (key, value) in fields {
                let child = join(path, key);
                let (b, a) = (
                    before.get(key).unwrap_or(&Value::Null),
                    after.get(key).unwrap_or(&Value::Null),
                );
                walk_removals(b, a, value, &child, replace, out);
            }
        }
        Value::Array(_) => {
            if let (Value::Array(old), Value::Array(new)) = (before, after) {
                let lost = old.iter().any(|entry| !new.contains(entry))
                    && !old.iter().all(|entry| {
                        id_of(entry).is_some_and(|id| new.iter().any(|n| id_of(n) == Some(id)))
                    });
                if lost && !replace.iter().any(|p| p == path) {
                    out.push(path.to_owned());
                }
            }
        }
        _ => {}
    }
}

/// Every leaf path whose value differs (objects looked into to the leaves).
pub fn changed_leaves(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    leaves(before, after, "", &mut out);
    out
}

fn leaves(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    if before == after {
        return;
    }
    if before.is_object() || after.is_object() {
        let empty = Map::new();
        let b = before.as_object().unwrap_or(&empty);
        let a = after.as_object().unwrap_or(&empty);
        let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            out.push(if path.is_empty() {
                "<root>".into()
            } else {
                path.into()
            });
        }
        for key in keys {
            let (bv, av) = (
                b.get(key).unwrap_or(&Value::Null),
                a.get(key).unwrap_or(&Value::Null),
            );
            leaves(bv, av, &join(path, key), out);
        }
        return;
    }
    out.push(if path.is_empty() {
        "<root>".into()
    } else {
        path.into()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_merge_null_deletes_scalars_replace() {
        let target = json!({"a": {"b": 1, "c": 2}, "d": "x"});
        let patch = json!({"a": {"b": 3, "c": null, "e": {"f": true}}, "d": null, "g": 1});
        assert_eq!(
            apply(&target, &patch, &[]),
            json!({"a": {"b": 3, "e": {"f": true}}, "g": 1})
        );
        // Null at a missing key changes nothing; a scalar target becomes an object.
        assert_eq!(
            apply(&json!({"a": 1}), &json!({"z": null}), &[]),
            json!({"a": 1})
        );
        assert_eq!(
            apply(&json!({"a": 1}), &json!({"a": {"b": 2}}), &[]),
            json!({"a": {"b": 2}})
        );
    }

    #[test]
    fn arrays_are_replaced_and_losses_are_reported_unless_named() {
        let target = json!({"o": {"list": ["a", "b"]}});
        let grow = json!({"o": {"list": ["a", "b", "c"]}});
        let after = apply(&target, &grow, &[]);
        assert_eq!(after, grow);
        assert!(removed_array_entries(&target, &after, &grow, &[]).is_empty());
        let shrink = json!({"o": {"list": ["b"]}});
        let after = apply(&target, &shrink, &[]);
        assert_eq!(after, shrink);
        assert_eq!(
            removed_array_entries(&target, &after, &shrink, &[]),
            ["o.list"]
        );
        let named = vec!["o.list".to_owned()];
        assert!(removed_array_entries(&target, &after, &shrink, &named).is_empty());
    }

    #[test]
    fn arrays_of_objects_merge_by_id() {
        let target = json!({"m": [{"id": "a", "x": 1, "y": 2}, {"id": "b", "x": 1}]});
        let patch = json!({"m": [{"id": "a", "x": 5, "y": null}, {"id": "c"}]});
        let after = apply(&target, &patch, &[]);
        assert_eq!(
            after,
            json!({"m": [{"id": "a", "x": 5}, {"id": "b", "x": 1}, {"id": "c"}]})
        );
        assert!(removed_array_entries(&target, &after, &patch, &[]).is_empty());
        // Under replacePaths the array is taken as given.
        let named = vec!["m".to_owned()];
        assert_eq!(apply(&target, &patch, &named), patch);
    }

    #[test]
    fn leaves_name_every_changed_value() {
        let before = json!({"a": {"b": 1, "c": 2}, "d": 1});
        let after = json!({"a": {"b": 1, "c": 3}, "e": {"f": 1}});
        assert_eq!(changed_leaves(&before, &after), ["a.c", "d", "e.f"]);
        assert!(changed_leaves(&before, &before).is_empty());
    }
}
