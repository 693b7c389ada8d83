//! The OpenAI-compatible `/v1` surface of the core in virtual time:
//! gates, request checks, and completions run through the scripted model
//! call (deltas and endings reported as `Effect::RunStream`).

use gateway_proto::gateway::agents::catalog::ModelCatalog;
use gateway_proto::gateway::agents::model::{ModelEvent, ModelRole};
use gateway_proto::gateway::openai_http::*;
use gateway_proto::gateway::{AuthConfig, Config, Effect};
use gateway_proto::testing::{Harness, Seen};
use gateway_proto::time::Timestamp;
use serde_json::{json, Value};

const TOKEN: &str = "sekrit";

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

fn harness(enabled: bool) -> Harness {
    let config = Config::default()
        .with_auth(AuthConfig::Token(TOKEN.into()))
        .with_models(catalog())
        .with_chat_completions(enabled);
    Harness::new(config, Timestamp::ZERO, 1_700_000_000_000)
}

fn head(method: &str, path: &str, bearer: Option<&str>) -> HttpHead {
    HttpHead {
        method: method.into(),
        path: path.into(),
        authorization: bearer.map(|b| format!("Bearer {b}")),
        ..HttpHead::default()
    }
}

fn chat_head() -> HttpHead {
    head("POST", "/v1/chat/completions", Some(TOKEN))
}

