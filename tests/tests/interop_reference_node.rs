//! The unmodified reference node host (`openclaw node run`, 2026.9.6) as a
//! node of OUR gateway: it pairs silently on loopback, its surface waits
//! for approval, the reference CLI approves it (`openclaw nodes approve`),
//! runs `system.which` through `openclaw nodes invoke` and `system.run`
//! through `openclaw gateway call node.invoke` (its `nodes invoke` refuses
//! `system.run`), and a killed node host fails its invoke at once.
//! Skipped (with a note) without the reference.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::load::Conn;
use tests::process::{reference_cli, GatewayOptions, GroupGuard, OurGateway, ReferenceCli};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const ADMIN_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
];

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "openclaw {}: {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The reference CLI as the local admin of our gateway.
fn admin_cli(cli: &ReferenceCli, gw: &OurGateway, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let port = gw.port.to_string();
    let envs = [
        ("OPENCLAW_GATEWAY_PORT", port.as_str()),
        ("OPENCLAW_GATEWAY_TOKEN", gw.token.as_str()),
    ];
    let out = cli.run(home.path(), args, &envs, COMMAND_TIMEOUT);
    eprintln!("{}", describe(args, &out));
    out
}

/// Start the reference node host against `gw`, logging to `home/node.log`.
fn start_node(cli: &ReferenceCli, gw: &OurGateway, home: &Path) -> GroupGuard {
    let log = std::fs::File::create(home.join("node.log")).unwrap();
    let mut cmd = cli.command(home);
    cmd.args(["node", "run", "--host", "127.0.0.1", "--port"])
        .arg(gw.port.to_string())
        .args(["--display-name", "Ref Node"])
        .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    GroupGuard::new(cmd.spawn().expect("spawn the reference node host"))
}

/// Call `method` as a raw admin until `pick` finds something (bounded).
fn poll(
    gw: &OurGateway,
    method: &str,
    params: Value,
    pick: impl Fn(&Value) -> Option<Value>,
) -> Option<Value> {
    smol::block_on(async {
        let mut admin = Conn::open(&gw.target(), ADMIN_SCOPES).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let res = admin.call(method, params.clone()).await.unwrap();
            if let Some(found) = pick(&res["payload"]) {
                return Some(found);
            }
            smol::Timer::after(Duration::from_millis(250)).await;
        }
        None
    })
}

#[test]
fn the_reference_node_host_is_approved_and_runs_commands_through_our_gateway() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let gw = OurGateway::start(GatewayOptions::default());
    let node_home = tempfile::tempdir().unwrap();
    let mut node = start_node(&cli, &gw, node_home.path());
    let node_log =
        || std::fs::read_to_string(node_home.path().join("node.log")).unwrap_or_default();

    // Paired silently as a device, its surface waits for an operator.
    let pending = poll(&gw, "node.pair.list", json!({}), |p| {
        p["pending"].as_array()?.first().cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "no pending surface; node log:\n{}\ngateway:\n{}",
            node_log(),
            gw.output()
        )
    });
    assert_eq!(pending["clientId"], "node-host", "{pending}");
    assert_eq!(
        pending["requiredApproveScopes"],
        json!(["operator.pairing", "operator.admin"]),
        "{pending}"
    );
    let node_id = pending["nodeId"].as_str().unwrap().to_owned();
    let request_id = pending["requestId"].as_str().unwrap().to_owned();

    let args = ["nodes", "approve", request_id.as_str(), "--json"];
    let out = admin_cli(&cli, &gw, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let described = poll(&gw, "node.describe", json!({"nodeId": node_id}), |n| {
        let ready = n["approvalState"] == "approved"
            && n["connected"] == true
            && n["commands"].as_array()?.iter().any(|c| c == "system.run");
        ready.then(|| n.clone())
    })
    .unwrap_or_else(|| panic!("not approved and connected; node log:\n{}", node_log()));
    assert_eq!(described["displayName"], "Ref Node", "{described}");

    // system.which through the reference CLI's `nodes invoke`.
    let args = [
        "nodes",
        "invoke",
        "--node",
        node_id.as_str(),
        "--command",
        "system.which",
        "--params",
        r#"{"bins":["sh","surely-not-a-binary"]}"#,
        "--json",
    ];
    let out = admin_cli(&cli, &gw, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("/sh\""), "{}", describe(&args, &out));
    assert!(!stdout.contains("surely-not-a-binary\":"), "{stdout}");

    // system.run through `gateway call node.invoke`.
    let params = json!({
        "nodeId": node_id, "command": "system.run",
        "params": {"command": ["echo", "hi-from-the-node"]}, "idempotencyKey": "run-1",
    })
    .to_string();
    let args = [
        "gateway",
        "call",
        "node.invoke",
        "--params",
        params.as_str(),
        "--json",
    ];
    let out = admin_cli(&cli, &gw, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let payload = &answer["payload"];
    assert_eq!(payload["stdout"], "hi-from-the-node\n", "{answer}");
    assert_eq!(payload["exitCode"], 0, "{answer}");
    assert_eq!(payload["success"], true, "{answer}");

    // The node host dies mid-invoke: the caller hears it without waiting
    // for the timeout.
    let result = smol::block_on(async {
        let mut admin = Conn::open(&gw.target(), ADMIN_SCOPES).await.unwrap();
        let frame = json!({"type": "req", "id": "slow", "method": "node.invoke", "params": {
            "nodeId": node_id, "command": "system.run",
            "params": {"command": ["sleep", "20"]}, "idempotencyKey": "run-2"}});
        admin.send(&frame).await.unwrap();
        smol::Timer::after(Duration::from_millis(1500)).await;
        let started = Instant::now();
        tests::process::kill_tree(node.child().id());
        let res = admin
            .response("slow", Duration::from_secs(15))
            .await
            .unwrap();
        (res, started.elapsed())
    });
    let (res, waited) = result;
    assert_eq!(
        res["error"]["message"], "DISCONNECTED: node disconnected (system.run)",
        "{res}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
}
