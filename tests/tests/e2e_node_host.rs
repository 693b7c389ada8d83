//! Our `openclaw node run` against a real gateway: it connects as a node
//! (silently paired on loopback), its capability surface waits for an
//! operator (which it reports), the reference CLI's `openclaw nodes
//! approve` approves it, and then `node.invoke` runs `system.which` and
//! `system.run` on it: output and exit code, a command timeout that kills
//! the process group, a cancel (the gateway's invoke deadline) that kills
//! it too, local exec approvals (`deny`, and `ask` which the reference
//! gateway refuses to let a node raise), and a reconnect after the gateway
//! restarts on the same port. Skipped (with a note) without the reference.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gateway_proto::client::ClientIdentity;
use gateway_smol::client::{CallError, Client, ClientEvent, ClientOptions};
use gateway_smol::store::ExecApprovalsStore;
use serde_json::{json, Value};
use tests::process::{
    descendants, reference_cli, spawn_node_host, GatewayOptions, GroupGuard, OurGateway,
    ReferenceGateway,
};

const TOKEN: &str = "node-e2e-token";
const VERSION: &str = "v4";
const WAIT: Duration = Duration::from_secs(30);

/// Our node host, its stderr in a file.
struct NodeHost {
    guard: GroupGuard,
    log: PathBuf,
    home: tempfile::TempDir,
}

impl NodeHost {
    /// Start it; `approvals` (a document) is written to its state first.
    fn start(port: u16, token: &str, approvals: Option<Value>) -> NodeHost {
        let home = tempfile::tempdir().unwrap();
        if let Some(doc) = approvals {
            let mut store = ExecApprovalsStore::open(&home.path().join("state")).unwrap();
            assert!(store.replace(None, &doc.to_string()).unwrap());
        }
        let log = home.path().join("node.log");
        let file = std::fs::File::create(&log).unwrap();
        let guard = spawn_node_host(home.path(), port, token, "Rust Node", file);
        NodeHost { guard, log, home }
    }

    /// Roles with a device token cached in the node's state database.
    fn cached_token_roles(&self) -> Vec<String> {
        let db = self.home.path().join("state/state/openclaw.sqlite");
        let conn = rusqlite::Connection::open(db).unwrap();
        let mut stmt = conn.prepare("SELECT role FROM device_auth_tokens").unwrap();
        let roles = stmt.query_map([], |r| r.get(0)).unwrap();
        roles.map(Result::unwrap).collect()
    }

