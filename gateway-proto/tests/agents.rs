//! Agent runs and chat in virtual time, with the model call scripted by
//! the test: the reference's event order, idempotency, queueing, aborts,
//! timeouts, failures, slow readers and protocol-3 clients.

mod common;

use common::nodes::{call, events, operator, send, ADMIN, ALL_SCOPES, START_MS};
use gateway_proto::client::{DeviceKey, SignInput};
use gateway_proto::gateway::agents::catalog::ModelCatalog;
use gateway_proto::gateway::agents::model::{ModelEvent, ModelRole, ModelUsage};
use gateway_proto::gateway::{AuthConfig, Config};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use gateway_proto::ConnId;
use serde_json::{json, Value};

const READER: ConnId = ConnId(2);

/// The reference's minimal agent config (notes §4.9).
fn catalog() -> ModelCatalog {
    let config = json!({
        "models": {"mode": "merge", "providers": {"fake": {
            "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-fake", "api": "openai-completions",
            "models": [{"id": "echo", "name": "Echo", "reasoning": false, "input": ["text"],
                        "contextWindow": 32000, "maxTokens": 1000}],
        }}},
        "agents": {"defaults": {"model": {"primary": "fake/echo"}}},
    });
    ModelCatalog::from_config(&config, &|_| None)
}

fn harness() -> Harness {
    let config = Config::default()
        .with_auth(AuthConfig::Token("testtok".into()))
        .with_models(catalog());
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    operator(&mut h, ADMIN, ALL_SCOPES);
    h
}

fn text(s: &str) -> ModelEvent {
    ModelEvent::Text(s.into())
}

fn done() -> ModelEvent {
    ModelEvent::Done {
        stop_reason: "stop".into(),
        response_id: Some("chatcmpl-fake".into()),
        response_model: Some("echo".into()),
    }
}

fn usage() -> ModelEvent {
    ModelEvent::Usage(ModelUsage {
        input: 10,
        output: 5,
        cache_read: 0,
        cache_write: 0,
        total: 15,
    })
}

/// Stream "Hello from the fake model." in three chunks and finish.
fn reply(h: &mut Harness, token: u64) {
    for chunk in ["Hello", " from the", " fake model."] {
        h.model_event(token, text(chunk));
    }
    h.model_event(token, usage());
    h.model_event(token, done());
}

fn agent(h: &mut Harness, id: &str, key: &str, message: &str) {
    send(
        h,
        ADMIN,
        id,
        "agent",
        json!({"message": message, "idempotencyKey": key, "sessionKey": "main"}),
    );
}

fn streams(h: &Harness, conn: ConnId, run: &str) -> Vec<(String, u64, Value)> {
    events(h, conn, "agent")
        .into_iter()
        .filter(|e| e["payload"]["runId"] == run)
        .map(|e| {
            let p = &e["payload"];
            (
                p["stream"].as_str().unwrap().to_owned(),
                p["seq"].as_u64().unwrap(),
                p["data"].clone(),
            )
        })
        .collect()
}

