//! The provider clients against a scripted provider on loopback: what they
//! send, what they report, and how they fail.

#![allow(clippy::disallowed_methods)]

#[allow(dead_code)]
#[path = "../../tests/src/fake_provider.rs"]
mod fake_provider;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use fake_provider::{Api, FakeProvider, Outcome, Script, Usage};
use gateway_proto::gateway::agents::model::{
    ModelApi, ModelEvent, ModelMessage, ModelRequest, ModelUsage, ToolCall, ToolSpec,
};
use gateway_smol::providers::{
    stream_model, ProviderSettings, MAX_LINE_BYTES, MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn settings() -> ProviderSettings {
    ProviderSettings {
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        ..ProviderSettings::default()
    }
}

fn request(api: ModelApi, base_url: String) -> ModelRequest {
    ModelRequest {
        api,
        base_url,
        api_key: Some("sk-test".into()),
        headers: vec![("X-Tenant".into(), "t1".into())],
        model: "echo".into(),
        max_tokens: Some(100),
        system: "You are terse.".into(),
        tools: vec![],
        messages: vec![
            ModelMessage::user("hi"),
            ModelMessage::assistant("hello", vec![]),
            ModelMessage::user("again"),
        ],
        cli: None,
    }
}

/// Every event of one call, in order.
fn call(request: &ModelRequest, settings: &ProviderSettings) -> Vec<ModelEvent> {
    let mut events = Vec::new();
    stream_model(request, settings, &AtomicBool::new(false), &mut |event| {
        events.push(event);
        true
    });
    events
}

fn texts(events: &[ModelEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The last event, asserting it is the only terminal one.
fn terminal(events: &[ModelEvent]) -> &ModelEvent {
    let last = events.last().expect("no events");
    assert!(last.is_terminal(), "last event not terminal: {events:?}");
    assert_eq!(
        events.iter().filter(|e| e.is_terminal()).count(),
        1,
        "{events:?}"
    );
    last
}

fn failure(events: &[ModelEvent]) -> (String, Option<u16>) {
    match terminal(events) {
        ModelEvent::Failed { message, status } => (message.clone(), *status),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn openai_streams_text_usage_and_the_finish_and_sends_what_the_reference_sends() {
    let usage = Usage {
        input: 6,
        output: 5,
        cache_read: 4,
        cache_write: 0,
    };
    let script = Script::reply(Api::OpenAi, &["Hel", "lo", " world"]).usage(usage);
    let fake = FakeProvider::start(vec![script]);
    let events = call(
        &request(ModelApi::OpenAiCompletions, format!("{}/v1/", fake.url())),
        &settings(),
    );
    assert_eq!(texts(&events), ["Hel", "lo", " world"]);
    assert!(events.contains(&ModelEvent::Usage(ModelUsage {
        input: 6,
        output: 5,
        cache_read: 4,
        cache_write: 0,
        total: 15
    })));
    assert_eq!(
        terminal(&events),
        &ModelEvent::Done {
            stop_reason: "stop".into(),
            response_id: Some("chatcmpl-fake".into()),
            response_model: Some("fake-model".into()),
        }
    );

    let sent = &fake.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(sent.header("x-tenant"), Some("t1"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.body["model"], "echo");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"], json!({"include_usage": true}));
    assert_eq!(sent.body["max_completion_tokens"], 100);
    assert_eq!(
        sent.body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"},
        ])
    );
    assert_eq!(fake.wait_outcome(0, WAIT), Some(Outcome::Completed));
}

#[test]
fn openai_finish_reasons_map_to_the_reference_words() {
    for (reason, expected) in [
        ("length", "length"),
        ("tool_calls", "toolUse"),
        ("content_filter", "error"),
    ] {
        let fake = FakeProvider::start(vec![Script::new(Api::OpenAi)
            .text("x")
            .finish(reason)
            .end()]);
        let events = call(
            &request(ModelApi::OpenAiCompletions, fake.url()),
            &settings(),
        );
        match terminal(&events) {
            ModelEvent::Done { stop_reason, .. } => assert_eq!(stop_reason, expected, "{reason}"),
            other => panic!("{reason}: {other:?}"),
        }
    }
}

#[test]
fn anthropic_streams_text_usage_with_cache_tokens_and_the_stop() {
    let usage = Usage {
        input: 10,
        output: 7,
        cache_read: 3,
        cache_write: 2,
    };
    let script = Script::reply(Api::Anthropic, &["Bon", "jour"]).usage(usage);
    let fake = FakeProvider::start(vec![script]);
    let events = call(
        &request(ModelApi::AnthropicMessages, fake.url()),
        &settings(),
    );
    assert_eq!(texts(&events), ["Bon", "jour"]);
    let last_usage = events.iter().rev().find_map(|e| match e {
        ModelEvent::Usage(usage) => Some(*usage),
        _ => None,
    });
    assert_eq!(
        last_usage,
        Some(ModelUsage {
            input: 10,
            output: 7,
            cache_read: 3,
            cache_write: 2,
            total: 22
        })
    );
    assert_eq!(
        terminal(&events),
        &ModelEvent::Done {
            stop_reason: "stop".into(),
            response_id: Some("msg_fake".into()),
            response_model: Some("fake-model".into()),
        }
    );

    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-test"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.header("x-tenant"), Some("t1"));
    assert_eq!(sent.body["model"], "echo");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["max_tokens"], 100);
    assert_eq!(
        sent.body["system"],
        json!([{"type": "text", "text": "You are terse."}])
    );
    assert_eq!(
        sent.body["messages"],
        json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"},
        ])
    );
}

#[test]
fn anthropic_stop_reasons_and_error_events() {
    let fake = FakeProvider::start(vec![
        Script::new(Api::Anthropic)
            .text("x")
            .finish("max_tokens")
            .end(),
        Script::new(Api::Anthropic).text("x").raw(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        ),
    ]);
    let req = request(ModelApi::AnthropicMessages, fake.url());
    let events = call(&req, &settings());
    assert!(
        matches!(terminal(&events), ModelEvent::Done { stop_reason, .. } if stop_reason == "length")
    );
    let (message, status) = failure(&call(&req, &settings()));
    assert!(message.contains("Overloaded"), "{message}");
    assert_eq!(status, None);
}

#[test]
fn ollama_streams_lines_with_eval_counts_as_usage() {
    let script = Script::reply(Api::Ollama, &["Hal", "lo"]).usage(Usage {
        input: 12,
        output: 3,
        ..Usage::default()
    });
    let fake = FakeProvider::start(vec![script]);
    // A configured `/v1` (OpenAI-style) is dropped for the native API.
    let events = call(
        &request(ModelApi::Ollama, format!("{}/v1", fake.url())),
        &settings(),
    );
    assert_eq!(texts(&events), ["Hal", "lo"]);
    assert!(events.contains(&ModelEvent::Usage(ModelUsage {
        input: 12,
        output: 3,
        cache_read: 0,
        cache_write: 0,
        total: 15
    })));
    assert_eq!(
        terminal(&events),
        &ModelEvent::Done {
            stop_reason: "stop".into(),
            response_id: None,
            response_model: Some("fake-model".into()),
        }
    );
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(sent.body["model"], "echo");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["options"]["num_predict"], 100);
    assert_eq!(sent.body["truncate"], false);
    assert_eq!(sent.body["shift"], false);
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(
        sent.body["messages"][3],
        json!({"role": "user", "content": "again"})
    );
}

