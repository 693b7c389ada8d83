//! Concurrent agent runs through OUR gateway: N operator connections each
//! send one `chat.send` in a session of its own (so the runs are parallel)
//! to a scripted OpenAI-compatible provider that streams a reply in chunks,
//! and wait for every run's `final` chat event. Measures time to the first
//! `delta` and to `final`, wall time, the gateway's RSS (before and peak)
//! and the provider's request count. Used by the `agent_runs` bench binary
//! and its smoke test.
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::chat::fake_model_config;
use crate::fake_provider::{Api, FakeProvider, Script, Usage};
use crate::load::{percentile_ms, Conn};
use crate::process::{rss_kib, GatewayOptions, OurGateway};

/// What to run.
#[derive(Clone, Debug)]
pub struct AgentRunsConfig {
    /// Concurrent runs, one connection and one session each.
    pub runs: usize,
    /// Text chunks in each streamed reply.
    pub chunks: usize,
    /// Pause between two chunks, in milliseconds.
    pub chunk_delay_ms: u64,
    /// Bound on the whole measurement, from the first send to the last final.
    pub timeout: Duration,
    /// Handshakes in flight at a time while connecting: below the gateway's
    /// 32 unauthenticated sockets per address, past which it answers 503.
    pub connect_concurrency: usize,
}

impl Default for AgentRunsConfig {
    fn default() -> Self {
        AgentRunsConfig {
            runs: 100,
            chunks: 20,
            chunk_delay_ms: 10,
            timeout: Duration::from_secs(60),
            connect_concurrency: 16,
        }
    }
}

/// What one run saw, measured from its `chat.send`.
#[derive(Clone, Debug)]
struct RunTiming {
    first_delta: Option<Duration>,
    final_at: Duration,
    /// Frames the connection got up to the final (all runs' events).
    frames: u64,
}

/// The measurement.
#[derive(Clone, Debug)]
pub struct AgentRunsReport {
    pub runs: usize,
    pub completed: usize,
    /// One line per failed or timed-out run (at most the first few).
    pub failures: Vec<String>,
    pub failed: usize,
    pub first_delta_p50_ms: f64,
    pub first_delta_p99_ms: f64,
    pub final_p50_ms: f64,
    pub final_p99_ms: f64,
    pub final_max_ms: f64,
    pub wall: Duration,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    pub provider_requests: usize,
    /// Frames each client got up to its run's final, mean over the runs.
    pub frames_per_client: f64,
    /// CPU seconds (user + system) the gateway spent during the runs.
    pub gateway_cpu_secs: f64,
}

impl AgentRunsReport {
    /// Every run reached `final`.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.completed == self.runs
    }

    pub fn to_json(&self) -> Value {
        json!({
            "runs": self.runs,
            "completed": self.completed,
            "failed": self.failed,
            "firstDeltaP50Ms": self.first_delta_p50_ms,
            "firstDeltaP99Ms": self.first_delta_p99_ms,
            "finalP50Ms": self.final_p50_ms,
            "finalP99Ms": self.final_p99_ms,
            "finalMaxMs": self.final_max_ms,
            "wallSeconds": self.wall.as_secs_f64(),
            "rssBeforeKiB": self.rss_before_kib,
            "rssPeakKiB": self.rss_peak_kib,
            "rssAfterKiB": self.rss_after_kib,
            "providerRequests": self.provider_requests,
            "framesPerClient": self.frames_per_client,
            "gatewayCpuSeconds": self.gateway_cpu_secs,
            "failures": self.failures,
        })
    }

    /// A small human-readable table.
    pub fn table(&self) -> String {
        let mb = |kib: u64| kib as f64 / 1024.0;
        let rows = [
            (
                "runs completed".to_owned(),
                format!("{} / {}", self.completed, self.runs),
            ),
            (
                "send → first delta p50 / p99".to_owned(),
                format!(
                    "{:.1} / {:.1} ms",
                    self.first_delta_p50_ms, self.first_delta_p99_ms
                ),
            ),
            (
                "send → final p50 / p99 (max)".to_owned(),
                format!(
                    "{:.1} / {:.1} ms ({:.1})",
                    self.final_p50_ms, self.final_p99_ms, self.final_max_ms
                ),
            ),
            (
                "wall time".to_owned(),
                format!("{:.2} s", self.wall.as_secs_f64()),
            ),
            (
                "gateway RSS before → peak → after".to_owned(),
                format!(
                    "{:.1} → {:.1} → {:.1} MB",
                    mb(self.rss_before_kib),
                    mb(self.rss_peak_kib),
                    mb(self.rss_after_kib)
                ),
            ),
            (
                "provider requests".to_owned(),
                self.provider_requests.to_string(),
            ),
            (
                "frames per client (mean)".to_owned(),
                format!("{:.0}", self.frames_per_client),
            ),
            (
                "gateway CPU during the runs".to_owned(),
                format!("{:.2} s", self.gateway_cpu_secs),
            ),
        ];
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            let pad = width - key.chars().count();
            out.push_str(&format!("{key}{}  {value}\n", " ".repeat(pad)));
        }
        for failure in &self.failures {
            out.push_str(&format!("failed: {failure}\n"));
        }
        out
    }
}

