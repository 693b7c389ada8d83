//! Facts about this host for the gateway's own presence entry and `status`.

use gateway_proto::gateway::HostInfo;

pub fn info() -> HostInfo {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    HostInfo {
        hostname: read("/proc/sys/kernel/hostname").unwrap_or_else(|| "localhost".to_string()),
        ip: primary_ip(),
        platform: format!("{} {release}", std::env::consts::OS)
            .trim()
            .to_string(),
        device_family: "Linux".to_string(),
    }
}

/// The address outbound traffic would use: connecting a UDP socket picks a
/// route without sending anything.
fn primary_ip() -> Option<String> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then(|| ip.to_string())
}
