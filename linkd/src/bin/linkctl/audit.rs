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

/// `viewers`: who watches now through this gate, per link, and (in words) how many watch
/// through the other gates that share its state; `--json`: this gate's list.
pub async fn viewers(client: &LinkApiClient, json: bool) -> Result<String, Failure> {
    let viewers = call(client, |c, ctx| async move { c.viewers(ctx).await }).await?;
    if json {
        return Ok(out(json, &viewers, viewers_text));
    }
    let status = call(client, |c, ctx| async move { c.status(ctx).await }).await?;
    let elsewhere = (status.viewers as usize).saturating_sub(viewers.len());
    Ok(with_elsewhere(
        viewers_text(&viewers),
        viewers.is_empty(),
        elsewhere,
    ))
}

/// `text` and, when other gates serve viewers too, how many (their details are there).
fn with_elsewhere(text: String, none_here: bool, elsewhere: usize) -> String {
    match (elsewhere, none_here) {
        (0, _) => text,
        (n, true) => format!("nobody is watching through this gate; {n} through other gates\n"),
        (n, false) => format!("{text}and {n} through other gates (`linkctl viewers` there)\n"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// (this gate's text, none here, viewers on other gates, what is printed)
    #[test]
    fn viewers_elsewhere_table() {
        let cases = [
            ("nobody is watching\n", true, 0, "nobody is watching\n"),
            (
                "nobody is watching\n",
                true,
                2,
                "nobody is watching through this gate; 2 through other gates\n",
            ),
            ("TABLE\n", false, 0, "TABLE\n"),
            (
                "TABLE\n",
                false,
                3,
                "TABLE\nand 3 through other gates (`linkctl viewers` there)\n",
            ),
        ];
        for (text, none_here, elsewhere, want) in cases {
            assert_eq!(with_elsewhere(text.into(), none_here, elsewhere), want);
        }
    }
}
