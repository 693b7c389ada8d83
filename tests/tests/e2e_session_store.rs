//! Sessions survive a restart of OUR gateway: a chat through the fake
//! provider is on disk after a SIGTERM, in the reference's v3 layout
//! (`agents/main/sessions/sessions.json` and `<sessionId>.jsonl`), and a
//! gateway started again on the same state dir shows it in `chat.history`
//! and sends it to the model with the next message.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::fake_provider::{Api, FakeProvider, Script};
use tests::process::{GatewayOptions, OurGateway};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(15);

/// The notes' minimal agent config (§4.9) pointing at the fake provider.
pub fn fake_model_config(provider: &FakeProvider) -> String {
    format!(
        r#"{{
        models: {{ mode: "merge", providers: {{
            fake: {{ baseUrl: "{}/v1", apiKey: "sk-fake", api: "openai-completions",
                    models: [{{ id: "echo", name: "Echo", reasoning: false, input: ["text"],
                               contextWindow: 32000, maxTokens: 1000 }}] }} }} }},
        agents: {{ defaults: {{ model: {{ primary: "fake/echo" }} }} }},
    }}"#,
        provider.url()
    )
}

/// A raw operator connection (shared token, admin scopes).
async fn operator(url: &str, token: &str) -> RawWs {
    let mut ws = RawWs::open(url).await.expect("open");
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => {}
        other => panic!("expected connect.challenge, got {other:?}"),
    }
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
        "role": "operator",
        "scopes": ["operator.admin", "operator.read", "operator.write"],
        "caps": [], "auth": {"token": token},
    }});
    ws.send_json(&frame).await.expect("send connect");
    let res = until(&mut ws, |v| v["type"] == "res" && v["id"] == "c0").await;
    assert_eq!(res["ok"], true, "{res}");
    ws
}

/// The first frame matching `pick`, within [`WAIT`].
async fn until(ws: &mut RawWs, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.recv_timeout(left).await {
            Some(Incoming::Json(v)) if pick(&v) => return v,
            Some(Incoming::Json(_)) | Some(Incoming::Text(_)) => {}
            other => panic!("frame not seen: {other:?}"),
        }
    }
}

async fn call(ws: &mut RawWs, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    ws.send_json(&frame).await.expect("send");
    let res = until(ws, |v| v["type"] == "res" && v["id"] == id).await;
    assert_eq!(res["ok"], true, "{method}: {res}");
    res["payload"].clone()
}

/// `chat.send` and wait for its run's final `chat` event.
async fn chat(ws: &mut RawWs, id: &str, message: &str) -> Value {
    let params = json!({"sessionKey": "main", "message": message, "idempotencyKey": id});
    call(ws, id, "chat.send", params).await;
    until(ws, |v| {
        v["type"] == "event" && v["event"] == "chat" && v["payload"]["state"] == "final"
    })
    .await
}

fn read_json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Role and text of each `chat.history` message.
fn history(payload: &Value) -> Vec<(String, String)> {
    payload["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                other => other.to_string(),
            };
            (m["role"].as_str().unwrap_or_default().to_owned(), text)
        })
        .collect()
}

#[test]
fn a_chat_is_on_disk_after_sigterm_and_comes_back_after_a_restart() {
    let provider = FakeProvider::start(vec![
        Script::reply(Api::OpenAi, &["Hello ", "from the fake model."]),
        Script::reply(Api::OpenAi, &["Second answer."]),
    ]);
    let opts = GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    };
    let mut gw = OurGateway::start(opts.clone());
    smol::block_on(async {
        let mut ws = operator(&gw.url(), &gw.token).await;
        let fin = chat(&mut ws, "run-1", "hi there").await;
        assert_eq!(fin["payload"]["sessionKey"], "agent:main:main", "{fin}");
    });
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}; output:\n{}",
        gw.output()
    );

    // On disk, in the v3 layout.
    let sessions = gw.dir.path().join("state/agents/main/sessions");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(sessions.join("sessions.json")).unwrap())
            .unwrap();
    let row = &index["agent:main:main"];
    assert_eq!(row["status"], "done", "{index}");
    let session_id = row["sessionId"].as_str().expect("sessionId");
    let lines = read_json_lines(&sessions.join(format!("{session_id}.jsonl")));
    assert_eq!(lines[0]["type"], "session", "{lines:?}");
    assert_eq!(lines[0]["id"], session_id);
    let messages: Vec<&Value> = lines.iter().filter(|l| l["type"] == "message").collect();
    assert_eq!(messages.len(), 2, "{lines:?}");
    assert_eq!(messages[0]["message"]["role"], "user");
    assert_eq!(messages[0]["message"]["content"], "hi there");
    assert_eq!(messages[1]["message"]["role"], "assistant");
    // Every entry after the header hangs off the one before it.
    for pair in lines[1..].windows(2) {
        assert_eq!(pair[1]["parentId"], pair[0]["id"], "{lines:?}");
    }
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions()) & 0o777
    };
    assert_eq!(mode(&sessions), 0o700);
    assert_eq!(mode(&sessions.join("sessions.json")), 0o600);

    // Started again on the same state dir: the history is back, and the
    // model gets it with the next message.
    let dir = gw.stop();
    let gw = OurGateway::start_in(
        GatewayOptions {
            config: None,
            ..opts
        },
        dir,
    );
    smol::block_on(async {
        let mut ws = operator(&gw.url(), &gw.token).await;
        let payload = call(&mut ws, "h1", "chat.history", json!({"sessionKey": "main"})).await;
        assert_eq!(
            history(&payload),
            [
                ("user".to_owned(), "hi there".to_owned()),
                (
                    "assistant".to_owned(),
                    "Hello from the fake model.".to_owned()
                )
            ],
            "{payload}"
        );
        chat(&mut ws, "run-2", "and again").await;
    });
    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    let sent = requests[1].body["messages"].to_string();
    assert!(sent.contains("hi there"), "{sent}");
    assert!(sent.contains("Hello from the fake model."), "{sent}");
    assert!(sent.contains("and again"), "{sent}");
}
