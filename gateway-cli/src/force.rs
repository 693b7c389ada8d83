//! `--force`: stop whatever process listens on the port, without lsof.
//!
//! The listening socket's inode comes from /proc/net/tcp{,6}; the process is
//! the one with an fd linking to `socket:[inode]`. It gets SIGTERM, then
//! SIGKILL if it is still there after a grace period.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::sockets;

const GRACE: Duration = Duration::from_secs(2);

/// Free `port`; returns the pids that were signalled.
pub fn free_port(port: u16) -> Vec<u32> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return Vec::new();
    }
    let own = std::process::id();
    let pids: Vec<u32> = pids_owning(&inodes)
        .into_iter()
        .filter(|p| *p != own)
        .collect();
    for pid in &pids {
        log::warn!(target: "gateway", "--force: stopping pid {pid} listening on port {port}");
        signal(*pid, "TERM");
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && pids.iter().any(|p| alive(*p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in pids.iter().filter(|p| alive(**p)) {
        log::warn!(target: "gateway", "--force: pid {pid} ignored SIGTERM; killing it");
        signal(*pid, "KILL");
    }
    // Let the kernel release the socket.
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline && !listening_inodes(port).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids
}

/// Inodes of sockets in LISTEN state on `port` (IPv4 and IPv6).
fn listening_inodes(port: u16) -> BTreeSet<u64> {
    sockets::listening_inodes(&sockets::read_tables(), port)
}

fn pids_owning(inodes: &BTreeSet<u64>) -> BTreeSet<u32> {
    sockets::socket_holders(inodes)
        .into_values()
        .flatten()
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry but no longer holds the port.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Send a signal with kill(1): the crate has no libc binding of its own.
fn signal(pid: u32, name: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