#[test]
fn an_agent_run_answers_twice_and_streams_in_the_reference_order() {
    let mut h = harness();
    call(&mut h, ADMIN, "s", "sessions.subscribe", json!({}));
    agent(&mut h, "a1", "run-agent-1", "hi there");
    let ack = h.response(ADMIN, "a1", 0).unwrap().clone();
    assert_eq!(ack["payload"]["status"], "accepted", "{ack}");
    assert_eq!(ack["payload"]["runId"], "run-agent-1");
    assert_eq!(ack["payload"]["sessionKey"], "agent:main:main");
    assert!(h.response(ADMIN, "a1", 1).is_none(), "no final yet");

    // The model sees the user's message, with the configured model.
    let (token, request) = h.model_calls[0].clone();
    assert_eq!(request.model, "echo");
    assert_eq!(request.api_key.as_deref(), Some("sk-fake"));
    assert_eq!(request.messages.len(), 1);
    assert_eq!(request.messages[0].role, ModelRole::User);
    assert_eq!(request.messages[0].text, "hi there");

    reply(&mut h, token);
    let fin = h.response(ADMIN, "a1", 1).unwrap().clone();
    assert_eq!(fin["ok"], true, "{fin}");
    let p = &fin["payload"];
    assert_eq!(p["status"], "ok");
    assert_eq!(p["summary"], "completed");
    assert_eq!(
        p["result"]["payloads"][0]["text"],
        "Hello from the fake model."
    );
    assert_eq!(p["result"]["meta"]["agentMeta"]["usage"]["total"], 15);
    assert_eq!(p["result"]["meta"]["agentMeta"]["provider"], "fake");

    let got = streams(&h, ADMIN, "run-agent-1");
    let kinds: Vec<String> = got
        .iter()
        .map(|(s, _, d)| match d["phase"].as_str() {
            Some(phase) => format!("{s}:{phase}"),
            None => s.clone(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "lifecycle:start",
            "lifecycle:model",
            "assistant",
            "assistant",
            "assistant",
            "usage",
            "lifecycle:finishing",
            "lifecycle:model",
            "lifecycle:end",
        ]
    );
    let seqs: Vec<u64> = got.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>(), "per-run seq from 1");
    assert_eq!(
        got[3].2,
        json!({"text": "Hello from the", "delta": " from the", "itemId": got[3].2["itemId"]})
    );
    assert_eq!(
        got[8].2["terminalReply"]["text"],
        "Hello from the fake model."
    );

    // chat: deltas with deltaText, then the final on the lifecycle end's seq.
    let chat: Vec<Value> = events(&h, ADMIN, "chat")
        .into_iter()
        .map(|e| e["payload"].clone())
        .collect();
    assert_eq!(chat.len(), 4, "{chat:?}");
    assert_eq!(chat[1]["state"], "delta");
    assert_eq!(chat[1]["deltaText"], " from the");
    assert_eq!(chat[1]["message"]["content"][0]["text"], "Hello from the");
    assert_eq!(chat[3]["state"], "final");
    assert_eq!(chat[3]["seq"], 9);
    assert_eq!(
        chat[3]["message"]["content"][0]["text"],
        "Hello from the fake model."
    );

    // Both messages reached the subscriber and the transcript.
    let messages = events(&h, ADMIN, "session.message");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["payload"]["message"]["role"], "user");
    assert_eq!(messages[1]["payload"]["messageSeq"], 2);
    assert!(!events(&h, ADMIN, "sessions.changed").is_empty());
    let history = call(
        &mut h,
        ADMIN,
        "h",
        "chat.history",
        json!({"sessionKey": "main"}),
    );
    let msgs = history["payload"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["idempotencyKey"], "run-agent-1:user");
    assert_eq!(msgs[1]["usage"]["totalTokens"], 15);
    assert_eq!(msgs[1]["responseId"], "chatcmpl-fake");
    assert_eq!(history["payload"]["sessionInfo"]["key"], "agent:main:main");
    let list = call(&mut h, ADMIN, "l", "sessions.list", json!({}));
    let row = &list["payload"]["sessions"][0];
    assert_eq!(row["status"], "done");
    assert_eq!(row["outputTokens"], 5);
    assert_eq!(row["lastMessagePreview"], "Hello from the fake model.");
    assert_eq!(list["payload"]["defaults"]["model"], "echo");

    // The next turn sends the history along.
    agent(&mut h, "a2", "run-agent-2", "and again");
    let (_, second) = &h.model_calls[1];
    let texts: Vec<&str> = second.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["hi there", "Hello from the fake model.", "and again"]
    );
}

