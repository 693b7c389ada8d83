//! A bounded soak of a running gateway: reconnect churn, presence and
//! broadcast traffic and slow readers for a set time, while the gateway's
//! RSS, open fds and threads are sampled every second; then the checks that
//! say it stayed healthy (every request answered, fds back to their
//! baseline, threads bounded, no RSS growth after warm-up).
//!
//! `tests/src/bin/soak.rs` runs it from the command line (minutes or hours);
//! `tests/tests/e2e_soak.rs` runs a short one in the suite.
#![allow(clippy::disallowed_methods)] // sampling and pacing read the clock

mod plot;
mod traffic;
pub mod trend;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::load::LoadTarget;
use crate::procfs::{self, ProcSample};
pub use plot::{csv, svg};
use traffic::{Counters, Jitter};

/// How long and how hard to soak, and what counts as healthy.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// How long the traffic runs.
    pub duration: Duration,
    /// Reconnect-churn clients (the real mix).
    pub clients: usize,
    /// Long-lived clients that read every broadcast.
    pub listeners: usize,
    /// Clients that stop reading until they are closed, again and again.
    pub slow_readers: usize,
    /// Pause between two `system-event`s of the presence sender.
    pub presence_every: Duration,
    /// Seed of the jitter (pauses, call counts).
    pub seed: u64,
    /// Most RSS growth allowed over the second half, projected from its
    /// least-squares slope, MiB.
    pub max_trend_mib: f64,
    /// Most difference allowed between the mean RSS of the last quarter and
    /// of the second quarter, MiB.
    pub max_quarter_drift_mib: f64,
    /// Most fds over the idle baseline once the clients are gone.
    pub fd_slack: usize,
    /// Most threads the gateway may have at any time.
    pub max_threads: usize,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            duration: Duration::from_secs(120),
            clients: 100,
            listeners: 10,
            slow_readers: 3,
            presence_every: Duration::from_millis(200),
            seed: 1,
            max_trend_mib: 2.0,
            max_quarter_drift_mib: 2.0,
            fd_slack: 4,
            max_threads: 32,
        }
    }
}

/// One sample, taken every second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Seconds since the traffic started.
    pub secs: f64,
    pub proc: ProcSample,
    /// Client connections open at that moment.
    pub open_clients: u64,
    /// Requests answered so far.
    pub answered: u64,
}

/// What a soak saw, and its verdicts.
#[derive(Debug)]
pub struct SoakReport {
    pub config: SoakConfig,
    /// The gateway before any traffic.
    pub baseline: ProcSample,
    /// The gateway after the clients left (and it let their sockets go).
    pub after: ProcSample,
    /// One per second while the traffic ran.
    pub samples: Vec<Sample>,
    pub connects: u64,
    /// Connects refused with 503 at the upgrade and retried.
    pub refused_503: u64,
    pub requests: u64,
    pub answered: u64,
    pub broadcasts_seen: u64,
    pub slow_closed: u64,
    pub slow_closed_1008: u64,
    pub failures: Vec<String>,
    pub failure_count: u64,
    /// RSS growth over the second half projected from its slope, MiB.
    pub trend_mib: f64,
    /// Mean RSS of the last quarter minus that of the second quarter, MiB.
    pub quarter_drift_mib: f64,
    /// Problems found; empty when the soak passed.
    pub problems: Vec<String>,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    fn max_threads(&self) -> usize {
        self.samples
            .iter()
            .map(|s| s.proc.threads)
            .max()
            .unwrap_or(0)
    }

    fn rss_range_mib(&self) -> (f64, f64) {
        let rss = self.samples.iter().map(|s| s.proc.rss_kib as f64 / 1024.0);
        (
            rss.clone().fold(f64::INFINITY, f64::min),
            rss.fold(0.0, f64::max),
        )
    }

