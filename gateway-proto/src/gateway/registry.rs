//! The method and event tables, and the reference's authorization rules.
//!
//! A method is one [`MethodSpec`]: its name, who may call it ([`Access`]),
//! the schema its params must satisfy, and its handler. Dispatch is the same
//! for every method: authorize, validate the params with the shared schema
//! validator (so every method gets the reference's wording), then call the
//! handler. An event is one [`EventSpec`]: who may receive it and whether a
//! slow client may miss it. `hello-ok.features` lists both tables, so it
//! always says exactly what is served.

use serde_json::json;
use serde_json::value::RawValue;

use super::methods::{Call, Handler, METHODS};
use crate::server::{Role, Scope, Scopes, Session};
use crate::wire::validate::validate_object_text_shallow;
use crate::wire::{Dialect, Schema};
use crate::wire::{ErrorCode, ErrorShape, ProtocolVersion};

/// Who may call a method.
#[derive(Clone, Copy, Debug)]
pub enum Access {
    /// Any authenticated connection, any role, no scope (`health`).
    Anyone,
    /// An operator with this scope.
    Operator(Scope),
    /// An operator with the scope its params call for (the reference's
    /// least-privilege rules, e.g. `agent` with `/reset` needs admin).
    OperatorDynamic(fn(Option<&RawValue>) -> Scope),
    /// A node (`role: "node"`); nodes need no scopes.
    Node,
    /// An operator with this scope, or a node (the handler decides what a
    /// node may do: our node host asks for exec approvals this way).
    OperatorOrNode(Scope),
}

/// One served method.
pub struct MethodSpec {
    pub name: &'static str,
    pub access: Access,
    /// The params schema; `None` accepts anything (the method ignores params).
    pub params: Option<&'static Schema>,
    pub(crate) handler: Handler,
}

impl std::fmt::Debug for MethodSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodSpec")
            .field("name", &self.name)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// One event the gateway emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub name: &'static str,
    /// Scope needed to receive it (`None`: every authenticated connection).
    pub scope: Option<Scope>,
    /// Skipped for a slow client (which then sees a seq gap) instead of
    /// closing it "slow consumer".
    pub droppable: bool,
}

/// Every event this gateway emits, in `features.events` order.
pub static EVENTS: &[EventSpec] = &[
    CHALLENGE_EVENT,
    TICK_EVENT,
    HEALTH_EVENT,
    PRESENCE_EVENT,
    SHUTDOWN_EVENT,
    DEVICE_PAIR_REQUESTED_EVENT,
    DEVICE_PAIR_RESOLVED_EVENT,
    DEVICE_PAIR_CHANGED_EVENT,
    NODE_PAIR_REQUESTED_EVENT,
    NODE_PAIR_RESOLVED_EVENT,
    NODE_INVOKE_REQUEST_EVENT,
    NODE_INVOKE_CANCEL_EVENT,
    VOICEWAKE_CHANGED_EVENT,
    VOICEWAKE_ROUTING_CHANGED_EVENT,
    EXEC_APPROVAL_REQUESTED_EVENT,
    EXEC_APPROVAL_RESOLVED_EVENT,
    AGENT_EVENT,
    CHAT_EVENT,
    SESSIONS_CHANGED_EVENT,
    SESSION_MESSAGE_EVENT,
    SESSION_TOOL_EVENT,
];