#[test]
fn duplicate_keys_never_start_a_second_run() {
    let mut h = harness();
    // Two duplicates arrive together, before the model answers.
    agent(&mut h, "a1", "k1", "hi");
    agent(&mut h, "a2", "k1", "hi");
    assert_eq!(h.model_calls.len(), 1);
    assert_eq!(
        h.response(ADMIN, "a2", 0).unwrap()["payload"]["status"],
        "in_flight"
    );
    let token = h.model_token(0);
    reply(&mut h, token);
    // After it ended: the first final again, no new "accepted".
    agent(&mut h, "a3", "k1", "hi");
    let replay = h.response(ADMIN, "a3", 0).unwrap();
    assert_eq!(replay["payload"]["status"], "ok");
    assert_eq!(
        replay["payload"]["result"]["payloads"][0]["text"],
        "Hello from the fake model."
    );
    assert!(h.response(ADMIN, "a3", 1).is_none());
    assert_eq!(h.model_calls.len(), 1);
    // chat.send has its own namespace and its own in_flight answer.
    let first = call(
        &mut h,
        ADMIN,
        "c1",
        "chat.send",
        json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k1"}),
    );
    assert_eq!(first["payload"]["status"], "started");
    let again = call(
        &mut h,
        ADMIN,
        "c2",
        "chat.send",
        json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k1"}),
    );
    assert_eq!(
        again["payload"],
        json!({"runId": "k1", "status": "in_flight"})
    );
    assert_eq!(h.model_calls.len(), 2);
}

#[test]
fn one_run_at_a_time_per_session_and_sessions_run_in_parallel() {
    let mut h = harness();
    let send_chat = |h: &mut Harness, id: &str, key: &str, session: &str| {
        call(
            h,
            ADMIN,
            id,
            "chat.send",
            json!({"sessionKey": session, "message": id, "idempotencyKey": key}),
        )
    };
    send_chat(&mut h, "c1", "r1", "main");
    send_chat(&mut h, "c2", "r2", "main");
    send_chat(&mut h, "c3", "r3", "work");
    assert_eq!(
        h.model_calls.len(),
        2,
        "r2 waits behind r1; work runs at once"
    );
    assert_eq!(h.model_calls[1].1.messages.last().unwrap().text, "c3");
    let status = |h: &mut Harness| call(h, ADMIN, "l", "sessions.list", json!({}));
    let list = status(&mut h);
    let main = list["payload"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "agent:main:main")
        .unwrap()
        .clone();
    assert_eq!(main["activeRunIds"], json!(["r1"]));
    let t1 = h.model_token(0);
    reply(&mut h, t1);
    assert_eq!(h.model_calls.len(), 3, "r2 starts when r1 ends");
    assert_eq!(h.model_calls[2].1.messages.last().unwrap().text, "c2");
    // chat.send runs report their preparation as v4 status events.
    let statuses: Vec<Value> = events(&h, ADMIN, "chat")
        .into_iter()
        .filter(|e| e["payload"]["runId"] == "r1" && e["payload"]["state"] == "status")
        .map(|e| e["payload"]["phase"].clone())
        .collect();
    assert_eq!(
        statuses,
        ["preparing_workspace", "preparing_context", "starting_model"]
    );
}

#[test]
fn abort_mid_stream_cancels_the_model_and_answers_everyone() {
    let mut h = harness();
    agent(&mut h, "a1", "k1", "long story");
    send(
        &mut h,
        ADMIN,
        "w",
        "agent.wait",
        json!({"runId": "k1", "timeoutMs": 60000}),
    );
    let token = h.model_token(0);
    h.model_event(token, text("Once upon"));
    let abort = call(
        &mut h,
        ADMIN,
        "x",
        "chat.abort",
        json!({"sessionKey": "main"}),
    );
    assert_eq!(
        abort["payload"],
        json!({"ok": true, "aborted": true, "runIds": ["k1"]})
    );
    assert_eq!(h.cancelled_models, [token]);
    let chat = events(&h, ADMIN, "chat");
    let last = &chat.last().unwrap()["payload"];
    assert_eq!(last["state"], "aborted");
    assert_eq!(last["stopReason"], "rpc");
    assert_eq!(last["message"]["content"][0]["text"], "Once upon");
    let end = streams(&h, ADMIN, "k1").pop().unwrap();
    assert_eq!(end.2["phase"], "end");
    assert_eq!(end.2["aborted"], true);
    assert_eq!(
        h.response(ADMIN, "a1", 1).unwrap()["payload"]["status"],
        "aborted"
    );
    assert_eq!(
        h.response(ADMIN, "w", 0).unwrap()["payload"]["status"],
        "aborted"
    );
    // Late events of the cancelled call change nothing.
    let before = h.frames(ADMIN).len();
    h.model_event(token, text(" a time"));
    h.model_event(token, done());
    assert_eq!(h.frames(ADMIN).len(), before);
    // Nothing left to abort.
    let again = call(
        &mut h,
        ADMIN,
        "y",
        "chat.abort",
        json!({"sessionKey": "main"}),
    );
    assert_eq!(again["payload"]["aborted"], false);
}

