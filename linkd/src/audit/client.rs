//! What the audit trail keeps of a viewer: the address truncated to a network
//! (`AUDIT_ADDRESS_PREFIX`, default /24 and /48), the browser's family from its User-Agent,
//! and a short device label that tells one link's devices apart without identifying them.

use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the trail keeps of a viewer's session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The address, truncated; `None` when none is kept or it is not known.
    pub client: Option<String>,
    /// The browser family; `None` when not known (a session resumed after a restart).
    pub browser: Option<&'static str>,
    /// The device label.
    pub device: Option<String>,
}

/// How many leading bits of a viewer's address are kept: IPv4, IPv6. Zero keeps none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefixes {
    /// Bits of an IPv4 address (0 to 32).
    pub v4: u8,
    /// Bits of an IPv6 address (0 to 128).
    pub v6: u8,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes { v4: 24, v6: 48 }
    }
}

impl std::fmt::Display for Prefixes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.v4, self.v6)
    }
}

impl Prefixes {
    /// `V4,V6`, e.g. `24,48`; `0,0` keeps no address.
    pub fn parse(v: &str) -> Result<Prefixes, String> {
        const HINT: &str = "use IPv4 bits (0 to 32) and IPv6 bits (0 to 128), e.g. 24,48";
        let (a, b) = v.split_once(',').ok_or(HINT)?;
        let v4: u8 = a.trim().parse().map_err(|_| HINT)?;
        let v6: u8 = b.trim().parse().map_err(|_| HINT)?;
        if v4 > 32 || v6 > 128 {
            return Err(HINT.into());
        }
        Ok(Prefixes { v4, v6 })
    }

    /// `ip` as the network it is kept as (`203.0.113.0/24`), or `None` when none is kept.
    pub fn truncate(self, ip: IpAddr) -> Option<String> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(_) if self.v4 == 0 => None,
            IpAddr::V6(_) if self.v6 == 0 => None,
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.v4)).unwrap_or(0);
                let net = Ipv4Addr::from(u32::from(a) & mask);
                Some(format!("{net}/{}", self.v4))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.v6)).unwrap_or(0);
                let net = Ipv6Addr::from(u128::from(a) & mask);
                Some(format!("{net}/{}", self.v6))
            }
        }
    }
}

/// The browser family of a User-Agent: `Telegram` (its in-app browser), `Edge`, `Firefox`,
/// `Chrome`, `Safari` or `other`. Order matters: Edge and most others also say Chrome and
/// Safari.
pub fn browser(user_agent: &str) -> &'static str {
    let has = |w: &str| user_agent.contains(w);
    if has("Telegram") {
        "Telegram"
    } else if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        "Edge"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("OPR/") || has("SamsungBrowser/") {
        "other"
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") && has("Version/") {
        "Safari"
    } else {
        "other"
    }
}

/// The label of the device with cookie value `device` on link `link_id`: 8 hex digits of a
/// hash, different for each link, so the trail tells one link's devices apart without
/// following a browser from link to link, and the cookie cannot be read back from it.
pub fn device_label(link_id: i64, device: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tempstream device\0");
    h.update(link_id.to_le_bytes());
    h.update(device.as_bytes());
    h.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_truncated_to_their_network() {
        let d = Prefixes::default();
        let none = Prefixes { v4: 0, v6: 0 };
        let full = Prefixes { v4: 32, v6: 128 };
        // (prefixes, address, kept)
        let cases: [(Prefixes, &str, Option<&str>); 9] = [
            (d, "203.0.113.77", Some("203.0.113.0/24")),
            (d, "127.0.0.1", Some("127.0.0.0/24")),
            (d, "2001:db8:1234:5678::9", Some("2001:db8:1234::/48")),
            (d, "::ffff:198.51.100.9", Some("198.51.100.0/24")),
            (d, "::1", Some("::/48")),
            (none, "203.0.113.77", None),
            (none, "2001:db8::1", None),
            (full, "203.0.113.77", Some("203.0.113.77/32")),
            (
                Prefixes { v4: 16, v6: 64 },
                "2001:db8:1:2:3::4",
                Some("2001:db8:1:2::/64"),
            ),
        ];
        for (p, ip, want) in cases {
            assert_eq!(p.truncate(ip.parse().unwrap()).as_deref(), want, "{ip} {p}");
        }
    }

    #[test]
    fn prefixes_parse() {
        assert_eq!(Prefixes::parse("24,48"), Ok(Prefixes::default()));
        assert_eq!(Prefixes::parse(" 0 , 0 "), Ok(Prefixes { v4: 0, v6: 0 }));
        for bad in ["24", "33,48", "24,129", "a,b", "", "24;48"] {
            assert!(Prefixes::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn browser_families() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86", "Edge"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15", "Firefox"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Telegram-Android/11.5.3 (Google Pixel 8; Android 14; SDK 34; HIGH)", "Telegram"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "other"),
            ("curl/8.5.0", "other"),
            ("", "other"),
        ];
        for (ua, want) in cases {
            assert_eq!(browser(ua), want, "{ua}");
        }
    }

    #[test]
    fn device_labels_differ_per_link_and_device() {
        let a = device_label(1, "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(a.len(), 8);
        assert_eq!(a, device_label(1, "AAAAAAAAAAAAAAAAAAAAAA"));
        assert_ne!(a, device_label(2, "AAAAAAAAAAAAAAAAAAAAAA"));
        assert_ne!(a, device_label(1, "BAAAAAAAAAAAAAAAAAAAAA"));
    }
}
