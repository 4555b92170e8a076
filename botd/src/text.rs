//! Text helpers for Telegram's HTML parse mode: escaping, the length Telegram counts,
//! plain text for button notices, and times and spans written for people.

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Length of an HTML text as Telegram counts it after parsing: tags removed, entities as one
/// character, in UTF-16 code units (never less than characters, so it errs on the safe side).
pub fn visible_len(html: &str) -> usize {
    let mut n = 0;
    let mut chars = html.chars();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            }
            '&' => {
                for c in chars.by_ref() {
                    if c == ';' {
                        break;
                    }
                }
                n += 1;
            }
            c => n += c.len_utf16(),
        }
    }
    n
}

/// An HTML text as plain text (for button-press notices, which have no formatting).
pub fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with('<') {
            rest = tail.find('>').map_or("", |j| &tail[j + 1..]);
        } else {
            let (entity, after) = tail
                .find(';')
                .map_or((tail, ""), |j| (&tail[..=j], &tail[j + 1..]));
            out.push_str(match entity {
                "&amp;" => "&",
                "&lt;" => "<",
                "&gt;" => ">",
                "&quot;" => "\"",
                other => other,
            });
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

pub(crate) fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A span of time for people: "less than a minute", "59 min", "2 h 5 min", "3 d 4 h".
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => "less than a minute".into(),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// A length given in seconds, in round words: "1 second", "30 days".
pub(crate) fn round_span(secs: u64) -> String {
    let secs = secs as i64;
    if secs >= 86_400 && secs % 86_400 == 0 {
        plural(secs / 86_400, "day", "days")
    } else if secs >= 3600 && secs % 3600 == 0 {
        plural(secs / 3600, "hour", "hours")
    } else if secs >= 60 && secs % 60 == 0 {
        plural(secs / 60, "minute", "minutes")
    } else {
        plural(secs, "second", "seconds")
    }
}

/// A point in time in the configured zone: "18:30 Europe/Berlin", with the date when it is
/// not today ("3 Mar 18:30 Europe/Berlin"), and the year when it is not this year.
pub fn clock(at: i64, now: i64, tz: Tz) -> String {
    let (Some(t), Some(n)) = (
        DateTime::from_timestamp(at, 0),
        DateTime::from_timestamp(now, 0),
    ) else {
        return format!("@{at}");
    };
    let (t, n) = (t.with_timezone(&tz), n.with_timezone(&tz));
    let fmt = if t.date_naive() == n.date_naive() {
        "%H:%M"
    } else if t.year() == n.year() {
        "%-d %b %H:%M"
    } else {
        "%-d %b %Y %H:%M"
    };
    format!("{} {}", t.format(fmt), tz.name())
}

/// "expires 18:30 Europe/Berlin, in 59 min", "expired 17:00 UTC, 5 min ago", "never expires".
pub fn expiry(expires_at: Option<i64>, now: i64, tz: Tz) -> String {
    match expires_at {
        None => "never expires (permanent)".into(),
        Some(at) if at > now => format!("expires {}, in {}", clock(at, now, tz), span(at - now)),
        Some(at) => format!("expired {}, {} ago", clock(at, now, tz), span(now - at)),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{Europe::Berlin, UTC};

    // 2024-05-01 16:30:00 UTC = 18:30 in Berlin.
    const T: i64 = 1_714_581_000;

    #[test]
    fn escape_and_visible_len() {
        let cases = [
            ("a<b>&c\"", "a&lt;b&gt;&amp;c&quot;", 7),
            ("plain", "plain", 5),
            ("ünï😀", "ünï😀", 5),
        ];
        for (raw, escaped, len) in cases {
            assert_eq!(escape(raw), escaped);
            assert_eq!(visible_len(escaped), len, "{raw}");
        }
        assert_eq!(visible_len("<b>bold</b> <code>x&amp;y</code>"), 8);
        assert_eq!(
            plain("<b>a</b> &lt;b&gt; &amp; <code>c</code>"),
            "a <b> & c"
        );
    }

    #[test]
    fn spans() {
        let cases = [
            (0, "less than a minute"),
            (59, "less than a minute"),
            (60, "1 min"),
            (3599, "59 min"),
            (3600, "1 h"),
            (3600 + 5 * 60, "1 h 5 min"),
            (86_400, "1 d"),
            (3 * 86_400 + 4 * 3600 + 59, "3 d 4 h"),
            (-5, "less than a minute"),
        ];
        for (secs, want) in cases {
            assert_eq!(span(secs), want, "{secs}");
        }
    }

    #[test]
    fn expiries() {
        let cases = [
            (
                Some(T),
                T - 3540,
                Berlin,
                "expires 18:30 Europe/Berlin, in 59 min",
            ),
            (Some(T), T - 3540, UTC, "expires 16:30 UTC, in 59 min"),
            (
                Some(T + 2 * 86_400),
                T,
                Berlin,
                "expires 3 May 18:30 Europe/Berlin, in 2 d",
            ),
            (
                Some(T + 366 * 86_400),
                T,
                UTC,
                "expires 2 May 2025 16:30 UTC, in 366 d",
            ),
            (Some(T - 300), T, UTC, "expired 16:25 UTC, 5 min ago"),
            (None, T, UTC, "never expires (permanent)"),
        ];
        for (at, now, tz, want) in cases {
            assert_eq!(expiry(at, now, tz), want);
        }
    }
}
