//! A CLI backend turn: run the configured command as the model.
//!
//! What it promises (Unix only):
//!
//! - **Argv as configured** ([`invocation`]): base args (or `resumeArgs`
//!   when resuming a stored CLI session), the model flag, the session flag,
//!   the system prompt flag (text or a temporary file), and the prompt as
//!   the last argument or on stdin.
//! - **Streaming.** Stdout is read as it comes: plain text line by line,
//!   JSON lines as stream events (Claude's `stream-json` text deltas, a
//!   final `result`), or one JSON document at the end (see [`parse`]).
//! - **One terminal event**, as for the HTTP providers: `Done` after a
//!   zero exit, `Failed` with the end of stderr after a non-zero one (or
//!   with the CLI's own error record), `Failed` on cancel or on an output
//!   over the byte bound. The CLI's session id goes back as `CliSession`
//!   before `Done`.
//! - **Nothing left behind.** The command runs in its own process group;
//!   the whole group is killed on cancel (abort, the run's timeout, the hub
//!   stopping), when the output is too large, and after the command exits
//!   (a background child it left would otherwise hold stdout open).
//!   Stdout, stderr and stdin are served by short-lived threads that end
//!   with the pipes.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use gateway_proto::gateway::agents::cli_backend::{
    CliBackend, CliInput, CliOutput, SystemPromptWhen,
};
use gateway_proto::gateway::agents::model::{ModelEvent, ModelRequest, ModelRole};

use crate::providers::MAX_LINE_BYTES;

pub mod parse;

use parse::OutputParser;

/// Stderr kept for the failure message; the rest is read and dropped.
pub const MAX_STDERR_BYTES: usize = 16 << 10;

/// How often the cancel flag and the child are looked at while stdout is
/// quiet: the cancel latency.
const POLL: Duration = Duration::from_millis(50);

/// After the command exits, how long its last output may take to arrive.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

const CANCELLED: &str = "the model call was cancelled";

/// How the command is started for one turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    /// Written to stdin (then closed); `None`: stdin is empty.
    pub stdin: Option<String>,
    /// A system prompt to write to a file whose path replaces
    /// [`SYSTEM_PROMPT_FILE`] in `args`.
    pub system_prompt_file: Option<String>,
    pub output: CliOutput,
}

/// Stands for the system prompt file's path in [`Invocation::args`].
pub const SYSTEM_PROMPT_FILE: &str = "{systemPromptFile}";

/// The prompt of the turn: the newest user message when the CLI resumes
/// its own session (it keeps the history), else the conversation so far
/// with that message last.
pub fn prompt_of(request: &ModelRequest, resuming: bool) -> String {
    let last_user = request
        .messages
        .iter()
        .rposition(|m| m.role == ModelRole::User);
    let Some(last) = last_user else {
        return String::new();
    };
    if resuming || last == 0 {
        return request.messages[last].text.clone();
    }
    let mut prompt = String::from("Conversation so far:\n");
    for message in &request.messages[..last] {
        let who = match message.role {
            ModelRole::User => "User",
            ModelRole::Assistant => "Assistant",
            ModelRole::Tool => "Tool result",
        };
        prompt.push_str(&format!("{who}: {}\n", message.text));
    }
    prompt.push('\n');
    prompt.push_str(&request.messages[last].text);
    prompt
}

