//! The environment a `system.run` child gets, filtered as the reference
//! node host filters it (`src/infra/host-env-security*.ts`, 2026.9.6):
//!
//! - the node host's own environment is inherited, minus variables that can
//!   make an innocent program run something else (`NODE_OPTIONS`, `LD_*`,
//!   `BASH_ENV`, compilers, editors, ...);
//! - the caller's `env` overrides are checked first: a blocked or
//!   non-portable key refuses the whole command (the caller learns which),
//!   and `PATH` can never be overridden;
//! - when the command is a shell wrapper (`sh -c …`), only terminal and
//!   locale overrides are kept (the shell text could use anything else);
//! - `OPENCLAW_CLI=1` marks the child as started by OpenClaw.

use std::collections::BTreeMap;

use serde_json::Value;

/// Dangerous wherever they come from (inherited or overridden).
#[rustfmt::skip]
const BLOCKED_EVERYWHERE: &[&str] = &[
    "NODE_OPTIONS", "NODE_PATH", "NODE_REDIRECT_WARNINGS", "NODE_REPL_EXTERNAL_MODULE",
    "NODE_REPL_HISTORY", "NODE_V8_COVERAGE", "PYTHONHOME", "PYTHONPATH", "PERL5LIB", "PERL5OPT",
    "RUBYLIB", "RUBYOPT", "BASHOPTS", "BASH_ENV", "ENV", "KSH_ENV", "BROWSER",
    "GIT_ALLOW_PROTOCOL", "GIT_EDITOR", "GIT_EXTERNAL_DIFF", "GIT_DIR", "GIT_WORK_TREE",
    "GIT_COMMON_DIR", "GIT_EXEC_PATH", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PROTOCOL_FROM_USER",
    "GIT_SEQUENCE_EDITOR", "GIT_TEMPLATE_DIR", "GIT_SSL_NO_VERIFY", "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH", "CC", "CPP", "CXX", "CXXCPP", "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_RUSTDOC",
    "RUSTC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTDOC", "CMAKE_C_COMPILER",
    "CMAKE_CXX_COMPILER", "SHELL", "SHELLOPTS", "PS4", "GCONV_PATH", "IFS", "SSLKEYLOGFILE",
    "JAVA_OPTS", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "PYTHONBREAKPOINT",
    "DOTNET_STARTUP_HOOKS", "DOTNET_ADDITIONAL_DEPS", "FPATH", "GLIBC_TUNABLES", "MAVEN_OPTS",
    "MAKE", "MAKEFLAGS", "MFLAGS", "SBT_OPTS", "GRADLE_OPTS", "ANT_OPTS", "HGRCPATH", "HGEDITOR",
    "HGMERGE", "EXINIT", "VIMINIT", "MYVIMRC", "GVIMINIT", "LUA_INIT", "LUA_INIT_5_1",
    "LUA_INIT_5_2", "LUA_INIT_5_3", "LUA_INIT_5_4", "EMACSLOADPATH", "RUBYSHELL",
    "GIT_HOOK_PATH", "SVN_EDITOR", "SVN_SSH", "BZR_EDITOR", "BZR_SSH", "BZR_PLUGIN_PATH",
    "SUDO_ASKPASS", "JULIA_EDITOR", "CONFIG_SITE", "CONFIG_SHELL", "CMAKE_TOOLCHAIN_FILE",
    "CATALINA_OPTS", "CORECLR_PROFILER", "HELM_PLUGINS", "PACKER_PLUGIN_PATH",
    "VAGRANT_VAGRANTFILE", "ERL_AFLAGS", "ERL_FLAGS", "ERL_ZFLAGS", "ELIXIR_ERL_OPTIONS",
    "R_ENVIRON", "R_PROFILE", "R_ENVIRON_USER", "R_PROFILE_USER", "TCLLIBPATH", "HOSTALIASES",
];

