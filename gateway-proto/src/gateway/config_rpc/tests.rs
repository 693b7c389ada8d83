//! The `config.*` decisions, with the reference's messages.

use super::*;

fn file(raw: &str) -> ConfigFile {
    ConfigFile {
        path: "/s/openclaw.json".into(),
        exists: true,
        raw: raw.into(),
    }
}

fn patch(raw: &str, base_hash: Option<&str>) -> WriteRequest {
    WriteRequest {
        method: WriteMethod::Patch,
        raw: raw.into(),
        base_hash: base_hash.map(str::to_owned),
        replace_paths: Vec::new(),
        note: None,
    }
}

fn write_of(plan: Plan) -> Write {
    match plan {
        Plan::Write(write) => *write,
        Plan::Answer(answer) => panic!("no write: {answer}"),
    }
}

const CURRENT: &str = "{ gateway: { port: 18789, auth: { mode: 'token', token: 's3cret' } } }";

#[test]
fn base_hash_rule_and_messages() {
    let f = file(CURRENT);
    let level = "{ logging: { level: \"info\" } }";
    assert_eq!(
        plan(&f, &patch(level, None)),
        Err("config base hash required for logging.level; re-run config.get and retry with baseHash".into())
    );
    assert_eq!(
        plan(&f, &patch(level, Some("hmac-sha256:v1:bogus"))),
        Err("config changed since last load; re-run config.get and retry".into())
    );
    for method in [WriteMethod::Set, WriteMethod::Apply] {
        let request = WriteRequest {
            method,
            ..patch("{}", None)
        };
        assert_eq!(
            plan(&f, &request),
            Err("config base hash required; re-run config.get and retry".into())
        );
    }
    // A hashless patch shaped as anything but objects down `ui.prefs` is refused whole.
    assert_eq!(
        plan(&f, &patch("{ ui: { prefs: 1 } }", None)),
        Err(HASH_REQUIRED.into())
    );
    // `ui.prefs` alone needs no hash (last writer wins).
    let ui = write_of(plan(&f, &patch("{ ui: { prefs: { theme: 'dark' } } }", None)).unwrap());
    assert_eq!(ui.expected_hash, Some(hash(CURRENT)));
    // The first write to a missing file needs none.
    let missing = ConfigFile {
        exists: false,
        raw: String::new(),
        ..f.clone()
    };
    let first = write_of(plan(&missing, &patch(level, None)).unwrap());
    assert_eq!(first.expected_hash, None);
    assert_eq!(first.reply.changed_paths, ["logging"]);
}

#[test]
fn patch_writes_the_merge_and_answers_like_the_reference() {
    let f = file(CURRENT);
    let write = write_of(
        plan(
            &f,
            &patch("{ logging: { level: \"info\" } }", Some(&hash(CURRENT))),
        )
        .unwrap(),
    );
    let written_config: Value = serde_json::from_str(&write.text).unwrap();
    assert_eq!(written_config["logging"]["level"], "info");
    assert_eq!(written_config["gateway"]["auth"]["token"], "s3cret");
    assert_eq!(write.reply.hash, hash(&write.text));
    assert_eq!(
        write.reply.config["gateway"]["auth"]["token"],
        redact::REDACTED
    );
    assert!(!write.reply.requires_restart);
    let (answer, event) = written(&write.reply, 7);
    let keys: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["changedPaths", "config", "hash", "ok", "path", "sentinel"]
    );
    assert_eq!(answer["changedPaths"], json!(["logging"]));
    assert_eq!(
        event,
        json!({"path": "/s/openclaw.json", "hash": write.reply.hash, "ts": 7})
    );
}

#[test]
fn patch_that_changes_nothing_is_a_noop() {
    let f = file(CURRENT);
    let answer = plan(
        &f,
        &patch("{ gateway: { port: 18789 } }", Some(&hash(CURRENT))),
    )
    .unwrap();
    let Plan::Answer(answer) = answer else {
        panic!("wrote")
    };
    assert_eq!(answer["noop"], true);
    assert_eq!(answer["changedPaths"], json!([]));
    assert_eq!(
        answer["config"]["gateway"]["auth"]["token"],
        redact::REDACTED
    );
}

#[test]
fn redacted_values_sent_back_keep_the_secret_and_restart_kinds_show() {
    let f = file(CURRENT);
    let raw =
        "{ gateway: { port: 19000, auth: { mode: 'token', token: '__OPENCLAW_REDACTED__' } } }";
    let request = WriteRequest {
        method: WriteMethod::Apply,
        ..patch(raw, Some(&hash(CURRENT)))
    };
    let write = write_of(plan(&f, &request).unwrap());
    assert!(write.text.contains("\"s3cret\""), "{}", write.text);
    assert!(write.reply.requires_restart);
    assert_eq!(write.reply.changed_paths, ["gateway.port"]);
}

#[test]
fn unknown_keys_and_bad_text_are_refused() {
    let f = file(CURRENT);
    let h = hash(CURRENT);
    assert_eq!(
        plan(&f, &patch("{ gateway: { prot: 1 } }", Some(&h))),
        Err("invalid config: unknown key gateway.prot (did you mean gateway.port?)".into())
    );
    assert_eq!(
        plan(&f, &patch("[1]", Some(&h))),
        Err("config.patch raw must be an object".into())
    );
    assert!(plan(&f, &patch("{ a: ", Some(&h))).is_err());
    let deep = "[".repeat(5000);
    assert!(plan(&f, &patch(&deep, Some(&h)))
        .unwrap_err()
        .contains("nest deeper"));
    let removal = file("{ gateway: { trustedProxies: ['10.0.0.1', '10.0.0.2'] } }");
    let hr = hash(&removal.raw);
    let shrink = patch("{ gateway: { trustedProxies: ['10.0.0.1'] } }", Some(&hr));
    assert!(plan(&removal, &shrink).unwrap_err().starts_with(
        "config.patch would remove entries from array path(s): gateway.trustedProxies."
    ));
    let named = WriteRequest {
        replace_paths: vec!["gateway.trustedProxies".into()],
        ..shrink
    };
    assert!(matches!(plan(&removal, &named), Ok(Plan::Write(_))));
}

#[test]
fn get_shows_redacted_text_and_validity() {
    let answer = get_answer(&file(CURRENT));
    assert_eq!(answer["exists"], true);
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["hash"], hash(CURRENT));
    assert!(answer["raw"].as_str().unwrap().contains(redact::REDACTED));
    assert!(!answer["raw"].as_str().unwrap().contains("s3cret"));
    let bad = get_answer(&file("{ gateway: { prot: 1 } }"));
    assert_eq!(bad["valid"], false);
    assert_eq!(
        bad["issues"][0]["message"],
        "unknown key gateway.prot (did you mean gateway.port?)"
    );
}

#[test]
fn set_refuses_to_drop_agents_apply_may() {
    let current = "{ agents: { entries: { main: {}, work: {} } } }";
    let f = file(current);
    let set = WriteRequest {
        method: WriteMethod::Set,
        ..patch(
            "{ agents: { entries: { main: {} } } }",
            Some(&hash(current)),
        )
    };
    assert_eq!(
        plan(&f, &set),
        Err(
            "config.set would remove existing agent entries: work. Use the agents.delete RPC or \
             `openclaw agents delete <id>` for intentional deletion."
                .into()
        )
    );
    let apply = WriteRequest {
        method: WriteMethod::Apply,
        ..set
    };
    assert!(matches!(plan(&f, &apply), Ok(Plan::Write(_))));
}
