//! Startup timer: runs a gateway command and reports the milliseconds from
//! exec to the first `GET /readyz` that answers `"ready":true` (polled every
//! millisecond), then stops the process (SIGTERM, then kill).
//!
//! `startup --port P [--timeout-ms N] -- <command> [args...]`
#![allow(clippy::disallowed_methods)] // a timer reads the clock

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argh::FromArgs;

/// Measure exec-to-ready of a gateway command.
#[derive(FromArgs)]
struct Args {
    /// port the gateway listens on
    #[argh(option)]
    port: u16,
    /// give up after this many milliseconds
    #[argh(option, default = "60000")]
    timeout_ms: u64,
    /// the command and its arguments
    #[argh(positional, greedy)]
    command: Vec<String>,
}

fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request =
        format!("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body.contains("\"ready\":true")
}

fn main() {
    let args: Args = argh::from_env();
    let Some((program, rest)) = args.command.split_first() else {
        eprintln!("startup: no command given");
        std::process::exit(2);
    };
    let started = Instant::now();
    let mut child = match Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("startup: cannot run {program}: {e}");
            std::process::exit(1);
        }
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut elapsed = None;
    while started.elapsed() < timeout {
        if ready(args.port) {
            elapsed = Some(started.elapsed());
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("startup: the gateway exited early ({status})");
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let stop_deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < stop_deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    match elapsed {
        Some(d) => println!("{{\"readyMs\":{:.2}}}", d.as_secs_f64() * 1000.0),
        None => {
            println!("{{\"readyMs\":null}}");
            std::process::exit(1);
        }
    }
}
