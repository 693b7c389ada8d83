//! The runtime side of the agent's tools: what `Effect::RunTool`,
//! `Effect::CancelTool` and `Effect::PrepareWorkspace` do on this host.
//!
//! The core decided that an action may run and checked its paths lexically;
//! here each path is checked again on the real file system
//! ([`confine`]), the action runs on smol's blocking pool (never on the hub
//! task), and its [`ToolOutcome`] goes back as one `EffectResult::Tool`.
//!
//! At most [`MAX_RUNNING`] actions run at once; up to [`MAX_WAITING`] more
//! wait for a slot, and past that an action is answered at once with an
//! error outcome, so a model asking for hundreds of commands cannot take
//! the host's threads.

mod confine;
mod exec;
mod fs;
mod read;
mod text;
mod workspace;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gateway_proto::gateway::agents::tools::{ToolAction, ToolOutcome};
use smol::lock::Semaphore;

pub use workspace::prepare_workspace;

/// How many tool actions run at once.
pub const MAX_RUNNING: usize = 16;
/// How many more may wait for a slot.
pub const MAX_WAITING: usize = 64;

/// Raised to stop one action; `exec` looks at it while it waits.
pub type CancelFlag = AtomicBool;

/// The tool actions under way, by effect token.
pub struct ToolRuntime {
    shared: Arc<Shared>,
}

struct Shared {
    cancels: Mutex<BTreeMap<u64, Arc<CancelFlag>>>,
    slots: Semaphore,
    /// Running plus waiting.
    admitted: AtomicUsize,
    max_admitted: usize,
}

impl Default for ToolRuntime {
    fn default() -> Self {
        ToolRuntime::new(MAX_RUNNING, MAX_WAITING)
    }
}

impl ToolRuntime {
    pub fn new(max_running: usize, max_waiting: usize) -> Self {
        ToolRuntime {
            shared: Arc::new(Shared {
                cancels: Mutex::new(BTreeMap::new()),
                slots: Semaphore::new(max_running.max(1)),
                admitted: AtomicUsize::new(0),
                max_admitted: max_running.max(1) + max_waiting,
            }),
        }
    }

    /// Admit the action now (a cancel from here on reaches it) and return
    /// the work: await it to run the action and get its one outcome.
    pub fn run(
        &self,
        token: u64,
        root: String,
        action: ToolAction,
    ) -> impl Future<Output = ToolOutcome> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let admitted = shared
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.max_admitted).then_some(n + 1)
            })
            .is_ok();
        // Taken here, not in the future: a future dropped unpolled still
        // gives its admission back.
        let admission = admitted.then(|| {
            let flag = Arc::new(CancelFlag::new(false));
            // A token still running is replaced: its action is cancelled.
            if let Some(old) = lock(&shared.cancels).insert(token, Arc::clone(&flag)) {
                old.store(true, Ordering::Release);
            }
            Admission {
                shared: Arc::clone(&shared),
                token,
                flag,
            }
        });
        async move {
            let Some(admission) = admission else {
                return ToolOutcome::error(
                    "Too many tool actions are running on the gateway; try again when some have finished.",
                );
            };
            let _slot = admission.shared.slots.acquire().await;
            if admission.flag.load(Ordering::Acquire) {
                return ToolOutcome::error("Operation aborted");
            }
            let flag = Arc::clone(&admission.flag);
            smol::unblock(move || perform(&root, &action, &flag)).await
        }
    }

    /// Stop the action with this token; unknown or finished tokens are ignored.
    pub fn cancel(&self, token: u64) {
        if let Some(flag) = lock(&self.shared.cancels).get(&token) {
            flag.store(true, Ordering::Release);
        }
    }

    /// How many actions are running or waiting.
    pub fn admitted(&self) -> usize {
        self.shared.admitted.load(Ordering::Acquire)
    }
}

/// A hub that stops (shutdown, restart) stops its tools.
impl Drop for ToolRuntime {
    fn drop(&mut self) {
        for flag in lock(&self.shared.cancels).values() {
            flag.store(true, Ordering::Release);
        }
    }
}

/// Gives the admission back and forgets the token when the action ends
/// (or its future is dropped).
struct Admission {
    shared: Arc<Shared>,
    token: u64,
    flag: Arc<CancelFlag>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut cancels = lock(&self.shared.cancels);
        if cancels
            .get(&self.token)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flag))
        {
            cancels.remove(&self.token);
        }
        drop(cancels);
        self.shared.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Run one action to its outcome (blocking).
pub fn perform(root: &str, action: &ToolAction, cancel: &CancelFlag) -> ToolOutcome {
    let ws = match confine::Workspace::open(root) {
        Ok(ws) => ws,
        Err(error) => return ToolOutcome::error(error),
    };
    match action {
        ToolAction::Read {
            path,
            offset,
            limit,
            cursor,
        } => read::read(&ws, path, *offset, *limit, *cursor),
        ToolAction::Write { path, content } => fs::write(&ws, path, content),
        ToolAction::Edit { path, edits } => fs::edit(&ws, path, edits),
        ToolAction::List { path, limit, after } => fs::list(&ws, path, *limit, after.as_deref()),
        ToolAction::Exec {
            command,
            cwd,
            timeout_ms,
        } => exec::exec(&ws, command, cwd, *timeout_ms, cancel),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
