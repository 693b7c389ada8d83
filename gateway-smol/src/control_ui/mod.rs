//! The Control UI on the gateway port: the browser app's files, its
//! `index.html` for every other page path (the app routes in the browser),
//! and its authenticated JSON routes (answered by the core).
//!
//! Routing follows the reference: with no base path every `GET`/`HEAD`
//! outside the gateway's own prefixes (`/v1`, `/api`, probes, …) is the
//! UI's; with a base path, only paths under it (the bare base redirects to
//! `base/`). Every answer carries the UI's security headers.

mod files;
mod index;
pub(crate) mod root;

use std::time::{Duration, SystemTime};

use gateway_proto::gateway::control_ui::{ControlUiAnswer, ControlUiApi, ControlUiInfo};
use gateway_proto::text::percent_decode;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

use crate::http::Head;
use crate::hub::HubMsg;
use crate::options::ControlUiOptions;
use crate::server::Shared;
use root::{FoundRoot, Root};

/// Time one write to the client may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// File bytes read and written per step: all a download ever holds.
const CHUNK: usize = 64 * 1024;
/// The largest `index.html` read (the reference app's is 18 KB).
const MAX_INDEX_BYTES: u64 = 1024 * 1024;

const NOT_FOUND_MESSAGE: &str = "Control UI assets not found. Build them with `pnpm ui:build` (auto-installs UI deps), or run `pnpm ui:dev` during development.";

/// The UI as resolved at start-up.
#[derive(Debug)]
pub(crate) struct ControlUi {
    base_path: String,
    root: Root,
}

impl ControlUi {
    /// Find the app (once: this reads the disk) and log the outcome.
    pub(crate) fn locate(opts: &ControlUiOptions) -> ControlUi {
        let root = root::locate(opts);
        match &root {
            Root::Off => log::info!(target: "gateway/control-ui", "Control UI disabled"),
            Root::Missing => log::warn!(target: "gateway/control-ui",
                "Control UI off: no installed openclaw package found (set gateway.controlUi.root)"),
            Root::Invalid(path) => log::warn!(target: "gateway/control-ui",
                "controlUi.root not found at {}", path.display()),
            Root::Found(found) => log::info!(target: "gateway/control-ui",
                "Control UI served from {} (build {})", found.real.display(),
                found.build_id.as_deref().unwrap_or("unknown")),
        }
        ControlUi {
            base_path: normalize_base_path(&opts.base_path),
            root,
        }
    }

    /// What the core needs to know: base path and the build id a UI page
    /// must connect with.
    pub(crate) fn info(&self) -> ControlUiInfo {
        let (build_id, configured_root) = match &self.root {
            Root::Found(found) => (
                found.build_id.clone().filter(|_| found.bundled),
                !found.bundled,
            ),
            Root::Invalid(_) => (None, true),
            Root::Off | Root::Missing => (None, false),
        };
        ControlUiInfo {
            base_path: self.base_path.clone(),
            build_id,
            configured_root,
            terminal_enabled: false,
        }
    }
}

/// `""`, or `/x` without a trailing slash.
fn normalize_base_path(raw: &str) -> String {
    let value = raw.trim();
    if value.is_empty() || value == "/" {
        return String::new();
    }
    let with_slash = if value.starts_with('/') {
        value.to_owned()
    } else {
        format!("/{value}")
    };
    with_slash
        .strip_suffix('/')
        .map_or(with_slash.clone(), str::to_owned)
}

/// How the UI classifies a request.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// Not a UI path: the port's other routes (or its 404) answer.
    NotOurs,
    /// Under the UI but reserved (`/ui/…` without a base path): 404.
    NotFound,
    /// The bare base path: `302` to `base/`.
    Redirect(String),
    /// `spa`: a page path may get `index.html` (the client accepts HTML).
    Serve { spa: bool },
}

