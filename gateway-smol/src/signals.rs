//! SIGTERM/SIGINT stop the gateway gracefully; SIGUSR1 restarts it in-process.

use async_signal::{Signal, Signals};
use futures_util::StreamExt;
use smol::channel::Sender;
use std::time::Duration;

use crate::hub::{Control, HubMsg};

/// How long a clean stop (drain, pairing flush, session save) may take after
/// SIGTERM before the process exits anyway. The hub's own bounds (drain 1.5 s,
/// session save 5 s) fit inside; this catches a stop that wedges. systemd
/// would SIGKILL only after TimeoutStopSec, far later.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) fn install() -> std::io::Result<Signals> {
    Signals::new([Signal::Term, Signal::Int, Signal::Usr1])
}

pub(crate) async fn forward(mut signals: Signals, hub: Sender<HubMsg>) {
    let mut stopping = false;
    while let Some(signal) = signals.next().await {
        let control = match signal {
            Ok(Signal::Term | Signal::Int) => {
                if stopping {
                    // A second stop request: the user is not waiting for the drain.
                    log::warn!(target: "gateway", "second stop signal; exiting now");
                    std::process::exit(0);
                }
                stopping = true;
                arm_shutdown_deadline(SHUTDOWN_DEADLINE);
                log::info!(target: "gateway", "signal received; shutting down");
                Control::Shutdown { reason: None }
            }
            Ok(Signal::Usr1) => {
                log::info!(target: "gateway", "SIGUSR1 received; restarting");
                Control::Restart {
                    reason: None,
                    addr: None,
                    config: None,
                }
            }
            Ok(_) | Err(_) => continue,
        };
        if hub.send(HubMsg::Control(control)).await.is_err() {
            return;
        }
    }
}

/// A thread that ends the process if it is still here at `deadline`. A clean
/// stop exits first, so the thread never wakes then.
fn arm_shutdown_deadline(deadline: Duration) {
    let spawned = std::thread::Builder::new()
        .name("gateway-stop-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline);
            log::error!(target: "gateway", "shutdown did not finish within {deadline:?}; exiting anyway");
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        log::warn!(target: "gateway", "no shutdown deadline thread: {e}");
    }
}