/// The command line of one turn of `cli` (see the module docs).
pub fn invocation(cli: &CliBackend, model: &str, system: &str, prompt: &str) -> Invocation {
    let session = cli.session_id.as_deref();
    let fill = |arg: &String| {
        arg.replace("{sessionId}", session.unwrap_or(""))
            .replace("{prompt}", prompt)
    };
    let resume_args = cli.resume_args.as_ref().filter(|_| cli.resuming);
    let base = resume_args.unwrap_or(&cli.args);
    let prompt_in_args = base.iter().any(|a| a.contains("{prompt}"));
    let mut args: Vec<String> = base.iter().map(fill).collect();
    if let Some(flag) = &cli.model_arg {
        let model = cli.model_aliases.get(model).map_or(model, String::as_str);
        args.extend([flag.clone(), model.to_owned()]);
    }
    // Resume args carry the session already.
    if let (Some(id), None) = (session, resume_args) {
        match (&cli.session_args, &cli.session_arg) {
            (Some(list), _) => args.extend(list.iter().map(fill)),
            (None, Some(flag)) => args.extend([flag.clone(), id.to_owned()]),
            (None, None) => {}
        }
    }
    let send_system = !system.is_empty()
        && match cli.system_prompt_when {
            SystemPromptWhen::Always => true,
            SystemPromptWhen::First => !cli.resuming,
            SystemPromptWhen::Never => false,
        };
    let mut system_prompt_file = None;
    if send_system {
        match (&cli.system_prompt_file_arg, &cli.system_prompt_arg) {
            (Some(flag), _) => {
                args.extend([flag.clone(), SYSTEM_PROMPT_FILE.to_owned()]);
                system_prompt_file = Some(system.to_owned());
            }
            (None, Some(flag)) => args.extend([flag.clone(), system.to_owned()]),
            (None, None) => {}
        }
    }
    let too_long = cli
        .max_prompt_arg_chars
        .is_some_and(|max| prompt.chars().count() > max);
    let stdin = match (cli.input, prompt_in_args) {
        (_, true) => None,
        (CliInput::Stdin, false) => Some(prompt.to_owned()),
        (CliInput::Arg, false) if too_long => Some(prompt.to_owned()),
        (CliInput::Arg, false) => {
            args.push(prompt.to_owned());
            None
        }
    };
    let output = match (cli.resuming, cli.resume_output) {
        (true, Some(output)) => output,
        _ => cli.output,
    };
    Invocation {
        program: cli.command.clone(),
        args,
        stdin,
        system_prompt_file,
        output,
    }
}

/// Run one turn of the CLI backend in `request.cli`, reporting to `emit`
/// as [`crate::providers::stream_model`] does. Blocking.
pub fn stream_cli(
    request: &ModelRequest,
    max_output_bytes: u64,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(ModelEvent) -> bool,
) {
    let terminal = match run(request, max_output_bytes, cancel, emit) {
        Ok(Some(done)) => done,
        Ok(None) => return,
        Err(message) => ModelEvent::Failed {
            message,
            status: None,
        },
    };
    emit(terminal);
}

/// What the stdout reader hands over.
enum Chunk {
    /// One line, without its newline (a line over the bound comes in
    /// pieces).
    Line(String),
    /// More than the output bound was written.
    TooLarge,
}

