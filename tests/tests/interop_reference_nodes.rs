//! The REFERENCE node host (`openclaw node run`, v4 from npm) on OUR gateway,
//! approved with OUR `openclaw nodes approve`; the reference CLI then runs
//! `system.which` on it through our gateway with `nodes invoke`, and our
//! `nodes status|list|pending` print exactly what the reference CLI prints
//! for the same gateway. Skipped (with a note) when the reference cannot be
//! installed. Every process runs in its own group, killed at the end.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::process::{our_command, reference_cli, GatewayOptions, GroupGuard, OurGateway};

/// One reference CLI command: 1-2 s to start, more on a busy machine.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_reference_node_host_is_approved_with_our_cli_and_invoked_by_theirs() {
    let Some(reference) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(GatewayOptions::default());
    let url = gw.url();
    let token = GatewayOptions::default().token;
    let port = url.rsplit(':').next().unwrap().to_owned();

    let node_home = tempfile::tempdir().expect("tempdir");
    let mut node = reference.command(node_home.path());
    node.args(["node", "run", "--host", "127.0.0.1", "--port", &port])
        .args(["--display-name", "Ref Node"])
        .env("OPENCLAW_GATEWAY_TOKEN", &token)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _node = GroupGuard::new(node.spawn().expect("spawn the reference node host"));

    let our_home = tempfile::tempdir().expect("tempdir");
    let ours = |args: &[&str]| -> Output {
        let mut cmd = our_command(our_home.path());
        cmd.args(args)
            .args(["--url", &url, "--token", &token])
            .env("NO_COLOR", "1");
        cmd.output().expect("run our openclaw")
    };
    let ref_home = tempfile::tempdir().expect("tempdir");
    let theirs = |args: &[&str]| -> Output {
        let mut argv: Vec<&str> = args.to_vec();
        argv.extend(["--url", &url, "--token", &token]);
        reference.run(ref_home.path(), &argv, &[], COMMAND_TIMEOUT)
    };

    // The node host connects and its surface waits for approval.
    let deadline = Instant::now() + Duration::from_secs(90);
    let request_id = loop {
        let out = ours(&["nodes", "pending", "--json"]);
        let pending: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if let Some(id) = pending[0]["requestId"].as_str() {
            break id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the reference node never asked: {}",
            text(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let approved = ours(&["nodes", "approve", &request_id]);
    assert!(approved.status.success(), "{}", text(&approved.stderr));
    let approved: Value = serde_json::from_slice(&approved.stdout).expect("JSON");
    assert_eq!(approved["node"]["displayName"], "Ref Node");
    assert!(approved["node"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "system.which"));

    // The reference CLI invokes system.which on it through our gateway.
    let out = theirs(&[
        "nodes",
        "invoke",
        "--node",
        "Ref Node",
        "--command",
        "system.which",
        "--params",
        r#"{"bins":["sh"]}"#,
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let invoked: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(invoked["ok"], true);
    assert_eq!(invoked["command"], "system.which");
    assert!(
        invoked["payload"]["bins"]["sh"].as_str().is_some(),
        "{invoked}"
    );

    // Both CLIs print the same for the same gateway.
    for args in [
        &["nodes", "status"][..],
        &["nodes", "list"],
        &["nodes", "pending"],
        &["nodes", "describe", "--node", "Ref Node"],
    ] {
        let (mine, reference_out) = (ours(args), theirs(args));
        assert_eq!(
            text(&mine.stdout),
            text(&reference_out.stdout),
            "openclaw {}\nreference stderr: {}",
            args.join(" "),
            text(&reference_out.stderr)
        );
        assert_eq!(mine.status.code(), reference_out.status.code());
    }
}
