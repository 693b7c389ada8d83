//! A scripted model provider: a small HTTP/1.1 server on `127.0.0.1:0`
//! that answers each request with the next [`Script`] in the OpenAI
//! (server-sent events), Anthropic (server-sent events) or Ollama
//! (newline-delimited JSON) streaming format, and records every request it
//! got (headers and JSON body) and how its reply ended.
//!
//! Test scaffolding, std and serde_json only, so gateway-smol's own tests
//! can include this file too. Every wait in it is bounded.

// Real sockets in real time.
#![allow(clippy::disallowed_methods)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The longest a script stalls, so a forgotten test cannot hang forever.
const MAX_STALL: Duration = Duration::from_secs(60);
/// The largest request head and body the server reads.
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 4 << 20;

/// Which streaming format a script is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    OpenAi,
    Anthropic,
    Ollama,
}

/// One step of a streamed reply.
#[derive(Clone, Debug)]
pub enum Step {
    /// A text delta.
    Text(String),
    /// One tool call, streamed in the API's native pieces: OpenAI an
    /// opening `delta.tool_calls` with the id and name then the arguments in
    /// two or more pieces; Anthropic a `tool_use` block whose
    /// `input_json_delta`s carry the arguments in two or more pieces; Ollama
    /// one line with the call whole (arguments as an object when they parse
    /// as one, without an id, as older servers send it). End the reply
    /// with `Finish("tool_calls")` / `Finish("tool_use")` / `Finish("stop")`.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// Wait before the next step.
    Delay(Duration),
    /// The provider's finish reason (`stop`, `end_turn`, `length`, …), with
    /// the script's usage where the API puts it.
    Finish(String),
    /// The API's end marker (`data: [DONE]`, `message_stop`; nothing for
    /// Ollama, whose finish line ends the stream).
    End,
    /// Bytes sent as they are (a malformed chunk, an error event).
    Raw(String),
    /// Send nothing more and keep the connection open until the client
    /// closes it (at most a minute).
    Stall,
    /// Close the connection at once, mid-stream.
    Drop,
}

/// Token counts a script reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

/// The answer to one request.
#[derive(Clone, Debug)]
pub struct Script {
    pub api: Api,
    /// Anything but 200, or a non-empty `error_body`, answers with
    /// `error_body` as a JSON document and no stream.
    pub status: u16,
    pub error_body: String,
    pub usage: Option<Usage>,
    /// The response id and model the stream names.
    pub id: String,
    pub model: String,
    pub steps: Vec<Step>,
}

impl Script {
    /// An empty 200 stream; add steps with the builders.
    pub fn new(api: Api) -> Self {
        let id = match api {
            Api::OpenAi => "chatcmpl-fake",
            Api::Anthropic => "msg_fake",
            Api::Ollama => "",
        };
        Script {
            api,
            status: 200,
            error_body: String::new(),
            usage: None,
            id: id.to_string(),
            model: "fake-model".to_string(),
            steps: Vec::new(),
        }
    }

    /// A complete reply: each text, then the API's usual finish reason,
    /// usage `{input: 10, output: 5}` and the end marker.
    pub fn reply(api: Api, texts: &[&str]) -> Self {
        let mut script = Script::new(api).usage(Usage {
            input: 10,
            output: 5,
            ..Usage::default()
        });
        for text in texts {
            script = script.text(text);
        }
        let reason = match api {
            Api::Anthropic => "end_turn",
            Api::OpenAi | Api::Ollama => "stop",
        };
        script.finish(reason).end()
    }

    /// A JSON document (an error one, usually) with this status.
    pub fn error(api: Api, status: u16, body: Value) -> Self {
        let mut script = Script::new(api);
        script.status = status;
        script.error_body = body.to_string();
        script
    }

    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    pub fn text(self, text: &str) -> Self {
        self.step(Step::Text(text.to_string()))
    }

    /// A tool call (see [`Step::ToolCall`]); `arguments` is JSON text.
    pub fn tool_call(self, id: &str, name: &str, arguments: &str) -> Self {
        self.step(Step::ToolCall {
            id: id.to_string(),
            name: name.to_string(),
            arguments: arguments.to_string(),
        })
    }

