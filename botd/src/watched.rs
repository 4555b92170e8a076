//! `/log ID` and `/viewers`: a link's story and who is watching now, from linkd's audit
//! trail, as Telegram HTML. Pure functions, like `messages`.

use chrono_tz::Tz;
use proto::{story, LinkLog, Viewer};

use crate::messages::{Reply, TEXT_BUDGET};
use crate::text::{clock, escape, span, visible_len};

/// A time in the chat's zone without the zone's name (the message names it once).
fn short(at: i64, now: i64, tz: Tz) -> String {
    let c = clock(at, now, tz);
    c.trim_end_matches(tz.name()).trim_end().to_string()
}

fn title(id: i64, note: &str) -> String {
    match note {
        "" => format!("<b>Link #{id}</b>"),
        note => format!("<b>Link #{id}</b> · {}", escape(note)),
    }
}

/// `/log ID`: the story in a line, then the latest events, newest first, as many as fit.
pub fn log(l: &LinkLog, tz: Tz) -> Reply {
    let now = l.now;
    let secs = |s: u64| span(s as i64);
    let at = |t: i64| short(t, now, tz);
    let mut text = format!(
        "{}\n{}\n\n<i>Latest events ({}):</i>",
        title(l.link.id, &l.link.note),
        escape(&story::summary(l, secs, at)),
        tz.name()
    );
    if l.events.is_empty() {
        text.push_str("\nnone within the audit trail's retention");
    }
    for e in &l.events {
        let line = format!("\n{} {}", at(e.at), escape(&story::event(e, secs, at)));
        if visible_len(&text) + visible_len(&line) > TEXT_BUDGET {
            break;
        }
        text.push_str(&line);
    }
    Reply::text(text)
}

/// `/viewers`: who is watching now, by link.
pub fn viewers(v: &[Viewer], now: i64, tz: Tz) -> Reply {
    if v.is_empty() {
        return Reply::text("👀 Nobody is watching right now.");
    }
    let mut text = format!(
        "👀 <b>{} watching now</b>",
        match v.len() {
            1 => "1 device".to_string(),
            n => format!("{n} devices"),
        }
    );
    let mut link = None;
    for viewer in v {
        if link != Some(viewer.link_id) {
            link = Some(viewer.link_id);
            text.push_str(&format!("\n\n{}", title(viewer.link_id, &viewer.note)));
        }
        let mut line = format!(
            "\n• {}",
            escape(viewer.browser.as_deref().unwrap_or("browser not known"))
        );
        for part in [&viewer.client, &viewer.device].into_iter().flatten() {
            line.push_str(&format!(" · {}", escape(part)));
        }
        line.push_str(&format!(
            " · since {} ({}), {}",
            clock(viewer.since, now, tz),
            span(now - viewer.since),
            story::size(viewer.bytes)
        ));
        if visible_len(&text) + visible_len(&line) > TEXT_BUDGET {
            text.push_str("\n…");
            break;
        }
        text.push_str(&line);
    }
    Reply::text(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{Europe::Berlin, UTC};
    use proto::{AuditEvent, AuditKind, Link, LinkState};

    // 2024-05-01 16:30:00 UTC = 18:30 in Berlin.
    const T: i64 = 1_714_581_000;

    fn viewer(link_id: i64, note: &str) -> Viewer {
        Viewer {
            link_id,
            note: note.into(),
            device: Some("3fa2c1d0".into()),
            browser: Some("Firefox".into()),
            client: Some("203.0.113.0/24".into()),
            since: T - 1200,
            last_seen: T,
            bytes: 81_200_000,
        }
    }

    #[test]
    fn viewers_by_link() {
        assert!(viewers(&[], T, UTC).text.contains("Nobody"));
        let r = viewers(
            &[viewer(3, "<gran>"), viewer(3, "<gran>"), viewer(4, "")],
            T,
            Berlin,
        );
        assert!(
            r.text.starts_with("👀 <b>3 devices watching now</b>"),
            "{}",
            r.text
        );
        assert_eq!(r.text.matches("Link #3").count(), 1, "{}", r.text);
        assert!(r.text.contains("&lt;gran&gt;"), "{}", r.text);
        assert!(
            r.text.contains("• Firefox · 203.0.113.0/24 · 3fa2c1d0 · since 18:10 Europe/Berlin (20 min), 81.2 MB"),
            "{}",
            r.text
        );
    }

    #[test]
    fn a_long_log_fits_one_message() {
        let event = AuditEvent {
            at: T - 600,
            link_id: 3,
            kind: AuditKind::SessionEnded,
            actor: None,
            expires_at: None,
            client: Some("203.0.113.0/24".into()),
            browser: Some("Chrome".into()),
            device: Some("3fa2c1d0".into()),
            seconds: Some(4320),
            bytes: Some(1_300_000_000),
        };
        let l = LinkLog {
            link: Link {
                id: 3,
                url: String::new(),
                note: "Grandma".into(),
                created_at: T - 7200,
                expires_at: None,
                state: LinkState::Active,
                disabled_at: None,
                viewers: 0,
                limits: Default::default(),
            },
            opened: 3,
            devices: 2,
            watched_s: 4320,
            last_seen: Some(T - 600),
            watching_now: 0,
            events: vec![event; proto::LOG_EVENTS],
            now: T,
        };
        let r = log(&l, Berlin);
        assert!(
            r.text
                .contains("opened 3 times from 2 devices, watched 1 h 12 min, last seen 18:20\n"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("\n18:20 stopped watching · Chrome"),
            "{}",
            r.text
        );
        assert!(visible_len(&r.text) <= TEXT_BUDGET);
    }
}