#[test]
fn stop_as_a_chat_message_aborts_the_session() {
    let mut h = harness();
    call(
        &mut h,
        ADMIN,
        "c1",
        "chat.send",
        json!({"sessionKey": "main", "message": "go", "idempotencyKey": "r1"}),
    );
    let stop = call(
        &mut h,
        ADMIN,
        "c2",
        "chat.send",
        json!({"sessionKey": "main", "message": "/stop", "idempotencyKey": "r2"}),
    );
    assert_eq!(stop["payload"]["runIds"], json!(["r1"]));
    assert_eq!(h.cancelled_models.len(), 1);
    assert_eq!(
        events(&h, ADMIN, "chat").last().unwrap()["payload"]["stopReason"],
        "stop"
    );
}

#[test]
fn a_run_past_its_budget_times_out() {
    let mut h = harness();
    send(
        &mut h,
        ADMIN,
        "a1",
        "agent",
        json!({"message": "slow", "idempotencyKey": "k1", "timeout": 2}),
    );
    let token = h.model_token(0);
    h.advance_ms(1_999);
    assert!(h.response(ADMIN, "a1", 1).is_none());
    h.advance_ms(1);
    let fin = h.response(ADMIN, "a1", 1).unwrap();
    assert_eq!(fin["ok"], false);
    assert_eq!(fin["payload"]["status"], "timeout");
    assert_eq!(h.cancelled_models, [token]);
    let list = call(&mut h, ADMIN, "l", "sessions.list", json!({}));
    assert_eq!(list["payload"]["sessions"][0]["status"], "timeout");
}

#[test]
fn a_provider_failure_is_a_clean_error_final() {
    let mut h = harness();
    agent(&mut h, "a1", "k1", "hi");
    let token = h.model_token(0);
    h.model_event(token, text("partial"));
    h.model_event(
        token,
        ModelEvent::Failed {
            message: "HTTP 500: upstream exploded".into(),
            status: Some(500),
        },
    );
    let fin = h.response(ADMIN, "a1", 1).unwrap();
    assert_eq!(fin["ok"], false);
    assert_eq!(fin["error"]["code"], "UNAVAILABLE");
    assert_eq!(fin["error"]["message"], "HTTP 500: upstream exploded");
    assert_eq!(
        fin["payload"],
        json!({"runId": "k1", "status": "error", "summary": "HTTP 500: upstream exploded"})
    );
    let chat = events(&h, ADMIN, "chat");
    assert_eq!(chat.last().unwrap()["payload"]["state"], "error");
    assert_eq!(
        chat.last().unwrap()["payload"]["errorMessage"],
        "HTTP 500: upstream exploded"
    );
    // The session takes the next message.
    agent(&mut h, "a2", "k2", "again");
    assert_eq!(h.model_calls.len(), 2);
    // A repeat of the failed key replays the failure.
    agent(&mut h, "a3", "k1", "hi");
    assert_eq!(h.response(ADMIN, "a3", 0).unwrap()["ok"], false);
}

