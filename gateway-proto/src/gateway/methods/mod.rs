//! The methods this gateway serves, one file per family, and the table that
//! names them.
//!
//! Adding a method is one [`MethodSpec`] entry in [`METHODS`] plus one
//! handler function in its family's file. A handler receives a [`HubView`]
//! (the components it may use and the [`Outbox`]) and the [`Call`]; by the
//! time it runs the caller is authorized and the params passed the spec's
//! schema, so it only decodes them and answers, now or (through an effect)
//! later. For example, `last-heartbeat`:
//!
//! ```text
//! // in METHODS:
//! MethodSpec {
//!     name: "last-heartbeat",
//!     access: Access::Operator(Scope::Read),
//!     params: None,
//!     handler: system::last_heartbeat,
//! },
//! // in system.rs:
//! pub(crate) fn last_heartbeat(hub: &mut HubView<'_>, call: &Call<'_>) {
//!     hub.out.respond_ok(call.conn, call.id, &Value::Null);
//! }
//! ```

/// Decode a handler's params, or answer the error and return.
macro_rules! params_or_answer {
    ($hub:expr, $call:expr, $ty:ty) => {
        match $call.params::<$ty>() {
            Ok(params) => params,
            Err(error) => return $hub.out.respond_error($call.conn, $call.id, &error),
        }
    };
}

pub(crate) mod absent_features;
mod agent;
mod chat;
pub(crate) mod config;
mod devices;
pub(crate) mod exec_approval;
mod logs;
mod node_approvals;
pub(crate) mod node_invoke;
mod nodes;
mod scope_upgrade;
mod sessions;
mod system;

use crate::time::Timestamp;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use super::effects::Effects;
use super::exec_approvals::ExecApprovals;
use super::health::HealthState;
use super::outbox::Outbox;
use super::pairing::hub::AfterWrite;
use super::pairing::upgrades::Upgrades;
use super::pairing::{PairingBook, PairingChange};
use super::presence_state::PresenceState;
use super::registry::{Access, MethodSpec};
use super::{Clock, Config};
use crate::ids::Rng;
use crate::server::{Scope, Session};
use crate::wire::json::top_level_props;
use crate::wire::{ErrorCode, ErrorShape, Schema};
use crate::ConnId;

pub(crate) use logs::answer as answer_logs;
pub use logs::{LOGS_DEFAULT_LIMIT, LOGS_DEFAULT_MAX_BYTES, LOGS_MAX_BYTES, LOGS_MAX_LIMIT};

/// What a handler may use: the components and the outbox.
pub(crate) struct HubView<'a> {
    pub(crate) config: &'a Config,
    pub(crate) clock: Clock,
    pub(crate) now: Timestamp,
    pub(crate) presence: &'a mut PresenceState,
    pub(crate) health: &'a HealthState,
    pub(crate) effects: &'a mut Effects,
    pub(crate) pairing: &'a mut PairingBook,
    /// Ids and tokens for pairing.
    pub(crate) rng: &'a mut Rng,
    /// Pairing writes the handler asked for; the hub starts them after it.
    pub(crate) pairing_commits: &'a mut Vec<PairingCommit>,
    pub(crate) upgrades: &'a mut Upgrades,
    pub(crate) nodes: &'a mut super::nodes::Nodes,
    /// Exec approvals waiting for an operator.
    pub(crate) exec_approvals: &'a mut ExecApprovals,
    /// Sessions, runs and their waiters.
    pub(crate) agents: &'a mut super::agents::Agents,
    pub(crate) write_budget: &'a mut super::write_budget::WriteBudget,
    pub(crate) out: Outbox<'a>,
}

/// A pairing change a handler made: store `changes`, then do `after`; if
/// the write cannot be queued, the book goes back to `before`.
pub(crate) struct PairingCommit {
    pub(crate) changes: Vec<PairingChange>,
    pub(crate) after: AfterWrite,
    pub(crate) before: PairingBook,
}

