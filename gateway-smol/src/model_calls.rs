//! The model calls under way, for the hub: `StreamModel` starts one on the
//! blocking pool, `CancelModel` raises its cancel flag.
//!
//! Each event goes back to the hub's inbox as `EffectDone(Model)` with a
//! blocking send into that bounded channel: a hub that falls behind slows
//! the workers down (they stop reading their sockets) instead of letting
//! events pile up. The flag map holds an entry per running call only: the
//! worker removes its own when the stream ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gateway_proto::gateway::agents::model::ModelRequest;
use gateway_proto::gateway::EffectResult;
use smol::channel::Sender;

use crate::hub::HubMsg;
use crate::providers::{stream_model, ProviderSettings};

type Flags = Arc<Mutex<BTreeMap<u64, Arc<AtomicBool>>>>;

pub(crate) struct ModelCalls {
    settings: ProviderSettings,
    flags: Flags,
}

impl ModelCalls {
    pub(crate) fn new(settings: ProviderSettings) -> Self {
        ModelCalls {
            settings,
            flags: Flags::default(),
        }
    }

    /// Run the call on the blocking pool, its events sent to `inbox`.
    pub(crate) fn start(&self, token: u64, request: ModelRequest, inbox: Sender<HubMsg>) {
        let flag = Arc::new(AtomicBool::new(false));
        // A token still running is replaced: its call is cancelled.
        if let Some(old) = lock(&self.flags).insert(token, Arc::clone(&flag)) {
            old.store(true, Ordering::Release);
        }
        let flags = Arc::clone(&self.flags);
        let settings = self.settings;
        smol::unblock(move || {
            stream_model(&request, &settings, &flag, &mut |event| {
                let done = EffectResult::Model { token, event };
                inbox.send_blocking(HubMsg::EffectDone(done)).is_ok()
            });
            let mut flags = lock(&flags);
            if flags.get(&token).is_some_and(|f| Arc::ptr_eq(f, &flag)) {
                flags.remove(&token);
            }
        })
        .detach();
    }

    /// Ask the call to stop (see `providers` for how soon it does).
    pub(crate) fn cancel(&self, token: u64) {
        if let Some(flag) = lock(&self.flags).get(&token) {
            flag.store(true, Ordering::Release);
        }
    }

    /// How many calls are running.
    #[cfg(test)]
    fn running(&self) -> usize {
        lock(&self.flags).len()
    }
}

/// A hub that stops (shutdown, restart) stops its calls.
impl Drop for ModelCalls {
    fn drop(&mut self) {
        let flags = lock(&self.flags);
        for flag in flags.values() {
            flag.store(true, Ordering::Release);
        }
    }
}

fn lock(flags: &Flags) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<AtomicBool>>> {
    flags.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scripted provider of the end-to-end tests.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../tests/src/fake_provider.rs"]
mod fake_provider;

#[cfg(test)]
mod tests {
    use super::fake_provider::{Api, FakeProvider, Outcome, Script};
    use super::*;
    use gateway_proto::gateway::agents::model::{ModelApi, ModelEvent};
    use std::time::Duration;

    fn long_stream() -> Script {
        let mut script = Script::new(Api::OpenAi).text("first");
        for _ in 0..400 {
            script = script.delay(25).text("x");
        }
        script.finish("stop").end()
    }

    fn request_to(url: String) -> ModelRequest {
        ModelRequest {
            api: ModelApi::OpenAiCompletions,
            base_url: url,
            api_key: None,
            headers: vec![],
            model: "m".into(),
            max_tokens: None,
            system: String::new(),
            messages: vec![],
            tools: vec![],
            cli: None,
        }
    }

    /// The next event of `token`, others dropped, within 10 s.
    fn next_of(rx: &smol::channel::Receiver<HubMsg>, wanted: u64) -> ModelEvent {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let msg = smol::block_on(async {
                smol::future::or(async { rx.recv().await.ok() }, async {
                    smol::Timer::after(left).await;
                    None
                })
                .await
            })
            .expect("no model event in time");
            if let HubMsg::EffectDone(EffectResult::Model { token, event }) = msg {
                if token == wanted {
                    return event;
                }
            }
        }
    }

    #[test]
    fn cancel_stops_one_call_and_dropping_the_hub_stops_the_rest() {
        let fake = FakeProvider::start(vec![long_stream(), long_stream()]);
        let calls = ModelCalls::new(ProviderSettings::default());
        let (tx, rx) = smol::channel::bounded(4);
        calls.start(1, request_to(fake.url()), tx.clone());
        assert_eq!(next_of(&rx, 1), ModelEvent::Text("first".into()));
        calls.start(2, request_to(fake.url()), tx);
        assert_eq!(next_of(&rx, 2), ModelEvent::Text("first".into()));

        calls.cancel(1);
        let ended = loop {
            let event = next_of(&rx, 1);
            if event.is_terminal() {
                break event;
            }
        };
        assert!(
            matches!(&ended, ModelEvent::Failed { message, .. } if message.contains("cancelled")),
            "{ended:?}"
        );
        drop(calls);
        let ended = loop {
            let event = next_of(&rx, 2);
            if event.is_terminal() {
                break event;
            }
        };
        assert!(
            matches!(&ended, ModelEvent::Failed { message, .. } if message.contains("cancelled")),
            "{ended:?}"
        );
        let wait = Duration::from_secs(10);
        assert_eq!(fake.wait_outcome(0, wait), Some(Outcome::ClientClosed));
        assert_eq!(fake.wait_outcome(1, wait), Some(Outcome::ClientClosed));
    }

    #[test]
    fn a_call_reports_through_the_inbox_and_leaves_the_map() {
        // A port that was just free: the call is refused at once.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let calls = ModelCalls::new(ProviderSettings {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            ..ProviderSettings::default()
        });
        let (tx, rx) = smol::channel::bounded(1);
        let request = ModelRequest {
            api: ModelApi::OpenAiCompletions,
            base_url: format!("http://127.0.0.1:{port}/v1"),
            api_key: None,
            headers: vec![],
            model: "m".into(),
            max_tokens: None,
            system: String::new(),
            messages: vec![],
            tools: vec![],
            cli: None,
        };
        calls.start(7, request, tx);
        let msg = smol::block_on(rx.recv()).unwrap();
        let HubMsg::EffectDone(EffectResult::Model { token, event }) = msg else {
            panic!("not a model event");
        };
        assert_eq!(token, 7);
        assert!(
            matches!(event, ModelEvent::Failed { status: None, .. }),
            "{event:?}"
        );
        // The worker removes its entry right after its last send.
        for _ in 0..200 {
            if calls.running() == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the call's cancel flag was not removed");
    }
}