#[test]
fn an_unknown_model_fails_the_run_with_the_reason() {
    let mut h = harness();
    send(
        &mut h,
        ADMIN,
        "a1",
        "agent",
        json!({"message": "hi", "idempotencyKey": "k1", "model": "nope/none"}),
    );
    assert_eq!(
        h.response(ADMIN, "a1", 0).unwrap()["payload"]["status"],
        "accepted"
    );
    let fin = h.response(ADMIN, "a1", 1).unwrap();
    assert_eq!(fin["ok"], false);
    assert!(
        fin["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope/none"),
        "{fin}"
    );
    assert!(h.model_calls.is_empty());
}

#[test]
fn agent_wait_answers_at_the_end_or_times_out() {
    let mut h = harness();
    let unknown = {
        send(
            &mut h,
            ADMIN,
            "w0",
            "agent.wait",
            json!({"runId": "nope", "timeoutMs": 500}),
        );
        h.advance_ms(500);
        h.response(ADMIN, "w0", 0).unwrap().clone()
    };
    assert_eq!(
        unknown["payload"],
        json!({"runId": "nope", "status": "timeout"})
    );
    agent(&mut h, "a1", "k1", "hi");
    send(&mut h, ADMIN, "w1", "agent.wait", json!({"runId": "k1"}));
    assert!(h.response(ADMIN, "w1", 0).is_none());
    let token = h.model_token(0);
    reply(&mut h, token);
    let w = h.response(ADMIN, "w1", 0).unwrap();
    assert_eq!(w["payload"]["status"], "ok");
    assert_eq!(w["payload"]["stopReason"], "stop");
    assert_eq!(
        w["payload"]["terminalReply"]["text"],
        "Hello from the fake model."
    );
    // After the end it answers at once.
    let again = call(&mut h, ADMIN, "w2", "agent.wait", json!({"runId": "k1"}));
    assert_eq!(again["payload"]["status"], "ok");
}

#[test]
fn a_slow_reader_loses_deltas_but_never_the_final() {
    let mut h = harness();
    operator(&mut h, READER, &["operator.read"]);
    h.stall(READER);
    agent(&mut h, "a1", "k1", "talk a lot");
    let token = h.model_token(0);
    let chunk = "x".repeat(16 * 1024);
    for _ in 0..200 {
        h.model_event(token, text(&chunk));
    }
    h.model_event(token, done());
    assert!(
        h.close_of(READER).is_none(),
        "not closed: {:?}",
        h.close_of(READER)
    );
    h.unstall(READER);
    let chat = events(&h, READER, "chat");
    let deltas = chat
        .iter()
        .filter(|e| e["payload"]["state"] == "delta")
        .count();
    assert!(deltas < 200, "some deltas were skipped ({deltas})");
    let last = &chat.last().unwrap()["payload"];
    assert_eq!(last["state"], "final");
    assert_eq!(
        last["message"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .len(),
        200 * 16 * 1024
    );
}

#[test]
fn protocol_3_clients_get_the_v3_chat_shape() {
    let mut h = harness();
    // A protocol-3 operator gets scopes only as a (silently paired) device.
    h.open(READER, "127.0.0.1");
    let nonce = h.frames(READER)[0]["payload"]["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = DeviceKey::from_secret([9; 32]);
    let proof = key.sign(
        &SignInput {
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &["operator.read".to_owned()],
            token: "testtok",
            nonce: &nonce,
            platform: "linux",
            device_family: "",
        },
        START_MS,
    );
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "cli", "version": "0.0.1", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": ["operator.read"], "caps": [], "auth": {"token": "testtok"},
        "device": {"id": proof.id, "publicKey": proof.public_key, "signature": proof.signature,
                   "signedAt": proof.signed_at, "nonce": proof.nonce},
    }});
    h.text(READER, &frame.to_string());
    let hello = h.response(READER, "c0", 0).unwrap().clone();
    assert_eq!(hello["payload"]["protocol"], 3, "{hello}");
    assert_eq!(
        hello["payload"]["auth"]["scopes"],
        json!(["operator.read"]),
        "{hello}"
    );
    call(
        &mut h,
        ADMIN,
        "c1",
        "chat.send",
        json!({"sessionKey": "main", "message": "hi", "idempotencyKey": "r1"}),
    );
    let token = h.model_token(0);
    reply(&mut h, token);
    let chat: Vec<Value> = events(&h, READER, "chat")
        .into_iter()
        .map(|e| e["payload"].clone())
        .collect();
    let states: Vec<&str> = chat.iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        ["delta", "delta", "delta", "final"],
        "no status events for v3"
    );
    assert!(chat[0].get("deltaText").is_none());
    assert_eq!(chat[1]["message"]["content"][0]["text"], "Hello from the");
}

