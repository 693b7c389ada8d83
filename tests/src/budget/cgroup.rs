//! A memory cgroup of our own for the "1,000 clients under 64 MB" check: a
//! child of the cgroup this process runs in (so the machine's own limits
//! still apply above it), with a hard memory limit and no swap, removed
//! again when dropped. cgroup v2 when its memory controller is available
//! here, else the v1 memory hierarchy.

use std::path::{Path, PathBuf};

/// Which cgroup interface the limit is set through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A child memory cgroup with `limit` bytes, removed on drop.
#[derive(Debug)]
pub struct MemoryCgroup {
    pub dir: PathBuf,
    pub version: Version,
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("write {value} to {}: {e}", path.display()))
}

/// This process's cgroup path in the hierarchy named by `matches` (a line
/// of /proc/self/cgroup: `id:controllers:path`).
fn own_path(matches: impl Fn(&str, &str) -> bool) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        matches(id, controllers).then(|| path.to_owned())
    })
}

impl MemoryCgroup {
    /// Create `name` under our own cgroup with a `limit_bytes` memory limit
    /// and swap off; the reason when this machine does not allow it.
    pub fn create(name: &str, limit_bytes: u64) -> Result<MemoryCgroup, String> {
        let v2 = Self::create_v2(name, limit_bytes);
        match v2 {
            Ok(group) => Ok(group),
            Err(v2_error) => Self::create_v1(name, limit_bytes)
                .map_err(|v1_error| format!("cgroup v2: {v2_error}; cgroup v1: {v1_error}")),
        }
    }

    fn create_v2(name: &str, limit_bytes: u64) -> Result<MemoryCgroup, String> {
        let root = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(Path::new)
            .find(|root| root.join("cgroup.controllers").is_file())
            .ok_or("no cgroup2 mount")?;
        let own = own_path(|id, controllers| id == "0" && controllers.is_empty())
            .ok_or("no cgroup2 line in /proc/self/cgroup")?;
        let parent = root.join(own.trim_start_matches('/'));
        let controllers = std::fs::read_to_string(parent.join("cgroup.controllers"))
            .map_err(|e| format!("{}: {e}", parent.display()))?;
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err(format!(
                "the memory controller is not available in {}",
                parent.display()
            ));
        }
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let group = MemoryCgroup {
            dir,
            version: Version::V2,
        };
        write(&group.dir.join("memory.max"), &limit_bytes.to_string())?;
        write(&group.dir.join("memory.swap.max"), "0")?;
        Ok(group)
    }

    fn create_v1(name: &str, limit_bytes: u64) -> Result<MemoryCgroup, String> {
        let own = own_path(|_, controllers| controllers.split(',').any(|c| c == "memory"))
            .ok_or("no memory line in /proc/self/cgroup")?;
        let parent = Path::new("/sys/fs/cgroup/memory").join(own.trim_start_matches('/'));
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let group = MemoryCgroup {
            dir,
            version: Version::V1,
        };
        write(
            &group.dir.join("memory.limit_in_bytes"),
            &limit_bytes.to_string(),
        )?;
        // Memory + swap at the same limit: no swap. Absent when the kernel
        // has no swap accounting; then there is no swap to use here either.
        let memsw = group.dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write(&memsw, &limit_bytes.to_string())?;
        }
        Ok(group)
    }

    /// The file a process id is written to, to move that process in.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// How many times the kernel's OOM killer killed a process in it.
    pub fn oom_kills(&self) -> Option<u64> {
        let file = match self.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        let text = std::fs::read_to_string(self.dir.join(file)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))?
            .trim()
            .parse()
            .ok()
    }

    /// The most memory charged to it so far, bytes.
    pub fn peak_bytes(&self) -> Option<u64> {
        let file = match self.version {
            Version::V2 => "memory.peak",
            Version::V1 => "memory.max_usage_in_bytes",
        };
        std::fs::read_to_string(self.dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Only empty groups can be removed; the gateway is stopped first.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