#[test]
fn http_error_statuses_fail_with_the_providers_message() {
    let fake = FakeProvider::start(vec![
        Script::error(
            Api::OpenAi,
            401,
            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}),
        ),
        Script::error(
            Api::Anthropic,
            500,
            json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}),
        ),
        Script::error(
            Api::Ollama,
            404,
            json!({"error": "model \"echo\" not found"}),
        ),
    ]);
    let (message, status) = failure(&call(
        &request(ModelApi::OpenAiCompletions, fake.url()),
        &settings(),
    ));
    assert_eq!(status, Some(401));
    assert!(
        message.contains("401") && message.contains("Incorrect API key provided"),
        "{message}"
    );
    let (message, status) = failure(&call(
        &request(ModelApi::AnthropicMessages, fake.url()),
        &settings(),
    ));
    assert_eq!(status, Some(500));
    assert!(message.contains("Internal server error"), "{message}");
    let (message, status) = failure(&call(&request(ModelApi::Ollama, fake.url()), &settings()));
    assert_eq!(status, Some(404));
    assert!(message.contains("not found"), "{message}");
}

#[test]
fn a_refused_connection_fails_without_a_status() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let (message, status) = failure(&call(
        &request(
            ModelApi::OpenAiCompletions,
            format!("http://127.0.0.1:{port}/v1"),
        ),
        &settings(),
    ));
    assert_eq!(status, None);
    assert!(message.contains("refused"), "{message}");
    assert!(started.elapsed() < WAIT);
}