    pub fn delay(self, millis: u64) -> Self {
        self.step(Step::Delay(Duration::from_millis(millis)))
    }

    pub fn finish(self, reason: &str) -> Self {
        self.step(Step::Finish(reason.to_string()))
    }

    pub fn end(self) -> Self {
        self.step(Step::End)
    }

    pub fn raw(self, bytes: &str) -> Self {
        self.step(Step::Raw(bytes.to_string()))
    }

    pub fn stall(self) -> Self {
        self.step(Step::Stall)
    }

    pub fn drop_connection(self) -> Self {
        self.step(Step::Drop)
    }

    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }
}

/// How the server's side of one exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step was sent and the response ended normally.
    Completed,
    /// The client closed the connection before the script was over.
    ClientClosed,
    /// The script dropped the connection.
    Dropped,
    /// The stall hit its one-minute bound.
    StallTimedOut,
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// `None` while the reply is still going.
    pub outcome: Option<Outcome>,
}

impl Recorded {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    scripts: Mutex<VecDeque<Script>>,
    recorded: Mutex<Vec<Recorded>>,
    stop: AtomicBool,
}

/// The running server; dropping it stops it.
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Listen on `127.0.0.1:0` and answer requests with `scripts`, in order
    /// (a request with no script left gets a 500).
    pub fn start(scripts: Vec<Script>) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake provider");
        let addr = listener.local_addr().expect("fake provider address");
        let shared = Arc::new(Shared::default());
        shared
            .scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(scripts);
        let for_acceptor = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if for_acceptor.stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&for_acceptor);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        FakeProvider {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The outcome of request `index` once its reply is over, waiting at
    /// most `timeout`.
    pub fn wait_outcome(&self, index: usize, timeout: Duration) -> Option<Outcome> {
        let deadline = Instant::now() + timeout;
        loop {
            let outcome = self
                .requests()
                .get(index)
                .and_then(|recorded| recorded.outcome);
            if outcome.is_some() || Instant::now() >= deadline {
                return outcome;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Read one request, record it, play the next script.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(reader_stream) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader_stream);
    let Some(recorded) = read_request(&mut reader) else {
        return;
    };
    let index = {
        let mut all = shared
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.push(recorded);
        all.len() - 1
    };
    let script = shared
        .scripts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop_front();
    let outcome = match script {
        Some(script) => play(&stream, &mut reader, &script, &shared.stop),
        None => {
            let body = json!({"error": {"message": "the fake provider has no script left"}});
            let _ = write_plain(&stream, 500, &body.to_string());
            Outcome::Completed
        }
    };
    shared
        .recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)[index]
        .outcome = Some(outcome);
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut head_bytes = 0;
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).ok()?;
        head_bytes += n;
        if n == 0 || head_bytes > MAX_HEAD {
            return None;
        }
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        let (name, value) = text.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(MAX_BODY)];
    reader.read_exact(&mut body).ok()?;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Recorded {
        method,
        path,
        headers,
        body,
        outcome: None,
    })
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn write_plain(mut stream: &TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// One HTTP chunk.
fn write_chunk(mut stream: &TcpStream, data: &str) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    stream.write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())?;
    stream.flush()
}

