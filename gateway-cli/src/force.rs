//! `--force`: stop whatever process listens on the port, without lsof.
//!
//! The listening socket's inode comes from /proc/net/tcp{,6}; the process is
//! the one with an fd linking to `socket:[inode]`. It gets SIGTERM, then
//! SIGKILL if it is still there after a grace period.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        inodes.extend(parse_listeners(&text, port));
    }
    inodes
}

fn parse_listeners(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = cols.get(1)?;
            let state = cols.get(3)?;
            let inode = cols.get(9)?.parse::<u64>().ok()?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            // 0A is TCP_LISTEN.
            (*state == "0A" && local_port == port && inode != 0).then_some(inode)
        })
        .collect()
}

fn pids_owning(inodes: &BTreeSet<u64>) -> BTreeSet<u32> {
    let mut pids = BTreeSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let inode = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'));
            if inode
                .and_then(|i| i.parse::<u64>().ok())
                .is_some_and(|i| inodes.contains(&i))
            {
                pids.insert(pid);
                break;
            }
        }
    }
    pids
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:4965 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(parse_listeners(table, 0x4965), vec![123456]);
        assert!(parse_listeners(table, 80).is_empty());
    }
}