#[test]
fn sessions_can_be_patched_reset_and_deleted() {
    let mut h = harness();
    call(
        &mut h,
        ADMIN,
        "c1",
        "chat.send",
        json!({"sessionKey": "work", "message": "hi", "idempotencyKey": "r1"}),
    );
    let token = h.model_token(0);
    reply(&mut h, token);
    let patched = call(
        &mut h,
        ADMIN,
        "p",
        "sessions.patch",
        json!({"key": "work", "label": "Work"}),
    );
    assert_eq!(patched["payload"]["entry"]["label"], "Work");
    let bad = call(
        &mut h,
        ADMIN,
        "p2",
        "sessions.patch",
        json!({"key": "work", "model": "nope/x"}),
    );
    assert_eq!(bad["ok"], false);
    let before = call(
        &mut h,
        ADMIN,
        "d0",
        "sessions.describe",
        json!({"key": "work"}),
    );
    let sid = before["payload"]["session"]["sessionId"].clone();
    let reset = call(&mut h, ADMIN, "r", "sessions.reset", json!({"key": "work"}));
    assert_eq!(
        reset["payload"]["entry"]["sessionId"], sid,
        "reset keeps the session id"
    );
    assert_eq!(reset["payload"]["entry"]["lifecycleRevision"], 2);
    assert_eq!(reset["payload"]["entry"]["totalTokens"], 0);
    let preview = call(
        &mut h,
        ADMIN,
        "v",
        "sessions.preview",
        json!({"keys": ["work", "main"]}),
    );
    assert_eq!(preview["payload"]["previews"][0]["status"], "empty");
    let main = call(
        &mut h,
        ADMIN,
        "m",
        "sessions.delete",
        json!({"key": "main"}),
    );
    assert_eq!(
        main["error"]["message"],
        "Cannot delete the main session (agent:main:main)."
    );
    let deleted = call(
        &mut h,
        ADMIN,
        "x",
        "sessions.delete",
        json!({"key": "work"}),
    );
    assert_eq!(deleted["payload"]["deleted"], true);
    let list = call(&mut h, ADMIN, "l", "sessions.list", json!({}));
    assert_eq!(list["payload"]["count"], 0);
}

#[test]
fn scopes_follow_the_reference() {
    let mut h = harness();
    let writer = ConnId(3);
    operator(&mut h, writer, &["operator.write"]);
    let reset = call(
        &mut h,
        writer,
        "a",
        "agent",
        json!({"message": "/reset", "idempotencyKey": "k"}),
    );
    assert_eq!(reset["error"]["message"], "missing scope: operator.admin");
    let del = call(
        &mut h,
        writer,
        "d",
        "sessions.delete",
        json!({"key": "work"}),
    );
    assert_eq!(del["error"]["message"], "missing scope: operator.admin");
    let reader = ConnId(4);
    operator(&mut h, reader, &["operator.read"]);
    let send = call(
        &mut h,
        reader,
        "s",
        "chat.send",
        json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k"}),
    );
    assert_eq!(send["error"]["message"], "missing scope: operator.write");
    let bad = call(
        &mut h,
        ADMIN,
        "b",
        "agent",
        json!({"message": "", "idempotencyKey": "k"}),
    );
    assert_eq!(bad["ok"], false);
    let extra = call(
        &mut h,
        ADMIN,
        "e",
        "chat.send",
        json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k", "bogus": 1}),
    );
    assert_eq!(extra["ok"], false);
}

