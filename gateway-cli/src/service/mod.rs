//! `openclaw gateway install|uninstall|start|stop|restart|status` and
//! `openclaw node install`: one systemd user unit (or LaunchAgent on macOS)
//! per profile, pointing at this binary.

pub mod launchd;
pub mod names;
pub mod status;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::process::Command;

use argh::FromArgs;

pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Install the gateway as a service (systemd user unit; launchd on macOS).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "install")]
pub struct InstallArgs {
    /// port the service gateway listens on (default: the profile's port)
    #[argh(option)]
    pub port: Option<u16>,
    /// write a system unit (/etc/systemd/system, User=, multi-user.target)
    #[argh(switch)]
    pub system: bool,
    /// only write the unit; do not enable or start it
    #[argh(switch)]
    pub no_start: bool,
    /// reinstall (rewrite and restart) even when the unit is up to date
    #[argh(switch)]
    pub force: bool,
}

/// Stop, disable and remove the gateway service.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "uninstall")]
pub struct UninstallArgs {
    /// the system unit rather than the user unit
    #[argh(switch)]
    pub system: bool,
}

/// Start the gateway service.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "start")]
pub struct StartArgs {}

/// Stop the gateway service.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "stop")]
pub struct StopArgs {}

/// Restart the gateway service.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "restart")]
pub struct RestartArgs {}

/// Install the node host as a service (`openclaw-node`).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "install")]
pub struct NodeInstallArgs {
    /// gateway host (default 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    pub host: String,
    /// gateway port (default: the profile's port)
    #[argh(option)]
    pub port: Option<u16>,
    /// name shown for this node
    #[argh(option)]
    pub display_name: Option<String>,
    /// use TLS for the gateway connection (wss://)
    #[argh(switch)]
    pub tls: bool,
    /// force a plaintext gateway connection (written into the unit)
    #[argh(switch)]
    pub no_tls: bool,
    /// expected TLS certificate fingerprint (sha256); implies --tls
    #[argh(option)]
    pub tls_fingerprint: Option<String>,
    /// only write the unit; do not enable or start it
    #[argh(switch)]
    pub no_start: bool,
}

fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

pub fn home(env: Env) -> PathBuf {
    PathBuf::from(
        env("HOME")
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into()),
    )
}

pub fn profile(env: Env) -> Option<String> {
    names::profile_of(env("OPENCLAW_PROFILE").as_deref())
}

/// The gateway port of the current profile: OPENCLAW_GATEWAY_PORT, the
/// config's `gateway.port`, then 18789.
pub fn profile_port(env: Env) -> u16 {
    if let Some(p) = env("OPENCLAW_GATEWAY_PORT").and_then(|p| p.trim().parse().ok()) {
        return p;
    }
    let config = config_path(env);
    crate::config_file::load(&config)
        .ok()
        .and_then(|loaded| loaded.config().port)
        .unwrap_or(crate::settings::DEFAULT_PORT)
}

pub fn state_dir(env: Env) -> PathBuf {
    crate::settings::state_dir(&Default::default(), env)
        .unwrap_or_else(|_| home(env).join(".openclaw"))
}

pub fn config_path(env: Env) -> PathBuf {
    crate::settings::config_path(&state_dir(env), env)
}

/// Where a unit lives: the user's systemd dir, or /etc/systemd/system.
pub fn unit_path(env: Env, unit: &str, system: bool) -> PathBuf {
    let dir = if system {
        PathBuf::from("/etc/systemd/system")
    } else {
        home(env).join(".config/systemd/user")
    };
    dir.join(format!("{unit}.service"))
}

/// A PATH the service can live with: this binary's dir and the usual ones.
fn service_path(exe: &Path) -> String {
    let mut dirs: Vec<String> = Vec::new();
    if let Some(dir) = exe.parent() {
        dirs.push(dir.display().to_string());
    }
    for d in ["/usr/local/bin", "/usr/bin", "/bin"] {
        if !dirs.iter().any(|x| x == d) {
            dirs.push(d.into());
        }
    }
    dirs.join(":")
}

/// The environment the reference's gateway service gets, in its order. The
/// token is not among them: the gateway reads it from its config, so it stays
/// out of a world-readable unit file.
pub fn gateway_environment(env: Env, exe: &Path, port: u16) -> Vec<(String, String)> {
    let profile = profile(env);
    let unit = names::gateway_unit(profile.as_deref());
    let get = |k: &str| env(k).unwrap_or_default();
    vec![
        ("HOME".into(), get("HOME")),
        ("TMPDIR".into(), get("TMPDIR")),
        ("OPENCLAW_STATE_DIR".into(), get("OPENCLAW_STATE_DIR")),
        ("OPENCLAW_CONFIG_PATH".into(), get("OPENCLAW_CONFIG_PATH")),
        ("PATH".into(), service_path(exe)),
        ("OPENCLAW_PROFILE".into(), get("OPENCLAW_PROFILE")),
        ("OPENCLAW_GATEWAY_PORT".into(), port.to_string()),
        ("OPENCLAW_SYSTEMD_UNIT".into(), format!("{unit}.service")),
        (
            "OPENCLAW_WINDOWS_TASK_NAME".into(),
            names::gateway_windows_task(profile.as_deref()),
        ),
        ("OPENCLAW_WINDOWS_TASK_HIDDEN_LAUNCHER".into(), "1".into()),
        ("OPENCLAW_SERVICE_MARKER".into(), "openclaw".into()),
        ("OPENCLAW_SERVICE_KIND".into(), "gateway".into()),
    ]
}

