//! What is listening on (or connected to) the gateway port, read from the
//! kernel's socket tables (`/proc/net/tcp`, `/proc/net/tcp6`) and the process
//! table, which is what the reference learns from `lsof -nP`. Addresses are
//! written as lsof writes them: `127.0.0.1:18789`, `[::1]:18789`, and `*:18789`
//! for a wildcard. `gateway status` reports them; `--force` stops the
//! process listening on the port.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One row of a socket table that matters here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketRow {
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
    pub state: TcpState,
    pub inode: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    Listen,
    Established,
    Other,
}

/// A socket and, when this user may see it, the process holding it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketOwner {
    pub pid: Option<u32>,
    /// The process name (`comm`), as lsof's command column.
    pub command: Option<String>,
    pub address: String,
    pub user: Option<String>,
    pub command_line: Option<String>,
    pub ppid: Option<u32>,
}

impl SocketOwner {
    /// The reference's JSON listener object (absent fields left out).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        if let Some(pid) = self.pid {
            map.insert("pid".into(), pid.into());
        }
        if let Some(command) = &self.command {
            map.insert("command".into(), command.clone().into());
        }
        map.insert("address".into(), self.address.clone().into());
        if let Some(user) = &self.user {
            map.insert("user".into(), user.clone().into());
        }
        if let Some(line) = &self.command_line {
            map.insert("commandLine".into(), line.clone().into());
        }
        if let Some(ppid) = self.ppid {
            map.insert("ppid".into(), ppid.into());
        }
        serde_json::Value::Object(map)
    }
}

/// Parse one `/proc/net/tcp` or `/proc/net/tcp6` table (header line first).
pub fn parse_table(text: &str) -> Vec<SocketRow> {
    text.lines().skip(1).filter_map(parse_row).collect()
}

fn parse_row(line: &str) -> Option<SocketRow> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = parse_endpoint(fields.get(1)?)?;
    let remote = parse_endpoint(fields.get(2)?)?;
    let state = match *fields.get(3)? {
        "0A" => TcpState::Listen,
        "01" => TcpState::Established,
        _ => TcpState::Other,
    };
    let inode = fields.get(9)?.parse().ok()?;
    Some(SocketRow {
        local,
        remote,
        state,
        inode,
    })
}

/// `0100007F:4965` (IPv4) or 32 hex digits (IPv6), each 32-bit word in the
/// kernel's (little-endian) byte order, then the port in big-endian hex.
fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_le_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// `host:port` as `lsof -nP` writes it.
pub fn lsof_address(ip: IpAddr, port: u16) -> String {
    match ip {
        ip if ip.is_unspecified() => format!("*:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Both socket tables of this machine (an unreadable one counts as empty).
pub fn read_tables() -> Vec<SocketRow> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| parse_table(&text))
        .collect()
}

/// Is a listener on `ip` one that a gateway bound to `bind_host` would be?
/// The reference's rule: a wildcard on either side matches its own address
/// family; otherwise the hosts must be equal.
pub fn relevant_to(ip: IpAddr, bind_host: IpAddr) -> bool {
    if ip.is_unspecified() || bind_host.is_unspecified() {
        ip.is_ipv4() == bind_host.is_ipv4()
    } else {
        ip == bind_host
    }
}

/// The hosts a gateway bound to `bind_host` must be listening on: a
/// specific non-loopback IPv4 address also implies loopback.
pub fn required_hosts(bind_host: IpAddr) -> Vec<IpAddr> {
    match bind_host {
        IpAddr::V4(v4) if !v4.is_unspecified() && !v4.is_loopback() => {
            vec![bind_host, IpAddr::V4(Ipv4Addr::LOCALHOST)]
        }
        _ => vec![bind_host],
    }
}

/// Listening sockets on `port` relevant to `bind_host`, with their owners.
pub fn listeners(rows: &[SocketRow], port: u16, bind_host: IpAddr) -> Vec<SocketOwner> {
    let hosts = required_hosts(bind_host);
    let matching: Vec<&SocketRow> = rows
        .iter()
        .filter(|row| {
            let (ip, p) = row.local;
            row.state == TcpState::Listen && p == port && hosts.iter().any(|h| relevant_to(ip, *h))
        })
        .collect();
    let pids = first_holders(&matching);
    let mut owners = Vec::new();
    for row in matching {
        let (ip, p) = row.local;
        let owner = owner_of(pids.get(&row.inode).copied(), lsof_address(ip, p));
        if !owners.contains(&owner) {
            owners.push(owner);
        }
    }
    owners
}

/// Local client connections to `port` (the remote end is `port` on one of
/// this host's addresses): `local->remote`, as lsof writes a connection.
pub fn clients(rows: &[SocketRow], port: u16) -> Vec<SocketOwner> {
    let local_hosts: Vec<IpAddr> = rows.iter().map(|r| r.local.0).collect();
    let matching: Vec<&SocketRow> = rows
        .iter()
        .filter(|r| r.state == TcpState::Established && r.local.1 != port && r.remote.1 == port)
        .filter(|r| r.remote.0.is_loopback() || local_hosts.contains(&r.remote.0))
        .collect();
    let pids = first_holders(&matching);
    matching
        .into_iter()
        .map(|r| {
            let address = format!(
                "{}->{}",
                lsof_address(r.local.0, r.local.1),
                lsof_address(r.remote.0, r.remote.1)
            );
            owner_of(pids.get(&r.inode).copied(), address)
        })
        .collect()
}

/// The lowest pid holding each row's socket (the parent, when a fork
/// shares it).
fn first_holders(rows: &[&SocketRow]) -> BTreeMap<u64, u32> {
    socket_holders(&rows.iter().map(|row| row.inode).collect())
        .into_iter()
        .filter_map(|(inode, pids)| Some((inode, *pids.first()?)))
        .collect()
}

/// Inodes of the sockets listening on `port`, on any address.
pub fn listening_inodes(rows: &[SocketRow], port: u16) -> BTreeSet<u64> {
    rows.iter()
        .filter(|row| row.state == TcpState::Listen && row.local.1 == port && row.inode != 0)
        .map(|row| row.inode)
        .collect()
}

/// The socket at `address` held by `pid` (when this user may see who
/// holds it), with the process's name, command line, parent and user.
fn owner_of(pid: Option<u32>, address: String) -> SocketOwner {
    let mut owner = SocketOwner {
        address,
        ..Default::default()
    };
    let Some(pid) = pid else {
        return owner;
    };
    let proc_dir = format!("/proc/{pid}");
    owner.pid = Some(pid);
    owner.command = std::fs::read_to_string(format!("{proc_dir}/comm"))
        .ok()
        .map(|c| c.trim().to_string());
    owner.command_line = std::fs::read(format!("{proc_dir}/cmdline"))
        .ok()
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
                // One line, as `ps` shows it.
                .replace(|c: char| c.is_control(), " ")
        })
        .filter(|line| !line.is_empty());
    let status = std::fs::read_to_string(format!("{proc_dir}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u32>().ok())
    };
    owner.ppid = field("PPid:").filter(|p| *p > 0);
    owner.user = field("Uid:").and_then(user_name);
    owner
}

