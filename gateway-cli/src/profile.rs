//! The global `--profile <name>` / `--dev` flags, given before the command
//! (`openclaw --profile work gateway install`). Like the reference, they are
//! taken off argv and turned into environment (OPENCLAW_PROFILE,
//! OPENCLAW_STATE_DIR, OPENCLAW_CONFIG_PATH, and port 19001 for dev), so every
//! command derives its state dir, config, port and service names from them.

/// What the root scan found: the profile (if any) and argv without it.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    pub profile: Option<String>,
    pub rest: Vec<String>,
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Take the root flags that come before the first command word.
pub fn scan(args: &[String]) -> Result<Scanned, String> {
    let mut profile: Option<String> = None;
    let mut saw_dev = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--dev" {
            if profile.as_deref().is_some_and(|p| p != "dev") {
                return Err("Cannot combine --dev with --profile".into());
            }
            saw_dev = true;
            profile = Some("dev".into());
            i += 1;
        } else if arg == "--profile" || arg.starts_with("--profile=") {
            let (value, used) = match arg.strip_prefix("--profile=") {
                Some(v) => (Some(v.to_string()), 1),
                None => (args.get(i + 1).cloned(), 2),
            };
            if saw_dev {
                return Err("Cannot combine --dev with --profile".into());
            }
            let value = value.map(|v| v.trim().to_string()).unwrap_or_default();
            if value.is_empty() {
                return Err("--profile requires a value".into());
            }
            if !valid_name(&value) {
                return Err("Invalid --profile (use letters, numbers, \"_\", \"-\" only)".into());
            }
            profile = Some(value);
            i += used;
        } else {
            break;
        }
    }
    Ok(Scanned {
        profile,
        rest: args[i..].to_vec(),
    })
}

/// The state dir of a profile: `~/.openclaw` for `default`, else `~/.openclaw-<p>`.
pub fn profile_state_dir(profile: &str, home: &str) -> std::path::PathBuf {
    let home = std::path::Path::new(home);
    if profile.eq_ignore_ascii_case("default") {
        home.join(".openclaw")
    } else {
        home.join(format!(".openclaw-{profile}"))
    }
}

/// The environment changes a profile implies, given the current environment.
/// An explicit OPENCLAW_STATE_DIR / OPENCLAW_CONFIG_PATH still wins.
pub fn env_for(profile: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    let home = env("HOME").unwrap_or_else(|| "/".into());
    let mut out = vec![("OPENCLAW_PROFILE".to_string(), profile.to_string())];
    let state = match env("OPENCLAW_STATE_DIR").filter(|v| !v.trim().is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            let dir = profile_state_dir(profile, &home);
            out.push(("OPENCLAW_STATE_DIR".into(), dir.display().to_string()));
            dir
        }
    };
    if !set("OPENCLAW_CONFIG_PATH") {
        out.push((
            "OPENCLAW_CONFIG_PATH".into(),
            state.join("openclaw.json").display().to_string(),
        ));
    }
    if profile == "dev" && !set("OPENCLAW_GATEWAY_PORT") {
        out.push((
            "OPENCLAW_GATEWAY_PORT".into(),
            crate::settings::DEV_PORT.to_string(),
        ));
    }
    out
}

/// Scan argv and apply the profile to this process's environment. Called
/// first thing in main, before any thread exists.
pub fn apply(args: Vec<String>) -> Result<Vec<String>, String> {
    let scanned = scan(&args)?;
    if let Some(profile) = &scanned.profile {
        let env = |k: &str| std::env::var(k).ok();
        for (key, value) in env_for(profile, &env) {
            std::env::set_var(key, value);
        }
    }
    Ok(scanned.rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn root_flags_come_off_argv_and_later_ones_stay() {
        let s = scan(&args(&["--profile", "work", "gateway", "install"])).unwrap();
        assert_eq!(s.profile.as_deref(), Some("work"));
        assert_eq!(s.rest, args(&["gateway", "install"]));
        let s = scan(&args(&["--dev", "setup"])).unwrap();
        assert_eq!(s.profile.as_deref(), Some("dev"));
        // After the command word, --dev belongs to the command (`gateway --dev`).
        let s = scan(&args(&["gateway", "--dev"])).unwrap();
        assert_eq!(s.profile, None);
        assert_eq!(s.rest, args(&["gateway", "--dev"]));
        assert!(scan(&args(&["--dev", "--profile", "x", "setup"])).is_err());
        assert!(scan(&args(&["--profile", "../x", "setup"])).is_err());
        assert!(scan(&args(&["--profile"])).is_err());
    }

    #[test]
    fn profile_env_derives_state_config_and_dev_port() {
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        let got = env_for("dev", &env);
        assert_eq!(
            got,
            vec![
                ("OPENCLAW_PROFILE".into(), "dev".into()),
                ("OPENCLAW_STATE_DIR".into(), "/home/u/.openclaw-dev".into()),
                (
                    "OPENCLAW_CONFIG_PATH".into(),
                    "/home/u/.openclaw-dev/openclaw.json".into()
                ),
                ("OPENCLAW_GATEWAY_PORT".into(), "19001".into()),
            ]
        );
        let got = env_for("work", &env);
        assert_eq!(got.len(), 3);
    }
}
