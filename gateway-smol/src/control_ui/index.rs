//! The app's `index.html` as served: asset links anchored at the base path,
//! the gateway's settings as `<html>` attributes, and the page's
//! Content-Security-Policy (which must name each inline script by hash).

use base64::Engine;
use sha2::{Digest, Sha256};

use super::files::{is_versioned_public_file, ROOT_PUBLIC_FILES};
use super::root::BUILD_ID_ATTRIBUTE;

const BASE_PATH_ATTRIBUTE: &str = "data-openclaw-control-ui-base-path";
const TERMINAL_ENABLED_ATTRIBUTE: &str = "data-openclaw-terminal-enabled";

/// What the page is told about the gateway.
pub(crate) struct PageSettings<'a> {
    /// Normalised: `""` or `/x`.
    pub base_path: &'a str,
    pub terminal_enabled: bool,
    /// The bundled app's full build id: kept on `<html>` and appended as
    /// `?v=` to the versioned public files it links.
    pub public_build_id: Option<&'a str>,
}

/// The document to send.
pub(crate) fn prepare(html: &str, settings: &PageSettings<'_>) -> String {
    let anchored = anchor_links(html, settings);
    set_html_attributes(&anchored, settings)
}

/// Links the build writes relative (`./assets/…`, `./favicon.svg`) or
/// rooted (`/favicon.svg`) are made absolute under the base path, so a
/// deep link such as `/chat/x` still finds them. One left-to-right pass:
/// a replacement is never replaced again.
fn anchor_links(html: &str, settings: &PageSettings<'_>) -> String {
    let base = settings.base_path;
    let mut rules: Vec<(String, String)> = vec![
        ("src=\"./assets/".into(), format!("src=\"{base}/assets/")),
        ("href=\"./assets/".into(), format!("href=\"{base}/assets/")),
    ];
    for file in ROOT_PUBLIC_FILES {
        let version = match settings.public_build_id {
            Some(build) if is_versioned_public_file(file) => format!("?v={build}"),
            _ => String::new(),
        };
        let anchored = format!("href=\"{base}/{file}{version}\"");
        for form in [
            format!("href=\"./{file}\""),
            format!("href=\"/{file}\""),
            format!("href=\"{base}/{file}\""),
        ] {
            rules.push((form, anchored.clone()));
        }
    }
    let mut out = String::with_capacity(html.len() + 512);
    let mut rest = html;
    'scan: while !rest.is_empty() {
        for (from, to) in &rules {
            if rest.starts_with(from.as_str()) {
                out.push_str(to);
                rest = &rest[from.len()..];
                continue 'scan;
            }
        }
        let step = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..step]);
        rest = &rest[step..];
    }
    out
}

/// The first `<html …>` tag loses any build-id attribute the file carries
/// and gains base path, terminal flag and (bundled apps only) the build id.
fn set_html_attributes(html: &str, settings: &PageSettings<'_>) -> String {
    let lower = html.to_ascii_lowercase();
    let Some(start) = find_html_tag(&lower) else {
        return html.to_owned();
    };
    let Some(len) = html[start..].find('>') else {
        return html.to_owned();
    };
    let tag = &html[start..start + len + 1];
    let stripped = strip_attribute(tag, BUILD_ID_ATTRIBUTE);
    let mut attributes = format!(
        " {BASE_PATH_ATTRIBUTE}=\"{}\" {TERMINAL_ENABLED_ATTRIBUTE}=\"{}\"",
        escape_html(settings.base_path),
        settings.terminal_enabled
    );
    if let Some(build) = settings.public_build_id {
        attributes.push_str(&format!(" {BUILD_ID_ATTRIBUTE}=\"{}\"", escape_html(build)));
    }
    let new_tag = format!("{}{attributes}{}", &stripped[..5], &stripped[5..]);
    format!("{}{new_tag}{}", &html[..start], &html[start + tag.len()..])
}

/// Offset of `<html` followed by a tag boundary (not `<htmlx`).
fn find_html_tag(lower: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = lower[from..].find("<html") {
        let start = from + at;
        match lower.as_bytes().get(start + 5) {
            Some(b) if b.is_ascii_alphanumeric() || *b == b'_' => from = start + 5,
            _ => return Some(start),
        }
    }
    None
}

/// `tag` without every ` name="…"`.
fn strip_attribute(tag: &str, name: &str) -> String {
    let mut out = tag.to_owned();
    let needle = format!("{name}=\"");
    while let Some(at) = out.find(&needle) {
        let value_start = at + needle.len();
        let Some(value_len) = out[value_start..].find('"') else {
            break;
        };
        // Take the whitespace before the attribute with it.
        let begin = out[..at].trim_end().len();
        out.replace_range(begin..value_start + value_len + 1, "");
    }
    out
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `sha256-<base64>` of each non-empty inline `<script>` (no `src`).
fn inline_script_hashes(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut hashes = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("<script") {
        let start = from + at;
        let after_name = start + "<script".len();
        from = after_name;
        // `<script>` or `<script …>`, not `<scripts>`.
        match lower.as_bytes().get(after_name) {
            Some(b'>') => {}
            Some(b) if b.is_ascii_whitespace() => {}
            _ => continue,
        }
        let Some(open_len) = lower[start..].find('>') else {
            break;
        };
        let open_end = start + open_len + 1;
        let Some(close) = lower[open_end..].find("</script>") else {
            break;
        };
        let content = &html[open_end..open_end + close];
        from = open_end + close;
        if has_src_attribute(&lower[start..open_end]) || content.is_empty() {
            continue;
        }
        let digest = Sha256::digest(content.as_bytes());
        hashes.push(format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
    }
    hashes
}

/// Whether an opening tag (lower-cased) has an attribute named `src`.
fn has_src_attribute(open_tag: &str) -> bool {
    let inner = open_tag
        .trim_start_matches("<script")
        .trim_end_matches('>')
        .trim_end_matches('/');
    let mut rest = inner;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            return false;
        }
        let name_len = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        if name_len == 0 {
            // A stray `=`.
            rest = &rest[1..];
            continue;
        }
        if &rest[..name_len] == "src" {
            return true;
        }
        rest = rest[name_len..].trim_start();
        if let Some(value) = rest.strip_prefix('=') {
            let value = value.trim_start();
            rest = match value.chars().next() {
                Some(q @ ('"' | '\'')) => value[1..].find(q).map_or("", |end| &value[end + 2..]),
                _ => value
                    .find(char::is_whitespace)
                    .map_or("", |end| &value[end..]),
            };
        }
    }
}

