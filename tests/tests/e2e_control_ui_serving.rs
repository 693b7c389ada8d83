//! The Control UI served by OUR gateway over real sockets: exact rules on a
//! small app in a temp dir (path escapes, revalidation, precompressed
//! copies, base path, authenticated JSON), and the real app of the installed
//! reference package, whose answers are compared with the REFERENCE
//! gateway's (skipped, with a note, when the reference is not installed).

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tests::process::{install_reference, GatewayOptions, OurGateway, ReferenceGateway, TOKEN};

/// One answer: status, headers (names lower-cased), body bytes.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `method path` with extra header lines, `Connection: close`.
fn request(port: u16, method: &str, path: &str, extra: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{extra}\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

fn get(port: u16, path: &str, extra: &str) -> Answer {
    request(port, "GET", path, extra)
}

fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

const INLINE_SCRIPT: &str = "window.__boot = 1;";
const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A small app: a page with one inline script, a hashed asset with
/// stored `.br`/`.gz` copies (whose bytes differ, to tell them apart), a
/// public file, and a secret beside (outside) the root.
fn small_app(root: &Path) {
    let page = format!(
        "<!doctype html>\n<html data-openclaw-control-ui-build-id=\"b1-{HASH}\" lang=\"en\"><head>\
         <link rel=\"icon\" href=\"./favicon.svg\"><script>{INLINE_SCRIPT}</script>\
         <script type=\"module\" src=\"./assets/app-1.js\"></script></head><body></body></html>"
    );
    write(&root.join("index.html"), page.as_bytes());
    write(&root.join("assets/app-1.js"), b"console.log('plain');");
    write(&root.join("assets/app-1.js.br"), b"BROTLI-BYTES");
    write(&root.join("assets/app-1.js.gz"), b"GZIP-BYTES");
    write(&root.join("favicon.svg"), b"<svg/>");
    write(&root.parent().unwrap().join("secret.txt"), b"TOP SECRET");
}

fn security_headers_present(answer: &Answer, what: &str) {
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        answer.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    let csp = answer.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.starts_with("default-src 'self'; base-uri 'none'"),
        "{what}: {csp}"
    );
}

fn configured(root: &Path, extra: &str) -> GatewayOptions {
    GatewayOptions {
        config: Some(format!(
            "{{ gateway: {{ controlUi: {{ root: {:?} {extra} }} }} }}",
            root.display().to_string()
        )),
        ..GatewayOptions::default()
    }
}

#[test]
fn page_paths_get_the_app_page_with_its_headers_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ui");
    small_app(&root);
    let gw = OurGateway::start(configured(&root, ""));
    for path in ["/", "/chat", "/sessions/main/deep", "/__openclaw__/x"] {
        let page = get(gw.port, path, "Accept: text/html\r\n");
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        security_headers_present(&page, path);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(page.header("cache-control"), Some("no-cache"));
        assert_eq!(page.header("vary"), Some("Accept-Encoding"));
        let html = page.text();
        // A configured root is the user's own build: no build id is vouched for.
        assert!(
            html.contains("<html data-openclaw-control-ui-base-path=\"\" data-openclaw-terminal-enabled=\"false\" lang=\"en\">"),
            "{html}"
        );
        assert!(html.contains("src=\"/assets/app-1.js\""), "{html}");
        assert!(html.contains("href=\"/favicon.svg\""), "{html}");
        // The inline script is allowed by its hash, nothing else inline is.
        let csp = page.header("content-security-policy").unwrap();
        let hash = {
            use base64::Engine;
            use sha2::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(INLINE_SCRIPT))
        };
        assert!(
            csp.contains(&format!("script-src 'self' 'sha256-{hash}';")),
            "{csp}"
        );
    }
    let head = request(gw.port, "HEAD", "/", "");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // A client that wants JSON gets no page for an unknown path.
    assert_eq!(
        get(gw.port, "/chat", "Accept: application/json\r\n").status,
        404
    );
    // Other methods are not the UI's.
    for method in ["POST", "PUT", "DELETE"] {
        let answer = request(gw.port, method, "/", "Content-Length: 0\r\n");
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (404, "Not Found"),
            "{method}"
        );
    }
}

