//! Scope lists as pairing keeps them: plain strings (a device may hold a
//! scope this gateway does not serve yet), with the reference's implications
//! (`operator.admin` covers every operator scope, `operator.write` covers
//! read, talk and the session scopes).

/// The role whose tokens browsers and CLIs hold.
pub(crate) const OPERATOR_ROLE: &str = "operator";
const OPERATOR_PREFIX: &str = "operator.";
const ADMIN: &str = "operator.admin";
/// The scope every read-only operator surface needs.
pub(crate) const READ: &str = "operator.read";
const WRITE: &str = "operator.write";
const TALK: &str = "operator.talk";
const SESSIONS_READ: &str = "operator.sessions.read";
const SESSIONS_WRITE: &str = "operator.sessions.write";

/// Whether the operator scope `wanted` is covered by `granted`.
fn operator_scope_satisfied(wanted: &str, granted: &[&str]) -> bool {
    if !wanted.starts_with(OPERATOR_PREFIX) {
        return false;
    }
    let has = |s: &str| granted.contains(&s);
    has(wanted)
        || has(ADMIN)
        || (matches!(wanted, READ | TALK | SESSIONS_READ | SESSIONS_WRITE) && has(WRITE))
        || (wanted == SESSIONS_READ && (has(READ) || has(SESSIONS_WRITE)))
}

/// The first of `requested` that `allowed` does not cover for `role`
/// (a node's scopes must be listed exactly, with its role's prefix).
pub(crate) fn missing_scope<'a>(
    role: &str,
    requested: &'a [String],
    allowed: &[String],
) -> Option<&'a str> {
    let role = role.trim();
    let allowed: Vec<&str> = allowed.iter().map(|s| s.trim()).collect();
    requested.iter().map(String::as_str).find(|scope| {
        let scope = scope.trim();
        if scope.is_empty() {
            return false;
        }
        let covered = if role == "operator" {
            operator_scope_satisfied(scope, &allowed)
        } else {
            scope
                .strip_prefix(role)
                .is_some_and(|rest| rest.starts_with('.'))
                && allowed.contains(&scope)
        };
        !covered
    })
}

/// Whether `allowed` covers every one of `requested` for `role`.
pub(crate) fn role_scopes_allow(role: &str, requested: &[String], allowed: &[String]) -> bool {
    missing_scope(role, requested, allowed).is_none()
}

/// A device token's scope list: trimmed, deduplicated, sorted, with the
/// scopes that admin and write imply added (as the reference stores them).
pub(crate) fn normalize_token_scopes(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let has = |out: &[String], s: &str| out.iter().any(|x| x == s);
    if has(&out, ADMIN) {
        out.push(READ.to_owned());
        out.push(WRITE.to_owned());
    } else if has(&out, WRITE) {
        out.push(READ.to_owned());
    }
    out.sort();
    out.dedup();
    out
}

/// Union of lists, first-seen order, trimmed, no blanks or repeats.
/// `None` when no list was given at all; `Some(empty)` when only empty
/// lists were (the reference keeps that difference).
pub(crate) fn merge_lists<'a>(
    lists: impl IntoIterator<Item = Option<&'a [String]>>,
) -> Option<Vec<String>> {
    let mut seen_list = false;
    let mut out: Vec<String> = Vec::new();
    for list in lists.into_iter().flatten() {
        seen_list = true;
        for item in list {
            let item = item.trim();
            if !item.is_empty() && !out.iter().any(|x| x == item) {
                out.push(item.to_owned());
            }
        }
    }
    (seen_list || !out.is_empty()).then_some(out)
}

/// The role list of a record: `roles` plus `role`, merged.
pub(crate) fn roles_of(roles: Option<&[String]>, role: Option<&str>) -> Vec<String> {
    let single = role.map(|r| vec![r.to_owned()]);
    merge_lists([roles, single.as_deref()]).unwrap_or_default()
}

/// Only the scopes that belong to `role` (operator scopes for operators,
/// the others for any other role).
pub(crate) fn scopes_for_role(role: &str, scopes: &[String]) -> Vec<String> {
    merge_lists([Some(scopes)])
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.starts_with(OPERATOR_PREFIX) == (role == "operator"))
        .collect()
}

/// Whether two lists hold the same items, ignoring order.
pub(crate) fn same_set(a: &[String], b: &[String]) -> bool {
    let a = merge_lists([Some(a)]).unwrap_or_default();
    let b = merge_lists([Some(b)]).unwrap_or_default();
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// Sorted, deduplicated, trimmed copy (the reference's list for
/// `approvedScopes` in answers and for comparing access).
pub(crate) fn sorted_unique(scopes: &[String]) -> Vec<String> {
    let mut out = merge_lists([Some(scopes)]).unwrap_or_default();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn admin_and_write_imply_as_the_reference_says() {
        let admin = v(&["operator.admin"]);
        assert!(role_scopes_allow(
            "operator",
            &v(&["operator.pairing", "operator.read"]),
            &admin
        ));
        let write = v(&["operator.write"]);
        assert!(role_scopes_allow(
            "operator",
            &v(&["operator.read", "operator.talk"]),
            &write
        ));
        assert_eq!(
            missing_scope(
                "operator",
                &v(&["operator.read", "operator.pairing"]),
                &write
            ),
            Some("operator.pairing")
        );
        let read = v(&["operator.read"]);
        assert!(role_scopes_allow(
            "operator",
            &v(&["operator.sessions.read"]),
            &read
        ));
        assert!(!role_scopes_allow(
            "operator",
            &v(&["operator.write"]),
            &read
        ));
    }

    #[test]
    fn node_scopes_must_match_exactly_with_the_role_prefix() {
        assert!(role_scopes_allow("node", &[], &[]));
        assert!(!role_scopes_allow(
            "node",
            &v(&["operator.read"]),
            &v(&["operator.read"])
        ));
        assert!(role_scopes_allow("node", &v(&["node.x"]), &v(&["node.x"])));
    }

    #[test]
    fn token_scopes_are_sorted_with_implications() {
        assert_eq!(
            normalize_token_scopes(&v(&["operator.write", " operator.pairing "])),
            v(&["operator.pairing", "operator.read", "operator.write"])
        );
    }

    #[test]
    fn merging_keeps_order_and_explicit_emptiness() {
        assert_eq!(merge_lists([None, None]), None);
        assert_eq!(merge_lists([Some(&[][..]), None]), Some(vec![]));
        assert_eq!(
            merge_lists([Some(&v(&["b", "a"])[..]), Some(&v(&["a", "c"])[..])]),
            Some(v(&["b", "a", "c"]))
        );
    }
}