/// The processes holding each of `inodes` (those this user may inspect;
/// a forked child may share its parent's socket), in one pass over
/// `/proc/*/fd`.
pub fn socket_holders(inodes: &BTreeSet<u64>) -> BTreeMap<u64, BTreeSet<u32>> {
    let mut found = BTreeMap::new();
    if inodes.is_empty() {
        return found;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
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
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|i| i.parse::<u64>().ok());
            if let Some(inode) = inode.filter(|i| inodes.contains(i)) {
                found.entry(inode).or_default().insert(pid);
            }
        }
    }
    found
}

/// The login name of `uid` from /etc/passwd, as `ps -o user=` shows it.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut parts = line.split(':');
        let name = parts.next()?;
        let id = parts.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0\n\
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 100 0 0 10 0\n\
   2: 0100007F:D431 0100007F:4965 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0 100 0 0 10 0\n\
   3: 0100007F:4965 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 444 1 0 100 0 0 10 0\n";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:4965 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0 100 0 0 10 0\n\
   1: 00000000000000000000000000000000:4966 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 666 1 0 100 0 0 10 0\n";

    fn rows() -> Vec<SocketRow> {
        let mut rows = parse_table(TCP);
        rows.extend(parse_table(TCP6));
        rows
    }

    #[test]
    fn kernel_rows_decode_to_addresses_lsof_would_print() {
        let rows = rows();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].local, (IpAddr::V4(Ipv4Addr::LOCALHOST), 0x4965));
        assert_eq!(rows[0].state, TcpState::Listen);
        assert_eq!(rows[2].state, TcpState::Established);
        assert_eq!(rows[4].local.0, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(lsof_address(rows[0].local.0, 18789), "127.0.0.1:18789");
        assert_eq!(lsof_address(rows[1].local.0, 8080), "*:8080");
        assert_eq!(lsof_address(rows[4].local.0, 18789), "[::1]:18789");
        assert_eq!(lsof_address(rows[5].local.0, 18790), "*:18790");
        assert!(parse_table("header\ngarbage line\n").is_empty());
    }

    #[test]
    fn only_listeners_a_gateway_on_the_bind_host_would_own_count() {
        let rows = rows();
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let found = listeners(&rows, 18789, loopback);
        let addresses: Vec<&str> = found.iter().map(|o| o.address.as_str()).collect();
        // [::1] is another family's specific address: not the loopback gateway's.
        assert_eq!(addresses, ["127.0.0.1:18789"]);
        assert_eq!(
            listeners(&rows, 18790, IpAddr::V6(Ipv6Addr::UNSPECIFIED))[0].address,
            "*:18790"
        );
        assert!(listeners(&rows, 18790, loopback).is_empty());
        assert!(relevant_to(IpAddr::V4(Ipv4Addr::UNSPECIFIED), loopback));
        assert_eq!(
            required_hosts("192.168.1.5".parse().unwrap()),
            ["192.168.1.5".parse::<IpAddr>().unwrap(), loopback]
        );
    }

    #[test]
    fn listening_inodes_are_those_on_the_port_in_listen_state() {
        let rows = rows();
        assert_eq!(listening_inodes(&rows, 0x4965), BTreeSet::from([111, 555]));
        assert!(listening_inodes(&rows, 80).is_empty());
    }

    #[test]
    fn clients_are_the_connections_whose_far_end_is_the_port() {
        let found = clients(&rows(), 18789);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].address, "127.0.0.1:54321->127.0.0.1:18789");
    }
}
