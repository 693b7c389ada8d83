//! Model provider clients: one streamed call of `openai-completions`,
//! `anthropic-messages` or `ollama` per [`ModelRequest`].
//!
//! [`stream_model`] is blocking (ureq over rustls); the hub runs it on smol's
//! blocking pool. Its guarantees:
//!
//! - **One terminal event.** Every call emits zero or more `Text`/`Usage`
//!   events, each complete `ToolCall` (assembled from the pieces the
//!   provider streams), and then exactly one `Done` or `Failed`, last:
//!   connection refused, an HTTP error status (with the provider's own
//!   message when its body has one), a malformed chunk, an idle timeout, a
//!   stream that ends before the API's end marker, a reply over the size
//!   bound, too many or too large tool calls and cancellation all end in
//!   `Failed`. The only exception is a sink that
//!   refuses an event (the receiver is gone): the call then stops at once.
//! - **Bounded sizes.** No line over [`MAX_LINE_BYTES`], no more than
//!   [`MAX_TOOL_CALLS`] calls of at most [`MAX_TOOL_ARGUMENT_BYTES`] of
//!   arguments each (past either: `Failed`), no reply body over
//!   [`MAX_REPLY_BYTES`] (by default), no error body read past
//!   [`MAX_ERROR_BODY_BYTES`].
//! - **Cancellation latency.** The flag is checked before connecting and
//!   after every line read (SSE keep-alive comments included). A worker blocked in a read notices it when the
//!   next bytes arrive or when the read times out: in the worst case (a
//!   provider that stalls right after the flag is set) that is the idle
//!   timeout ([`DEFAULT_IDLE_TIMEOUT`], 120 s); while resolving or
//!   connecting, the connect timeout (30 s). A worker waiting for its sink
//!   (the hub's bounded inbox is full) stops once that send returns.
//!   Stopping drops the reader, which closes the connection (a body not read
//!   to its end is never returned to a pool).
//! - **Timeouts.** Name resolution and connecting (TLS included) are
//!   bounded by the connect timeout; every read and write after it (response
//!   headers included) by the idle timeout. There is no overall deadline: a
//!   provider that keeps sending is stopped by the reply-size bound or by
//!   the core cancelling the turn.
//! - **Proxies.** `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY` and `NO_PROXY` from
//!   the environment are honoured, except for loopback hosts, which are
//!   always reached directly.

mod anthropic;
mod lines;
mod ollama;
mod openai;
mod tool_calls;
mod wire;

use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gateway_proto::gateway::agents::model::{ModelApi, ModelEvent, ModelRequest};
use serde_json::Value;

pub use lines::MAX_LINE_BYTES;
use lines::{LineError, Lines, Sse};
pub use tool_calls::{MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS};
use wire::{clip, error_message_in, Framing, HttpCall};

/// How long to wait for the TCP (and TLS) connection. Providers answer in
/// well under a second; 30 s covers a slow network without leaving a turn
/// hanging on an unreachable host.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest silence accepted between two reads (response headers
/// included). Models may think for a while before their first token and
/// providers send keep-alives while they do; 120 s lets slow reasoning
/// models through while a dead stream is still noticed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The most reply bytes one call reads (all chunks together): about 16 MiB
/// of SSE is several times the longest reply a model produces.
pub const MAX_REPLY_BYTES: u64 = 16 << 20;

/// The most bytes read of an error response, for its message.
pub const MAX_ERROR_BODY_BYTES: u64 = 64 << 10;

/// The message of a call stopped by its cancel flag.
const CANCELLED: &str = "the model call was cancelled";

/// Timeouts and bounds of provider calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    /// The most reply bytes one call reads.
    pub max_reply_bytes: u64,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        ProviderSettings {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_reply_bytes: MAX_REPLY_BYTES,
        }
    }
}

/// Call the provider once and report the reply to `emit`, in order, ending
/// with exactly one `Done` or `Failed` (see the module docs). `emit`
/// returning `false` stops the call without a terminal event. Blocking.
pub fn stream_model(
    request: &ModelRequest,
    settings: &ProviderSettings,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(ModelEvent) -> bool,
) {
    if request.api == ModelApi::CliBackend {
        return stream_cli(request, settings, cancel, emit);
    }
    let terminal = match run(request, settings, cancel, emit) {
        Ok(Some(done)) => done,
        Ok(None) => return,
        Err(failure) => failure.into_event(),
    };
    emit(terminal);
}

/// A CLI backend turn (see [`crate::cli_backend`]); its output is bounded
/// like a reply body.
#[cfg(unix)]
fn stream_cli(
    request: &ModelRequest,
    settings: &ProviderSettings,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(ModelEvent) -> bool,
) {
    crate::cli_backend::stream_cli(request, settings.max_reply_bytes, cancel, emit);
}

