//! The one thread that owns the pairing store's SQLite connection.
//!
//! Pairing writes are `fsync`ed transactions that may also wait up to the
//! busy timeout for a reference CLI writing the same file: they must never
//! run on the hub's thread. The core issues them one at a time, in order;
//! this thread runs them in that order and reports each result to the hub
//! as an `EffectDone`. Loads (a new hub generation after a restart) go
//! through the same queue, so they see every write queued before them.

use std::sync::mpsc;
use std::thread::JoinHandle;

use gateway_proto::gateway::pairing::{PairingChange, PairingSnapshot};
use gateway_proto::gateway::EffectResult;
use smol::channel::Sender;

use crate::hub::HubMsg;
use crate::store::PairingStore;

enum Job {
    Write {
        token: u64,
        changes: Vec<PairingChange>,
    },
    Load(smol::channel::Sender<Result<PairingSnapshot, String>>),
    /// The core's `LoadPairing` effect: the result goes to the hub.
    LoadForCore {
        token: u64,
    },
    /// The core's `RedeemBootstrapToken` effect.
    Redeem {
        token: u64,
        bootstrap_token: String,
        oldest_issued_at_ms: u64,
    },
    /// Answered once every job queued before it is done.
    Flush(smol::channel::Sender<()>),
}

/// Handle to the store thread. Dropping it lets queued writes finish, then
/// joins the thread (which closes the database).
pub(crate) struct PairingWriter {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl PairingWriter {
    /// Move `store` onto its own thread; results are sent to `hub`.
    pub(crate) fn spawn(store: PairingStore, hub: Sender<HubMsg>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("pairing-store".into())
            .spawn(move || serve(store, queue, hub))?;
        Ok(PairingWriter {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> Result<(), Job> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    /// Queue a write; its result comes back to the hub as
    /// `EffectResult::PairingWritten`. `Err` when the thread is gone.
    pub(crate) fn write(&self, token: u64, changes: Vec<PairingChange>) -> Result<(), String> {
        self.send(Job::Write { token, changes })
            .map_err(|_| "the pairing store thread has stopped".to_string())
    }

    /// Queue a read-back for the core (after a failed write); its result
    /// comes back as `EffectResult::PairingLoaded`.
    pub(crate) fn load_for_core(&self, token: u64) -> Result<(), String> {
        self.send(Job::LoadForCore { token })
            .map_err(|_| "the pairing store thread has stopped".to_string())
    }

    /// Queue the spending of a bootstrap token, after the writes before it;
    /// its result comes back as `EffectResult::BootstrapRedeemed`.
    pub(crate) fn redeem(
        &self,
        token: u64,
        bootstrap_token: String,
        oldest_issued_at_ms: u64,
    ) -> Result<(), String> {
        self.send(Job::Redeem {
            token,
            bootstrap_token,
            oldest_issued_at_ms,
        })
        .map_err(|_| "the pairing store thread has stopped".to_string())
    }

    /// The store's contents after every write queued so far.
    pub(crate) async fn load(&self) -> Result<PairingSnapshot, String> {
        let (tx, rx) = smol::channel::bounded(1);
        self.send(Job::Load(tx))
            .map_err(|_| "the pairing store thread has stopped".to_string())?;
        rx.recv()
            .await
            .map_err(|_| "the pairing store thread has stopped".to_string())?
    }
}

impl PairingWriter {
    /// Wait until every write queued so far has committed (or failed).
    pub(crate) async fn flush(&self) {
        let (tx, rx) = smol::channel::bounded(1);
        if self.send(Job::Flush(tx)).is_ok() {
            let _ = rx.recv().await;
        }
    }
}

impl Drop for PairingWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has drained it.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut store: PairingStore, queue: mpsc::Receiver<Job>, hub: Sender<HubMsg>) {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Write { token, changes } => {
                let result = store.apply(&changes).map_err(|e| {
                    log::error!(target: "gateway/store", "pairing write failed: {e}");
                    e.to_string()
                });
                // The hub may be gone (shutting down); nothing waits then.
                let _ = hub.send_blocking(HubMsg::EffectDone(EffectResult::PairingWritten {
                    token,
                    result,
                }));
            }
            Job::Load(reply) => {
                let _ = reply.send_blocking(store.load().map_err(|e| e.to_string()));
            }
            Job::LoadForCore { token } => {
                let result = store.load().map_err(|e| {
                    log::error!(target: "gateway/store", "pairing store read-back failed: {e}");
                    e.to_string()
                });
                let _ = hub.send_blocking(HubMsg::EffectDone(EffectResult::PairingLoaded {
                    token,
                    result,
                }));
            }
            Job::Redeem {
                token,
                bootstrap_token,
                oldest_issued_at_ms,
            } => {
                let result = store
                    .redeem_bootstrap_token(&bootstrap_token, oldest_issued_at_ms)
                    .map_err(|e| {
                        log::error!(target: "gateway/store", "bootstrap token redemption failed: {e}");
                        e.to_string()
                    });
                let _ = hub.send_blocking(HubMsg::EffectDone(EffectResult::BootstrapRedeemed {
                    token,
                    result,
                }));
            }
            Job::Flush(reply) => {
                let _ = reply.send_blocking(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use gateway_proto::gateway::pairing::PendingRequest;

    use super::*;

    fn pending(id: &str) -> PairingChange {
        PairingChange::PutPending(PendingRequest {
            request_id: id.into(),
            device_id: "d".into(),
            public_key: "k".into(),
            ts: 1,
            ..Default::default()
        })
    }

    fn written(msg: HubMsg) -> (u64, Result<(), String>) {
        match msg {
            HubMsg::EffectDone(EffectResult::PairingWritten { token, result }) => (token, result),
            _ => panic!("not a pairing result"),
        }
    }

    /// A write queued while another process holds the database's write
    /// lock returns at once (the caller, the hub, never waits on SQLite);
    /// the result arrives once the lock is released, writes in order, and a
    /// load sees every write queued before it.
    #[test]
    fn writes_run_off_the_callers_thread_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairingStore::open(dir.path()).unwrap();
        let (hub_tx, hub_rx) = smol::channel::unbounded();
        let writer = PairingWriter::spawn(store, hub_tx).unwrap();

        let locker = rusqlite::Connection::open(crate::store::database_path(dir.path())).unwrap();
        locker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = Instant::now();
        writer.write(1, vec![pending("a")]).unwrap();
        writer.write(2, vec![pending("b")]).unwrap();
        assert!(started.elapsed() < Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            hub_rx.try_recv().is_err(),
            "the write cannot have committed under the lock"
        );
        locker.execute_batch("COMMIT").unwrap();

        assert_eq!(written(hub_rx.recv_blocking().unwrap()), (1, Ok(())));
        assert_eq!(written(hub_rx.recv_blocking().unwrap()), (2, Ok(())));
        writer.write(3, vec![pending("c")]).unwrap();
        let snapshot = smol::block_on(writer.load()).unwrap();
        let ids: Vec<&str> = snapshot
            .pending
            .iter()
            .map(|p| p.request_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(written(hub_rx.recv_blocking().unwrap()), (3, Ok(())));
    }

    #[test]
    fn a_failed_write_is_reported_with_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = PairingStore::open(dir.path()).unwrap();
        let (hub_tx, hub_rx) = smol::channel::unbounded();
        let writer = PairingWriter::spawn(store, hub_tx).unwrap();
        let change = PairingChange::PutPending(PendingRequest {
            ts: u64::MAX,
            ..Default::default()
        });
        writer.write(7, vec![change]).unwrap();
        let (token, result) = written(hub_rx.recv_blocking().unwrap());
        assert_eq!(token, 7);
        assert!(result.unwrap_err().contains("does not fit"));
        smol::block_on(writer.flush());
    }
}
