//! Who a request comes from when a reverse proxy may stand in between
//! (`gateway.trustedProxies`, `gateway.allowRealIpFallback`).
//!
//! The rules are the reference's:
//! - a loopback peer with no proxy-shaped header is a direct local client;
//! - a peer listed in `trustedProxies` speaks for the client named in
//!   `X-Forwarded-For` (the right-most hop that is neither loopback nor a
//!   trusted proxy; `X-Real-IP` only with `allowRealIpFallback`); when it
//!   names none, or a loopback one, the request cannot be attributed;
//! - any other peer that sends proxy-shaped headers cannot be attributed
//!   either: such a request is refused (HTTP 403) rather than trusted or
//!   silently re-labelled, so a same-host proxy nobody declared never makes
//!   remote clients look local.

use std::net::IpAddr;

use crate::http::Head;

/// The proxies whose forwarded-client headers are believed. Cheap to clone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyTrust {
    proxies: Vec<IpRange>,
    /// `gateway.allowRealIpFallback`: a trusted proxy's `X-Real-IP` counts
    /// when its `X-Forwarded-For` names no client.
    pub allow_real_ip_fallback: bool,
}

impl ProxyTrust {
    /// Trust the proxies at `entries` (IP addresses or CIDR ranges, as in
    /// `gateway.trustedProxies`). Entries that are neither are returned
    /// beside it: the reference ignores them, a caller may warn.
    pub fn new<S: AsRef<str>>(entries: &[S], allow_real_ip_fallback: bool) -> (Self, Vec<String>) {
        let mut proxies = Vec::new();
        let mut ignored = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                continue;
            }
            match IpRange::parse(entry) {
                Some(range) => proxies.push(range),
                None => ignored.push(entry.to_owned()),
            }
        }
        (
            ProxyTrust {
                proxies,
                allow_real_ip_fallback,
            },
            ignored,
        )
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|range| range.contains(ip))
    }

    /// The client a trusted proxy forwarded, from its `X-Forwarded-For`
    /// (then `X-Real-IP` if allowed).
    fn forwarded_client(
        &self,
        forwarded_for: Option<&str>,
        real_ip: Option<&str>,
    ) -> Option<IpAddr> {
        let hops: Vec<IpAddr> = forwarded_for
            .unwrap_or_default()
            .split(',')
            .filter_map(parse_ip_literal)
            .collect();
        // Each proxy appends the address it saw: read from the right, past
        // our own trusted proxies, to the first hop nobody here vouches for.
        let from_chain = hops
            .iter()
            .rev()
            .find(|hop| !hop.is_loopback() && !self.trusts(**hop))
            .copied();
        match from_chain {
            Some(ip) => Some(ip),
            None if self.allow_real_ip_fallback => real_ip.and_then(parse_ip_literal),
            None => None,
        }
    }
}

/// One `trustedProxies` entry: an exact address or a CIDR range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IpRange {
    base: IpAddr,
    /// `None`: the exact address.
    prefix: Option<u8>,
}

