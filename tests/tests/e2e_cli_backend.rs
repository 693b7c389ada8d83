//! A CLI backend end to end: OUR gateway runs a script standing in for
//! `claude -p --output-format stream-json` as the model of `claude-cli/…`.
//! `openclaw agent --message` gets the reply the script streams in
//! chunks; the next turn (also after a gateway restart) resumes the CLI
//! session the script reported; `chat.abort` during a long reply kills the
//! script and the child it started.
#![cfg(unix)]
// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::chat::{call, operator, until};
use tests::process::{our_command, GatewayOptions, OurGateway};

/// The stand-in for Claude Code. It logs its argv (one line per run) and
/// stdin, reports the session it resumes (or `cli-sess-1` for a new one),
/// and streams its reply in three deltas with pauses. A prompt containing
/// "long" starts a child `sleep`, writes both pids and never finishes.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
echo "$@" >> "$dir/argv"
prompt="$(cat)"
printf '%s\n' "$prompt" >> "$dir/prompts"
session=cli-sess-1
prev=""
for a in "$@"; do
  if [ "$prev" = "--resume" ]; then session="$a"; fi
  prev="$a"
done
delta() {
  printf '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"%s"}}}\n' "$1"
}
echo '{"type":"system","subtype":"init","session_id":"'$session'"}'
case "$prompt" in
  *long*)
    sleep 300 &
    echo $$ $! > "$dir/pids"
    delta "Thinking"
    wait
    ;;
esac
delta "Hello"
sleep 0.2
delta " from"
sleep 0.2
delta " the CLI."
echo '{"type":"result","subtype":"success","is_error":false,"result":"Hello from the CLI.","session_id":"'$session'","usage":{"input_tokens":7,"output_tokens":4}}'
"#;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