/// One streamed reply: `chunks` texts with a pause between two of them.
pub fn chunked_reply(chunks: usize, delay_ms: u64) -> Script {
    let mut script = Script::new(Api::OpenAi).usage(Usage {
        input: 10,
        output: chunks as u64,
        ..Usage::default()
    });
    for i in 0..chunks {
        if i > 0 && delay_ms > 0 {
            script = script.delay(delay_ms);
        }
        script = script.text(&format!("chunk {i} "));
    }
    script.finish("stop").end()
}

/// Samples a process's RSS every 50 ms on a thread of its own, keeping the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            // Bounded: the sampler is stopped when the runs end; this is
            // only the backstop if the caller forgets to.
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                if flag.load(Ordering::Acquire) || Instant::now() > deadline {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler { stop, thread }
    }

    fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or(0)
    }
}

/// Start the provider and our gateway, run the measurement, stop both.
pub fn run_agent_runs(config: &AgentRunsConfig) -> Result<AgentRunsReport, String> {
    let scripts = (0..config.runs)
        .map(|_| chunked_reply(config.chunks, config.chunk_delay_ms))
        .collect();
    let provider = FakeProvider::start(scripts);
    let gateway = OurGateway::start(GatewayOptions {
        config: Some(fake_model_config(&provider)),
        ..GatewayOptions::default()
    });
    let target = gateway.target();
    let conns = smol::block_on(async {
        let opened: Vec<Result<Conn, String>> = futures_util::stream::iter(0..config.runs)
            .map(|_| {
                let target = &target;
                async move {
                    Conn::open(
                        target,
                        &["operator.admin", "operator.read", "operator.write"],
                    )
                    .await
                }
            })
            .buffer_unordered(config.connect_concurrency.max(1))
            .collect()
            .await;
        opened.into_iter().collect::<Result<Vec<Conn>, String>>()
    })?;

    let rss_before_kib = gateway.rss_kib();
    let cpu_before = cpu_secs(gateway.pid());
    let sampler = RssSampler::start(gateway.pid());
    let started = Instant::now();
    let deadline = started + config.timeout;
    let results: Vec<Result<RunTiming, String>> = smol::block_on(async {
        let runs = conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| one_run(conn, i, deadline));
        futures_util::future::join_all(runs).await
    });
    let wall = started.elapsed();
    let rss_peak_kib = sampler.peak();
    let rss_after_kib = gateway.rss_kib();
    let gateway_cpu_secs = cpu_secs(gateway.pid()) - cpu_before;
    let provider_requests = provider.requests().len();
    drop(gateway);
    drop(provider);
    let mut report = summarize(
        config.runs,
        results,
        wall,
        (rss_before_kib, rss_peak_kib, rss_after_kib),
        provider_requests,
    );
    report.gateway_cpu_secs = gateway_cpu_secs;
    Ok(report)
}

