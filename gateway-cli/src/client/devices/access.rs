//! What a pending request asks for compared with what its device already
//! has, and which scopes the CLI must hold to act on it: the reference CLI's
//! rules, over the JSON rows of `device.pair.list`.

use serde_json::{json, Value};

pub const PAIRING_SCOPE: &str = "operator.pairing";
pub const ADMIN_SCOPE: &str = "operator.admin";

/// The gateway's closed set of operator scopes.
const OPERATOR_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.sessions.read",
    "operator.sessions.write",
    "operator.approvals",
    "operator.questions",
    "operator.pairing",
    "operator.talk",
    "operator.talk.secrets",
];

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_owned()],
        _ => Vec::new(),
    }
}

pub fn text<'a>(row: &'a Value, key: &str) -> Option<&'a str> {
    row.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `roles` plus the singular `role`, sorted and deduplicated.
fn roles_of(row: &Value) -> Vec<String> {
    let mut roles = strings(row.get("roles"));
    roles.extend(strings(row.get("role")));
    roles.sort();
    roles.dedup();
    roles
}

/// Scopes as tokens carry them: admin implies write and read, write
/// implies read; sorted, deduplicated.
pub fn normalize_scopes(value: Option<&Value>) -> Vec<String> {
    gateway_smol::store::normalize_token_scopes(&strings(value))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
}

impl Access {
    pub fn to_json(&self) -> Value {
        json!({"roles": self.roles, "scopes": self.scopes})
    }

    /// `roles: a, b; scopes: x` (`none` for an empty list).
    pub fn summary(&self) -> String {
        let list = |items: &[String]| {
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        format!(
            "roles: {}; scopes: {}",
            list(&self.roles),
            list(&self.scopes)
        )
    }
}

/// What a pending request asks for.
pub fn requested(request: &Value) -> Access {
    Access {
        roles: roles_of(request),
        scopes: normalize_scopes(request.get("scopes")),
    }
}

/// What a paired device holds: its approved roles that still have an
/// unrevoked token (all of them when it lists no tokens), and its scopes.
pub fn approved(device: &Value) -> Access {
    let approved_roles = roles_of(device);
    let roles = match device.get("tokens") {
        Some(Value::Array(tokens)) => {
            let mut live: Vec<String> = tokens
                .iter()
                .filter(|t| t.get("revokedAtMs").is_none_or(Value::is_null))
                .filter_map(|t| text(t, "role").map(str::to_owned))
                .filter(|r| approved_roles.contains(r))
                .collect();
            live.sort();
            live.dedup();
            live
        }
        _ => approved_roles,
    };
    Access {
        roles,
        scopes: normalize_scopes(device.get("scopes")),
    }
}

/// How a pending request relates to its device's current approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    NewPairing,
    RoleUpgrade,
    ScopeUpgrade,
    ReApproval,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewPairing => "new-pairing",
            Kind::RoleUpgrade => "role-upgrade",
            Kind::ScopeUpgrade => "scope-upgrade",
            Kind::ReApproval => "re-approval",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Kind::NewPairing => "new pairing",
            Kind::RoleUpgrade => "role upgrade",
            Kind::ScopeUpgrade => "scope upgrade",
            Kind::ReApproval => "re-approval",
        }
    }
}

pub struct ApprovalState {
    pub kind: Kind,
    pub requested: Access,
    pub approved: Option<Access>,
}

pub fn approval_state(request: &Value, paired: Option<&Value>) -> ApprovalState {
    let requested = requested(request);
    let Some(device) = paired else {
        return ApprovalState {
            kind: Kind::NewPairing,
            requested,
            approved: None,
        };
    };
    let approved = approved(device);
    let covers = |have: &[String], want: &[String]| want.iter().all(|w| have.contains(w));
    let kind = if !covers(&approved.roles, &requested.roles) {
        Kind::RoleUpgrade
    } else if !covers(&approved.scopes, &requested.scopes) {
        Kind::ScopeUpgrade
    } else {
        Kind::ReApproval
    };
    ApprovalState {
        kind,
        requested,
        approved: Some(approved),
    }
}

/// The paired row of the request's device, unless its key changed.
pub fn paired_for<'a>(paired: &'a [Value], request: &Value) -> Option<&'a Value> {
    let device_id = text(request, "deviceId")?;
    let device = paired
        .iter()
        .find(|d| text(d, "deviceId") == Some(device_id))?;
    match (text(request, "publicKey"), text(device, "publicKey")) {
        (Some(a), Some(b)) if a != b => None,
        _ => Some(device),
    }
}

/// The newest pending request (largest `ts`; the first on a tie).
pub fn latest(pending: &[Value]) -> Option<&Value> {
    let ts = |r: &Value| r.get("ts").and_then(Value::as_u64).unwrap_or(0);
    pending
        .iter()
        .fold(None, |best: Option<&Value>, r| match best {
            Some(b) if ts(r) <= ts(b) => Some(b),
            _ => Some(r),
        })
}

fn operator_scopes(value: Option<&Value>) -> Vec<String> {
    normalize_scopes(value)
        .into_iter()
        .filter(|s| s.starts_with("operator."))
        .collect()
}