#[test]
fn no_path_escapes_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ui");
    small_app(&root);
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
    // A second name for a file outside: refused in a configured root.
    std::fs::hard_link(dir.path().join("secret.txt"), root.join("hard.txt")).unwrap();
    let gw = OurGateway::start(configured(&root, ""));
    for path in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2fetc%2fpasswd",
        "/link.txt",
        "/up/secret.txt",
        "/hard.txt",
        "/a%00b.txt",
        "/%00",
        "/%zz.txt",
    ] {
        let answer = get(gw.port, path, "");
        assert!(
            !answer.text().contains("TOP SECRET"),
            "{path} leaked the secret"
        );
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
        security_headers_present(&answer, path);
    }
    // The symlink to a file inside the root is fine.
    std::os::unix::fs::symlink(root.join("favicon.svg"), root.join("icon.svg")).unwrap();
    assert_eq!(get(gw.port, "/icon.svg", "").text(), "<svg/>");
}

#[test]
fn files_revalidate_by_date_and_stream_with_their_length() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ui");
    small_app(&root);
    let gw = OurGateway::start(configured(&root, ""));
    let js = get(gw.port, "/assets/app-1.js", "Accept-Encoding: br, gzip\r\n");
    assert_eq!(js.status, 200);
    // A configured root is served as is: no stored copies, no year-long cache.
    assert_eq!(js.text(), "console.log('plain');");
    assert_eq!(js.header("content-encoding"), None);
    assert_eq!(
        js.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert_eq!(js.header("cache-control"), Some("no-cache"));
    assert_eq!(js.header("vary"), Some("Accept-Encoding"));
    let modified = js
        .header("last-modified")
        .expect("Last-Modified")
        .to_owned();
    let again = get(
        gw.port,
        "/assets/app-1.js",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("last-modified"), Some(modified.as_str()));
    let older = "If-Modified-Since: Thu, 01 Jan 2015 00:00:00 GMT\r\n";
    assert_eq!(get(gw.port, "/assets/app-1.js", older).status, 200);
    // No entity tags are made: only `*` matches.
    assert_eq!(
        get(gw.port, "/assets/app-1.js", "If-None-Match: *\r\n").status,
        304
    );
    let tagged = format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {modified}\r\n");
    assert_eq!(get(gw.port, "/assets/app-1.js", &tagged).status, 200);
    let head = request(gw.port, "HEAD", "/assets/app-1.js", "");
    assert_eq!(head.header("content-length"), Some("21"));
    assert!(head.body.is_empty());
    assert_eq!(get(gw.port, "/assets/missing.js", "").status, 404);
    assert_eq!(
        get(gw.port, "/missing.png", "Accept: text/html\r\n").status,
        404
    );
    let none = "Accept-Encoding: identity;q=0\r\n";
    let refused = get(gw.port, "/favicon.svg", none);
    assert_eq!(
        (refused.status, refused.text().as_str()),
        (406, "Not Acceptable")
    );
}

