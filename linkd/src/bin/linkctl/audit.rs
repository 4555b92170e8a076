//! `linkctl log ID` and `linkctl viewers`: a link's story from the audit trail, and who is
//! watching now. Times are UTC.

use super::{call, out, relative, Failure};
use proto::{story, LinkApiClient, LinkLog, Viewer};
use std::time::{Duration, UNIX_EPOCH};

/// "1h 12m": the two largest units of a span.
fn span(secs: u64) -> String {
    let d = humantime::format_duration(Duration::from_secs(secs)).to_string();
    d.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// "2026-12-03 18:40:12 UTC".
fn clock(t: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// `log ID`: the story in a line, then the latest events; `--json`: the whole answer.
pub async fn log(client: &LinkApiClient, id: i64, json: bool) -> Result<String, Failure> {
    let log = call(client, |c, ctx| async move { c.link_log(ctx, id).await }).await?;
    Ok(out(json, &log, log_text))
}

fn log_text(log: &LinkLog) -> String {
    let title = match log.link.note.as_str() {
        "" => format!("link {}", log.link.id),
        note => format!("link {} ({note})", log.link.id),
    };
    let mut s = format!("{title}: {}\n", story::summary(log, span, clock));
    for e in &log.events {
        s.push_str(&format!(
            "{}  {}\n",
            clock(e.at),
            story::event(e, span, clock)
        ));
    }
    s
}

/// `viewers`: who watches now, per link.
pub async fn viewers(client: &LinkApiClient, json: bool) -> Result<String, Failure> {
    let viewers = call(client, |c, ctx| async move { c.viewers(ctx).await }).await?;
    Ok(out(json, &viewers, viewers_text))
}

#[allow(clippy::ptr_arg)] // `out` hands the value as it is
fn viewers_text(viewers: &Vec<Viewer>) -> String {
    if viewers.is_empty() {
        return "nobody is watching\n".into();
    }
    let now = super::now();
    let dash = || "-".to_string();
    let mut rows = vec![[
        "LINK", "NOTE", "DEVICE", "BROWSER", "ADDRESS", "SINCE", "SENT",
    ]
    .map(String::from)];
    for v in viewers {
        rows.push([
            v.link_id.to_string(),
            v.note.clone(),
            v.device.clone().unwrap_or_else(dash),
            v.browser.clone().unwrap_or_else(dash),
            v.client.clone().unwrap_or_else(dash),
            relative(v.since, now),
            story::size(v.bytes),
        ]);
    }
    super::table(&rows)
}