    /// Whether the node's approvals row exists (the reference's table).
    fn has_approvals_row(&self) -> bool {
        let db = self.home.path().join("state/state/openclaw.sqlite");
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row(
            "SELECT count(*) FROM exec_approvals_config WHERE config_key = 'current'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    fn pid(&self) -> u32 {
        self.guard.pgid
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log holds `needle` `times` times.
    fn wait_log(&self, needle: &str, times: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.log().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "node log never had {needle:?} x{times}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the node host has no child processes left.
    fn wait_no_children(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !descendants(self.pid()).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the node host still has children {:?}",
                descendants(self.pid())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An admin operator on loopback with the shared token (no device).
async fn operator(port: u16) -> Client {
    operator_with_caps(port, &[]).await
}

/// An operator declaring `caps`: `exec-approvals` makes it an approval
/// client, to which exec approval requests are delivered.
async fn operator_with_caps(port: u16, caps: &[&str]) -> Client {
    let opts = ClientOptions {
        caps: caps.iter().map(|c| c.to_string()).collect(),
        token: Some(TOKEN.into()),
        client: ClientIdentity {
            id: "cli".into(),
            mode: "cli".into(),
            ..ClientIdentity::default()
        },
        scopes: [
            "operator.admin",
            "operator.read",
            "operator.write",
            "operator.approvals",
            "operator.pairing",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        reconnect: false,
        request_timeout: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    Client::connect(&format!("ws://127.0.0.1:{port}"), opts)
        .await
        .expect("operator connects")
}

/// The pending surface request of the node called "Rust Node".
async fn pending_surface(op: &Client) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = op.call("node.pair.list", Some(json!({}))).await.unwrap();
        let found = list["pending"]
            .as_array()
            .and_then(|p| p.iter().find(|r| r["displayName"] == "Rust Node"))
            .cloned();
        if let Some(found) = found {
            return found;
        }
        assert!(Instant::now() < deadline, "no pending surface: {list}");
        smol::Timer::after(Duration::from_millis(200)).await;
    }
}

async fn invoke(
    op: &Client,
    node: &str,
    command: &str,
    params: Value,
    timeout_ms: u64,
) -> Result<Value, CallError> {
    op.call(
        "node.invoke",
        Some(json!({"nodeId": node, "command": command, "params": params,
                    "timeoutMs": timeout_ms, "idempotencyKey": format!("k-{}", rand_suffix())})),
    )
    .await
}

fn rand_suffix() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).unwrap();
    u64::from_le_bytes(b)
}

fn message(err: &CallError) -> String {
    err.gateway_error()
        .map(|e| format!("{}: {}", e.code.as_str(), e.message))
        .unwrap_or_else(|| err.to_string())
}

/// Write the node's approvals through the gateway (`exec.approvals.node.*`).
async fn set_approvals(op: &Client, node: &str, defaults: Value) -> Value {
    let current = op
        .call("exec.approvals.node.get", Some(json!({"nodeId": node})))
        .await
        .expect("exec.approvals.node.get");
    assert!(
        current["path"]
            .as_str()
            .unwrap()
            .ends_with("state/openclaw.sqlite#exec_approvals_config"),
        "{current}"
    );
    let mut file = current["file"].clone();
    file["defaults"] = defaults;
    op.call(
        "exec.approvals.node.set",
        Some(json!({"nodeId": node, "file": file, "baseHash": current["hash"]})),
    )
    .await
    .expect("exec.approvals.node.set")
}

/// Approve the surface with the reference CLI (`openclaw nodes approve`).
fn approve_with_reference_cli(port: u16, request_id: &str) {
    let Some(cli) = reference_cli("v4") else {
        panic!("the reference CLI is needed to approve");
    };
    let home = tempfile::tempdir().unwrap();
    let port = port.to_string();
    let out = cli.run(
        home.path(),
        &["nodes", "approve", request_id, "--json"],
        &[
            ("OPENCLAW_GATEWAY_PORT", &port),
            ("OPENCLAW_GATEWAY_TOKEN", TOKEN),
        ],
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "openclaw nodes approve: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Everything up to an approved, invokable node; its node id.
/// `pending_log`: the gateway refuses the node's `node.event` until its
/// surface is approved (the reference does), and the node reports it.
async fn connect_and_approve(port: u16, node: &NodeHost, pending_log: bool) -> String {
    node.wait_log("node host gateway connected", 1, WAIT);
    let op = operator(port).await;
    let request = pending_surface(&op).await;
    let node_id = request["nodeId"].as_str().unwrap().to_owned();
    assert_eq!(request["clientId"], "node-host");
    assert_eq!(request["clientMode"], "node");
    assert_eq!(
        request["commands"],
        json!([
            "system.run",
            "system.which",
            "system.execApprovals.get",
            "system.execApprovals.set"
        ])
    );
    assert_eq!(request["caps"], json!(["system"]));
    // Until approved, the node's stats are refused, and it says why.
    if pending_log {
        node.wait_log("capability surface awaits operator approval", 1, WAIT);
    }
    approve_with_reference_cli(port, request["requestId"].as_str().unwrap());
    node.wait_log("capability surface approved by an operator", 1, WAIT);
    let described = op
        .call("node.describe", Some(json!({"nodeId": node_id})))
        .await
        .unwrap();
    assert_eq!(described["connected"], true, "{described}");
    assert_eq!(described["approvalState"], "approved", "{described}");
    // Paired silently on loopback: the device token it got is cached for the node role.
    assert_eq!(node.cached_token_roles(), ["node"]);
    node_id
}

/// `system.which` and `system.run` (output, exit code, timeout, cancel).
async fn exercise_commands(port: u16, node: &NodeHost, node_id: &str) {
    let op = operator(port).await;
    let which = invoke(
        &op,
        node_id,
        "system.which",
        json!({"bins": ["sh", "no-such-binary-e2e"]}),
        30_000,
    )
    .await
    .expect("system.which");
    let sh = which["payload"]["bins"]["sh"].as_str().expect("sh found");
    assert!(Path::new(sh).exists(), "{which}");
    assert!(
        which["payload"]["bins"].get("no-such-binary-e2e").is_none(),
        "{which}"
    );

    let run = invoke(
        &op,
        node_id,
        "system.run",
        json!({"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}),
        30_000,
    )
    .await
    .expect("system.run");
    let p = &run["payload"];
    assert_eq!(
        (
            p["exitCode"].clone(),
            p["success"].clone(),
            p["timedOut"].clone()
        ),
        (json!(3), json!(false), json!(false)),
        "{run}"
    );
    assert_eq!(
        (p["stdout"].as_str(), p["stderr"].as_str()),
        (Some("out\n"), Some("err\n"))
    );

    // The command's own timeout kills it (and what it started).
    let started = Instant::now();
    let timed = invoke(
        &op,
        node_id,
        "system.run",
        json!({"command": ["sh", "-c", "sleep 30 & sleep 30"], "timeoutMs": 500}),
        30_000,
    )
    .await
    .expect("a timed-out system.run still answers");
    assert_eq!(
        (
            timed["payload"]["timedOut"].clone(),
            timed["payload"]["exitCode"].clone()
        ),
        (json!(true), json!(124)),
        "{timed}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    node.wait_no_children(Duration::from_secs(5));

    // The gateway's invoke deadline: it answers TIMEOUT and sends the node
    // node.invoke.cancel, which kills the process.
    let err = invoke(
        &op,
        node_id,
        "system.run",
        json!({"command": ["sleep", "30"]}),
        1_500,
    )
    .await
    .expect_err("the invoke times out");
    assert!(message(&err).contains("TIMEOUT"), "{}", message(&err));
    node.wait_log("node host invoke cancelled", 1, WAIT);
    node.wait_no_children(Duration::from_secs(5));

    // Several at once.
    let runs = (0..4).map(|i| {
        let op = &op;
        async move {
            invoke(
                op,
                node_id,
                "system.run",
                json!({"command": ["sh", "-c", format!("sleep 1; echo {i}")]}),
                30_000,
            )
            .await
        }
    });
    let started = Instant::now();
    let results = futures_util::future::join_all(runs).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(
            r.expect("concurrent run")["payload"]["stdout"],
            format!("{i}\n")
        );
    }
    // One after another would take 4 s.
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "ran one after another: {:?}",
        started.elapsed()
    );
}

/// Local approvals: `deny` refuses; `ask` asks the gateway, which (the
/// reference) refuses a node's request, so the command is refused.
async fn exercise_approvals(port: u16, node_id: &str) {
    let op = operator(port).await;
    set_approvals(&op, node_id, json!({"security": "deny"})).await;
    let err = invoke(
        &op,
        node_id,
        "system.run",
        json!({"command": ["true"]}),
        30_000,
    )
    .await
    .expect_err("denied");
    assert!(
        message(&err).contains("SYSTEM_RUN_DISABLED: security=deny"),
        "{}",
        message(&err)
    );

    set_approvals(&op, node_id, json!({"security": "full", "ask": "always"})).await;
    let err = invoke(
        &op,
        node_id,
        "system.run",
        json!({"command": ["true"]}),
        30_000,
    )
    .await
    .expect_err("not approved");
    assert!(
        message(&err).contains("SYSTEM_RUN_DENIED: approval required"),
        "{}",
        message(&err)
    );

    let back = set_approvals(&op, node_id, json!({})).await;
    assert_eq!(back["file"]["defaults"], json!({}), "{back}");
    assert!(
        back["file"]["socket"].get("token").is_none(),
        "the token is never shown: {back}"
    );
    invoke(
        &op,
        node_id,
        "system.run",
        json!({"command": ["true"]}),
        30_000,
    )
    .await
    .expect("full/off runs again");
}

/// An `ask: always` node: the command waits for an operator; a second
/// operator client (with `operator.approvals`) sees `exec.approval.requested`
/// and answers `exec.approval.resolve`; the node runs it.
async fn ask_approved_by_a_second_operator(port: u16, node: &NodeHost, node_id: &str) {
    let op = operator(port).await;
    let approver = operator_with_caps(port, &["exec-approvals"]).await;
    let events = approver.events();
    let run = invoke(
        &op,
        node_id,
        "system.run",
        json!({"command": ["sh", "-c", "echo approved"]}),
        30_000,
    );
    let approve = async {
        let deadline = Instant::now() + WAIT;
        loop {
            let next = async { events.recv().await.ok() };
            let timeout = async {
                smol::Timer::at(deadline).await;
                None
            };
            match smol::future::or(next, timeout).await {
                Some(ClientEvent::Event { name, payload, .. })
                    if name == "exec.approval.requested" =>
                {
                    assert_eq!(payload["request"]["host"], "node", "{payload}");
                    assert_eq!(payload["request"]["nodeId"], node_id, "{payload}");
                    let resolved = approver
                        .call(
                            "exec.approval.resolve",
                            Some(json!({"id": payload["id"], "decision": "allow-once"})),
                        )
                        .await;
                    assert!(resolved.is_ok(), "{resolved:?}");
                    return payload;
                }
                Some(_) => continue,
                None => panic!(
                    "no exec.approval.requested reached the second operator; node log:\n{}",
                    node.log()
                ),
            }
        }
    };
    let (ran, requested) = smol::future::zip(run, approve).await;
    let ran = ran.expect("the approved command runs");
    assert_eq!(
        ran["payload"]["stdout"], "approved\n",
        "{ran} after {requested}"
    );
}

#[test]
fn our_node_host_serves_the_reference_gateway() {
    let Some(gw) = ReferenceGateway::start(VERSION, TOKEN) else {
        return;
    };
    let port = gw.port;
    let node = NodeHost::start(port, TOKEN, None);
    smol::block_on(async {
        let node_id = connect_and_approve(port, &node, true).await;
        exercise_commands(port, &node, &node_id).await;
        exercise_approvals(port, &node_id).await;
        assert!(
            node.has_approvals_row(),
            "approvals are kept in exec_approvals_config"
        );

        // The gateway restarts on the same port: the node comes back by itself.
        let dir = gw.into_dir();
        node.wait_log("node host gateway closed", 1, WAIT);
        let gw2 =
            ReferenceGateway::start_on(VERSION, TOKEN, dir, port).expect("the reference restarts");
        node.wait_log("node host gateway connected", 2, Duration::from_secs(90));
        let op = operator(gw2.port).await;
        let deadline = Instant::now() + WAIT;
        loop {
            match invoke(
                &op,
                &node_id,
                "system.which",
                json!({"bins": ["sh"]}),
                10_000,
            )
            .await
            {
                Ok(v) if v["payload"]["bins"]["sh"].is_string() => break,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "no invoke after the restart: {other:?}\n{}",
                        node.log()
                    );
                    smol::Timer::after(Duration::from_millis(300)).await;
                }
            }
        }
    });
}

#[test]
fn our_node_host_serves_our_gateway() {
    // The reference CLI approves the surface: skipped without it.
    if reference_cli("v4").is_none() {
        return;
    }
    let opts = GatewayOptions {
        token: TOKEN.to_owned(),
        ..GatewayOptions::default()
    };
    let gw = OurGateway::start(opts.clone());
    let port = gw.port;
    let node = NodeHost::start(port, TOKEN, None);
    smol::block_on(async {
        let node_id = connect_and_approve(port, &node, true).await;
        exercise_commands(port, &node, &node_id).await;
        exercise_approvals(port, &node_id).await;
        assert!(node.has_approvals_row());
        // Our gateway lets the node ask: a second operator approves.
        let op = operator(port).await;
        set_approvals(&op, &node_id, json!({"ask": "always"})).await;
        ask_approved_by_a_second_operator(port, &node, &node_id).await;
        set_approvals(&op, &node_id, json!({})).await;

        // Our gateway restarts on the same port: the node comes back by itself.
        let dir = gw.stop();
        node.wait_log("node host gateway closed", 1, WAIT);
        let gw2 = OurGateway::start_on(opts, dir, port);
        node.wait_log("node host gateway connected", 2, Duration::from_secs(60));
        let op = operator(gw2.port).await;
        let deadline = Instant::now() + WAIT;
        loop {
            match invoke(
                &op,
                &node_id,
                "system.which",
                json!({"bins": ["sh"]}),
                10_000,
            )
            .await
            {
                Ok(v) if v["payload"]["bins"]["sh"].is_string() => break,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "no invoke after the restart: {other:?}\n{}\n{}",
                        node.log(),
                        gw2.output()
                    );
                    smol::Timer::after(Duration::from_millis(300)).await;
                }
            }
        }
    });
}