/// Refused as overrides; inherited ones are dropped too unless listed in
/// [`INHERITED_ALLOWED`] (the user's own `HOME`, proxies, ... stay).
#[rustfmt::skip]
const BLOCKED_OVERRIDE: &[&str] = &[
    "HOME", "GRADLE_USER_HOME", "ZDOTDIR", "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR",
    "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE", "GIT_SSH_COMMAND", "GIT_SSH", "GIT_PROXY_COMMAND", "GIT_ASKPASS",
    "GIT_SSL_NO_VERIFY", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSH_ASKPASS", "LESSOPEN",
    "LESSCLOSE", "PAGER", "MANPAGER", "GIT_PAGER", "EDITOR", "VISUAL", "FCEDIT", "SUDO_EDITOR",
    "PROMPT_COMMAND", "HISTFILE", "PERL5DB", "PERL5DBCMD", "OPENSSL_CONF", "OPENSSL_ENGINES",
    "PYTHONSTARTUP", "WGETRC", "CURL_HOME", "CLASSPATH", "CFLAGS", "CGO_CFLAGS", "CGO_LDFLAGS",
    "GOFLAGS", "MAKEFLAGS", "MFLAGS", "CORECLR_PROFILER_PATH", "PHPRC", "PHP_INI_SCAN_DIR",
    "DENO_DIR", "BUN_CONFIG_REGISTRY", "YARN_RC_FILENAME", "HTTP_PROXY", "HTTPS_PROXY",
    "ALL_PROXY", "NO_PROXY", "NODE_TLS_REJECT_UNAUTHORIZED", "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "DOCKER_HOST",
    "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "PIP_INDEX_URL", "PIP_PYPI_URL",
    "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST", "UV_INDEX",
    "UV_INDEX_URL", "UV_PYTHON", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "DOCKER_CONTEXT",
    "LIBRARY_PATH", "LDFLAGS", "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH", "GOPROXY", "GONOSUMCHECK", "GONOSUMDB", "GONOPROXY", "GOPRIVATE",
    "GOENV", "GOPATH", "HGRCPATH", "PYTHONUSERBASE", "RUSTC_WRAPPER", "RUSTFLAGS",
    "RUSTUP_DIST_ROOT", "RUSTUP_DIST_SERVER", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN",
    "RUSTUP_UPDATE_ROOT", "CARGO_HOME", "VIRTUAL_ENV", "LUA_PATH", "LUA_CPATH", "GEM_HOME",
    "GEM_PATH", "BUNDLE_GEMFILE", "COMPOSER_HOME", "CONDA_DEFAULT_ENV", "CONDA_PREFIX",
    "CARGO_BUILD_RUSTC_WRAPPER", "XDG_CACHE_HOME", "XDG_CONFIG_DIRS", "XDG_CONFIG_HOME",
    "XDG_DATA_DIRS", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "AWS_CONFIG_FILE",
    "KUBECONFIG", "GOOGLE_APPLICATION_CREDENTIALS", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AZURE_AUTH_LOCATION", "HELM_HOME", "ANSIBLE_CONFIG",
    "ANSIBLE_LIBRARY", "ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_COLLECTIONS_PATH",
    "ANSIBLE_CONNECTION_PLUGINS", "ANSIBLE_FILTER_PLUGINS", "ANSIBLE_INVENTORY_PLUGINS",
    "ANSIBLE_LOOKUP_PLUGINS", "ANSIBLE_MODULE_UTILS", "ANSIBLE_REMOTE_TEMP",
    "ANSIBLE_ROLES_PATH", "ANSIBLE_STRATEGY_PLUGINS", "R_LIBS_USER", "TF_CLI_CONFIG_FILE",
    "TF_PLUGIN_CACHE_DIR", "AMQP_URL", "AWS_ACCESS_KEY_ID", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
    "AWS_SESSION_TOKEN", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "DATABASE_URL", "GH_TOKEN",
    "GITHUB_TOKEN", "GITLAB_TOKEN", "MONGODB_URI", "NODE_AUTH_TOKEN", "NPM_TOKEN", "REDIS_URL",
    "SSH_AUTH_SOCK", "SYSTEMROOT", "WINDIR",
];

