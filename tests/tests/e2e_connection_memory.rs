//! What an idle, authenticated connection costs OUR gateway: 1,000 clients
//! of the real mix (SDK backends, CLIs, Control UI pages, node hosts) held
//! open, the gateway's RSS growth divided by the count. The runtime keeps no
//! write buffer, a 1 KiB read buffer and a small task per connection (about
//! 5.3 KB each in a release build, see README); the bound leaves room for
//! the unoptimized test build and allocator noise.

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tests::load::{connect_mix, Mix};
use tests::process::{open_files_limit, GatewayOptions, OurGateway};

const CLIENTS: usize = 1000;
/// Most RSS an idle connection may add, in bytes.
const MAX_PER_CONNECTION: u64 = 8 * 1024;

#[test]
fn an_idle_connection_costs_less_than_8_kb() {
    let fits = open_files_limit().map_or(CLIENTS, |l| l.saturating_sub(100));
    let n = CLIENTS.min(fits);
    assert!(
        n >= 500,
        "ulimit -n allows only {n} clients; raise it with `ulimit -n \"$(ulimit -Hn)\"`"
    );
    let gw = OurGateway::start(GatewayOptions::default());
    let target = gw.target();
    smol::block_on(async {
        // A first batch warms up what every gateway allocates once (the
        // executor's queues, the presence list at its cap, the maps' first nodes).
        let warm = connect_mix(&target, Mix::Real, 300, 32).await.unwrap();
        smol::Timer::after(Duration::from_millis(300)).await;
        let before = gw.rss_kib();
        let conns = connect_mix(&target, Mix::Real, n, 32).await.unwrap();
        // Idle, but reading what they are sent (the presence broadcasts of
        // the tracked connects), as real clients do.
        let readers: Vec<_> = conns
            .into_iter()
            .map(|mut conn| smol::spawn(async move { while conn.next_frame().await.is_ok() {} }))
            .collect();
        // Let the last presence broadcasts go out and the queues drain.
        smol::Timer::after(Duration::from_millis(500)).await;
        let after = gw.rss_kib();
        let per_conn = after.saturating_sub(before) * 1024 / n as u64;
        eprintln!("RSS {before} KiB -> {after} KiB with {n} more idle clients: {per_conn} B each");
        assert!(
            per_conn <= MAX_PER_CONNECTION,
            "an idle connection costs {per_conn} B of RSS (at most {MAX_PER_CONNECTION})"
        );
        drop(readers);
        drop(warm);
    });
}
