//! Agent turns end to end: OUR gateway calls a scripted OpenAI-compatible
//! provider (streaming SSE with usage); OUR `openclaw agent` and
//! `openclaw chat`, and the REFERENCE CLI's `openclaw agent`, talk to it;
//! OUR `openclaw agent` also works against the REFERENCE gateway with the
//! same provider. Reference parts are skipped (with a note) when it cannot
//! be installed.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tests::chat::fake_model_config;
use tests::fake_provider::{Api, FakeProvider, Script};
use tests::process::{our_command, reference_cli, GatewayOptions, OurGateway, ReferenceGateway};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hello() -> Script {
    Script::reply(Api::OpenAi, &["Hello", " from the", " fake model."])
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

#[test]
fn our_cli_runs_agent_turns_and_chats_through_our_gateway() {
    let provider = FakeProvider::start(vec![
        hello(),
        hello(),
        Script::reply(Api::OpenAi, &["Bye."]),
    ]);
    let gw = OurGateway::start(GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    });
    let token = GatewayOptions::default().token;
    let home = tempfile::tempdir().expect("tempdir");
    let ours = |args: &[&str]| -> Output {
        let mut cmd = our_command(home.path());
        cmd.args(args).args(["--url", &gw.url(), "--token", &token]);
        cmd.output().expect("run our openclaw")
    };

    let out = ours(&["agent", "--message", "hi there", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result = json_of(&out);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["summary"], "completed");
    assert_eq!(
        result["result"]["payloads"][0]["text"],
        "Hello from the fake model."
    );
    assert_eq!(result["result"]["meta"]["agentMeta"]["usage"]["input"], 10);
    assert_eq!(result["result"]["meta"]["agentMeta"]["model"], "echo");

    // Plain output is the reply.
    let out = ours(&["agent", "-m", "again"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Hello from the fake model.");

    // The provider saw the conversation, as the reference sends it.
    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-fake"));
    let body = &requests[1].body;
    assert_eq!(body["model"], "echo");
    assert_eq!(body["stream"], true);
    let contents: Vec<String> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].to_string())
        .collect();
    assert!(
        contents.iter().any(|c| c.contains("hi there")),
        "{contents:?}"
    );
    assert!(
        contents
            .iter()
            .any(|c| c.contains("Hello from the fake model.")),
        "{contents:?}"
    );

    // `openclaw chat` streams the reply of each line, then leaves at the end of input.
    let mut cmd = our_command(home.path());
    cmd.args(["chat", "--url", &gw.url(), "--token", &token])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn openclaw chat");
    child.stdin.take().unwrap().write_all(b"goodbye\n").unwrap();
    let out = child.wait_with_output().expect("chat output");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Bye.");

    // History has all three turns.
    let out = ours(&[
        "gateway",
        "call",
        "chat.history",
        "--params",
        r#"{"sessionKey":"main"}"#,
        "--json",
    ]);
    let history = json_of(&out);
    assert_eq!(
        history["messages"].as_array().map(Vec::len),
        Some(6),
        "{history}"
    );
}

#[test]
fn the_reference_cli_runs_an_agent_turn_on_our_gateway() {
    let Some(reference) = reference_cli("v4") else {
        return;
    };
    let provider = FakeProvider::start(vec![hello()]);
    let gw = OurGateway::start(GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    });
    let token = GatewayOptions::default().token;
    let home = tempfile::tempdir().expect("tempdir");
    let port = gw.port.to_string();
    let out = reference.run(
        home.path(),
        &["agent", "--agent", "main", "--message", "hi", "--json"],
        &[
            ("OPENCLAW_GATEWAY_PORT", &port),
            ("OPENCLAW_GATEWAY_TOKEN", &token),
        ],
        COMMAND_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let result = json_of(&out);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        result["result"]["payloads"][0]["text"],
        "Hello from the fake model."
    );
}

#[test]
fn our_cli_runs_an_agent_turn_on_the_reference_gateway() {
    let provider = FakeProvider::start(vec![hello()]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(
        dir.path().join("state/openclaw.json"),
        fake_model_config(&provider),
    )
    .unwrap();
    let token = "agent-interop-token";
    let Some(reference) = ReferenceGateway::start_in("v4", token, dir) else {
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let url = format!("ws://127.0.0.1:{}", reference.port);
    let mut cmd = our_command(home.path());
    cmd.args([
        "agent",
        "--message",
        "hi",
        "--json",
        "--url",
        &url,
        "--token",
        token,
    ]);
    let out = cmd.output().expect("run our openclaw");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let result = json_of(&out);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(
        result["result"]["payloads"][0]["text"],
        "Hello from the fake model."
    );
}

#[test]
fn the_openclaw_node_sdk_chats_with_our_gateway() {
    let provider = FakeProvider::start(vec![
        hello(),
        Script::reply(Api::OpenAi, &["Second", " answer."]),
    ]);
    let gw = OurGateway::start(GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    });
    let token = GatewayOptions::default().token;
    let script = r#"
        import { OpenClawClient } from "openclaw-node";
        const client = new OpenClawClient({ url: process.env.GW_URL, token: process.env.GW_TOKEN, autoReconnect: false });
        await client.connect();
        let text = "";
        const kinds = [];
        for await (const chunk of client.chat("hi from the sdk")) {
            kinds.push(chunk.type);
            if (chunk.type === "text") text += chunk.text;
        }
        const sync = await client.chatSync("and once more");
        console.log(JSON.stringify({ text, kinds, sync }));
        await client.disconnect();
        process.exit(0);
    "#;
    let Some(out) = tests::sdk::run_script(script, &[("GW_URL", &gw.url()), ("GW_TOKEN", &token)])
    else {
        return;
    };
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let result: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    assert_eq!(result["text"], "Hello from the fake model.", "{result}");
    let kinds: Vec<&str> = result["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(kinds.first(), Some(&"agent_start"), "{kinds:?}");
    assert!(
        kinds.contains(&"text") && kinds.contains(&"done"),
        "{kinds:?}"
    );
    assert_eq!(result["sync"], "Second answer.", "{result}");
}
