//! The OpenAI-compatible `/v1` routes on the gateway port: the socket side.
//!
//! The core decides (see `gateway_proto::gateway::openai_http`); this reads
//! the body, hands the request to the hub task, and writes the answer: one
//! JSON document, or server-sent events as the run's deltas arrive.
//!
//! Bounds: at most [`MAX_IN_FLIGHT`] completions read a body or wait for a
//! run at once (each body up to the core's 20 MB); a stream's unsent text is
//! capped at [`MAX_PENDING_TEXT`] (a client that reads slower than the model
//! writes loses its run, not our memory); every write has a deadline. A
//! client that hangs up aborts its run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use gateway_proto::gateway::openai_http::is_api_path;
use gateway_proto::gateway::openai_http::{
    run_failed_answer, stream_error_event, Completion, HttpAnswer, HttpGate, HttpHead,
    HttpRunUpdate, NO_RESPONSE_TEXT, SSE_DONE,
};
use smol::channel::{Receiver, Sender};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

use crate::http::{self, Head, Response};
use crate::hub::HubMsg;
use crate::server::Shared;

/// Completions reading a body or waiting for their run, at once.
pub(crate) const MAX_IN_FLIGHT: usize = 16;
/// Unsent reply text one stream may hold before its run is dropped.
pub(crate) const MAX_PENDING_TEXT: usize = 4 * 1024 * 1024;
/// Time to read a whole request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Time one write to the client may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a run has reported that its writer has not taken yet.
#[derive(Default)]
struct Pending {
    text: String,
    end: Option<HttpRunUpdate>,
    /// The writer fell too far behind: the run is given up.
    overflow: bool,
}

/// Where the hub puts a run's updates for the task writing to its client.
/// Deltas are merged into one string, so a slow client costs at most
/// [`MAX_PENDING_TEXT`], however many deltas arrive.
pub(crate) struct RunSlot {
    pending: Mutex<Pending>,
    /// Holds one wake-up at most; the writer takes everything pending on each.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl RunSlot {
    fn new() -> Arc<Self> {
        let (wake_tx, wake_rx) = smol::channel::bounded(1);
        Arc::new(RunSlot {
            pending: Mutex::new(Pending::default()),
            wake_tx,
            wake_rx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the hub; true once the slot needs nothing more (ended).
    pub(crate) fn push(&self, update: HttpRunUpdate) -> bool {
        let done = {
            let mut pending = self.lock();
            match update {
                HttpRunUpdate::Delta(text) => {
                    if pending.text.len() + text.len() > MAX_PENDING_TEXT {
                        pending.overflow = true;
                    } else {
                        pending.text.push_str(&text);
                    }
                }
                end => pending.end = Some(end),
            }
            pending.end.is_some() || pending.overflow
        };
        let _ = self.wake_tx.try_send(());
        done
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.lock())
    }
}

/// Counts a completion in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Option<Self> {
        let admitted = count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            })
            .is_ok();
        admitted.then_some(InFlight(count))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn api_head(head: &Head) -> HttpHead {
    let header = |name: &str| head.header(name).map(str::to_owned);
    HttpHead {
        method: head.method.clone(),
        path: head.path.clone(),
        authorization: header("authorization"),
        model_override: header("x-openclaw-model"),
        session_key: header("x-openclaw-session-key"),
        agent_id: header("x-openclaw-agent-id").or_else(|| header("x-openclaw-agent")),
    }
}

/// Ask the hub task something and wait for its answer (`None`: the hub is
/// gone, e.g. restarting).
async fn ask_hub<T>(shared: &Shared, make: impl FnOnce(Sender<T>) -> HubMsg) -> Option<T> {
    let (tx, rx) = smol::channel::bounded(1);
    shared.hub_tx.send(make(tx)).await.ok()?;
    rx.recv().await.ok()
}

/// What [`serve`] left: the connection may carry on with these bytes, or not.
pub(crate) type After = Option<Vec<u8>>;

