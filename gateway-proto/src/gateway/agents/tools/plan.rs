//! From a model's tool call to what must happen: check the arguments as
//! the tool's schema says, confine paths to the workspace, and name the
//! work (a runtime action, an exec on the gateway or a node, a node query)
//! or the error the model gets back at once.

use serde_json::{json, Map, Value};

use super::action::{ToolAction, ToolOutcome};
use super::paths::confine;
use super::settings::{ExecAsk, ExecHost, ToolSettings};
use crate::gateway::agents::model::ToolCall;

/// `ls` lists this many entries when the call gives no limit.
pub const DEFAULT_LS_LIMIT: usize = 500;
/// The most entries one `ls` lists.
pub const MAX_LS_LIMIT: usize = 5_000;
/// `exec`'s time limit when neither the call nor the config gives one.
pub const DEFAULT_EXEC_TIMEOUT_SECONDS: u64 = 1_800;
/// The longest any exec may run (a `timeoutSeconds` of 0 means this).
pub const MAX_EXEC_TIMEOUT_SECONDS: u64 = 24 * 3_600;

/// What a call needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Nothing to run: the model gets this result now.
    Done(ToolOutcome),
    /// A file action in the workspace, done by the runtime.
    Workspace(ToolAction),
    /// `exec` on the gateway host.
    GatewayExec {
        command: String,
        cwd: String,
        timeout_ms: u64,
        ask: bool,
    },
    /// `exec` on a node.
    NodeExec {
        node: Option<String>,
        command: String,
        cwd: Option<String>,
        timeout_ms: u64,
        ask: bool,
    },
    /// The `nodes` tool.
    Nodes(NodesRequest),
}

/// What the `nodes` tool asks.
#[derive(Clone, Debug, PartialEq)]
pub enum NodesRequest {
    Status,
    Describe {
        node: String,
    },
    Which {
        node: String,
        bins: Vec<String>,
    },
    Invoke {
        node: String,
        command: String,
        params: Value,
        timeout_ms: Option<u64>,
    },
}

/// The tool names this gateway knows, as the reference spells them.
const NAMES: &[&str] = &["edit", "exec", "ls", "nodes", "read", "write"];

/// The tool's canonical name (names match regardless of case, as in the
/// reference), or `None` for a tool this gateway does not have.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .copied()
        .find(|n| n.eq_ignore_ascii_case(name.trim()))
}

/// The arguments of `call` as an object (`{}` when they are not one).
pub fn arguments(call: &ToolCall) -> Value {
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => Value::Object(Map::new()),
    }
}

/// The error result the reference gives a tool that failed: its facts as
/// pretty JSON, and the same as details.
pub fn error_outcome(tool: &str, message: &str) -> ToolOutcome {
    let details = json!({"status": "error", "tool": tool, "error": message});
    let text = serde_json::to_string_pretty(&details).unwrap_or_else(|_| message.to_owned());
    ToolOutcome {
        text,
        is_error: true,
        details,
    }
}

/// What `call` needs. `root` is the workspace; `may_raise_ask` says whether
/// the call's own `ask` is honoured (a chat message cannot make exec
/// stricter or looser than the host's policy, as in the reference).
pub fn plan(call: &ToolCall, root: &str, settings: &ToolSettings, may_raise_ask: bool) -> Plan {
    let Some(name) = canonical_name(&call.name) else {
        return Plan::Done(ToolOutcome {
            text: format!("Tool {} not found", call.name),
            is_error: true,
            details: json!({}),
        });
    };
    let args = match serde_json::from_str::<Value>(&call.arguments) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) if call.arguments.trim().is_empty() => Map::new(),
        Ok(other) => return invalid(name, "(root): must be object", &other),
        Err(_) => {
            let raw = Value::String(call.arguments.clone());
            return invalid(name, "(root): arguments are not valid JSON", &raw);
        }
    };
    let checked = match name {
        "read" => plan_read(&args, root),
        "write" => plan_write(&args, root),
        "edit" => plan_edit(&args, root),
        "ls" => plan_ls(&args, root),
        "exec" => plan_exec(&args, root, settings, may_raise_ask),
        _ => plan_nodes(&args),
    };
    match checked {
        Ok(plan) => plan,
        Err(Problem::Invalid(problem)) => invalid(name, &problem, &Value::Object(args)),
        Err(Problem::Refused(message)) => Plan::Done(error_outcome(name, &message)),
    }
}