fn summarize(
    runs: usize,
    results: Vec<Result<RunTiming, String>>,
    wall: Duration,
    (rss_before_kib, rss_peak_kib, rss_after_kib): (u64, u64, u64),
    provider_requests: usize,
) -> AgentRunsReport {
    let mut first_delta_us = Vec::new();
    let mut final_us = Vec::new();
    let mut failures = Vec::new();
    let mut failed = 0;
    let mut frames = 0u64;
    for result in results {
        match result {
            Ok(timing) => {
                frames += timing.frames;
                final_us.push(timing.final_at.as_micros() as u64);
                match timing.first_delta {
                    Some(d) => first_delta_us.push(d.as_micros() as u64),
                    None => {
                        failed += 1;
                        failures.push("final without a delta before it".to_owned());
                    }
                }
            }
            Err(e) => {
                failed += 1;
                if failures.len() < 5 {
                    failures.push(e);
                }
            }
        }
    }
    first_delta_us.sort_unstable();
    final_us.sort_unstable();
    AgentRunsReport {
        runs,
        completed: final_us.len(),
        failures,
        failed,
        first_delta_p50_ms: percentile_ms(&first_delta_us, 0.5),
        first_delta_p99_ms: percentile_ms(&first_delta_us, 0.99),
        final_p50_ms: percentile_ms(&final_us, 0.5),
        final_p99_ms: percentile_ms(&final_us, 0.99),
        final_max_ms: percentile_ms(&final_us, 1.0),
        wall,
        rss_before_kib,
        rss_peak_kib,
        rss_after_kib,
        provider_requests,
        frames_per_client: frames as f64 / final_us.len().max(1) as f64,
        gateway_cpu_secs: 0.0,
    }
}

/// User + system CPU seconds of a process (`/proc/<pid>/stat`, in clock
/// ticks of 1/100 s, the Linux value of `CLK_TCK`).
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the `(comm)`, which may contain spaces: state is field 3,
    // utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&k| fields.get(k).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

/// Send run `i`'s `chat.send` in session `s<i>` and read until its final
/// chat event (every operator gets every run's events: the others' are
/// skipped). Errors on an error/aborted state, a refused send, or `deadline`.
async fn one_run(mut conn: Conn, i: usize, deadline: Instant) -> Result<RunTiming, String> {
    let id = format!("send-{i}");
    let session_key = format!("s{i}");
    // The gateway names the session after the default agent.
    let full_key = format!("agent:main:{session_key}");
    let frame = json!({"type": "req", "id": id, "method": "chat.send", "params": {
        "sessionKey": session_key,
        "message": format!("run {i}: stream me a reply"),
        "idempotencyKey": format!("bench-{i}"),
    }});
    let sent = Instant::now();
    conn.send(&frame).await?;
    let mut run_id: Option<String> = None;
    let mut first_delta = None;
    let mut frames = 0u64;
    let read = async {
        loop {
            let text = conn.next_text().await?;
            frames += 1;
            // Every operator gets every run's events; parsing only the
            // frames that name this run keeps the client's CPU (shared with
            // the gateway on this machine) off the measurement.
            let about_me = text.contains(&full_key)
                || text.contains(id.as_str())
                || run_id.as_deref().is_some_and(|r| text.contains(r));
            if !about_me {
                continue;
            }
            let frame: Value =
                serde_json::from_str(&text).map_err(|e| format!("run {i}: bad JSON: {e}"))?;
            if frame["type"] == "res" && frame["id"] == id.as_str() {
                if frame["ok"] != true {
                    return Err(format!("run {i}: chat.send refused: {}", frame["error"]));
                }
                run_id = frame["payload"]["runId"].as_str().map(str::to_owned);
                continue;
            }
            if frame["type"] != "event" || frame["event"] != "chat" {
                continue;
            }
            let payload = &frame["payload"];
            let mine = match &run_id {
                Some(run_id) => payload["runId"] == run_id.as_str(),
                // An event ahead of the response: tell it by its session.
                None => payload["sessionKey"] == full_key.as_str(),
            };
            if !mine {
                continue;
            }
            match payload["state"].as_str() {
                Some("delta") => {
                    first_delta.get_or_insert_with(|| sent.elapsed());
                }
                Some("final") => {
                    return Ok(RunTiming {
                        first_delta,
                        final_at: sent.elapsed(),
                        frames,
                    })
                }
                Some("error" | "aborted") => {
                    return Err(format!("run {i} ended {}: {payload}", payload["state"]))
                }
                _ => {}
            }
        }
    };
    let timeout = async {
        smol::Timer::at(deadline).await;
        Err(format!("run {i}: no final within the timeout"))
    };
    let result = smol::future::or(read, timeout).await;
    conn.close().await;
    result
}
