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

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_proto::gateway::agents::model::{ModelApi, ModelEvent};
    use std::time::Duration;

    #[test]
    fn a_call_reports_through_the_inbox_and_leaves_the_map() {
        // Nothing listens on port 1 of loopback: the call fails at once.
        let calls = ModelCalls::new(ProviderSettings {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            ..ProviderSettings::default()
        });
        let (tx, rx) = smol::channel::bounded(1);
        let request = ModelRequest {
            api: ModelApi::OpenAiCompletions,
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: None,
            headers: vec![],
            model: "m".into(),
            max_tokens: None,
            system: String::new(),
            messages: vec![],
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