#[test]
fn malformed_and_unfinished_streams_fail() {
    let fake = FakeProvider::start(vec![
        Script::new(Api::OpenAi)
            .text("a")
            .raw("data: {not json\n\n"),
        // Text, then the end of the body without a finish.
        Script::new(Api::OpenAi).text("a"),
        Script::new(Api::Anthropic).text("a").finish("end_turn"),
        Script::new(Api::Ollama).text("a").raw("[1,2]\n"),
        Script::new(Api::Ollama).text("a").drop_connection(),
        Script::new(Api::OpenAi).raw(&"x".repeat(MAX_LINE_BYTES + 10)),
    ]);
    let url = fake.url();
    let cases = [
        (ModelApi::OpenAiCompletions, "malformed"),
        (ModelApi::OpenAiCompletions, "ended before"),
        (ModelApi::AnthropicMessages, "ended before"),
        (ModelApi::Ollama, "malformed"),
        (ModelApi::Ollama, ""),
        (ModelApi::OpenAiCompletions, "longer than"),
    ];
    for (api, expected) in cases {
        let events = call(&request(api, url.clone()), &settings());
        let (message, status) = failure(&events);
        assert!(message.contains(expected), "{api:?}: {message}");
        assert_eq!(status, None);
    }
}

#[test]
fn a_silent_provider_fails_after_the_idle_timeout_and_the_connection_is_closed() {
    let fake = FakeProvider::start(vec![Script::new(Api::OpenAi).text("a").stall()]);
    let quick = ProviderSettings {
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_millis(300),
        ..ProviderSettings::default()
    };
    let started = Instant::now();
    let events = call(&request(ModelApi::OpenAiCompletions, fake.url()), &quick);
    let took = started.elapsed();
    assert_eq!(texts(&events), ["a"]);
    let (message, _) = failure(&events);
    assert!(message.contains("sent nothing"), "{message}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(fake.wait_outcome(0, WAIT), Some(Outcome::ClientClosed));
}

#[test]
fn cancelling_mid_stream_stops_the_worker_and_closes_the_connection() {
    // About 10 s of text, one chunk every 25 ms.
    let mut script = Script::new(Api::OpenAi).text("first");
    for _ in 0..400 {
        script = script.delay(25).text("x");
    }
    let fake = FakeProvider::start(vec![script.finish("stop").end()]);
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let worker = {
        let cancel = Arc::clone(&cancel);
        let request = request(ModelApi::OpenAiCompletions, fake.url());
        std::thread::spawn(move || {
            stream_model(&request, &settings(), &cancel, &mut |event| {
                tx.send(event).is_ok()
            })
        })
    };
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        ModelEvent::Text("first".into())
    );
    cancel.store(true, Ordering::Release);
    let cancelled_at = Instant::now();
    // The channel closes when the worker returns (it owns the sender).
    let mut last = None;
    while let Ok(event) = rx.recv_timeout(WAIT) {
        last = Some(event);
    }
    let stopped_after = cancelled_at.elapsed();
    worker.join().unwrap();
    assert!(
        matches!(&last, Some(ModelEvent::Failed { message, .. }) if message.contains("cancelled")),
        "{last:?}"
    );
    // It stops at the next chunk (25 ms away), far below the idle timeout.
    assert!(stopped_after < Duration::from_secs(2), "{stopped_after:?}");
    assert_eq!(fake.wait_outcome(0, WAIT), Some(Outcome::ClientClosed));
}

