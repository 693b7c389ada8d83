//! Give large freed buffers back to the operating system at once.
//!
//! A broadcast to a slow reader can queue hundreds of frames of half a
//! megabyte each (a long presence list). glibc's malloc serves such a buffer
//! with its own `mmap` only until the first one is freed: from then on it
//! raises its mmap threshold to that size (up to 32 MB) and carves later
//! buffers from its heap arenas, where a freed block in the middle is kept by
//! the process. After the slow reader leaves, RSS then stays tens of
//! megabytes above where it was, on a host that may have 256 MB in all.
//!
//! Setting the threshold explicitly turns that adjustment off: every buffer
//! of at least [`MMAP_THRESHOLD_BYTES`] keeps its own mapping, unmapped when
//! freed. The cost is one `mmap`/`munmap` pair per large buffer, small beside
//! encoding or sending that many bytes. musl (our static builds) already
//! unmaps large buffers on free, so there is nothing to set there.

/// The size from which a buffer gets its own mapping: glibc's own default
/// before its dynamic adjustment, 128 KiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Fix glibc's mmap threshold (see the module docs). Called once, first
/// thing in `main`, before any thread starts. Returns whether it was applied.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn return_large_buffers_to_the_os() -> bool {
    // SAFETY: `mallopt` takes two integers and touches only malloc's own
    // settings; it is called before any other thread exists.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 }
}

/// Other C libraries keep no dynamic threshold: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_buffers_to_the_os() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_fixed_threshold() {
        assert!(super::return_large_buffers_to_the_os());
    }
}
