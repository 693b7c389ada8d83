//! The OpenAI-compatible HTTP API of OUR gateway end to end, over real
//! sockets, with the scripted model provider: off by default (and turned on
//! by a config reload), bearer auth, `/v1/models`, completions streamed and
//! not, a client that hangs up aborting its run, and the official `openai`
//! Python package getting a streamed completion.

// Real processes in real time: deadlines need the clock.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::chat::fake_model_config;
use tests::fake_provider::{Api, FakeProvider, Outcome, Script};
use tests::process::{http_raw, run_with_timeout, GatewayOptions, OurGateway};

fn hello() -> Script {
    Script::reply(Api::OpenAi, &["Hello", " from the", " fake model."])
}

/// The fake provider's config with the `/v1` routes on (or not).
fn config(provider: &FakeProvider, enabled: bool) -> String {
    let models = fake_model_config(provider);
    let endpoint = format!(
        "gateway: {{ http: {{ endpoints: {{ chatCompletions: {{ enabled: {enabled} }} }} }} }},"
    );
    // The model config is one JSON5 object: add the gateway part inside it.
    models.replacen('{', &format!("{{ {endpoint}"), 1)
}

fn start(provider: &FakeProvider, enabled: bool) -> OurGateway {
    OurGateway::start(GatewayOptions {
        config: Some(config(provider, enabled)),
        ..GatewayOptions::default()
    })
}

/// One request with `Connection: close`: `(status, head, body)`.
fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = http_raw(port, &raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

fn json_body(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The `data:` payloads of an event stream, in order.
fn events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn off_by_default_then_on_with_a_config_reload() {
    let provider = FakeProvider::start(vec![hello()]);
    let gw = start(&provider, false);
    let token = gw.token.clone();
    let chat =
        json!({"model": "openclaw", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    // Disabled: the port's plain 404, as for any unknown path.
    let (status, head, body) =
        request(gw.port, "POST", "/v1/chat/completions", Some(&token), &chat);
    assert_eq!((status, body.as_str()), (404, "Not Found"), "{head}");
    assert_eq!(
        request(gw.port, "GET", "/v1/models", Some(&token), "").0,
        404
    );
    assert!(provider.requests().is_empty());

    std::fs::write(
        gw.dir.path().join("state/openclaw.json"),
        config(&provider, true),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, body) = request(gw.port, "GET", "/v1/models", Some(&token), "");
        if status == 200 {
            assert_eq!(json_body(&body)["object"], "list");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not enabled by the reload; output:\n{}",
            gw.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn auth_models_and_completions() {
    let provider = FakeProvider::start(vec![hello(), hello()]);
    let gw = start(&provider, true);
    let token = gw.token.clone();
    let chat = json!({"model": "openclaw/default", "user": "conv-7",
        "messages": [{"role": "user", "content": "say hello"}]})
    .to_string();

    // No secret, a wrong one: 401 with the reference's body; nothing runs.
    for bad in [None, Some("wrong-token")] {
        let (status, _, body) = request(gw.port, "POST", "/v1/chat/completions", bad, &chat);
        assert_eq!(status, 401);
        assert_eq!(
            json_body(&body),
            json!({"error": {"message": "Unauthorized", "type": "unauthorized"}})
        );
        assert_eq!(request(gw.port, "GET", "/v1/models", bad, "").0, 401);
    }
    assert!(provider.requests().is_empty());

    // The models are agent targets.
    let (status, _, body) = request(gw.port, "GET", "/v1/models", Some(&token), "");
    assert_eq!(status, 200);
    let list = json_body(&body);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["openclaw", "openclaw/default", "openclaw/main"]);
    let (status, _, body) = request(
        gw.port,
        "GET",
        "/v1/models/openclaw%2Fdefault",
        Some(&token),
        "",
    );
    assert_eq!(
        (status, json_body(&body)["id"].clone()),
        (200, json!("openclaw/default"))
    );
    assert_eq!(
        request(
            gw.port,
            "GET",
            "/v1/models/openclaw%2Fnobody",
            Some(&token),
            ""
        )
        .0,
        404
    );

    // Not streamed: one JSON answer with the whole reply and usage.
    let (status, head, body) =
        request(gw.port, "POST", "/v1/chat/completions", Some(&token), &chat);
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("application/json"));
    let answer = json_body(&body);
    assert!(
        answer["id"].as_str().unwrap().starts_with("chatcmpl_"),
        "{answer}"
    );
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "openclaw/default");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from the fake model."
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["usage"]["prompt_tokens"], 10, "{answer}");
    let sent = &provider.requests()[0].body;
    assert!(sent["messages"].to_string().contains("say hello"), "{sent}");

    // Streamed, same `user`: the same session (the first turn is in the
    // context the model gets), the reply as SSE chunks, then [DONE].
    let streamed = json!({"model": "openclaw", "user": "conv-7", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "again"}]})
    .to_string();
    let (status, head, body) = request(
        gw.port,
        "POST",
        "/v1/chat/completions",
        Some(&token),
        &streamed,
    );
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.contains("text/event-stream"), "{head}");
    let events = events(&body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{body}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| json_body(e))
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from the fake model.");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("stop"));
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"],
        5,
        "{body}"
    );
    let second = provider.requests()[1].body["messages"].to_string();
    assert!(
        second.contains("say hello") && second.contains("again"),
        "{second}"
    );

    // Refusals with the reference's shape.
    let (status, _, body) = request(
        gw.port,
        "POST",
        "/v1/chat/completions",
        Some(&token),
        r#"{"model":"gpt-4o"}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(json_body(&body)["error"]["type"], "invalid_request_error");
    let (status, head, _) = request(gw.port, "GET", "/v1/chat/completions", Some(&token), "");
    assert_eq!(status, 405);
    assert!(head.contains("Allow: POST"), "{head}");
}

