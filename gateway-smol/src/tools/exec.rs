//! `exec`: one shell command in the workspace, in its own process group,
//! with a reduced environment, killed with the whole group at its timeout or
//! on cancel. Blocking: it runs on smol's blocking pool, never on the hub.
//!
//! The result text follows the reference's exec tool: the combined output
//! (trimmed; `(no output)` when there is none), then `(Command exited with
//! code N)` after a non-zero exit, or a timeout note after a kill.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gateway_proto::gateway::agents::tools::{ToolOutcome, MAX_OUTPUT_BYTES};
use rustix::process::{kill_process_group, Pid, Signal};
use serde_json::json;

use super::confine::Workspace;
use super::CancelFlag;

/// How often the waiting loop looks at the child, the clock and the cancel flag.
const POLL: Duration = Duration::from_millis(10);
/// How long a stopped command has between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(1000);
/// How long output may keep flowing after the shell exited (its background
/// children hold the pipe) before the group is killed so the pipe closes.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// Variables passed through from the gateway's environment. Everything else
/// (the gateway token and password, provider API keys, …) stays out.
const PASSED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ",
    "TMPDIR",
];
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Said after a timeout so the model does not blindly run it again (the
/// reference gives the same advice).
const TIMEOUT_ADVICE: &str = "The command was stopped, but it may already have changed things. Check the current state before running it again, and do not repeat commands that are not safe to repeat. Ask for a longer timeout only for commands that are safe to retry.";
/// Put before output whose beginning was dropped at the cap (the reference's note).
const DROPPED_NOTE: &str =
    "[earlier output was discarded at the retention cap and cannot be recovered]\n\n";

pub(crate) fn exec(
    ws: &Workspace,
    command: &str,
    cwd: &str,
    timeout_ms: u64,
    cancel: &CancelFlag,
) -> ToolOutcome {
    let real_cwd = match ws.resolve(cwd) {
        Ok(real) if real.is_dir() => real,
        Ok(_) => return ToolOutcome::error(format!("The working directory {cwd} does not exist.")),
        Err(refused) => return ToolOutcome::error(refused),
    };
    let started = Instant::now();
    // Close-on-exec: commands running at the same time must not inherit
    // each other's pipe (a reader would wait for the wrong process).
    let (reader, writer) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
        Ok(pipe) => pipe,
        Err(e) => return ToolOutcome::error(format!("Could not start the command: {e}.")),
    };
    let child = {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(command)
            .current_dir(&real_cwd)
            .stdin(Stdio::null())
            .env_clear()
            // A group of its own: one kill reaches everything it started.
            .process_group(0);
        for name in PASSED_ENV {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        if std::env::var_os("PATH").is_none() {
            cmd.env("PATH", DEFAULT_PATH);
        }
        // As the reference marks the shells of its exec tool.
        cmd.env("OPENCLAW_SHELL", "exec");
        // One pipe for both streams keeps their order. `cmd` (holding the
        // write ends) is dropped at the end of this block: the reader sees
        // end of file once the command and its children are done.
        match writer.try_clone() {
            Ok(copy) => cmd
                .stdout(Stdio::from(copy))
                .stderr(Stdio::from(writer))
                .spawn(),
            Err(e) => Err(e),
        }
    };
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return ToolOutcome::error(format!("Could not start the command: {e}.")),
    };

    let output = Arc::new(Mutex::new(Tail::default()));
    let (eof_tx, eof_rx) = mpsc::channel::<()>();
    {
        let output = Arc::clone(&output);
        let mut reader = std::fs::File::from(reader);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => lock(&output).push(&chunk[..n]),
                }
            }
            let _ = eof_tx.send(());
        });
    }

    // 0 means no timeout (as the reference's `timeoutSeconds: 0`); cancel
    // still stops it.
    let deadline = match timeout_ms {
        0 => None,
        ms => started.checked_add(Duration::from_millis(ms)),
    };
    let mut ended = Ended::Exited;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        if cancel.load(Ordering::Acquire) {
            ended = Ended::Cancelled;
        } else if deadline.is_some_and(|d| Instant::now() >= d) {
            ended = Ended::TimedOut;
        }
        if !matches!(ended, Ended::Exited) {
            break stop_group(&mut child);
        }
        std::thread::sleep(POLL);
    };
    // The shell is gone; what it left running in the background still
    // holds the pipe. Give it a moment, then kill the group: a tool call
    // leaves nothing behind.
    if eof_rx.recv_timeout(DRAIN_GRACE).is_err() {
        kill_group(&child);
        let _ = eof_rx.recv_timeout(Duration::from_secs(2));
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let tail = std::mem::take(&mut *lock(&output));
    outcome(ended, status, &tail, timeout_ms, duration_ms, cwd)
}

#[derive(Clone, Copy)]
enum Ended {
    Exited,
    TimedOut,
    Cancelled,
}

