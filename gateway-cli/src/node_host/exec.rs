//! Running one `system.run` child: its own process group (so a timeout or
//! a cancel kills everything it started), no stdin, stdout and stderr
//! captured up to the reference's cap, an optional timeout.
//!
//! Facts (reference `src/node-host/invoke-run-command.ts`, `src/process/exec.ts`):
//! the first 200,000 bytes are kept (per stream and in total), the rest is
//! counted as truncated and `"\n... (truncated)"` is appended to stderr (or
//! stdout when stderr is blank); a timeout kills the tree and reports
//! `timedOut: true` with exit code 124; a spawn failure is reported in
//! `error` with no exit code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smol::io::AsyncReadExt;
use smol::process::Command;

/// Bytes kept per stream and across both.
pub const OUTPUT_CAP: usize = 200_000;
/// Appended when output was cut.
const TRUNCATED_SUFFIX: &str = "... (truncated)";
/// Exit code reported for a timed-out command.
const TIMEOUT_EXIT_CODE: i32 = 124;
/// How long output is still read after the group was killed (a grandchild
/// that left the group may hold the pipes open).
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);

pub struct RunRequest {
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// The whole environment of the child (see `env::child_env`).
    pub env: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
}

/// What `system.run` answers (before serialization).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// `None` when killed by a signal (other than our timeout) or not started.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<String>,
    pub truncated: bool,
}

impl RunOutcome {
    /// The payload the reference sends (`exitCode` left out when unknown).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "timedOut": self.timed_out,
            "success": self.success,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "error": self.error,
        });
        if let Some(code) = self.exit_code {
            v["exitCode"] = code.into();
        }
        v
    }
}

/// The bytes kept of both streams, shared by the two readers.
#[derive(Default)]
struct Budget {
    total: AtomicUsize,
}

impl Budget {
    /// How many of `n` new bytes of a stream that already kept `kept` may be kept.
    fn take(&self, kept: usize, n: usize) -> usize {
        let stream_room = OUTPUT_CAP.saturating_sub(kept);
        let mut granted = 0;
        let _ = self
            .total
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |total| {
                granted = n.min(stream_room).min(OUTPUT_CAP.saturating_sub(total));
                Some(total + granted)
            });
        granted
    }
}

/// Read a stream to its end, keeping the head within the budget.
async fn capture(
    mut stream: impl smol::io::AsyncRead + Unpin,
    budget: Arc<Budget>,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let take = budget.take(kept.len(), n);
                kept.extend_from_slice(&buf[..take]);
                truncated |= take < n;
            }
        }
    }
    (kept, truncated)
}

/// Apply the reference's truncation marker.
fn mark_truncated(outcome: &mut RunOutcome) {
    if !outcome.truncated {
        return;
    }
    if outcome.stderr.trim().is_empty() {
        outcome.stdout = format!("{}\n{TRUNCATED_SUFFIX}", outcome.stdout);
    } else {
        outcome.stderr = format!("{}\n{TRUNCATED_SUFFIX}", outcome.stderr);
    }
}

/// Kill the child's whole process group.
fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        log::debug!("kill process group {pid:?}: {e}");
    }
}

