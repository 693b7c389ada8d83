//! The `nodes` subcommands: each resolves the target, makes its calls and
//! prints what the reference prints.

use serde_json::{json, Map, Value};

use super::super::call::target_or_exit;
use super::super::devices::call::{call, Failure};
use super::super::devices::table::terminal_width;
use super::super::devices::Common;
use super::super::print;
use super::super::target::Target;
use super::render::{self, Hints, Theme};
use super::resolve::resolve_node_id;
use super::{
    ApproveArgs, DescribeArgs, InvokeArgs, ListArgs, NodesCmd, NodesSub, PendingArgs, RejectArgs,
    RemoveArgs, RenameArgs, StatusArgs,
};

const PAIRING: &str = "operator.pairing";
const READ: &str = "operator.read";
/// Direct invocation of these is refused: shell execution goes through the
/// agent's exec tool (`system.which` is allowed).
const BLOCKED_COMMANDS: [&str; 2] = ["system.run", "system.run.prepare"];

pub fn run_nodes(cmd: NodesCmd) -> i32 {
    match cmd.command {
        NodesSub::List(a) => run(&a.common(), "list", |t, c| list(t, c, &a)),
        NodesSub::Pending(a) => run(&a.common(), "pending", |t, c| pending(t, c, &a)),
        NodesSub::Status(a) => run(&a.common(), "status", |t, c| status(t, c, &a)),
        NodesSub::Describe(a) => run(&a.common(), "describe", |t, c| describe(t, c, &a)),
        NodesSub::Invoke(a) => run(&a.common(), "invoke", |t, c| invoke(t, c, &a)),
        NodesSub::Approve(a) => run(&a.common(), "approve", |t, c| approve(t, c, &a)),
        NodesSub::Reject(a) => run(&a.common(), "reject", |t, c| reject(t, c, &a)),
        NodesSub::Rename(a) => run(&a.common(), "rename", |t, c| rename(t, c, &a)),
        NodesSub::Remove(a) => run(&a.common(), "remove", |t, c| remove(t, c, &a)),
    }
}

/// Why a command failed: the text after `nodes <command> failed: `.
type Outcome = Result<(), String>;

/// The commands whose stdout is JSON even without `--json` (the
/// reference's "machine output" nodes commands): their failures are JSON too.
const MACHINE_OUTPUT: [&str; 3] = ["invoke", "approve", "reject"];

fn run(common: &Common, label: &str, action: impl FnOnce(&Target, &Common) -> Outcome) -> i32 {
    let target = match target_or_exit(
        common.url.as_deref(),
        common.token.as_deref(),
        None,
        common.json,
    ) {
        Ok(t) => t,
        Err(code) => return code,
    };
    match action(&target, common) {
        Ok(()) => 0,
        Err(message) if common.json || MACHINE_OUTPUT.contains(&label) => report_failure(&message),
        Err(message) => {
            let text = format!("nodes {label} failed: {message}");
            eprintln!("{}", print::paint(&text, "31", Theme::detect().color));
            1
        }
    }
}

/// A failed machine-output command as the reference reports it (observed):
/// a JSON error on stdout, the reason on stderr; exit 1.
fn report_failure(message: &str) -> i32 {
    // Written by hand to keep the reference's key order.
    let message_json = serde_json::to_string(message).unwrap_or_else(|_| "\"\"".into());
    print::line(&format!(
        "{{\n  \"ok\": false,\n  \"error\": {{\n    \"type\": \"cli_error\",\n    \"message\": {message_json}\n  }}\n}}"
    ));
    eprintln!("[openclaw] The CLI command failed.");
    eprintln!("[openclaw] Reason: {message}");
    eprintln!("[openclaw] Debug: set OPENCLAW_DEBUG=1 to include the stack trace.");
    eprintln!("[openclaw] Try: openclaw doctor");
    eprintln!("[openclaw] Help: openclaw --help");
    1
}

fn failure_text(failure: &Failure) -> String {
    failure.message()
}

