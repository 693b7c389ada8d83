//! Services, profiles and doctor of OUR binary, each run under a temp HOME
//! (never the machine's real ~/.config): the global `--profile` / `--dev`
//! flags derive state dir, config, port and unit names; `doctor --fix`
//! repairs a loose permission and a drifted unit; two profiles serve side by
//! side; and, where `systemctl --user` works, a real unit starts and stops.

// Real processes in real time.
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::process::our_binary;

/// Our binary with HOME = `home` and no inherited state/config/port overrides,
/// so the profile flags alone decide where things go.
fn openclaw(home: &Path) -> Command {
    let mut cmd = Command::new(our_binary());
    cmd.env("HOME", home)
        .env("OPENCLAW_LOG_FILE", home.join("openclaw.log"))
        .stdin(Stdio::null());
    for key in [
        "OPENCLAW_STATE_DIR",
        "OPENCLAW_CONFIG_PATH",
        "OPENCLAW_GATEWAY_PORT",
        "OPENCLAW_PROFILE",
        "OPENCLAW_GATEWAY_TOKEN",
        "OPENCLAW_GATEWAY_PASSWORD",
        "OPENCLAW_GATEWAY_URL",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

fn run(home: &Path, args: &[&str]) -> (i32, String) {
    let out = openclaw(home).args(args).output().expect("run openclaw");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn profile_and_dev_flags_place_state_config_and_units() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let (code, out) = run(home, &["--dev", "setup"]);
    assert_eq!(code, 0, "{out}");
    let dev = home.join(".openclaw-dev");
    let config = std::fs::read_to_string(dev.join("openclaw.json")).unwrap();
    assert!(config.contains("\"port\": 19001"), "{config}");
    assert!(config.contains("\"token\": \""), "{config}");
    assert_eq!(mode(&dev), 0o700);
    assert_eq!(mode(&dev.join("openclaw.json")), 0o600);

    for (flags, unit, port) in [
        (vec![], "openclaw-gateway.service", "18789"),
        (
            vec!["--profile", "work"],
            "openclaw-gateway-work.service",
            "18789",
        ),
        (vec!["--dev"], "openclaw-gateway-dev.service", "19001"),
    ] {
        let mut args = flags.clone();
        args.extend(["gateway", "install", "--no-start"]);
        let (code, out) = run(home, &args);
        assert_eq!(code, 0, "{out}");
        let text = std::fs::read_to_string(home.join(".config/systemd/user").join(unit)).unwrap();
        assert!(
            text.contains(&format!(" gateway --port {port}\n")),
            "{unit}: {text}"
        );
        assert!(text.contains(&format!("OPENCLAW_SYSTEMD_UNIT={unit}")));
        assert!(text.contains("RestartPreventExitStatus=78"));
        // The gateway reads its token from its config; none goes into the unit.
        assert!(!text.contains("OPENCLAW_GATEWAY_TOKEN"));
    }
    let (code, out) = run(home, &["--dev", "--profile", "x", "setup"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Cannot combine --dev with --profile"), "{out}");

    let (code, out) = run(home, &["--profile", "work", "gateway", "uninstall"]);
    assert_eq!(code, 0, "{out}");
    assert!(!home
        .join(".config/systemd/user/openclaw-gateway-work.service")
        .exists());
}

#[test]
fn doctor_finds_and_fixes_a_loose_state_dir_and_a_drifted_unit() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    assert_eq!(run(home, &["--profile", "doc", "setup"]).0, 0);
    assert_eq!(
        run(
            home,
            &["--profile", "doc", "gateway", "install", "--no-start"]
        )
        .0,
        0
    );
    let state = home.join(".openclaw-doc");
    let unit = home.join(".config/systemd/user/openclaw-gateway-doc.service");
    let written = std::fs::read_to_string(&unit).unwrap();

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&unit, written.replace("RestartSec=5", "RestartSec=50")).unwrap();

    let (code, out) = run(home, &["--profile", "doc", "doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is mode 755; it should be 700"), "{out}");
    assert!(
        out.contains("differs from what `openclaw gateway install` writes now"),
        "{out}"
    );
    assert_eq!(mode(&state), 0o755, "doctor without --fix changes nothing");

    let (code, out) = run(home, &["--profile", "doc", "doctor", "--fix"]);
    assert!(
        out.contains(&format!("fixed: chmod 700 {}", state.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("fixed: rewrote {}", unit.display())),
        "{out}"
    );
    assert_eq!(mode(&state), 0o700);
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), written);
    // Only lingering (machine-wide, not ours to change) may remain.
    assert!(code == 0 || out.contains("enable-linger"), "{out}");
}

/// Kills the child on every exit path of the test.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn two_profiles_serve_side_by_side_sharing_nothing() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let mut running = Vec::new();
    let mut ports = Vec::new();
    for profile in ["alpha", "beta"] {
        let port = free_port();
        // setup writes the port it derives into the profile's config.
        let out = openclaw(home)
            .env("OPENCLAW_GATEWAY_PORT", port.to_string())
            .args(["--profile", profile, "setup"])
            .output()
            .unwrap();
        assert!(out.status.success());
        // The gateway finds its port and token in its own profile's config.
        let child = openclaw(home)
            .args(["--profile", profile, "gateway"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        running.push(Running(child));
        ports.push(port);
    }
    for port in &ports {
        assert!(wait_listening(*port), "no gateway on {port}");
    }
    let config = |p: &str| {
        std::fs::read_to_string(home.join(format!(".openclaw-{p}/openclaw.json"))).unwrap()
    };
    assert_ne!(
        config("alpha"),
        config("beta"),
        "each profile has its own token"
    );
    assert!(
        !home.join(".openclaw").exists(),
        "the default profile is untouched"
    );
}

#[test]
fn status_names_the_profile_unit_through_a_real_systemd_user_instance() {
    let usable = Command::new("systemctl")
        .args(["--user", "status"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        println!(
            "skipped: `systemctl --user status` fails on this machine (no user systemd instance); \
             see README, \"Checking the service by hand\""
        );
        return;
    }
    // A user manager reads ~/.config/systemd/user of the real HOME, which
    // tests must not touch: so this only reads status through it (a real
    // start and stop is README's manual check).
    let home = tempfile::tempdir().unwrap();
    let (code, out) = run(
        home.path(),
        &[
            "--profile",
            "e2etest",
            "gateway",
            "status",
            "--no-probe",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["service"]["unit"], "openclaw-gateway-e2etest.service");
    // Not installed under this temp HOME: systemd has no such unit to run.
    assert_eq!(doc["service"]["runtime"]["status"], "stopped", "{doc}");
    assert_eq!(doc["service"]["runtime"]["missingUnit"], true, "{doc}");
}
