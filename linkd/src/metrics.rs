//! The figures linkd exports in Prometheus text format: requests by route and status,
//! upstream fetches, cache hits and bytes, coalesced waiters, expired answers given while they
//! were refreshed, open and refused connections, viewers per link, and whether the stream is
//! live. A leaf: the HTTP side records into [`RequestCounts`] and gathers a [`Figures`]; the
//! page is served on `METRICS_ADDR` by the HTTP server's own accept loop.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The route names requests are counted by; the last one takes any other.
pub(crate) const ROUTES: [&str; 6] = ["healthz", "watch", "session", "play", "asset", "not_found"];
const STATUSES: [u16; 15] = [
    200, 206, 304, 400, 403, 404, 405, 410, 414, 429, 431, 500, 502, 503, 0,
];

/// Request counters, one per route and status (0 = any other status).
pub struct RequestCounts {
    counts: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
}

impl Default for RequestCounts {
    fn default() -> Self {
        RequestCounts {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl RequestCounts {
    /// Counts one answered request.
    pub fn record(&self, route: &str, status: u16) {
        let r = ROUTES
            .iter()
            .position(|x| *x == route)
            .unwrap_or(ROUTES.len() - 1);
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.counts[r][s].fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the counters that are not zero, in Prometheus text format.
    fn write(&self, out: &mut String) {
        out.push_str("# HELP tempstream_http_requests_total HTTP requests answered, by route and status (0 = other).\n");
        out.push_str("# TYPE tempstream_http_requests_total counter\n");
        for (r, route) in ROUTES.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.counts[r][s].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "tempstream_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
    }
}

/// The figures of one scrape, gathered by the HTTP side from the parts that hold them.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    /// Requests sent to the origin.
    pub upstream_fetches: u64,
    /// Requests answered from memory.
    pub cache_hits: u64,
    /// Bytes answered from memory.
    pub cache_hit_bytes: u64,
    /// Requests that waited for another request's fetch.
    pub coalesced: u64,
    /// Expired answers given while one request refreshed them.
    pub stale: u64,
    /// Bytes of origin answers held in memory.
    pub cache_bytes: u64,
    /// Bytes sent from memory files without a copy.
    pub sendfile_bytes: u64,
    /// Whether the stream is live.
    pub stream_live: bool,
    /// Open HTTP connections.
    pub connections: usize,
    /// Connections refused over the total cap and over the per-client cap.
    pub refused: (u64, u64),
    /// Viewers by link id.
    pub viewers: Vec<(i64, u32)>,
    /// Links active now.
    pub active_links: u32,
}

/// The metrics page.
pub(crate) fn render(requests: &RequestCounts, f: &Figures) -> String {
    let mut out = String::new();
    requests.write(&mut out);
    let counters = [
        (
            "tempstream_upstream_fetches_total",
            "Requests sent to the origin.",
            f.upstream_fetches,
        ),
        (
            "tempstream_cache_hits_total",
            "Requests answered from memory.",
            f.cache_hits,
        ),
        (
            "tempstream_cache_hit_bytes_total",
            "Bytes answered from memory.",
            f.cache_hit_bytes,
        ),
        (
            "tempstream_coalesced_waiters_total",
            "Requests that waited for another request's origin fetch.",
            f.coalesced,
        ),
        (
            "tempstream_cache_stale_hits_total",
            "Requests answered with an expired answer while one request refreshed it.",
            f.stale,
        ),
        (
            "tempstream_sendfile_bytes_total",
            "Bytes of large answers sent from memory files without a copy (sendfile).",
            f.sendfile_bytes,
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP tempstream_cache_bytes Bytes of origin answers held in memory.\n# TYPE tempstream_cache_bytes gauge\ntempstream_cache_bytes {}",
        f.cache_bytes
    );
    let _ = writeln!(
        out,
        "# HELP tempstream_stream_live Whether the stream is live (1) or offline (0).\n# TYPE tempstream_stream_live gauge\ntempstream_stream_live {}",
        u8::from(f.stream_live)
    );
    let (over_total, over_client) = f.refused;
    let _ = writeln!(
        out,
        "# HELP tempstream_http_connections Open HTTP connections.\n# TYPE tempstream_http_connections gauge\ntempstream_http_connections {}\n\
         # HELP tempstream_http_connections_refused_total Connections refused with a 503, by the cap they were over.\n\
         # TYPE tempstream_http_connections_refused_total counter\n\
         tempstream_http_connections_refused_total{{cap=\"total\"}} {over_total}\n\
         tempstream_http_connections_refused_total{{cap=\"client\"}} {over_client}",
        f.connections
    );
    out.push_str("# HELP tempstream_viewers Playback sessions watching now, by link id.\n# TYPE tempstream_viewers gauge\n");
    let mut per_link = f.viewers.clone();
    per_link.sort();
    for (link, n) in per_link {
        let _ = writeln!(out, "tempstream_viewers{{link_id=\"{link}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP tempstream_active_links Links active now.\n# TYPE tempstream_active_links gauge\ntempstream_active_links {}",
        f.active_links
    );
    out
}
