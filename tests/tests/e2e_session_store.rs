//! Sessions survive a restart of OUR gateway: a chat through the fake
//! provider is on disk after a SIGTERM, in the reference's v3 layout
//! (`agents/main/sessions/sessions.json` and `<sessionId>.jsonl`), and a
//! gateway started again on the same state dir shows it in `chat.history`
//! and sends it to the model with the next message.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tests::chat::{call, chat, fake_model_config, history, operator};
use tests::fake_provider::{Api, FakeProvider, Script};
use tests::process::{GatewayOptions, OurGateway};

fn read_json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
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

/// An in-process restart (SIGUSR1) builds a new core: it gets the
/// sessions from the store, and the next message continues the same
/// transcript file (one header, the chain unbroken).
#[test]
fn sessions_survive_an_in_process_restart() {
    let provider = FakeProvider::start(vec![
        Script::reply(Api::OpenAi, &["First."]),
        Script::reply(Api::OpenAi, &["Second."]),
    ]);
    let mut gw = OurGateway::start(GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    });
    smol::block_on(async {
        let mut ws = operator(&gw.url(), &gw.token).await;
        chat(&mut ws, "run-1", "before the restart").await;
        gw.signal("USR1");
        let (_, close) = ws.until_close(Duration::from_secs(10)).await;
        assert!(matches!(close, Some(Some((1012, _)))), "{close:?}");
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tests::process::http_get(gw.port, "/readyz").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "{}", gw.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    smol::block_on(async {
        let mut ws = operator(&gw.url(), &gw.token).await;
        let payload = call(&mut ws, "h1", "chat.history", json!({"sessionKey": "main"})).await;
        assert_eq!(
            history(&payload),
            [
                ("user".to_owned(), "before the restart".to_owned()),
                ("assistant".to_owned(), "First.".to_owned())
            ],
            "{payload}"
        );
        chat(&mut ws, "run-2", "after the restart").await;
    });
    // The final event may go out before its batch is stored; a clean stop
    // waits for it.
    gw.signal("TERM");
    assert!(
        gw.wait_exit(Duration::from_secs(10)).is_some(),
        "{}",
        gw.output()
    );
    let sessions = gw.dir.path().join("state/agents/main/sessions");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(sessions.join("sessions.json")).unwrap())
            .unwrap();
    let session_id = index["agent:main:main"]["sessionId"].as_str().unwrap();
    let lines = read_json_lines(&sessions.join(format!("{session_id}.jsonl")));
    let headers = lines.iter().filter(|l| l["type"] == "session").count();
    assert_eq!(headers, 1, "{lines:?}");
    let texts: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "message")
        .map(|l| history(&json!({"messages": [l["message"]]}))[0].1.clone())
        .collect();
    assert_eq!(
        texts,
        [
            "before the restart",
            "First.",
            "after the restart",
            "Second."
        ]
    );
    for pair in lines[1..].windows(2) {
        assert_eq!(pair[1]["parentId"], pair[0]["id"], "{lines:?}");
    }
}

/// A store that cannot be written (here `agents` is a file) does not stop
/// chats; a stop waits for it within its bound (5 s), says what was lost,
/// and exits cleanly.
#[test]
fn an_unwritable_store_costs_a_bounded_wait_at_stop() {
    let provider = FakeProvider::start(vec![Script::reply(Api::OpenAi, &["Still here."])]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/agents"), "in the way").unwrap();
    let mut gw = OurGateway::start_in(
        GatewayOptions {
            config: Some(fake_model_config(&provider)),
            ..GatewayOptions::default()
        },
        dir,
    );
    smol::block_on(async {
        let mut ws = operator(&gw.url(), &gw.token).await;
        let fin = chat(&mut ws, "run-1", "hello").await;
        assert_eq!(fin["payload"]["state"], "final");
    });
    let stopping = std::time::Instant::now();
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(15));
    let took = stopping.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        gw.output()
    );
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let output = gw.output();
    assert!(output.contains("session write failed"), "{output}");
    assert!(output.contains("not stored within"), "{output}");
}