    /// The summary as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let (rss_min, rss_max) = self.rss_range_mib();
        serde_json::json!({
            "seconds": self.config.duration.as_secs(),
            "clients": self.config.clients,
            "listeners": self.config.listeners,
            "slowReaders": self.config.slow_readers,
            "seed": self.config.seed,
            "connects": self.connects,
            "refused503": self.refused_503,
            "requests": self.requests,
            "answered": self.answered,
            "broadcastsSeen": self.broadcasts_seen,
            "slowReadersClosed": self.slow_closed,
            "slowReadersClosed1008": self.slow_closed_1008,
            "failures": self.failure_count,
            "baseline": {"rssKiB": self.baseline.rss_kib, "fds": self.baseline.fds, "threads": self.baseline.threads},
            "after": {"rssKiB": self.after.rss_kib, "fds": self.after.fds, "threads": self.after.threads},
            "rssMiBMin": round2(rss_min),
            "rssMiBMax": round2(rss_max),
            "maxThreads": self.max_threads(),
            "secondHalfTrendMiB": round2(self.trend_mib),
            "quarterDriftMiB": round2(self.quarter_drift_mib),
            "passed": self.passed(),
            "problems": self.problems,
        })
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rss_min, rss_max) = self.rss_range_mib();
        writeln!(
            f,
            "soak {} s: {} connects ({} refused 503 and retried), {}/{} requests answered, \
             {} broadcasts seen, {} slow readers closed ({} with a 1008 frame)",
            self.config.duration.as_secs(),
            self.connects,
            self.refused_503,
            self.answered,
            self.requests,
            self.broadcasts_seen,
            self.slow_closed,
            self.slow_closed_1008
        )?;
        writeln!(
            f,
            "RSS {rss_min:.1}–{rss_max:.1} MiB; second-half trend {:+.2} MiB, \
             last vs second quarter {:+.2} MiB",
            self.trend_mib, self.quarter_drift_mib
        )?;
        writeln!(
            f,
            "fds {} before, {} after; threads {} before, {} at most, {} after",
            self.baseline.fds,
            self.after.fds,
            self.baseline.threads,
            self.max_threads(),
            self.after.threads
        )?;
        for failure in &self.failures {
            writeln!(f, "  failure: {failure}")?;
        }
        if self.passed() {
            write!(f, "PASSED")
        } else {
            write!(f, "FAILED: {}", self.problems.join("; "))
        }
    }
}

/// Soak the gateway process `pid` listening at `target`.
pub fn run(pid: u32, target: &LoadTarget, config: SoakConfig) -> SoakReport {
    let baseline = procfs::sample(pid).unwrap_or_default();
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let deadline = started + config.duration;

    // The sampler is a thread of its own, so a busy client executor does
    // not delay the samples.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, stop, counters) = (samples.clone(), stop.clone(), counters.clone());
        std::thread::spawn(move || {
            let mut next = started;
            while !stop.load(Ordering::Relaxed) {
                let Some(proc) = procfs::sample(pid) else {
                    break;
                };
                let sample = Sample {
                    secs: started.elapsed().as_secs_f64(),
                    proc,
                    open_clients: counters.open.load(Ordering::Relaxed),
                    answered: counters.answered.load(Ordering::Relaxed),
                };
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(sample);
                next += Duration::from_secs(1);
                while Instant::now() < next && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    };

    smol::block_on(async {
        let mut tasks = Vec::new();
        let mut seeds = Jitter::new(config.seed);
        for i in 0..config.clients {
            tasks.push(smol::spawn(traffic::churn_client(
                target.clone(),
                i,
                Jitter::new(seeds.next_u64()),
                deadline,
                counters.clone(),
            )));
        }
        for i in 0..config.listeners {
            tasks.push(smol::spawn(traffic::listener(
                target.clone(),
                i,
                deadline,
                counters.clone(),
            )));
        }
        tasks.push(smol::spawn(traffic::presence_sender(
            target.clone(),
            config.presence_every,
            deadline,
            counters.clone(),
        )));
        for i in 0..config.slow_readers {
            tasks.push(smol::spawn(traffic::slow_reader(
                target.clone(),
                i,
                Jitter::new(seeds.next_u64()),
                deadline,
                counters.clone(),
            )));
        }
        for task in tasks {
            task.await;
        }
    });
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));

    // The clients are gone; give the gateway a moment to let their sockets go.
    let settle_deadline = Instant::now() + Duration::from_secs(15);
    let mut after = procfs::sample(pid).unwrap_or_default();
    while after.fds > baseline.fds + config.fd_slack && Instant::now() < settle_deadline {
        std::thread::sleep(Duration::from_millis(200));
        after = procfs::sample(pid).unwrap_or_default();
    }

    judge(config, baseline, after, samples, &counters, pid)
}