/// The operator scopes an approval grants: those asked for, or (asking for
/// none) those the device's operator token already has.
fn approval_operator_scopes(request: &Value, paired: Option<&Value>) -> Vec<String> {
    if !roles_of(request).iter().any(|r| r == "operator") {
        return Vec::new();
    }
    let asked = operator_scopes(request.get("scopes"));
    if !asked.is_empty() {
        return asked;
    }
    let token = paired
        .and_then(|d| d.get("tokens"))
        .and_then(Value::as_array)
        .and_then(|tokens| {
            tokens.iter().find(|t| {
                text(t, "role") == Some("operator")
                    && t.get("revokedAtMs").is_none_or(Value::is_null)
            })
        });
    match token {
        Some(t) => operator_scopes(t.get("scopes")),
        None => operator_scopes(paired.and_then(|d| d.get("scopes"))),
    }
}

/// The scopes to connect with so the gateway lets this CLI grant `scopes`:
/// pairing plus each of them, or admin when one is admin or unknown; `None`
/// (the method's own scope) when there are none.
pub fn call_scopes(scopes: &[String]) -> Option<Vec<String>> {
    if scopes.is_empty() {
        return None;
    }
    let mut out = vec![PAIRING_SCOPE.to_owned()];
    for scope in scopes {
        if scope == ADMIN_SCOPE || !OPERATOR_SCOPES.contains(&scope.as_str()) {
            return Some(vec![ADMIN_SCOPE.to_owned()]);
        }
        if !out.contains(scope) {
            out.push(scope.clone());
        }
    }
    Some(out)
}

/// The scopes `devices approve` connects with for `request`.
pub fn approve_scopes(request: &Value, paired: &[Value]) -> Option<Vec<String>> {
    call_scopes(&approval_operator_scopes(
        request,
        paired_for(paired, request),
    ))
}

/// The scopes `devices rotate|revoke` connect with: admin for another role
/// or a device not listed; else pairing plus the token's (or the explicit)
/// scopes.
pub fn token_management_scopes(
    paired: &[Value],
    device_id: &str,
    role: &str,
    explicit: Option<&[String]>,
) -> Option<Vec<String>> {
    let admin = Some(vec![ADMIN_SCOPE.to_owned()]);
    if role != "operator" {
        return admin;
    }
    let Some(device) = paired
        .iter()
        .find(|d| text(d, "deviceId") == Some(device_id))
    else {
        return admin;
    };
    let scopes = match explicit {
        Some(list) => operator_scopes(Some(&json!(list))),
        None => {
            let token = device
                .get("tokens")
                .and_then(Value::as_array)
                .and_then(|ts| ts.iter().find(|t| text(t, "role") == Some(role)));
            match token.and_then(|t| t.get("scopes")) {
                Some(s) => operator_scopes(Some(s)),
                None => operator_scopes(device.get("scopes")),
            }
        }
    };
    call_scopes(&scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_requests() {
        let request = json!({"deviceId": "d", "role": "operator", "roles": ["operator"], "scopes": ["operator.write"]});
        assert_eq!(approval_state(&request, None).kind, Kind::NewPairing);
        let paired = json!({"deviceId": "d", "roles": ["operator"], "scopes": ["operator.read"],
            "tokens": [{"role": "operator", "scopes": ["operator.read"]}]});
        let state = approval_state(&request, Some(&paired));
        assert_eq!(state.kind, Kind::ScopeUpgrade);
        assert_eq!(
            state.requested.summary(),
            "roles: operator; scopes: operator.read, operator.write"
        );
        let revoked = json!({"deviceId": "d", "roles": ["operator"], "scopes": ["operator.write"],
            "tokens": [{"role": "operator", "revokedAtMs": 5}]});
        let state = approval_state(&request, Some(&revoked));
        assert_eq!(state.kind, Kind::RoleUpgrade);
        assert_eq!(
            state.approved.unwrap().summary(),
            "roles: none; scopes: operator.read, operator.write"
        );
    }

    #[test]
    fn scopes_for_approval_and_token_management() {
        let request = json!({"deviceId": "d", "roles": ["operator"], "scopes": ["operator.read"]});
        assert_eq!(
            approve_scopes(&request, &[]),
            Some(vec![
                "operator.pairing".to_owned(),
                "operator.read".to_owned()
            ])
        );
        let admin = json!({"deviceId": "d", "roles": ["operator"], "scopes": ["operator.admin"]});
        assert_eq!(
            approve_scopes(&admin, &[]),
            Some(vec![ADMIN_SCOPE.to_owned()])
        );
        let node = json!({"deviceId": "d", "roles": ["node"], "scopes": []});
        assert_eq!(approve_scopes(&node, &[]), None);
        assert_eq!(
            token_management_scopes(&[], "d", "operator", None),
            Some(vec![ADMIN_SCOPE.to_owned()])
        );
        let paired = [
            json!({"deviceId": "d", "tokens": [{"role": "operator", "scopes": ["operator.read"]}]}),
        ];
        assert_eq!(
            token_management_scopes(&paired, "d", "operator", None),
            Some(vec![
                "operator.pairing".to_owned(),
                "operator.read".to_owned()
            ])
        );
        assert_eq!(
            token_management_scopes(&paired, "d", "node", None),
            Some(vec![ADMIN_SCOPE.to_owned()])
        );
    }

    #[test]
    fn latest_is_the_newest() {
        let pending = [
            json!({"requestId": "a", "ts": 5}),
            json!({"requestId": "b", "ts": 9}),
            json!({"requestId": "c", "ts": 9}),
        ];
        assert_eq!(text(latest(&pending).unwrap(), "requestId"), Some("b"));
        assert!(latest(&[]).is_none());
    }
}