#[test]
fn config_and_avatar_routes_need_the_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ui");
    small_app(&root);
    let gw = OurGateway::start(configured(&root, ""));
    let unauthorized = r#"{"error":{"message":"Unauthorized","type":"unauthorized"}}"#;
    for path in [
        "/control-ui-config.json",
        "/avatar/main",
        "/avatar/main?meta=1",
    ] {
        let answer = get(gw.port, path, "Authorization: Bearer wrong\r\n");
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (401, unauthorized),
            "{path}"
        );
        security_headers_present(&answer, path);
    }
    let config = get(gw.port, "/control-ui-config.json", &bearer());
    assert_eq!(config.status, 200);
    assert_eq!(config.header("cache-control"), Some("no-cache"));
    let json: Value = serde_json::from_slice(&config.body).unwrap();
    assert_eq!(json["basePath"], "");
    assert_eq!(json["assistantAgentId"], "main");
    assert_eq!(json["embedSandbox"], "scripts");
    assert_eq!(json["pluginAssetsRequireAuth"], true);
    assert_eq!(json["pluginFrameGrants"], serde_json::json!([]));
    // Configured roots have no build this gateway vouches for.
    assert!(json.get("serverBuildId").is_none(), "{json}");
    // The default agent has no avatar: metadata says so, the image is missing.
    let meta = get(gw.port, "/avatar/main?meta=1", &bearer());
    let meta: Value = serde_json::from_slice(&meta.body).unwrap();
    assert_eq!(
        meta,
        serde_json::json!({"avatarUrl": null, "avatarSource": null, "avatarStatus": null, "avatarReason": null})
    );
    assert_eq!(get(gw.port, "/avatar/main", &bearer()).status, 404);
    // A malformed agent id is not found, before any authentication.
    assert_eq!(get(gw.port, "/avatar/a.b", "").status, 404);
}

/// A home whose `~/.npm-global` holds an installed `openclaw` package made
/// of `package_dir` (copied small app, or a link to the reference's).
fn home_with_package(link_to: Option<&Path>) -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let modules = home.path().join(".npm-global/lib/node_modules");
    std::fs::create_dir_all(&modules).unwrap();
    let package = modules.join("openclaw");
    match link_to {
        Some(target) => std::os::unix::fs::symlink(target, &package).unwrap(),
        None => small_app(&package.join("dist/control-ui")),
    }
    let root = package.join("dist/control-ui");
    (home, root)
}

#[test]
fn an_installed_package_is_found_and_served_precompressed_under_the_base_path() {
    let (home, _root) = home_with_package(None);
    let opts = GatewayOptions {
        config: Some("{ gateway: { controlUi: { basePath: '/ui/' } } }".into()),
        ..GatewayOptions::default()
    };
    let gw = OurGateway::start_in(opts, home);
    let redirect = get(gw.port, "/ui?x=1", "");
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (302, Some("/ui/?x=1"))
    );
    // Outside the base path nothing is the UI's.
    assert_eq!(get(gw.port, "/chat", "").status, 404);
    let js = "/ui/assets/app-1.js";
    let pick = |accept: &str| {
        let answer = get(gw.port, js, &format!("Accept-Encoding: {accept}\r\n"));
        assert_eq!(answer.status, 200, "{accept}");
        assert_eq!(answer.header("vary"), Some("Accept-Encoding"));
        assert_eq!(
            answer.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        (
            answer.header("content-encoding").map(str::to_owned),
            answer.text(),
        )
    };
    assert_eq!(
        pick("gzip, deflate, br"),
        (Some("br".into()), "BROTLI-BYTES".into())
    );
    assert_eq!(pick("gzip"), (Some("gzip".into()), "GZIP-BYTES".into()));
    // As the reference ranks them, an unlisted identity counts as q=1, so
    // it wins over codings the client only half wants.
    assert_eq!(
        pick("br;q=0.1, gzip;q=0.5"),
        (None, "console.log('plain');".into())
    );
    assert_eq!(
        pick("br;q=0.1, gzip;q=0.5, identity;q=0.2"),
        (Some("gzip".into()), "GZIP-BYTES".into())
    );
    assert_eq!(pick("identity"), (None, "console.log('plain');".into()));
    // The stored copies themselves are not addressable.
    assert_eq!(get(gw.port, "/ui/assets/app-1.js.br", "").status, 404);
    let page = get(gw.port, "/ui/sessions", "").text();
    assert!(
        page.contains(&format!("<html data-openclaw-control-ui-base-path=\"/ui\" data-openclaw-terminal-enabled=\"false\" data-openclaw-control-ui-build-id=\"b1-{HASH}\" lang=\"en\">")),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"/ui/favicon.svg?v=b1-{HASH}\"")),
        "{page}"
    );
    assert!(page.contains("src=\"/ui/assets/app-1.js\""), "{page}");
    // The versioned public file is cached for a year only with its version.
    let versioned = get(gw.port, &format!("/ui/favicon.svg?v=b1-{HASH}"), "");
    assert_eq!(
        versioned.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        get(gw.port, "/ui/favicon.svg", "").header("cache-control"),
        Some("no-cache")
    );
    let config = get(gw.port, "/ui/control-ui-config.json", &bearer());
    let json: Value = serde_json::from_slice(&config.body).unwrap();
    assert_eq!(
        (json["basePath"].as_str(), json["serverBuildId"].as_str()),
        (Some("/ui"), Some("b1"))
    );
}