#[test]
fn a_sink_that_refuses_stops_the_call_without_a_terminal_event() {
    let mut script = Script::new(Api::Ollama);
    for _ in 0..100 {
        script = script.text("x").delay(10);
    }
    let fake = FakeProvider::start(vec![script.finish("stop")]);
    let mut seen = Vec::new();
    stream_model(
        &request(ModelApi::Ollama, fake.url()),
        &settings(),
        &AtomicBool::new(false),
        &mut |event| {
            seen.push(event);
            false
        },
    );
    assert_eq!(seen, [ModelEvent::Text("x".into())]);
    assert_eq!(fake.wait_outcome(0, WAIT), Some(Outcome::ClientClosed));
}

#[test]
fn cancelling_a_stalled_stream_takes_at_most_the_idle_timeout() {
    let fake = FakeProvider::start(vec![Script::new(Api::Anthropic).text("a").stall()]);
    let idle = Duration::from_millis(500);
    let quick = ProviderSettings {
        connect_timeout: Duration::from_secs(5),
        idle_timeout: idle,
        ..ProviderSettings::default()
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let worker = {
        let cancel = Arc::clone(&cancel);
        let request = request(ModelApi::AnthropicMessages, fake.url());
        std::thread::spawn(move || {
            stream_model(&request, &quick, &cancel, &mut |event| {
                tx.send(event).is_ok()
            })
        })
    };
    // message_start's usage comes first.
    loop {
        match rx.recv_timeout(WAIT).unwrap() {
            ModelEvent::Text(text) => break assert_eq!(text, "a"),
            ModelEvent::Usage(_) => {}
            other => panic!("{other:?}"),
        }
    }
    cancel.store(true, Ordering::Release);
    let cancelled_at = Instant::now();
    let mut last = None;
    while let Ok(event) = rx.recv_timeout(WAIT) {
        last = Some(event);
    }
    let stopped_after = cancelled_at.elapsed();
    worker.join().unwrap();
    assert!(
        matches!(&last, Some(ModelEvent::Failed { message, .. }) if message.contains("cancelled")),
        "{last:?}"
    );
    assert!(
        stopped_after < idle + Duration::from_secs(2),
        "{stopped_after:?}"
    );
    assert_eq!(fake.wait_outcome(0, WAIT), Some(Outcome::ClientClosed));
}

#[test]
fn a_reply_over_the_size_bound_fails() {
    let mut script = Script::new(Api::OpenAi);
    for _ in 0..100 {
        script = script.text("0123456789");
    }
    let fake = FakeProvider::start(vec![script.finish("stop").end()]);
    let small = ProviderSettings {
        max_reply_bytes: 4096,
        ..settings()
    };
    let events = call(&request(ModelApi::OpenAiCompletions, fake.url()), &small);
    let (message, _) = failure(&events);
    assert!(message.contains("larger than 4096 bytes"), "{message}");
    // Only what fit was reported.
    let streamed: usize = texts(&events).iter().map(|t| t.len()).sum();
    assert!(streamed > 0 && streamed < 1000, "{streamed}");
}

#[test]
fn a_json_error_document_instead_of_a_stream_fails_with_its_message() {
    let fake = FakeProvider::start(vec![Script::error(
        Api::OpenAi,
        200,
        json!({"error": {"message": "streaming is not enabled"}}),
    )]);
    let (message, status) = failure(&call(
        &request(ModelApi::OpenAiCompletions, fake.url()),
        &settings(),
    ));
    assert!(message.contains("streaming is not enabled"), "{message}");
    assert_eq!(status, None);
}

#[test]
fn cancelling_while_the_provider_sends_only_keep_alives_stops_too() {
    // Text, then SSE comments every 25 ms for about 10 s: never idle.
    let mut script = Script::new(Api::OpenAi).text("first");
    for _ in 0..400 {
        script = script.delay(25).raw(": keep-alive\n");
    }
    let fake = FakeProvider::start(vec![script]);
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let worker = {
        let cancel = Arc::clone(&cancel);
        let request = request(ModelApi::OpenAiCompletions, fake.url());
        std::thread::spawn(move || {
            stream_model(&request, &settings(), &cancel, &mut |event| {
                tx.send(event).is_ok()
            })
        })
    };
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        ModelEvent::Text("first".into())
    );
    cancel.store(true, Ordering::Release);
    let cancelled_at = Instant::now();
    let mut last = None;
    while let Ok(event) = rx.recv_timeout(WAIT) {
        last = Some(event);
    }
    let stopped_after = cancelled_at.elapsed();
    worker.join().unwrap();
    assert!(
        matches!(&last, Some(ModelEvent::Failed { message, .. }) if message.contains("cancelled")),
        "{last:?}"
    );
    assert!(stopped_after < Duration::from_secs(2), "{stopped_after:?}");
    assert_eq!(fake.wait_outcome(0, WAIT), Some(Outcome::ClientClosed));
}

