//! Where outbound requests may go: the `fetch_allow` list of the
//! configuration (filepond.md §8.1), parsed once and matched against the
//! very address a connection is about to use. Configuration reads it; the
//! outbound client (`crate::outbound`) consults it; it knows neither.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Any globally routable address.
    Public,
    /// Exactly this host name.
    Host(String),
    /// Subdomains of this name (`*.example.com`), not the apex.
    Subdomains(String),
    /// An address block.
    Net(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    target: Target,
    port: Option<u16>,
}

/// The configured fetch allow-list; empty means fetch is off.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<Rule>);

impl AllowList {
    /// Parses entries: `public`, `host`, `*.domain`, `IP`, `CIDR`, each with an optional `:port`.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        entries
            .iter()
            .map(|e| parse_rule(e.trim()))
            .collect::<Result<_, _>>()
            .map(AllowList)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// May a connection to `addr` be made for a URL naming `host`?
    pub fn allows(&self, host: &str, addr: SocketAddr) -> bool {
        let ip = canonical(addr.ip());
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.0.iter().any(|rule| {
            rule.port.is_none_or(|p| p == addr.port())
                && match &rule.target {
                    Target::Public => is_global(ip),
                    Target::Host(h) => *h == host,
                    Target::Subdomains(d) => {
                        host.len() > d.len() + 1 && host.ends_with(&format!(".{d}"))
                    }
                    Target::Net(net, bits) => in_net(ip, *net, *bits),
                }
        })
    }
}

fn parse_rule(entry: &str) -> Result<Rule, String> {
    let bad = || {
        format!(
            "fetch_allow: `{entry}` is not `public`, a host name, `*.domain`, an IP address or a CIDR block"
        )
    };
    if entry.is_empty() {
        return Err(bad());
    }
    // Split an optional port: `[v6]:p`, `v4:p`, `name:p`; a bare v6 address has several colons.
    let (body, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        (inside.to_owned(), port)
    } else if entry.matches(':').count() == 1 {
        let (b, p) = entry.split_once(':').ok_or_else(bad)?;
        (b.to_owned(), Some(p.parse::<u16>().map_err(|_| bad())?))
    } else {
        (entry.to_owned(), None)
    };
    let lower = body.to_ascii_lowercase();
    let target = if lower == "public" {
        Target::Public
    } else if let Some((ip, bits)) = lower.split_once('/') {
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let bits: u8 = bits.parse().map_err(|_| bad())?;
        if bits > if ip.is_ipv4() { 32 } else { 128 } {
            return Err(bad());
        }
        Target::Net(canonical(ip), bits)
    } else if let Ok(ip) = lower.parse::<IpAddr>() {
        let ip = canonical(ip);
        Target::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
    } else if let Some(domain) = lower.strip_prefix("*.") {
        valid_name(domain)
            .then(|| Target::Subdomains(domain.to_owned()))
            .ok_or_else(bad)?
    } else {
        valid_name(&lower)
            .then(|| Target::Host(lower.clone()))
            .ok_or_else(bad)?
    };
    Ok(Rule { target, port })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// True for globally routable addresses (not loopback, private, link-local,
/// CGNAT, multicast, unspecified, documentation or otherwise reserved).
pub fn is_global(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let blocked: &[(Ipv4Addr, u8)] = &[
        (Ipv4Addr::new(0, 0, 0, 0), 8),
        (Ipv4Addr::new(10, 0, 0, 0), 8),
        (Ipv4Addr::new(100, 64, 0, 0), 10),
        (Ipv4Addr::new(127, 0, 0, 0), 8),
        (Ipv4Addr::new(169, 254, 0, 0), 16),
        (Ipv4Addr::new(172, 16, 0, 0), 12),
        (Ipv4Addr::new(192, 0, 0, 0), 24),
        (Ipv4Addr::new(192, 0, 2, 0), 24),
        (Ipv4Addr::new(192, 88, 99, 0), 24),
        (Ipv4Addr::new(192, 168, 0, 0), 16),
        (Ipv4Addr::new(198, 18, 0, 0), 15),
        (Ipv4Addr::new(198, 51, 100, 0), 24),
        (Ipv4Addr::new(203, 0, 113, 0), 24),
        (Ipv4Addr::new(224, 0, 0, 0), 4),
        (Ipv4Addr::new(240, 0, 0, 0), 4),
    ];
    !blocked
        .iter()
        .any(|(net, bits)| in_net(IpAddr::V4(ip), IpAddr::V4(*net), *bits))
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let blocked: &[(Ipv6Addr, u8)] = &[
        (Ipv6Addr::UNSPECIFIED, 128),
        (Ipv6Addr::LOCALHOST, 128),
        (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96), // NAT64 reaches IPv4 space
        (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
        (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4 reaches IPv4 space
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
    ];
    !blocked
        .iter()
        .any(|(net, bits)| in_net(IpAddr::V6(ip), IpAddr::V6(*net), *bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rules() {
        let a = allow(&[
            "127.0.0.1",
            "cdn.example.com:443",
            "*.img.example",
            "10.0.0.0/8",
            "public",
        ]);
        assert!(a.allows("127.0.0.1", sa("127.0.0.1:80")));
        assert!(!a.allows("127.0.0.2", sa("127.0.0.2:80")));
        assert!(a.allows("CDN.example.com", sa("10.9.9.9:443")));
        assert!(a.allows("cdn.example.com", sa("192.168.0.1:443")));
        assert!(!a.allows("cdn.example.com", sa("192.168.0.1:80")));
        assert!(a.allows("a.img.example", sa("192.168.1.1:80")));
        assert!(!a.allows("img.example", sa("192.168.1.1:80")));
        assert!(a.allows("x", sa("10.1.2.3:8080")));
        assert!(a.allows("x", sa("93.184.216.34:80")));
        assert!(!a.allows("x", sa("[::ffff:127.0.0.2]:80")));
        assert!(!allow(&["127.0.0.1:1"]).allows("127.0.0.1", sa("127.0.0.1:80")));
        assert!(allow(&["[::1]:8080"]).allows("::1", sa("[::1]:8080")));
    }

    #[test]
    fn public_excludes_special_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.1.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(is_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn bad_entries() {
        assert!(AllowList::parse(&["".into()]).is_err());
        assert!(AllowList::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(AllowList::parse(&["a b".into()]).is_err());
    }
}
