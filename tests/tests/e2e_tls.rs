//! `gateway.tls` on OUR gateway over real sockets: a generated pair (0600,
//! reused across restarts), probes and WebSocket over TLS on the same port,
//! our client pinned to the fingerprint (and refused with another), plain
//! clients on the TLS port failing fast without wedging it, a pair from
//! configured files, unusable files refused at start-up (exit 78), our
//! CLI reaching the local TLS gateway, and our node host over `wss://`.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gateway_proto::client::ClientIdentity;
use gateway_smol::client::{Client, ClientOptions, ConnectError};
use serde_json::{json, Value};
use tests::process::{
    gateway_run_command, our_binary, our_command, run_with_timeout, GatewayOptions, OurGateway,
};
use tests::tls::https_get;

const TLS_ON: &str = r#"{ gateway: { tls: { enabled: true } } }"#;

fn tls_gateway() -> OurGateway {
    OurGateway::start(GatewayOptions {
        config: Some(TLS_ON.into()),
        ..GatewayOptions::default()
    })
}

fn fingerprint(gw: &OurGateway) -> String {
    gw.tls_fingerprint
        .clone()
        .expect("the gateway printed its fingerprint")
}

fn operator(token: &str, fingerprint: Option<&str>) -> ClientOptions {
    ClientOptions {
        token: Some(token.into()),
        client: ClientIdentity {
            id: "cli".into(),
            mode: "cli".into(),
            ..ClientIdentity::default()
        },
        scopes: vec!["operator.read".into(), "operator.admin".into()],
        reconnect: false,
        request_timeout: Duration::from_secs(20),
        tls_fingerprint: fingerprint.map(str::to_owned),
        ..ClientOptions::default()
    }
}

async fn connect(url: &str, opts: ClientOptions) -> Result<Client, ConnectError> {
    let timeout = async {
        smol::Timer::after(Duration::from_secs(20)).await;
        Err(ConnectError::Io("connect timed out after 20 s".into()))
    };
    smol::future::or(Client::connect(url, opts), timeout).await
}

