//! The host's vital signs (`system.info`): read by the runtime from the OS
//! on demand ([`super::Effect::ReadHostStats`]), shaped here the way the
//! reference answers, so the Control UI's systems page can chart them.

use serde_json::{json, Value};

/// What the runtime read from the OS for one `system.info`.
///
/// Load averages are in thousandths so the type stays `Eq` (every effect
/// result is comparable in tests); JSON gets them back as numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    pub hostname: String,
    /// Kernel release, e.g. `6.1.0-18-arm64`.
    pub release: String,
    pub cpu_count: u32,
    /// The first CPU's model name (empty when the OS does not say).
    pub cpu_model: String,
    /// 1, 5 and 15 minute load averages, ×1000.
    pub load_average_milli: [u64; 3],
    pub memory_total_bytes: u64,
    /// Memory available to new work (Linux `MemAvailable`).
    pub memory_free_bytes: u64,
    pub pid: u32,
    /// The gateway process's resident set.
    pub rss_bytes: u64,
    /// The file system holding the state directory, when it could be read.
    pub disk: Option<DiskStats>,
}

/// Space on the file system holding `path`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub path: String,
    /// The file system's mount point (the reference's `disks[].path`).
    pub mount: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// The `system.info` answer: the core's own facts (`platform`, `arch`,
/// `uptime_ms`) plus `stats`. Node.js-only fields of the reference
/// (`nodeVersion`, `eventLoop`, heap sizes) are absent, not invented.
pub(crate) fn system_info_json(
    stats: &HostStats,
    platform: &str,
    arch: &str,
    uptime_ms: u64,
) -> Value {
    let load: Vec<f64> = stats
        .load_average_milli
        .iter()
        .map(|milli| *milli as f64 / 1000.0)
        .collect();
    let os_label = match platform {
        "linux" => format!("Linux {}", stats.release),
        "darwin" => format!("macOS {}", stats.release),
        other => format!("{other} {}", stats.release),
    };
    let mut info = json!({
        "machineName": stats.hostname,
        "hostname": stats.hostname,
        "platform": platform,
        "release": stats.release,
        "arch": arch,
        "osLabel": os_label.trim_end(),
        "pid": stats.pid,
        "uptimeMs": uptime_ms,
        "cpuCount": stats.cpu_count,
        "cpuModel": stats.cpu_model,
        "loadAverage": load,
        "memoryTotalBytes": stats.memory_total_bytes,
        "memoryFreeBytes": stats.memory_free_bytes,
        "processMemory": {"rssBytes": stats.rss_bytes},
    });
    if let Some(disk) = &stats.disk {
        info["disks"] = json!([{
            "path": disk.mount,
            "totalBytes": disk.total_bytes,
            "availableBytes": disk.available_bytes,
        }]);
        info["diskTotalBytes"] = json!(disk.total_bytes);
        info["diskAvailableBytes"] = json!(disk.available_bytes);
        info["diskPath"] = json!(disk.path);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_has_the_numbers_the_systems_page_charts() {
        let stats = HostStats {
            hostname: "pi".into(),
            release: "6.1.0".into(),
            cpu_count: 4,
            cpu_model: "Cortex-A72".into(),
            load_average_milli: [1250, 500, 0],
            memory_total_bytes: 4 << 30,
            memory_free_bytes: 3 << 30,
            pid: 77,
            rss_bytes: 9 << 20,
            disk: Some(DiskStats {
                path: "/home/pi/.openclaw".into(),
                mount: "/".into(),
                total_bytes: 32 << 30,
                available_bytes: 20 << 30,
            }),
        };
        let info = system_info_json(&stats, "linux", "arm64", 5000);
        assert_eq!(info["osLabel"], "Linux 6.1.0");
        assert_eq!(info["loadAverage"], json!([1.25, 0.5, 0.0]));
        assert_eq!(info["memoryTotalBytes"], 4u64 << 30);
        assert_eq!(info["disks"][0]["path"], "/");
        assert_eq!(info["diskPath"], "/home/pi/.openclaw");
        assert_eq!(info["processMemory"]["rssBytes"], 9u64 << 20);
        let without_disk = system_info_json(
            &HostStats {
                disk: None,
                ..stats
            },
            "linux",
            "arm64",
            5000,
        );
        assert!(without_disk.get("disks").is_none());
    }
}
