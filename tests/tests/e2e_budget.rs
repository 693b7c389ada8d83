//! The resource budget (README, "Resource budget"; `tests::budget`) checked
//! on the RELEASE `openclaw`: debug-build figures (190 MB binary, slower
//! start, larger RSS) say nothing about it. `.ci/run` builds the release
//! binary first and sets `OPENCLAW_REQUIRE_RELEASE=1`; elsewhere the test
//! is skipped, loudly, when `target/release/openclaw` is missing.
//! `BUDGET_IDLE_SECS` (10 unless set) is the idle-CPU window and
//! `BUDGET_CLIENTS` (300 unless set) the clients of the per-connection and
//! 64 MB checks; `target/release/budget` runs the full 60 s / 1,000.

use std::path::PathBuf;

use tests::budget::{measure, BudgetConfig};
use tests::process::{open_files_limit, our_binary};

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// `target/release/openclaw` beside the `target/<profile>/` of this test.
fn release_binary() -> PathBuf {
    let ours = our_binary();
    let target = ours
        .parent()
        .and_then(|profile| profile.parent())
        .expect("target dir");
    target.join("release/openclaw")
}

#[test]
fn the_release_binary_is_within_its_budget() {
    let binary = release_binary();
    if !binary.is_file() {
        let required = std::env::var("OPENCLAW_REQUIRE_RELEASE").is_ok_and(|v| v.trim() == "1");
        assert!(
            !required,
            "{} is missing: cargo build --release -p gateway-cli",
            binary.display()
        );
        eprintln!(
            "!!!!!! budget SKIPPED: {} is missing (cargo build --release -p gateway-cli) !!!!!!",
            binary.display()
        );
        return;
    }
    let clients = env_number("BUDGET_CLIENTS", 300) as usize;
    let fits = open_files_limit().map_or(clients, |l| l.saturating_sub(100) / 2);
    assert!(
        clients <= fits,
        "ulimit -n is too low for {clients} clients; raise it with `ulimit -n \"$(ulimit -Hn)\"`"
    );
    let report = measure(&BudgetConfig {
        binary,
        idle_secs: env_number("BUDGET_IDLE_SECS", 10),
        clients,
    });
    eprintln!("{report}");
    // Every line was measured (the memory cgroup too: root in CI)…
    assert_eq!(report.lines.len(), 6, "{report}");
    // …and is within its budget.
    assert!(report.within_budget(), "over budget:\n{report}");
}
