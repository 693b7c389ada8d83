//! Our `openclaw node run` against a scripted gateway (a loopback WebSocket
//! server in this test speaking the protocol frame by frame), for what a
//! real gateway cannot be made to do on demand:
//!
//! - a refused handshake (`PAIRING_REQUIRED`, as for a remote node) is
//!   reported with the approve hint and retried after a backoff;
//! - the node's connect frame: role, client, caps, commands, pathEnv, a
//!   signed device;
//! - `ask` mode: the node raises `exec.approval.request` (host `node`, its
//!   own node id, the command and its plan, a deadline within the invoke's)
//!   and obeys the decision: `allow-once` runs once, `deny` and no decision
//!   refuse, `allow-always` runs and adds the executable to the allowlist so
//!   the next run is not asked.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_util::StreamExt;
use serde_json::{json, Value};
use smol::net::{TcpListener, TcpStream};
use tests::process::{descendants, our_command, signal, GroupGuard};

fn wait_exit(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// No such process, or only its zombie is left.
fn is_gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

const TOKEN: &str = "ask-e2e-token";
const WAIT: Duration = Duration::from_secs(20);

/// One node connection to the scripted gateway.
struct Conn {
    ws: WebSocketStream<TcpStream>,
}

impl Conn {
    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send to the node");
    }

    /// The next JSON text frame from the node (bounded wait; pings skipped).
    async fn recv(&mut self) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let next = async { self.ws.next().await };
            let timeout = async {
                smol::Timer::at(deadline).await;
                None
            };
            match smol::future::or(next, timeout).await {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str()).expect("JSON from the node")
                }
                Some(Ok(_)) => continue,
                other => panic!("no frame from the node: {other:?}"),
            }
        }
    }

    /// The next request for `method`; other requests (`node.event`) are answered `{ok:true}`.
    async fn request(&mut self, method: &str) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] != "req" {
                continue;
            }
            if frame["method"] == method {
                return frame;
            }
            let id = frame["id"].clone();
            self.send(json!({"type": "res", "id": id, "ok": true, "payload": {"ok": true}}))
                .await;
        }
    }

    async fn respond(&mut self, req: &Value, payload: Value) {
        self.send(json!({"type": "res", "id": req["id"], "ok": true, "payload": payload}))
            .await;
    }

    /// Send `node.invoke.request` and return the node's `node.invoke.result` params.
    async fn invoke(&mut self, id: &str, command: &str, params: Value) -> Value {
        self.send_invoke(id, command, params).await;
        self.result(id).await
    }

    async fn send_invoke(&mut self, id: &str, command: &str, params: Value) {
        let node_id = "node-under-test";
        self.send(
            json!({"type": "event", "event": "node.invoke.request", "payload": {
            "id": id, "nodeId": node_id, "command": command,
            "paramsJSON": params.to_string(), "timeoutMs": 30000, "idempotencyKey": id}}),
        )
        .await;
    }

    async fn result(&mut self, id: &str) -> Value {
        let req = self.request("node.invoke.result").await;
        self.respond(&req, json!({"ok": true})).await;
        assert_eq!(req["params"]["id"], id, "{req}");
        req["params"].clone()
    }
}

