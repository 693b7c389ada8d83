//! The methods this gateway serves, the scope each needs, and their params.

use serde_json::{Map, Value};

use crate::server::{Role, Scope};

/// What a caller needs to call a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated operator, even one with no scopes.
    AnyOperator,
    /// An operator whose scopes satisfy this one.
    Operator(Scope),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Health,
    Status,
    SystemPresence,
    SystemEvent,
    LastHeartbeat,
    LogsTail,
}

/// Every served method, in the order `features.methods` lists them.
pub const METHODS: &[(&str, Method, Access)] = &[
    ("health", Method::Health, Access::AnyOperator),
    ("status", Method::Status, Access::Operator(Scope::Read)),
    (
        "system-presence",
        Method::SystemPresence,
        Access::Operator(Scope::Read),
    ),
    (
        "system-event",
        Method::SystemEvent,
        Access::Operator(Scope::Admin),
    ),
    (
        "last-heartbeat",
        Method::LastHeartbeat,
        Access::Operator(Scope::Read),
    ),
    ("logs.tail", Method::LogsTail, Access::Operator(Scope::Read)),
];

/// The names, for `features.methods`.
pub const METHOD_NAMES: &[&str] = &[
    "health",
    "status",
    "system-presence",
    "system-event",
    "last-heartbeat",
    "logs.tail",
];

/// Every event this gateway emits, for `features.events`.
pub const EVENT_NAMES: &[&str] = &[
    "connect.challenge",
    "tick",
    "health",
    "presence",
    "shutdown",
];

/// Scope needed to receive a broadcast event (`None`: every authenticated connection).
pub fn event_scope(event: &str) -> Option<Scope> {
    match event {
        "presence" | "agent" | "chat" => Some(Scope::Read),
        e if e.starts_with("device.pair.") || e.starts_with("node.pair.") => Some(Scope::Pairing),
        e if e.starts_with("exec.approval.") => Some(Scope::Approvals),
        _ => None,
    }
}

/// Events skipped (rather than closing the connection) for a slow consumer.
/// `shutdown` is skipped too: the 1012 close that follows it says the same,
/// and a slow client then still learns it was a restart, not a policy close.
pub fn event_droppable(event: &str) -> bool {
    matches!(event, "presence" | "tick" | "shutdown")
        || event.contains(".pair.")
        || event == "chat.delta"
}

/// Look a method up. Unknown methods count as admin-only.
pub fn lookup(name: &str) -> Option<(Method, Access)> {
    METHODS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, method, access)| (*method, *access))
}

/// The scope a caller lacks for `access`, if any. Nodes call only node-side
/// methods, none of which are served yet, so every operator method needs the
/// operator role.
pub fn missing_scope(
    access: Option<Access>,
    role: Role,
    scopes: crate::server::Scopes,
) -> Option<Scope> {
    let needed = match access {
        None => Scope::Admin,
        Some(Access::AnyOperator) => {
            return (role != Role::Operator).then_some(Scope::Admin);
        }
        Some(Access::Operator(scope)) => scope,
    };
    (role != Role::Operator || !scopes.satisfies(needed)).then_some(needed)
}

/// `logs.tail` params.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogsTailParams {
    pub cursor: Option<u64>,
    pub limit: usize,
    pub max_bytes: usize,
}

pub const LOGS_DEFAULT_LIMIT: usize = 200;
pub const LOGS_MAX_LIMIT: u64 = 5000;
pub const LOGS_DEFAULT_MAX_BYTES: usize = 250_000;
pub const LOGS_MAX_BYTES: u64 = 1_000_000;

fn params_object(params: Option<&Value>) -> Result<Option<&Map<String, Value>>, String> {
    match params {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err("at root: must be object".to_owned()),
    }
}

fn integer_in(
    map: &Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
    problems: &mut Vec<String>,
) -> Option<u64> {
    let value = map.get(key)?;
    let Some(n) = value.as_u64().or_else(|| {
        // JSON integers written as 5.0 are integers to the reference too.
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    }) else {
        if value.is_i64() || value.as_f64().is_some_and(|f| f.fract() == 0.0) {
            problems.push(format!("at /{key}: must be >= {min}"));
        } else {
            problems.push(format!("at /{key}: must be integer"));
        }
        return None;
    };
    if n < min {
        problems.push(format!("at /{key}: must be >= {min}"));
        return None;
    }
    if n > max {
        problems.push(format!("at /{key}: must be <= {max}"));
        return None;
    }
    Some(n)
}

fn unexpected_properties(map: &Map<String, Value>, allowed: &[&str], problems: &mut Vec<String>) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            problems.push(format!("at root: unexpected property '{key}'"));
        }
    }
}

