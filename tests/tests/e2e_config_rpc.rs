//! The `config.*` RPCs through OUR gateway binary over real sockets: a
//! patch is refused without `baseHash` (with the reference's message),
//! written with one, announced as `config.changed`, and then in effect (hot
//! reload); a hand edit shows in `config.get`; bad patches are refused and
//! leave the file alone; an auth change closes shared-auth clients 4001;
//! and `kill -9` during patch writes never leaves a file that fails to parse.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use gateway_proto::gateway::config_rpc;
use serde_json::{json, Value};
use tests::fake_node::next_matching;
use tests::process::{GatewayOptions, OurGateway};
use tests::ws::{Incoming, RawWs};

const WAIT: Duration = Duration::from_secs(15);

async fn next(ws: &mut RawWs, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    next_matching(ws, what, wanted)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn res(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |v| v["type"] == "res" && v["id"] == id
}

/// An operator with the shared token and `scopes`; `Err` is the refusal.
async fn operator(
    url: &str,
    token: &str,
    scopes: &[&str],
    origin: Option<&str>,
) -> Result<RawWs, Value> {
    let mut ws = match origin {
        Some(origin) => RawWs::open_with_headers(url, &[("Origin", origin)]).await,
        None => RawWs::open(url).await,
    }
    .expect("open");
    match ws.recv_timeout(WAIT).await {
        Some(Incoming::Json(v)) if v["event"] == "connect.challenge" => {}
        other => panic!("expected connect.challenge, got {other:?}"),
    }
    let frame = json!({"type": "req", "id": "c0", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "e2e", "platform": "linux", "mode": "cli"},
        "role": "operator", "scopes": scopes, "caps": [],
        "auth": {"token": token},
    }});
    ws.send_json(&frame).await.expect("send");
    let answer = next(&mut ws, "c0", res("c0")).await;
    if answer["ok"] == true {
        Ok(ws)
    } else {
        Err(answer)
    }
}

async fn call(ws: &mut RawWs, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    ws.send_json(&frame).await.expect("send");
    next(ws, id, res(id)).await
}

const ADMIN: &[&str] = &["operator.admin", "operator.read"];

fn options(config: &str) -> GatewayOptions {
    GatewayOptions {
        // The token comes from the file, so that a patch can change it.
        token: String::new(),
        config: Some(config.to_owned()),
        ..GatewayOptions::default()
    }
}

