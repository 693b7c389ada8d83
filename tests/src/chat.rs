//! Chat over a raw operator connection, for tests of agent runs: the
//! fake provider's config, `chat.send` up to the run's final event.

// Real sockets in real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fake_provider::FakeProvider;
use crate::ws::{Incoming, RawWs};

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
pub async fn operator(url: &str, token: &str) -> RawWs {
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
pub async fn until(ws: &mut RawWs, pick: impl Fn(&Value) -> bool) -> Value {
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

pub async fn call(ws: &mut RawWs, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    ws.send_json(&frame).await.expect("send");
    let res = until(ws, |v| v["type"] == "res" && v["id"] == id).await;
    assert_eq!(res["ok"], true, "{method}: {res}");
    res["payload"].clone()
}

/// `chat.send` and wait for its run's final `chat` event.
pub async fn chat(ws: &mut RawWs, id: &str, message: &str) -> Value {
    let params = json!({"sessionKey": "main", "message": message, "idempotencyKey": id});
    call(ws, id, "chat.send", params).await;
    until(ws, |v| {
        v["type"] == "event" && v["event"] == "chat" && v["payload"]["state"] == "final"
    })
    .await
}

/// Role and text of each `chat.history` message.
pub fn history(payload: &Value) -> Vec<(String, String)> {
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