fn run(
    request: &ModelRequest,
    max_output_bytes: u64,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(ModelEvent) -> bool,
) -> Result<Option<ModelEvent>, String> {
    let Some(cli) = &request.cli else {
        return Err("the request names no CLI backend".into());
    };
    if cancel.load(Ordering::Acquire) {
        return Err(CANCELLED.into());
    }
    let prompt = prompt_of(request, cli.resuming);
    let mut plan = invocation(cli, &request.model, &request.system, &prompt);
    let prompt_file =
        match plan.system_prompt_file.take() {
            Some(text) => Some(TempFile::write(&text).map_err(|e| {
                format!("could not write the system prompt file for {}: {e}", cli.id)
            })?),
            None => None,
        };
    if let Some(file) = &prompt_file {
        for arg in plan.args.iter_mut().filter(|a| *a == SYSTEM_PROMPT_FILE) {
            *arg = file.path.to_string_lossy().into_owned();
        }
    }
    let mut command = Command::new(&plan.program);
    command
        .args(&plan.args)
        .stdin(match plan.stdin {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: cancel kills the command and everything it started.
        .process_group(0);
    let child = command
        .spawn()
        .map_err(|e| format!("could not start {} ({}): {e}", plan.program, cli.id))?;
    let mut group = Group::new(child);
    let stdin = group.child.stdin.take();
    if let (Some(mut pipe), Some(text)) = (stdin, plan.stdin.take()) {
        // A command that does not read its stdin closes the pipe: ignored.
        std::thread::spawn(move || drop(pipe.write_all(text.as_bytes())));
    }
    let stderr = group.child.stderr.take().map(read_stderr);
    let (tx, lines) = sync_channel::<Chunk>(64);
    if let Some(stdout) = group.child.stdout.take() {
        std::thread::spawn(move || read_lines(stdout, max_output_bytes, &|c| tx.send(c).is_ok()));
    }
    let mut parser = OutputParser::new(plan.output, cli);
    let status = match pump(&mut group, &lines, &mut parser, cancel, emit) {
        Err(Stop::TooLarge) => {
            return Err(format!(
                "the CLI backend wrote more than {max_output_bytes} bytes"
            ))
        }
        Err(Stop::Failed(message)) => return Err(message),
        Ok(status) => status,
    };
    let status = match status {
        Some(status) => status,
        None => return Ok(None),
    };
    // What it left behind goes now: it may hold stderr open.
    group.kill();
    let stderr = stderr
        .and_then(|r| r.recv_timeout(DRAIN_GRACE).ok())
        .unwrap_or_default();
    let outcome = parser.finish();
    if !status.success() {
        return Err(exit_failure(&plan.program, status, &stderr, outcome.error));
    }
    if let Some(error) = outcome.error {
        return Err(error);
    }
    let mut events = outcome.events;
    // A CLI that does not report its session keeps the one it was given.
    if let Some(id) = outcome.session_id.or_else(|| cli.session_id.clone()) {
        events.push(ModelEvent::CliSession(id));
    }
    for event in events {
        if !emit(event) {
            return Ok(None);
        }
    }
    Ok(Some(ModelEvent::Done {
        stop_reason: "stop".into(),
        response_id: None,
        response_model: None,
    }))
}

/// Why [`pump`] stopped early.
enum Stop {
    TooLarge,
    Failed(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Failed(message)
    }
}

/// Feed stdout to the parser until the command is done. `Ok(None)`: the
/// sink went away.
fn pump(
    group: &mut Group,
    lines: &Receiver<Chunk>,
    parser: &mut OutputParser,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(ModelEvent) -> bool,
) -> Result<Option<ExitStatus>, Stop> {
    let mut exited: Option<(ExitStatus, std::time::Instant)> = None;
    loop {
        if cancel.load(Ordering::Acquire) {
            return Err(Stop::Failed(CANCELLED.into()));
        }
        match lines.recv_timeout(POLL) {
            Ok(Chunk::Line(line)) => {
                for event in parser.line(&line) {
                    if !emit(event) {
                        return Ok(None);
                    }
                }
            }
            Ok(Chunk::TooLarge) => return Err(Stop::TooLarge),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        match exited {
            // A child it left behind may hold stdout open: stop waiting.
            Some((_, at)) if at.elapsed() > DRAIN_GRACE => break,
            Some(_) => {}
            None => {
                let status = group.child.try_wait().map_err(|e| e.to_string())?;
                #[allow(clippy::disallowed_methods)] // the runtime owns the clock
                let now = std::time::Instant::now();
                exited = status.map(|s| (s, now));
            }
        }
    }
    match exited {
        Some((status, _)) => Ok(Some(status)),
        None => loop {
            if cancel.load(Ordering::Acquire) {
                return Err(Stop::Failed(CANCELLED.into()));
            }
            if let Some(status) = group.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(Some(status));
            }
            std::thread::sleep(POLL);
        },
    }
}

fn exit_failure(program: &str, status: ExitStatus, stderr: &[u8], error: Option<String>) -> String {
    let how = match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "was killed by a signal".to_owned(),
    };
    let detail = error.unwrap_or_else(|| String::from_utf8_lossy(stderr).trim().to_owned());
    match detail.is_empty() {
        true => format!("{program} {how}"),
        false => format!("{program} {how}: {detail}"),
    }
}

/// Read stdout as lines (pieces of at most [`MAX_LINE_BYTES`]) until EOF,
/// the byte bound, or `send` refusing.
fn read_lines(mut stdout: impl Read, max_bytes: u64, send: &dyn Fn(Chunk) -> bool) {
    let mut total: u64 = 0;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n as u64;
        if total > max_bytes {
            send(Chunk::TooLarge);
            return;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if !send(Chunk::Line(text_of_line(&line[..end]))) {
                return;
            }
        }
        if pending.len() > MAX_LINE_BYTES {
            let piece = std::mem::take(&mut pending);
            if !send(Chunk::Line(text_of_line(&piece))) {
                return;
            }
        }
    }
    if !pending.is_empty() {
        send(Chunk::Line(text_of_line(&pending)));
    }
}

fn text_of_line(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Keep the first [`MAX_STDERR_BYTES`] of stderr, drain the rest; the
/// bytes kept arrive at EOF. (A process that escaped the group may keep
/// stderr open for ever: the caller waits a bounded time.)
fn read_stderr(mut stderr: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = sync_channel(1);
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

/// The child and its process group, killed and reaped when dropped.
struct Group {
    child: Child,
}

impl Group {
    fn new(child: Child) -> Self {
        Group { child }
    }

    /// SIGKILL to every process of the group. The group id is the child's
    /// pid (`process_group(0)`); a pid is not reused while a group of that
    /// id has members, and an empty group is simply not found.
    fn kill(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file in the temporary directory, removed when dropped.
struct TempFile {
    path: std::path::PathBuf,
}

impl TempFile {
    fn write(text: &str) -> std::io::Result<TempFile> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("openclaw-cli-system-{}-{n}.txt", std::process::id());
        let path = std::env::temp_dir().join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        Ok(TempFile { path })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
