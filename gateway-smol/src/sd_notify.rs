//! The systemd notification protocol, without libsystemd: datagrams of
//! `KEY=value` lines sent to `$NOTIFY_SOCKET`.
//!
//! With no `NOTIFY_SOCKET` (not under systemd, or a unit that is not
//! `Type=notify`) every call does nothing, so the gateway can always call it.
//! A unit with `Type=notify` learns when the gateway really serves; one with
//! `WatchdogSec=` restarts a gateway whose hub task stopped turning.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smol::channel::Sender;

use crate::hub::HubMsg;

/// Where notifications go, read once from the environment.
#[derive(Clone, Debug)]
pub(crate) struct Notifier {
    target: Option<String>,
}

impl Notifier {
    pub(crate) fn from_env() -> Self {
        Notifier {
            target: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    /// Send one notification; a failure is logged once per call and
    /// otherwise ignored (the supervisor is advisory to the gateway).
    pub(crate) fn notify(&self, fields: &[(&str, &str)]) {
        let Some(target) = &self.target else { return };
        if let Err(e) = send(target, &message(fields)) {
            log::debug!(target: "gateway", "sd_notify to {target}: {e}");
        }
    }

    /// `READY=1`: the listener is bound and the hub reported ready (the
    /// moment `/readyz` turns 200).
    pub(crate) fn ready(&self, status: &str) {
        let pid = std::process::id().to_string();
        self.notify(&[("READY", "1"), ("STATUS", status), ("MAINPID", &pid)]);
    }

    pub(crate) fn reloading(&self) {
        self.notify(&[("RELOADING", "1"), ("STATUS", "restarting")]);
    }

    pub(crate) fn stopping(&self) {
        self.notify(&[("STOPPING", "1"), ("STATUS", "stopping")]);
    }

    /// Start the watchdog thread if the supervisor asked for one
    /// (`WATCHDOG_USEC`, and `WATCHDOG_PID` naming this process if set).
    pub(crate) fn spawn_watchdog(&self, beats: Arc<AtomicU64>, hub: Sender<HubMsg>) {
        if self.target.is_none() {
            return;
        }
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        let Some(interval) = watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id())
        else {
            return;
        };
        let notifier = self.clone();
        let spawned = std::thread::Builder::new()
            .name("gateway-watchdog".into())
            .spawn(move || watchdog(notifier, interval, beats, hub));
        if let Err(e) = spawned {
            log::warn!(target: "gateway", "no watchdog thread: {e}");
        }
    }
}

/// Every `interval`: ask the hub task to beat, and tell the supervisor we
/// are alive only if it beat since the last turn. A wedged hub (blocked in a
/// call, spinning) stops the `WATCHDOG=1`s and systemd restarts the gateway.
fn watchdog(notifier: Notifier, interval: Duration, beats: Arc<AtomicU64>, hub: Sender<HubMsg>) {
    let mut seen = beats.load(Ordering::Acquire);
    loop {
        // A full inbox is a busy (or stuck) hub: the next turn tells which.
        if hub.try_send(HubMsg::Heartbeat).is_err() && hub.is_closed() {
            return;
        }
        std::thread::sleep(interval);
        let now = beats.load(Ordering::Acquire);
        if now != seen {
            seen = now;
            notifier.notify(&[("WATCHDOG", "1")]);
        } else {
            log::warn!(target: "gateway", "hub task did not answer the watchdog within {interval:?}");
        }
    }
}

/// Half the supervisor's watchdog period, or `None` when there is no
/// watchdog for this process.
pub(crate) fn watchdog_interval(
    usec: Option<&str>,
    pid: Option<&str>,
    own: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own) {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

/// The datagram: one `KEY=value` per line. A newline inside a value would
/// start a bogus field, so it becomes a space.
pub(crate) fn message(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in fields {
        out.push_str(key);
        out.push('=');
        out.push_str(&value.replace('\n', " "));
        out.push('\n');
    }
    out
}

/// `NOTIFY_SOCKET` is a filesystem path, or an abstract name written `@name`.
pub(crate) fn address(target: &str) -> io::Result<SocketAddr> {
    match target.strip_prefix('@') {
        Some(name) => abstract_address(name.as_bytes()),
        None if target.starts_with('/') => SocketAddr::from_pathname(target),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET is neither a path nor @name",
        )),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux-only",
    ))
}

fn send(target: &str, message: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(message.as_bytes(), &address(target)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_one_field_per_line() {
        let m = message(&[
            ("READY", "1"),
            ("STATUS", "serving\non 1"),
            ("MAINPID", "42"),
        ]);
        assert_eq!(m, "READY=1\nSTATUS=serving on 1\nMAINPID=42\n");
    }

    #[test]
    fn abstract_and_path_addresses() {
        let a = address("@openclaw/test").unwrap();
        assert!(a.as_pathname().is_none());
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            assert_eq!(a.as_abstract_name(), Some(&b"openclaw/test"[..]));
        }
        let p = address("/run/systemd/notify").unwrap();
        assert_eq!(
            p.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        assert!(address("relative").is_err());
    }

    #[test]
    fn datagrams_reach_an_abstract_socket() {
        let name = format!("openclaw-sd-test-{}", std::process::id());
        let server = UnixDatagram::bind_addr(&address(&format!("@{name}")).unwrap()).unwrap();
        let notifier = Notifier {
            target: Some(format!("@{name}")),
        };
        notifier.stopping();
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\nSTATUS=stopping\n");
    }

    #[test]
    fn watchdog_interval_is_half_the_period_for_this_pid_only() {
        assert_eq!(
            watchdog_interval(Some("200000"), None, 7),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            watchdog_interval(Some("200000"), Some("7"), 7),
            Some(Duration::from_millis(100))
        );
        assert_eq!(watchdog_interval(Some("200000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn no_socket_means_no_op() {
        Notifier { target: None }.ready("ok");
    }
}