/// Serve one request on an API path. `Some(rest)`: the connection is kept
/// and `rest` holds what followed the request.
pub(crate) async fn serve(
    stream: &mut TcpStream,
    head: Head,
    rest: Vec<u8>,
    shared: &Shared,
) -> Result<After, Head> {
    let api = api_head(&head);
    let gate = ask_hub(shared, |reply| HubMsg::HttpGate {
        head: api.clone(),
        reply,
    })
    .await;
    let max_bytes = match gate {
        None => {
            let answer = HttpAnswer::error(503, "gateway restarting", "api_error");
            respond(stream, &answer, false).await;
            return Ok(None);
        }
        // Disabled or not ours: the caller answers as for any other path.
        Some(HttpGate::NotRouted) => return Err(head),
        Some(HttpGate::Answer(answer)) => {
            return Ok(answer_and_keep(stream, &head, rest, &answer, shared).await)
        }
        Some(HttpGate::ReadBody { max_bytes }) => max_bytes,
    };
    let Some(_in_flight) = InFlight::enter(&shared.http_in_flight) else {
        let answer = HttpAnswer::error(
            503,
            "too many chat completions in progress; retry later",
            "api_error",
        );
        respond(stream, &answer, false).await;
        return Ok(None);
    };
    let Some(len) = head.body_len() else {
        // Chunked bodies are not read here; clients send a length.
        let answer = HttpAnswer::error(411, "Content-Length required", "invalid_request_error");
        respond(stream, &answer, false).await;
        return Ok(None);
    };
    if len > max_bytes {
        let answer = HttpAnswer::error(413, "Payload too large", "invalid_request_error");
        respond(stream, &answer, false).await;
        return Ok(None);
    }
    let Some(body) = read_body(stream, rest, len).await else {
        let answer = HttpAnswer::error(408, "Request body timeout", "invalid_request_error");
        respond(stream, &answer, false).await;
        return Ok(None);
    };
    let id = shared.next_http_stream();
    let slot = RunSlot::new();
    let accepted = ask_hub(shared, |reply| HubMsg::HttpChat {
        stream: id,
        head: api,
        body,
        slot: Arc::clone(&slot),
        reply,
    })
    .await;
    let completion = match accepted {
        None => {
            let answer = HttpAnswer::error(503, "gateway restarting", "api_error");
            respond(stream, &answer, false).await;
            return Ok(None);
        }
        Some(Err(answer)) => {
            respond(stream, &answer, false).await;
            return Ok(None);
        }
        Some(Ok(completion)) => completion,
    };
    let gone = if completion.stream {
        stream_events(stream, &completion, &slot).await
    } else {
        answer_once(stream, &completion, &slot).await
    };
    if gone {
        let _ = shared.hub_tx.send(HubMsg::HttpGone { stream: id }).await;
    }
    Ok(None)
}

/// A complete answer; the connection is kept when the client wants it and
/// the request had no body to speak of.
async fn answer_and_keep(
    stream: &mut TcpStream,
    head: &Head,
    rest: Vec<u8>,
    answer: &HttpAnswer,
    shared: &Shared,
) -> After {
    let body = head.body_len().filter(|n| *n <= 64 * 1024);
    let keep = head.wants_keep_alive() && body.is_some();
    if !respond(stream, answer, keep).await || !keep {
        return None;
    }
    http::skip_body(
        stream,
        rest,
        body.unwrap_or(0),
        shared.opts.http_head_timeout,
    )
    .await
}

async fn respond(stream: &mut TcpStream, answer: &HttpAnswer, keep_alive: bool) -> bool {
    let base = if answer.is_json() {
        Response::json(answer.status, &answer.body, false)
    } else {
        Response::text(answer.status, &answer.body)
    };
    let response = Response {
        extra_headers: match answer.allow {
            Some("GET") => "Allow: GET\r\n",
            Some(_) => "Allow: POST\r\n",
            None => "",
        },
        ..base
    };
    http::respond(stream, &response, keep_alive, WRITE_TIMEOUT).await
}