#[test]
fn a_generated_pair_serves_probes_and_websocket_over_tls() {
    let gw = tls_gateway();
    let fp = fingerprint(&gw);
    let state = gw.dir.path().join("state");
    let cert = state.join("gateway/tls/gateway-cert.pem");
    let key = state.join("gateway/tls/gateway-key.pem");
    for file in [&cert, &key] {
        let mode = std::fs::metadata(file)
            .expect("generated file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    // The printed fingerprint is the SHA-256 of the certificate on disk.
    assert_eq!(gateway_smol::tls::cert_file_fingerprint(&cert).unwrap(), fp);
    assert_eq!(fp.len(), 64);
    assert!(gw.url().starts_with("wss://"), "{}", gw.url());

    for (path, body) in [
        ("/health", "\"status\":\"live\""),
        ("/readyz", "\"ready\":true"),
    ] {
        let (status, text) = https_get(gw.port, path, &fp).expect("https probe");
        assert_eq!(status, 200, "{path}: {text}");
        assert!(text.contains(body), "{path}: {text}");
    }

    let handshake = smol::block_on(async {
        let started = Instant::now();
        let client = connect(&gw.url(), operator(&gw.token, Some(&fp)))
            .await
            .expect("pinned wss client connects");
        let elapsed = started.elapsed();
        let health = client.call("health", None).await.expect("health over wss");
        assert_eq!(health["ok"], true, "{health}");
        client.close().await;
        elapsed
    });
    eprintln!("wss connect (TCP + TLS + upgrade + hello-ok) took {handshake:?}");
}

#[test]
fn a_wrong_fingerprint_is_refused_and_named() {
    let gw = tls_gateway();
    let fp = fingerprint(&gw);
    let wrong = "00".repeat(32);
    let error = smol::block_on(connect(&gw.url(), operator(&gw.token, Some(&wrong))))
        .err()
        .expect("a client pinned to another certificate is refused");
    let text = error.to_string();
    assert!(text.contains("fingerprint mismatch"), "{text}");
    assert!(text.contains(&wrong) && text.contains(&fp), "{text}");
    // Unpinned, the self-signed certificate is not one the web roots vouch for.
    let error = smol::block_on(connect(&gw.url(), operator(&gw.token, None)))
        .err()
        .expect("an unpinned client does not trust a self-signed certificate");
    assert!(error.to_string().contains("TLS handshake"), "{error}");
    // A malformed pin is refused before connecting.
    let error = smol::block_on(connect(&gw.url(), operator(&gw.token, Some("abc"))))
        .err()
        .expect("a malformed fingerprint is refused");
    assert!(
        error.to_string().contains("Invalid TLS fingerprint"),
        "{error}"
    );
}

#[test]
fn plain_clients_on_the_tls_port_fail_fast_and_wedge_nothing() {
    let gw = tls_gateway();
    let fp = fingerprint(&gw);
    // Plain HTTP: the connection ends at once, no HTTP answer.
    let started = Instant::now();
    let mut plain = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "plain HTTP was served on the TLS port"
    );
    // Our client with ws:// (no TLS) fails with a clear error, quickly.
    let plain_url = gw.url().replacen("wss://", "ws://", 1);
    let started = Instant::now();
    let error = smol::block_on(connect(&plain_url, operator(&gw.token, None)))
        .err()
        .expect("ws:// to a TLS port fails");
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    assert!(error.to_string().contains("websocket upgrade"), "{error}");
    // A peer that opens TCP and says nothing is let go after the head
    // timeout; meanwhile, and after, TLS clients are served.
    let silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", gw.port)).unwrap())
        .collect();
    let (status, text) = https_get(gw.port, "/readyz", &fp).expect("served beside silent peers");
    assert_eq!(status, 200, "{text}");
    drop(silent);
    let (status, _) = https_get(gw.port, "/health", &fp).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_silent_peer_is_dropped_after_the_head_timeout() {
    let gw = tls_gateway();
    let mut silent = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let n = silent.read(&mut byte).unwrap_or(0);
    let waited = started.elapsed();
    assert_eq!(n, 0, "the server sent something to a silent peer");
    // The TLS handshake has the HTTP head timeout (10 s).
    assert!(
        waited >= Duration::from_secs(8) && waited < Duration::from_secs(20),
        "closed after {waited:?}"
    );
}

#[test]
fn the_generated_pair_is_reused_after_a_restart() {
    let gw = tls_gateway();
    let first = fingerprint(&gw);
    let dir = gw.stop();
    let gw = OurGateway::start_in(GatewayOptions::default(), dir);
    assert_eq!(fingerprint(&gw), first, "a new pair was generated");
    assert!(
        !gw.output().contains("generated self-signed cert"),
        "{}",
        gw.output()
    );
    let (status, _) = https_get(gw.port, "/readyz", &first).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_pair_from_configured_files_is_served() {
    // A pair made by one gateway, then handed to another by path.
    let maker = tls_gateway();
    let expected = fingerprint(&maker);
    let made = maker.dir.path().join("state/gateway/tls");
    let files = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("gateway-cert.pem", "server.crt"),
        ("gateway-key.pem", "server.key"),
    ] {
        std::fs::copy(made.join(from), files.path().join(to)).unwrap();
    }
    drop(maker);
    let config = json!({"gateway": {"tls": {
        "enabled": true, "autoGenerate": false,
        "certPath": files.path().join("server.crt"),
        "keyPath": files.path().join("server.key"),
    }}});
    let gw = OurGateway::start(GatewayOptions {
        config: Some(config.to_string()),
        ..GatewayOptions::default()
    });
    assert_eq!(fingerprint(&gw), expected);
    assert!(
        !gw.dir.path().join("state/gateway/tls").exists(),
        "generated anyway"
    );
    let (status, _) = https_get(gw.port, "/health", &expected).unwrap();
    assert_eq!(status, 200);
}

/// Start our gateway with `config` and expect it to refuse: its exit code
/// and what it printed.
fn refused_start(config: &Value) -> (Option<i32>, String) {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("state")).unwrap();
    std::fs::write(home.path().join("state/openclaw.json"), config.to_string()).unwrap();
    let mut cmd = gateway_run_command(&our_binary(), home.path(), 0, "t");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn unusable_cert_or_key_files_stop_the_start_with_exit_78() {
    let files = tempfile::tempdir().unwrap();
    let missing = json!({"gateway": {"tls": {"enabled": true, "autoGenerate": false,
        "certPath": files.path().join("nope.crt"), "keyPath": files.path().join("nope.key")}}});
    let (code, text) = refused_start(&missing);
    assert_eq!(code, Some(78), "{text}");
    assert!(text.contains("gateway tls: cert/key missing"), "{text}");
    assert!(text.contains("nope.crt"), "{text}");

    std::fs::write(files.path().join("junk.crt"), "not a certificate").unwrap();
    std::fs::write(files.path().join("junk.key"), "not a key").unwrap();
    let junk = json!({"gateway": {"tls": {"enabled": true,
        "certPath": files.path().join("junk.crt"), "keyPath": files.path().join("junk.key")}}});
    let (code, text) = refused_start(&junk);
    assert_eq!(code, Some(78), "{text}");
    assert!(
        text.contains("gateway tls: failed to load cert ("),
        "{text}"
    );
    assert!(text.contains("junk.crt"), "{text}");
}

#[test]
fn our_cli_reaches_the_local_tls_gateway_pinned_to_its_certificate() {
    let gw = tls_gateway();
    let mut cmd = our_command(gw.dir.path());
    cmd.args(["gateway", "call", "health", "--json"])
        .env("OPENCLAW_GATEWAY_PORT", gw.port.to_string())
        .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    let health = tests::process::success_json(&out, "our gateway call health over TLS");
    assert_eq!(health["ok"], true, "{health}");
}

#[test]
fn our_node_host_connects_over_wss_with_a_pinned_fingerprint() {
    let gw = tls_gateway();
    let fp = fingerprint(&gw);
    let home = tempfile::tempdir().unwrap();
    let log_path = home.path().join("node.log");
    let mut cmd = our_command(home.path());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(["node", "run", "--host", "127.0.0.1", "--port"])
        .arg(gw.port.to_string())
        .args(["--display-name", "TLS Node", "--tls", "--tls-fingerprint"])
        // The colon form, as some tools print it.
        .arg(colon_form(&fp))
        .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let _node = tests::process::GroupGuard::new(cmd.spawn().expect("spawn our node host"));
    let row = wait_for_node(&gw, &fp, "TLS Node");
    assert!(
        row.is_some(),
        "the node never showed up connected; node log:\n{}\ngateway:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default(),
        gw.output()
    );
}

fn colon_form(fp: &str) -> String {
    let pairs: Vec<&str> = (0..fp.len() / 2).map(|i| &fp[2 * i..2 * i + 2]).collect();
    pairs.join(":").to_uppercase()
}

/// The `node.list` row of the connected node `name` (polled for up to 60 s).
pub fn wait_for_node(gw: &OurGateway, fp: &str, name: &str) -> Option<Value> {
    smol::block_on(async {
        let client = connect(&gw.url(), operator(&gw.token, Some(fp)))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let list = client.call("node.list", Some(json!({}))).await.unwrap();
            let row = list["nodes"].as_array().and_then(|nodes| {
                nodes
                    .iter()
                    .find(|n| n["displayName"] == name && n["connected"] == true)
                    .cloned()
            });
            if row.is_some() {
                return row;
            }
            smol::Timer::after(Duration::from_millis(250)).await;
        }
        None
    })
}

/// What an idle TLS connection costs the gateway beyond a plain one's
/// (~5 KB): the TLS session, the two copy buffers of the bridge and its
/// task. Measured with 200 authenticated, idle clients; the bound catches a
/// buffer that grows per connection, not allocator noise.
#[test]
fn an_idle_tls_connection_costs_a_bounded_amount_of_memory() {
    const CLIENTS: usize = 200;
    const MAX_PER_CONNECTION: u64 = 96 * 1024;
    let gw = tls_gateway();
    let fp = fingerprint(&gw);
    smol::block_on(async {
        let mut warm = Vec::new();
        for _ in 0..20 {
            warm.push(
                connect(&gw.url(), operator(&gw.token, Some(&fp)))
                    .await
                    .unwrap(),
            );
        }
        smol::Timer::after(Duration::from_millis(300)).await;
        let before = gw.rss_kib();
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(
                connect(&gw.url(), operator(&gw.token, Some(&fp)))
                    .await
                    .unwrap(),
            );
        }
        smol::Timer::after(Duration::from_millis(500)).await;
        let after = gw.rss_kib();
        let per_conn = after.saturating_sub(before) * 1024 / CLIENTS as u64;
        eprintln!("RSS {before} KiB -> {after} KiB with {CLIENTS} more idle TLS clients: {per_conn} B each");
        assert!(
            per_conn <= MAX_PER_CONNECTION,
            "an idle TLS connection costs {per_conn} B of RSS (at most {MAX_PER_CONNECTION})"
        );
        drop(clients);
        drop(warm);
    });
}