/// Override-only keys a child may still inherit from the node host.
#[rustfmt::skip]
const INHERITED_ALLOWED: &[&str] = &[
    "ALL_PROXY", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZURE_AUTH_LOCATION", "CURL_CA_BUNDLE", "DOCKER_CERT_PATH", "DOCKER_CONTEXT", "DOCKER_HOST",
    "DOCKER_TLS_VERIFY", "GIT_PAGER", "GOOGLE_APPLICATION_CREDENTIALS", "GRADLE_USER_HOME",
    "HISTFILE", "HOME", "HTTPS_PROXY", "HTTP_PROXY", "KUBECONFIG", "MANPAGER",
    "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED", "NO_PROXY", "PAGER",
    "REQUESTS_CA_BUNDLE", "RUSTUP_DIST_ROOT", "RUSTUP_DIST_SERVER", "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN", "RUSTUP_UPDATE_ROOT", "SSH_AUTH_SOCK", "SSL_CERT_DIR", "SSL_CERT_FILE",
    "SYSTEMROOT", "WINDIR", "XDG_CACHE_HOME", "XDG_CONFIG_DIRS", "XDG_CONFIG_HOME",
    "XDG_DATA_DIRS", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "ZDOTDIR",
];

/// Prefixes dangerous everywhere.
const BLOCKED_PREFIXES: &[&str] = &["DYLD_", "LD_", "BASH_FUNC_"];
/// Prefixes refused as overrides only.
const BLOCKED_OVERRIDE_PREFIXES: &[&str] =
    &["GIT_CONFIG_", "NPM_CONFIG_", "CARGO_REGISTRIES_", "TF_VAR_"];

/// The overrides a shell wrapper keeps (plus every `LC_*`).
#[rustfmt::skip]
const SHELL_WRAPPER_ALLOWED: &[&str] = &[
    "TERM", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "COLORTERM", "NO_COLOR", "FORCE_COLOR",
    "OPENCLAW_SUBAGENT_EXEC",
];

/// Git transports an inherited `GIT_ALLOW_PROTOCOL` may keep.
const GIT_SAFE_PROTOCOLS: &[&str] = &["git", "http", "https", "ssh"];

/// Set on every child: started by OpenClaw.
pub const CLI_MARKER: (&str, &str) = ("OPENCLAW_CLI", "1");

fn is_portable_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Portable, or the Windows form with parentheses (`ProgramFiles(x86)`).
fn is_override_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == ')')
}

fn listed(list: &[&str], upper: &str) -> bool {
    list.contains(&upper)
}

fn prefixed(prefixes: &[&str], upper: &str) -> bool {
    prefixes.iter().any(|p| upper.starts_with(p))
}

fn dangerous_everywhere(upper: &str) -> bool {
    listed(BLOCKED_EVERYWHERE, upper) || prefixed(BLOCKED_PREFIXES, upper)
}

fn dangerous_override(upper: &str) -> bool {
    listed(BLOCKED_OVERRIDE, upper)
        || prefixed(BLOCKED_OVERRIDE_PREFIXES, upper)
        || is_cargo_target_runner(upper)
}