#[test]
fn agents_and_identity_are_listed() {
    let mut h = harness();
    let list = call(&mut h, ADMIN, "l", "agents.list", json!({}));
    assert_eq!(list["payload"]["defaultId"], "main");
    assert_eq!(
        list["payload"]["agents"][0]["model"]["primary"],
        "fake/echo"
    );
    let id = call(&mut h, ADMIN, "i", "agent.identity.get", json!({}));
    assert_eq!(id["payload"]["agentId"], "main");
}

#[test]
fn sessions_are_stored_as_reference_transcripts_and_come_back() {
    use gateway_proto::gateway::agents::journal::{StoredSession, TranscriptChange};
    let mut h = harness();
    agent(&mut h, "a1", "k1", "remember me");
    let token = h.model_token(0);
    reply(&mut h, token);
    // Every batch carries the row; the transcript lines are appended in order.
    let mut lines: Vec<Value> = Vec::new();
    let mut entry = Value::Null;
    for batch in &h.session_writes {
        for change in batch {
            assert_eq!(change.session_key, "agent:main:main");
            entry = change.entry.clone().unwrap();
            if let TranscriptChange::Append(new) = &change.transcript {
                lines.extend(
                    new.iter()
                        .map(|l| serde_json::from_str::<Value>(l).unwrap()),
                );
            }
        }
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["type"], "session");
    assert_eq!(lines[0]["version"], 4);
    assert_eq!(lines[1]["type"], "message");
    assert_eq!(lines[1]["parentId"], Value::Null);
    assert_eq!(lines[1]["message"]["content"], "remember me");
    assert_eq!(lines[2]["parentId"], lines[1]["id"]);
    assert_eq!(lines[2]["message"]["role"], "assistant");
    assert_eq!(lines[2]["message"]["provider"], "fake");
    assert!(lines[2]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(entry["status"], "done");
    assert_eq!(entry["sessionId"], lines[0]["id"]);
    assert!(h.gateway.sessions_saved());

    // A new gateway on the same store has the history and continues it.
    let mut again = harness();
    again.gateway.restore_sessions(
        vec![StoredSession {
            agent_id: "main".into(),
            session_key: "agent:main:main".into(),
            entry,
            lines,
        }],
        START_MS,
    );
    let history = call(
        &mut again,
        ADMIN,
        "h",
        "chat.history",
        json!({"sessionKey": "main"}),
    );
    assert_eq!(history["payload"]["messages"].as_array().unwrap().len(), 2);
    agent(&mut again, "a2", "k2", "what did I say?");
    let texts: Vec<&str> = again.model_calls[0]
        .1
        .messages
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "remember me",
            "Hello from the fake model.",
            "what did I say?"
        ]
    );
}

#[test]
fn a_failed_store_write_is_retried_with_everything_since() {
    let mut h = harness();
    // Fail the first batch by answering it ourselves before the harness does.
    h.gateway
        .handle_input(gateway_proto::gateway::Input::Ready, h.now);
    agent(&mut h, "a1", "k1", "hi");
    assert!(!h.session_writes.is_empty());
    assert!(h.gateway.sessions_saved());
}

#[test]
fn models_are_listed_and_send_without_a_channel_is_refused() {
    let mut h = harness();
    let models = call(&mut h, ADMIN, "m", "models.list", json!({}));
    assert_eq!(models["payload"]["models"][0]["id"], "echo");
    assert_eq!(models["payload"]["models"][0]["provider"], "fake");
    assert_eq!(models["payload"]["models"][0]["contextWindow"], 32000);
    let sent = call(
        &mut h,
        ADMIN,
        "s",
        "send",
        json!({"to": "+15555550123", "message": "hi", "idempotencyKey": "k"}),
    );
    assert_eq!(sent["ok"], false);
    assert_eq!(sent["error"]["code"], "INVALID_REQUEST");
    assert_eq!(
        sent["error"]["message"],
        "Channel is required (no configured channels detected)."
    );
    let again = call(
        &mut h,
        ADMIN,
        "s2",
        "send",
        json!({"to": "+15555550123", "message": "hi", "idempotencyKey": "k"}),
    );
    assert_eq!(
        again["error"], sent["error"],
        "a repeat replays the first answer"
    );
    let other = call(
        &mut h,
        ADMIN,
        "s3",
        "send",
        json!({"to": "x", "channel": "telegram", "idempotencyKey": "k2"}),
    );
    assert!(other["error"]["message"]
        .as_str()
        .unwrap()
        .contains("telegram"));
    let missing = call(
        &mut h,
        ADMIN,
        "s4",
        "send",
        json!({"message": "hi", "idempotencyKey": "k3"}),
    );
    assert_eq!(missing["ok"], false);
}