fn fake_claude(dir: &Path) -> PathBuf {
    let path = dir.join("claude");
    std::fs::write(&path, FAKE_CLAUDE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `claude-cli/claude-sonnet-5` as the default model, `claude` being the
/// script (the v3 key moves the command; everything else is the bundled
/// backend's).
fn config(command: &Path) -> String {
    json!({
        "agents": {"defaults": {
            "model": "claude-cli/claude-sonnet-5",
            "cliBackends": {"claude-cli": {"command": command}},
        }},
    })
    .to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn agent(gw: &OurGateway, home: &Path, message: &str) -> Value {
    let mut cmd = our_command(home);
    cmd.args(["agent", "--message", message, "--json"])
        .args(["--url", &gw.url(), "--token", &gw.token])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out: Output = tests::process::run_with_timeout(cmd, COMMAND_TIMEOUT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

fn argv_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("argv"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_scripted_claude_cli_streams_its_reply_and_resumes_its_session() {
    let bin = tempfile::tempdir().unwrap();
    let claude = fake_claude(bin.path());
    let opts = GatewayOptions {
        config: Some(config(&claude)),
        ..GatewayOptions::default()
    };
    let gw = OurGateway::start(opts.clone());
    let home = tempfile::tempdir().unwrap();

    // A watcher sees the reply arrive in several deltas.
    let url = gw.url();
    let token = gw.token.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let watcher = std::thread::spawn(move || {
        smol::block_on(async {
            let mut ws = operator(&url, &token).await;
            ready_tx.send(()).unwrap();
            let mut deltas = Vec::new();
            loop {
                let event = until(&mut ws, |v| v["event"] == "agent").await;
                let p = &event["payload"];
                if p["stream"] == "assistant" {
                    deltas.push(p["data"]["delta"].as_str().unwrap_or("").to_owned());
                }
                if p["stream"] == "lifecycle" && p["data"]["phase"] == "end" {
                    return deltas;
                }
            }
        })
    });
    ready_rx.recv_timeout(Duration::from_secs(15)).unwrap();
    let started = Instant::now();
    let result = agent(&gw, home.path(), "hi there");
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        result["result"]["payloads"][0]["text"],
        "Hello from the CLI."
    );
    assert_eq!(result["result"]["meta"]["agentMeta"]["usage"]["output"], 4);
    let deltas = watcher.join().unwrap();
    assert_eq!(deltas, ["Hello", " from", " the CLI."]);
    // The pauses between the chunks were real (the reply was streamed).
    assert!(started.elapsed() >= Duration::from_millis(400));

    // First run: the bundled argv, the model, a new session id, the
    // prompt on stdin.
    let argv = argv_lines(bin.path());
    assert_eq!(argv.len(), 1);
    assert!(
        argv[0].starts_with("-p --output-format stream-json --include-partial-messages"),
        "{argv:?}"
    );
    assert!(argv[0].contains("--model claude-sonnet-5"), "{argv:?}");
    assert!(argv[0].contains("--session-id "), "{argv:?}");
    assert!(!argv[0].contains("--resume"), "{argv:?}");
    assert!(argv[0].contains("--append-system-prompt-file "), "{argv:?}");
    let prompts = std::fs::read_to_string(bin.path().join("prompts")).unwrap();
    assert_eq!(prompts.trim(), "hi there");

    // Second turn: the session the CLI reported is resumed.
    let result = agent(&gw, home.path(), "and again");
    assert_eq!(
        result["result"]["payloads"][0]["text"],
        "Hello from the CLI."
    );
    let argv = argv_lines(bin.path());
    assert!(argv[1].contains("--resume cli-sess-1"), "{argv:?}");
    assert!(!argv[1].contains("--session-id"), "{argv:?}");
    // Resuming sends only the new message: the CLI keeps the history.
    let prompts = std::fs::read_to_string(bin.path().join("prompts")).unwrap();
    assert_eq!(prompts.lines().last(), Some("and again"));

    // The CLI session survives a restart of the gateway.
    let dir = gw.stop();
    let row = std::fs::read_to_string(dir.path().join("state/agents/main/sessions/sessions.json"))
        .unwrap_or_default();
    let gw = OurGateway::start_in(opts, dir);
    agent(&gw, home.path(), "after restart");
    let argv = argv_lines(bin.path());
    assert!(
        argv[2].contains("--resume cli-sess-1"),
        "{argv:?}\nrow: {row}"
    );
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn chat_abort_kills_the_cli_and_its_children() {
    let bin = tempfile::tempdir().unwrap();
    let claude = fake_claude(bin.path());
    let gw = OurGateway::start(GatewayOptions {
        config: Some(config(&claude)),
        ..GatewayOptions::default()
    });
    smol::block_on(async {
        let mut ws = operator(&gw.url(), &gw.token).await;
        let params =
            json!({"sessionKey": "main", "message": "a long one", "idempotencyKey": "long-1"});
        let sent = call(&mut ws, "s1", "chat.send", params).await;
        let run_id = sent["runId"].as_str().unwrap_or("long-1").to_owned();
        // The script is going: its first delta arrived.
        until(&mut ws, |v| {
            v["event"] == "chat" && v["payload"]["state"] == "delta"
        })
        .await;
        let pids: Vec<u32> = std::fs::read_to_string(bin.path().join("pids"))
            .unwrap()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        assert_eq!(pids.len(), 2, "{pids:?}");
        assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");

        let aborted = call(
            &mut ws,
            "a1",
            "chat.abort",
            json!({"sessionKey": "main", "runId": run_id}),
        )
        .await;
        assert_eq!(aborted["aborted"], true, "{aborted}");
        // (The `aborted` chat event went out before this answer.)
        let at = Instant::now();
        // The script and its sleep are gone soon after.
        while pids.iter().any(|p| alive(*p)) {
            assert!(
                at.elapsed() < Duration::from_secs(10),
                "still running: {pids:?}"
            );
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        eprintln!("abort to process group gone: {:?}", at.elapsed());
    });
}