/// Why a run ended early.
enum Stop {
    Exited(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Cancelled,
}

/// Run `req`. `cancelled` resolving kills the process group and makes the
/// run return `None` (a cancelled invoke is not answered).
pub async fn run(
    req: RunRequest,
    cancelled: impl std::future::Future<Output = ()>,
) -> Option<RunOutcome> {
    let Some((program, args)) = req.argv.split_first() else {
        return Some(spawn_failure("command required".into()));
    };
    let mut std_cmd = std::process::Command::new(program);
    std_cmd.args(args).env_clear().envs(&req.env);
    std::os::unix::process::CommandExt::process_group(&mut std_cmd, 0);
    if let Some(cwd) = &req.cwd {
        std_cmd.current_dir(cwd);
    }
    // The stdio of the std command is not carried over: set it here.
    let mut cmd = Command::from(std_cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Some(spawn_failure(spawn_error_text(&e, req.cwd.as_deref()))),
    };
    let pid = child.id();
    let budget = Arc::new(Budget::default());
    let stdout = child
        .stdout
        .take()
        .map(|s| smol::spawn(capture(s, budget.clone())));
    let stderr = child
        .stderr
        .take()
        .map(|s| smol::spawn(capture(s, budget.clone())));

    let exited = async { Stop::Exited(child.status().await) };
    let timer = async {
        match req.timeout {
            Some(t) => {
                smol::Timer::after(t).await;
                Stop::TimedOut
            }
            None => smol::future::pending().await,
        }
    };
    let cancel = async {
        cancelled.await;
        Stop::Cancelled
    };
    let stop = smol::future::or(exited, smol::future::or(timer, cancel)).await;
    let timed_out = matches!(stop, Stop::TimedOut);
    let status = match stop {
        Stop::Exited(status) => status.ok(),
        Stop::TimedOut | Stop::Cancelled => {
            kill_group(pid);
            let _ = child.kill();
            let status = child.status().await.ok();
            if !timed_out {
                return None;
            }
            status
        }
    };
    let read = |task: Option<smol::Task<(Vec<u8>, bool)>>| async move {
        let Some(task) = task else {
            return (Vec::new(), false);
        };
        if timed_out {
            let give_up = async {
                smol::Timer::after(DRAIN_AFTER_KILL).await;
                (Vec::new(), true)
            };
            smol::future::or(task, give_up).await
        } else {
            task.await
        }
    };
    let ((out, out_cut), (err, err_cut)) = smol::future::zip(read(stdout), read(stderr)).await;
    let exit_code = if timed_out {
        Some(
            status
                .and_then(|s| s.code())
                .filter(|&c| c != 0)
                .unwrap_or(TIMEOUT_EXIT_CODE),
        )
    } else {
        status.and_then(|s| s.code())
    };
    let mut outcome = RunOutcome {
        exit_code,
        timed_out,
        success: exit_code == Some(0) && !timed_out,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        error: None,
        truncated: out_cut || err_cut,
    };
    mark_truncated(&mut outcome);
    Some(outcome)
}

fn spawn_failure(error: String) -> RunOutcome {
    RunOutcome {
        error: Some(error),
        ..RunOutcome::default()
    }
}

/// The OS error, made explicit when the working directory is the cause.
fn spawn_error_text(e: &std::io::Error, cwd: Option<&std::path::Path>) -> String {
    let message = e.to_string();
    let Some(cwd) = cwd else {
        return message;
    };
    let reason = match std::fs::metadata(cwd) {
        Ok(meta) if meta.is_dir() => return message,
        Ok(_) => "is not a directory",
        Err(_) => "does not exist",
    };
    format!(
        "node exec working directory {reason} on the node host: {} (os reported: {message})",
        cwd.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(argv: &[&str], timeout: Option<Duration>) -> RunRequest {
        RunRequest {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: None,
            env: [("PATH".to_owned(), "/usr/bin:/bin".to_owned())]
                .into_iter()
                .collect(),
            timeout,
        }
    }

    fn never() -> impl std::future::Future<Output = ()> {
        smol::future::pending()
    }

    #[test]
    fn exit_code_and_both_streams_are_reported() {
        let out = smol::block_on(run(
            req(&["sh", "-c", "echo out; echo err >&2; exit 3"], None),
            never(),
        ))
        .unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert!(!out.success && !out.timed_out);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        let json = out.to_json();
        assert_eq!(json["exitCode"], 3);
        assert_eq!(json["error"], serde_json::Value::Null);
    }

    #[test]
    fn output_beyond_the_cap_is_cut_and_marked() {
        // 300,000 bytes on stdout, nothing on stderr: the mark goes to stdout.
        let out = smol::block_on(run(
            req(&["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a"], None),
            never(),
        ))
        .unwrap();
        assert!(out.truncated && out.success);
        assert_eq!(out.stdout.len(), OUTPUT_CAP + 1 + TRUNCATED_SUFFIX.len());
        assert!(out.stdout.ends_with("\n... (truncated)"));
        // Both streams share one budget: 150k + 150k of 200k in total.
        let both =
            "head -c 150000 /dev/zero | tr '\\0' a; head -c 150000 /dev/zero | tr '\\0' b >&2";
        let out = smol::block_on(run(req(&["sh", "-c", both], None), never())).unwrap();
        let stderr_kept = out.stderr.len() - 1 - TRUNCATED_SUFFIX.len();
        assert_eq!(out.stdout.len() + stderr_kept, OUTPUT_CAP);
        assert!(out.stderr.ends_with("\n... (truncated)"));
    }

    #[test]
    fn a_timeout_kills_the_process_group() {
        let started = std::time::Instant::now();
        // The shell's child `sleep` is in the same group and dies with it.
        let out = smol::block_on(run(
            req(
                &["sh", "-c", "sleep 30 & sleep 30; echo never"],
                Some(Duration::from_millis(300)),
            ),
            never(),
        ))
        .unwrap();
        assert!(out.timed_out && !out.success);
        assert_eq!(out.exit_code, Some(124));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(!out.stdout.contains("never"));
    }

    #[test]
    fn a_cancel_kills_and_reports_nothing() {
        let started = std::time::Instant::now();
        let cancel = smol::Timer::after(Duration::from_millis(200));
        let out = smol::block_on(run(req(&["sleep", "30"], None), async {
            cancel.await;
        }));
        assert_eq!(out, None);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn spawn_failures_are_reported_in_error() {
        let out = smol::block_on(run(req(&["/nonexistent/program"], None), never())).unwrap();
        assert_eq!(out.exit_code, None);
        assert!(out.error.is_some() && !out.success);
        assert!(out.to_json().get("exitCode").is_none());
        let mut missing_cwd = req(&["ls"], None);
        missing_cwd.cwd = Some("/nonexistent/dir".into());
        let out = smol::block_on(run(missing_cwd, never())).unwrap();
        assert!(out.error.unwrap().starts_with(
            "node exec working directory does not exist on the node host: /nonexistent/dir"
        ));
    }
}
