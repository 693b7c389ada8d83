//! CLI backends run for real: small shell scripts stand in for `claude -p`
//! and other CLIs (text, JSON and JSON-lines output, prompt by argument or
//! stdin, sessions, failures), and cancel kills the whole process group.
#![cfg(unix)]
// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_proto::gateway::agents::catalog::ModelCatalog;
use gateway_proto::gateway::agents::cli_backend::{choose_session, CliBackend};
use gateway_proto::gateway::agents::model::{
    ModelEvent, ModelMessage, ModelRequest, ModelRole, ModelUsage,
};
use gateway_smol::cli_backend::{invocation, stream_cli};
use serde_json::{json, Value};

/// A script in `dir`, executable.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The backend `id` configured with the v3 key.
fn backend(id: &str, settings: Value) -> CliBackend {
    let config = json!({"agents": {"defaults": {"cliBackends": {id: settings}}}});
    let catalog = ModelCatalog::from_config(&config, &|_| None);
    assert!(catalog.warnings().is_empty(), "{:?}", catalog.warnings());
    catalog
        .resolve(Some(&format!("{id}/m1")))
        .unwrap()
        .cli
        .unwrap()
}

fn request(cli: CliBackend, system: &str, messages: &[(ModelRole, &str)]) -> ModelRequest {
    ModelRequest {
        api: gateway_proto::gateway::agents::model::ModelApi::CliBackend,
        base_url: String::new(),
        api_key: None,
        headers: vec![],
        model: "m1".into(),
        max_tokens: None,
        system: system.into(),
        messages: messages
            .iter()
            .map(|(role, text)| match role {
                ModelRole::Assistant => ModelMessage::assistant(*text, vec![]),
                _ => ModelMessage::user(*text),
            })
            .collect(),
        tools: vec![],
        cli: Some(cli),
    }
}

fn user(text: &str) -> Vec<(ModelRole, &str)> {
    vec![(ModelRole::User, text)]
}

/// Every event of one turn, in order.
fn run(request: &ModelRequest) -> Vec<ModelEvent> {
    let mut events = Vec::new();
    stream_cli(request, 1 << 20, &AtomicBool::new(false), &mut |e| {
        events.push(e);
        true
    });
    events
}

fn texts(events: &[ModelEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn plain_text_streams_line_by_line_with_the_configured_argv() {
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args");
    let cmd = script(
        dir.path(),
        "textcli",
        &format!(
            "for a in \"$@\"; do echo \"$a\" >> {args}; done\necho 'Hello'\necho\necho 'world'\necho",
            args = args_file.display()
        ),
    );
    let cli = backend(
        "text-cli",
        json!({"command": cmd, "args": ["--quiet"], "modelArg": "--model",
               "modelAliases": {"m1": "model-one"}, "systemPromptArg": "--system"}),
    );
    let events = run(&request(cli, "be brief", &user("say hi")));
    assert_eq!(texts(&events), ["Hello", "\n\nworld"]);
    assert!(
        matches!(events.last(), Some(ModelEvent::Done { .. })),
        "{events:?}"
    );
    // Base args, model (aliased), system prompt, then the prompt last.
    assert_eq!(
        read(&args_file).lines().collect::<Vec<_>>(),
        [
            "--quiet",
            "--model",
            "model-one",
            "--system",
            "be brief",
            "say hi"
        ]
    );
}

/// A stand-in for `claude -p --output-format stream-json`: reads the
/// prompt from stdin, streams deltas, reports its session and usage.
const CLAUDE_STREAM: &str = r#"cat > "$(dirname "$0")/stdin"
echo 'banner line that is not JSON'
echo '{"type":"system","subtype":"init","session_id":"sess-42"}'
echo '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}}'
echo '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo!"}}}'
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"Hello!"}],"stop_reason":null}}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"Hello!","session_id":"sess-42","usage":{"input_tokens":12,"output_tokens":3,"cache_read_input_tokens":4}}'"#;

#[test]
fn json_lines_stream_deltas_and_report_session_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(dir.path(), "claude", CLAUDE_STREAM);
    let cli = backend("claude-cli", json!({"command": cmd}));
    let mut req = request(cli, "sys", &user("what is up?"));
    choose_session(req.cli.as_mut().unwrap(), None, || "fresh-id".into());
    let events = run(&req);
    assert_eq!(texts(&events), ["Hel", "lo!"], "{events:?}");
    assert!(events.contains(&ModelEvent::CliSession("sess-42".into())));
    assert!(events.contains(&ModelEvent::Usage(ModelUsage {
        input: 12,
        output: 3,
        cache_read: 4,
        cache_write: 0,
        total: 19,
    })));
    assert!(matches!(events.last(), Some(ModelEvent::Done { .. })));
    // The prompt went in on stdin.
    assert_eq!(read(&dir.path().join("stdin")), "what is up?");
}

#[test]
fn a_json_document_gives_text_and_session_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "jsoncli",
        r#"echo '{"result": "The answer", "conversation_id": "c-9",'
echo ' "usage": {"inputTokens": 2, "outputTokens": 5}}'"#,
    );
    let cli = backend("json-cli", json!({"command": cmd, "output": "json"}));
    let events = run(&request(cli, "", &user("q")));
    assert_eq!(texts(&events), ["The answer"]);
    assert!(events.contains(&ModelEvent::CliSession("c-9".into())));
    assert!(matches!(events.last(), Some(ModelEvent::Done { .. })));
}

