//! A user switching from OUR gateway to the reference keeps their chats:
//! the reference 2026.9.6 imports the v3 files we write
//! (`agents/<id>/sessions/sessions.json` and `<sessionId>.jsonl`) into its
//! per-agent SQLite when its gateway starts, and its `chat.history` then
//! shows our messages.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use serde_json::Value;
use tests::chat::{chat, fake_model_config, history, operator};
use tests::fake_provider::{Api, FakeProvider, Script};
use tests::process::{reference_cli, GatewayOptions, OurGateway, ReferenceGateway};

#[test]
fn the_reference_gateway_reads_the_sessions_we_wrote() {
    let Some(cli) = reference_cli("v4") else {
        return;
    };
    let provider = FakeProvider::start(vec![Script::reply(
        Api::OpenAi,
        &["Hello from the fake model."],
    )]);
    let mut gw = OurGateway::start(GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    });
    smol::block_on(async {
        let mut ws = operator(&gw.url(), &gw.token).await;
        chat(&mut ws, "run-1", "written by the rust gateway").await;
    });
    gw.signal("TERM");
    assert!(
        gw.wait_exit(Duration::from_secs(10)).is_some(),
        "{}",
        gw.output()
    );
    let token = gw.token.clone();
    let dir = gw.stop();
    let sessions = dir.path().join("state/agents/main/sessions");
    assert!(sessions.join("sessions.json").is_file());

    let Some(reference) = ReferenceGateway::start_in("v4", &token, dir) else {
        return;
    };
    let port = reference.port.to_string();
    let out = cli.run(
        reference.dir.path(),
        &[
            "gateway",
            "call",
            "chat.history",
            "--params",
            r#"{"sessionKey":"main"}"#,
            "--json",
        ],
        &[
            ("OPENCLAW_GATEWAY_TOKEN", &token),
            ("OPENCLAW_GATEWAY_PORT", &port),
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let payload: Value = serde_json::from_str(&stdout).expect("chat.history JSON");
    assert_eq!(
        history(&payload),
        [
            ("user".to_owned(), "written by the rust gateway".to_owned()),
            (
                "assistant".to_owned(),
                "Hello from the fake model.".to_owned()
            )
        ],
        "{payload}"
    );
    // It moved our files into its database (and kept them in an archive).
    let agent = reference.dir.path().join("state/agents/main");
    assert!(agent.join("agent/openclaw-agent.sqlite").is_file());
    assert!(!sessions.join("sessions.json").exists());
    assert!(agent.join("session-sqlite-import-archive").is_dir());
}