/// A run's stream events (`lifecycle`, `assistant`, `usage`, …). The
/// reference never skips a visible one for a slow client.
pub(crate) const AGENT_EVENT: EventSpec = EventSpec {
    name: "agent",
    scope: Some(Scope::Read),
    droppable: false,
};
/// A run's reply text as it streams (`assistant`): a slow client may miss
/// some (each carries the whole text so far), so it is not closed for them.
pub(crate) const AGENT_LIVE_EVENT: EventSpec = EventSpec {
    name: "agent",
    scope: Some(Scope::Read),
    droppable: true,
};
/// A run's ending in `chat` form (`final`, `error`, `aborted`).
pub(crate) const CHAT_EVENT: EventSpec = EventSpec {
    name: "chat",
    scope: Some(Scope::Read),
    droppable: false,
};
/// `chat` deltas and status: a slow client may miss them (the final
/// carries the whole message).
pub(crate) const CHAT_LIVE_EVENT: EventSpec = EventSpec {
    name: "chat",
    scope: Some(Scope::Read),
    droppable: true,
};
/// A session row changed (to `sessions.subscribe` subscribers).
pub(crate) const SESSIONS_CHANGED_EVENT: EventSpec = EventSpec {
    name: "sessions.changed",
    scope: Some(Scope::Read),
    droppable: true,
};
/// A run's tool call started or ended (stream `tool`, to `sessions.subscribe`
/// subscribers). Its result is the only record of a tool's output a client
/// sees live, so it is not skipped.
pub(crate) const SESSION_TOOL_EVENT: EventSpec = EventSpec {
    name: "session.tool",
    scope: Some(Scope::Read),
    droppable: false,
};
/// A message joined a transcript (to `sessions.subscribe` subscribers).
pub(crate) const SESSION_MESSAGE_EVENT: EventSpec = EventSpec {
    name: "session.message",
    scope: Some(Scope::Read),
    droppable: false,
};
/// The config file was written through `config.set|patch|apply` (to
/// `operator.read`). The reference broadcasts it without listing it in
/// `features.events`; so does this gateway.
pub(crate) const CONFIG_CHANGED_EVENT: EventSpec = EventSpec {
    name: "config.changed",
    scope: Some(Scope::Read),
    droppable: true,
};

/// A node asks for approval of its command surface (to `operator.pairing`).
pub(crate) const NODE_PAIR_REQUESTED_EVENT: EventSpec = EventSpec {
    name: "node.pair.requested",
    scope: Some(Scope::Pairing),
    droppable: true,
};
/// A node surface was approved, rejected or removed (also sent to the node).
pub(crate) const NODE_PAIR_RESOLVED_EVENT: EventSpec = EventSpec {
    name: "node.pair.resolved",
    scope: Some(Scope::Pairing),
    droppable: true,
};
/// Sent to one node, without seq: run a command.
pub(crate) const NODE_INVOKE_REQUEST_EVENT: EventSpec = EventSpec {
    name: "node.invoke.request",
    scope: None,
    droppable: false,
};
/// Sent to one node, without seq: stop a command (its caller gave up).
pub(crate) const NODE_INVOKE_CANCEL_EVENT: EventSpec = EventSpec {
    name: "node.invoke.cancel",
    scope: None,
    droppable: false,
};
/// Sent to a node after hello: the wake words.
pub(crate) const VOICEWAKE_CHANGED_EVENT: EventSpec = EventSpec {
    name: "voicewake.changed",
    scope: None,
    droppable: false,
};
/// Sent to a node after hello: where a wake word routes.
pub(crate) const VOICEWAKE_ROUTING_CHANGED_EVENT: EventSpec = EventSpec {
    name: "voicewake.routing.changed",
    scope: None,
    droppable: false,
};

/// An exec approval waits for a decision (to approval clients holding
/// `operator.approvals`, who may see it).
pub(crate) const EXEC_APPROVAL_REQUESTED_EVENT: EventSpec = EventSpec {
    name: "exec.approval.requested",
    scope: Some(Scope::Approvals),
    droppable: true,
};
/// An exec approval was decided or expired (to the same clients).
pub(crate) const EXEC_APPROVAL_RESOLVED_EVENT: EventSpec = EventSpec {
    name: "exec.approval.resolved",
    scope: Some(Scope::Approvals),
    droppable: true,
};

/// A device asks to be paired (to `operator.pairing` holders).
pub(crate) const DEVICE_PAIR_REQUESTED_EVENT: EventSpec = EventSpec {
    name: "device.pair.requested",
    scope: Some(Scope::Pairing),
    droppable: true,
};
/// A pairing request was approved or rejected.
pub(crate) const DEVICE_PAIR_RESOLVED_EVENT: EventSpec = EventSpec {
    name: "device.pair.resolved",
    scope: Some(Scope::Pairing),
    droppable: true,
};
/// A paired device changed (renamed).
pub(crate) const DEVICE_PAIR_CHANGED_EVENT: EventSpec = EventSpec {
    name: "device.pair.changed",
    scope: Some(Scope::Pairing),
    droppable: true,
};