#[test]
fn a_configured_header_replaces_the_apis_own() {
    let fake = FakeProvider::start(vec![Script::reply(Api::OpenAi, &["ok"])]);
    let mut req = request(ModelApi::OpenAiCompletions, fake.url());
    req.headers
        .push(("authorization".into(), "Token custom".into()));
    let events = call(&req, &settings());
    assert!(matches!(terminal(&events), ModelEvent::Done { .. }));
    let sent = &fake.requests()[0];
    let auth: Vec<_> = sent
        .headers
        .iter()
        .filter(|(name, _)| name == "authorization")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(auth, ["Token custom"]);
}

// Tool calling.

fn tool_spec(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("The {name} tool."),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}},
                           "required": ["path"]}),
    }
}

fn call_of(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

/// A request with two tools and a finished round of calls: one with valid
/// arguments, one whose arguments are not JSON (answered with an error),
/// then the user speaking again.
fn tool_request(api: ModelApi, base_url: String) -> ModelRequest {
    let read = call_of("call_a", "read", r#"{"path":"notes.md"}"#);
    let broken = call_of("call_b", "ls", r#"{"path":"#);
    ModelRequest {
        tools: vec![tool_spec("read"), tool_spec("ls")],
        messages: vec![
            ModelMessage::user("look"),
            ModelMessage::assistant("Looking.", vec![read.clone(), broken.clone()]),
            ModelMessage::tool_result(&read, "# Notes", false),
            ModelMessage::tool_result(&broken, "invalid arguments", true),
            ModelMessage::user("and?"),
        ],
        ..request(api, base_url)
    }
}

fn tool_calls_in(events: &[ModelEvent]) -> Vec<ToolCall> {
    events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect()
}

/// Two calls, then `Done` with `toolUse`, nothing between them.
fn assert_two_calls_then_tool_use(events: &[ModelEvent], ids: [&str; 2]) {
    let expected = vec![
        call_of(ids[0], "read", r#"{"path":"notes.md"}"#),
        call_of(ids[1], "ls", r#"{"all":true,"path":"src/ü"}"#),
    ];
    assert_eq!(tool_calls_in(events), expected, "{events:?}");
    let first = events
        .iter()
        .position(|e| matches!(e, ModelEvent::ToolCall(_)))
        .unwrap();
    assert!(
        matches!(&events[first + 1], ModelEvent::ToolCall(_)),
        "{events:?}"
    );
    match terminal(events) {
        ModelEvent::Done { stop_reason, .. } => assert_eq!(stop_reason, "toolUse"),
        other => panic!("{other:?}"),
    }
}

fn two_calls(script: Script) -> Script {
    script
        .tool_call("call_1", "read", r#"{"path":"notes.md"}"#)
        .tool_call("call_2", "ls", r#"{"all":true,"path":"src/ü"}"#)
}

#[test]
fn a_request_without_tools_has_no_tool_fields() {
    let fake = FakeProvider::start(vec![
        Script::reply(Api::OpenAi, &["ok"]),
        Script::reply(Api::Anthropic, &["ok"]),
        Script::reply(Api::Ollama, &["ok"]),
    ]);
    for api in [
        ModelApi::OpenAiCompletions,
        ModelApi::AnthropicMessages,
        ModelApi::Ollama,
    ] {
        let events = call(&request(api, fake.url()), &settings());
        assert!(matches!(terminal(&events), ModelEvent::Done { .. }));
    }
    let keys: Vec<Vec<String>> = fake
        .requests()
        .iter()
        .map(|sent| {
            let mut keys: Vec<String> = sent.body.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        })
        .collect();
    assert_eq!(
        keys,
        [
            vec![
                "max_completion_tokens",
                "messages",
                "model",
                "stream",
                "stream_options"
            ],
            vec!["max_tokens", "messages", "model", "stream", "system"],
            vec!["messages", "model", "options", "shift", "stream", "truncate"],
        ]
    );
}

#[test]
fn openai_sends_tools_calls_and_results_in_its_format() {
    let fake = FakeProvider::start(vec![Script::reply(Api::OpenAi, &["ok"])]);
    call(
        &tool_request(ModelApi::OpenAiCompletions, fake.url()),
        &settings(),
    );
    let body = &fake.requests()[0].body;
    let parameters = tool_spec("read").parameters;
    assert_eq!(
        body["tools"],
        json!([
            {"type": "function", "function": {"name": "read",
                "description": "The read tool.", "parameters": parameters}},
            {"type": "function", "function": {"name": "ls",
                "description": "The ls tool.", "parameters": parameters}},
        ])
    );
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "look"},
            {"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "call_a", "type": "function",
                 "function": {"name": "read", "arguments": "{\"path\":\"notes.md\"}"}},
                // Not JSON: sent as the model wrote it.
                {"id": "call_b", "type": "function",
                 "function": {"name": "ls", "arguments": "{\"path\":"}},
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "# Notes"},
            {"role": "tool", "tool_call_id": "call_b", "content": "invalid arguments"},
            {"role": "user", "content": "and?"},
        ])
    );
}

#[test]
fn openai_an_assistant_message_with_only_calls_has_null_content() {
    let fake = FakeProvider::start(vec![Script::reply(Api::OpenAi, &["ok"])]);
    let read = call_of("call_a", "read", "{}");
    let req = ModelRequest {
        messages: vec![
            ModelMessage::user("look"),
            ModelMessage::assistant("", vec![read.clone()]),
            ModelMessage::tool_result(&read, "", false),
        ],
        ..request(ModelApi::OpenAiCompletions, fake.url())
    };
    call(&req, &settings());
    let body = &fake.requests()[0].body;
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "read", "arguments": "{}"}}]})
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_a", "content": ""})
    );
}