#[test]
fn a_disabled_ui_is_not_routed_and_a_missing_root_says_so() {
    let off = OurGateway::start(GatewayOptions {
        config: Some("{ gateway: { controlUi: { enabled: false } } }".into()),
        ..GatewayOptions::default()
    });
    let answer = get(off.port, "/", "");
    assert_eq!((answer.status, answer.text().as_str()), (404, "Not Found"));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let gw = OurGateway::start(configured(&missing, ""));
    let answer = get(gw.port, "/", "");
    assert_eq!(answer.status, 503);
    assert!(
        answer.text().starts_with(&format!(
            "Control UI assets not found at {}.",
            missing.display()
        )),
        "{}",
        answer.text()
    );
}

/// The installed reference package (`…/node_modules/openclaw`), if any.
fn reference_package() -> Option<PathBuf> {
    let bin = install_reference("v4")?;
    let script = std::fs::canonicalize(bin.join("openclaw")).ok()?;
    let package = script.parent()?.to_owned();
    package
        .join("dist/control-ui/index.html")
        .exists()
        .then_some(package)
}

/// The headers a browser acts on; `Date`, `Connection` and `Keep-Alive` are
/// the transport's. Our page has no terminal, so its CSP allows no WASM.
fn comparable(answer: &Answer) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = answer
        .headers
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "date" | "connection" | "keep-alive"))
        .map(|(n, v)| (n.clone(), v.replace(" 'wasm-unsafe-eval'", "")))
        .collect();
    headers.sort();
    headers
}