/// The unit `gateway install` writes for this environment.
pub fn gateway_unit_text(
    env: Env,
    exe: &Path,
    port: u16,
    system_user: Option<String>,
) -> Result<String, String> {
    let profile = profile(env);
    let spec = systemd::UnitSpec {
        description: names::gateway_description(profile.as_deref()),
        program: vec![
            exe.display().to_string(),
            "gateway".into(),
            "--port".into(),
            port.to_string(),
        ],
        environment: gateway_environment(env, exe, port),
        system_user,
    };
    systemd::render(&spec).map_err(|e| e.to_string())
}

/// The LaunchAgent `gateway install` writes on macOS.
pub fn gateway_plist_text(env: Env, exe: &Path, port: u16) -> String {
    let profile = profile(env);
    let logs = state_dir(env).join("logs");
    let mut environment = gateway_environment(env, exe, port);
    environment.retain(|(k, _)| k != "OPENCLAW_SYSTEMD_UNIT");
    environment.push((
        "OPENCLAW_LAUNCHD_LABEL".into(),
        names::gateway_launchd_label(profile.as_deref()),
    ));
    launchd::render(&launchd::PlistSpec {
        label: names::gateway_launchd_label(profile.as_deref()),
        comment: names::gateway_description(profile.as_deref()),
        program: vec![
            exe.display().to_string(),
            "gateway".into(),
            "--port".into(),
            port.to_string(),
        ],
        stdout_path: logs.join("gateway.log").display().to_string(),
        stderr_path: logs.join("gateway.err.log").display().to_string(),
        environment,
    })
}

/// The node host's unit. Unlike the gateway's, it carries the gateway token
/// (the node has no config of its own to read it from), as the reference does.
pub fn node_unit_text(
    env: Env,
    exe: &Path,
    args: &NodeInstallArgs,
    port: u16,
) -> Result<String, String> {
    let mut program = vec![
        exe.display().to_string(),
        "node".into(),
        "run".into(),
        "--host".into(),
        args.host.clone(),
        "--port".into(),
        port.to_string(),
    ];
    // The reference's order: --no-tls or --tls, --tls-fingerprint, then the name.
    if args.no_tls && args.tls_fingerprint.is_some() {
        return Err("--no-tls cannot be combined with --tls-fingerprint".into());
    }
    if args.no_tls {
        program.push("--no-tls".into());
    } else if args.tls || args.tls_fingerprint.is_some() {
        program.push("--tls".into());
    }
    if let Some(fingerprint) = &args.tls_fingerprint {
        program.push("--tls-fingerprint".into());
        program.push(fingerprint.clone());
    }
    if let Some(name) = &args.display_name {
        program.push("--display-name".into());
        program.push(name.clone());
    }
    let get = |k: &str| env(k).unwrap_or_default();
    let environment = vec![
        ("HOME".into(), get("HOME")),
        ("TMPDIR".into(), get("TMPDIR")),
        ("OPENCLAW_STATE_DIR".into(), get("OPENCLAW_STATE_DIR")),
        ("OPENCLAW_CONFIG_PATH".into(), get("OPENCLAW_CONFIG_PATH")),
        ("PATH".into(), service_path(exe)),
        (
            "OPENCLAW_GATEWAY_TOKEN".into(),
            get("OPENCLAW_GATEWAY_TOKEN"),
        ),
        (
            "OPENCLAW_GATEWAY_PASSWORD".into(),
            get("OPENCLAW_GATEWAY_PASSWORD"),
        ),
        ("OPENCLAW_SERVICE_MARKER".into(), "openclaw".into()),
        ("OPENCLAW_SERVICE_KIND".into(), "node".into()),
    ];
    systemd::render(&systemd::UnitSpec {
        description: names::NODE_DESCRIPTION.into(),
        program,
        environment,
        system_user: None,
    })
    .map_err(|e| e.to_string())
}

fn current_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot find this binary's path: {e}"))
}

