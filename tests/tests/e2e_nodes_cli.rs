//! `openclaw nodes …` (our CLI) against OUR gateway binary, with a node host
//! played by a raw WebSocket client that signs in with its own key: the
//! node's surface waits in `nodes pending`, `nodes approve` approves it,
//! `nodes status|list|describe` show it, `nodes invoke` runs `system.which`
//! on it (the fake node answers the `node.invoke.request`), `nodes rename`
//! renames it, and `system.run` is refused by the CLI itself.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway_proto::client::{DeviceKey, SignInput};
use serde_json::{json, Value};
use tests::process::{our_command, GatewayOptions, OurGateway, TOKEN};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(20);

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Run our `openclaw` with `args` against `url`.
fn cli(home: &Path, url: &str, args: &[&str]) -> Output {
    let mut cmd = our_command(home);
    cmd.args(args)
        .args(["--url", url, "--token", TOKEN])
        .env("NO_COLOR", "1");
    cmd.output().expect("run openclaw")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout {}\nstderr {}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The next frame matching `wanted` (others are skipped), within `WAIT`.
async fn next(ws: &mut RawWs, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.recv_timeout(left).await {
            Some(Incoming::Json(v)) if wanted(&v) => return v,
            Some(Incoming::Json(_)) | Some(Incoming::Text(_)) => {}
            other => panic!("{what} not seen: {other:?}"),
        }
    }
}

/// A node host signing in with its own key, declaring `system.which`.
async fn node(url: &str, key: &DeviceKey) -> RawWs {
    let mut ws = RawWs::open(url).await.expect("open");
    let nonce = match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => v["payload"]["nonce"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        other => panic!("expected connect.challenge, got {other:?}"),
    };
    let proof = key.sign(
        &SignInput {
            client_id: "node-host",
            client_mode: "node",
            role: "node",
            scopes: &[],
            token: TOKEN,
            nonce: &nonce,
            platform: "linux",
            device_family: "Linux",
        },
        unix_ms(),
    );
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "node-host", "version": "2026.9.6", "platform": "linux", "mode": "node",
                   "deviceFamily": "Linux", "displayName": "Build Box"},
        "role": "node", "scopes": [], "caps": ["system"], "commands": ["system.which"],
        "auth": {"token": TOKEN},
        "device": {"id": proof.id, "publicKey": proof.public_key, "signature": proof.signature,
                   "signedAt": proof.signed_at, "nonce": proof.nonce},
    }});
    ws.send_json(&frame).await.expect("send");
    let answer = next(&mut ws, "hello", |v| v["type"] == "res" && v["id"] == "c0").await;
    assert_eq!(answer["ok"], true, "{answer}");
    ws
}

