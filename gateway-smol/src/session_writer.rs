//! The one thread that writes the session store.
//!
//! A batch is several `fsync`s: it must never run on the hub's thread. The
//! core hands out one batch at a time; loads (a new hub generation after an
//! in-process restart) go through the same queue, so they see every batch
//! queued before them.

use std::sync::mpsc;
use std::thread::JoinHandle;

use gateway_proto::gateway::agents::journal::{SessionChange, StoredSession};
use gateway_proto::gateway::EffectResult;
use smol::channel::Sender;

use crate::hub::HubMsg;
use crate::store::SessionStore;

enum Job {
    Write {
        token: u64,
        changes: Vec<SessionChange>,
    },
    Load(smol::channel::Sender<Vec<StoredSession>>),
}

/// Handle to the store thread. Dropping it lets queued writes finish, then
/// joins the thread.
pub(crate) struct SessionWriter {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

const GONE: &str = "the session store thread has stopped";

impl SessionWriter {
    /// Move `store` onto its own thread; results are sent to `hub`.
    pub(crate) fn spawn(store: SessionStore, hub: Sender<HubMsg>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("session-store".into())
            .spawn(move || serve(store, queue, hub))?;
        Ok(SessionWriter {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> Result<(), String> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|_| GONE.to_string()),
            None => Err(GONE.to_string()),
        }
    }

    /// Queue a batch; its result comes back to the hub as
    /// `EffectResult::SessionsWritten`. `Err` when the thread is gone.
    pub(crate) fn write(&self, token: u64, changes: Vec<SessionChange>) -> Result<(), String> {
        self.send(Job::Write { token, changes })
    }

    /// The store's sessions after every batch queued so far.
    pub(crate) async fn load(&self) -> Vec<StoredSession> {
        let (tx, rx) = smol::channel::bounded(1);
        if let Err(e) = self.send(Job::Load(tx)) {
            log::error!(target: "gateway/store", "cannot reload sessions: {e}");
            return Vec::new();
        }
        rx.recv().await.unwrap_or_default()
    }
}

impl Drop for SessionWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has drained it.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(store: SessionStore, queue: mpsc::Receiver<Job>, hub: Sender<HubMsg>) {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Write { token, changes } => {
                let result = store.apply(&changes).map_err(|e| {
                    log::error!(target: "gateway/store", "session write failed (will retry): {e}");
                    e.to_string()
                });
                // The hub may be gone (shutting down); nothing waits then.
                let _ = hub.send_blocking(HubMsg::EffectDone(EffectResult::SessionsWritten {
                    token,
                    result,
                }));
            }
            Job::Load(reply) => {
                let _ = reply.send_blocking(store.load());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use gateway_proto::gateway::agents::journal::TranscriptChange;
    use serde_json::json;

    use super::*;

    fn written(msg: HubMsg) -> (u64, Result<(), String>) {
        match msg {
            HubMsg::EffectDone(EffectResult::SessionsWritten { token, result }) => (token, result),
            _ => panic!("not a sessions result"),
        }
    }

    /// Results come back to the hub with their tokens, in order, and a
    /// load (a new hub generation) sees every batch queued before it.
    #[test]
    fn batches_are_answered_in_order_and_a_load_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        let (hub_tx, hub_rx) = smol::channel::unbounded();
        let writer = SessionWriter::spawn(SessionStore::new(dir.path()), hub_tx).unwrap();
        for (token, text) in [(1, "one"), (2, "two")] {
            let change = SessionChange {
                agent_id: "main".into(),
                session_key: "agent:main:main".into(),
                session_id: "s1".into(),
                entry: Some(json!({"sessionId": "s1"})),
                transcript: TranscriptChange::Append(vec![json!({"t": text}).to_string()]),
            };
            writer.write(token, vec![change]).unwrap();
        }
        let loaded = smol::block_on(writer.load());
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].lines, [json!({"t": "one"}), json!({"t": "two"})]);
        assert_eq!(written(hub_rx.recv_blocking().unwrap()), (1, Ok(())));
        assert_eq!(written(hub_rx.recv_blocking().unwrap()), (2, Ok(())));
    }

    #[test]
    fn a_failed_batch_is_reported_with_its_token() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agents"), "not a directory").unwrap();
        let (hub_tx, hub_rx) = smol::channel::unbounded();
        let writer = SessionWriter::spawn(SessionStore::new(dir.path()), hub_tx).unwrap();
        let change = SessionChange {
            agent_id: "main".into(),
            session_key: "k".into(),
            session_id: "s1".into(),
            entry: None,
            transcript: TranscriptChange::Keep,
        };
        writer.write(7, vec![change]).unwrap();
        let (token, result) = written(hub_rx.recv_blocking().unwrap());
        assert_eq!(token, 7);
        assert!(result.is_err());
    }
}