fn gateway(
    target: &Target,
    common: &Common,
    method: &str,
    params: Value,
    scopes: &[&str],
) -> Result<Value, String> {
    let scopes = Some(scopes.iter().map(|s| (*s).to_owned()).collect());
    call(target, common, method, params, scopes).map_err(|f| failure_text(&f))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn hints(common: &Common) -> Hints {
    Hints {
        url: common.url.clone(),
        token: common.token.clone(),
        timeout: common.timeout,
    }
}

fn array(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn has_text(row: &Value, key: &str) -> bool {
    row.get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// `node.pair.list` as `(pending, paired)`, rows without their ids dropped.
fn pairing_list(
    target: &Target,
    common: &Common,
    scopes: &[&str],
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let list = gateway(target, common, "node.pair.list", json!({}), scopes)?;
    let pending = array(&list, "pending")
        .into_iter()
        .filter(|r| has_text(r, "requestId") && has_text(r, "nodeId"))
        .collect();
    let paired = array(&list, "paired")
        .into_iter()
        .filter(|r| has_text(r, "nodeId"))
        .collect();
    Ok((pending, paired))
}

/// `node.list` with the pairing details when this CLI may see them.
fn node_list(target: &Target, common: &Common) -> Result<Value, String> {
    gateway(target, common, "node.list", json!({}), &[READ, PAIRING])
}

/// `24h`, `7d`, `1h30m`, `500` (ms) as milliseconds.
pub fn parse_duration_ms(raw: &str) -> Result<u64, String> {
    let trimmed = raw.trim().to_lowercase();
    let invalid = |reason: Option<&str>| {
        let value = if raw.trim().is_empty() {
            "empty value".to_owned()
        } else {
            format!("\"{raw}\"")
        };
        let prefix = match reason {
            Some(r) => format!("Invalid duration ({r}): {value}."),
            None => format!("Invalid duration: {value}."),
        };
        format!("{prefix} Use values like 500ms, 30s, 5m, 2h, or 1h30m.")
    };
    if trimmed.is_empty() {
        return Err(invalid(Some("empty")));
    }
    let unit_ms = |unit: &str| match unit {
        "ms" | "" => Some(1.0),
        "s" => Some(1_000.0),
        "m" => Some(60_000.0),
        "h" => Some(3_600_000.0),
        "d" => Some(86_400_000.0),
        _ => None,
    };
    let mut total = 0.0;
    let mut rest = trimmed.as_str();
    let mut segments = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let value: f64 = number.parse().map_err(|_| invalid(None))?;
        if unit.is_empty() && (segments > 0 || !tail.is_empty()) {
            return Err(invalid(Some("each composite segment needs a unit")));
        }
        total += value * unit_ms(unit).ok_or_else(|| invalid(None))?;
        segments += 1;
        rest = tail;
    }
    Ok(total.round() as u64)
}

fn connection_filter(
    connected_only: bool,
    last_connected: Option<&str>,
) -> Result<impl Fn(&Value, u64) -> bool, String> {
    let since = match last_connected {
        Some(raw) => {
            Some(parse_duration_ms(raw).map_err(|e| format!("Invalid --last-connected: {e}"))?)
        }
        None => None,
    };
    Ok(move |node: &Value, now: u64| {
        if connected_only && node["connected"] != Value::Bool(true) {
            return false;
        }
        let last = node
            .get("lastConnectedAtMs")
            .and_then(Value::as_u64)
            .or_else(|| node.get("connectedAtMs").and_then(Value::as_u64));
        match since {
            None => true,
            Some(ms) => last.is_some_and(|at| now.saturating_sub(at) <= ms),
        }
    })
}

/// A paired row overlaid with the live node's facts (the live view wins,
/// the pairing record fills what it lacks).
fn merge_paired(paired: &[Value], live: Option<&[Value]>) -> Vec<Value> {
    let Some(live) = live else {
        return paired.to_vec();
    };
    let id = |v: &Value| v.get("nodeId").and_then(Value::as_str).map(str::to_owned);
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for node in live {
        let record = paired.iter().find(|p| id(p) == id(node));
        if record.is_none() && node["paired"] != Value::Bool(true) {
            continue;
        }
        if let Some(node_id) = id(node) {
            seen.insert(node_id);
        }
        let mut merged: Map<String, Value> = record
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(live) = node.as_object() {
            merged.extend(live.clone());
        }
        let from = |key: &str| record.and_then(|r| r.get(key)).cloned();
        let live_or_record = |key: &str| {
            node.get(key)
                .filter(|v| !v.is_null())
                .cloned()
                .or_else(|| from(key))
        };
        match from("createdAtMs") {
            Some(v) => merged.insert("createdAtMs".into(), v),
            None => merged.remove("createdAtMs"),
        };
        let last =
            live_or_record("lastConnectedAtMs").or_else(|| node.get("connectedAtMs").cloned());
        for (key, value) in [
            ("lastConnectedAtMs", last),
            ("displayName", live_or_record("displayName")),
            ("platform", live_or_record("platform")),
            ("version", live_or_record("version")),
            ("coreVersion", live_or_record("coreVersion")),
            ("uiVersion", live_or_record("uiVersion")),
            ("remoteIp", live_or_record("remoteIp")),
            ("permissions", live_or_record("permissions")),
            ("approvedAtMs", live_or_record("approvedAtMs")),
        ] {
            match value {
                Some(v) => merged.insert(key.into(), v),
                None => merged.remove(key),
            };
        }
        rows.push(Value::Object(merged));
    }
    rows.extend(
        paired
            .iter()
            .filter(|p| id(p).is_none_or(|i| !seen.contains(&i)))
            .cloned(),
    );
    rows
}

fn list(target: &Target, common: &Common, args: &ListArgs) -> Outcome {
    let keep = connection_filter(args.connected, args.last_connected.as_deref())?;
    let has_filters = args.connected || args.last_connected.is_some();
    let (pending, paired) = pairing_list(target, common, &[PAIRING])?;
    let live = match node_list(target, common) {
        Ok(list) => Some(array(&list, "nodes")),
        Err(e) if has_filters => return Err(e),
        Err(e) => {
            let theme = Theme::detect();
            eprintln!(
                "{}",
                theme.muted(&format!(
                    "live node view unavailable ({e}); showing paired-only data"
                ))
            );
            None
        }
    };
    let rows = merge_paired(&paired, live.as_deref());
    let now = now_ms();
    let filtered: Vec<Value> = rows.iter().filter(|n| keep(n, now)).cloned().collect();
    if common.json {
        let paired: Vec<Value> = filtered
            .into_iter()
            .map(|mut row| {
                if let Some(obj) = row.as_object_mut() {
                    obj.remove("token");
                }
                row
            })
            .collect();
        print::json(&json!({"pending": pending, "paired": paired}));
        return Ok(());
    }
    let of = (has_filters && filtered.len() != rows.len()).then_some(rows.len());
    print::line(&render::list(
        &pending,
        &filtered,
        of,
        now,
        terminal_width(),
        Theme::detect(),
    ));
    Ok(())
}

fn pending(target: &Target, common: &Common, _args: &PendingArgs) -> Outcome {
    let (pending, _) = pairing_list(target, common, &[PAIRING])?;
    let theme = Theme::detect();
    if common.json {
        print::json(&Value::Array(pending));
    } else if pending.is_empty() {
        print::line(&theme.muted("No pending pairing requests."));
    } else {
        print::line(&render::pending_table(
            &pending,
            now_ms(),
            terminal_width(),
            theme,
        ));
    }
    Ok(())
}

fn status(target: &Target, common: &Common, args: &StatusArgs) -> Outcome {
    let keep = connection_filter(args.connected, args.last_connected.as_deref())?;
    let result = node_list(target, common)?;
    let nodes = array(&result, "nodes");
    let now = now_ms();
    let filtered: Vec<Value> = nodes.iter().filter(|n| keep(n, now)).cloned().collect();
    if common.json {
        let mut out = result.as_object().cloned().unwrap_or_default();
        if !out.get("ts").is_some_and(Value::is_number) {
            out.insert("ts".into(), now.into());
        }
        out.insert("nodes".into(), Value::Array(filtered));
        print::json(&Value::Object(out));
        return Ok(());
    }
    let home = std::env::var("HOME").ok();
    let text = render::status(
        &filtered,
        nodes.len(),
        now,
        terminal_width(),
        Theme::detect(),
        &hints(common),
        home.as_deref(),
    );
    print::line(&text);
    Ok(())
}

/// The node id `query` names, looked up in `node.list` (the paired list
/// when the gateway has no `node.list`).
fn resolve_node(
    target: &Target,
    common: &Common,
    query: &str,
    scopes: &[&str],
) -> Result<String, String> {
    let nodes = match gateway(target, common, "node.list", json!({}), scopes) {
        Ok(list) => array(&list, "nodes"),
        Err(e) if e == "unknown method: node.list" => pairing_list(target, common, &[PAIRING])?.1,
        Err(e) => return Err(e),
    };
    resolve_node_id(&nodes, query)
}

fn describe(target: &Target, common: &Common, args: &DescribeArgs) -> Outcome {
    let node_id = resolve_node(target, common, &args.node, &[READ, PAIRING])?;
    let result = gateway(
        target,
        common,
        "node.describe",
        json!({"nodeId": node_id}),
        &[READ, PAIRING],
    )?;
    if common.json {
        print::json(&result);
        return Ok(());
    }
    let text = render::describe(
        &result,
        &node_id,
        now_ms(),
        terminal_width(),
        Theme::detect(),
        &hints(common),
    );
    print::line(&text);
    Ok(())
}

/// A strictly positive integer flag value.
fn positive_integer(raw: &str, flag: &str) -> Result<u64, String> {
    let trimmed = raw.trim();
    let ok = !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit());
    match trimmed.parse::<u64>() {
        Ok(n) if ok && n > 0 => Ok(n),
        _ => Err(format!("{flag} must be a positive integer.")),
    }
}

fn invoke(target: &Target, common: &Common, args: &InvokeArgs) -> Outcome {
    let node_query = args.node.trim();
    let command = args.command.trim();
    if node_query.is_empty() || command.is_empty() {
        return Err("--node and --command required".into());
    }
    if BLOCKED_COMMANDS.contains(&command.to_lowercase().as_str()) {
        return Err(format!(
            "command \"{command}\" is reserved for shell execution; use the exec tool with host=node instead"
        ));
    }
    let params: Value = serde_json::from_str(&args.params)
        .map_err(|_| "--params must be valid JSON.".to_owned())?;
    let invoke_timeout = positive_integer(&args.invoke_timeout, "--invoke-timeout")?;
    if args.idempotency_key.as_deref() == Some("") {
        return Err("--idempotency-key must not be empty.".into());
    }
    let node_id = resolve_node(target, common, node_query, &[READ])?;
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(crate::ids::uuid_v4);
    // The transport waits past the node's own deadline.
    let mut transport = common.clone();
    transport.timeout = common.timeout.max(invoke_timeout + 10_000);
    let params = json!({
        "nodeId": node_id, "command": command, "params": params,
        "idempotencyKey": key, "timeoutMs": invoke_timeout,
    });
    let result = gateway(
        target,
        &transport,
        "node.invoke",
        params,
        &["operator.write"],
    )?;
    print::json(&result);
    Ok(())
}

/// The scopes approving `request` needs: those it declares, else those
/// its commands call for (admin for shell, exec approvals and host access;
/// write for other commands).
pub fn approve_scopes(request: &Value) -> Vec<String> {
    let mut scopes = vec![PAIRING.to_owned()];
    for scope in request["requiredApproveScopes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(s) = scope.as_str() {
            if matches!(s, "operator.write" | "operator.admin") && !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_owned());
            }
        }
    }
    if scopes.len() > 1 {
        return scopes;
    }
    let commands: Vec<&str> = request["commands"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let admin = commands.iter().any(|c| {
        matches!(
            *c,
            "system.run"
                | "system.run.prepare"
                | "system.which"
                | "system.execApprovals.get"
                | "system.execApprovals.set"
                | "fs.listDir"
                | "terminal.upload"
        ) || c.starts_with("browser.proxy")
    });
    if admin {
        scopes.push("operator.admin".into());
    } else if !commands.is_empty() {
        scopes.push("operator.write".into());
    }
    scopes
}