#[test]
fn the_nodes_cli_pairs_describes_invokes_and_renames_a_node() {
    let gw = OurGateway::start(GatewayOptions::default());
    let url = gw.url();
    let home = tempfile::tempdir().expect("tempdir");
    let home = home.path().to_owned();
    let key = DeviceKey::from_secret([33; 32]);
    let node_id = key.device_id();
    smol::block_on(async {
        let mut host = node(&url, &key).await;

        // The declared surface waits for approval.
        let pending = json_of(&cli(&home, &url, &["nodes", "pending", "--json"]));
        let request = pending
            .as_array()
            .and_then(|p| p.iter().find(|r| r["nodeId"] == node_id.as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("no pending request for the node: {pending}"));
        let request_id = request["requestId"].as_str().unwrap().to_owned();
        let table = stdout(&cli(&home, &url, &["nodes", "pending"]));
        assert!(table.starts_with("Pending\n┌"), "{table}");
        assert!(
            table.contains(&request_id) && table.contains("Build Box"),
            "{table}"
        );

        // Approve it: the answer is printed as JSON even without --json.
        let approved = json_of(&cli(&home, &url, &["nodes", "approve", &request_id]));
        assert_eq!(approved["requestId"], request_id.as_str());
        assert_eq!(approved["node"]["nodeId"], node_id.as_str());
        assert_eq!(approved["node"]["commands"], json!(["system.which"]));

        let status = json_of(&cli(&home, &url, &["nodes", "status", "--json"]));
        let row = status["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["nodeId"] == node_id.as_str()))
            .cloned()
            .expect("the node in status");
        assert_eq!(row["connected"], true);
        assert_eq!(row["approvalState"], "approved");
        let human = stdout(&cli(&home, &url, &["nodes", "status"]));
        assert!(
            human.starts_with("Known: 1 · Paired: 1 · Connected: 1\n"),
            "{human}"
        );
        let list = stdout(&cli(&home, &url, &["nodes", "list"]));
        assert!(list.starts_with("Pending: 0 · Paired: 1\n"), "{list}");
        let described = stdout(&cli(
            &home,
            &url,
            &["nodes", "describe", "--node", "build box"],
        ));
        assert!(described.contains("│ ID "), "{described}");
        assert!(
            described.contains("Commands\n- system.which"),
            "{described}"
        );

        // Invoke: the CLI runs while the fake node answers.
        let (home2, url2) = (home.clone(), url.clone());
        let prefix = node_id[..8].to_owned();
        let invoke = smol::unblock(move || {
            cli(
                &home2,
                &url2,
                &[
                    "nodes",
                    "invoke",
                    "--node",
                    &prefix,
                    "--command",
                    "system.which",
                    "--params",
                    r#"{"bins":["sh"]}"#,
                    "--invoke-timeout",
                    "8000",
                ],
            )
        });
        let request = next(&mut host, "node.invoke.request", |v| {
            v["event"] == "node.invoke.request"
        })
        .await;
        let payload = &request["payload"];
        assert_eq!(payload["command"], "system.which");
        assert_eq!(payload["timeoutMs"], 8000);
        let params: Value = serde_json::from_str(payload["paramsJSON"].as_str().unwrap()).unwrap();
        assert_eq!(params, json!({"bins": ["sh"]}));
        let result = json!({"type": "req", "id": "res1", "method": "node.invoke.result", "params": {
            "id": payload["id"], "nodeId": node_id, "ok": true,
            "payloadJSON": r#"{"bins":{"sh":"/usr/bin/sh"}}"#,
        }});
        host.send_json(&result).await.unwrap();
        let answer = json_of(&invoke.await);
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["payload"], json!({"bins": {"sh": "/usr/bin/sh"}}));

        // Shell execution is refused before any gateway call.
        let refused = cli(
            &home,
            &url,
            &[
                "nodes",
                "invoke",
                "--node",
                "build box",
                "--command",
                "system.run",
            ],
        );
        assert_eq!(refused.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&refused.stderr)
            .contains("[openclaw] Reason: command \"system.run\" is reserved for shell execution"));

        let renamed = cli(
            &home,
            &url,
            &[
                "nodes",
                "rename",
                "--node",
                "build box",
                "--name",
                "Renamed",
            ],
        );
        assert_eq!(
            stdout(&renamed).trim(),
            format!("node rename ok: {node_id} -> Renamed")
        );
        // A human command reports a failure on stderr only; a machine-output
        // one (invoke, approve, reject) or --json as JSON on stdout too.
        let unknown = cli(&home, &url, &["nodes", "describe", "--node", "nope"]);
        assert_eq!(unknown.status.code(), Some(1));
        assert_eq!(stdout(&unknown), "");
        assert_eq!(
            String::from_utf8_lossy(&unknown.stderr).trim(),
            "nodes describe failed: unknown node: nope (known: Renamed)"
        );
        let unknown = cli(
            &home,
            &url,
            &["nodes", "invoke", "--node", "nope", "--command", "x"],
        );
        assert_eq!(unknown.status.code(), Some(1));
        let error = serde_json::from_slice::<Value>(&unknown.stdout).expect("JSON error");
        assert_eq!(
            error["error"]["message"],
            "unknown node: nope (known: Renamed)"
        );
    });
}
