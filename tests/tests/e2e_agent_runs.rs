//! Smoke test of the `agent_runs` bench: five concurrent agent runs, each in
//! its own session, through OUR gateway to the scripted provider; every run
//! streams deltas and reaches `final`, each asks the provider once.

use std::time::Duration;

use tests::agent_runs::{run_agent_runs, AgentRunsConfig};

#[test]
fn five_concurrent_runs_each_stream_to_final() {
    let config = AgentRunsConfig {
        runs: 5,
        chunks: 5,
        chunk_delay_ms: 5,
        timeout: Duration::from_secs(30),
        ..AgentRunsConfig::default()
    };
    let report = run_agent_runs(&config).expect("connect and run");
    assert!(report.ok(), "{}", report.table());
    assert_eq!(report.completed, 5, "{}", report.table());
    assert_eq!(report.provider_requests, 5, "{}", report.table());
    // Time to first delta cannot exceed time to final.
    assert!(
        report.first_delta_p50_ms <= report.final_p99_ms,
        "{}",
        report.table()
    );
    assert!(
        report.rss_peak_kib > 0,
        "RSS never sampled: {}",
        report.table()
    );
}
