//! Workspace confinement, by the path's text: the first wall. The runtime
//! checks again on the real file system (symbolic links), the second wall.

/// The absolute, normalized path that `path` names inside `root`, or why
/// it is refused. `path` may be relative (to `root`) or absolute (then it
/// must lie inside `root`); `.` and `..` are resolved by text and may
/// never climb above `root`. `~` is not expanded.
pub fn confine(root: &str, path: &str) -> Result<String, String> {
    let root = normalize(root).ok_or_else(|| "the workspace path is not absolute".to_owned())?;
    let trimmed = path.trim();
    if trimmed.is_empty() {
        return Err("path is empty".to_owned());
    }
    if trimmed.contains('\0') {
        return Err("path contains a NUL character".to_owned());
    }
    let joined = if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("{root}/{trimmed}")
    };
    let resolved = normalize(&joined).ok_or_else(|| escape_error(path))?;
    if resolved == root || resolved.starts_with(&format!("{}/", root.trim_end_matches('/'))) {
        Ok(resolved)
    } else {
        Err(escape_error(path))
    }
}

fn escape_error(path: &str) -> String {
    format!("Path escapes the workspace: {path}")
}

/// `path` with `.`, `..` and repeated slashes resolved; `None` when it is
/// not absolute or climbs above `/`.
fn normalize(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::confine;

    const ROOT: &str = "/srv/state/workspace";

    #[test]
    fn relative_paths_land_in_the_workspace() {
        assert_eq!(
            confine(ROOT, "notes.md").unwrap(),
            "/srv/state/workspace/notes.md"
        );
        assert_eq!(
            confine(ROOT, "./a/../b.txt").unwrap(),
            "/srv/state/workspace/b.txt"
        );
        assert_eq!(confine(ROOT, ".").unwrap(), ROOT);
        assert_eq!(confine(ROOT, "a//b/").unwrap(), "/srv/state/workspace/a/b");
    }

    #[test]
    fn absolute_paths_inside_are_accepted() {
        assert_eq!(
            confine(ROOT, "/srv/state/workspace/x").unwrap(),
            "/srv/state/workspace/x"
        );
    }

    #[test]
    fn escapes_are_refused() {
        for path in [
            "../secret",
            "a/../../x",
            "/etc/passwd",
            "/srv/state/workspace-other/x",
            "/srv/state",
            "../../../../../../../../etc/passwd",
        ] {
            let error = confine(ROOT, path).unwrap_err();
            assert!(error.contains("escapes the workspace"), "{path}: {error}");
        }
        assert!(confine(ROOT, "").is_err());
        assert!(confine(ROOT, "a\0b").is_err());
    }
}
