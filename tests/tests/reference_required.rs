//! `OPENCLAW_REQUIRE_REFERENCE=1` (set by `.ci/run`) turns "reference
//! unavailable, skipping" into a failure. Checked by running this test binary
//! again as a child, with and without the variable.

use std::process::Command;

use tests::process::{reference_unavailable, REQUIRE_REFERENCE};

/// Set only in the child: there the probe reports the reference missing.
const PROBE: &str = "OPENCLAW_TEST_PROBE_REFERENCE_UNAVAILABLE";

#[test]
fn probe_reference_unavailable() {
    if std::env::var_os(PROBE).is_some() {
        reference_unavailable("probe: no reference here");
    }
}

fn run_probe(require: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", "probe_reference_unavailable", "--test-threads=1"])
        .env(PROBE, "1")
        .env_remove(REQUIRE_REFERENCE);
    if let Some(value) = require {
        cmd.env(REQUIRE_REFERENCE, value);
    }
    let out = cmd.output().expect("run the probe");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn missing_reference_skips_with_a_note_unless_required() {
    let (ok, text) = run_probe(None);
    assert!(ok, "{text}");
    assert!(
        text.contains("skipping interop test: probe: no reference here")
            && text.contains("OPENCLAW_REQUIRE_REFERENCE=1"),
        "{text}"
    );
    let (ok, text) = run_probe(Some("0"));
    assert!(ok, "{text}");

    let (ok, text) = run_probe(Some("1"));
    assert!(
        !ok,
        "a missing reference passed under {REQUIRE_REFERENCE}=1: {text}"
    );
    assert!(
        text.contains("reference unavailable: probe: no reference here"),
        "{text}"
    );
}