fn play(
    stream: &TcpStream,
    reader: &mut BufReader<TcpStream>,
    script: &Script,
    stop: &AtomicBool,
) -> Outcome {
    if script.status != 200 || !script.error_body.is_empty() {
        return match write_plain(stream, script.status, &script.error_body) {
            Ok(()) => Outcome::Completed,
            Err(_) => Outcome::ClientClosed,
        };
    }
    let content_type = match script.api {
        Api::OpenAi | Api::Anthropic => "text/event-stream",
        Api::Ollama => "application/x-ndjson",
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let mut out = stream;
    if out.write_all(head.as_bytes()).is_err() {
        return Outcome::ClientClosed;
    }
    let render = Renderer::new(script);
    if write_chunk(stream, &render.start()).is_err() {
        return Outcome::ClientClosed;
    }
    for step in &script.steps {
        let sent = match step {
            Step::Delay(pause) => {
                std::thread::sleep(*pause);
                Ok(())
            }
            Step::Stall => return stall(stream, reader, stop),
            Step::Drop => {
                let _ = stream.shutdown(Shutdown::Both);
                return Outcome::Dropped;
            }
            step => write_chunk(stream, &render.step(step)),
        };
        if sent.is_err() {
            return Outcome::ClientClosed;
        }
    }
    match out.write_all(b"0\r\n\r\n").and_then(|()| out.flush()) {
        Ok(()) => Outcome::Completed,
        Err(_) => Outcome::ClientClosed,
    }
}

/// Send nothing until the client closes (a read returns end of stream).
fn stall(stream: &TcpStream, reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Outcome {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + MAX_STALL;
    let mut scratch = [0u8; 256];
    while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
        match reader.read(&mut scratch) {
            Ok(0) => return Outcome::ClientClosed,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Outcome::ClientClosed,
        }
    }
    Outcome::StallTimedOut
}

/// The wire text of each step in the script's API.
struct Renderer<'a> {
    script: &'a Script,
    /// Tool calls rendered so far (the OpenAI `index` of the next one).
    tool_calls: Cell<u64>,
    /// Anthropic: the index of the current content block, and whether it is
    /// an open text block (the stream opens one at index 0).
    block: Cell<u64>,
    text_open: Cell<bool>,
}

/// `text` in two pieces split near its middle (on a character boundary),
/// or whole when it is shorter than two characters.
fn halves(text: &str) -> Vec<&str> {
    let chars = text.chars().count();
    if chars < 2 {
        return vec![text];
    }
    let at = text
        .char_indices()
        .nth(chars / 2)
        .map_or(text.len(), |(at, _)| at);
    vec![&text[..at], &text[at..]]
}

impl<'a> Renderer<'a> {
    fn new(script: &'a Script) -> Self {
        Renderer {
            script,
            tool_calls: Cell::new(0),
            block: Cell::new(0),
            text_open: Cell::new(script.api == Api::Anthropic),
        }
    }