/// What a unit runs: this binary, on the port asked for (else the
/// profile's); `None` (the reason printed) when the binary's path is unknown.
fn exe_and_port(env: Env, port: Option<u16>) -> Option<(PathBuf, u16)> {
    match current_exe() {
        Ok(exe) => Some((exe, port.unwrap_or_else(|| profile_port(env)))),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

pub fn current_user(env: Env) -> String {
    env("USER")
        .filter(|u| !u.is_empty())
        .or_else(|| {
            let out = Command::new("id").arg("-un").output().ok()?;
            Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "root".into())
}

/// Run `systemctl [--user] <args>`; the error is its stderr (or why it could not run).
pub fn systemctl(user: bool, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("systemctl");
    if user {
        cmd.arg("--user");
    }
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("systemctl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(if err.is_empty() {
            format!("systemctl {} exited with {}", args.join(" "), out.status)
        } else {
            err
        })
    }
}

/// `Some(hint)` when the user's units would stop at logout (no lingering).
pub fn linger_hint(user: &str) -> Option<String> {
    let out = Command::new("loginctl")
        .args(["show-user", user, "-p", "Linger"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim() == "Linger=yes" {
        return None;
    }
    Some(linger_message(user))
}

pub fn linger_message(user: &str) -> String {
    format!("Systemd lingering is disabled for {user}. Run: sudo loginctl enable-linger {user}")
}

/// Write a unit (0644: systemd and the user read it; it holds no gateway secret
/// unless it is the node's, which is then 0600).
pub fn write_unit(path: &Path, text: &str, private: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = if private { 0o600 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn enable_and_start(unit: &str, user: bool) {
    let steps: [&[&str]; 2] = [&["daemon-reload"], &["enable", "--now", unit]];
    for step in steps {
        if let Err(e) = systemctl(user, step) {
            eprintln!(
                "Could not run systemctl{} {}: {e}",
                if user { " --user" } else { "" },
                step.join(" ")
            );
            eprintln!("The unit is written; start it once systemd is available.");
            return;
        }
    }
    println!("Started {unit}.service");
}

pub fn run_install(args: InstallArgs) -> i32 {
    let env = &process_env;
    let Some((exe, port)) = exe_and_port(env, args.port) else {
        return 1;
    };
    let profile = profile(env);
    if cfg!(target_os = "macos") {
        let label = names::gateway_launchd_label(profile.as_deref());
        let path = home(env).join(format!("Library/LaunchAgents/{label}.plist"));
        let text = gateway_plist_text(env, &exe, port);
        return match write_unit(&path, &text, false) {
            Ok(()) => {
                println!("Installed LaunchAgent: {}", path.display());
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        };
    }
    let unit = names::gateway_unit(profile.as_deref());
    let system_user = args.system.then(|| current_user(env));
    let text = match gateway_unit_text(env, &exe, port, system_user) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let path = unit_path(env, &unit, args.system);
    // Like the reference: an up-to-date unit is left alone unless --force;
    // an outdated one is rewritten either way.
    if !args.force && std::fs::read_to_string(&path).is_ok_and(|current| current == text) {
        println!("Gateway service already enabled.");
        println!("Reinstall with: openclaw gateway install --force");
        return 0;
    }
    if let Err(e) = write_unit(&path, &text, false) {
        eprintln!("{e}");
        return 1;
    }
    println!("Installed systemd service: {}", path.display());
    if !args.system {
        if let Some(hint) = linger_hint(&current_user(env)) {
            println!("{hint}");
        }
    }
    if !args.no_start {
        enable_and_start(&unit, !args.system);
    }
    0
}

pub fn run_node_install(args: NodeInstallArgs) -> i32 {
    let env = &process_env;
    let Some((exe, port)) = exe_and_port(env, args.port) else {
        return 1;
    };
    let text = match node_unit_text(env, &exe, &args, port) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let path = unit_path(env, names::NODE_UNIT, false);
    // The node unit may hold the gateway token: readable by its owner only.
    if let Err(e) = write_unit(&path, &text, true) {
        eprintln!("{e}");
        return 1;
    }
    println!("Installed systemd service: {}", path.display());
    if !args.no_start {
        enable_and_start(names::NODE_UNIT, true);
    }
    0
}

pub fn run_uninstall(args: UninstallArgs) -> i32 {
    let env = &process_env;
    let unit = names::gateway_unit(profile(env).as_deref());
    let path = unit_path(env, &unit, args.system);
    // Stopping may fail when systemd is not reachable; removing the file is what matters.
    let _ = systemctl(
        !args.system,
        &["disable", "--now", &format!("{unit}.service")],
    );
    match std::fs::remove_file(&path) {
        Ok(()) => {
            let _ = systemctl(!args.system, &["daemon-reload"]);
            println!("Removed systemd service: {}", path.display());
            0
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("Gateway service not installed ({})", path.display());
            0
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            1
        }
    }
}

/// start / stop / restart through `systemctl --user`.
pub fn run_control(verb: &str) -> i32 {
    let env = &process_env;
    let unit = format!("{}.service", names::gateway_unit(profile(env).as_deref()));
    if !unit_path(env, &unit.replace(".service", ""), false).exists() {
        eprintln!("Gateway service not installed. Run: openclaw gateway install");
        return 1;
    }
    match systemctl(true, &[verb, &unit]) {
        Ok(_) => {
            let done = match verb {
                "start" => "Started",
                "stop" => "Stopped",
                _ => "Restarted",
            };
            println!("{done} {unit}");
            0
        }
        Err(e) => {
            eprintln!("systemctl --user {verb} {unit} failed: {e}");
            1
        }
    }
}

#[cfg(test)]
mod golden_tests;
