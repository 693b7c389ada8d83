//! Golden files of everything `install` writes, for a fixed environment:
//! gateway-cli/tests/golden/. `UPDATE_GOLDEN=1 cargo test -p gateway-cli
//! golden` rewrites them (review the diff before committing).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const EXE: &str = "/opt/openclaw/bin/openclaw";

/// A user `alice` with the given profile applied as the global flag would.
fn env_with(profile: Option<&str>) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [("HOME", "/home/alice"), ("TMPDIR", "/tmp")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(p) = profile {
        let base = env.clone();
        for (k, v) in crate::profile::env_for(p, &|k: &str| base.get(k).cloned()) {
            env.insert(k, v);
        }
    }
    env
}

fn golden(name: &str, actual: &str) {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{} differs", path.display());
}

fn gateway_unit(profile: Option<&str>, system: Option<&str>) -> String {
    let env = env_with(profile);
    let get = |k: &str| env.get(k).cloned();
    let port = super::profile_port(&get);
    super::gateway_unit_text(&get, Path::new(EXE), port, system.map(str::to_string)).unwrap()
}

#[test]
fn golden_default_profile_unit() {
    golden("openclaw-gateway.service", &gateway_unit(None, None));
}

#[test]
fn golden_named_profile_unit() {
    golden(
        "openclaw-gateway-work.service",
        &gateway_unit(Some("work"), None),
    );
}

#[test]
fn golden_dev_profile_unit() {
    let unit = gateway_unit(Some("dev"), None);
    assert!(unit.contains(" gateway --port 19001\n"));
    golden("openclaw-gateway-dev.service", &unit);
}

#[test]
fn golden_system_unit() {
    let unit = gateway_unit(None, Some("alice"));
    assert!(unit.contains("\nUser=alice\n") && unit.contains("WantedBy=multi-user.target"));
    golden("openclaw-gateway-system.service", &unit);
}

#[test]
fn golden_node_unit() {
    let mut env = env_with(None);
    env.insert("OPENCLAW_GATEWAY_TOKEN".into(), "tok 100%".into());
    let get = |k: &str| env.get(k).cloned();
    let args = super::NodeInstallArgs {
        host: "10.0.0.5".into(),
        port: None,
        display_name: Some("Build box".into()),
        tls: false,
        no_tls: false,
        tls_fingerprint: None,
        no_start: true,
    };
    let unit = super::node_unit_text(&get, Path::new(EXE), &args, 18789).unwrap();
    golden("openclaw-node.service", &unit);
}

#[test]
fn the_node_unit_carries_the_tls_flags_in_the_reference_order() {
    let env = env_with(None);
    let get = |k: &str| env.get(k).cloned();
    let fingerprint = "ab".repeat(32);
    let args = super::NodeInstallArgs {
        host: "10.0.0.5".into(),
        port: None,
        display_name: Some("Box".into()),
        tls: false,
        no_tls: false,
        tls_fingerprint: Some(fingerprint.clone()),
        no_start: true,
    };
    let unit = super::node_unit_text(&get, Path::new(EXE), &args, 18789).unwrap();
    let expected = format!(
        " node run --host 10.0.0.5 --port 18789 --tls --tls-fingerprint {fingerprint} --display-name Box"
    );
    assert!(unit.contains(&expected), "{unit}");
    // --no-tls is written as given; with a pin it is refused, as by `node run`.
    let plain = super::NodeInstallArgs {
        no_tls: true,
        tls_fingerprint: None,
        ..args
    };
    let unit = super::node_unit_text(&get, Path::new(EXE), &plain, 18789).unwrap();
    assert!(
        unit.contains(" node run --host 10.0.0.5 --port 18789 --no-tls --display-name Box"),
        "{unit}"
    );
    let both = super::NodeInstallArgs {
        tls_fingerprint: Some(fingerprint),
        ..plain
    };
    assert_eq!(
        super::node_unit_text(&get, Path::new(EXE), &both, 18789).unwrap_err(),
        "--no-tls cannot be combined with --tls-fingerprint"
    );
}

#[test]
fn golden_launchd_plists() {
    for (profile, file) in [
        (None, "ai.openclaw.gateway.plist"),
        (Some("work"), "ai.openclaw.work.plist"),
    ] {
        let env = env_with(profile);
        let get = |k: &str| env.get(k).cloned();
        golden(
            file,
            &super::gateway_plist_text(&get, Path::new(EXE), 18789),
        );
    }
}