fn judge(
    config: SoakConfig,
    baseline: ProcSample,
    after: ProcSample,
    samples: Vec<Sample>,
    counters: &Counters,
    pid: u32,
) -> SoakReport {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let mut problems = Vec::new();
    if procfs::sample(pid).is_none() {
        problems.push("the gateway is gone".to_owned());
    }
    let (requests, answered) = (load(&counters.requests), load(&counters.answered));
    let failure_count = load(&counters.failure_count);
    if answered != requests || failure_count > 0 {
        problems.push(format!(
            "{answered} of {requests} requests answered, {failure_count} failures"
        ));
    }
    // Admission refusals are designed (and retried), but more than one in
    // a thousand connects would mean the bounds are wrong for this load.
    let (connects, refused) = (load(&counters.connects), load(&counters.refused_503));
    if refused.saturating_mul(1000) > connects {
        problems.push(format!(
            "{refused} connects refused with 503 against {connects} made (over 0.1%)"
        ));
    }
    if config.listeners > 0 && load(&counters.broadcasts_seen) == 0 {
        problems.push("no listener saw a presence broadcast".to_owned());
    }
    if config.slow_readers > 0 && load(&counters.slow_closed) == 0 {
        problems.push("no slow reader was closed".to_owned());
    }
    if after.fds > baseline.fds + config.fd_slack {
        problems.push(format!(
            "{} fds open after the soak, {} before",
            after.fds, baseline.fds
        ));
    }
    let max_threads = samples.iter().map(|s| s.proc.threads).max().unwrap_or(0);
    if max_threads.max(after.threads) > config.max_threads {
        problems.push(format!(
            "{max_threads} threads at most (limit {})",
            config.max_threads
        ));
    }
    if after.threads > baseline.threads + 2 {
        problems.push(format!(
            "{} threads after the soak, {} before",
            after.threads, baseline.threads
        ));
    }

    // Growth after warm-up: the first half is warm-up (allocator arenas,
    // the presence list reaching its steady size).
    let secs: Vec<f64> = samples.iter().map(|s| s.secs).collect();
    let rss_mib: Vec<f64> = samples
        .iter()
        .map(|s| s.proc.rss_kib as f64 / 1024.0)
        .collect();
    let half = samples.len() / 2;
    let half_span = secs.last().copied().unwrap_or(0.0) - secs.get(half).copied().unwrap_or(0.0);
    let trend_mib = trend::slope(&secs[half..], &rss_mib[half..]) * half_span;
    let quarter_drift_mib =
        trend::mean(trend::quarter(&rss_mib, 3)) - trend::mean(trend::quarter(&rss_mib, 1));
    if samples.len() < 8 {
        problems.push(format!("only {} samples", samples.len()));
    }
    if trend_mib > config.max_trend_mib {
        problems.push(format!(
            "RSS grew {trend_mib:.2} MiB over the second half (limit {})",
            config.max_trend_mib
        ));
    }
    if quarter_drift_mib > config.max_quarter_drift_mib {
        problems.push(format!(
            "RSS of the last quarter {quarter_drift_mib:.2} MiB above the second's (limit {})",
            config.max_quarter_drift_mib
        ));
    }

    SoakReport {
        config,
        baseline,
        after,
        samples,
        connects: load(&counters.connects),
        refused_503: load(&counters.refused_503),
        requests,
        answered,
        broadcasts_seen: load(&counters.broadcasts_seen),
        slow_closed: load(&counters.slow_closed),
        slow_closed_1008: load(&counters.slow_closed_1008),
        failures: counters
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        failure_count,
        trend_mib,
        quarter_drift_mib,
        problems,
    }
}