fn unknown_request(request_id: &str, common: &Common, pending: Option<&[String]>) -> String {
    let mut lines = vec![format!("Unknown node pairing requestId: {request_id}")];
    match pending {
        Some([]) => lines.push("No pending node pairing requests are currently visible.".into()),
        Some(ids) => lines.push(format!("Pending requestIds: {}", ids.join(", "))),
        None => {}
    }
    lines.push("Run openclaw nodes pending to inspect current requests.".into());
    if let Some(reminder) = render::connection_reminder(&hints(common)) {
        lines.push(reminder);
    }
    lines.join("\n")
}

fn approve(target: &Target, common: &Common, args: &ApproveArgs) -> Outcome {
    let request_id = args.request_id.as_str();
    let scopes = match pairing_list(target, common, &[PAIRING]) {
        Ok((pending, _)) => {
            let ids: Vec<String> = pending
                .iter()
                .filter_map(|r| r["requestId"].as_str().map(str::to_owned))
                .collect();
            let Some(request) = pending.iter().find(|r| r["requestId"] == request_id) else {
                return Err(unknown_request(request_id, common, Some(&ids)));
            };
            approve_scopes(request)
        }
        Err(_) => vec![PAIRING.to_owned()],
    };
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let result = gateway(
        target,
        common,
        "node.pair.approve",
        json!({"requestId": request_id}),
        &scopes,
    )
    .map_err(|e| {
        if e == "unknown requestId" {
            unknown_request(request_id, common, None)
        } else {
            e
        }
    })?;
    print::json(&result);
    Ok(())
}