#[test]
fn openai_assembles_two_streamed_calls() {
    let script = two_calls(Script::new(Api::OpenAi).text("Checking."))
        .finish("tool_calls")
        .end();
    let fake = FakeProvider::start(vec![script]);
    let events = call(
        &request(ModelApi::OpenAiCompletions, fake.url()),
        &settings(),
    );
    assert_eq!(texts(&events), ["Checking."]);
    assert_two_calls_then_tool_use(&events, ["call_1", "call_2"]);
}

#[test]
fn openai_calls_interleaved_by_index_come_out_whole_in_index_order() {
    let chunk = |calls: serde_json::Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-x", "choices": [{"index": 0,
                   "delta": {"tool_calls": calls}, "finish_reason": null}]})
        )
    };
    let script = Script::new(Api::OpenAi)
        // The second call starts first.
        .raw(&chunk(json!([
            {"index": 1, "id": "call_2", "type": "function",
             "function": {"name": "ls", "arguments": "{\"all\":"}},
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "read", "arguments": "{\"path\""}},
        ])))
        .raw(&chunk(
            json!([{"index": 1, "function": {"arguments": "true,\"path\":"}}]),
        ))
        .raw(&chunk(
            json!([{"index": 0, "function": {"arguments": ":\"notes.md\"}"}}]),
        ))
        .raw(&chunk(
            json!([{"index": 1, "function": {"arguments": "\"src/ü\"}"}}]),
        ))
        // Some servers finish a reply with calls with `stop`; no [DONE].
        .finish("stop");
    let fake = FakeProvider::start(vec![script]);
    let events = call(
        &request(ModelApi::OpenAiCompletions, fake.url()),
        &settings(),
    );
    assert_two_calls_then_tool_use(&events, ["call_1", "call_2"]);
}

