//! What /proc says about a running process: resident memory, open file
//! descriptors, threads and CPU clock ticks. Used by the soak and the
//! budget check to watch the gateway from outside.

/// One look at a process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcSample {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: usize,
    /// Entries of `/proc/<pid>/task`.
    pub threads: usize,
}

/// `VmRSS`, open fds and threads of `pid`; `None` once it is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    Some(ProcSample {
        rss_kib: crate::process::rss_kib(pid)?,
        fds: count_entries(&format!("/proc/{pid}/fd"))?,
        threads: count_entries(&format!("/proc/{pid}/task"))?,
    })
}

fn count_entries(dir: &str) -> Option<usize> {
    Some(std::fs::read_dir(dir).ok()?.count())
}

/// User + system CPU time of `pid` (all its threads) in clock ticks
/// (`utime` + `stime` of /proc/<pid>/stat, in units of `getconf CLK_TCK`).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": comm may hold spaces and parens; fields
    // after it are counted from field 3 (state), so utime (14) is index 11.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `VmHWM`: the most resident memory the process ever had, KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