fn answer_json(gate: HttpGate) -> (u16, Value) {
    match gate {
        HttpGate::Answer(a) => (a.status, serde_json::from_str(&a.body).unwrap()),
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn error_of(result: Result<Completion, HttpAnswer>) -> (u16, Value) {
    let answer = result.expect_err("refused");
    (answer.status, serde_json::from_str(&answer.body).unwrap())
}

fn complete(
    h: &mut Harness,
    stream: u64,
    head: &HttpHead,
    body: Value,
) -> Result<Completion, HttpAnswer> {
    let now = h.now;
    let result = h
        .gateway
        .http_chat_completion(stream, head, body.to_string().as_bytes(), now);
    h.drain();
    result
}

#[test]
fn disabled_by_default_and_unrouted() {
    let h = harness(false);
    assert_eq!(
        h.gateway.http_gate(&chat_head()),
        HttpGate::NotRouted,
        "disabled: the port's 404"
    );
    assert!(!Config::default().chat_completions_enabled);
    let h = harness(true);
    let embeddings = head("POST", "/v1/embeddings", Some(TOKEN));
    assert_eq!(h.gateway.http_gate(&embeddings), HttpGate::NotRouted);
}

#[test]
fn auth_and_methods() {
    let h = harness(true);
    for bearer in [None, Some("wrong"), Some("")] {
        let (status, body) = answer_json(h.gateway.http_gate(&head(
            "POST",
            "/v1/chat/completions",
            bearer,
        )));
        assert_eq!(status, 401);
        assert_eq!(
            body,
            json!({"error": {"message": "Unauthorized", "type": "unauthorized"}})
        );
    }
    let mut basic = chat_head();
    basic.authorization = Some(format!("Basic {TOKEN}"));
    assert_eq!(answer_json(h.gateway.http_gate(&basic)).0, 401);
    assert_eq!(
        h.gateway.http_gate(&chat_head()),
        HttpGate::ReadBody {
            max_bytes: MAX_BODY_BYTES
        }
    );
    match h
        .gateway
        .http_gate(&head("GET", "/v1/chat/completions", None))
    {
        HttpGate::Answer(a) => assert_eq!((a.status, a.allow), (405, Some("POST"))),
        other => panic!("{other:?}"),
    }
    match h
        .gateway
        .http_gate(&head("POST", "/v1/models", Some(TOKEN)))
    {
        HttpGate::Answer(a) => assert_eq!((a.status, a.allow), (405, Some("GET"))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn models_list_and_lookup() {
    let h = harness(true);
    let (status, list) = answer_json(h.gateway.http_gate(&head("GET", "/v1/models", Some(TOKEN))));
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["openclaw", "openclaw/default", "openclaw/main"]);
    assert_eq!(list["data"][0]["owned_by"], "openclaw");
    let get = |path: &str| answer_json(h.gateway.http_gate(&head("GET", path, Some(TOKEN))));
    let (status, model) = get("/v1/models/openclaw%2Fdefault");
    assert_eq!(
        (status, model["id"].as_str()),
        (200, Some("openclaw/default"))
    );
    assert_eq!(get("/v1/models/openclaw%2Fother").0, 404);
    assert_eq!(
        get("/v1/models/gpt-4").1["error"]["message"],
        "Invalid model id."
    );
    assert_eq!(
        get("/v1/models/%zz").1["error"]["message"],
        "Invalid model id encoding."
    );
    assert_eq!(
        get("/v1/models/").1["error"]["message"],
        "Missing model id."
    );
    assert_eq!(
        answer_json(h.gateway.http_gate(&head("GET", "/v1/models", None))).0,
        401
    );
}

#[test]
fn request_checks() {
    let mut h = harness(true);
    let (status, body) = error_of(complete(
        &mut h,
        1,
        &chat_head(),
        json!({"model": "gpt-4o", "messages": []}),
    ));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid `model`"));
    let (_, body) = error_of(complete(
        &mut h,
        1,
        &chat_head(),
        json!({"model": "openclaw/ops", "messages": [{"role": "user", "content": "hi"}]}),
    ));
    assert_eq!(body["error"]["message"], "Unknown agent 'ops'.");
    let (_, body) = error_of(complete(
        &mut h,
        1,
        &chat_head(),
        json!({"messages": [{"role": "system", "content": "x"}]}),
    ));
    assert_eq!(
        body["error"]["message"],
        "Missing user message in `messages`."
    );
    let tools = json!({"messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]});
    let (status, body) = error_of(complete(&mut h, 1, &chat_head(), tools));
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid tools/tool_choice"));
    let mut reserved = chat_head();
    for key in ["cron:nightly", "agent:main:subagent:x", "ACP:y"] {
        reserved.session_key = Some(key.into());
        let (status, body) = error_of(complete(
            &mut h,
            1,
            &reserved,
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ));
        assert_eq!(status, 400, "{key}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reserved"));
    }
    let mut model = chat_head();
    model.model_override = Some("nope/missing".into());
    assert_eq!(
        error_of(complete(
            &mut h,
            1,
            &model,
            json!({"messages": [{"role": "user", "content": "hi"}]})
        ))
        .0,
        400
    );
    let (status, _) = error_of(Ok::<_, HttpAnswer>(()).and_then(|_| {
        let now = h.now;
        h.gateway
            .http_chat_completion(1, &chat_head(), b"{not json", now)
    }));
    assert_eq!(status, 400);
    // Nothing was started by any of these.
    assert!(h.model_calls.is_empty());
    assert_eq!(h.gateway.http_runs_in_flight(), 0);
}

#[test]
fn a_completion_streams_deltas_then_its_final() {
    let mut h = harness(true);
    let body = json!({"model": "openclaw", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "say hello"}]});
    let completion = complete(&mut h, 7, &chat_head(), body).expect("accepted");
    assert!(completion.id.starts_with("chatcmpl_"));
    assert!(completion.stream && completion.include_usage);
    assert_eq!(completion.model, "openclaw");
    assert!(completion.session_key.starts_with("agent:main:openai:"));
    assert_eq!(h.gateway.http_runs_in_flight(), 1);
    // The prompt reached the model as the user's turn.
    let (token, request) = h.model_calls[0].clone();
    assert_eq!(request.messages.len(), 1);
    assert_eq!(request.messages[0].role, ModelRole::User);
    assert_eq!(request.messages[0].text, "say hello");
    h.model_event(token, ModelEvent::Text("Hel".into()));
    h.model_event(token, ModelEvent::Text("lo".into()));
    h.model_event(
        token,
        ModelEvent::Done {
            stop_reason: "stop".into(),
            response_id: None,
            response_model: None,
        },
    );
    let updates: Vec<&HttpRunUpdate> = h
        .http_updates
        .iter()
        .filter(|(s, _)| *s == 7)
        .map(|(_, u)| u)
        .collect();
    assert_eq!(updates.len(), 3);
    assert_eq!(updates[0], &HttpRunUpdate::Delta("Hel".into()));
    assert_eq!(updates[1], &HttpRunUpdate::Delta("lo".into()));
    assert!(
        matches!(updates[2], HttpRunUpdate::Final { text, stop_reason, .. } if text == "Hello" && stop_reason == "stop")
    );
    assert_eq!(h.gateway.http_runs_in_flight(), 0);
    // The chunk shapes the client parses.
    let chunk: Value = serde_json::from_str(
        completion
            .content_chunk("Hel")
            .trim_start_matches("data: ")
            .trim(),
    )
    .unwrap();
    assert_eq!(chunk["object"], "chat.completion.chunk");
    assert_eq!(chunk["choices"][0]["delta"]["content"], "Hel");
    let full: Value = serde_json::from_str(&completion.response("Hello", None, "length")).unwrap();
    assert_eq!(full["choices"][0]["message"]["content"], "Hello");
    assert_eq!(full["choices"][0]["finish_reason"], "length");
    assert_eq!(full["usage"]["total_tokens"], 0);
}

#[test]
fn the_same_user_shares_a_session_and_runs_queue() {
    let mut h = harness(true);
    let body = json!({"user": "conv-1", "messages": [{"role": "user", "content": "one"}]});
    let first = complete(&mut h, 1, &chat_head(), body.clone()).unwrap();
    let second = complete(&mut h, 2, &chat_head(), body).unwrap();
    assert_eq!(first.session_key, "agent:main:openai-user:conv-1");
    assert_eq!(first.session_key, second.session_key);
    // One run at a time per session: the second waits for the first.
    assert_eq!(h.model_calls.len(), 1);
    let token = h.model_token(0);
    h.model_event(
        token,
        ModelEvent::Done {
            stop_reason: "stop".into(),
            response_id: None,
            response_model: None,
        },
    );
    assert_eq!(h.model_calls.len(), 2);
    // A fresh session per request without `user`.
    let a = complete(
        &mut h,
        3,
        &chat_head(),
        json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .unwrap();
    let b = complete(
        &mut h,
        4,
        &chat_head(),
        json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .unwrap();
    assert_ne!(a.session_key, b.session_key);
}

#[test]
fn a_client_that_leaves_aborts_its_run() {
    let mut h = harness(true);
    complete(
        &mut h,
        9,
        &chat_head(),
        json!({"messages": [{"role": "user", "content": "long"}]}),
    )
    .unwrap();
    let token = h.model_token(0);
    let now = h.now;
    h.gateway.http_client_gone(9, now);
    h.drain();
    assert_eq!(h.cancelled_models, [token], "the model call is cancelled");
    assert!(matches!(
        h.http_updates.last(),
        Some((9, HttpRunUpdate::Failed { .. }))
    ));
    assert_eq!(h.gateway.http_runs_in_flight(), 0);
    // The run is a normal one: its ending is in the agent events.
    let ended = h.seen.iter().any(|s| {
        matches!(
            s,
            Seen::Effect {
                effect: Effect::CancelModel { .. },
                ..
            }
        )
    });
    assert!(ended);
}