#[test]
fn a_client_that_hangs_up_aborts_its_run() {
    // A slow reply (~10 s): a cancelled call notices at its next chunk and
    // closes the connection, which the provider sees as its next write fails.
    let mut slow = Script::new(Api::OpenAi).text("Thinking");
    for _ in 0..40 {
        slow = slow.delay(250).text(".");
    }
    let provider = FakeProvider::start(vec![slow]);
    let gw = start(&provider, true);
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "take your time"}]})
        .to_string();
    let mut socket = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        socket,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        gw.token,
        body.len()
    )
    .unwrap();
    // Read until the first delta arrived: the run is going.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("Thinking") {
        let n = socket.read(&mut buf).expect("stream");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    drop(socket);
    // The gateway drops the model call (the provider sees its client go).
    let outcome = provider.wait_outcome(0, Duration::from_secs(15));
    assert_eq!(
        outcome,
        Some(Outcome::ClientClosed),
        "output:\n{}",
        gw.output()
    );
}

/// The venv holding the `openai` package: `~/.cache/openclaw-openai-py`,
/// created with pip when missing. `None` (with the reason printed) when it
/// cannot be had.
fn openai_python() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let venv = home.join(".cache/openclaw-openai-py");
    let python = venv.join("bin/python");
    let has_openai = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_openai(&python) {
        return Some(python);
    }
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(&venv);
    let out = run_with_timeout(create, Duration::from_secs(120));
    if !out.status.success() {
        println!(
            "SKIPPED: no python3 venv: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let mut install = Command::new(venv.join("bin/pip"));
    install.args(["install", "-q", "openai"]);
    let out = run_with_timeout(install, Duration::from_secs(300));
    if !out.status.success() || !has_openai(&python) {
        println!(
            "SKIPPED: `pip install openai` failed (PyPI unreachable?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(python)
}

#[test]
fn the_official_openai_python_package_gets_a_streamed_completion() {
    let Some(python) = openai_python() else {
        assert!(
            std::env::var_os("OPENCLAW_REQUIRE_OPENAI_PY").is_none(),
            "OPENCLAW_REQUIRE_OPENAI_PY is set but the openai package could not be installed"
        );
        return;
    };
    let provider = FakeProvider::start(vec![hello()]);
    let gw = start(&provider, true);
    let script = r#"
import sys
from openai import OpenAI
client = OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0, timeout=30)
print("models:", ",".join(m.id for m in client.models.list()))
stream = client.chat.completions.create(
    model="openclaw/default",
    messages=[{"role": "user", "content": "hello from python"}],
    stream=True,
)
parts = []
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
print("chunks:", len(parts))
print("reply:", "".join(parts))
"#;
    let mut cmd = Command::new(python);
    cmd.args([
        "-c",
        script,
        &format!("http://127.0.0.1:{}/v1", gw.port),
        &gw.token,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}\ngateway:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.output()
    );
    assert!(
        stdout.contains("models: openclaw,openclaw/default,openclaw/main"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reply: Hello from the fake model."),
        "{stdout}"
    );
    // Streamed: the reply came as content chunks.
    let chunks: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("chunks: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(chunks >= 1, "{stdout}");
    assert!(provider.requests()[0].body["messages"]
        .to_string()
        .contains("hello from python"));
}