#[test]
fn chat_history_catches_up_from_a_cursor() {
    let mut h = harness();
    agent(&mut h, "a1", "k1", "first");
    let token = h.model_token(0);
    reply(&mut h, token);
    let page = call(
        &mut h,
        ADMIN,
        "h",
        "chat.history",
        json!({"sessionKey": "main"}),
    );
    let cursor = page["payload"]["deltaCursor"].as_str().unwrap().to_owned();
    // Nothing new yet.
    let same = call(
        &mut h,
        ADMIN,
        "d0",
        "chat.history",
        json!({"sessionKey": "main", "cursor": cursor}),
    );
    assert_eq!(same["payload"]["kind"], "delta");
    assert_eq!(same["payload"]["messages"], json!([]));
    agent(&mut h, "a2", "k2", "second");
    let token = h.model_token(1);
    reply(&mut h, token);
    let delta = call(
        &mut h,
        ADMIN,
        "d1",
        "chat.history",
        json!({"sessionKey": "main", "cursor": cursor}),
    );
    let messages = delta["payload"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{delta}");
    assert_eq!(messages[0]["content"], "second");
    let next = delta["payload"]["deltaCursor"].as_str().unwrap().to_owned();
    assert_ne!(next, cursor);
    // After a reset (same session id, history gone) or with junk: reload.
    call(&mut h, ADMIN, "r", "sessions.reset", json!({"key": "main"}));
    let reset = call(
        &mut h,
        ADMIN,
        "d2",
        "chat.history",
        json!({"sessionKey": "main", "cursor": next}),
    );
    assert_eq!(reset["payload"], json!({"kind": "reset"}));
    let junk = call(
        &mut h,
        ADMIN,
        "d3",
        "chat.history",
        json!({"sessionKey": "main", "cursor": "!!"}),
    );
    assert_eq!(junk["payload"], json!({"kind": "reset"}));
    let both = call(
        &mut h,
        ADMIN,
        "d4",
        "chat.history",
        json!({"sessionKey": "main", "cursor": next, "offset": 1}),
    );
    assert_eq!(
        both["error"]["message"],
        "cursor cannot be used with offset or messageId"
    );
}

#[test]
fn collected_messages_join_the_waiting_run_and_end_with_it() {
    let mut h = harness();
    let send = |h: &mut Harness, id: &str, key: &str, mode: &str| {
        call(
            h,
            ADMIN,
            id,
            "chat.send",
            json!({"sessionKey": "main", "message": id, "idempotencyKey": key, "queueMode": mode}),
        )
    };
    send(&mut h, "c1", "r1", "followup");
    send(&mut h, "c2", "r2", "followup");
    let joined = send(&mut h, "c3", "r3", "collect");
    assert_eq!(
        joined["payload"],
        json!({"runId": "r2", "status": "started"}),
        "r3 rides on r2"
    );
    let token = h.model_token(0);
    reply(&mut h, token);
    assert_eq!(h.model_calls[1].1.messages.last().unwrap().text, "c2\n\nc3");
    let token = h.model_token(1);
    reply(&mut h, token);
    // r3 ended with r2: a repeat replays instead of hanging "in flight".
    let again = send(&mut h, "c4", "r3", "collect");
    assert_eq!(again["payload"]["status"], "ok", "{again}");
    assert_eq!(h.model_calls.len(), 2);
}
