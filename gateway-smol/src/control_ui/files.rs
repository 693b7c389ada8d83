//! The app's static files: which file a path names (never one outside the
//! root), its content type, which stored representation to send (`.br` /
//! `.gz` beside it) and revalidation by `Last-Modified`.
//!
//! Files are streamed from disk in small chunks: serving the 56 MB app
//! keeps nothing of it in memory.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// `Cache-Control` of content-hashed assets: their name changes with them.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Content type by extension; anything else is `application/octet-stream`.
pub(crate) fn content_type(path: &str) -> &'static str {
    match extension(path).as_str() {
        ".html" => "text/html; charset=utf-8",
        ".js" => "application/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".json" | ".map" => "application/json; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".jpg" | ".jpeg" => "image/jpeg",
        ".gif" => "image/gif",
        ".webp" => "image/webp",
        ".ico" => "image/x-icon",
        ".txt" => "text/plain; charset=utf-8",
        ".wasm" => "application/wasm",
        ".webmanifest" => "application/manifest+json; charset=utf-8",
        ".woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A missing file with one of these extensions is a 404, never the SPA page.
pub(crate) fn is_static_asset(path: &str) -> bool {
    let ext = extension(path);
    ext != ".html" && content_type(path) != "application/octet-stream"
}

/// Extensions whose files the build stores precompressed.
pub(crate) fn is_compressible(path: &str) -> bool {
    matches!(
        extension(path).as_str(),
        ".css" | ".html" | ".js" | ".json" | ".svg" | ".txt" | ".wasm" | ".webmanifest"
    )
}

pub(crate) fn is_precompressed_copy(path: &str) -> bool {
    matches!(extension(path).as_str(), ".br" | ".gz")
}

/// `.ext` of the last path segment, lower-cased ("" when none).
fn extension(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rfind('.') {
        Some(0) | None => String::new(),
        Some(dot) => name[dot..].to_ascii_lowercase(),
    }
}

/// Root files the build emits, also served under `/__openclaw__/`.
pub(crate) const ROOT_PUBLIC_FILES: [&str; 6] = [
    "apple-touch-icon.png",
    "favicon-32.png",
    "favicon.ico",
    "favicon.svg",
    "manifest.webmanifest",
    "sw.js",
];

/// Public files whose URL carries `?v=<build>`: cached for a year when it matches.
pub(crate) fn is_versioned_public_file(rel: &str) -> bool {
    if ROOT_PUBLIC_FILES.contains(&rel) {
        return rel != "sw.js";
    }
    let mut parts = rel.split('/');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let Some((name, dirs)) = rest.split_last() else {
        return false;
    };
    let ext = extension(name);
    match first {
        "fonts" => dirs.is_empty() && (ext == ".css" || ext == ".woff2"),
        "themes" => dirs.is_empty() && ext == ".css",
        "provider-icons" | "cloud-provider-icons" => dirs.is_empty() && ext == ".svg",
        "file-icons" => ext == ".svg",
        "app-art" | "community-art" => dirs.is_empty() && ext == ".webp",
        _ => false,
    }
}

/// Whether a decoded relative path stays inside the root once normalised:
/// not absolute (either style), no `..` above the root, no NUL.
pub(crate) fn is_safe_relative(rel: &str) -> bool {
    if rel.is_empty() || rel.contains('\0') || rel.starts_with('/') || rel.starts_with('\\') {
        return false;
    }
    // `C:` and `\\server` are absolute on Windows; refuse them everywhere.
    let bytes = rel.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return false;
    }
    let mut depth = 0usize;
    for segment in rel.split('/') {
        match segment {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// A regular file inside the root, ready to send.
#[derive(Debug)]
pub(crate) struct SafeFile {
    pub path: PathBuf,
    pub len: u64,
    pub modified: SystemTime,
}

/// The file `rel` names under `root_real` (already canonical), if it is a
/// regular file whose real path (symlinks followed) is still inside the
/// root. With `reject_hardlinks`, a file with other names is refused too
/// (another name may lie outside the root).
pub(crate) fn resolve(root_real: &Path, rel: &str, reject_hardlinks: bool) -> Option<SafeFile> {
    let real = std::fs::canonicalize(root_real.join(rel)).ok()?;
    if !real.starts_with(root_real) {
        return None;
    }
    let meta = std::fs::metadata(&real).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    if reject_hardlinks && std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
        return None;
    }
    #[cfg(not(unix))]
    let _ = reject_hardlinks;
    Some(SafeFile {
        path: real,
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

/// Content codings a client accepts, best first, among `br` and `gzip`
/// when `offered`, and `identity` (q-values as RFC 9110; a bad q is 0).
pub(crate) fn accepted_encodings(
    accept_encoding: Option<&str>,
    offered: bool,
) -> Vec<&'static str> {
    let header = accept_encoding.unwrap_or("").trim();
    if header.is_empty() {
        return vec!["identity"];
    }
    let mut qualities: Vec<(String, f64)> = Vec::new();
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let q = parts
            .map(str::trim)
            .find(|p| p.len() >= 2 && p[..2].eq_ignore_ascii_case("q="))
            .map_or(1.0, |p| parse_qvalue(&p[2..]));
        match qualities.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => *existing = existing.max(q),
            None => qualities.push((name, q)),
        }
    }
    let get = |name: &str| qualities.iter().find(|(n, _)| n == name).map(|(_, q)| *q);
    let wildcard = get("*");
    let identity = get("identity").unwrap_or(if wildcard == Some(0.0) { 0.0 } else { 1.0 });
    let quality = |name: &str| {
        if name == "identity" {
            identity
        } else {
            get(name).or(wildcard).unwrap_or(0.0)
        }
    };
    let mut list: Vec<&'static str> = ["br", "gzip", "identity"]
        .into_iter()
        .filter(|e| (*e == "identity" || offered) && quality(e) > 0.0)
        .collect();
    // Stable: equal qualities keep br, gzip, identity order.
    list.sort_by(|a, b| quality(b).total_cmp(&quality(a)));
    list
}

/// `0`, `0.x{0,3}`, `1`, `1.0{0,3}`; anything else counts as 0.
fn parse_qvalue(text: &str) -> f64 {
    let text = text.trim();
    let valid = match text.split_once('.') {
        None => text == "0" || text == "1",
        Some((int, frac)) => {
            frac.len() <= 3
                && ((int == "0" && frac.bytes().all(|b| b.is_ascii_digit()))
                    || (int == "1" && frac.bytes().all(|b| b == b'0')))
        }
    };
    if valid {
        text.parse().unwrap_or(0.0)
    } else {
        0.0
    }
}

/// The representation to send: the file itself or a stored `.br`/`.gz`
/// copy, with its `Content-Encoding`. `None`: nothing acceptable (406).
pub(crate) fn representation(
    root_real: &Path,
    rel: &str,
    source: SafeFile,
    precompressed: bool,
    reject_hardlinks: bool,
    accept_encoding: Option<&str>,
) -> Option<(SafeFile, Option<&'static str>)> {
    let offered = precompressed && is_compressible(rel);
    let mut source = Some(source);
    for encoding in accepted_encodings(accept_encoding, offered) {
        if encoding == "identity" {
            return source.take().map(|s| (s, None));
        }
        let suffix = if encoding == "br" { ".br" } else { ".gz" };
        if let Some(copy) = resolve(root_real, &format!("{rel}{suffix}"), reject_hardlinks) {
            return Some((copy, Some(encoding)));
        }
    }
    None
}

/// `Last-Modified` as the reference sends it: whole seconds, never in the future.
pub(crate) fn last_modified(modified: SystemTime, now: SystemTime) -> SystemTime {
    let at = modified.min(now);
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Whether the client's copy is current: `If-None-Match: *` (entity tags
/// are not generated), else `If-Modified-Since` not before the file's time.
pub(crate) fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    last_modified: SystemTime,
) -> bool {
    if let Some(tags) = if_none_match {
        return tags.trim() == "*";
    }
    if_modified_since
        .and_then(|since| httpdate::parse_http_date(since.trim()).ok())
        .is_some_and(|since| since >= last_modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_never_climb_out() {
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\x",
            "C:x",
            "a\0b",
            "..",
        ] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
        for good in ["index.html", "assets/a.js", "a/../b", "./x"] {
            assert!(is_safe_relative(good), "{good:?}");
        }
    }

    #[test]
    fn encodings_follow_q_values() {
        assert_eq!(accepted_encodings(None, true), ["identity"]);
        assert_eq!(
            accepted_encodings(Some("gzip, deflate, br"), true),
            ["br", "gzip", "identity"]
        );
        assert_eq!(
            accepted_encodings(Some("gzip, deflate, br"), false),
            ["identity"]
        );
        assert_eq!(
            accepted_encodings(Some("br;q=0.5, gzip"), true),
            ["gzip", "identity", "br"]
        );
        assert_eq!(
            accepted_encodings(Some("identity;q=0, br;q=0, gzip;q=0"), true),
            Vec::<&str>::new()
        );
        assert_eq!(accepted_encodings(Some("*;q=0"), true), Vec::<&str>::new());
        assert_eq!(
            accepted_encodings(Some("*"), true),
            ["br", "gzip", "identity"]
        );
        assert_eq!(accepted_encodings(Some("br;q=2"), true), ["identity"]);
    }

    #[test]
    fn types_and_classes_of_files() {
        assert_eq!(
            content_type("assets/A.JS"),
            "application/javascript; charset=utf-8"
        );
        assert_eq!(content_type("x.bin"), "application/octet-stream");
        assert!(is_static_asset("nope.png"));
        assert!(!is_static_asset("chat"));
        assert!(!is_static_asset("index.html"));
        assert!(is_versioned_public_file("favicon.svg"));
        assert!(!is_versioned_public_file("sw.js"));
        assert!(is_versioned_public_file("themes/dark.css"));
        assert!(is_versioned_public_file("file-icons/a/b.svg"));
        assert!(!is_versioned_public_file("assets/x.js"));
    }

    #[test]
    fn revalidation_uses_dates_not_tags() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(t);
        assert!(not_modified(None, Some(&date), t));
        assert!(!not_modified(None, Some(&date), t + Duration::from_secs(1)));
        assert!(not_modified(Some("*"), None, t));
        assert!(!not_modified(Some("\"x\""), Some(&date), t));
        assert!(!not_modified(None, Some("garbage"), t));
    }
}