#[test]
fn openai_tool_call_bounds_fail_the_reply() {
    let mut many = Script::new(Api::OpenAi);
    for n in 0..=MAX_TOOL_CALLS {
        many = many.tool_call(&format!("call_{n}"), "ls", "{}");
    }
    let huge = format!(r#"{{"text":"{}"}}"#, "x".repeat(MAX_TOOL_ARGUMENT_BYTES));
    let fake = FakeProvider::start(vec![
        many.finish("tool_calls").end(),
        Script::new(Api::OpenAi)
            .tool_call("call_1", "write", &huge)
            .finish("tool_calls")
            .end(),
    ]);
    let req = request(ModelApi::OpenAiCompletions, fake.url());
    let events = call(&req, &settings());
    let (message, _) = failure(&events);
    assert!(message.contains("more than 64 tool calls"), "{message}");
    assert!(tool_calls_in(&events).is_empty());
    let (message, _) = failure(&call(&req, &settings()));
    assert!(
        message.contains("larger than 1048576 bytes") && message.contains("write"),
        "{message}"
    );
}

#[test]
fn anthropic_sends_tools_and_merges_results_into_one_user_message() {
    let fake = FakeProvider::start(vec![Script::reply(Api::Anthropic, &["ok"])]);
    call(
        &tool_request(ModelApi::AnthropicMessages, fake.url()),
        &settings(),
    );
    let body = &fake.requests()[0].body;
    let parameters = tool_spec("read").parameters;
    assert_eq!(
        body["tools"],
        json!([
            {"name": "read", "description": "The read tool.", "input_schema": parameters},
            {"name": "ls", "description": "The ls tool.", "input_schema": parameters},
        ])
    );
    assert_eq!(body.get("tool_choice"), None);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "look"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "call_a", "name": "read",
                 "input": {"path": "notes.md"}},
                // Not JSON: an empty input keeps the request valid.
                {"type": "tool_use", "id": "call_b", "name": "ls", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "# Notes",
                 "is_error": false},
                {"type": "tool_result", "tool_use_id": "call_b",
                 "content": "invalid arguments", "is_error": true},
                {"type": "text", "text": "and?"},
            ]},
        ])
    );
}

