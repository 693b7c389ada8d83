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
    ModelApi, ModelEvent, ModelMessage, ModelRequest, ModelRole, ModelUsage,
};
use gateway_smol::providers::{stream_model, ProviderSettings, MAX_LINE_BYTES};
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
        messages: vec![
            ModelMessage {
                role: ModelRole::User,
                text: "hi".into(),
            },
            ModelMessage {
                role: ModelRole::Assistant,
                text: "hello".into(),
            },
            ModelMessage {
                role: ModelRole::User,
                text: "again".into(),
            },
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
