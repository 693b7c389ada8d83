//! CLI backends in the core: which models run a local command, with what
//! argv settings, and the CLI session carried from one turn to the next
//! (and across a restart).

mod common;

use common::nodes::{operator, send, ADMIN, ALL_SCOPES, START_MS};
use gateway_proto::gateway::agents::catalog::ModelCatalog;
use gateway_proto::gateway::agents::cli_backend::{
    choose_session, CliInput, CliOutput, CliSessionMode, SystemPromptWhen, CLAUDE_CLI,
};
use gateway_proto::gateway::agents::journal::StoredSession;
use gateway_proto::gateway::agents::model::{ModelApi, ModelEvent};
use gateway_proto::gateway::{AuthConfig, Config};
use gateway_proto::testing::Harness;
use gateway_proto::time::Timestamp;
use serde_json::{json, Value};

fn catalog(config: &Value) -> ModelCatalog {
    ModelCatalog::from_config(config, &|_| None)
}

#[test]
fn a_claude_cli_ref_runs_the_bundled_backend_without_an_api_key() {
    let catalog = catalog(&json!({}));
    let resolved = catalog.resolve(Some("claude-cli/claude-sonnet-5")).unwrap();
    assert_eq!(resolved.provider, "claude-cli");
    assert_eq!(resolved.model, "claude-sonnet-5");
    assert_eq!(resolved.route.api, ModelApi::CliBackend);
    let cli = resolved.cli.clone().expect("a CLI backend");
    // The reference's bundled defaults (docs/gateway/cli-backends.md).
    assert_eq!(cli.id, CLAUDE_CLI);
    assert_eq!(cli.command, "claude");
    assert_eq!(
        &cli.args[..5],
        [
            "-p",
            "--output-format",
            "stream-json",
            "--include-partial-messages",
            "--verbose"
        ]
    );
    assert_eq!(cli.output, CliOutput::Jsonl);
    assert_eq!(cli.input, CliInput::Stdin);
    assert_eq!(cli.model_arg.as_deref(), Some("--model"));
    assert_eq!(
        cli.session_args,
        Some(vec!["--session-id".to_owned(), "{sessionId}".to_owned()])
    );
    assert_eq!(cli.session_mode, CliSessionMode::Always);
    let resume = cli.resume_args.clone().unwrap();
    assert_eq!(&resume[resume.len() - 2..], ["--resume", "{sessionId}"]);
    assert_eq!(
        cli.system_prompt_file_arg.as_deref(),
        Some("--append-system-prompt-file")
    );
    // The request carries the backend.
    let request = resolved.request("sys".into(), vec![]);
    assert_eq!(request.api, ModelApi::CliBackend);
    assert_eq!(
        request.cli.as_ref().map(|c| c.id.as_str()),
        Some(CLAUDE_CLI)
    );
    assert_eq!(request.model, "claude-sonnet-5");
    // No codex-cli is bundled in the reference.
    assert!(catalog.resolve(Some("codex-cli/gpt-5")).is_err());
}

#[test]
fn the_v3_key_configures_any_command_and_overrides_the_builtin() {
    let config = json!({"agents": {"defaults": {
        "model": "my-cli/big",
        "cliBackends": {
            "my-cli": {
                "command": "/opt/bin/my-cli", "args": ["--json"], "output": "json",
                "input": "arg", "modelArg": "--model", "modelAliases": {"big": "b1"},
                "sessionArg": "--session", "sessionMode": "existing",
                "sessionIdFields": ["conversation_id"], "systemPromptArg": "--system",
                "systemPromptWhen": "first", "maxPromptArgChars": 1000, "serialize": true,
            },
            "claude-cli": {"command": "/usr/local/bin/claude"},
            "broken": {"args": ["x"]},
            "odd": {"command": "x", "output": "xml"},
        },
    }}});
    let catalog = catalog(&config);
    assert_eq!(catalog.default_model(), "my-cli/big");
    let mine = catalog.resolve(None).unwrap().cli.unwrap();
    assert_eq!(mine.command, "/opt/bin/my-cli");
    assert_eq!(mine.args, ["--json"]);
    assert_eq!(mine.output, CliOutput::Json);
    assert_eq!(mine.input, CliInput::Arg);
    assert_eq!(
        mine.model_aliases.get("big").map(String::as_str),
        Some("b1")
    );
    assert_eq!(mine.session_arg.as_deref(), Some("--session"));
    assert_eq!(mine.session_mode, CliSessionMode::Existing);
    assert_eq!(mine.session_id_fields, ["conversation_id"]);
    assert_eq!(mine.system_prompt_arg.as_deref(), Some("--system"));
    assert_eq!(mine.system_prompt_when, SystemPromptWhen::First);
    assert_eq!(mine.max_prompt_arg_chars, Some(1000));
    // Overriding the built-in keeps its other defaults.
    let claude = catalog
        .resolve(Some("claude-cli/opus"))
        .unwrap()
        .cli
        .unwrap();
    assert_eq!(claude.command, "/usr/local/bin/claude");
    assert_eq!(claude.output, CliOutput::Jsonl);
    assert_eq!(claude.input, CliInput::Stdin);
    // A custom backend without a command, or with an unknown output, is
    // reported and not offered.
    let warnings = catalog.warnings().join("\n");
    assert!(
        warnings.contains("cliBackends.broken.command"),
        "{warnings}"
    );
    assert!(warnings.contains("cliBackends.odd.output"), "{warnings}");
    assert!(catalog.resolve(Some("broken/x")).is_err());
    assert!(catalog.resolve(Some("odd/x")).is_err());
}