#[test]
fn patch_needs_the_hash_is_announced_and_takes_effect() {
    let gw = OurGateway::start(options(
        "{ gateway: { auth: { mode: 'token', token: 'tok-a' } } }",
    ));
    let url = gw.url();
    let path = gw.dir.path().join("state/openclaw.json");
    smol::block_on(async {
        let mut admin = operator(&url, "tok-a", ADMIN, None).await.expect("admin");
        let mut reader = operator(&url, "tok-a", &["operator.read"], None)
            .await
            .expect("reader");
        // Before: a page from https://ui.example is refused.
        let origin = Some("https://ui.example");
        assert!(operator(&url, "tok-a", ADMIN, origin).await.is_err());

        let got = call(&mut admin, "g1", "config.get", json!({})).await;
        assert_eq!(got["ok"], true, "{got}");
        let got = &got["payload"];
        assert_eq!(got["exists"], true);
        assert_eq!(got["valid"], true);
        assert!(!got["raw"].as_str().unwrap().contains("tok-a"), "{got}");
        assert_eq!(
            got["config"]["gateway"]["auth"]["token"],
            "__OPENCLAW_REDACTED__"
        );
        let hash = got["hash"].as_str().unwrap().to_owned();

        let origins = "{ gateway: { controlUi: { allowedOrigins: ['https://ui.example'] } } }";
        let refused = call(&mut admin, "p1", "config.patch", json!({"raw": origins})).await;
        assert_eq!(refused["error"]["code"], "INVALID_REQUEST");
        assert_eq!(
            refused["error"]["message"],
            "config base hash required for gateway.controlUi.allowedOrigins; re-run config.get and retry with baseHash"
        );
        let stale = call(
            &mut admin,
            "p2",
            "config.patch",
            json!({"raw": origins, "baseHash": "x"}),
        )
        .await;
        assert_eq!(
            stale["error"]["message"],
            "config changed since last load; re-run config.get and retry"
        );
        let denied = call(
            &mut reader,
            "p3",
            "config.patch",
            json!({"raw": origins, "baseHash": hash}),
        )
        .await;
        assert_eq!(denied["ok"], false, "{denied}");
        assert_eq!(denied["error"]["message"], "missing scope: operator.admin");

        admin
            .send_json(&json!({"type": "req", "id": "p4", "method": "config.patch",
                "params": {"raw": origins, "baseHash": hash}}))
            .await
            .unwrap();
        // The event comes first, then the answer (as the reference sends them).
        let first = next(&mut admin, "config.changed or p4", |v| {
            v["event"] == "config.changed" || v["id"] == "p4"
        })
        .await;
        assert_eq!(first["event"], "config.changed", "{first}");
        let done = next(&mut admin, "p4", res("p4")).await;
        assert_eq!(done["ok"], true, "{done}");
        let done = &done["payload"];
        assert_eq!(
            done["changedPaths"],
            json!(["gateway.controlUi.allowedOrigins"])
        );
        assert_eq!(done["path"], path.display().to_string());
        assert_eq!(first["payload"]["hash"], done["hash"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(done["hash"], config_rpc::hash(&text));
        assert!(
            text.contains("https://ui.example") && text.contains("tok-a"),
            "{text}"
        );
        let seen = next(&mut reader, "config.changed", |v| {
            v["event"] == "config.changed"
        })
        .await;
        assert_eq!(seen["payload"]["hash"], done["hash"]);

        // The same patch again changes nothing.
        let noop = call(
            &mut admin,
            "p5",
            "config.patch",
            json!({"raw": origins, "baseHash": done["hash"]}),
        )
        .await;
        assert_eq!(noop["payload"]["noop"], true, "{noop}");

        // Hot reload: the new origin is let in (the watcher polls every second).
        let deadline = Instant::now() + WAIT;
        loop {
            if operator(&url, "tok-a", ADMIN, origin).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the patched origin never took effect"
            );
            smol::Timer::after(Duration::from_millis(200)).await;
        }

        // Refused writes leave the file as it was.
        let hash = done["hash"].as_str().unwrap().to_owned();
        let typo = call(
            &mut admin,
            "p6",
            "config.patch",
            json!({"raw": "{ gateway: { prot: 1 } }", "baseHash": hash}),
        )
        .await;
        assert_eq!(typo["error"]["code"], "INVALID_REQUEST");
        assert_eq!(
            typo["error"]["message"],
            "invalid config: unknown key gateway.prot (did you mean gateway.port?)"
        );
        let no_password = call(
            &mut admin,
            "p7",
            "config.patch",
            json!({"raw": "{ gateway: { auth: { mode: 'password' } } }", "baseHash": hash}),
        )
        .await;
        assert_eq!(
            no_password["error"]["code"], "INVALID_REQUEST",
            "{no_password}"
        );
        assert!(
            no_password["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid config: auth mode password needs a password"),
            "{no_password}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        // A hand edit shows in config.get.
        let edited = text.replacen('{', "{ \"logging\": { \"level\": \"debug\" },", 1);
        std::fs::write(&path, &edited).unwrap();
        let got = call(&mut admin, "g2", "config.get", json!({})).await;
        assert_eq!(
            got["payload"]["parsed"]["logging"]["level"], "debug",
            "{got}"
        );
        assert_eq!(got["payload"]["hash"], config_rpc::hash(&edited));

        // Changing the shared token closes the clients that used it, 4001.
        let hash = got["payload"]["hash"].as_str().unwrap().to_owned();
        let change = call(
            &mut admin,
            "p8",
            "config.patch",
            json!({"raw": "{ gateway: { auth: { token: 'tok-b' } } }", "baseHash": hash}),
        )
        .await;
        assert_eq!(change["ok"], true, "{change}");
        let (_, close) = reader.until_close(WAIT).await;
        assert_eq!(close, Some(Some((4001, "gateway auth changed".to_owned()))));
        assert!(operator(&url, "tok-b", ADMIN, None).await.is_ok());
        assert!(operator(&url, "tok-a", ADMIN, None).await.is_err());
    });
}

#[test]
fn schema_lookup_and_unused_keys() {
    let gw = OurGateway::start(options(
        "{ gateway: { mode: 'local', auth: { mode: 'token', token: 'tok-a' } }, channels: { telegram: {} } }",
    ));
    smol::block_on(async {
        let mut admin = operator(&gw.url(), "tok-a", ADMIN, None)
            .await
            .expect("admin");
        let port = call(
            &mut admin,
            "l1",
            "config.schema.lookup",
            json!({"path": "gateway.port"}),
        )
        .await;
        assert_eq!(port["payload"]["schema"]["type"], "integer", "{port}");
        assert_eq!(port["payload"]["reloadKind"], "restart");
        let missing = call(
            &mut admin,
            "l2",
            "config.schema.lookup",
            json!({"path": "gateway.nope"}),
        )
        .await;
        assert_eq!(missing["error"]["message"], "config schema path not found");
    });
    let deadline = Instant::now() + WAIT;
    while !gw
        .output()
        .contains("not used by this gateway: channels.telegram, gateway.mode")
    {
        assert!(
            Instant::now() < deadline,
            "no start-up warning:\n{}",
            gw.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(gw.output().matches("not used by this gateway").count(), 1);
}

/// Rounds of the kill loop: `OPENCLAW_CONFIG_KILL_LOOPS` (`.ci/run` sets 100).
fn kill_loops() -> usize {
    std::env::var("OPENCLAW_CONFIG_KILL_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

#[test]
fn kill_9_during_patch_writes_never_leaves_a_broken_file() {
    let config = "{ gateway: { auth: { mode: 'token', token: 'tok-a' } } }";
    let mut dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/openclaw.json");
    let rounds = kill_loops();
    let started = Instant::now();
    let mut landed = 0;
    for round in 0..rounds {
        let opts = GatewayOptions {
            config: (round == 0).then(|| config.to_owned()),
            ..options(config)
        };
        let gw = OurGateway::start_in(opts, dir);
        let url = gw.url();
        smol::block_on(async {
            let mut admin = operator(&url, "tok-a", ADMIN, None).await.expect("admin");
            let got = call(&mut admin, "g", "config.get", json!({})).await;
            let hash = got["payload"]["hash"].as_str().unwrap().to_owned();
            // A large write (about 200 KB), so the kill often lands inside it.
            let origins: Vec<String> = (0..4000)
                .map(|i| format!("https://r{round}-{i}.example"))
                .collect();
            let patch = json!({"gateway": {"controlUi": {"allowedOrigins": origins}}});
            admin
                .send_json(&json!({"type": "req", "id": "p", "method": "config.patch",
                    "params": {"raw": patch.to_string(), "baseHash": hash,
                               "replacePaths": ["gateway.controlUi.allowedOrigins"]}}))
                .await
                .unwrap();
            // Kill at a different instant each round, 0-199 ms after sending
            // (in a debug build a patch this size lands after about 100 ms).
            smol::Timer::after(Duration::from_millis((round * 13 % 200) as u64)).await;
        });
        gw.signal("KILL");
        dir = gw.stop();
        let text = std::fs::read_to_string(&path).expect("the config file is still there");
        let parsed = config_rpc::parse_json5(&text)
            .unwrap_or_else(|e| panic!("round {round}: broken config ({e}):\n{text}"));
        assert_eq!(parsed["gateway"]["auth"]["token"], "tok-a");
        if text.contains(&format!("https://r{round}-3999.example")) {
            landed += 1;
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        // A kill between create and rename may leave a temp file; it never
        // replaces the config. Clear it so rounds stay independent.
        for entry in leftovers {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    eprintln!(
        "{rounds} kill -9 rounds in {:?}; the write had landed in {landed}",
        started.elapsed()
    );
}