enum Problem {
    /// The arguments do not fit the schema.
    Invalid(String),
    /// They fit, but the call may not run (a path outside the workspace).
    Refused(String),
}

fn invalid(tool: &str, problem: &str, args: &Value) -> Plan {
    let shown = serde_json::to_string_pretty(args).unwrap_or_default();
    Plan::Done(ToolOutcome {
        text: format!(
            "Validation failed for tool \"{tool}\":\n  - {problem}\n\nReceived arguments:\n{shown}"
        ),
        is_error: true,
        details: json!({}),
    })
}

fn required_str<'a>(args: &'a Map<String, Value>, key: &str) -> Result<&'a str, Problem> {
    match args.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Problem::Invalid(format!("{key}: must be string"))),
        None => Err(Problem::Invalid(format!(
            "{key}: must have required properties {key}"
        ))),
    }
}

fn optional_str<'a>(args: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Problem> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Problem::Invalid(format!("{key}: must be string"))),
    }
}

/// A non-negative whole number (a fraction is cut).
fn optional_count(args: &Map<String, Value>, key: &str) -> Result<Option<u64>, Problem> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
            _ => Err(Problem::Invalid(format!("{key}: must be >= 0"))),
        },
        Some(_) => Err(Problem::Invalid(format!("{key}: must be number"))),
    }
}

fn in_workspace(root: &str, path: &str) -> Result<String, Problem> {
    confine(root, path).map_err(Problem::Refused)
}

fn plan_read(args: &Map<String, Value>, root: &str) -> Result<Plan, Problem> {
    let path = in_workspace(root, required_str(args, "path")?)?;
    let offset = optional_count(args, "offset")?;
    if offset == Some(0) {
        return Err(Problem::Invalid("offset: must be >= 1".into()));
    }
    Ok(Plan::Workspace(ToolAction::Read {
        path,
        offset,
        limit: optional_count(args, "limit")?.filter(|l| *l > 0),
        cursor: optional_count(args, "cursor")?,
    }))
}

fn plan_write(args: &Map<String, Value>, root: &str) -> Result<Plan, Problem> {
    let path = in_workspace(root, required_str(args, "path")?)?;
    // The reference writes a number or boolean as its text.
    let content = match args.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        Some(_) => return Err(Problem::Invalid("content: must be string".into())),
        None => {
            return Err(Problem::Invalid(
                "content: must have required properties content".into(),
            ))
        }
    };
    if content.len() > super::MAX_WRITE_BYTES {
        return Err(Problem::Refused(format!(
            "content is {} bytes; the most one write may store is {} bytes",
            content.len(),
            super::MAX_WRITE_BYTES
        )));
    }
    Ok(Plan::Workspace(ToolAction::Write { path, content }))
}

fn plan_edit(args: &Map<String, Value>, root: &str) -> Result<Plan, Problem> {
    let path = in_workspace(root, required_str(args, "path")?)?;
    let Some(edits) = args.get("edits") else {
        return Err(Problem::Invalid(
            "edits: must have required properties edits".into(),
        ));
    };
    let Some(list) = edits.as_array() else {
        return Err(Problem::Invalid("edits: must be array".into()));
    };
    if list.is_empty() {
        return Err(Problem::Invalid(
            "edits: must NOT have fewer than 1 items".into(),
        ));
    }
    let mut pairs = Vec::with_capacity(list.len());
    for (i, edit) in list.iter().enumerate() {
        let Some(edit) = edit.as_object() else {
            return Err(Problem::Invalid(format!("edits/{i}: must be object")));
        };
        let old = required_str(edit, "oldText").map_err(|p| nest(p, i))?;
        let new = required_str(edit, "newText").map_err(|p| nest(p, i))?;
        if old.is_empty() {
            return Err(Problem::Invalid(format!(
                "edits/{i}/oldText: must NOT have fewer than 1 characters"
            )));
        }
        pairs.push((old.to_owned(), new.to_owned()));
    }
    Ok(Plan::Workspace(ToolAction::Edit { path, edits: pairs }))
}

fn nest(problem: Problem, index: usize) -> Problem {
    match problem {
        Problem::Invalid(text) => Problem::Invalid(format!("edits/{index}/{text}")),
        other => other,
    }
}