impl HubView<'_> {
    pub(crate) fn commit_pairing(
        &mut self,
        changes: Vec<PairingChange>,
        after: AfterWrite,
        before: PairingBook,
    ) {
        self.pairing_commits.push(PairingCommit {
            changes,
            after,
            before,
        });
    }

    /// Start a read the runtime performs for `call` (the answer comes with
    /// the effect's result, or a timeout); when too many are under way,
    /// answer UNAVAILABLE with a short retry hint instead.
    pub(crate) fn start_read(
        &mut self,
        call: &Call<'_>,
        effect: impl FnOnce(u64) -> super::Effect,
    ) {
        let request = super::effects::Request::read_for(call.conn, call.id);
        match self.effects.start(request, self.now, effect) {
            Ok(Some(effect)) => self.out.effect(effect),
            Ok(None) => {}
            Err(_) => {
                let error = ErrorShape::new(ErrorCode::Unavailable, "too many reads in flight")
                    .with_retry_after(100);
                self.out.respond_error(call.conn, call.id, &error);
            }
        }
    }
}

/// One authorized request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call<'r> {
    pub(crate) conn: ConnId,
    pub(crate) id: &'r str,
    pub(crate) method: &'r str,
    pub(crate) params: Option<&'r RawValue>,
    pub(crate) session: Session,
}

impl Call<'_> {
    /// Decode the params (already checked against the spec's schema);
    /// absent params decode as an empty object. For an object schema only
    /// the properties it describes are decoded, a repeated one taking its
    /// last value (as `JSON.parse` does): the rest of a peer's JSON is
    /// never turned into a tree.
    pub(crate) fn params<T: DeserializeOwned>(&self) -> Result<T, ErrorShape> {
        let text = self.params.map_or("{}", RawValue::get);
        let invalid =
            |e: String| ErrorShape::invalid_request(format!("invalid {} params: {e}", self.method));
        let rules = match super::registry::method(self.method).and_then(|spec| spec.params) {
            Some(Schema::Object(rules)) => rules,
            _ => return serde_json::from_str(text).map_err(|e| invalid(e.to_string())),
        };
        let props = top_level_props(text).ok_or_else(|| invalid("must be object".to_owned()))?;
        let mut known = serde_json::Map::new();
        for (key, raw) in props {
            if rules.properties.iter().any(|p| p.name == key) {
                let value: Value =
                    serde_json::from_str(raw.get()).map_err(|e| invalid(e.to_string()))?;
                known.insert(key.into_owned(), value);
            }
        }
        serde_json::from_value(Value::Object(known)).map_err(|e| invalid(e.to_string()))
    }
}

pub(crate) type Handler = fn(&mut HubView<'_>, &Call<'_>);