fn classify(base: &str, head: &Head) -> Route {
    let path = head.path.as_str();
    let read = matches!(head.method.as_str(), "GET" | "HEAD");
    let spa = accepts_html(head.header("accept"));
    if base.is_empty() {
        let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
        if under("/ui") {
            return Route::NotFound;
        }
        if ["/api", "/v1", "/j", "/plugins"].into_iter().any(under) || !read {
            return Route::NotOurs;
        }
        return Route::Serve { spa };
    }
    if path != base && !path.starts_with(&format!("{base}/")) || !read {
        return Route::NotOurs;
    }
    if path == base {
        let search = if head.query.is_empty() {
            String::new()
        } else {
            format!("?{}", head.query)
        };
        return Route::Redirect(format!("{base}/{search}"));
    }
    Route::Serve { spa }
}

/// Whether `Accept` allows an HTML page (no header allows anything).
fn accepts_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p.strip_prefix("q=")
                .is_some_and(|q| q.trim().parse::<f64>().map_or(true, |q| q <= 0.0))
        });
        !refused
            && matches!(
                media.as_str(),
                "text/html" | "text/*" | "*/*" | "application/xhtml+xml"
            )
    })
}

/// Headers on every UI answer.
const SECURITY_HEADERS: &str =
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
    Permissions-Policy: camera=(self), microphone=*, geolocation=*, clipboard-write=*\r\n\
    X-Frame-Options: DENY\r\n";

/// The CSP of the UI's non-page answers (no inline scripts to allow).
fn default_csp() -> String {
    index::csp("", false, None)
}

/// A response head being built.
struct Reply {
    status: u16,
    headers: String,
}