#[test]
fn the_reference_app_is_served_as_the_reference_serves_it() {
    let Some(package) = reference_package() else {
        eprintln!("skipped: the reference package is not installed");
        return;
    };
    let Some(reference) = ReferenceGateway::start("v4", TOKEN) else {
        return;
    };
    let (home, root) = home_with_package(Some(&package));
    let ours = OurGateway::start_in(GatewayOptions::default(), home);
    let index = std::fs::read_to_string(root.join("index.html")).unwrap();
    let asset = index
        .split("src=\"./assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's script");
    let asset_path = format!("/assets/{asset}");
    let token = bearer();
    let cases: Vec<(&str, String, String)> = vec![
        ("GET", "/".into(), String::new()),
        ("GET", "/chat".into(), "Accept: text/html\r\n".into()),
        ("HEAD", "/".into(), String::new()),
        (
            "GET",
            asset_path.clone(),
            "Accept-Encoding: gzip, deflate, br\r\n".into(),
        ),
        (
            "GET",
            asset_path.clone(),
            "Accept-Encoding: gzip\r\n".into(),
        ),
        ("GET", asset_path.clone(), String::new()),
        ("HEAD", asset_path.clone(), "Accept-Encoding: br\r\n".into()),
        ("GET", asset_path.clone(), "If-None-Match: *\r\n".into()),
        ("GET", "/favicon.svg".into(), String::new()),
        ("GET", "/assets/nope.js".into(), String::new()),
        ("GET", "/nope.png".into(), String::new()),
        ("GET", "/%2e%2e/package.json".into(), String::new()),
        ("GET", "/control-ui-config.json".into(), String::new()),
        ("GET", "/control-ui-config.json".into(), token.clone()),
        ("GET", "/avatar/main?meta=1".into(), token.clone()),
        ("GET", "/avatar/main".into(), token.clone()),
        (
            "GET",
            "/favicon.svg".into(),
            "Accept-Encoding: identity;q=0\r\n".into(),
        ),
    ];
    for (method, path, extra) in &cases {
        let theirs = request(reference.port, method, path, extra);
        let mine = request(ours.port, method, path, extra);
        let what = format!("{method} {path} {extra:?}");
        assert_eq!(mine.status, theirs.status, "{what}");
        let (mut a, mut b) = (comparable(&mine), comparable(&theirs));
        // The page is compressed on the fly by the reference (we send it
        // plain, which every client accepts): its length and coding differ.
        // The config's values name each server's own version and build, so
        // its length differs too; its keys are compared in their own test.
        if path == "/" || path == "/chat" || path.ends_with(".json") {
            for headers in [&mut a, &mut b] {
                headers.retain(|(n, _)| n != "content-length" && n != "content-encoding");
            }
        }
        assert_eq!(a, b, "{what}");
        if !path.ends_with(".json") && path != "/" && path != "/chat" {
            // JSON answers (avatar metadata) as values: our keys come sorted.
            match (
                serde_json::from_slice::<Value>(&mine.body),
                serde_json::from_slice::<Value>(&theirs.body),
            ) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
                _ => assert_eq!(mine.body, theirs.body, "{what}"),
            }
        }
    }
    // The same document, but for the terminal this gateway does not have.
    let mine = get(ours.port, "/", "").text();
    let theirs = get(reference.port, "/", "").text();
    assert_eq!(
        mine,
        theirs.replace(
            "data-openclaw-terminal-enabled=\"true\"",
            "data-openclaw-terminal-enabled=\"false\""
        )
    );
    // The same settings.
    let config = |port| -> Value {
        serde_json::from_slice(&get(port, "/control-ui-config.json", &token).body).unwrap()
    };
    let (mut mine, mut theirs) = (config(ours.port), config(reference.port));
    for json in [&mut mine, &mut theirs] {
        let map = json.as_object_mut().unwrap();
        // Versions of two different programs; our terminal is off.
        map.remove("serverVersion");
        map.remove("terminalEnabled");
    }
    assert_eq!(mine, theirs);
}

#[test]
fn loading_the_real_app_keeps_idle_memory_within_two_megabytes() {
    let Some(package) = reference_package() else {
        eprintln!("skipped: the reference package is not installed");
        return;
    };
    let (home, root) = home_with_package(Some(&package));
    let gw = OurGateway::start_in(GatewayOptions::default(), home);
    // What a first page load fetches: the page, then every script and
    // style it links, compressed as a browser asks for them.
    let index = std::fs::read_to_string(root.join("index.html")).unwrap();
    let links: Vec<String> = index
        .split("\"./assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|name| format!("/assets/{name}"))
        .collect();
    assert!(!links.is_empty());
    std::thread::sleep(Duration::from_millis(500));
    let before = gw.rss_kib();
    let mut bytes = 0;
    for _ in 0..3 {
        bytes += get(gw.port, "/", "").body.len();
        for link in &links {
            let answer = get(gw.port, link, "Accept-Encoding: gzip, deflate, br\r\n");
            assert_eq!(answer.status, 200, "{link}");
            bytes += answer.body.len();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = gw.rss_kib();
    eprintln!(
        "idle RSS {before} KiB before, {after} KiB after serving {} files ({bytes} bytes) three times",
        links.len() + 1
    );
    assert!(
        after <= before + 2048,
        "RSS grew from {before} to {after} KiB"
    );
}
