//! What a new user meets: version, usage, misplaced flags, config mistakes,
//! connect failures and the console lines of a starting gateway. Each runs
//! the real binary and reads what it prints.

// End-to-end tests run in real time: reading the clock is the point.
#![allow(clippy::disallowed_methods)]

mod gateway_support;

use std::time::Duration;

use gateway_smol::client::{Client, ClientOptions};
use gateway_support::{free_port, run_to_end, Gateway};

fn run(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    run_to_end(dir.path(), args, |_| {})
}

fn run_with_config(config: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/openclaw.json"), config).unwrap();
    run_to_end(dir.path(), args, |_| {})
}

#[test]
fn version_flags_print_version_and_protocol_range() {
    for flag in ["--version", "-V"] {
        let (code, stdout, stderr) = run(&[flag]);
        assert_eq!(code, 0, "{flag}: {stderr}");
        assert_eq!(
            stdout.trim(),
            format!(
                "openclaw {} (Rust gateway; protocol 3-4)",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}

#[test]
fn bare_command_prints_usage_and_what_it_is() {
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.starts_with("Usage: openclaw <command>"), "{stderr}");
    assert!(stderr.contains("OpenClaw gateway"), "{stderr}");
    assert!(
        stderr.contains("gateway") && stderr.contains("health"),
        "{stderr}"
    );
}

#[test]
fn help_names_openclaw_not_the_binary_path() {
    let (code, stdout, _) = run(&["gateway", "run", "--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("Usage: openclaw gateway run"),
        "{stdout}"
    );
    assert!(!stdout.contains("target/"), "{stdout}");
    let (code, _, stderr) = run(&["gateway", "--bogus"]);
    assert_eq!(code, 2);
    assert!(!stderr.contains("target/"), "{stderr}");
}

#[test]
fn run_flags_before_a_client_command_are_refused_with_the_right_form() {
    let (code, stdout, stderr) = run(&["gateway", "--port", "18795", "health"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--port")
            && stderr.contains("use: OPENCLAW_GATEWAY_PORT=18795 openclaw gateway health"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["gateway", "--token", "s3cret", "call", "health"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("openclaw gateway call <method> --token <token>"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret"),
        "the secret was echoed: {stderr}"
    );
}

#[test]
fn run_flags_before_run_are_honoured() {
    let gw = Gateway::start(&["--port", "0", "run"]);
    gw.wait_ready();
    assert_ne!(gw.port, 18789);
}

#[test]
fn config_syntax_error_names_file_line_column_and_expectation() {
    let (code, _, stderr) = run_with_config("{\n  gateway: { port: 1 }\n", &["gateway"]);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("openclaw.json: line 3, column 1: expected `,` or `}`, found the end of the file (the `{` at line 1, column 1 is not closed)"),
        "{stderr}"
    );
}

#[test]
fn misspelled_config_key_is_refused_with_the_closest_key() {
    let (code, _, stderr) = run_with_config("{ gateway: { prot: 18790 } }", &["gateway"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("openclaw.json: unknown key gateway.prot (did you mean gateway.port?)"),
        "{stderr}"
    );
    // Keys the reference knows but this gateway does not use are fine.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(
        dir.path().join("state/openclaw.json"),
        "{ agents: { defaults: {} }, gateway: { mode: 'local', trustedProxies: [], auth: { token: 't' } } }",
    )
    .unwrap();
    let gw = Gateway::start_with(&[], |cmd| {
        cmd.env("OPENCLAW_STATE_DIR", dir.path().join("state"));
    });
    gw.wait_ready();
}

#[test]
fn malformed_params_say_not_valid_json_and_where() {
    let (code, _, stderr) = run(&["gateway", "call", "health", "--params", "{\"a\": }"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--params is not valid JSON") && stderr.contains("line 1, column 7"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["gateway", "call", "health", "--params", "[1]"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("must be a JSON object"), "{stderr}");
}

#[test]
fn unreachable_gateway_suggests_checking_it_runs() {
    let port = free_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run_to_end(dir.path(), &["gateway", "health"], |cmd| {
        cmd.env("OPENCLAW_GATEWAY_PORT", &port);
    });
    assert_eq!(code, 1);
    let all = stdout + &stderr;
    assert!(
        all.contains("gateway not reachable")
            && all.contains("is the gateway running? (`openclaw gateway status`)"),
        "{all}"
    );
    // The command it names exists and says the same.
    let (code, stdout, stderr) = run_to_end(dir.path(), &["gateway", "status"], |cmd| {
        cmd.env("OPENCLAW_GATEWAY_PORT", &port);
    });
    // As the reference: the failed probe is reported, and only
    // `--require-rpc` makes it a failing exit.
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("Connectivity probe: failed"), "{stderr}");
    assert!(!(stdout + &stderr).contains("Unrecognized"));
}

#[test]
fn startup_without_auth_warns_and_says_how_to_connect() {
    let gw = Gateway::start(&[]);
    let warn = gw.wait_line("auth is off", Duration::from_secs(5));
    assert!(
        warn.as_deref().is_some_and(|l| l.contains("WARN")),
        "{warn:?}"
    );
    let ready = gw
        .wait_line("ready:", Duration::from_secs(5))
        .expect("a ready line");
    assert!(
        ready.contains(&format!("clients connect to ws://127.0.0.1:{}", gw.port))
            && ready.contains(&format!(
                "`OPENCLAW_GATEWAY_PORT={} openclaw gateway health`",
                gw.port
            )),
        "{ready}"
    );
}

#[test]
fn failed_login_is_logged_with_reason_and_close_code_not_secret() {
    let gw = Gateway::start_with(&[], |cmd| {
        cmd.env("OPENCLAW_GATEWAY_TOKEN", "right-secret-1");
    });
    let ready = gw
        .wait_line("ready:", Duration::from_secs(5))
        .expect("a ready line");
    assert!(ready.contains("with the same token"), "{ready}");
    assert!(!ready.contains("right-secret-1"));
    let refused = smol::block_on(Client::connect(
        &gw.url(),
        ClientOptions {
            token: Some("wrong-secret-2".into()),
            reconnect: false,
            ..Default::default()
        },
    ));
    assert!(refused.is_err());
    let line = gw
        .wait_line("connect refused", Duration::from_secs(5))
        .expect("a console line for the refused connect");
    assert!(
        line.contains("WARN") && line.contains("close 1008") && line.contains("token mismatch"),
        "{line}"
    );
    assert!(
        !line.contains("wrong-secret-2") && !line.contains("right-secret-1"),
        "{line}"
    );
}