/// `CARGO_TARGET_<triple>_LINKER` / `_RUNNER`: a program cargo would run.
fn is_cargo_target_runner(upper: &str) -> bool {
    let Some(rest) = upper.strip_prefix("CARGO_TARGET_") else {
        return false;
    };
    ["_LINKER", "_RUNNER"].iter().any(|suffix| {
        rest.strip_suffix(suffix).is_some_and(|triple| {
            !triple.is_empty()
                && triple
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
    })
}

fn dangerous_inherited(upper: &str) -> bool {
    dangerous_everywhere(upper)
        || (listed(BLOCKED_OVERRIDE, upper) && !listed(INHERITED_ALLOWED, upper))
}

/// `GIT_PAGER=` / `PAGER=cat`: turning the pager off is always allowed.
fn is_no_pager(upper: &str, value: &str) -> bool {
    (upper == "GIT_PAGER" || upper == "PAGER") && (value.is_empty() || value == "cat")
}

/// One inherited variable as the child sees it (`None`: dropped).
fn inherited(key: &str, value: &str) -> Option<(String, String)> {
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    let upper = key.to_ascii_uppercase();
    if upper == "GIT_ALLOW_PROTOCOL" {
        let safe: Vec<&str> = value
            .trim()
            .split(':')
            .filter(|p| GIT_SAFE_PROTOCOLS.contains(p))
            .collect();
        return Some((key.to_owned(), safe.join(":")));
    }
    if upper == "GIT_PROTOCOL_FROM_USER" {
        return Some((key.to_owned(), git_protocol_from_user(value)));
    }
    if dangerous_inherited(&upper) {
        return None;
    }
    Some((key.to_owned(), value.to_owned()))
}

/// A permissive `GIT_PROTOCOL_FROM_USER` (true/yes/on or a non-zero number) becomes "0".
fn git_protocol_from_user(value: &str) -> String {
    let v = value.trim().to_ascii_lowercase();
    let digits = v.strip_prefix(['+', '-']).unwrap_or(&v);
    let nonzero_number = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits.chars().any(|c| c != '0');
    if matches!(v.as_str(), "true" | "yes" | "on") || nonzero_number {
        "0".to_owned()
    } else {
        value.to_owned()
    }
}

/// The caller's overrides after the checks: accepted ones, and the keys
/// refused (sorted, deduplicated) as blocked or as not portable.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub accepted: BTreeMap<String, String>,
    pub blocked: Vec<String>,
    pub invalid: Vec<String>,
}

impl Overrides {
    /// The refusal message when any key was refused.
    pub fn rejection(&self) -> Option<String> {
        let mut details = Vec::new();
        if !self.blocked.is_empty() {
            details.push(format!(
                "blocked override keys: {}",
                self.blocked.join(", ")
            ));
        }
        if !self.invalid.is_empty() {
            details.push(format!(
                "invalid non-portable override keys: {}",
                self.invalid.join(", ")
            ));
        }
        (!details.is_empty()).then(|| {
            format!(
                "SYSTEM_RUN_DENIED: environment override rejected ({})",
                details.join("; ")
            )
        })
    }
}

/// Check `system.run`'s `env` (a JSON object; non-string values are ignored).
pub fn check_overrides(env: Option<&Value>) -> Overrides {
    let mut out = Overrides::default();
    let Some(map) = env.and_then(Value::as_object) else {
        return out;
    };
    for (raw_key, value) in map {
        let Some(value) = value.as_str() else {
            continue;
        };
        let key = raw_key.trim();
        if key.is_empty() || !is_override_key(key) {
            out.invalid.push(if key.is_empty() {
                raw_key.clone()
            } else {
                key.to_owned()
            });
            continue;
        }
        let upper = key.to_ascii_uppercase();
        if upper == "PATH" {
            out.blocked.push(upper);
        } else if is_no_pager(&upper, value) {
            out.accepted.insert(key.to_owned(), String::new());
        } else if dangerous_everywhere(&upper) || dangerous_override(&upper) {
            out.blocked.push(upper);
        } else {
            out.accepted.insert(key.to_owned(), value.to_owned());
        }
    }
    for list in [&mut out.blocked, &mut out.invalid] {
        list.sort();
        list.dedup();
    }
    out
}

/// Overrides for a shell wrapper: only terminal and locale settings (and
/// pager-off) survive; the shell text could make use of anything else.
pub fn for_shell_wrapper(accepted: BTreeMap<String, String>) -> BTreeMap<String, String> {
    accepted
        .into_iter()
        .filter(|(key, _)| is_portable_key(key))
        .filter_map(|(key, value)| {
            let upper = key.to_ascii_uppercase();
            if is_no_pager(&upper, &value) {
                Some((key, String::new()))
            } else if listed(SHELL_WRAPPER_ALLOWED, &upper) || upper.starts_with("LC_") {
                Some((key, value))
            } else {
                None
            }
        })
        .collect()
}

/// The child's whole environment: `base` (the node host's own) filtered,
/// then the accepted overrides, then the OpenClaw marker.
pub fn child_env<'a>(
    base: impl IntoIterator<Item = (&'a str, &'a str)>,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = base
        .into_iter()
        .filter_map(|(k, v)| inherited(k, v))
        .collect();
    env.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.insert(CLI_MARKER.0.to_owned(), CLI_MARKER.1.to_owned());
    env
}

/// The node host's own environment, as UTF-8 pairs (others are skipped).
pub fn own_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// `env A=1 B=2 cmd …`: the keys such a dispatch wrapper would set, which
/// must pass the same checks as `env` overrides.
pub fn dispatch_wrapper_assignments(argv: &[String]) -> Vec<String> {
    let Some(first) = argv.first() else {
        return Vec::new();
    };
    if base_name(first) != "env" {
        return Vec::new();
    }
    argv[1..]
        .iter()
        .skip_while(|a| a.starts_with('-'))
        .map_while(|a| a.split_once('=').map(|(k, _)| k.to_owned()))
        .filter(|k| !k.is_empty())
        .collect()
}

