//! The REFERENCE `openclaw` CLI (v4, from npm) against OUR gateway: the
//! commands of /work/notes/interop.md §2 exit as they do against the reference
//! gateway and print what they print there. Skipped (with a note) when the
//! reference cannot be installed. Each CLI run gets its own HOME / state dir /
//! config path and runs in its own process group, killed at the end.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::io::Read;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::process::{reference_cli, GatewayOptions, GroupGuard, OurGateway, ReferenceCli};

/// One CLI command; the CLI needs 1-2 s to start, allow for a busy machine.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(args: &[String], out: &Output) -> String {
    format!(
        "openclaw {}: {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn json_stdout(args: &[String], out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(args, out)))
}

/// Run the commands in parallel threads, each with its own temp HOME; the
/// environment of every command gets `envs`. Results in the order given.
fn run_all(
    cli: &ReferenceCli,
    commands: Vec<Vec<String>>,
    envs: Vec<(String, String)>,
) -> Vec<(Vec<String>, Output)> {
    let threads: Vec<_> = commands
        .into_iter()
        .map(|args| {
            let cli = cli.clone();
            let envs = envs.clone();
            std::thread::spawn(move || {
                let home = tempfile::tempdir().expect("tempdir");
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let envv: Vec<(&str, &str)> =
                    envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let started = Instant::now();
                let out = cli.run(home.path(), &argv, &envv, COMMAND_TIMEOUT);
                eprintln!("openclaw {} took {:?}", args.join(" "), started.elapsed());
                (args, out)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("command thread"))
        .collect()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn gateway_env(gw: &OurGateway) -> Vec<(String, String)> {
    vec![
        ("OPENCLAW_GATEWAY_PORT".to_owned(), gw.port.to_string()),
        ("OPENCLAW_GATEWAY_TOKEN".to_owned(), gw.token.clone()),
    ]
}

#[test]
fn gateway_call_with_url_and_token() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(GatewayOptions::default());
    let url = gw.url();
    let call = |method: &str| {
        strings(&[
            "gateway", "call", method, "--url", &url, "--token", &gw.token, "--json",
        ])
    };
    let results = run_all(
        &cli,
        vec![
            call("health"),
            call("status"),
            call("system-presence"),
            call("no.such"),
        ],
        Vec::new(),
    );
    for (args, out) in &results {
        let method = args[2].as_str();
        if method == "no.such" {
            assert_eq!(out.status.code(), Some(1), "{}", describe(args, out));
            let v = json_stdout(args, out);
            assert_eq!(v["ok"], false, "{}", describe(args, out));
            assert_eq!(
                v["error"]["code"],
                "INVALID_REQUEST",
                "{}",
                describe(args, out)
            );
            assert_eq!(
                v["error"]["message"],
                "unknown method: no.such",
                "{}",
                describe(args, out)
            );
            continue;
        }
        assert!(out.status.success(), "{}", describe(args, out));
        let v = json_stdout(args, out);
        match method {
            "health" => assert_eq!(v["ok"], true, "{}", describe(args, out)),
            "status" => assert!(v.is_object(), "{}", describe(args, out)),
            "system-presence" => {
                let entries = v
                    .as_array()
                    .unwrap_or_else(|| panic!("{}", describe(args, out)));
                assert!(
                    entries.iter().any(|e| e["mode"] == "gateway"),
                    "no gateway entry: {}",
                    describe(args, out)
                );
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn gateway_health_probe_and_health() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(GatewayOptions::default());
    let url = gw.url();
    let results = run_all(
        &cli,
        vec![
            strings(&["gateway", "health", "--url", &url, "--token", &gw.token]),
            strings(&["gateway", "probe"]),
            strings(&["health"]),
            strings(&["health", "--json"]),
        ],
        gateway_env(&gw),
    );
    for (args, out) in &results {
        assert!(out.status.success(), "{}", describe(args, out));
        let stdout = text(&out.stdout);
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["gateway", "health", ..] => {
                assert!(stdout.contains("Gateway Health"), "{}", describe(args, out));
                assert!(stdout.contains("OK"), "{}", describe(args, out));
            }
            ["gateway", "probe"] => {
                assert!(stdout.contains("Reachable: yes"), "{}", describe(args, out));
            }
            ["health", "--json"] => {
                assert_eq!(
                    json_stdout(args, out)["ok"],
                    true,
                    "{}",
                    describe(args, out)
                );
            }
            ["health"] => {
                assert!(stdout.contains("Agents:"), "{}", describe(args, out));
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn logs_follow_shows_our_log_lines() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(GatewayOptions::default());
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = cli.command(home.path());
    cmd.args(["logs", "--follow"])
        .envs(gateway_env(&gw))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = GroupGuard::new(cmd.spawn().expect("spawn openclaw logs --follow"));
    let (tx, rx) = mpsc::channel();
    let mut stdout = guard.child().stdout.take().expect("stdout");
    let mut stderr = guard.child().stderr.take().expect("stderr");
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Follow until our "listening on" line shows up (the first poll), then
    // a few more polls (one a second) to see that following keeps working.
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut found_at = None;
    while started.elapsed() < COMMAND_TIMEOUT {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
        if found_at.is_none() && text(&seen).contains("listening on") {
            found_at = Some(Instant::now());
        }
        if found_at.is_some_and(|at| at.elapsed() >= Duration::from_secs(3)) {
            break;
        }
        if let Ok(Some(status)) = guard.child().try_wait() {
            panic!(
                "openclaw logs --follow exited early ({status}); stdout:\n{}",
                text(&seen)
            );
        }
    }
    drop(guard); // kills the CLI's process group
    let stderr = stderr_reader.join().unwrap_or_default();
    let stdout = text(&seen);
    assert!(
        found_at.is_some(),
        "no \"listening on\" line from our gateway's log\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains("Log file:"),
        "--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        !stderr.contains("disconnected"),
        "the CLI lost the gateway while following:\n{stderr}"
    );
}