fn reject(target: &Target, common: &Common, args: &RejectArgs) -> Outcome {
    let request_id = args.request_id.as_str();
    let result = gateway(
        target,
        common,
        "node.pair.reject",
        json!({"requestId": request_id}),
        &[PAIRING],
    )
    .map_err(|e| {
        if e == "unknown requestId" {
            unknown_request(request_id, common, None)
        } else {
            e
        }
    })?;
    print::json(&result);
    Ok(())
}

fn rename(target: &Target, common: &Common, args: &RenameArgs) -> Outcome {
    let name = args.name.trim();
    if name.is_empty() {
        return Err("--name must not be empty. Run openclaw nodes list to see paired nodes, then rerun with --name <displayName>.".into());
    }
    let node_id = resolve_node(target, common, &args.node, &[READ])?;
    let result = gateway(
        target,
        common,
        "node.rename",
        json!({"nodeId": node_id, "displayName": name}),
        &[PAIRING],
    )?;
    if common.json {
        print::json(&result);
    } else {
        print::line(&Theme::detect().ok(&format!("node rename ok: {node_id} -> {name}")));
    }
    Ok(())
}

fn remove(target: &Target, common: &Common, args: &RemoveArgs) -> Outcome {
    let node_id = resolve_node(target, common, &args.node, &[READ])?;
    let result = gateway(
        target,
        common,
        "node.pair.remove",
        json!({"nodeId": node_id}),
        &[PAIRING],
    )?;
    if common.json {
        print::json(&result);
    } else {
        print::line(&Theme::detect().warn(&format!("Removed paired node {node_id}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_the_reference_parses_them() {
        assert_eq!(parse_duration_ms("24h").unwrap(), 86_400_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms(" 500 ").unwrap(), 500);
        assert_eq!(parse_duration_ms("7D").unwrap(), 604_800_000);
        assert!(parse_duration_ms("abc")
            .unwrap_err()
            .starts_with("Invalid duration: \"abc\"."));
        assert!(parse_duration_ms("")
            .unwrap_err()
            .starts_with("Invalid duration (empty): empty value."));
    }

    #[test]
    fn approval_scopes_follow_the_declared_commands() {
        let admin = json!({"commands": ["system.which", "canvas.navigate"]});
        assert_eq!(
            approve_scopes(&admin),
            ["operator.pairing", "operator.admin"]
        );
        let write = json!({"commands": ["canvas.navigate"]});
        assert_eq!(
            approve_scopes(&write),
            ["operator.pairing", "operator.write"]
        );
        assert_eq!(
            approve_scopes(&json!({"commands": []})),
            ["operator.pairing"]
        );
        let declared = json!({"commands": [], "requiredApproveScopes": ["operator.pairing", "operator.admin", "bogus"]});
        assert_eq!(
            approve_scopes(&declared),
            ["operator.pairing", "operator.admin"]
        );
    }

    #[test]
    fn the_live_view_overlays_the_paired_record() {
        let paired = vec![
            json!({"nodeId": "n1", "displayName": "Old", "createdAtMs": 5, "token": "x"}),
            json!({"nodeId": "n2", "displayName": "Gone"}),
        ];
        let live = vec![
            json!({"nodeId": "n1", "displayName": "New", "connected": true, "connectedAtMs": 9, "createdAtMs": 99}),
            json!({"nodeId": "n3", "paired": false}),
        ];
        let rows = merge_paired(&paired, Some(&live));
        assert_eq!(rows.len(), 2, "unpaired live nodes are left out");
        assert_eq!(rows[0]["displayName"], "New");
        assert_eq!(rows[0]["createdAtMs"], 5, "the record's creation time");
        assert_eq!(rows[0]["lastConnectedAtMs"], 9);
        assert_eq!(rows[1]["nodeId"], "n2");
    }
}