/// Lower-cased file name of an executable token, without `.exe`.
pub fn base_name(token: &str) -> String {
    let name = token
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(token)
        .to_ascii_lowercase();
    name.strip_suffix(".exe").map(str::to_owned).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dangerous_inherited_variables_are_dropped_and_the_marker_added() {
        let base = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("NODE_OPTIONS", "--require x"),
            ("LD_PRELOAD", "/evil.so"),
            ("DYLD_INSERT_LIBRARIES", "x"),
            ("BASH_FUNC_foo%%", "() { :; }"),
            ("EDITOR", "vim"),
            ("HTTP_PROXY", "http://p"),
            ("GIT_ALLOW_PROTOCOL", "ext:https:file:ssh"),
            ("GIT_PROTOCOL_FROM_USER", "1"),
            ("LANG", "C.UTF-8"),
        ];
        let env = child_env(base, &BTreeMap::new());
        assert_eq!(env["PATH"], "/usr/bin");
        assert_eq!(env["HOME"], "/home/u", "HOME is an allowed inherited key");
        assert_eq!(env["HTTP_PROXY"], "http://p");
        assert_eq!(env["LANG"], "C.UTF-8");
        for gone in [
            "NODE_OPTIONS",
            "LD_PRELOAD",
            "DYLD_INSERT_LIBRARIES",
            "BASH_FUNC_foo%%",
            "EDITOR",
        ] {
            assert!(!env.contains_key(gone), "{gone} must not be inherited");
        }
        assert_eq!(env["GIT_ALLOW_PROTOCOL"], "https:ssh");
        assert_eq!(env["GIT_PROTOCOL_FROM_USER"], "0");
        assert_eq!(env["OPENCLAW_CLI"], "1");
    }

    #[test]
    fn overrides_refuse_path_dangerous_and_non_portable_keys() {
        let env = json!({
            "PATH": "/tmp", "LD_PRELOAD": "x", "HOME": "/tmp", "GIT_CONFIG_COUNT": "1",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER": "x", "bad-key": "1",
            "FOO": "bar", "PAGER": "cat", "N": 1
        });
        let checked = check_overrides(Some(&env));
        assert_eq!(
            checked.blocked,
            [
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
                "GIT_CONFIG_COUNT",
                "HOME",
                "LD_PRELOAD",
                "PATH"
            ]
        );
        assert_eq!(checked.invalid, ["bad-key"]);
        assert_eq!(checked.accepted.get("FOO").map(String::as_str), Some("bar"));
        assert_eq!(checked.accepted.get("PAGER").map(String::as_str), Some(""));
        assert!(
            !checked.accepted.contains_key("N"),
            "non-strings are ignored"
        );
        assert_eq!(
            checked.rejection().unwrap(),
            "SYSTEM_RUN_DENIED: environment override rejected (blocked override keys: \
             CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER, GIT_CONFIG_COUNT, HOME, LD_PRELOAD, PATH; \
             invalid non-portable override keys: bad-key)"
        );
        assert_eq!(
            check_overrides(Some(&json!({"FOO": "1"}))).rejection(),
            None
        );
    }

    #[test]
    fn a_shell_wrapper_keeps_only_terminal_and_locale_overrides() {
        let accepted: BTreeMap<String, String> = [
            ("TERM", "xterm"),
            ("LC_TIME", "C"),
            ("FOO", "bar"),
            ("NO_COLOR", "1"),
            ("GIT_PAGER", "cat"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let kept = for_shell_wrapper(accepted);
        let keys: Vec<&str> = kept.keys().map(String::as_str).collect();
        assert_eq!(keys, ["GIT_PAGER", "LC_TIME", "NO_COLOR", "TERM"]);
        assert_eq!(kept["GIT_PAGER"], "");
    }

    #[test]
    fn env_wrapper_assignments_are_found() {
        let argv: Vec<String> = ["/usr/bin/env", "-i", "LD_PRELOAD=x", "A=1", "ls", "B=2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(dispatch_wrapper_assignments(&argv), ["LD_PRELOAD", "A"]);
        assert!(dispatch_wrapper_assignments(&["ls".to_owned()]).is_empty());
    }
}