/// Accept the node's next connection and read its `connect` request.
async fn accept(listener: &TcpListener) -> (Conn, Value) {
    let accepted = async { Some(listener.accept().await.expect("accept")) };
    let timeout = async {
        smol::Timer::after(WAIT).await;
        None
    };
    let (stream, _) = smol::future::or(accepted, timeout)
        .await
        .expect("the node connects");
    let ws = async_tungstenite::accept_async(stream)
        .await
        .expect("ws upgrade");
    let mut conn = Conn { ws };
    conn.send(json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": "nonce-1", "ts": 1}}))
        .await;
    let connect = conn.request("connect").await;
    (conn, connect)
}

fn hello(connect: &Value) -> Value {
    json!({"type": "res", "id": connect["id"], "ok": true, "payload": {
        "type": "hello-ok", "protocol": 4, "server": {"version": "scripted", "connId": "c1"},
        "features": {"methods": [], "events": []}, "snapshot": {},
        "policy": {"tickIntervalMs": 30000}, "auth": {"role": "node", "scopes": []}}})
}

struct Node {
    guard: GroupGuard,
    log: PathBuf,
    _home: tempfile::TempDir,
}

impl Node {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn start_node(port: u16) -> Node {
    start_node_with(port, &[])
}

fn start_node_with(port: u16, extra: &[&str]) -> Node {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("node.log");
    let mut cmd = our_command(home.path());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args([
        "node",
        "run",
        "--port",
        &port.to_string(),
        "--display-name",
        "Ask Node",
    ])
    .args(["--node-id", "instance-7"])
    .args(extra)
    .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap());
    Node {
        guard: GroupGuard::new(cmd.spawn().expect("spawn openclaw node run")),
        log,
        _home: home,
    }
}

#[test]
fn pairing_refusal_is_retried_and_ask_mode_obeys_the_operators_decision() {
    smol::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let node = start_node(port);

        // 1. Refused: pairing required. The node says so and comes back.
        let (mut conn, connect) = accept(&listener).await;
        conn.send(
            json!({"type": "res", "id": connect["id"], "ok": false, "error": {
            "code": "NOT_PAIRED", "message": "pairing required",
            "details": {"code": "PAIRING_REQUIRED", "requestId": "req-42"}}}),
        )
        .await;
        let _ = conn.ws.close(None).await;
        let refused_at = Instant::now();

        // 2. Accepted.
        let (mut conn, connect) = accept(&listener).await;
        let waited = refused_at.elapsed();
        assert!(
            waited >= Duration::from_millis(700) && waited < Duration::from_secs(5),
            "reconnected after {waited:?}"
        );
        let log = node.log();
        assert!(
            log.contains("node host gateway connect failed: NOT_PAIRED: pairing required"),
            "{log}"
        );
        assert!(log.contains("openclaw devices approve req-42"), "{log}");

        let p = &connect["params"];
        assert_eq!(p["role"], "node");
        assert_eq!(p["scopes"], json!([]));
        assert_eq!(
            (p["minProtocol"].clone(), p["maxProtocol"].clone()),
            (json!(4), json!(4))
        );
        assert_eq!(p["client"]["id"], "node-host");
        assert_eq!(p["client"]["mode"], "node");
        assert_eq!(p["client"]["displayName"], "Ask Node");
        assert_eq!(p["client"]["instanceId"], "instance-7");
        assert_eq!(p["client"]["deviceFamily"], "Linux");
        assert_eq!(p["caps"], json!(["system"]));
        assert_eq!(
            p["commands"],
            json!([
                "system.run",
                "system.which",
                "system.execApprovals.get",
                "system.execApprovals.set"
            ])
        );
        assert!(p["pathEnv"].is_string());
        assert_eq!(p["auth"]["token"], TOKEN);
        assert_eq!(p["device"]["nonce"], "nonce-1");
        let device_id = p["device"]["id"]
            .as_str()
            .expect("a signed device")
            .to_owned();
        conn.send(hello(&connect)).await;

        // 3. Local policy: allowlist, ask on a miss.
        let got = conn
            .invoke("g1", "system.execApprovals.get", json!({}))
            .await;
        let snapshot: Value = serde_json::from_str(got["payloadJSON"].as_str().unwrap()).unwrap();
        let set = conn
            .invoke(
                "s1",
                "system.execApprovals.set",
                json!({
                "file": {"version": 1, "defaults": {"security": "allowlist", "ask": "on-miss"}},
                "baseHash": snapshot["hash"]}),
            )
            .await;
        assert_eq!(set["ok"], true, "{set}");

        // 4. allow-once: asked, then run.
        conn.send_invoke("r1", "system.run", json!({"command": ["true"], "cwd": "/"}))
            .await;
        let ask = conn.request("exec.approval.request").await;
        let a = &ask["params"];
        assert_eq!(a["host"], "node");
        assert_eq!(a["nodeId"], device_id.as_str());
        assert_eq!(a["command"], "true");
        assert_eq!(a["commandArgv"], json!(["true"]));
        assert_eq!(a["cwd"], "/");
        assert_eq!(a["systemRunPlan"]["argv"], json!(["true"]));
        assert_eq!(a["systemRunPlan"]["commandText"], "true");
        let wait = a["timeoutMs"].as_u64().unwrap();
        assert!(
            wait > 0 && wait < 30_000,
            "the approval wait fits in the invoke's 30 s: {wait}"
        );
        conn.respond(&ask, json!({"id": "ap-1", "decision": "allow-once"}))
            .await;
        let r1 = conn.result("r1").await;
        assert_eq!(r1["ok"], true, "{r1}");
        let out: Value = serde_json::from_str(r1["payloadJSON"].as_str().unwrap()).unwrap();
        assert_eq!(out["exitCode"], 0);

        // 5. allow-once did not stick: asked again; deny refuses.
        conn.send_invoke("r2", "system.run", json!({"command": ["true"]}))
            .await;
        let ask = conn.request("exec.approval.request").await;
        conn.respond(&ask, json!({"id": "ap-2", "decision": "deny"}))
            .await;
        let r2 = conn.result("r2").await;
        assert_eq!(
            r2["error"],
            json!({"code": "SYSTEM_RUN_DENIED", "message": "SYSTEM_RUN_DENIED: approval required"}),
            "{r2}"
        );

        // 6. No decision (the approval expired): refused too.
        conn.send_invoke("r3", "system.run", json!({"command": ["true"]}))
            .await;
        let ask = conn.request("exec.approval.request").await;
        conn.respond(&ask, json!({"id": "ap-3", "decision": null}))
            .await;
        assert_eq!(conn.result("r3").await["ok"], false);

        // 7. allow-always: runs, and the next run is not asked.
        conn.send_invoke("r4", "system.run", json!({"command": ["true"]}))
            .await;
        let ask = conn.request("exec.approval.request").await;
        conn.respond(&ask, json!({"id": "ap-4", "decision": "allow-always"}))
            .await;
        assert_eq!(conn.result("r4").await["ok"], true);
        let r5 = conn
            .invoke("r5", "system.run", json!({"command": ["true"]}))
            .await;
        assert_eq!(r5["ok"], true, "not asked again: {r5}");
        let got = conn
            .invoke("g2", "system.execApprovals.get", json!({}))
            .await;
        let snapshot: Value = serde_json::from_str(got["payloadJSON"].as_str().unwrap()).unwrap();
        let entries = snapshot["file"]["agents"]["*"]["allowlist"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            entries.iter().any(|e| e["source"] == "allow-always"
                && e["pattern"].as_str().is_some_and(|p| p.ends_with("/true"))),
            "{snapshot}"
        );

        // 8. A command not on the allowlist and a gateway that refuses the
        // approval request (as the reference does for nodes): refused.
        conn.send_invoke("r6", "system.run", json!({"command": ["false"]}))
            .await;
        let ask = conn.request("exec.approval.request").await;
        conn.send(json!({"type": "res", "id": ask["id"], "ok": false,
            "error": {"code": "INVALID_REQUEST", "message": "unauthorized role: node"}}))
            .await;
        let r6 = conn.result("r6").await;
        assert_eq!(
            r6["error"]["message"], "SYSTEM_RUN_DENIED: approval required",
            "{r6}"
        );

        // 9. SIGTERM while a command runs: the node kills it and exits 0.
        let current = conn
            .invoke("g3", "system.execApprovals.get", json!({}))
            .await;
        let current: Value =
            serde_json::from_str(current["payloadJSON"].as_str().unwrap()).unwrap();
        let set = conn
            .invoke(
                "s2",
                "system.execApprovals.set",
                json!({
                "file": {"version": 1, "defaults": {}}, "baseHash": current["hash"]}),
            )
            .await;
        assert_eq!(set["ok"], true, "{set}");
        conn.send_invoke("r7", "system.run", json!({"command": ["sleep", "30"]}))
            .await;
        let mut node = node;
        let pid = node.guard.pgid;
        let deadline = Instant::now() + WAIT;
        let sleeping = loop {
            let children = descendants(pid);
            if !children.is_empty() {
                break children;
            }
            assert!(Instant::now() < deadline, "the command never started");
            smol::Timer::after(Duration::from_millis(50)).await;
        };
        signal(pid, "TERM");
        let status = wait_exit(node.guard.child(), WAIT).expect("the node exits on SIGTERM");
        assert!(status.success(), "{status}");
        for child in sleeping {
            let gone = Instant::now() + Duration::from_secs(5);
            while !is_gone(child) {
                assert!(Instant::now() < gone, "command {child} survived the node");
                smol::Timer::after(Duration::from_millis(50)).await;
            }
        }
    });
}

#[test]
fn the_commands_flag_is_an_exact_allowlist() {
    smol::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _node = start_node_with(port, &["--commands", "system.which,camera.snap"]);
        let (mut conn, connect) = accept(&listener).await;
        assert_eq!(connect["params"]["commands"], json!(["system.which"]));
        conn.send(hello(&connect)).await;
        let which = conn
            .invoke("w1", "system.which", json!({"bins": ["sh"]}))
            .await;
        assert_eq!(which["ok"], true, "{which}");
        let run = conn
            .invoke("r1", "system.run", json!({"command": ["true"]}))
            .await;
        assert_eq!(
            run["error"],
            json!({"code": "UNAVAILABLE", "message": "command not supported"}),
            "{run}"
        );
    });
}
