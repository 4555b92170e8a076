//! Who a client is: the connecting peer, or behind a trusted proxy the address it put in
//! `X-Forwarded-For`; and the key clients are counted by (an IPv4 address, an IPv6 /64).
//!
//! `X-Forwarded-For` is believed only when the peer is in `HTTP_TRUSTED_PROXIES` (default:
//! loopback and private ranges, where Caddy or a compose network connects from); a peer on
//! the internet cannot choose its own address by sending the header.

use http::Request;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The ranges trusted by default: loopback and private networks.
pub const DEFAULT_TRUSTED_PROXIES: &str =
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

/// An address as 128 bits, IPv4 as its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`).
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The key a client is counted by: its IPv4 address, or the /64 of its IPv6 address (one
/// subscriber usually holds a whole /64).
pub fn client_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => bits(ip) & !u128::from(u64::MAX),
        _ => bits(ip),
    }
}

/// A network in CIDR notation.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: u128,
    mask: u128,
    text_v4: bool,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR range, e.g. 10.0.0.0/8"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = match len {
            None => max,
            Some(l) => l
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        let len128 = u32::from(prefix) + if ip.is_ipv4() { 96 } else { 0 };
        let mask = if len128 == 0 {
            0
        } else {
            u128::MAX << (128 - len128)
        };
        Ok(Cidr {
            net: bits(ip) & mask,
            mask,
            text_v4: ip.is_ipv4(),
            prefix,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        bits(ip) & self.mask == self.net
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = std::net::Ipv6Addr::from(self.net);
        match (self.text_v4, ip.to_ipv4_mapped()) {
            (true, Some(v4)) => write!(f, "{v4}/{}", self.prefix),
            _ => write!(f, "{ip}/{}", self.prefix),
        }
    }
}

/// The peers whose `X-Forwarded-For` is believed (`HTTP_TRUSTED_PROXIES`).
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR ranges; empty trusts no peer.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut ranges = Vec::new();
        let mut bad = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Cidr::parse(item) {
                Ok(c) => ranges.push(c),
                Err(e) => bad.push(e),
            }
        }
        if bad.is_empty() {
            Ok(TrustedProxies(ranges))
        } else {
            Err(bad.join("; "))
        }
    }

    /// Loopback and private ranges.
    pub fn default_ranges() -> TrustedProxies {
        TrustedProxies::parse(DEFAULT_TRUSTED_PROXIES).expect("the default ranges parse")
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedProxies({self})")
    }
}

/// The client's address: the peer, or when the peer is a trusted proxy and `count` proxies
/// are in front, the entry of `X-Forwarded-For` that the outermost trusted proxy added.
pub fn client_ip<B>(
    req: &Request<B>,
    peer: SocketAddr,
    proxies: &TrustedProxies,
    count: u32,
) -> IpAddr {
    if count == 0 || !proxies.contains(peer.ip()) {
        return peer.ip();
    }
    // Each trusted proxy appends the address it was connected from, so the entry `count`
    // places from the end is the client as the outermost trusted proxy saw it. With fewer
    // entries, the first one is used. Walks the header values from the end without
    // allocating (this runs on every request).
    let mut hops = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.rsplit(','))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut last = None;
    for _ in 1..count {
        match hops.next() {
            Some(h) => last = Some(h),
            None => break,
        }
    }
    match hops.next().or(last) {
        Some(h) => h.parse().unwrap_or(peer.ip()),
        None => peer.ip(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_table() {
        let proxies = TrustedProxies::default_ranges();
        // (peer, X-Forwarded-For, trusted proxy count, expected client)
        let cases = [
            ("10.0.0.9:5000", None, 0, "10.0.0.9"),
            ("10.0.0.9:5000", Some("203.0.113.7"), 0, "10.0.0.9"),
            ("10.0.0.9:5000", Some("203.0.113.7"), 1, "203.0.113.7"),
            (
                "10.0.0.9:5000",
                Some("198.51.100.1, 203.0.113.7"),
                1,
                "203.0.113.7",
            ),
            (
                "10.0.0.9:5000",
                Some("198.51.100.1, 203.0.113.7"),
                2,
                "198.51.100.1",
            ),
            ("10.0.0.9:5000", None, 1, "10.0.0.9"),
            ("10.0.0.9:5000", Some("garbage"), 1, "10.0.0.9"),
            ("127.0.0.1:5000", Some("203.0.113.7"), 1, "203.0.113.7"),
            ("[::1]:5000", Some("2001:db8::1"), 1, "2001:db8::1"),
            (
                "[::ffff:192.168.1.2]:5000",
                Some("203.0.113.7"),
                1,
                "203.0.113.7",
            ),
            // A peer on the internet cannot choose its address with the header.
            (
                "198.51.100.20:5000",
                Some("203.0.113.7"),
                1,
                "198.51.100.20",
            ),
            ("[2001:db8::5]:5000", Some("203.0.113.7"), 1, "2001:db8::5"),
        ];
        for (peer, xff, count, want) in cases {
            let mut b = Request::builder();
            if let Some(x) = xff {
                b = b.header("x-forwarded-for", x);
            }
            let req = b.body(()).unwrap();
            let peer: SocketAddr = peer.parse().unwrap();
            assert_eq!(
                client_ip(&req, peer, &proxies, count).to_string(),
                want,
                "{peer} {xff:?} {count}"
            );
        }
    }

    #[test]
    fn trusted_proxy_lists() {
        let p = TrustedProxies::parse(" 203.0.113.0/24, 2001:db8::/32 ,192.0.2.1").unwrap();
        assert_eq!(p.to_string(), "203.0.113.0/24,2001:db8::/32,192.0.2.1/32");
        for (ip, inside) in [
            ("203.0.113.200", true),
            ("203.0.114.1", false),
            ("2001:db8:ffff::1", true),
            ("2001:db9::1", false),
            ("192.0.2.1", true),
            ("192.0.2.2", false),
        ] {
            assert_eq!(p.contains(ip.parse().unwrap()), inside, "{ip}");
        }
        assert!(!TrustedProxies::parse("")
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
        let err = TrustedProxies::parse("10.0.0.0/33,nowhere").unwrap_err();
        assert!(
            err.contains("10.0.0.0/33") && err.contains("nowhere"),
            "{err}"
        );
        let d = TrustedProxies::default_ranges();
        assert_eq!(d.to_string(), DEFAULT_TRUSTED_PROXIES);
        assert!(d.contains("172.20.0.3".parse().unwrap()));
        assert!(!d.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn clients_are_counted_by_ipv4_address_and_ipv6_64() {
        let k = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("192.0.2.1"), k("::ffff:192.0.2.1"));
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
    }
}