impl Reply {
    fn new(status: u16) -> Self {
        Reply {
            status,
            headers: String::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    fn head_text(&self, content_length: Option<u64>, keep_alive: bool) -> String {
        let reason = match self.status {
            200 => "OK",
            302 => "Found",
            304 => "Not Modified",
            401 => "Unauthorized",
            404 => "Not Found",
            406 => "Not Acceptable",
            503 => "Service Unavailable",
            _ => "Error",
        };
        let length = content_length.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
        let connection = if keep_alive { "keep-alive" } else { "close" };
        format!(
            "HTTP/1.1 {} {reason}\r\n{}{length}Connection: {connection}\r\n\r\n",
            self.status, self.headers
        )
    }
}

/// Answer `head` if it is a UI request. `None`: not ours. `Some(ok)`: a
/// complete answer was written (`ok` false when the write failed, and the
/// connection must be dropped).
pub(crate) async fn serve(
    stream: &mut TcpStream,
    head: &Head,
    keep_alive: bool,
    shared: &Shared,
) -> Option<bool> {
    let ui = &shared.control_ui;
    if ui.root == Root::Off {
        return None;
    }
    let base = ui.base_path.as_str();
    let spa = match classify(base, head) {
        Route::NotOurs => return None,
        Route::NotFound => return Some(text(stream, head, 404, "Not Found", keep_alive).await),
        Route::Redirect(location) => {
            let reply = secured(Reply::new(302)).header("Location", &location);
            return Some(send(stream, &reply, Some(0), keep_alive, None).await);
        }
        Route::Serve { spa } => spa,
    };
    let ui_path = head.path.strip_prefix(base).unwrap_or(&head.path);
    if let Some(api) = api_route(ui_path, &head.query) {
        let answer = ask_core(shared, api, head.header("authorization")).await;
        return Some(send_answer(stream, head, &answer, keep_alive).await);
    }
    let found = match &ui.root {
        Root::Found(found) => found,
        Root::Invalid(path) => {
            let message = format!("Control UI assets not found at {}. Build them with `pnpm ui:build` (auto-installs UI deps), or update gateway.controlUi.root.", path.display());
            return Some(text(stream, head, 503, &message, keep_alive).await);
        }
        Root::Off | Root::Missing => {
            return Some(text(stream, head, 503, NOT_FOUND_MESSAGE, keep_alive).await);
        }
    };
    serve_file(stream, head, ui_path, found, spa, keep_alive, shared).await
}

/// The authenticated JSON routes, by path under the base.
fn api_route(ui_path: &str, query: &str) -> Option<ControlUiApi> {
    match ui_path {
        "/control-ui-config.json"
        | "/__openclaw/control-ui-config.json"
        | "/__openclaw__/control-ui-config.json" => return Some(ControlUiApi::Config),
        _ => {}
    }
    let agent = ui_path.strip_prefix("/avatar/")?;
    let meta = query.split('&').any(|pair| pair == "meta=1");
    let agent_id = if agent.is_empty() || agent.contains('/') {
        String::new()
    } else {
        percent_decode(agent).unwrap_or_default()
    };
    Some(ControlUiApi::Avatar { agent_id, meta })
}

async fn ask_core(
    shared: &Shared,
    api: ControlUiApi,
    authorization: Option<&str>,
) -> ControlUiAnswer {
    let (reply, answer) = smol::channel::bounded(1);
    let msg = HubMsg::ControlUiApi {
        api,
        authorization: authorization.map(str::to_owned),
        reply,
    };
    if shared.hub_tx.send(msg).await.is_ok() {
        if let Ok(answer) = answer.recv().await {
            return answer;
        }
    }
    ControlUiAnswer {
        status: 503,
        content_type: "text/plain; charset=utf-8",
        cache_control: None,
        body: "Gateway restarting".to_owned(),
    }
}

fn secured(reply: Reply) -> Reply {
    let mut reply = reply;
    reply.headers.push_str(SECURITY_HEADERS);
    reply.header("Content-Security-Policy", &default_csp())
}

async fn send_answer(
    stream: &mut TcpStream,
    head: &Head,
    answer: &ControlUiAnswer,
    keep_alive: bool,
) -> bool {
    let mut reply = secured(Reply::new(answer.status)).header("Content-Type", answer.content_type);
    if let Some(cache) = answer.cache_control {
        reply = reply.header("Cache-Control", cache);
    }
    let body = (head.method != "HEAD").then_some(answer.body.as_bytes());
    let length = body.map_or(answer.body.len(), <[u8]>::len) as u64;
    send(stream, &reply, Some(length), keep_alive, body).await
}

async fn text(
    stream: &mut TcpStream,
    head: &Head,
    status: u16,
    body: &str,
    keep_alive: bool,
) -> bool {
    let answer = ControlUiAnswer {
        status,
        content_type: "text/plain; charset=utf-8",
        cache_control: None,
        body: body.to_owned(),
    };
    send_answer(stream, head, &answer, keep_alive).await
}

/// Write a head and (unless `None`) a small body, with a deadline.
async fn send(
    stream: &mut TcpStream,
    reply: &Reply,
    content_length: Option<u64>,
    keep_alive: bool,
    body: Option<&[u8]>,
) -> bool {
    let mut out = reply.head_text(content_length, keep_alive).into_bytes();
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
    write_all(stream, &out).await && (keep_alive || stream.close().await.is_ok())
}

async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    let write = async { stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok() };
    smol::future::or(write, async {
        smol::Timer::after(WRITE_TIMEOUT).await;
        false
    })
    .await
}

/// The file a UI path names, relative to the root (before decoding).
fn relative_target(ui_path: &str) -> String {
    if ui_path == "/" {
        return "index.html".to_owned();
    }
    let rel = ui_path
        .strip_prefix("/__openclaw__/")
        .filter(|rel| files::ROOT_PUBLIC_FILES.contains(rel))
        .map(str::to_owned)
        .or_else(|| {
            ui_path
                .find("/assets/")
                .map(|at| ui_path[at + 1..].to_owned())
        })
        .unwrap_or_else(|| ui_path.trim_start_matches('/').to_owned());
    if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel
    }
}

