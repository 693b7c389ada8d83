//! Where the Control UI app lives on disk, found once at start-up.
//!
//! The app is the static `dist/control-ui/` directory of the `openclaw` npm
//! package. It is `gateway.controlUi.root` when configured; otherwise the
//! first installed package found in the usual global `node_modules`
//! directories (the npm prefixes of Debian, `/usr/local`, `~/.npm-global`,
//! nvm, and beside this binary). No `npm` process is spawned for this.

use std::path::{Path, PathBuf};

use crate::options::ControlUiOptions;

/// The attribute of `<html>` in the app's `index.html` that names its build.
pub(crate) const BUILD_ID_ATTRIBUTE: &str = "data-openclaw-control-ui-build-id";

/// The app's directory as found at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Root {
    /// `gateway.controlUi.enabled` is false: the UI paths are not routed.
    Off,
    /// Enabled, and no installed app was found.
    Missing,
    /// `gateway.controlUi.root` names no app directory (the path as given,
    /// made absolute).
    Invalid(PathBuf),
    Found(FoundRoot),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FoundRoot {
    /// The directory with every symlink resolved: no served file lies outside.
    pub real: PathBuf,
    /// Found in an installed package (not configured): its `assets/` are
    /// content-hashed (cached for a year) and served precompressed.
    pub bundled: bool,
    /// The full `data-openclaw-control-ui-build-id` of its `index.html`
    /// (`<buildId>-<sha256 hex>`), which versions its public files (`?v=`).
    pub public_build_id: Option<String>,
    /// The `<buildId>` part: what the app sends as `client.buildId`.
    pub build_id: Option<String>,
}

/// Find the app as the options ask.
pub(crate) fn locate(opts: &ControlUiOptions) -> Root {
    if !opts.enabled {
        return Root::Off;
    }
    if let Some(configured) = &opts.root {
        let absolute = std::path::absolute(configured).unwrap_or_else(|_| configured.clone());
        return match found(&absolute, false) {
            Some(root) => Root::Found(root),
            None => Root::Invalid(absolute),
        };
    }
    candidate_dirs()
        .iter()
        .map(|modules| modules.join("openclaw/dist/control-ui"))
        .find_map(|dir| found(&dir, true))
        .map_or(Root::Missing, Root::Found)
}

/// `dir` as an app root, if it holds an `index.html`.
fn found(dir: &Path, bundled: bool) -> Option<FoundRoot> {
    let real = std::fs::canonicalize(dir).ok()?;
    let index = std::fs::read_to_string(real.join("index.html")).ok()?;
    let public_build_id = public_build_id(&index);
    let build_id = public_build_id.as_deref().and_then(build_id_of);
    Some(FoundRoot {
        real,
        bundled,
        public_build_id,
        build_id,
    })
}

/// The value of the build-id attribute, when it is a plausible one.
pub(crate) fn public_build_id(index_html: &str) -> Option<String> {
    let start =
        index_html.find(&format!("{BUILD_ID_ATTRIBUTE}=\""))? + BUILD_ID_ATTRIBUTE.len() + 2;
    let len = index_html[start..].find('"')?;
    let value = &index_html[start..start + len];
    let plausible = (1..=161).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    plausible.then(|| value.to_owned())
}

/// `<buildId>` of `<buildId>-<64 hex digits>` (the hash binds the document).
pub(crate) fn build_id_of(public: &str) -> Option<String> {
    let (build, hash) = public.rsplit_once('-')?;
    let hash_ok = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hash_ok && (1..=96).contains(&build.len())).then(|| build.to_owned())
}

/// Global `node_modules` directories, most specific first.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    // Beside this binary: `<prefix>/bin/openclaw` next to `<prefix>/lib/node_modules`.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin) = exe.parent() {
            dirs.push(bin.join("node_modules"));
            if let Some(prefix) = bin.parent() {
                dirs.push(prefix.join("lib/node_modules"));
            }
        }
    }
    if let Some(prefix) = std::env::var_os("NPM_CONFIG_PREFIX").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(prefix).join("lib/node_modules"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        dirs.push(home.join(".npm-global/lib/node_modules"));
        dirs.push(home.join(".local/lib/node_modules"));
        // nvm: one prefix per installed Node version.
        if let Ok(versions) = std::fs::read_dir(home.join(".nvm/versions/node")) {
            let mut found: Vec<PathBuf> = versions
                .filter_map(Result::ok)
                .map(|v| v.path().join("lib/node_modules"))
                .collect();
            found.sort();
            dirs.extend(found.into_iter().rev());
        }
    }
    dirs.push(PathBuf::from("/usr/local/lib/node_modules"));
    dirs.push(PathBuf::from("/usr/lib/node_modules"));
    dirs.push(PathBuf::from("/opt/homebrew/lib/node_modules"));
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_build_id_attribute() {
        let hash = "0123456789abcdef".repeat(4);
        let html = format!("<!doctype html>\n<html {BUILD_ID_ATTRIBUTE}=\"2026.9.6-release-x-{hash}\" lang=\"en\">");
        let public = public_build_id(&html).unwrap();
        assert_eq!(public, format!("2026.9.6-release-x-{hash}"));
        assert_eq!(build_id_of(&public).as_deref(), Some("2026.9.6-release-x"));
        assert_eq!(build_id_of("dev-short"), None);
        assert_eq!(public_build_id("<html lang=\"en\">"), None);
        assert_eq!(
            public_build_id(&format!("<html {BUILD_ID_ATTRIBUTE}=\"a b\">")),
            None
        );
    }

    #[test]
    fn a_configured_root_without_an_app_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ControlUiOptions {
            enabled: true,
            root: Some(dir.path().to_owned()),
            base_path: String::new(),
        };
        assert_eq!(locate(&opts), Root::Invalid(dir.path().to_owned()));
        std::fs::write(dir.path().join("index.html"), "<html>").unwrap();
        let Root::Found(root) = locate(&opts) else {
            panic!("not found")
        };
        assert!(!root.bundled);
        assert_eq!(root.build_id, None);
        let off = ControlUiOptions {
            enabled: false,
            ..opts
        };
        assert_eq!(locate(&off), Root::Off);
    }
}