    /// Anthropic: close the open text block, if any.
    fn close_text_block(&self) -> String {
        if !self.text_open.replace(false) {
            return String::new();
        }
        Self::sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": self.block.get()}),
        )
    }

    /// Anthropic: a text delta, in a new text block when a tool call
    /// closed the last one.
    fn anthropic_text(&self, text: &str) -> String {
        let mut out = String::new();
        if !self.text_open.get() {
            self.block.set(self.block.get() + 1);
            self.text_open.set(true);
            out += &Self::sse(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": self.block.get(),
                        "content_block": {"type": "text", "text": ""}}),
            );
        }
        out + &Self::sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": self.block.get(),
                    "delta": {"type": "text_delta", "text": text}}),
        )
    }

    fn tool_call(&self, id: &str, name: &str, arguments: &str) -> String {
        let s = self.script;
        let ordinal = self.tool_calls.get();
        self.tool_calls.set(ordinal + 1);
        match s.api {
            Api::OpenAi => {
                let chunk = |call: Value| {
                    Self::sse(
                        None,
                        &json!({"id": s.id, "object": "chat.completion.chunk", "model": s.model,
                                "choices": [{"index": 0, "delta": {"tool_calls": [call]},
                                             "finish_reason": null}]}),
                    )
                };
                let mut out = chunk(json!({"index": ordinal, "id": id, "type": "function",
                                           "function": {"name": name, "arguments": ""}}));
                for piece in halves(arguments) {
                    out += &chunk(json!({"index": ordinal, "function": {"arguments": piece}}));
                }
                out
            }
            Api::Anthropic => {
                // The stream opened a text block at index 0: each call is
                // a block of its own after the current one.
                let out = self.close_text_block();
                let index = self.block.get() + 1;
                self.block.set(index);
                let mut out = out
                    + &Self::sse(
                        Some("content_block_start"),
                        &json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "tool_use", "id": id, "name": name,
                                              "input": {}}}),
                    );
                for piece in halves(arguments).into_iter().filter(|p| !p.is_empty()) {
                    out += &Self::sse(
                        Some("content_block_delta"),
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece}}),
                    );
                }
                out + &Self::sse(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": index}),
                )
            }
            Api::Ollama => {
                let arguments = serde_json::from_str::<Value>(arguments)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| Value::String(arguments.to_string()));
                format!(
                    "{}\n",
                    json!({"model": s.model, "created_at": "2026-01-01T00:00:00Z",
                           "message": {"role": "assistant", "content": "",
                                       "tool_calls": [{"function": {"name": name,
                                                                    "arguments": arguments}}]},
                           "done": false})
                )
            }
        }
    }

    fn usage(&self) -> Usage {
        self.script.usage.unwrap_or_default()
    }

    fn sse(event: Option<&str>, data: &Value) -> String {
        match event {
            Some(event) => format!("event: {event}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        }
    }

    /// What the stream opens with.
    fn start(&self) -> String {
        let s = self.script;
        match s.api {
            Api::OpenAi | Api::Ollama => String::new(),
            Api::Anthropic => {
                let u = self.usage();
                let start = json!({"type": "message_start", "message": {
                    "id": s.id, "type": "message", "role": "assistant", "model": s.model,
                    "content": [], "stop_reason": null,
                    "usage": {"input_tokens": u.input, "output_tokens": 1,
                              "cache_read_input_tokens": u.cache_read,
                              "cache_creation_input_tokens": u.cache_write}}});
                let block = json!({"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}});
                Self::sse(Some("message_start"), &start)
                    + &Self::sse(Some("content_block_start"), &block)
                    + &Self::sse(Some("ping"), &json!({"type": "ping"}))
            }
        }
    }

    fn step(&self, step: &Step) -> String {
        let s = self.script;
        let u = self.usage();
        match (s.api, step) {
            (_, Step::Raw(bytes)) => bytes.clone(),
            (
                _,
                Step::ToolCall {
                    id,
                    name,
                    arguments,
                },
            ) => self.tool_call(id, name, arguments),
            (Api::OpenAi, Step::Text(text)) => Self::sse(
                None,
                &json!({"id": s.id, "object": "chat.completion.chunk", "model": s.model,
                        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
            ),
            (Api::OpenAi, Step::Finish(reason)) => {
                let finish = Self::sse(
                    None,
                    &json!({"id": s.id, "object": "chat.completion.chunk", "model": s.model,
                            "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}),
                );
                match s.usage {
                    Some(u) => {
                        let usage = json!({"id": s.id, "object": "chat.completion.chunk",
                            "model": s.model, "choices": [],
                            "usage": {"prompt_tokens": u.input + u.cache_read,
                                      "completion_tokens": u.output,
                                      "total_tokens": u.input + u.cache_read + u.output,
                                      "prompt_tokens_details": {"cached_tokens": u.cache_read}}});
                        finish + &Self::sse(None, &usage)
                    }
                    None => finish,
                }
            }
            (Api::OpenAi, Step::End) => "data: [DONE]\n\n".to_string(),
            (Api::Anthropic, Step::Text(text)) => self.anthropic_text(text),
            (Api::Anthropic, Step::Finish(reason)) => {
                self.close_text_block()
                    + &Self::sse(
                        Some("message_delta"),
                        &json!({"type": "message_delta",
                            "delta": {"stop_reason": reason, "stop_sequence": null},
                            "usage": {"output_tokens": u.output}}),
                    )
            }
            (Api::Anthropic, Step::End) => {
                Self::sse(Some("message_stop"), &json!({"type": "message_stop"}))
            }
            (Api::Ollama, Step::Text(text)) => format!(
                "{}\n",
                json!({"model": s.model, "created_at": "2026-01-01T00:00:00Z",
                       "message": {"role": "assistant", "content": text}, "done": false})
            ),
            (Api::Ollama, Step::Finish(reason)) => format!(
                "{}\n",
                json!({"model": s.model, "created_at": "2026-01-01T00:00:00Z",
                       "message": {"role": "assistant", "content": ""}, "done": true,
                       "done_reason": reason, "total_duration": 1000,
                       "prompt_eval_count": u.input, "eval_count": u.output})
            ),
            (Api::Ollama, Step::End) => String::new(),
            (_, Step::Delay(_) | Step::Stall | Step::Drop) => String::new(),
        }
    }
}