/// A static file, or the app page for a path that names none.
async fn serve_file(
    stream: &mut TcpStream,
    head: &Head,
    ui_path: &str,
    root: &FoundRoot,
    spa: bool,
    keep_alive: bool,
    shared: &Shared,
) -> Option<bool> {
    let Some(rel) = percent_decode(&relative_target(ui_path)) else {
        return Some(text(stream, head, 404, "Not Found", keep_alive).await);
    };
    if !files::is_safe_relative(&rel) || root.bundled && files::is_precompressed_copy(&rel) {
        return Some(text(stream, head, 404, "Not Found", keep_alive).await);
    }
    // A configured root is the user's directory: a file linked in from
    // elsewhere (a second name) is not served.
    let reject_hardlinks = !root.bundled;
    let file = files::resolve(&root.real, &rel, reject_hardlinks);
    let is_index = |p: &std::path::Path| p.file_name().is_some_and(|n| n == "index.html");
    match file {
        Some(file) if !rel.ends_with("index.html") && !is_index(&file.path) => {
            let fingerprinted = root.bundled && rel.starts_with("assets/");
            let versioned = root.public_build_id.as_deref().is_some_and(|build| {
                root.bundled
                    && head.query.split('&').any(|p| p == format!("v={build}"))
                    && files::is_versioned_public_file(&rel)
            });
            let immutable = fingerprinted || versioned;
            Some(
                send_static(
                    stream,
                    head,
                    &rel,
                    root,
                    file,
                    fingerprinted,
                    immutable,
                    keep_alive,
                )
                .await,
            )
        }
        Some(_) => Some(send_index(stream, head, root, keep_alive, shared).await),
        None if files::is_static_asset(&rel) => {
            Some(text(stream, head, 404, "Not Found", keep_alive).await)
        }
        None if !spa => None,
        None => Some(send_index(stream, head, root, keep_alive, shared).await),
    }
}

#[allow(clippy::too_many_arguments)]
async fn send_static(
    stream: &mut TcpStream,
    head: &Head,
    rel: &str,
    root: &FoundRoot,
    file: files::SafeFile,
    precompressed: bool,
    immutable: bool,
    keep_alive: bool,
) -> bool {
    let cache_control = if immutable {
        files::IMMUTABLE
    } else {
        "no-cache"
    };
    let now = SystemTime::now();
    let last_modified = files::last_modified(file.modified, now);
    let representation = files::representation(
        &root.real,
        rel,
        file,
        precompressed,
        !root.bundled,
        head.header("accept-encoding"),
    );
    let Some((body_file, encoding)) = representation else {
        return not_acceptable(stream, keep_alive).await;
    };
    let date = httpdate::fmt_http_date(last_modified);
    if files::not_modified(
        head.header("if-none-match"),
        head.header("if-modified-since"),
        last_modified,
    ) {
        let reply = secured(Reply::new(304))
            .header("Cache-Control", cache_control)
            .header("Last-Modified", &date)
            .header("Vary", "Accept-Encoding");
        return send(stream, &reply, None, keep_alive, None).await;
    }
    let mut reply = secured(Reply::new(200))
        .header("Content-Type", files::content_type(rel))
        .header("Cache-Control", cache_control)
        .header("Last-Modified", &date)
        .header("Vary", "Accept-Encoding");
    if let (Some(encoding), true) = (encoding, files::is_compressible(rel)) {
        reply = reply.header("Content-Encoding", encoding);
    }
    if head.method == "HEAD" {
        return send(stream, &reply, Some(body_file.len), keep_alive, None).await;
    }
    stream_file(stream, &reply, &body_file, keep_alive).await
}

async fn not_acceptable(stream: &mut TcpStream, keep_alive: bool) -> bool {
    let body = "Not Acceptable";
    let reply = secured(Reply::new(406))
        .header("Cache-Control", "no-store")
        .header("Vary", "Accept-Encoding")
        .header("Content-Type", "text/plain; charset=utf-8");
    send(
        stream,
        &reply,
        Some(body.len() as u64),
        keep_alive,
        Some(body.as_bytes()),
    )
    .await
}

/// Send a file in [`CHUNK`]s straight from disk. The length was read when
/// the file was opened; a file that shrank meanwhile ends the connection.
async fn stream_file(
    stream: &mut TcpStream,
    reply: &Reply,
    file: &files::SafeFile,
    keep_alive: bool,
) -> bool {
    let Ok(mut reader) = smol::fs::File::open(&file.path).await else {
        return false;
    };
    if !write_all(
        stream,
        reply.head_text(Some(file.len), keep_alive).as_bytes(),
    )
    .await
    {
        return false;
    }
    let mut left = file.len;
    let mut chunk = vec![0u8; CHUNK.min(usize::try_from(file.len).unwrap_or(CHUNK)).max(1)];
    while left > 0 {
        let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match reader.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if !write_all(stream, &chunk[..n]).await {
            return false;
        }
        left -= n as u64;
    }
    keep_alive || stream.close().await.is_ok()
}

