//! SIGTERM/SIGINT stop the gateway gracefully; SIGUSR1 restarts it in-process.

use async_signal::{Signal, Signals};
use futures_util::StreamExt;
use smol::channel::Sender;

use crate::hub::{Control, HubMsg};

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