/// Every served method, in the order `features.methods` lists them.
pub(crate) static METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: "health",
        access: Access::Anyone,
        params: None,
        handler: system::health,
    },
    MethodSpec {
        name: "status",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: system::status,
    },
    MethodSpec {
        name: "system-presence",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: system::system_presence,
    },
    MethodSpec {
        name: "system-event",
        access: Access::Operator(Scope::Admin),
        params: Some(&system::SYSTEM_EVENT_PARAMS),
        handler: system::system_event,
    },
    MethodSpec {
        name: "last-heartbeat",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: system::last_heartbeat,
    },
    MethodSpec {
        name: "device.pair.list",
        access: Access::Operator(Scope::Pairing),
        params: Some(&devices::LIST_PARAMS),
        handler: devices::pair_list,
    },
    MethodSpec {
        name: "device.pair.approve",
        access: Access::Operator(Scope::Pairing),
        params: Some(&devices::REQUEST_ID_PARAMS),
        handler: devices::pair_approve,
    },
    MethodSpec {
        name: "device.pair.reject",
        access: Access::Operator(Scope::Pairing),
        params: Some(&devices::REQUEST_ID_PARAMS),
        handler: devices::pair_reject,
    },
    MethodSpec {
        name: "device.pair.remove",
        access: Access::Operator(Scope::Pairing),
        params: Some(&devices::DEVICE_ID_PARAMS),
        handler: devices::pair_remove,
    },
    MethodSpec {
        name: "device.pair.rename",
        access: Access::Operator(Scope::Pairing),
        params: Some(&devices::RENAME_PARAMS),
        handler: devices::pair_rename,
    },
    MethodSpec {
        name: "device.token.rotate",
        access: Access::Operator(Scope::Pairing),
        params: Some(&devices::ROTATE_PARAMS),
        handler: devices::token_rotate,
    },
    MethodSpec {
        name: "device.token.revoke",
        access: Access::Operator(Scope::Pairing),
        params: Some(&devices::REVOKE_PARAMS),
        handler: devices::token_revoke,
    },
    MethodSpec {
        name: "device.scopes.requestUpgrade",
        access: Access::Anyone,
        params: Some(&scope_upgrade::REQUEST_PARAMS),
        handler: scope_upgrade::request_upgrade,
    },
    MethodSpec {
        name: "device.scopes.waitUpgrade",
        access: Access::Anyone,
        params: Some(&scope_upgrade::WAIT_PARAMS),
        handler: scope_upgrade::wait_upgrade,
    },
    MethodSpec {
        name: "node.pair.list",
        access: Access::Operator(Scope::Pairing),
        params: Some(&nodes::LIST_PARAMS),
        handler: nodes::pair_list,
    },
    MethodSpec {
        name: "node.pair.approve",
        access: Access::Operator(Scope::Pairing),
        params: Some(&nodes::REQUEST_ID_PARAMS),
        handler: nodes::pair_approve,
    },
    MethodSpec {
        name: "node.pair.reject",
        access: Access::Operator(Scope::Pairing),
        params: Some(&nodes::REQUEST_ID_PARAMS),
        handler: nodes::pair_reject,
    },
    MethodSpec {
        name: "node.pair.remove",
        access: Access::Operator(Scope::Pairing),
        params: Some(&nodes::NODE_ID_PARAMS),
        handler: nodes::pair_remove,
    },
    MethodSpec {
        name: "node.rename",
        access: Access::Operator(Scope::Pairing),
        params: Some(&nodes::RENAME_PARAMS),
        handler: nodes::rename,
    },
    MethodSpec {
        name: "node.list",
        access: Access::Operator(Scope::Read),
        params: Some(&nodes::LIST_PARAMS),
        handler: nodes::list,
    },
    MethodSpec {
        name: "node.describe",
        access: Access::Operator(Scope::Read),
        params: Some(&nodes::NODE_ID_PARAMS),
        handler: nodes::describe,
    },
    MethodSpec {
        name: "node.invoke",
        access: Access::OperatorDynamic(node_invoke::invoke_scope),
        params: Some(&node_invoke::INVOKE_PARAMS),
        handler: node_invoke::invoke,
    },
    MethodSpec {
        name: "node.invoke.progress",
        access: Access::Node,
        params: Some(&node_invoke::PROGRESS_PARAMS),
        handler: node_invoke::invoke_progress,
    },
    MethodSpec {
        name: "node.invoke.result",
        access: Access::Node,
        params: Some(&node_invoke::RESULT_PARAMS),
        handler: node_invoke::invoke_result,
    },
    MethodSpec {
        name: "node.event",
        access: Access::Node,
        params: Some(&node_invoke::EVENT_PARAMS),
        handler: node_invoke::node_event,
    },
    MethodSpec {
        name: "node.pluginTools.update",
        access: Access::Node,
        params: Some(&nodes::PLUGIN_TOOLS_PARAMS),
        handler: nodes::plugin_tools_update,
    },
    MethodSpec {
        name: "node.skills.update",
        access: Access::Node,
        params: Some(&nodes::SKILLS_PARAMS),
        handler: nodes::skills_update,
    },
    MethodSpec {
        name: "node.runnerInventory.update",
        access: Access::Node,
        params: None,
        handler: nodes::runner_inventory_update,
    },
    MethodSpec {
        name: "exec.approvals.get",
        access: Access::Operator(Scope::Admin),
        params: Some(&nodes::LIST_PARAMS),
        handler: node_approvals::approvals_get,
    },
    MethodSpec {
        name: "exec.approvals.node.get",
        access: Access::Operator(Scope::Admin),
        params: Some(&nodes::NODE_ID_PARAMS),
        handler: node_approvals::approvals_node_get,
    },
    MethodSpec {
        name: "exec.approvals.node.set",
        access: Access::Operator(Scope::Admin),
        params: Some(&node_approvals::APPROVALS_SET_PARAMS),
        handler: node_approvals::approvals_node_set,
    },
    MethodSpec {
        name: "logs.tail",
        access: Access::Operator(Scope::Read),
        params: Some(&logs::LOGS_TAIL_PARAMS),
        handler: logs::logs_tail,
    },
    MethodSpec {
        name: "exec.approval.get",
        access: Access::Operator(Scope::Approvals),
        params: Some(&exec_approval::GET_PARAMS),
        handler: exec_approval::get,
    },
    MethodSpec {
        name: "exec.approval.list",
        access: Access::Operator(Scope::Approvals),
        params: None,
        handler: exec_approval::list,
    },
    MethodSpec {
        name: "exec.approval.request",
        access: Access::OperatorOrNode(Scope::Approvals),
        params: Some(&exec_approval::REQUEST_PARAMS),
        handler: exec_approval::request,
    },
    MethodSpec {
        name: "exec.approval.waitDecision",
        access: Access::OperatorOrNode(Scope::Approvals),
        params: None,
        handler: exec_approval::wait_decision,
    },
    MethodSpec {
        name: "exec.approval.resolve",
        access: Access::Operator(Scope::Approvals),
        params: Some(&exec_approval::RESOLVE_PARAMS),
        handler: exec_approval::resolve,
    },
    MethodSpec {
        name: "agent",
        access: Access::OperatorDynamic(agent::agent_scope),
        params: Some(&agent::AGENT_PARAMS),
        handler: agent::agent,
    },
    MethodSpec {
        name: "agent.wait",
        access: Access::Operator(Scope::Write),
        params: Some(&agent::WAIT_PARAMS),
        handler: agent::agent_wait,
    },
    MethodSpec {
        name: "agent.identity.get",
        access: Access::Operator(Scope::Read),
        params: Some(&agent::IDENTITY_PARAMS),
        handler: agent::identity_get,
    },
    MethodSpec {
        name: "agents.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: agent::agents_list,
    },
    MethodSpec {
        name: "models.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: agent::models_list,
    },
    MethodSpec {
        name: "send",
        access: Access::Operator(Scope::Write),
        params: Some(&agent::SEND_PARAMS),
        handler: agent::send,
    },
    MethodSpec {
        name: "chat.send",
        access: Access::Operator(Scope::Write),
        params: Some(&chat::SEND_PARAMS),
        handler: chat::send,
    },
    MethodSpec {
        name: "chat.abort",
        access: Access::Operator(Scope::Write),
        params: Some(&chat::ABORT_PARAMS),
        handler: chat::abort,
    },
    MethodSpec {
        name: "chat.history",
        access: Access::Operator(Scope::Read),
        params: Some(&chat::HISTORY_PARAMS),
        handler: chat::history,
    },
    MethodSpec {
        name: "sessions.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: sessions::list,
    },
    MethodSpec {
        name: "sessions.subscribe",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: sessions::subscribe,
    },
    MethodSpec {
        name: "sessions.unsubscribe",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: sessions::unsubscribe,
    },
    MethodSpec {
        name: "sessions.patch",
        access: Access::OperatorDynamic(sessions::patch_scope),
        params: None,
        handler: sessions::patch,
    },
    MethodSpec {
        name: "sessions.reset",
        access: Access::Operator(Scope::Admin),
        params: None,
        handler: sessions::reset,
    },
    MethodSpec {
        name: "sessions.delete",
        access: Access::OperatorDynamic(sessions::delete_scope),
        params: None,
        handler: sessions::delete,
    },
    MethodSpec {
        name: "sessions.preview",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: sessions::preview,
    },
    MethodSpec {
        name: "sessions.describe",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: sessions::describe,
    },
    MethodSpec {
        name: "config.get",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: config::get,
    },
    MethodSpec {
        name: "config.set",
        access: Access::Operator(Scope::Admin),
        params: Some(&config::SET_PARAMS),
        handler: config::set,
    },
    MethodSpec {
        name: "config.apply",
        access: Access::Operator(Scope::Admin),
        params: Some(&config::PATCH_PARAMS),
        handler: config::apply,
    },
    MethodSpec {
        name: "config.patch",
        access: Access::Operator(Scope::Admin),
        params: Some(&config::PATCH_PARAMS),
        handler: config::patch,
    },
    MethodSpec {
        name: "config.schema",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: config::schema,
    },
    MethodSpec {
        name: "config.schema.lookup",
        access: Access::Operator(Scope::Read),
        params: Some(&config::LOOKUP_PARAMS),
        handler: config::schema_lookup,
    },
    // What the Control UI calls on its pages; for features this gateway does
    // not have, the answer says none exists (see absent_features.rs).
    MethodSpec {
        name: "chat.startup",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: chat::history,
    },
    MethodSpec {
        name: "chat.metadata",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::chat_metadata,
    },
    MethodSpec {
        name: "sessions.messages.subscribe",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::messages_subscribe,
    },
    MethodSpec {
        name: "sessions.observer.visibility",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::observer_visibility,
    },
    MethodSpec {
        name: "sessions.branches.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::branches_list,
    },
    MethodSpec {
        name: "sessions.companion.state",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::companion_state,
    },
    MethodSpec {
        name: "models.authStatus",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::models_auth_status,
    },
    MethodSpec {
        name: "update.status",
        access: Access::Operator(Scope::Admin),
        params: None,
        handler: absent_features::update_status,
    },
    MethodSpec {
        name: "plugin.approval.list",
        access: Access::Operator(Scope::Approvals),
        params: None,
        handler: absent_features::empty_list,
    },
    MethodSpec {
        name: "openclaw.approval.list",
        access: Access::Operator(Scope::Approvals),
        params: None,
        handler: absent_features::empty_list,
    },
    MethodSpec {
        name: "question.list",
        access: Access::Operator(Scope::Questions),
        params: None,
        handler: absent_features::question_list,
    },
    MethodSpec {
        name: "cron.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::cron_list,
    },
    MethodSpec {
        name: "cron.status",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::cron_status,
    },
    MethodSpec {
        name: "talk.catalog",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::talk_catalog,
    },
    MethodSpec {
        name: "progressCard.get",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::progress_card,
    },
    MethodSpec {
        name: "tasks.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::tasks_list,
    },
    MethodSpec {
        name: "users.prefs.get",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::user_prefs,
    },
    MethodSpec {
        name: "sessions.groups.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::groups_list,
    },
    MethodSpec {
        name: "sessions.groups.defaults",
        access: Access::Operator(Scope::Write),
        params: None,
        handler: absent_features::groups_defaults,
    },
    MethodSpec {
        name: "taskSuggestions.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::task_suggestions,
    },
    MethodSpec {
        name: "session.discussion.info",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::discussion_info,
    },
    MethodSpec {
        name: "sessions.catalog.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::catalog_list,
    },
    MethodSpec {
        name: "controlUi.sessionPullRequests.subscribe",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::pull_requests_subscribe,
    },
    MethodSpec {
        name: "sessions.viewers.set",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::viewers_set,
    },
    MethodSpec {
        name: "environments.list",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::environments_list,
    },
    MethodSpec {
        name: "system.info",
        access: Access::Operator(Scope::Read),
        params: None,
        handler: absent_features::system_info,
    },
];