/// The app page with this gateway's settings.
async fn send_index(
    stream: &mut TcpStream,
    head: &Head,
    root: &FoundRoot,
    keep_alive: bool,
    shared: &Shared,
) -> bool {
    let encodings = files::accepted_encodings(head.header("accept-encoding"), false);
    if encodings.is_empty() {
        return not_acceptable(stream, keep_alive).await;
    }
    let info = shared.control_ui.info();
    let reply_head = || {
        secured(Reply::new(200))
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Cache-Control", "no-cache")
            .header("Vary", "Accept-Encoding")
    };
    if head.method == "HEAD" {
        return send(stream, &reply_head(), None, keep_alive, None).await;
    }
    let Some(html) = read_index(root).await else {
        return text(stream, head, 503, NOT_FOUND_MESSAGE, keep_alive).await;
    };
    let settings = index::PageSettings {
        base_path: &info.base_path,
        terminal_enabled: info.terminal_enabled,
        public_build_id: root.public_build_id.as_deref().filter(|_| root.bundled),
    };
    let page = index::prepare(&html, &settings);
    let mut reply = Reply::new(200);
    reply.headers.push_str(SECURITY_HEADERS);
    let reply = reply
        .header(
            "Content-Security-Policy",
            &index::csp(&page, info.terminal_enabled, head.header("host")),
        )
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-cache")
        .header("Vary", "Accept-Encoding");
    send(
        stream,
        &reply,
        Some(page.len() as u64),
        keep_alive,
        Some(page.as_bytes()),
    )
    .await
}

/// `index.html`, read afresh for each page (the app may be updated in place).
async fn read_index(root: &FoundRoot) -> Option<String> {
    let file = files::resolve(&root.real, "index.html", !root.bundled)?;
    if file.len > MAX_INDEX_BYTES {
        return None;
    }
    smol::fs::read_to_string(&file.path).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn head(text: &str) -> Head {
        parse_head(format!("{text} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn routes_with_and_without_a_base_path() {
        assert_eq!(classify("", &head("GET /chat")), Route::Serve { spa: true });
        assert_eq!(classify("", &head("GET /ui/x")), Route::NotFound);
        assert_eq!(classify("", &head("GET /v1/models")), Route::NotOurs);
        assert_eq!(classify("", &head("GET /api/x")), Route::NotOurs);
        assert_eq!(classify("", &head("POST /")), Route::NotOurs);
        assert_eq!(
            classify("/ui", &head("GET /ui?a=1")),
            Route::Redirect("/ui/?a=1".into())
        );
        assert_eq!(
            classify("/ui", &head("GET /ui/chat")),
            Route::Serve { spa: true }
        );
        assert_eq!(classify("/ui", &head("GET /chat")), Route::NotOurs);
        assert_eq!(classify("/ui", &head("GET /uix")), Route::NotOurs);
        assert_eq!(normalize_base_path(" ui/ "), "/ui");
        assert_eq!(normalize_base_path("/"), "");
    }

    #[test]
    fn page_paths_map_to_files() {
        assert_eq!(relative_target("/"), "index.html");
        assert_eq!(relative_target("/chat/assets/a.js"), "assets/a.js");
        assert_eq!(relative_target("/__openclaw__/favicon.svg"), "favicon.svg");
        assert_eq!(relative_target("/themes/"), "themes/index.html");
        assert_eq!(relative_target("/favicon.svg"), "favicon.svg");
    }

    #[test]
    fn html_acceptance() {
        assert!(accepts_html(None));
        assert!(accepts_html(Some(
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!accepts_html(Some("application/json")));
        assert!(!accepts_html(Some("text/html;q=0")));
    }
}