/// Sent once per socket before the handshake (never broadcast).
pub(crate) const CHALLENGE_EVENT: EventSpec = EventSpec {
    name: "connect.challenge",
    scope: None,
    droppable: false,
};
pub(crate) const TICK_EVENT: EventSpec = EventSpec {
    name: "tick",
    scope: None,
    droppable: true,
};
pub(crate) const HEALTH_EVENT: EventSpec = EventSpec {
    name: "health",
    scope: None,
    droppable: false,
};
pub(crate) const PRESENCE_EVENT: EventSpec = EventSpec {
    name: "presence",
    scope: Some(Scope::Read),
    droppable: true,
};
/// Droppable: the 1012 close that follows says the same, and a slow client
/// then still learns it was a restart, not a policy close.
pub(crate) const SHUTDOWN_EVENT: EventSpec = EventSpec {
    name: "shutdown",
    scope: None,
    droppable: true,
};

/// The spec of a served method.
pub fn method(name: &str) -> Option<&'static MethodSpec> {
    METHODS.iter().find(|spec| spec.name == name)
}

/// The spec of an emitted event.
pub fn event(name: &str) -> Option<&'static EventSpec> {
    EVENTS.iter().find(|spec| spec.name == name)
}

/// Names of every served method, in table order.
pub fn method_names() -> impl Iterator<Item = &'static str> {
    METHODS.iter().map(|spec| spec.name)
}

/// Names of every emitted event, in table order.
pub fn event_names() -> impl Iterator<Item = &'static str> {
    EVENTS.iter().map(|spec| spec.name)
}

/// Decide whether `session` may call `name` (with `params`), in the
/// reference's order: `health` for anyone; the role; nodes need no scope;
/// admins pass; otherwise the method's scope (admin for unknown names).
/// `Ok(spec)` to dispatch, `Ok(None)` for an authorized call of an unknown
/// method (answered "unknown method"), `Err` with the refusal.
pub fn authorize(
    name: &str,
    params: Option<&RawValue>,
    session: Session,
) -> Result<Option<&'static MethodSpec>, ErrorShape> {
    let spec = method(name);
    let access = spec.map(|s| s.access);
    if matches!(access, Some(Access::Anyone)) {
        return Ok(spec);
    }
    let wants_node = matches!(access, Some(Access::Node));
    let is_node = session.role == Role::Node;
    let either = matches!(access, Some(Access::OperatorOrNode(_)));
    if wants_node != is_node && !either {
        return Err(ErrorShape::invalid_request(format!(
            "unauthorized role: {}",
            session.role.as_str()
        )));
    }
    if is_node || session.scopes.satisfies(Scope::Admin) {
        return Ok(spec);
    }
    let needed = match access {
        Some(Access::Operator(scope) | Access::OperatorOrNode(scope)) => scope,
        Some(Access::OperatorDynamic(scope_for)) => scope_for(params),
        // Unknown names (and the reference's reserved prefixes `config.`,
        // `update.`, … among them) are admin-only.
        _ => Scope::Admin,
    };
    if session.scopes.satisfies(needed) {
        return Ok(spec);
    }
    Err(missing_scope(needed, session.protocol))
}

/// `FORBIDDEN "missing scope: <s>"`; protocol 3 answered with the bare
/// message (and INVALID_REQUEST, which responses map per protocol).
fn missing_scope(scope: Scope, protocol: ProtocolVersion) -> ErrorShape {
    missing_scope_of(scope.as_str(), &[scope.as_str()], protocol)
}

/// `FORBIDDEN "missing scope: <missing>"` naming every scope the action needs.
pub(crate) fn missing_scope_of(
    missing: &str,
    required: &[&str],
    protocol: ProtocolVersion,
) -> ErrorShape {
    let error = ErrorShape::new(ErrorCode::Forbidden, format!("missing scope: {missing}"));
    if protocol == ProtocolVersion::V3 {
        return error;
    }
    error.with_details(json!({
        "code": "MISSING_SCOPE",
        "missingScope": missing,
        "requiredScopes": required,
    }))
}

/// Check `params` against the method's schema, in the caller's protocol
/// wording: `invalid <method> params: <problems>`.
pub fn check_params(
    spec: &MethodSpec,
    params: Option<&RawValue>,
    protocol: ProtocolVersion,
) -> Result<(), ErrorShape> {
    let Some(schema) = spec.params else {
        return Ok(());
    };
    // Absent params are an empty object to every params schema.
    let text = params.map_or("{}", RawValue::get);
    let dialect = Dialect::for_protocol(protocol);
    let problems = match validate_object_text_shallow(text, schema, dialect) {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(error)) => error.to_string(),
        Err(()) => "at root: must be object".to_owned(),
    };
    Err(ErrorShape::invalid_request(format!(
        "invalid {} params: {problems}",
        spec.name
    )))
}