#[test]
fn a_models_agent_runtime_puts_a_provider_model_on_the_cli() {
    let config = json!({"agents": {"defaults": {
        "model": "anthropic/claude-opus-5",
        "models": {
            "anthropic/claude-opus-5": {"agentRuntime": {"id": "claude-cli"}},
            "anthropic/claude-haiku-5": {"agentRuntime": {"id": "pi"}},
        },
    }}});
    let catalog = catalog(&config);
    // Run by the CLI: no Anthropic key needed, the label stays anthropic.
    let resolved = catalog.resolve(None).unwrap();
    assert_eq!(resolved.model_ref(), "anthropic/claude-opus-5");
    assert_eq!(resolved.route.api, ModelApi::CliBackend);
    assert_eq!(resolved.cli.unwrap().id, CLAUDE_CLI);
    // Another runtime id (the embedded one) leaves the model on its API,
    // which needs its key.
    let error = catalog
        .resolve(Some("anthropic/claude-haiku-5"))
        .unwrap_err();
    assert!(error.contains("No API key"), "{error}");
    // The config check knows both keys as used.
    let unused = gateway_proto::gateway::config_rpc::keys::unused(config.as_object().unwrap());
    assert!(unused.is_empty(), "{unused:?}");
}

#[test]
fn the_session_mode_decides_which_cli_session_a_turn_uses() {
    let base = catalog(&json!({})).resolve(Some("claude-cli/m")).unwrap();
    let mut cli = base.cli.unwrap();
    // always: a new id, not resumed; then the stored one, resumed.
    choose_session(&mut cli, None, || "new-1".into());
    assert_eq!(
        (cli.session_id.as_deref(), cli.resuming),
        (Some("new-1"), false)
    );
    choose_session(&mut cli, Some("stored"), || unreachable!());
    assert_eq!(
        (cli.session_id.as_deref(), cli.resuming),
        (Some("stored"), true)
    );
    cli.session_mode = CliSessionMode::Existing;
    choose_session(&mut cli, None, || unreachable!());
    assert_eq!((cli.session_id.as_deref(), cli.resuming), (None, false));
    choose_session(&mut cli, Some(" "), || unreachable!());
    assert_eq!(cli.session_id, None);
    cli.session_mode = CliSessionMode::None;
    choose_session(&mut cli, Some("stored"), || unreachable!());
    assert_eq!(cli.session_id, None);
}

fn harness() -> Harness {
    let config = Config::default()
        .with_auth(AuthConfig::Token("testtok".into()))
        .with_models(catalog(
            &json!({"agents": {"defaults": {"model": "claude-cli/claude-sonnet-5"}}}),
        ));
    let mut h = Harness::new(config, Timestamp::ZERO, START_MS);
    operator(&mut h, ADMIN, ALL_SCOPES);
    h
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

fn answer(h: &mut Harness, token: u64, text: &str, cli_session: Option<&str>) {
    h.model_event(token, ModelEvent::Text(text.into()));
    if let Some(id) = cli_session {
        h.model_event(token, ModelEvent::CliSession(id.into()));
    }
    h.model_event(
        token,
        ModelEvent::Done {
            stop_reason: "stop".into(),
            response_id: None,
            response_model: None,
        },
    );
}

#[test]
fn the_cli_session_id_goes_back_on_the_next_turn_and_survives_a_restart() {
    let mut h = harness();
    agent(&mut h, "a1", "k1", "first");
    let (token, first) = h.model_calls[0].clone();
    let cli = first.cli.clone().unwrap();
    // A fresh session under `always`: a new id, not a resume.
    let made_up = cli.session_id.clone().expect("an id for a new session");
    assert!(!cli.resuming);
    // The CLI reports its own id: that is the one kept.
    answer(&mut h, token, "one", Some("claude-session-7"));
    agent(&mut h, "a2", "k2", "second");
    let (token, second) = h.model_calls[1].clone();
    let cli = second.cli.clone().unwrap();
    assert_eq!(cli.session_id.as_deref(), Some("claude-session-7"));
    assert!(cli.resuming);
    assert_ne!(made_up, "claude-session-7");
    answer(&mut h, token, "two", None);

    // The row carries cliSessionIds, as the reference's session entry.
    let entry = h
        .session_writes
        .iter()
        .flatten()
        .rev()
        .find_map(|c| c.entry.clone())
        .unwrap();
    assert_eq!(
        entry["cliSessionIds"],
        json!({"claude-cli": "claude-session-7"})
    );
    let mut lines = Vec::new();
    for change in h.session_writes.iter().flatten() {
        if let gateway_proto::gateway::agents::journal::TranscriptChange::Append(new) =
            &change.transcript
        {
            lines.extend(
                new.iter()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()),
            );
        }
    }
    // A new gateway on the same store resumes the same CLI session.
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
    agent(&mut again, "a3", "k3", "third");
    let cli = again.model_calls[0].1.cli.clone().unwrap();
    assert_eq!(cli.session_id.as_deref(), Some("claude-session-7"));
    assert!(cli.resuming);
}

#[test]
fn an_odd_cli_session_id_is_not_kept() {
    let mut h = harness();
    agent(&mut h, "a1", "k1", "first");
    let token = h.model_token(0);
    let made_up = h.model_calls[0].1.cli.clone().unwrap().session_id;
    let too_long = "x".repeat(1000);
    answer(&mut h, token, "one", Some(&too_long));
    agent(&mut h, "a2", "k2", "second");
    let cli = h.model_calls[1].1.cli.clone().unwrap();
    // Nothing was stored: a fresh id again, not the long one.
    assert!(!cli.resuming);
    assert_ne!(cli.session_id, made_up);
    assert_ne!(cli.session_id.as_deref(), Some(too_long.as_str()));
}
