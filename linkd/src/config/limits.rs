//! The HTTP limits of linkd's configuration: trusted proxies, connection caps and the send
//! timeout (`HTTP_TRUSTED_PROXIES`, `HTTP_MAX_CONNECTIONS`, `HTTP_MAX_CONNECTIONS_PER_CLIENT`,
//! `HTTP_SEND_TIMEOUT`).

use super::{parse_duration, Problems, Raw};
use crate::http::peers::{TrustedProxies, DEFAULT_TRUSTED_PROXIES};
use std::time::Duration;

/// The connection limits and the trusted proxies, checked together.
pub(super) struct HttpLimits {
    pub(super) trusted_proxies: Option<TrustedProxies>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_per_client: Option<u32>,
    pub(super) send_timeout: Option<Duration>,
}

impl HttpLimits {
    pub(super) fn check(raw: &Raw, p: &mut Problems) -> HttpLimits {
        HttpLimits {
            trusted_proxies: p.parse(
                "HTTP_TRUSTED_PROXIES",
                &raw.http_trusted_proxies,
                DEFAULT_TRUSTED_PROXIES,
                TrustedProxies::parse,
            ),
            max_connections: p.parse(
                "HTTP_MAX_CONNECTIONS",
                &raw.http_max_connections,
                "16384",
                |v| match v.parse::<usize>() {
                    Ok(n) if (16..=1_000_000).contains(&n) => Ok(n),
                    _ => Err("not a number from 16 to 1000000".into()),
                },
            ),
            max_per_client: p.parse(
                "HTTP_MAX_CONNECTIONS_PER_CLIENT",
                &raw.http_max_connections_per_client,
                "64",
                |v| match v.parse::<u32>() {
                    Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
                    _ => Err("not a number from 1 to 1000000".into()),
                },
            ),
            send_timeout: p.parse("HTTP_SEND_TIMEOUT", &raw.http_send_timeout, "60s", |v| {
                let d = parse_duration(v, false)?;
                if d < Duration::from_secs(1) || d > Duration::from_secs(60) {
                    return Err("out of range: use 1s to 60s, e.g. 60s".into());
                }
                Ok(d)
            }),
        }
    }
}
