//! Browser `Origin` rules: which web pages may open a gateway connection.
//!
//! A WebSocket upgrade that carries an `Origin` header comes from a browser
//! page (native clients send none). Any page can point a browser at
//! `ws://127.0.0.1:18789`, so such a connection is admitted only when its
//! origin is one the gateway serves or was told to trust, whatever client id
//! it claims. The rules follow the reference gateway; an origin is accepted
//! when any of these holds:
//!
//! 1. it is listed in `gateway.controlUi.allowedOrigins` (or that list holds `*`);
//! 2. `dangerouslyAllowHostHeaderOriginFallback` is on and the origin's host
//!    equals the request's `Host` header;
//! 3. the origin's host equals the `Host` header and that host is loopback
//!    (for a local client), a private or loopback IP, `*.local` or `*.ts.net`;
//! 4. the client is local and the origin's hostname is loopback.
//!
//! Everything else, including a missing, `null` or malformed origin, is refused.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The configured part of the rules (`gateway.controlUi`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// `allowedOrigins`: exact origins (`scheme://host[:port]`), or `*`.
    pub allowed_origins: Vec<String>,
    /// `dangerouslyAllowHostHeaderOriginFallback`.
    pub allow_host_header_fallback: bool,
}

/// Which rule accepted an origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginMatch {
    Allowlist,
    HostHeaderFallback,
    PrivateSameOrigin,
    LocalLoopback,
}

/// Why an origin was refused (`details.reason` of the refusal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginRefusal {
    MissingOrInvalid,
    NotAllowed,
}

impl OriginRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            OriginRefusal::MissingOrInvalid => "origin missing or invalid",
            OriginRefusal::NotAllowed => "origin not allowed",
        }
    }
}

/// An origin reduced to what the rules compare, all lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedOrigin {
    /// `scheme://host[:port]`, default ports dropped.
    pub origin: String,
    /// `host[:port]` as in a `Host` header.
    pub host: String,
    /// The host without port or IPv6 brackets.
    pub hostname: String,
}