#[cfg(not(unix))]
fn stream_cli(
    _request: &ModelRequest,
    _settings: &ProviderSettings,
    _cancel: &AtomicBool,
    emit: &mut dyn FnMut(ModelEvent) -> bool,
) {
    emit(ModelEvent::Failed {
        message: "CLI backends need a Unix host".into(),
        status: None,
    });
}

/// Why a call failed.
struct Failure {
    message: String,
    status: Option<u16>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            status: None,
        }
    }

    fn into_event(self) -> ModelEvent {
        ModelEvent::Failed {
            message: self.message,
            status: self.status,
        }
    }
}

/// The per-API stream states behind one interface.
enum State {
    OpenAi(openai::State),
    Anthropic(anthropic::State),
    Ollama(ollama::State),
}

impl State {
    fn on_message(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelEvent>, String> {
        match self {
            State::OpenAi(state) => state.on_message(event, data, out),
            State::Anthropic(state) => state.on_message(event, data, out),
            State::Ollama(state) => state.on_message(event, data, out),
        }
    }

    fn at_eof(&mut self, out: &mut Vec<ModelEvent>) -> Option<ModelEvent> {
        match self {
            State::OpenAi(state) => state.at_eof(out),
            State::Anthropic(state) => state.at_eof(out),
            State::Ollama(state) => state.at_eof(out),
        }
    }
}

/// `Ok(Some(done))` when the reply completed, `Ok(None)` when the sink went
/// away.
fn run(
    request: &ModelRequest,
    settings: &ProviderSettings,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(ModelEvent) -> bool,
) -> Result<Option<ModelEvent>, Failure> {
    let (call, mut state) = match request.api {
        ModelApi::OpenAiCompletions => {
            (openai::prepare(request), State::OpenAi(Default::default()))
        }
        ModelApi::AnthropicMessages => (
            anthropic::prepare(request),
            State::Anthropic(Default::default()),
        ),
        ModelApi::Ollama => (ollama::prepare(request), State::Ollama(Default::default())),
        ModelApi::CliBackend => return Err(Failure::new("a CLI backend is not an HTTP provider")),
    };
    let cancelled = || cancel.load(Ordering::Acquire);
    if cancelled() {
        return Err(Failure::new(CANCELLED));
    }
    let framing = call.framing;
    let body = send(&call, &request.headers, settings)?;
    let reader = BufReader::with_capacity(16 << 10, body);
    let mut out = Vec::new();
    // Each step reads one SSE event or one NDJSON line.
    let mut source = Source::new(framing, reader);
    loop {
        if cancelled() {
            return Err(Failure::new(CANCELLED));
        }
        let next = source.next(&cancelled).map_err(|e| match cancelled() {
            // The read that was blocked when the flag went up timed out.
            true => Failure::new(CANCELLED),
            false => read_failure(e, settings),
        })?;
        let Some((event, data)) = next else {
            let done = state.at_eof(&mut out).ok_or_else(|| {
                Failure::new("the provider's stream ended before the reply was complete")
            })?;
            for event in out.drain(..) {
                if !emit(event) {
                    return Ok(None);
                }
            }
            return Ok(Some(done));
        };
        let finished = state
            .on_message(&event, &data, &mut out)
            .map_err(Failure::new)?;
        for event in out.drain(..) {
            if !emit(event) {
                return Ok(None);
            }
        }
        if let Some(done) = finished {
            return Ok(Some(done));
        }
    }
}

/// SSE events or NDJSON lines, as `(event name, data)`.
enum Source<R> {
    Sse(Sse<R>),
    Ndjson(Lines<R>),
}

impl<R: std::io::BufRead> Source<R> {
    fn new(framing: Framing, reader: R) -> Self {
        match framing {
            Framing::Sse => Source::Sse(Sse::new(reader)),
            Framing::Ndjson => Source::Ndjson(Lines::new(reader)),
        }
    }

