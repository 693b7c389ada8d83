//! `openclaw doctor [--fix]`: audit the installed service, the config, the
//! permissions of state and secrets, the state store, the port and lingering;
//! `--fix` repairs what can be repaired without guessing (unit text, modes).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use argh::FromArgs;

use crate::service::{self, names, Env};

/// Check the setup and, with --fix, repair what is safe to repair.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "doctor")]
pub struct DoctorArgs {
    /// apply the safe repairs (rewrite the unit, tighten permissions)
    #[argh(switch)]
    pub fix: bool,
}

/// One finding: what is wrong, and the repair if one is safe.
struct Finding {
    problem: String,
    repair: Option<Repair>,
}

enum Repair {
    Chmod(PathBuf, u32),
    RewriteUnit(PathBuf, String),
}

impl Repair {
    fn apply(&self) -> Result<String, String> {
        match self {
            Repair::Chmod(path, mode) => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(format!("chmod {mode:o} {}", path.display()))
            }
            Repair::RewriteUnit(path, text) => {
                service::write_unit(path, text, false)?;
                // Best effort: make systemd see the new text.
                let _ = service::systemctl(true, &["daemon-reload"]);
                Ok(format!("rewrote {}", path.display()))
            }
        }
    }
}

fn mode_of(path: &Path) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// Group or other access on something that must be private to the user.
fn check_private(path: &Path, want: u32, out: &mut Vec<Finding>) {
    if let Some(mode) = mode_of(path) {
        if mode & 0o077 != 0 {
            out.push(Finding {
                problem: format!(
                    "{} is mode {mode:o}; it should be {want:o} (readable by you only)",
                    path.display()
                ),
                repair: Some(Repair::Chmod(path.to_path_buf(), want)),
            });
        }
    }
}

/// `user_version` of the store, opened read-only (doctor never migrates).
fn store_schema_version(path: &Path) -> Result<i64, rusqlite::Error> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

fn audit(env: Env, exe: &Path) -> (Vec<String>, Vec<Finding>) {
    let mut ok = Vec::new();
    let mut found = Vec::new();
    let state = service::state_dir(env);
    let config = service::config_path(env);
    let port = service::profile_port(env);

    // The unit, against what `gateway install` would write today.
    let unit = names::gateway_unit(service::profile(env).as_deref());
    let unit_path = service::unit_path(env, &unit, false);
    match std::fs::read_to_string(&unit_path) {
        Ok(installed) => match service::gateway_unit_text(env, exe, port, None) {
            Ok(expected) if expected == installed => {
                ok.push(format!("Service unit up to date: {}", unit_path.display()))
            }
            Ok(expected) => found.push(Finding {
                problem: format!(
                    "Service unit {} differs from what `openclaw gateway install` writes now",
                    unit_path.display()
                ),
                repair: Some(Repair::RewriteUnit(unit_path.clone(), expected)),
            }),
            Err(e) => found.push(Finding {
                problem: format!("Cannot render the service unit: {e}"),
                repair: None,
            }),
        },
        Err(_) => ok.push(format!(
            "Service not installed ({}); run: openclaw gateway install",
            unit_path.display()
        )),
    }

    // The config: parses, and every key is one we know.
    match std::fs::read_to_string(&config) {
        Ok(text) => match crate::config_file::parse(&text) {
            Ok(_) => {
                ok.push(format!("Config valid: {}", config.display()));
                // Keys the reference knows but this gateway does not use are
                // not errors (the reference may still read them): only say so.
                let unused = crate::config_file::unused_keys(&config);
                if !unused.is_empty() {
                    ok.push(format!(
                        "Config keys unused by this gateway: {}",
                        unused.join(", ")
                    ));
                }
            }
            Err(e) => found.push(Finding {
                problem: format!("Config {} does not parse: {e}", config.display()),
                repair: None,
            }),
        },
        Err(_) => ok.push(format!(
            "Config missing: {} (defaults apply)",
            config.display()
        )),
    }

    // Permissions: the state dir and the files that hold secrets.
    check_private(&state, 0o700, &mut found);
    check_private(&config, 0o600, &mut found);
    for secret in ["identity/device.json", "state/openclaw.sqlite"] {
        check_private(&state.join(secret), 0o600, &mut found);
    }

    // The state store: opens, and its schema is one we know.
    let store = state.join("state/openclaw.sqlite");
    if store.exists() {
        match store_schema_version(&store) {
            Ok(v) if v > gateway_smol::store::KNOWN_SCHEMA_VERSION => found.push(Finding {
                problem: format!(
                    "State store {} has schema {v}, newer than the {} this gateway knows",
                    store.display(),
                    gateway_smol::store::KNOWN_SCHEMA_VERSION
                ),
                repair: None,
            }),
            Ok(v) => ok.push(format!(
                "State store opens: {} (schema {v})",
                store.display()
            )),
            Err(e) => found.push(Finding {
                problem: format!("State store {} does not open: {e}", store.display()),
                repair: None,
            }),
        }
    }

    // The port: free, or held by something (ours if the probe says so).
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => ok.push(format!("Port {port} is free")),
        Err(_) => ok.push(format!(
            "Port {port} is in use (run `openclaw gateway status` to see whether it is this gateway)"
        )),
    }

    // Lingering: a user unit stops at logout without it.
    if unit_path.exists() {
        if let Some(hint) = service::linger_hint(&service::current_user(env)) {
            found.push(Finding {
                problem: hint,
                repair: None,
            });
        }
    }
    (ok, found)
}

pub fn run(args: DoctorArgs) -> i32 {
    let env = &|k: &str| std::env::var(k).ok();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find this binary's path: {e}");
            return 1;
        }
    };
    let (ok, found) = audit(env, &exe);
    for line in &ok {
        println!("ok: {line}");
    }
    let mut left = 0;
    for finding in &found {
        println!("problem: {}", finding.problem);
        match (&finding.repair, args.fix) {
            (Some(repair), true) => match repair.apply() {
                Ok(done) => println!("fixed: {done}"),
                Err(e) => {
                    println!("could not fix: {e}");
                    left += 1;
                }
            },
            (Some(_), false) => {
                println!("  (openclaw doctor --fix repairs this)");
                left += 1;
            }
            (None, _) => left += 1,
        }
    }
    if left == 0 {
        println!("Doctor: no problems left.");
        0
    } else {
        println!("Doctor: {left} problem(s) left.");
        1
    }
}