/// Waits (up to 10 s) until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_renewed_pair_is_served_without_a_restart() {
    let gw = tls_gateway();
    let old = fingerprint(&gw);
    let tls_dir = gw.dir.path().join("state/gateway/tls");
    // The renewed pair, as a renewal tool would leave it beside the old one.
    let staging = tempfile::tempdir().unwrap();
    let renewed = gateway_smol::tls::ServerTls::load(&gateway_smol::tls::TlsSettings {
        cert_path: staging.path().join("cert.pem"),
        key_path: staging.path().join("key.pem"),
        ca_path: None,
        auto_generate: true,
    })
    .unwrap();
    let new = renewed.fingerprint.clone();
    assert_ne!(new, old);

    smol::block_on(async {
        let open = connect(&gw.url(), operator(&gw.token, Some(&old)))
            .await
            .expect("connect before the renewal");
        for (from, to) in [
            ("key.pem", "gateway-key.pem"),
            ("cert.pem", "gateway-cert.pem"),
        ] {
            std::fs::copy(staging.path().join(from), tls_dir.join(format!("{to}.new"))).unwrap();
            std::fs::rename(tls_dir.join(format!("{to}.new")), tls_dir.join(to)).unwrap();
        }
        eventually("the renewed certificate", || {
            https_get(gw.port, "/readyz", &new).is_ok()
        });
        // New handshakes get the new certificate only.
        let refused = connect(&gw.url(), operator(&gw.token, Some(&old))).await;
        assert!(
            refused
                .err()
                .is_some_and(|e| e.to_string().contains("fingerprint mismatch")),
            "the old pin still matched"
        );
        let renewed_client = connect(&gw.url(), operator(&gw.token, Some(&new)))
            .await
            .expect("a client pinned to the renewed certificate");
        renewed_client.close().await;
        // The connection made before the renewal goes on.
        let health = open
            .call("health", None)
            .await
            .expect("the open connection");
        assert_eq!(health["ok"], true, "{health}");
        open.close().await;
    });
    assert!(
        gw.output()
            .contains("gateway TLS certificate renewed without restarting listeners"),
        "{}",
        gw.output()
    );

    // A key that is not a key: logged, and the renewed pair stays.
    std::fs::write(tls_dir.join("gateway-key.pem"), "junk").unwrap();
    eventually("the failed renewal to be logged", || {
        gw.output()
            .contains("gateway TLS renewal failed; keeping accepted material")
    });
    let (status, _) = https_get(gw.port, "/readyz", &new).expect("still served");
    assert_eq!(status, 200);
}
