//! `system.run`: check the request (argv, env overrides), apply the local
//! exec policy (asking the operators through the gateway when it says so),
//! run the command, and answer `{exitCode, timedOut, success, stdout,
//! stderr, error}`.
//!
//! Asking: in `ask` mode an unapproved command makes the node call
//! `exec.approval.request` (`host: "node"`, its own `nodeId`, the command
//! and its plan) and wait for the decision: `allow-once` runs it,
//! `allow-always` also adds the executable to the allowlist, `deny`, no
//! decision (timed out) or a refused request (the reference gateway does not
//! let a node ask) refuse it as the reference node host does. The wait is
//! bounded by the invoke's own deadline, so the caller always gets an answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gateway_proto::client::RequestOptions;
use serde_json::{json, Value};

use super::approvals::{uuid_v4, Approvals};
use super::env;
use super::exec::{self, RunRequest};
use super::invoke::{InvokeFrame, Reply};
use super::policy::{self, Verdict};
use super::which;
use super::NodeLink;

/// Shells whose `-c` text is opaque: only terminal/locale overrides pass.
const SHELL_WRAPPERS: &[&str] = &[
    "ash",
    "bash",
    "csh",
    "dash",
    "elvish",
    "fish",
    "ksh",
    "mksh",
    "nu",
    "osh",
    "sh",
    "tcsh",
    "xonsh",
    "yash",
    "zsh",
    "powershell",
    "pwsh",
    "cmd",
];

/// Kept back from the invoke deadline for the answer to reach the gateway.
const ANSWER_MARGIN: Duration = Duration::from_secs(3);
const MIN_APPROVAL_WAIT: Duration = Duration::from_secs(1);

