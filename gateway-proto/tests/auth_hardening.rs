//! Authentication under abuse, in virtual time: browser origin rules,
//! escalating and shared delays for wrong secrets, connect-time secret
//! resolution, and what a config reload does to live sessions.

use gateway_proto::time::Timestamp;

use gateway_proto::gateway::{AuthConfig, Config, OriginPolicy, Peer};
use gateway_proto::testing::Harness;
use gateway_proto::ConnId;
use serde_json::Value;

#[allow(clippy::disallowed_methods)] // tests need one real base instant
fn start() -> Timestamp {
    Timestamp::ZERO
}

fn harness(auth: AuthConfig, origin_policy: OriginPolicy) -> Harness {
    let config = Config::default()
        .with_auth(auth)
        .with_origin_policy(origin_policy);
    Harness::new(config, start(), 1_800_000_000_000)
}

fn token_gateway() -> Harness {
    harness(AuthConfig::Token("t1".into()), OriginPolicy::default())
}

/// A `connect` with the given `auth` object (JSON).
fn connect(id: &str, client_id: &str, mode: &str, auth: &str) -> String {
    format!(
        r#"{{"type":"req","id":"{id}","method":"connect","params":{{"minProtocol":4,"maxProtocol":4,"client":{{"id":"{client_id}","version":"1.0.0","platform":"linux","mode":"{mode}","instanceId":"i-{id}"}},"role":"operator","scopes":["operator.read"],"auth":{auth}}}}}"#
    )
}

fn loopback_browser(origin: &str) -> Peer {
    Peer::new("127.0.0.1".parse().unwrap(), true)
        .with_origin(origin)
        .with_host("127.0.0.1:18789")
}

fn ok(h: &Harness, conn: ConnId, id: &str) -> bool {
    h.response(conn, id, 0)
        .and_then(|r| r["ok"].as_bool())
        .unwrap_or(false)
}

fn error_of<'h>(h: &'h Harness, conn: ConnId, id: &str) -> &'h Value {
    &h.response(conn, id, 0).expect("a response")["error"]
}