fn plan_ls(args: &Map<String, Value>, root: &str) -> Result<Plan, Problem> {
    let path = in_workspace(root, optional_str(args, "path")?.unwrap_or("."))?;
    let limit = optional_count(args, "limit")?
        .filter(|l| *l > 0)
        .map_or(DEFAULT_LS_LIMIT, |l| (l as usize).min(MAX_LS_LIMIT));
    let after = optional_str(args, "after")?.map(str::to_owned);
    Ok(Plan::Workspace(ToolAction::List { path, limit, after }))
}

fn plan_exec(
    args: &Map<String, Value>,
    root: &str,
    settings: &ToolSettings,
    may_raise_ask: bool,
) -> Result<Plan, Problem> {
    let command = required_str(args, "command")?;
    if command.trim().is_empty() {
        return Err(Problem::Invalid(
            "command: must NOT have fewer than 1 characters".into(),
        ));
    }
    let workdir = optional_str(args, "workdir")?.filter(|w| !w.is_empty());
    if workdir.is_some_and(|w| w.trim().is_empty()) {
        return Err(Problem::Refused(
            "workdir must not be only whitespace".into(),
        ));
    }
    let seconds = match optional_count(args, "timeoutSeconds")? {
        Some(0) => MAX_EXEC_TIMEOUT_SECONDS,
        Some(s) => s.min(MAX_EXEC_TIMEOUT_SECONDS),
        None => match settings.exec_timeout_seconds {
            Some(0) => MAX_EXEC_TIMEOUT_SECONDS,
            Some(s) => s.min(MAX_EXEC_TIMEOUT_SECONDS),
            None => DEFAULT_EXEC_TIMEOUT_SECONDS,
        },
    };
    let timeout_ms = seconds * 1000;
    let ask_raised = may_raise_ask && optional_str(args, "ask")? == Some("always");
    let ask = ask_raised || settings.exec_ask == ExecAsk::Always;
    let host = match optional_str(args, "host")?.map(str::trim) {
        None | Some("") | Some("auto") => settings.exec_host,
        Some("gateway") => ExecHost::Gateway,
        Some("node") => ExecHost::Node,
        Some("sandbox") => {
            return Err(Problem::Refused(
                "host=sandbox is not available: this gateway has no sandbox runtime".into(),
            ))
        }
        Some(other) => {
            return Err(Problem::Invalid(format!(
                "host: must be equal to one of the allowed values (got {other})"
            )))
        }
    };
    let command = command.to_owned();
    Ok(match host {
        ExecHost::Gateway => Plan::GatewayExec {
            cwd: in_workspace(root, workdir.unwrap_or("."))?,
            command,
            timeout_ms,
            ask,
        },
        ExecHost::Node => Plan::NodeExec {
            node: optional_str(args, "node")?
                .map(str::to_owned)
                .or_else(|| settings.exec_node.clone()),
            command,
            cwd: workdir.map(str::to_owned),
            timeout_ms,
            ask: ask_raised,
        },
    })
}

fn plan_nodes(args: &Map<String, Value>) -> Result<Plan, Problem> {
    let action = required_str(args, "action")?;
    let node = || required_str(args, "node").map(str::to_owned);
    let request = match action {
        "status" => NodesRequest::Status,
        "describe" => NodesRequest::Describe { node: node()? },
        "which" => {
            let bins = match args.get("bins") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
                _ => {
                    return Err(Problem::Invalid(
                        "bins: must have required properties bins".into(),
                    ))
                }
            };
            NodesRequest::Which {
                node: node()?,
                bins,
            }
        }
        "invoke" => {
            let command = required_str(args, "invokeCommand")?.trim().to_owned();
            if matches!(command.as_str(), "system.run" | "system.run.prepare") {
                return Err(Problem::Refused(format!(
                    "invokeCommand \"{command}\" is reserved for shell execution; use exec with host=node instead"
                )));
            }
            let params = match optional_str(args, "invokeParamsJson")?.map(str::trim) {
                None | Some("") => json!({}),
                Some(text) => serde_json::from_str(text).map_err(|_| {
                    Problem::Refused("invokeParamsJson is not valid JSON".to_owned())
                })?,
            };
            NodesRequest::Invoke {
                node: node()?,
                command,
                params,
                timeout_ms: optional_count(args, "invokeTimeoutMs")?,
            }
        }
        other => {
            return Err(Problem::Invalid(format!(
                "action: must be equal to one of the allowed values (got {other})"
            )))
        }
    };
    Ok(Plan::Nodes(request))
}