#[test]
fn anthropic_assembles_two_streamed_calls() {
    let script = two_calls(Script::new(Api::Anthropic).text("Checking."))
        .finish("tool_use")
        .end();
    let fake = FakeProvider::start(vec![script]);
    let events = call(
        &request(ModelApi::AnthropicMessages, fake.url()),
        &settings(),
    );
    assert_eq!(texts(&events), ["Checking."]);
    assert_two_calls_then_tool_use(&events, ["call_1", "call_2"]);
}

#[test]
fn anthropic_tool_call_bounds_fail_the_reply() {
    let mut many = Script::new(Api::Anthropic);
    for n in 0..=MAX_TOOL_CALLS {
        many = many.tool_call(&format!("toolu_{n}"), "ls", "{}");
    }
    let huge = format!(r#"{{"text":"{}"}}"#, "x".repeat(MAX_TOOL_ARGUMENT_BYTES));
    let fake = FakeProvider::start(vec![
        many.finish("tool_use").end(),
        Script::new(Api::Anthropic)
            .tool_call("toolu_1", "write", &huge)
            .finish("tool_use")
            .end(),
    ]);
    let req = request(ModelApi::AnthropicMessages, fake.url());
    let events = call(&req, &settings());
    let (message, _) = failure(&events);
    assert!(message.contains("more than 64 tool calls"), "{message}");
    // The calls before the bound were complete and reported.
    assert_eq!(tool_calls_in(&events).len(), MAX_TOOL_CALLS);
    let (message, _) = failure(&call(&req, &settings()));
    assert!(message.contains("larger than 1048576 bytes"), "{message}");
}

#[test]
fn ollama_sends_tools_calls_as_objects_and_results_by_tool_name() {
    let fake = FakeProvider::start(vec![Script::reply(Api::Ollama, &["ok"])]);
    call(&tool_request(ModelApi::Ollama, fake.url()), &settings());
    let body = &fake.requests()[0].body;
    let parameters = tool_spec("read").parameters;
    assert_eq!(
        body["tools"],
        json!([
            {"type": "function", "function": {"name": "read",
                "description": "The read tool.", "parameters": parameters}},
            {"type": "function", "function": {"name": "ls",
                "description": "The ls tool.", "parameters": parameters}},
        ])
    );
    assert_eq!(body.get("tool_choice"), None);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "look"},
            {"role": "assistant", "content": "Looking.", "tool_calls": [
                {"function": {"name": "read", "arguments": {"path": "notes.md"}}},
                {"function": {"name": "ls", "arguments": {}}},
            ]},
            {"role": "tool", "content": "# Notes", "tool_call_id": "call_a",
             "tool_name": "read"},
            {"role": "tool", "content": "invalid arguments", "tool_call_id": "call_b",
             "tool_name": "ls"},
            {"role": "user", "content": "and?"},
        ])
    );
}

#[test]
fn ollama_reports_the_calls_of_its_lines_with_made_up_ids() {
    // Ollama finishes a reply with calls with `stop`.
    let script = two_calls(Script::new(Api::Ollama).text("Checking.")).finish("stop");
    let fake = FakeProvider::start(vec![script]);
    let events = call(&request(ModelApi::Ollama, fake.url()), &settings());
    assert_eq!(texts(&events), ["Checking."]);
    assert_two_calls_then_tool_use(&events, ["call_0", "call_1"]);
}

#[test]
fn ollama_tool_call_bounds_fail_the_reply() {
    let mut many = Script::new(Api::Ollama);
    for n in 0..=MAX_TOOL_CALLS {
        many = many.tool_call("", "ls", &format!(r#"{{"n":{n}}}"#));
    }
    let fake = FakeProvider::start(vec![many.finish("stop")]);
    let events = call(&request(ModelApi::Ollama, fake.url()), &settings());
    let (message, _) = failure(&events);
    assert!(message.contains("more than 64 tool calls"), "{message}");
}