/// The body: `len` bytes, of which `buffered` came with the head.
async fn read_body(stream: &mut TcpStream, mut buffered: Vec<u8>, len: usize) -> Option<Vec<u8>> {
    buffered.truncate(len);
    let mut body = buffered;
    let read = async {
        let mut chunk = vec![0u8; 16 * 1024];
        while body.len() < len {
            let want = (len - body.len()).min(chunk.len());
            let n = stream.read(&mut chunk[..want]).await.ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    smol::future::or(read, async {
        smol::Timer::after(BODY_TIMEOUT).await;
        None
    })
    .await?;
    Some(body)
}

/// Wait for news of the run, or for the client to hang up (true).
async fn next_news(stream: &TcpStream, slot: &RunSlot) -> bool {
    let mut reader = stream.clone();
    let hung_up = async {
        // Anything the client sends now is not a request we will answer
        // (the connection closes after this one); only its end matters.
        let mut scratch = [0u8; 512];
        loop {
            match reader.read(&mut scratch).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    smol::future::or(async { slot.wake_rx.recv().await.is_err() }, hung_up).await
}

async fn write_timed(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    smol::future::or(async { write.await.is_ok() }, async {
        smol::Timer::after(WRITE_TIMEOUT).await;
        false
    })
    .await
}

/// A completion answered in one piece once its run ends. True when the
/// client went away first.
async fn answer_once(stream: &mut TcpStream, completion: &Completion, slot: &RunSlot) -> bool {
    let mut text = String::new();
    loop {
        if next_news(stream, slot).await {
            return true;
        }
        let pending = slot.take();
        text.push_str(&pending.text);
        let answer = match pending.end {
            _ if pending.overflow => run_failed_answer(),
            Some(HttpRunUpdate::Final {
                text: final_text,
                usage,
                stop_reason,
            }) => HttpAnswer {
                status: 200,
                body: completion.response(&final_text, usage, &stop_reason),
                allow: None,
            },
            Some(_) => run_failed_answer(),
            None => continue,
        };
        respond(stream, &answer, false).await;
        return pending.overflow;
    }
}

/// A completion as server-sent events: the role, each delta as it comes,
/// the finish (and usage), `[DONE]`. True when the client went away (or
/// could not keep up) before the end.
async fn stream_events(stream: &mut TcpStream, completion: &Completion, slot: &RunSlot) -> bool {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
                Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let mut first = head.to_owned();
    first.push_str(&completion.role_chunk());
    if !write_timed(stream, first.as_bytes()).await {
        return true;
    }
    let mut streamed = String::new();
    loop {
        if next_news(stream, slot).await {
            return true;
        }
        let pending = slot.take();
        let mut out = String::new();
        if !pending.text.is_empty() {
            out.push_str(&completion.content_chunk(&pending.text));
            streamed.push_str(&pending.text);
        }
        let ended = pending.overflow || pending.end.is_some();
        match pending.end {
            _ if pending.overflow => out.push_str(&stream_error_event()),
            Some(HttpRunUpdate::Final {
                text,
                usage,
                stop_reason,
            }) => {
                // Deltas carry the whole reply; the final text only fills
                // in what they did not (or the fallback for no reply).
                let rest: &str = text.strip_prefix(streamed.as_str()).unwrap_or_default();
                if !rest.is_empty() {
                    out.push_str(&completion.content_chunk(rest));
                } else if text.is_empty() && streamed.is_empty() {
                    out.push_str(&completion.content_chunk(NO_RESPONSE_TEXT));
                }
                out.push_str(&completion.finish_chunk(&stop_reason));
                if completion.include_usage {
                    out.push_str(&completion.usage_chunk(usage));
                }
            }
            Some(_) => out.push_str(&stream_error_event()),
            None => {}
        }
        if ended {
            out.push_str(SSE_DONE);
        }
        if !out.is_empty() && !write_timed(stream, out.as_bytes()).await {
            return true;
        }
        if ended {
            let _ = stream.close().await;
            return pending.overflow;
        }
    }
}