#[test]
fn a_foreign_origin_is_refused_even_with_the_right_token() {
    let mut h = token_gateway();
    let page = ConnId(1);
    h.open_peer(page, loopback_browser("https://evil.example"));
    h.text(
        page,
        &connect("c", "webchat", "webchat", r#"{"token":"t1"}"#),
    );
    let error = error_of(&h, page, "c");
    assert_eq!(error["code"], "INVALID_REQUEST");
    assert_eq!(
        error["message"],
        "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)"
    );
    assert_eq!(error["details"]["code"], "CONTROL_UI_ORIGIN_NOT_ALLOWED");
    assert_eq!(error["details"]["reason"], "origin not allowed");
    let (_, code, reason) = h.close_of(page).expect("closed");
    assert_eq!(code, 1008);
    assert!(reason.starts_with("origin not allowed"), "{reason}");
}

#[test]
fn every_client_kind_with_an_origin_is_checked() {
    // Claiming to be the CLI does not exempt a browser page.
    let mut h = harness(AuthConfig::None, OriginPolicy::default());
    h.open_peer(ConnId(1), loopback_browser("https://evil.example"));
    h.text(ConnId(1), &connect("c", "cli", "cli", "{}"));
    assert!(!ok(&h, ConnId(1), "c"));
    assert_eq!(
        error_of(&h, ConnId(1), "c")["details"]["code"],
        "CONTROL_UI_ORIGIN_NOT_ALLOWED"
    );
    // `null` (a sandboxed page or a file:// document) is "missing or invalid".
    h.open_peer(ConnId(2), loopback_browser("null"));
    h.text(ConnId(2), &connect("c", "cli", "cli", "{}"));
    assert_eq!(
        error_of(&h, ConnId(2), "c")["details"]["reason"],
        "origin missing or invalid"
    );
    // Without an Origin (native clients) nothing changes.
    h.open(ConnId(3), "127.0.0.1");
    h.text(ConnId(3), &connect("c", "cli", "cli", "{}"));
    assert!(ok(&h, ConnId(3), "c"));
}

#[test]
fn the_gateways_own_pages_and_allowlisted_origins_connect() {
    let policy = OriginPolicy {
        allowed_origins: vec!["https://ui.example.com".into()],
        allow_host_header_fallback: false,
    };
    let mut h = harness(AuthConfig::Token("t1".into()), policy);
    h.open_peer(ConnId(1), loopback_browser("http://127.0.0.1:18789"));
    h.text(
        ConnId(1),
        &connect("c", "webchat", "webchat", r#"{"token":"t1"}"#),
    );
    assert!(ok(&h, ConnId(1), "c"));
    let remote_page = Peer::new("10.0.0.5".parse().unwrap(), false)
        .with_origin("https://ui.example.com")
        .with_host("gw.example.com");
    h.open_peer(ConnId(2), remote_page);
    h.text(
        ConnId(2),
        &connect("c", "webchat", "webchat", r#"{"token":"t1"}"#),
    );
    assert!(ok(&h, ConnId(2), "c"));

    // The allowlist loses the origin: its session ends, the local page stays.
    h.gateway
        .reconfigure(Config::default().with_auth(AuthConfig::Token("t1".into())));
    h.drain();
    assert_eq!(
        h.close_of(ConnId(2))
            .map(|(_, code, reason)| (code, reason)),
        Some((1008, "origin not allowed".into()))
    );
    assert_eq!(h.close_of(ConnId(1)), None);
}

#[test]
fn wrong_secrets_wait_longer_each_time_and_parallel_ones_together() {
    let mut h = token_gateway();
    // Sequential guesses from one address: 250 ms, 500 ms, 1 s, 2 s, 4 s, 5 s.
    let mut expected_at = 0;
    for (i, delay) in [250, 500, 1000, 2000, 4000, 5000, 5000]
        .into_iter()
        .enumerate()
    {
        let conn = ConnId(10 + i as u64);
        let sent_at = h.elapsed_ms();
        h.open(conn, "127.0.0.1");
        h.text(conn, &connect("c", "cli", "cli", r#"{"token":"guess"}"#));
        h.advance_ms(6000);
        let (at, code, _) = h.close_of(conn).expect("refused");
        assert_eq!((at - sent_at, code), (delay, 1008), "guess {i}");
        expected_at = at;
    }
    assert!(expected_at > 0);

    // Thirty guesses in parallel from another address: all answered at once,
    // when the last one's (5 s) delay ends.
    let mut h = token_gateway();
    for i in 0..30 {
        h.open(ConnId(100 + i), "127.0.0.2");
        h.text(
            ConnId(100 + i),
            &connect("c", "cli", "cli", r#"{"token":"guess"}"#),
        );
    }
    h.advance_ms(10_000);
    let times: Vec<u64> = (0..30)
        .map(|i| h.close_of(ConnId(100 + i)).expect("refused").0)
        .collect();
    assert!(times.iter().all(|t| *t == 5000), "{times:?}");
    // The right secret still works from loopback (exempt from the lockout),
    // and its success clears the record.
    h.open(ConnId(200), "127.0.0.2");
    h.text(
        ConnId(200),
        &connect("c", "cli", "cli", r#"{"token":"t1"}"#),
    );
    assert!(ok(&h, ConnId(200), "c"));
}

#[test]
fn a_web_page_on_loopback_is_locked_out_by_origin() {
    let policy = OriginPolicy {
        allowed_origins: vec!["https://ui.example.com".into()],
        ..OriginPolicy::default()
    };
    let mut h = harness(AuthConfig::Token("t1".into()), policy);
    for i in 0..10 {
        let conn = ConnId(1 + i);
        h.open_peer(conn, loopback_browser("https://ui.example.com"));
        h.text(
            conn,
            &connect("c", "webchat", "webchat", r#"{"token":"guess"}"#),
        );
        h.advance_ms(6000);
    }
    // The eleventh attempt, even with the right token, is rate limited.
    h.open_peer(ConnId(50), loopback_browser("https://ui.example.com"));
    h.text(
        ConnId(50),
        &connect("c", "webchat", "webchat", r#"{"token":"t1"}"#),
    );
    assert_eq!(
        error_of(&h, ConnId(50), "c")["details"]["code"],
        "AUTH_RATE_LIMITED"
    );
    // The local CLI (no Origin) on the same address is not affected.
    h.open(ConnId(51), "127.0.0.1");
    h.text(ConnId(51), &connect("c", "cli", "cli", r#"{"token":"t1"}"#));
    assert!(ok(&h, ConnId(51), "c"));
}

#[test]
fn the_secret_may_come_in_either_field_and_blank_is_absent() {
    let mut h = token_gateway();
    h.open(ConnId(1), "127.0.0.1");
    h.text(
        ConnId(1),
        &connect("c", "cli", "cli", r#"{"password":"t1"}"#),
    );
    assert!(ok(&h, ConnId(1), "c"), "token sent as password");
    h.open(ConnId(2), "127.0.0.1");
    h.text(
        ConnId(2),
        &connect("c", "cli", "cli", r#"{"token":" t1 "}"#),
    );
    assert!(ok(&h, ConnId(2), "c"), "surrounding whitespace is trimmed");
    h.open(ConnId(3), "10.0.0.3");
    h.text(ConnId(3), &connect("c", "cli", "cli", r#"{"token":"   "}"#));
    assert_eq!(
        error_of(&h, ConnId(3), "c")["details"]["code"],
        "DEVICE_IDENTITY_REQUIRED",
        "a blank token is no token"
    );

    let mut h = harness(AuthConfig::Password("p1".into()), OriginPolicy::default());
    h.open(ConnId(1), "127.0.0.1");
    h.text(ConnId(1), &connect("c", "cli", "cli", r#"{"token":"p1"}"#));
    assert!(ok(&h, ConnId(1), "c"), "password sent as token");
}

#[test]
fn rotating_the_secret_ends_the_sessions_that_used_the_old_one() {
    let mut h = token_gateway();
    for conn in [ConnId(1), ConnId(2)] {
        h.open(conn, "127.0.0.1");
        h.text(
            conn,
            &connect("c", "gateway-client", "backend", r#"{"token":"t1"}"#),
        );
        assert!(ok(&h, conn, "c"));
    }
    // A reload with the same auth changes nothing.
    h.gateway
        .reconfigure(Config::default().with_auth(AuthConfig::Token("t1".into())));
    h.drain();
    assert_eq!(h.close_of(ConnId(1)), None);

    h.gateway
        .reconfigure(Config::default().with_auth(AuthConfig::Token("t2".into())));
    h.drain();
    for conn in [ConnId(1), ConnId(2)] {
        assert_eq!(
            h.close_of(conn).map(|(_, code, reason)| (code, reason)),
            Some((4001, "gateway auth changed".into()))
        );
    }
    h.open(ConnId(3), "127.0.0.1");
    h.text(ConnId(3), &connect("c", "cli", "cli", r#"{"token":"t2"}"#));
    assert!(ok(&h, ConnId(3), "c"));
    h.open(ConnId(4), "127.0.0.1");
    h.text(ConnId(4), &connect("c", "cli", "cli", r#"{"token":"t1"}"#));
    h.advance_ms(6000);
    assert!(!ok(&h, ConnId(4), "c"), "the old token is refused");

    // Turning auth on ends sessions that had none.
    let mut h = harness(AuthConfig::None, OriginPolicy::default());
    h.open(ConnId(1), "127.0.0.1");
    h.text(ConnId(1), &connect("c", "cli", "cli", "{}"));
    assert!(ok(&h, ConnId(1), "c"));
    h.gateway
        .reconfigure(Config::default().with_auth(AuthConfig::Password("p".into())));
    h.drain();
    assert_eq!(h.close_of(ConnId(1)).map(|c| c.1), Some(4001));
}