/// The page's Content-Security-Policy. `host` is the request's `Host`: the
/// page may also connect to other ports of that host (a gateway's other
/// listeners).
pub(crate) fn csp(html: &str, terminal_enabled: bool, host: Option<&str>) -> String {
    let mut script = vec!["'self'".to_owned()];
    script.extend(
        inline_script_hashes(html)
            .into_iter()
            .map(|h| format!("'{h}'")),
    );
    if terminal_enabled {
        script.push("'wasm-unsafe-eval'".into());
    }
    let mut connect: Vec<String> = [
        "'self'",
        "ws:",
        "wss:",
        "data:",
        "https://api.openai.com",
        "https://tweakcn.com",
    ]
    .map(String::from)
    .to_vec();
    if let Some(hostname) = host.and_then(host_name) {
        connect.push(format!("http://{hostname}:*"));
        connect.push(format!("https://{hostname}:*"));
    }
    [
        "default-src 'self'".to_owned(),
        "base-uri 'none'".into(),
        "object-src 'none'".into(),
        "frame-ancestors 'none'".into(),
        "frame-src 'self' http: https:".into(),
        format!("script-src {}", script.join(" ")),
        "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com".into(),
        "img-src 'self' data: blob: https:".into(),
        "media-src 'self' data: blob:".into(),
        "font-src 'self' https://fonts.gstatic.com".into(),
        "worker-src 'self'".into(),
        format!("connect-src {}", connect.join(" ")),
    ]
    .join("; ")
}

/// The host name of a `Host` header (no port), lower-cased; `None` when it
/// is not a plain `host[:port]`.
fn host_name(host: &str) -> Option<String> {
    let host = host.trim();
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
    if !plain {
        return None;
    }
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.split(':').next()?
    };
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "<!doctype html>\n<html data-openclaw-control-ui-build-id=\"old\" lang=\"en\">\n<head>\
        <link rel=\"icon\" href=\"./favicon.svg\"><link rel=\"manifest\" href=\"/manifest.webmanifest\">\
        <script>boot()</script><script type=\"module\" src=\"./assets/index-1.js\"></script>\
        <link rel=\"modulepreload\" href=\"./assets/core-2.js\"></head></html>";

    #[test]
    fn settings_and_links_as_the_reference_writes_them() {
        let settings = PageSettings {
            base_path: "/ui",
            terminal_enabled: false,
            public_build_id: Some("b-1"),
        };
        let page = prepare(PAGE, &settings);
        assert!(page.contains("<html data-openclaw-control-ui-base-path=\"/ui\" data-openclaw-terminal-enabled=\"false\" data-openclaw-control-ui-build-id=\"b-1\" lang=\"en\">"), "{page}");
        assert!(page.contains("href=\"/ui/favicon.svg?v=b-1\""), "{page}");
        assert!(
            page.contains("href=\"/ui/manifest.webmanifest?v=b-1\""),
            "{page}"
        );
        assert!(page.contains("src=\"/ui/assets/index-1.js\""), "{page}");
        assert!(page.contains("href=\"/ui/assets/core-2.js\""), "{page}");
        let configured = prepare(
            PAGE,
            &PageSettings {
                base_path: "",
                terminal_enabled: true,
                public_build_id: None,
            },
        );
        assert!(configured.contains("<html data-openclaw-control-ui-base-path=\"\" data-openclaw-terminal-enabled=\"true\" lang=\"en\">"), "{configured}");
        assert!(configured.contains("href=\"/favicon.svg\""), "{configured}");
    }

    #[test]
    fn csp_hashes_inline_scripts_only() {
        let policy = csp(PAGE, false, Some("127.0.0.1:18789"));
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"boot()"));
        assert!(
            policy.contains(&format!("script-src 'self' 'sha256-{digest}'; ")),
            "{policy}"
        );
        assert!(
            policy.ends_with("https://tweakcn.com http://127.0.0.1:* https://127.0.0.1:*"),
            "{policy}"
        );
        assert!(csp(PAGE, true, None).contains("'wasm-unsafe-eval'; style-src"));
        assert!(csp(PAGE, false, Some("a/b")).ends_with("https://tweakcn.com"));
        assert_eq!(host_name("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(host_name("LocalHost").as_deref(), Some("localhost"));
    }

    #[test]
    fn src_attributes_are_told_apart_from_lookalikes() {
        assert!(has_src_attribute("<script type=\"module\" src=\"x\">"));
        assert!(has_src_attribute("<script src>"));
        assert!(!has_src_attribute("<script data-src=\"x\">"));
        assert!(!has_src_attribute("<script type=\"src\">"));
        assert!(!has_src_attribute("<script>"));
    }
}
