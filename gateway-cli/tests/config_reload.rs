//! Live config edits against the real binary: a reload must never switch
//! auth off by accident (an empty, `{}` or deleted file keeps the running
//! config), must survive hostile text (deep nesting), and must say why it
//! refused an edit in the same words as at start-up.

// End-to-end tests run in real time: reading the clock is the point.
#![allow(clippy::disallowed_methods)]

mod gateway_support;

use std::time::Duration;

use gateway_smol::client::{Client, ClientOptions};
use gateway_support::{run_to_end, Gateway};

const TOKEN_CONFIG: &str = r#"{ gateway: { auth: { mode: "token", token: "t1" } } }"#;
/// The watcher polls once a second; a reload shows within a few.
const RELOAD: Duration = Duration::from_secs(10);

fn client(token: Option<&str>) -> ClientOptions {
    ClientOptions {
        token: token.map(str::to_owned),
        reconnect: false,
        ..Default::default()
    }
}

/// Connect with `token` (or none): the auth method the gateway granted, or
/// `None` when it refused.
fn connect(gw: &Gateway, token: Option<&str>) -> Option<String> {
    smol::block_on(async {
        let c = Client::connect(&gw.url(), client(token)).await.ok()?;
        let method = c.hello().payload["auth"]["method"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| Some("?".into()));
        c.close().await;
        method
    })
}

fn assert_still_token_t1(gw: &Gateway, after: &str) {
    assert_eq!(
        connect(gw, None),
        None,
        "a connect with no auth was let in after {after}"
    );
    assert!(
        connect(gw, Some("t1")).is_some(),
        "the configured token stopped working after {after}"
    );
}

#[test]
fn emptied_or_deleted_config_keeps_auth_on() {
    let gw = Gateway::start_with_config(TOKEN_CONFIG, &[]);
    gw.wait_ready();
    assert_still_token_t1(&gw, "start");
    let path = gw.config_path();

    std::fs::write(&path, "").unwrap();
    let line = gw.wait_line("config reload skipped", RELOAD);
    assert!(
        line.as_deref()
            .is_some_and(|l| l.contains("WARN") && l.contains("empty")),
        "{line:?}"
    );
    assert_still_token_t1(&gw, "truncating the file");

    std::fs::write(&path, " {}\n").unwrap();
    let line = gw.wait_line("config reload skipped", RELOAD);
    assert!(
        line.as_deref()
            .is_some_and(|l| l.contains("WARN") && l.contains("empty")),
        "{line:?}"
    );
    assert_still_token_t1(&gw, "writing {}");

    std::fs::remove_file(&path).unwrap();
    let line = gw.wait_line("config reload skipped", RELOAD);
    assert!(
        line.as_deref()
            .is_some_and(|l| l.contains("WARN") && l.contains("not found")),
        "{line:?}"
    );
    assert_still_token_t1(&gw, "deleting the file");

    // A real change still applies.
    std::fs::write(
        &path,
        r#"{ gateway: { auth: { mode: "token", token: "t2" } } }"#,
    )
    .unwrap();
    assert!(gw.wait_line("config changed", RELOAD).is_some());
    eventually("the new token was not applied", || {
        connect(&gw, Some("t2")).is_some()
    });
    assert_eq!(connect(&gw, Some("t1")), None, "the old token still works");
    assert_eq!(connect(&gw, None), None);

    // Dropping the secret on purpose applies, with a warning.
    std::fs::write(&path, r#"{ gateway: { bind: "loopback" } }"#).unwrap();
    let line = gw.wait_line("weakens auth", RELOAD);
    assert!(
        line.as_deref()
            .is_some_and(|l| l.contains("WARN") && l.contains("token -> none")),
        "{line:?}"
    );
    assert!(gw.wait_line("config changed", RELOAD).is_some());
    eventually("auth none was never applied", || {
        connect(&gw, None).as_deref() == Some("none")
    });
}

/// The watcher logs a change as it hands it to the hub, which applies it a
/// moment later: wait (bounded) for `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + RELOAD;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn deeply_nested(levels: usize) -> String {
    format!(
        "{{ gateway: {{ auth: {{ token: 't1' }} }}, agents: {}1{} }}",
        "{ a: ".repeat(levels),
        " }".repeat(levels)
    )
}

#[test]
fn deeply_nested_edit_is_refused_and_the_gateway_keeps_running() {
    let mut gw = Gateway::start_with_config(TOKEN_CONFIG, &[]);
    gw.wait_ready();
    std::fs::write(gw.config_path(), deeply_nested(2_500)).unwrap();
    let line = gw.wait_line("config reload skipped", RELOAD);
    assert!(
        line.as_deref().is_some_and(
            |l| l.contains("nest deeper than 128 levels") && l.contains("openclaw.json")
        ),
        "{line:?}"
    );
    assert!(
        gw.wait_exit(Duration::from_millis(200)).is_none(),
        "the gateway died"
    );
    assert_still_token_t1(&gw, "a deeply nested edit");
}

#[test]
fn deeply_nested_config_at_startup_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(
        dir.path().join("state/openclaw.json"),
        deeply_nested(12_000),
    )
    .unwrap();
    let (code, _, stderr) = run_to_end(dir.path(), &["gateway", "--port", "0"], |_| {});
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("openclaw.json") && stderr.contains("nest deeper than 128 levels"),
        "{stderr}"
    );
}

#[test]
fn rejected_live_edits_say_why_in_the_startup_words() {
    let gw = Gateway::start_with_config(TOKEN_CONFIG, &[]);
    gw.wait_ready();
    std::fs::write(gw.config_path(), "{ gateway: { prot: 1 } }").unwrap();
    let line = gw.wait_line("config reload skipped", RELOAD);
    assert!(
        line.as_deref().is_some_and(|l| l.contains("ERROR")
            && l.contains("unknown key gateway.prot (did you mean gateway.port?)")),
        "{line:?}"
    );
    std::fs::write(gw.config_path(), "{ gateway: { auth: { token: 't9' }\n").unwrap();
    let line = gw.wait_line("config reload skipped", RELOAD);
    assert!(
        line.as_deref().is_some_and(|l| l.contains("openclaw.json")
            && l.contains("line 2, column 1: expected `,` or `}`, found the end of the file")),
        "{line:?}"
    );
    assert_still_token_t1(&gw, "rejected edits");
}

#[test]
fn edit_right_after_start_is_not_lost() {
    // The watcher's baseline is the version read at start-up, not whatever is
    // on disk when its thread first looks: an edit landing in between (here,
    // as soon as the gateway says it listens) must still be applied.
    for _ in 0..3 {
        let gw = Gateway::start(&[]);
        std::fs::write(gw.config_path(), TOKEN_CONFIG).unwrap();
        assert!(
            gw.wait_line("config changed", RELOAD).is_some(),
            "an edit made right after start was never applied"
        );
        assert_still_token_t1(&gw, "an edit right after start");
    }
}