#[test]
fn stdin_input_and_a_resumed_session_use_the_resume_args() {
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args");
    let cmd = script(
        dir.path(),
        "resumer",
        &format!(
            "echo \"$@\" > {args}\nread line\necho \"got: $line\"",
            args = args_file.display()
        ),
    );
    let cli = backend(
        "r-cli",
        json!({"command": cmd, "args": ["new"], "resumeArgs": ["resume", "{sessionId}"],
               "input": "stdin", "sessionArg": "--session", "sessionMode": "existing",
               "systemPromptArg": "--sys"}),
    );
    let history = [
        (ModelRole::User, "first"),
        (ModelRole::Assistant, "one"),
        (ModelRole::User, "second"),
    ];
    // Resuming: resume args, only the newest message, no system prompt
    // (`systemPromptWhen` defaults to `first`).
    let mut req = request(cli.clone(), "sys", &history);
    choose_session(req.cli.as_mut().unwrap(), Some("s-1"), || unreachable!());
    let events = run(&req);
    assert_eq!(texts(&events), ["got: second"]);
    assert_eq!(read(&args_file).trim(), "resume s-1");
    // The session it was given comes back when the CLI names none.
    assert!(events.contains(&ModelEvent::CliSession("s-1".into())));
    // Without a stored session (`existing`): the base args, no session,
    // the conversation so far in the prompt.
    let req = request(cli, "sys", &history);
    let plan = invocation(req.cli.as_ref().unwrap(), "m1", "sys", "p");
    assert_eq!(plan.args, ["new", "--sys", "sys"]);
    assert_eq!(plan.stdin.as_deref(), Some("p"));
    let events = run(&req);
    assert_eq!(texts(&events), ["got: Conversation so far:"]);
    assert!(!events
        .iter()
        .any(|e| matches!(e, ModelEvent::CliSession(_))));
}

#[test]
fn a_non_zero_exit_fails_with_the_end_of_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "failing",
        "echo 'partial'\necho 'auth expired: run claude login' >&2\nexit 3",
    );
    let cli = backend("bad-cli", json!({"command": cmd}));
    let events = run(&request(cli, "", &user("q")));
    let last = events.last().unwrap();
    assert!(
        matches!(last, ModelEvent::Failed { message, .. }
            if message.contains("exited with status 3") && message.contains("auth expired")),
        "{last:?}"
    );
    // A command that cannot start fails too.
    let cli = backend("missing", json!({"command": dir.path().join("nope")}));
    let events = run(&request(cli, "", &user("q")));
    assert!(
        matches!(events.as_slice(), [ModelEvent::Failed { message, .. }] if message.contains("could not start")),
        "{events:?}"
    );
    // An error record of a JSON CLI fails the turn with its text.
    let cmd = script(
        dir.path(),
        "erring",
        r#"echo '{"type":"result","subtype":"error_during_execution","is_error":true,"result":"rate limited"}'"#,
    );
    let cli = backend("err-cli", json!({"command": cmd, "output": "jsonl"}));
    let events = run(&request(cli, "", &user("q")));
    assert!(
        matches!(events.last(), Some(ModelEvent::Failed { message, .. }) if message == "rate limited"),
        "{events:?}"
    );
}

/// Whether a process runs (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn pids(path: &Path) -> Vec<u32> {
    read(path)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "still running: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cancel_kills_the_command_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let cmd = script(
        dir.path(),
        "slow",
        &format!(
            "sleep 300 &\necho $$ $! > {pids}\necho 'thinking'\nwait",
            pids = pid_file.display()
        ),
    );
    let cli = backend("slow-cli", json!({"command": cmd}));
    let req = request(cli, "", &user("q"));
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = Arc::clone(&cancel);
    let worker = std::thread::spawn(move || {
        stream_cli(&req, 1 << 20, &flag, &mut |e| tx.send(e).is_ok());
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first, ModelEvent::Text("thinking".into()));
    let started = pids(&pid_file);
    assert_eq!(started.len(), 2, "{started:?}");
    assert!(started.iter().all(|p| alive(*p)));
    let at = Instant::now();
    cancel.store(true, Ordering::Release);
    let last = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        matches!(&last, ModelEvent::Failed { message, .. } if message.contains("cancelled")),
        "{last:?}"
    );
    worker.join().unwrap();
    wait_gone(&started);
    eprintln!("cancel to group gone: {:?}", at.elapsed());
}

#[test]
fn a_background_child_left_by_the_command_is_killed_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let cmd = script(
        dir.path(),
        "leaver",
        &format!(
            "sleep 300 &\necho $! > {pids}\necho 'done here'\nexit 0",
            pids = pid_file.display()
        ),
    );
    let cli = backend("leaver-cli", json!({"command": cmd}));
    let at = Instant::now();
    let events = run(&request(cli, "", &user("q")));
    // The sleeping child holds stdout open: the turn still ends soon.
    assert!(at.elapsed() < Duration::from_secs(5), "{:?}", at.elapsed());
    assert_eq!(texts(&events), ["done here"]);
    assert!(matches!(events.last(), Some(ModelEvent::Done { .. })));
    wait_gone(&pids(&pid_file));
}

#[test]
fn output_over_the_bound_fails_and_stops_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pids");
    let cmd = script(
        dir.path(),
        "chatty",
        &format!(
            "echo $$ > {pids}\nexec yes 'spam spam spam'",
            pids = pid_file.display()
        ),
    );
    let cli = backend("chatty-cli", json!({"command": cmd}));
    let req = request(cli, "", &user("q"));
    let mut count = 0;
    let mut last = None;
    stream_cli(&req, 64 << 10, &AtomicBool::new(false), &mut |e| {
        count += 1;
        last = Some(e);
        true
    });
    assert!(
        matches!(&last, Some(ModelEvent::Failed { message, .. }) if message.contains("more than 65536 bytes")),
        "{last:?}"
    );
    assert!(count < 10_000, "{count}");
    wait_gone(&pids(&pid_file));
}