/// The reference's display form of an argv (quotes around blanks and quotes).
pub fn format_command(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            if arg.is_empty() {
                "\"\"".to_owned()
            } else if arg.chars().any(|c| c.is_whitespace() || c == '"') {
                format!("\"{}\"", arg.replace('"', "\\\""))
            } else {
                arg.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sh -c …`, possibly behind `env`.
fn is_shell_wrapper(argv: &[String]) -> bool {
    let mut rest = argv;
    if rest.first().is_some_and(|a| env::base_name(a) == "env") {
        rest = &rest[1..];
        while rest
            .first()
            .is_some_and(|a| a.starts_with('-') || a.contains('='))
        {
            rest = &rest[1..];
        }
    }
    rest.first()
        .is_some_and(|a| SHELL_WRAPPERS.contains(&env::base_name(a).as_str()))
}

fn text(params: &Value, key: &str) -> Option<String> {
    params
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The executable's absolute path, as the policy matches it.
fn resolve_executable(program: &str, path_env: &str, cwd: Option<&Path>) -> Option<String> {
    if program.contains('/') {
        let candidate = match cwd {
            Some(dir) if !program.starts_with('/') => dir.join(program),
            _ => PathBuf::from(program),
        };
        let real = std::fs::canonicalize(candidate).ok()?;
        return Some(real.display().to_string());
    }
    which::find(program, path_env)
}

/// Everything `system.run` needs, parsed from its params.
struct Parsed {
    argv: Vec<String>,
    command_text: String,
    env: std::collections::BTreeMap<String, String>,
    cwd: Option<String>,
    timeout: Option<Duration>,
    agent_id: Option<String>,
    session_key: Option<String>,
    run_id: String,
}

fn parse(params: &Value) -> Result<Parsed, Reply> {
    let argv: Vec<String> = match params.get("command").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
        _ => return Err(Reply::invalid("command required")),
    };
    let blocked: Vec<String> = {
        let keys = env::dispatch_wrapper_assignments(&argv);
        let as_env: serde_json::Map<String, Value> =
            keys.into_iter().map(|k| (k, Value::from("1"))).collect();
        env::check_overrides(Some(&Value::Object(as_env))).blocked
    };
    if !blocked.is_empty() {
        return Err(Reply::invalid(&format!(
            "SYSTEM_RUN_DENIED: command env assignment rejected (blocked env assignment keys: {})",
            blocked.join(", ")
        )));
    }
    let overrides = env::check_overrides(params.get("env"));
    if let Some(message) = overrides.rejection() {
        return Err(Reply::invalid(&message));
    }
    let accepted = if is_shell_wrapper(&argv) {
        env::for_shell_wrapper(overrides.accepted)
    } else {
        overrides.accepted
    };
    let own = env::own_env();
    let child_env = env::child_env(own.iter().map(|(k, v)| (k.as_str(), v.as_str())), &accepted);
    let timeout = params
        .get("timeoutMs")
        .and_then(Value::as_f64)
        .filter(|ms| *ms > 0.0 && ms.is_finite())
        .map(|ms| Duration::from_millis(ms.ceil() as u64));
    Ok(Parsed {
        command_text: format_command(&argv),
        argv,
        env: child_env,
        cwd: text(params, "cwd"),
        timeout,
        agent_id: text(params, "agentId"),
        session_key: text(params, "sessionKey"),
        run_id: text(params, "runId").unwrap_or_else(uuid_v4),
    })
}

/// Handle one `system.run`; `None` when it was cancelled (no answer is sent).
pub async fn handle(
    link: &NodeLink,
    frame: &InvokeFrame,
    params: &Value,
    cancelled: impl std::future::Future<Output = ()>,
) -> Option<Reply> {
    let parsed = match parse(params) {
        Ok(p) => p,
        Err(reply) => return Some(reply),
    };
    let path_env = parsed
        .env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| which::DEFAULT_PATH.to_owned());
    let resolved = resolve_executable(
        &parsed.argv[0],
        &path_env,
        parsed.cwd.as_deref().map(Path::new),
    );
    let approvals = link.approvals.clone();
    let snapshot = match smol::unblock(move || approvals.read()).await {
        Ok(s) => s,
        Err(e) => return Some(Reply::from_approvals_error(e)),
    };
    let policy = policy::resolve(&snapshot.file, parsed.agent_id.as_deref());
    let verdict = match policy::decide(&policy, resolved.as_deref(), false) {
        Verdict::NeedsApproval => ask(link, frame, &parsed, resolved.as_deref(), &policy).await,
        other => other,
    };
    if let Verdict::Denied(message) = verdict {
        log::info!("system.run refused ({}): {message}", parsed.command_text);
        return Some(Reply::error("SYSTEM_RUN_DENIED", &message));
    }
    log::debug!(
        "system.run {} (runId {})",
        parsed.command_text,
        parsed.run_id
    );
    let request = RunRequest {
        argv: parsed.argv,
        cwd: parsed.cwd.map(PathBuf::from),
        env: parsed.env,
        timeout: parsed.timeout,
    };
    let outcome = exec::run(request, cancelled).await?;
    Some(Reply::json(outcome.to_json()))
}

/// Ask the operators; the verdict after their decision.
async fn ask(
    link: &NodeLink,
    frame: &InvokeFrame,
    parsed: &Parsed,
    resolved: Option<&str>,
    policy: &policy::Policy,
) -> Verdict {
    let deadline = Duration::from_millis(frame.timeout_ms.unwrap_or(30_000));
    let wait = deadline
        .saturating_sub(ANSWER_MARGIN)
        .max(MIN_APPROVAL_WAIT);
    let plan = json!({
        "argv": parsed.argv,
        "cwd": parsed.cwd,
        "commandText": parsed.command_text,
        "commandPreview": null,
        "agentId": parsed.agent_id,
        "sessionKey": parsed.session_key,
    });
    let mut params = json!({
        "host": "node",
        "nodeId": link.node_id,
        "command": parsed.command_text,
        "commandArgv": parsed.argv,
        "cwd": parsed.cwd,
        "systemRunPlan": plan,
        "timeoutMs": wait.as_millis() as u64,
        "runId": parsed.run_id,
    });
    if let Some(agent) = &parsed.agent_id {
        params["agentId"] = agent.clone().into();
    }
    if let Some(key) = &parsed.session_key {
        params["sessionKey"] = key.clone().into();
    }
    eprintln!(
        "node host exec approval requested: {} (waiting up to {}s)",
        parsed.command_text,
        wait.as_secs()
    );
    // The gateway answers by `wait` (null decision); one second more for
    // the frame, and the invoke's answer still fits in its deadline.
    let opts = RequestOptions {
        expect_final: false,
        timeout: Some(wait + Duration::from_secs(1)),
    };
    let decision = match link
        .client
        .call_with("exec.approval.request", Some(params), opts)
        .await
    {
        Ok(answer) => answer
            .get("decision")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Err(e) => {
            eprintln!("node host exec approval request failed: {e}");
            None
        }
    };
    eprintln!(
        "node host exec approval decision: {} ({})",
        decision.as_deref().unwrap_or("none"),
        parsed.command_text
    );
    match decision.as_deref() {
        Some("allow-once") => policy::decide(policy, resolved, true),
        Some("allow-always") => {
            if let Some(path) = resolved {
                remember(&link.approvals, parsed, path).await;
            }
            policy::decide(policy, resolved, true)
        }
        _ => Verdict::Denied(policy::DENIED_APPROVAL.into()),
    }
}

/// `allow-always`: add the executable to the agent's allowlist (`*` when
/// the request named no agent, so it applies to the next such request).
async fn remember(approvals: &Arc<Approvals>, parsed: &Parsed, path: &str) {
    let approvals = approvals.clone();
    let agent = parsed.agent_id.clone().unwrap_or_else(|| "*".to_owned());
    let entry = json!({
        "id": uuid_v4(),
        "pattern": path,
        "source": "allow-always",
        "lastUsedAt": now_ms(),
        "lastUsedCommand": parsed.command_text,
        "lastResolvedPath": path,
    });
    let result = smol::unblock(move || {
        for _ in 0..3 {
            let base = approvals.read()?;
            let next = approvals.update(&base, |mut file| {
                let list = &mut file["agents"][agent.as_str()]["allowlist"];
                if !list.is_array() {
                    *list = json!([]);
                }
                if let Some(list) = list.as_array_mut() {
                    list.push(entry.clone());
                }
                file
            })?;
            if next.is_some() {
                return Ok(());
            }
        }
        Err(super::approvals::ApprovalsError::Unavailable(
            "exec approvals kept changing".into(),
        ))
    })
    .await;
    if let Err(e) = result {
        eprintln!("node host could not save the allow-always approval: {e:?}");
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_text_quotes_like_the_reference() {
        assert_eq!(
            format_command(&argv(&["echo", "a b", "", "say \"hi\""])),
            r#"echo "a b" "" "say \"hi\"""#
        );
    }

    #[test]
    fn shell_wrappers_are_recognised_behind_env() {
        assert!(is_shell_wrapper(&argv(&["/bin/sh", "-c", "ls"])));
        assert!(is_shell_wrapper(&argv(&[
            "env", "-i", "A=1", "bash", "-lc", "ls"
        ])));
        assert!(!is_shell_wrapper(&argv(&["ls", "-l"])));
    }

    #[test]
    fn parse_refuses_missing_commands_and_blocked_env() {
        assert_eq!(
            parse(&json!({})).err(),
            Some(Reply::invalid("command required"))
        );
        assert_eq!(
            parse(&json!({"command": []})).err(),
            Some(Reply::invalid("command required"))
        );
        let err = parse(&json!({"command": ["ls"], "env": {"LD_PRELOAD": "x"}}))
            .err()
            .unwrap();
        assert_eq!(
            err,
            Reply::invalid("SYSTEM_RUN_DENIED: environment override rejected (blocked override keys: LD_PRELOAD)")
        );
        let err = parse(&json!({"command": ["env", "LD_PRELOAD=x", "ls"]}))
            .err()
            .unwrap();
        assert_eq!(
            err,
            Reply::invalid("SYSTEM_RUN_DENIED: command env assignment rejected (blocked env assignment keys: LD_PRELOAD)")
        );
        let ok = parse(&json!({"command": ["sh", "-c", "echo $FOO"], "env": {"FOO": "x", "TERM": "dumb"}, "timeoutMs": 1500})).ok().unwrap();
        assert!(
            !ok.env.contains_key("FOO"),
            "a shell wrapper drops non-terminal overrides"
        );
        assert_eq!(ok.env.get("TERM").map(String::as_str), Some("dumb"));
        assert_eq!(ok.timeout, Some(Duration::from_millis(1500)));
    }
}