/// Authorize, validate and run one request. Exactly one answer reaches the
/// caller: a refusal here, or the handler's (now or, for effects, later).
pub(crate) fn dispatch(hub: &mut super::methods::HubView<'_>, call: &Call<'_>) {
    let spec = match authorize(call.method, call.params, call.session) {
        Ok(Some(spec)) => spec,
        Ok(None) => {
            let error = ErrorShape::invalid_request(format!("unknown method: {}", call.method));
            return hub.out.respond_error(call.conn, call.id, &error);
        }
        Err(error) => return hub.out.respond_error(call.conn, call.id, &error),
    };
    if let Err(error) = check_params(spec, call.params, call.session.protocol) {
        return hub.out.respond_error(call.conn, call.id, &error);
    }
    (spec.handler)(hub, call);
}

/// Whether `scopes` may receive `event`.
pub(crate) fn may_receive(event: &EventSpec, scopes: Scopes) -> bool {
    event.scope.is_none_or(|scope| scopes.satisfies(scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Scopes;

    fn session(role: Role, scopes: &[&str], protocol: ProtocolVersion) -> Session {
        Session {
            protocol,
            role,
            scopes: Scopes::from_names(scopes.iter().copied()),
            auth_method: crate::server::AuthMethod::Token,
        }
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn features_list_exactly_the_tables() {
        let methods: Vec<&str> = method_names().collect();
        assert_eq!(
            methods,
            [
                "health",
                "status",
                "system-presence",
                "system-event",
                "last-heartbeat",
                "device.pair.list",
                "device.pair.approve",
                "device.pair.reject",
                "device.pair.remove",
                "device.pair.rename",
                "device.token.rotate",
                "device.token.revoke",
                "device.scopes.requestUpgrade",
                "device.scopes.waitUpgrade",
                "node.pair.list",
                "node.pair.approve",
                "node.pair.reject",
                "node.pair.remove",
                "node.rename",
                "node.list",
                "node.describe",
                "node.invoke",
                "node.invoke.progress",
                "node.invoke.result",
                "node.event",
                "node.pluginTools.update",
                "node.skills.update",
                "node.runnerInventory.update",
                "exec.approvals.get",
                "exec.approvals.node.get",
                "exec.approvals.node.set",
                "logs.tail",
                "exec.approval.get",
                "exec.approval.list",
                "exec.approval.request",
                "exec.approval.waitDecision",
                "exec.approval.resolve",
                "agent",
                "agent.wait",
                "agent.identity.get",
                "agents.list",
                "models.list",
                "send",
                "chat.send",
                "chat.abort",
                "chat.history",
                "sessions.list",
                "sessions.subscribe",
                "sessions.unsubscribe",
                "sessions.patch",
                "sessions.reset",
                "sessions.delete",
                "sessions.preview",
                "sessions.describe",
                "config.get",
                "config.set",
                "config.apply",
                "config.patch",
                "config.schema",
                "config.schema.lookup",
                "chat.startup",
                "chat.metadata",
                "sessions.messages.subscribe",
                "sessions.observer.visibility",
                "sessions.branches.list",
                "sessions.companion.state",
                "models.authStatus",
                "update.status",
                "plugin.approval.list",
                "openclaw.approval.list",
                "question.list",
                "cron.list",
                "cron.status",
                "talk.catalog",
                "progressCard.get",
                "tasks.list",
                "users.prefs.get",
                "sessions.groups.list",
                "sessions.groups.defaults",
                "taskSuggestions.list",
                "session.discussion.info",
                "sessions.catalog.list",
                "controlUi.sessionPullRequests.subscribe",
                "sessions.viewers.set",
                "environments.list",
                "system.info"
            ]
        );
        let events: Vec<&str> = event_names().collect();
        assert_eq!(
            events,
            [
                "connect.challenge",
                "tick",
                "health",
                "presence",
                "shutdown",
                "device.pair.requested",
                "device.pair.resolved",
                "device.pair.changed",
                "node.pair.requested",
                "node.pair.resolved",
                "node.invoke.request",
                "node.invoke.cancel",
                "voicewake.changed",
                "voicewake.routing.changed",
                "exec.approval.requested",
                "exec.approval.resolved",
                "agent",
                "chat",
                "sessions.changed",
                "session.message",
                "session.tool"
            ]
        );
        assert!(event("presence").is_some_and(|e| e.droppable && e.scope == Some(Scope::Read)));
        assert!(event("health").is_some_and(|e| !e.droppable && e.scope.is_none()));
    }

    #[test]
    fn authorization_follows_the_reference_order() {
        let v4 = ProtocolVersion::V4;
        let none = session(Role::Operator, &[], v4);
        let read = session(Role::Operator, &["operator.read"], v4);
        let admin = session(Role::Operator, &["operator.admin"], v4);
        let node = session(Role::Node, &[], v4);
        // `health` for anyone, nodes included.
        assert!(authorize("health", None, none).is_ok());
        assert!(authorize("health", None, node).is_ok());
        // Operator methods refuse nodes by role, not by scope.
        let refused = authorize("status", None, node).unwrap_err();
        assert_eq!(refused.message, "unauthorized role: node");
        // Scopes.
        assert!(authorize("status", None, read).is_ok());
        let missing = authorize("status", None, none).unwrap_err();
        assert_eq!(missing.message, "missing scope: operator.read");
        assert_eq!(missing.detail_code(), Some("MISSING_SCOPE"));
        // Unknown methods under a reserved prefix: admin-only; others
        // "unknown method".
        let unknown = authorize("config.openFile", None, read).unwrap_err();
        assert_eq!(unknown.message, "missing scope: operator.admin");
        assert!(matches!(authorize("no.such", None, admin), Ok(None)));
        // Protocol 3 gets the bare message.
        let v3 = session(Role::Operator, &[], ProtocolVersion::V3);
        assert_eq!(
            authorize("status", None, v3).unwrap_err().detail_code(),
            None
        );
    }

    #[test]
    fn params_get_the_schema_validators_wording() {
        let logs = method("logs.tail").unwrap();
        let v4 = ProtocolVersion::V4;
        let problem = |params: &str| {
            check_params(logs, Some(&raw(params)), v4)
                .unwrap_err()
                .message
        };
        assert_eq!(
            problem(r#"{"limit":"ten"}"#),
            "invalid logs.tail params: at /limit: must be integer"
        );
        assert_eq!(
            problem(r#"{"limit":0}"#),
            "invalid logs.tail params: at /limit: must be >= 1"
        );
        assert_eq!(
            problem(r#"{"limit":5001}"#),
            "invalid logs.tail params: at /limit: must be <= 5000"
        );
        assert_eq!(
            problem(r#"{"x":1}"#),
            "invalid logs.tail params: at root: unexpected property 'x'"
        );
        assert!(check_params(logs, None, v4).is_ok());
        assert!(check_params(logs, Some(&raw(r#"{"cursor":10,"limit":5}"#)), v4).is_ok());

        let event = method("system-event").unwrap();
        assert_eq!(
            check_params(event, Some(&raw("{}")), v4)
                .unwrap_err()
                .message,
            "invalid system-event params: must have required property 'text'"
        );
        // Unknown presence facts are tolerated.
        assert!(check_params(event, Some(&raw(r#"{"text":"hi","extra":1}"#)), v4).is_ok());
    }

    /// The shallow check (unknown properties never parsed into a tree) must
    /// say exactly what the full validator says.
    #[test]
    fn shallow_params_check_matches_the_full_validator() {
        use crate::wire::validate_text;
        let cases = [
            r#"{"text":"hi","deviceId":"d","lastInputSeconds":5,"tags":["a"]}"#,
            r#"{"text":1,"deviceId":2,"instanceId":[],"host":{},"lastInputSeconds":-1,"tags":[1]}"#,
            r#"{"pad":[{"k":"v"},1,2],"text":"t","zzz":{"a":[1]}}"#,
            r#"{"text":"a","text":"b","x":1,"x":2}"#,
            r#"{"cursor":1,"limit":10,"maxBytes":100}"#,
            r#"{"cursor":"x","limit":0,"maxBytes":2000000,"other":[1,2,3]}"#,
            r#"{"b":1,"a":2,"limit":"x"}"#,
            "{}",
            " [1,2,3]",
            "null",
            r#""text""#,
            "12",
        ];
        for name in ["system-event", "logs.tail"] {
            let spec = method(name).unwrap();
            let schema = spec.params.unwrap();
            for protocol in [ProtocolVersion::V3, ProtocolVersion::V4] {
                let dialect = Dialect::for_protocol(protocol);
                for case in cases {
                    assert_eq!(
                        validate_object_text_shallow(case, schema, dialect),
                        validate_text(case, schema, dialect),
                        "{name} {protocol:?} {case}"
                    );
                }
            }
        }
    }
}
