//! The host's vital signs for `system.info`, read from the OS when asked
//! (never sampled in the background: an idle gateway on a small host should
//! cost nothing). Linux reads `/proc`; elsewhere the parts that need it are
//! an error, which the Control UI shows as "no telemetry".

use std::path::{Path, PathBuf};

use gateway_proto::gateway::host_stats::{DiskStats, HostStats};

/// Read the host now; `state_dir`'s file system is the one reported.
pub(crate) fn read(state_dir: Option<&Path>) -> Result<HostStats, String> {
    let meminfo = read_text("/proc/meminfo")?;
    let loadavg = read_text("/proc/loadavg")?;
    let cpuinfo = read_text("/proc/cpuinfo").unwrap_or_default();
    let cpu_count = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(HostStats {
        hostname: first_line("/proc/sys/kernel/hostname"),
        release: first_line("/proc/sys/kernel/osrelease"),
        cpu_count: u32::try_from(cpu_count).unwrap_or(u32::MAX),
        cpu_model: cpu_model(&cpuinfo),
        load_average_milli: load_average_milli(&loadavg)?,
        memory_total_bytes: meminfo_bytes(&meminfo, "MemTotal")?,
        memory_free_bytes: meminfo_bytes(&meminfo, "MemAvailable")
            .or_else(|_| meminfo_bytes(&meminfo, "MemFree"))?,
        pid: std::process::id(),
        rss_bytes: read_text("/proc/self/status")
            .ok()
            .and_then(|status| meminfo_bytes(&status, "VmRSS").ok())
            .unwrap_or(0),
        disk: state_dir.and_then(disk_stats),
    })
}

fn read_text(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn first_line(path: &str) -> String {
    read_text(path)
        .ok()
        .and_then(|text| text.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_default()
}

/// A `Key:   123 kB` line of `/proc/meminfo` (or `/proc/self/status`), in bytes.
fn meminfo_bytes(text: &str, key: &str) -> Result<u64, String> {
    text.lines()
        .find_map(|line| {
            let (name, rest) = line.split_once(':')?;
            if name.trim() != key {
                return None;
            }
            let mut parts = rest.split_whitespace();
            let value: u64 = parts.next()?.parse().ok()?;
            let unit = match parts.next() {
                Some("kB") => 1024,
                None => 1,
                Some(_) => return None,
            };
            Some(value.saturating_mul(unit))
        })
        .ok_or_else(|| format!("no {key} in the memory report"))
}

/// `/proc/loadavg`'s first three fields, ×1000.
fn load_average_milli(text: &str) -> Result<[u64; 3], String> {
    let mut fields = text.split_whitespace().map(|field| {
        field
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| (v * 1000.0).round() as u64)
    });
    let mut load = [0; 3];
    for slot in &mut load {
        *slot = fields.next().flatten().ok_or("unreadable /proc/loadavg")?;
    }
    Ok(load)
}

/// The first `model name` of `/proc/cpuinfo` (`Model` on some ARM boards).
fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| matches!(key.trim(), "model name" | "Model"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default()
}

/// Size and free space of the file system holding `dir`.
fn disk_stats(dir: &Path) -> Option<DiskStats> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    let block = stat.f_frsize;
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Some(DiskStats {
        path: dir.display().to_string(),
        mount: mount_point(&mounts, &dir).display().to_string(),
        total_bytes: stat.f_blocks.saturating_mul(block),
        available_bytes: stat.f_bavail.saturating_mul(block),
    })
}

/// The deepest mount point in `/proc/self/mounts` that holds `dir`.
fn mount_point(mounts: &str, dir: &Path) -> PathBuf {
    mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        // Spaces and tabs in mount points are written as octal escapes.
        .map(|escaped| PathBuf::from(escaped.replace("\\040", " ").replace("\\011", "\t")))
        .filter(|mount| dir.starts_with(mount))
        .max_by_key(|mount| mount.components().count())
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_texts_are_parsed() {
        let meminfo =
            "MemTotal:        4037084 kB\nMemFree:          101 kB\nMemAvailable:    2000000 kB\n";
        assert_eq!(meminfo_bytes(meminfo, "MemTotal"), Ok(4037084 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "MemAvailable"), Ok(2000000 * 1024));
        assert!(meminfo_bytes(meminfo, "SwapTotal").is_err());
        assert_eq!(
            load_average_milli("0.52 1.00 10.25 2/345 6789\n"),
            Ok([520, 1000, 10250])
        );
        assert!(load_average_milli("0.5 x").is_err());
        let arm = "processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(cpu_model(arm), "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!(
            cpu_model("model name\t: Intel(R) Xeon(R)\n"),
            "Intel(R) Xeon(R)"
        );
        let mounts = "/dev/vda / ext4 rw 0 0\n/dev/vdb /work ext4 rw 0 0\n/dev/vdc /work/my\\040disk ext4 rw 0 0\n";
        assert_eq!(
            mount_point(mounts, Path::new("/work/x/state")),
            Path::new("/work")
        );
        assert_eq!(mount_point(mounts, Path::new("/home/a")), Path::new("/"));
        assert_eq!(
            mount_point(mounts, Path::new("/work/my disk/s")),
            Path::new("/work/my disk")
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_host_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let stats = read(Some(dir.path())).unwrap();
        assert!(stats.memory_total_bytes > 0);
        assert!(stats.memory_free_bytes <= stats.memory_total_bytes);
        assert!(stats.cpu_count >= 1);
        assert!(stats.rss_bytes > 0);
        let disk = stats.disk.unwrap();
        assert!(disk.total_bytes > 0 && disk.available_bytes <= disk.total_bytes);
    }
}