/// Parse an `Origin` header value: `scheme://authority` with an optional
/// trailing `/`, no credentials, no path, query or fragment.
pub fn parse_origin(raw: &str) -> Option<ParsedOrigin> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return None;
    }
    let (scheme, rest) = trimmed.split_once("://")?;
    let mut scheme_chars = scheme.chars();
    if !scheme_chars.next()?.is_ascii_alphabetic()
        || !scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty()
        || authority
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '\\' | '@') || c.is_whitespace())
    {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let authority = authority.to_ascii_lowercase();
    let (hostname, port) = split_host_port(&authority)?;
    if hostname.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(digits) => {
            let number: u16 = digits.parse().ok()?;
            (default_port(&scheme) != Some(number)).then_some(number)
        }
    };
    let host_for_header = if hostname.contains(':') {
        format!("[{hostname}]")
    } else {
        hostname.to_owned()
    };
    let host = match port {
        Some(port) => format!("{host_for_header}:{port}"),
        None => host_for_header,
    };
    Some(ParsedOrigin {
        origin: format!("{scheme}://{host}"),
        host,
        hostname: hostname.to_owned(),
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// `host[:port]` or `[v6][:port]` into its hostname (no brackets) and port digits.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(after) = authority.strip_prefix('[') {
        let (v6, rest) = after.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        return match rest {
            "" => Some((v6, None)),
            _ => Some((v6, Some(rest.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        None => Some((authority, None)),
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            Some((host, Some(port)))
        }
        Some(_) => None,
    }
}

/// The hostname of a `Host` header value (`name[:port]`, `[v6]:port`, or a bare v6).
pub fn host_header_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if let Some(after) = host.strip_prefix('[') {
        if let Some((name, _)) = after.split_once(']') {
            return name.to_owned();
        }
    }
    if host.parse::<Ipv6Addr>().is_ok() {
        return host;
    }
    host.split(':').next().unwrap_or_default().to_owned()
}

/// `localhost` (with or without trailing dots) or a loopback address.
pub fn is_loopback_host(hostname: &str) -> bool {
    let name = hostname.trim_end_matches('.');
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    parse_ip(name).is_some_and(|ip| ip.to_canonical().is_loopback())
}

fn parse_ip(name: &str) -> Option<IpAddr> {
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.parse().ok()
}

/// Loopback, RFC 1918, link-local, CGNAT (100.64/10) or IPv6 ULA.
pub fn is_private_or_loopback(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
        }
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || (a == 100 && (64..128).contains(&b))
}

/// A same-origin host the gateway may trust without an allowlist entry.
fn is_trusted_same_origin_host(host_header: &str, is_local_client: bool) -> bool {
    let hostname = host_header_name(host_header);
    if hostname.is_empty() {
        return false;
    }
    if is_loopback_host(&hostname) {
        return is_local_client;
    }
    if let Some(ip) = parse_ip(&hostname) {
        return is_private_or_loopback(ip);
    }
    hostname.ends_with(".local") || hostname.ends_with(".ts.net")
}

/// Whether a page at `origin` was loaded from the host the request went
/// to (its `Host` header): a page this gateway served itself.
pub fn is_gateway_host_origin(origin: Option<&str>, request_host: Option<&str>) -> bool {
    let parsed = origin.and_then(parse_origin);
    let host = request_host
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    matches!((parsed, host), (Some(p), Some(h)) if p.host == h)
}

/// Decide whether a browser page at `origin` may connect.
pub fn check_browser_origin(
    origin: &str,
    request_host: Option<&str>,
    is_local_client: bool,
    policy: &OriginPolicy,
) -> Result<OriginMatch, OriginRefusal> {
    let parsed = parse_origin(origin).ok_or(OriginRefusal::MissingOrInvalid)?;
    let listed = policy.allowed_origins.iter().any(|allowed| {
        let allowed = allowed.trim();
        allowed == "*" || allowed.eq_ignore_ascii_case(&parsed.origin)
    });
    if listed {
        return Ok(OriginMatch::Allowlist);
    }
    let request_host = request_host
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    if let Some(host) = &request_host {
        if *host == parsed.host {
            if policy.allow_host_header_fallback {
                return Ok(OriginMatch::HostHeaderFallback);
            }
            if is_trusted_same_origin_host(host, is_local_client) {
                return Ok(OriginMatch::PrivateSameOrigin);
            }
        }
    }
    if is_local_client && is_loopback_host(&parsed.hostname) {
        return Ok(OriginMatch::LocalLoopback);
    }
    Err(OriginRefusal::NotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(origin: &str, host: Option<&str>, local: bool) -> Result<OriginMatch, OriginRefusal> {
        check_browser_origin(origin, host, local, &OriginPolicy::default())
    }

    #[test]
    fn parses_origins_like_a_browser_sends_them() {
        let p = parse_origin("HTTP://LocalHost:80/").unwrap();
        assert_eq!(p.origin, "http://localhost");
        assert_eq!(p.host, "localhost");
        let p = parse_origin("https://[::1]:8443").unwrap();
        assert_eq!(p.origin, "https://[::1]:8443");
        assert_eq!(p.hostname, "::1");
        let p = parse_origin("chrome-extension://abcdefghijklmnopabcdefghijklmnop").unwrap();
        assert_eq!(p.host, "abcdefghijklmnopabcdefghijklmnop");
        for bad in [
            "",
            "null",
            "evil.example",
            "https://",
            "https://a/b",
            "https://user:pw@a",
            "https://a?x",
            "https://a:99999",
            "https://a:x",
            "1http://a",
            "https://[zz]:1",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_foreign_origin_is_refused_even_on_loopback() {
        assert_eq!(
            check("https://evil.example", Some("127.0.0.1:18789"), true),
            Err(OriginRefusal::NotAllowed)
        );
        assert_eq!(
            check("null", Some("127.0.0.1:18789"), true),
            Err(OriginRefusal::MissingOrInvalid)
        );
    }

    #[test]
    fn the_gateway_host_itself_is_allowed() {
        // Same host, loopback, local client.
        assert_eq!(
            check("http://127.0.0.1:18789", Some("127.0.0.1:18789"), true),
            Ok(OriginMatch::PrivateSameOrigin)
        );
        // A local client on a loopback page on another port.
        assert_eq!(
            check("http://localhost:5173", Some("127.0.0.1:18789"), true),
            Ok(OriginMatch::LocalLoopback)
        );
        // A remote client claiming a loopback page is not local.
        assert_eq!(
            check("http://localhost:5173", Some("127.0.0.1:18789"), false),
            Err(OriginRefusal::NotAllowed)
        );
        // LAN and mDNS same-origin hosts.
        assert_eq!(
            check("http://192.168.1.5:18789", Some("192.168.1.5:18789"), false),
            Ok(OriginMatch::PrivateSameOrigin)
        );
        assert_eq!(
            check("http://box.local:18789", Some("box.local:18789"), false),
            Ok(OriginMatch::PrivateSameOrigin)
        );
        // A public same-origin host needs an allowlist entry (TEST-NET is not private).
        assert_eq!(
            check("http://192.0.2.7:18789", Some("192.0.2.7:18789"), false),
            Err(OriginRefusal::NotAllowed)
        );
    }

    #[test]
    fn allowlist_and_fallback() {
        let policy = OriginPolicy {
            allowed_origins: vec!["https://ui.example.com".into()],
            allow_host_header_fallback: false,
        };
        assert_eq!(
            check_browser_origin("https://UI.example.com/", None, false, &policy),
            Ok(OriginMatch::Allowlist)
        );
        let any = OriginPolicy {
            allowed_origins: vec!["*".into()],
            ..OriginPolicy::default()
        };
        assert_eq!(
            check_browser_origin("https://x.example", None, false, &any),
            Ok(OriginMatch::Allowlist)
        );
        let fallback = OriginPolicy {
            allow_host_header_fallback: true,
            ..OriginPolicy::default()
        };
        assert_eq!(
            check_browser_origin("https://gw.example", Some("gw.example"), false, &fallback),
            Ok(OriginMatch::HostHeaderFallback)
        );
    }

    #[test]
    fn address_classes() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "127.0.0.2",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                is_private_or_loopback(private.parse().unwrap()),
                "{private}"
            );
        }
        for public in ["8.8.8.8", "192.0.2.1", "100.128.0.1", "2001:db8::1"] {
            assert!(!is_private_or_loopback(public.parse().unwrap()), "{public}");
        }
        assert!(is_loopback_host("localhost."));
        assert!(is_loopback_host("::ffff:127.0.0.1"));
        assert_eq!(host_header_name("[::1]:18789"), "::1");
        assert_eq!(host_header_name("Example.com:80"), "example.com");
    }
}