impl IpRange {
    fn parse(text: &str) -> Option<IpRange> {
        match text.split_once('/') {
            None => Some(IpRange {
                base: parse_address(text)?.to_canonical(),
                prefix: None,
            }),
            Some((addr, bits)) => {
                let base = parse_address(addr)?;
                // Digits only: `/+8` is no prefix length.
                if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let bits: u8 = bits.parse().ok()?;
                let max = if base.is_ipv4() { 32 } else { 128 };
                if bits > max {
                    return None;
                }
                // A range written as IPv4-mapped IPv6 covers IPv4 addresses.
                match base {
                    IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                        Some(v4) => Some(IpRange {
                            base: IpAddr::V4(v4),
                            prefix: Some(bits.saturating_sub(96)),
                        }),
                        None => Some(IpRange {
                            base,
                            prefix: Some(bits),
                        }),
                    },
                    IpAddr::V4(_) => Some(IpRange {
                        base,
                        prefix: Some(bits),
                    }),
                }
            }
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.prefix, self.base, ip) {
            (None, base, ip) => base == ip,
            (Some(bits), IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (Some(bits), IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An address in canonical form: four-part decimal IPv4 or IPv6, IPv6
/// optionally in brackets.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    text.parse().ok()
}

/// One hop of a forwarded header: an address, perhaps with a port
/// (`[v6]:port` or `v4:port`), IPv4-mapped IPv6 given as IPv4.
fn parse_ip_literal(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let bare = if let Some(rest) = text.strip_prefix('[') {
        rest.split_once(']').map(|(ip, _)| ip).unwrap_or(text)
    } else if text.parse::<IpAddr>().is_ok() {
        text
    } else {
        match text.rsplit_once(':') {
            Some((ip, _port)) if ip.contains('.') && !ip.contains(':') => ip,
            _ => text,
        }
    };
    bare.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Where a request comes from, as far as this gateway can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attribution {
    /// A loopback socket with no proxy-shaped headers: a client on this host.
    DirectLocal(IpAddr),
    /// A trusted proxy forwarding for `client`.
    TrustedProxy { client: IpAddr },
    /// A remote socket with no proxy-shaped headers.
    DirectRemote(IpAddr),
    /// Proxy-shaped headers this gateway cannot vouch for: refused with 403.
    Unattributable,
}

impl Attribution {
    /// The client's address (`None` when it cannot be told).
    pub(crate) fn client_ip(self) -> Option<IpAddr> {
        match self {
            Attribution::DirectLocal(ip) | Attribution::DirectRemote(ip) => Some(ip),
            Attribution::TrustedProxy { client } => Some(client),
            Attribution::Unattributable => None,
        }
    }

    /// Only a direct loopback client is local (silent pairing, local CLI).
    pub(crate) fn is_local(self) -> bool {
        matches!(self, Attribution::DirectLocal(_))
    }
}

/// The body of the 403 that refuses an unattributable request (the
/// reference's words and error type).
pub(crate) const UNATTRIBUTABLE_BODY: &str = concat!(
    r#"{"error":{"message":"Proxy client attribution is required. "#,
    r#"Configure gateway.trustedProxies narrowly and make the proxy overwrite "#,
    r#"or safely rebuild forwarded client headers.","type":"proxy_attribution_required"}}"#
);

/// Headers a proxy adds: `Forwarded`, `X-Real-IP`, `X-Forwarded-*`.
fn is_proxy_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "forwarded" || name == "x-real-ip" || name.starts_with("x-forwarded-")
}

/// Headers Tailscale Serve/Funnel add; they also claim a forwarded identity.
fn is_tailscale_header(name: &str) -> bool {
    [
        "tailscale-funnel-request",
        "tailscale-headers-info",
        "tailscale-user-login",
        "tailscale-user-name",
        "tailscale-user-profile-pic",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// All values of a header joined with `,` (as Node joins a repeated
/// `X-Forwarded-For`).
fn joined(head: &Head, name: &str) -> Option<String> {
    let values: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Who sent `head` over a socket from `remote`.
pub(crate) fn attribute(remote: IpAddr, head: &Head, trust: &ProxyTrust) -> Attribution {
    let remote = remote.to_canonical();
    let proxy_shaped = head
        .headers
        .iter()
        .any(|(name, _)| is_proxy_header(name) || is_tailscale_header(name));
    if remote.is_loopback() && !proxy_shaped {
        return Attribution::DirectLocal(remote);
    }
    if trust.trusts(remote) {
        let forwarded_for = joined(head, "x-forwarded-for");
        let real_ip = joined(head, "x-real-ip");
        return match trust.forwarded_client(forwarded_for.as_deref(), real_ip.as_deref()) {
            Some(client) if !client.is_loopback() => Attribution::TrustedProxy { client },
            _ => Attribution::Unattributable,
        };
    }
    if proxy_shaped {
        return Attribution::Unattributable;
    }
    Attribution::DirectRemote(remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn head(extra: &str) -> Head {
        parse_head(format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n").as_bytes()).unwrap()
    }

    fn trust(entries: &[&str]) -> ProxyTrust {
        ProxyTrust::new(entries, false).0
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn plain_loopback_is_local_and_plain_remote_is_remote() {
        let none = trust(&[]);
        assert_eq!(
            attribute(ip("127.0.0.1"), &head(""), &none),
            Attribution::DirectLocal(ip("127.0.0.1"))
        );
        assert_eq!(
            attribute(ip("::ffff:127.0.0.1"), &head(""), &none),
            Attribution::DirectLocal(ip("127.0.0.1"))
        );
        assert_eq!(
            attribute(ip("10.1.2.3"), &head(""), &none),
            Attribution::DirectRemote(ip("10.1.2.3"))
        );
        // A trusted proxy's own plain loopback connection stays local.
        assert_eq!(
            attribute(ip("127.0.0.1"), &head(""), &trust(&["127.0.0.1"])),
            Attribution::DirectLocal(ip("127.0.0.1"))
        );
    }

    #[test]
    fn proxy_headers_from_an_untrusted_peer_are_unattributable() {
        let none = trust(&[]);
        for header in [
            "X-Forwarded-For: 192.0.2.2\r\n",
            "x-forwarded-proto: https\r\n",
            "X-Real-IP: 192.0.2.2\r\n",
            "Forwarded: for=192.0.2.2\r\n",
            "Tailscale-User-Login: a@example.com\r\n",
        ] {
            assert_eq!(
                attribute(ip("127.0.0.1"), &head(header), &none),
                Attribution::Unattributable,
                "{header}"
            );
            assert_eq!(
                attribute(ip("10.0.0.5"), &head(header), &trust(&["10.0.0.1"])),
                Attribution::Unattributable,
                "{header}"
            );
        }
    }

    #[test]
    fn a_trusted_proxy_speaks_for_the_right_most_untrusted_hop() {
        let t = trust(&["127.0.0.1", "10.0.0.0/8"]);
        let from = |xff: &str| {
            attribute(
                ip("127.0.0.1"),
                &head(&format!("X-Forwarded-For: {xff}\r\n")),
                &t,
            )
        };
        assert_eq!(
            from("192.0.2.2"),
            Attribution::TrustedProxy {
                client: ip("192.0.2.2")
            }
        );
        assert_eq!(
            from("192.0.2.9, 192.0.2.2, 10.1.1.1, 127.0.0.1"),
            Attribution::TrustedProxy {
                client: ip("192.0.2.2")
            }
        );
        assert_eq!(
            from("[2001:db8::1]:443"),
            Attribution::TrustedProxy {
                client: ip("2001:db8::1")
            }
        );
        assert_eq!(
            from("192.0.2.2:5000"),
            Attribution::TrustedProxy {
                client: ip("192.0.2.2")
            }
        );
        // Nothing but loopback or trusted hops, or garbage: no client.
        assert_eq!(from("127.0.0.1"), Attribution::Unattributable);
        assert_eq!(from("10.2.3.4, ::1"), Attribution::Unattributable);
        assert_eq!(from("garbage"), Attribution::Unattributable);
        // Repeated headers are one chain.
        let two = head("X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-For: 10.0.0.2\r\n");
        assert_eq!(
            attribute(ip("127.0.0.1"), &two, &t),
            Attribution::TrustedProxy {
                client: ip("192.0.2.7")
            }
        );
        // A trusted proxy must say who it forwards.
        assert_eq!(
            attribute(ip("10.0.0.1"), &head(""), &t),
            Attribution::Unattributable
        );
    }

    #[test]
    fn real_ip_counts_only_when_allowed() {
        let real = head("X-Real-IP: 192.0.2.3\r\n");
        assert_eq!(
            attribute(ip("127.0.0.1"), &real, &trust(&["127.0.0.1"])),
            Attribution::Unattributable
        );
        let allowing = ProxyTrust::new(&["127.0.0.1"], true).0;
        assert_eq!(
            attribute(ip("127.0.0.1"), &real, &allowing),
            Attribution::TrustedProxy {
                client: ip("192.0.2.3")
            }
        );
        // X-Forwarded-For wins when it names a client.
        let both = head("X-Forwarded-For: 192.0.2.4\r\nX-Real-IP: 192.0.2.3\r\n");
        assert_eq!(
            attribute(ip("127.0.0.1"), &both, &allowing),
            Attribution::TrustedProxy {
                client: ip("192.0.2.4")
            }
        );
    }

    #[test]
    fn entries_are_addresses_or_ranges() {
        let (t, ignored) = ProxyTrust::new(
            &[
                "10.0.0.0/8",
                "::1",
                "[fd00::1]",
                "::ffff:192.168.0.0/112",
                "nope",
                "1.2.3.4/33",
                " ",
            ],
            false,
        );
        assert_eq!(ignored, vec!["nope".to_string(), "1.2.3.4/33".to_string()]);
        assert!(t.trusts(ip("10.255.0.1")));
        assert!(!t.trusts(ip("11.0.0.1")));
        assert!(t.trusts(ip("::1")));
        assert!(t.trusts(ip("fd00::1")));
        assert!(t.trusts(ip("192.168.3.4")));
        assert!(t.trusts(ip("::ffff:10.0.0.1")));
        assert!(!t.trusts(ip("127.0.0.1")));
        let all = trust(&["0.0.0.0/0"]);
        assert!(all.trusts(ip("8.8.8.8")));
        assert!(!all.trusts(ip("2001:db8::1")));
    }
}
