//! A short soak of OUR gateway in the suite (`tests::soak`): reconnect churn
//! of the real client mix, presence updates broadcast to listeners, and slow
//! readers closed "slow consumer" and reconnecting, for `SOAK_SECS` (60
//! unless set). Every request must be answered, the fds must come back to
//! their idle count, the threads stay bounded and RSS must not grow over the
//! second half. `tests/src/bin/soak.rs` runs the same for hours.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tests::process::{GatewayOptions, OurGateway};
use tests::soak::{self, SoakConfig};

fn soak_secs() -> u64 {
    std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(60)
}

#[test]
fn a_short_soak_leaks_nothing() {
    // A small outbound limit closes a slow reader after about a megabyte of
    // unread responses, so it cycles several times in a minute.
    let gw =
        OurGateway::start(GatewayOptions::default().env("OPENCLAW_MAX_BUFFERED_BYTES", 1 << 20));
    let config = SoakConfig {
        duration: Duration::from_secs(soak_secs()),
        clients: 40,
        listeners: 5,
        slow_readers: 2,
        ..SoakConfig::default()
    };
    let report = soak::run(gw.pid(), &gw.target(), config);
    eprintln!("{report}");

    let dir = tempfile::tempdir().expect("tempdir");
    let csv = soak::csv(&report.samples);
    let svg = soak::svg(&report.samples, "e2e soak");
    std::fs::write(dir.path().join("soak.csv"), &csv).expect("write csv");
    std::fs::write(dir.path().join("soak.svg"), &svg).expect("write svg");
    assert_eq!(csv.lines().count(), report.samples.len() + 1);
    assert_eq!(svg.matches("<polyline").count(), 2);

    assert!(report.passed(), "the soak failed:\n{report}");
    // The traffic really ran: clients came and went, slow readers were
    // closed and came back.
    assert!(report.connects > 40, "only {} connects", report.connects);
    assert!(report.answered > 100, "only {} answers", report.answered);
    assert!(
        report.slow_closed >= 2,
        "{} slow-reader closes",
        report.slow_closed
    );
}