    fn next(&mut self, stop: &dyn Fn() -> bool) -> Result<Option<(String, String)>, LineError> {
        match self {
            Source::Sse(sse) => Ok(sse.next_event(stop)?.map(|e| (e.event, e.data))),
            Source::Ndjson(lines) => Ok(lines.next_line()?.map(|line| (String::new(), line))),
        }
    }
}

fn read_failure(error: LineError, settings: &ProviderSettings) -> Failure {
    match error {
        LineError::TooLong => Failure::new(format!(
            "the provider sent a line longer than {MAX_LINE_BYTES} bytes"
        )),
        LineError::NotUtf8 => Failure::new("the provider sent text that is not UTF-8"),
        LineError::Stopped => Failure::new(CANCELLED),
        LineError::Io(e) => match ureq::Error::from(e) {
            ureq::Error::Timeout(_) => Failure::new(format!(
                "the provider sent nothing for {} s",
                settings.idle_timeout.as_secs_f64()
            )),
            ureq::Error::BodyExceedsLimit(_) => Failure::new(format!(
                "the provider's reply is larger than {} bytes",
                settings.max_reply_bytes
            )),
            e => Failure::new(format!("reading the provider's reply failed: {e}")),
        },
    }
}

/// POST the call; the body reader of a 2xx answer, a failure otherwise.
fn send(
    call: &HttpCall,
    extra_headers: &[(String, String)],
    settings: &ProviderSettings,
) -> Result<impl Read, Failure> {
    let uri: ureq::http::Uri = call
        .url
        .parse()
        .map_err(|_| Failure::new(format!("the provider URL {} is not valid", call.url)))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(Failure::new(format!(
                "the provider URL {} is not http(s)",
                call.url
            )))
        }
    }
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_resolve(Some(settings.connect_timeout))
        .timeout_connect(Some(settings.connect_timeout))
        .timeout_per_read(Some(settings.idle_timeout))
        .timeout_per_write(Some(settings.idle_timeout))
        .user_agent(concat!("openclaw-gateway-rs/", env!("CARGO_PKG_VERSION")));
    if uri.host().is_some_and(is_loopback) {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let mut post = agent
        .post(&uri)
        .header("Content-Type", "application/json")
        .header(
            "Accept",
            match call.framing {
                Framing::Sse => "text/event-stream",
                Framing::Ndjson => "application/x-ndjson",
            },
        );
    for (name, value) in merged_headers(&call.headers, extra_headers) {
        post = post.header(name, value);
    }
    let body = serde_json::to_vec(&call.body)
        .map_err(|e| Failure::new(format!("cannot encode the request: {e}")))?;
    let origin = origin_of(&uri);
    let response = post.send(&body[..]).map_err(|e| match e {
        ureq::Error::Timeout(_) => Failure::new(format!("the provider at {origin} timed out")),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Failure::new(format!("the provider at {origin} refused the connection"))
        }
        e => Failure::new(format!("cannot reach the provider at {origin}: {e}")),
    })?;
    let status = response.status().as_u16();
    // A JSON document where a stream was expected is an error some
    // compatible servers send with a 200.
    let json_instead_of_events = call.framing == Framing::Sse
        && response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !(200..300).contains(&status) || json_instead_of_events {
        let mut text = String::new();
        let _ = response
            .into_body()
            .into_with_config()
            .limit(MAX_ERROR_BODY_BYTES)
            .lossy_utf8(true)
            .reader()
            .take(MAX_ERROR_BODY_BYTES)
            .read_to_string(&mut text);
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|body| error_message_in(&body))
            .unwrap_or_else(|| clip(text.trim(), 300).to_string());
        if json_instead_of_events && (200..300).contains(&status) {
            return Err(Failure::new(format!(
                "the provider answered with JSON instead of a stream: {detail}"
            )));
        }
        let message = if detail.is_empty() {
            format!("the provider answered HTTP {status}")
        } else {
            format!("the provider answered HTTP {status}: {detail}")
        };
        return Err(Failure {
            message,
            status: Some(status),
        });
    }
    Ok(response
        .into_body()
        .into_with_config()
        .limit(settings.max_reply_bytes)
        .reader())
}

/// The API's headers with the configured ones over them: a configured
/// header replaces the API's header of the same name (any case), so a
/// provider can carry its credential its own way.
fn merged_headers<'a>(
    api: &'a [(String, String)],
    configured: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    let overridden = |name: &str| configured.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    api.iter()
        .filter(|(name, _)| !overridden(name))
        .chain(configured)
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

/// `scheme://host:port` of a URI, for messages (never its path or query).
fn origin_of(uri: &ureq::http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    match uri.authority() {
        Some(authority) => format!(
            "{scheme}://{}",
            authority.as_str().rsplit('@').next().unwrap_or("")
        ),
        None => scheme.to_string(),
    }
}

/// Loopback targets never go through a proxy from the environment.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("LOCALHOST"));
        assert!(!is_loopback("api.openai.com"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[test]
    fn origins_leave_out_credentials_and_paths() {
        let uri: ureq::http::Uri = "https://user:pw@example.com:8443/v1/x?k=1".parse().unwrap();
        assert_eq!(origin_of(&uri), "https://example.com:8443");
    }
}