impl LogsTailParams {
    /// The properties of its params schema.
    pub const KEYS: &'static [&'static str] = &["cursor", "limit", "maxBytes"];

    pub fn parse(params: Option<&Value>) -> Result<Self, String> {
        let mut parsed = LogsTailParams {
            cursor: None,
            limit: LOGS_DEFAULT_LIMIT,
            max_bytes: LOGS_DEFAULT_MAX_BYTES,
        };
        let Some(map) = params_object(params)? else {
            return Ok(parsed);
        };
        let mut problems = Vec::new();
        unexpected_properties(map, Self::KEYS, &mut problems);
        parsed.cursor = integer_in(map, "cursor", 0, u64::MAX, &mut problems);
        if let Some(limit) = integer_in(map, "limit", 1, LOGS_MAX_LIMIT, &mut problems) {
            parsed.limit = limit as usize;
        }
        if let Some(max_bytes) = integer_in(map, "maxBytes", 1, LOGS_MAX_BYTES, &mut problems) {
            parsed.max_bytes = max_bytes as usize;
        }
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(problems.join("; "))
        }
    }
}

/// `system-event` params: a text line and optional presence facts about the sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemEventParams {
    pub text: String,
    pub device_id: Option<String>,
    pub instance_id: Option<String>,
    pub host: Option<String>,
    pub ip: Option<String>,
    pub mode: Option<String>,
    pub version: Option<String>,
    pub platform: Option<String>,
    pub device_family: Option<String>,
    pub model_identifier: Option<String>,
    pub last_input_seconds: Option<u64>,
    pub reason: Option<String>,
    pub tags: Option<Vec<String>>,
}

impl SystemEventParams {
    /// The properties it reads (the schema allows others, which it ignores).
    pub const KEYS: &'static [&'static str] = &[
        "text",
        "deviceId",
        "instanceId",
        "host",
        "ip",
        "mode",
        "version",
        "platform",
        "deviceFamily",
        "modelIdentifier",
        "lastInputSeconds",
        "reason",
        "tags",
    ];

    pub fn parse(params: Option<&Value>) -> Result<Self, String> {
        let Some(map) = params_object(params)? else {
            return Err("must have required property 'text'".to_owned());
        };
        let mut problems = Vec::new();
        let string = |key: &str, problems: &mut Vec<String>| match map.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(format!("at /{key}: must be string"));
                None
            }
        };
        let text = string("text", &mut problems);
        if text.is_none() && !map.contains_key("text") {
            problems.insert(0, "must have required property 'text'".to_owned());
        }
        let mut parsed = SystemEventParams {
            text: text.unwrap_or_default(),
            device_id: string("deviceId", &mut problems),
            instance_id: string("instanceId", &mut problems),
            host: string("host", &mut problems),
            ip: string("ip", &mut problems),
            mode: string("mode", &mut problems),
            version: string("version", &mut problems),
            platform: string("platform", &mut problems),
            device_family: string("deviceFamily", &mut problems),
            model_identifier: string("modelIdentifier", &mut problems),
            reason: string("reason", &mut problems),
            ..SystemEventParams::default()
        };
        parsed.last_input_seconds = integer_in(map, "lastInputSeconds", 0, u64::MAX, &mut problems);
        match map.get("tags") {
            None => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                parsed.tags = Some(
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                );
            }
            Some(_) => problems.push("at /tags: must be array of strings".to_owned()),
        }
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_match_table() {
        let names: Vec<&str> = METHODS.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(names, METHOD_NAMES);
    }

    #[test]
    fn logs_tail_messages_match_reference() {
        assert_eq!(
            LogsTailParams::parse(Some(&json!({"limit": "ten"}))).unwrap_err(),
            "at /limit: must be integer"
        );
        assert_eq!(
            LogsTailParams::parse(Some(&json!({"limit": 0}))).unwrap_err(),
            "at /limit: must be >= 1"
        );
        assert_eq!(
            LogsTailParams::parse(Some(&json!({"limit": 5001}))).unwrap_err(),
            "at /limit: must be <= 5000"
        );
        assert_eq!(
            LogsTailParams::parse(Some(&json!({"x": 1}))).unwrap_err(),
            "at root: unexpected property 'x'"
        );
        let ok = LogsTailParams::parse(Some(&json!({"cursor": 10, "limit": 5}))).unwrap();
        assert_eq!((ok.cursor, ok.limit), (Some(10), 5));
        assert_eq!(
            LogsTailParams::parse(None).unwrap().limit,
            LOGS_DEFAULT_LIMIT
        );
    }

    #[test]
    fn system_event_needs_text() {
        assert!(SystemEventParams::parse(Some(&json!({}))).is_err());
        let p = SystemEventParams::parse(Some(&json!({"text": "hi", "instanceId": "X"}))).unwrap();
        assert_eq!(p.text, "hi");
        assert_eq!(p.instance_id.as_deref(), Some("X"));
    }

    #[test]
    fn unknown_methods_need_admin() {
        use crate::server::Scopes;
        let read = Scopes::from_names(["operator.read"]);
        assert_eq!(
            missing_scope(None, Role::Operator, read),
            Some(Scope::Admin)
        );
        assert_eq!(
            missing_scope(lookup("health").map(|m| m.1), Role::Operator, Scopes::NONE),
            None
        );
        assert_eq!(
            missing_scope(lookup("status").map(|m| m.1), Role::Operator, Scopes::NONE),
            Some(Scope::Read)
        );
    }
}