fn outcome(
    ended: Ended,
    status: Option<ExitStatus>,
    tail: &Tail,
    timeout_ms: u64,
    duration_ms: u64,
    cwd: &str,
) -> ToolOutcome {
    use std::os::unix::process::ExitStatusExt;
    let text = tail.text();
    let aggregated = text.trim();
    let dropped = if tail.dropped { DROPPED_NOTE } else { "" };
    let exit_code = status.and_then(|s| s.code());
    let exit_signal = status.and_then(|s| s.signal()).map(signal_name);
    let exit_reason = match ended {
        Ended::TimedOut => "overall-timeout",
        Ended::Cancelled => "aborted",
        Ended::Exited if exit_signal.is_some() => "signal",
        Ended::Exited => "exit",
    };
    let details = |status: &str, timed_out: bool| {
        json!({
            "status": status,
            "exitReason": exit_reason,
            "exitCode": exit_code,
            "exitSignal": exit_signal,
            "durationMs": duration_ms,
            "timedOut": timed_out,
            "cwd": cwd,
        })
    };
    let with_output = |reason: &str| {
        if aggregated.is_empty() {
            format!("{dropped}{reason}")
        } else {
            format!("{dropped}{aggregated}\n\n{reason}")
        }
    };
    match ended {
        Ended::TimedOut => ToolOutcome {
            text: with_output(&format!(
                "Command timed out after {} seconds.\n\n{TIMEOUT_ADVICE}",
                seconds(timeout_ms)
            )),
            is_error: true,
            details: details("failed", true),
        },
        Ended::Cancelled => ToolOutcome {
            text: with_output("Command aborted before exit code was captured"),
            is_error: true,
            details: details("failed", false),
        },
        Ended::Exited => match (exit_code, &exit_signal) {
            // 126/127: the shell could not run it at all.
            (Some(127), _) => ToolOutcome {
                text: with_output("Command not found"),
                is_error: true,
                details: details("failed", false),
            },
            (Some(126), _) => ToolOutcome {
                text: with_output("Command not executable (permission denied)"),
                is_error: true,
                details: details("failed", false),
            },
            // A non-zero exit is an answer, not a tool failure (as in the reference).
            (Some(code), _) => {
                let output = if aggregated.is_empty() {
                    "(no output)"
                } else {
                    aggregated
                };
                let note = if code == 0 {
                    String::new()
                } else {
                    format!("\n\n(Command exited with code {code})")
                };
                ToolOutcome {
                    text: format!("{dropped}{output}{note}"),
                    is_error: false,
                    details: details("completed", false),
                }
            }
            (None, Some(signal)) => ToolOutcome {
                text: with_output(&format!("Command aborted by signal {signal}")),
                is_error: true,
                details: details("failed", false),
            },
            (None, None) => ToolOutcome {
                text: with_output("Command aborted before exit code was captured"),
                is_error: true,
                details: details("failed", false),
            },
        },
    }
}

/// `1500` → `1.5`, `30000` → `30` (as JavaScript prints the seconds).
fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        let text = format!("{:.3}", ms as f64 / 1000.0);
        text.trim_end_matches('0').to_string()
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// SIGKILL to the child's whole process group (its pid is the group id).
/// A group that is already gone is fine.
fn kill_group(child: &Child) {
    let _ = kill_process_group(Pid::from_child(child), Signal::KILL);
}

/// Stop the whole group as the reference stops a command: SIGTERM first
/// (a chance to clean up), SIGKILL for whatever is still there after
/// [`TERM_GRACE`]. Returns how the shell ended.
fn stop_group(child: &mut Child) -> Option<ExitStatus> {
    let _ = kill_process_group(Pid::from_child(child), Signal::TERM);
    let until = Instant::now() + TERM_GRACE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(POLL),
            Ok(None) | Err(_) => {
                kill_group(child);
                break child.wait().ok();
            }
        }
    };
    // Children that ignore SIGTERM (the shell may have obeyed) go too.
    kill_group(child);
    status
}

/// The last [`MAX_OUTPUT_BYTES`] of the output, and whether more came before.
#[derive(Default)]
struct Tail {
    bytes: std::collections::VecDeque<u8>,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend(chunk);
        let excess = self.bytes.len().saturating_sub(MAX_OUTPUT_BYTES);
        if excess > 0 {
            self.bytes.drain(..excess);
            self.dropped = true;
        }
    }

    /// The kept bytes as text. A cut inside a character at the front is
    /// skipped; other invalid bytes become U+FFFD.
    fn text(&self) -> String {
        let (front, back) = self.bytes.as_slices();
        let mut all = Vec::with_capacity(self.bytes.len());
        all.extend_from_slice(front);
        all.extend_from_slice(back);
        let start = if self.dropped {
            all.iter()
                .take(3)
                .take_while(|b| (**b & 0xC0) == 0x80)
                .count()
        } else {
            0
        };
        String::from_utf8_lossy(&all[start..]).into_owned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
