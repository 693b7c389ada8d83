//! `system.which {bins}` → `{bins: {name: path}}`: where each name is found
//! on the node's `PATH` (the reference's rule: the first `<dir>/<name>` that
//! exists; names with a path separator are not looked up; missing names are
//! left out).

use std::path::Path;

use serde_json::{Map, Value};

/// The reference's `PATH` when the node host has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `bin` is on `path` (a `:`-separated list).
pub fn find(bin: &str, path: &str) -> Option<String> {
    if bin.contains('/') || bin.contains('\\') {
        return None;
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(bin))
        .find(|candidate| candidate.exists())
        .map(|found| found.to_string_lossy().into_owned())
}

/// The answer to `system.which`; `Err` with the reference's message when
/// `bins` is not a list. Non-string and blank entries are skipped.
pub fn answer(params: &Value, path: &str) -> Result<Value, &'static str> {
    let bins = params
        .get("bins")
        .and_then(Value::as_array)
        .ok_or("INVALID_REQUEST: bins required")?;
    let mut found = Map::new();
    for bin in bins.iter().filter_map(Value::as_str).map(str::trim) {
        if bin.is_empty() {
            continue;
        }
        if let Some(at) = find(bin, path) {
            found.insert(bin.to_owned(), Value::String(at));
        }
    }
    Ok(serde_json::json!({ "bins": found }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn found_names_map_to_the_first_match_and_missing_ones_are_omitted() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("tool"), "").unwrap();
        std::fs::write(b.path().join("tool"), "").unwrap();
        std::fs::write(b.path().join("other"), "").unwrap();
        let path = format!("{}::{}", a.path().display(), b.path().display());
        let got = answer(
            &json!({"bins": ["tool", "other", "missing", " ", 7, "x/tool"]}),
            &path,
        )
        .unwrap();
        assert_eq!(
            got,
            json!({"bins": {
                "tool": a.path().join("tool").display().to_string(),
                "other": b.path().join("other").display().to_string(),
            }})
        );
    }

    #[test]
    fn bins_must_be_a_list() {
        assert_eq!(
            answer(&json!({}), DEFAULT_PATH),
            Err("INVALID_REQUEST: bins required")
        );
        assert_eq!(
            answer(&json!({"bins": "sh"}), DEFAULT_PATH),
            Err("INVALID_REQUEST: bins required")
        );
        assert_eq!(
            answer(&json!({"bins": []}), DEFAULT_PATH).unwrap(),
            json!({"bins": {}})
        );
    }
}
