//! A real client mix against OUR gateway: 800 SDK-style `backend` clients
//! (not tracked in presence, they receive it) and 190 Control-UI-style
//! clients (tracked) connecting at once. Presence broadcasts are coalesced:
//! each receiver sees far fewer presence events than there were tracked
//! connects, and the last one it sees lists every tracked client. (190, not
//! more: presence keeps at most 200 entries, as the reference does, so with
//! more tracked clients the oldest would rightly be missing from the list.)

// End-to-end tests run in real time.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tests::load::{ClientKind, Conn};
use tests::process::{open_files_limit, GatewayOptions, OurGateway};

const RECEIVERS: usize = 800;
const TRACKED: usize = 190;

/// What one receiver saw: presence events, and the instance ids of the last.
#[derive(Default)]
struct Seen {
    events: usize,
    last: BTreeSet<String>,
}

#[test]
fn a_thousand_mixed_clients_get_coalesced_presence() {
    // Both this process and the gateway need a descriptor per client.
    let fits = open_files_limit().map_or(usize::MAX, |l| l.saturating_sub(100));
    let scale = |n: usize| n.min(fits * n / (RECEIVERS + TRACKED)).max(5);
    let (receivers, tracked) = (scale(RECEIVERS), scale(TRACKED));
    let gw = OurGateway::start(GatewayOptions::default());
    let target = gw.target();
    smol::block_on(async {
        let backend = ClientKind {
            id: "gateway-client".into(),
            mode: "backend".into(),
            instance_id: None,
        };
        let conns: Vec<Conn> = futures_util::stream::iter(0..receivers)
            .map(|i| {
                let mut kind = backend.clone();
                kind.instance_id = Some(format!("sdk-{i}"));
                let target = target.clone();
                async move { Conn::open_as(&target, &kind, &["operator.read"]).await }
            })
            .buffer_unordered(24)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("receivers connect");
        // Every receiver reads for the rest of the test.
        let readers: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                smol::spawn(async move {
                    let mut seen = Seen::default();
                    let quiet = Duration::from_secs(3);
                    loop {
                        let next =
                            smol::future::or(async { Some(conn.next_frame().await) }, async {
                                smol::Timer::after(quiet).await;
                                None
                            })
                            .await;
                        let Some(Ok(frame)) = next else { break };
                        if frame["event"] != "presence" {
                            continue;
                        }
                        seen.events += 1;
                        seen.last = frame["payload"]["presence"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e["instanceId"].as_str().map(str::to_owned))
                            .collect();
                    }
                    seen
                })
            })
            .collect();
        let started = Instant::now();
        let ui: Vec<Conn> = futures_util::stream::iter(0..tracked)
            .map(|i| {
                // Webchat pages: tracked like the Control UI, but without
                // the device identity the UI client must bring.
                let kind = ClientKind {
                    id: "webchat".into(),
                    mode: "webchat".into(),
                    instance_id: Some(format!("ui-{i}")),
                };
                let target = target.clone();
                async move { Conn::open_as(&target, &kind, &[]).await }
            })
            .buffer_unordered(24)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("tracked clients connect");
        eprintln!(
            "{tracked} tracked clients connected in {:?}",
            started.elapsed()
        );
        let mut worst = 0;
        for reader in readers {
            let seen = reader.await;
            worst = worst.max(seen.events);
            for i in 0..tracked {
                assert!(
                    seen.last.contains(&format!("ui-{i}")),
                    "ui-{i} missing from the last presence a receiver saw ({} events)",
                    seen.events
                );
            }
            assert!(
                !seen.last.iter().any(|id| id.starts_with("sdk-")),
                "backend clients are not tracked"
            );
        }
        eprintln!("most presence events at one receiver: {worst} for {tracked} tracked connects");
        assert!(
            worst * 3 <= tracked,
            "presence broadcasts were not coalesced: {worst} events for {tracked} connects"
        );
        drop(ui);
    });
}
