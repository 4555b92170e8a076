//! Value syntax of the daemons' settings, shared by linkd and botd.
//!
//! A `.env` written for the Go service stays valid: booleans as Go's `strconv.ParseBool`
//! reads them, durations in Go's `time.ParseDuration` grammar (`1.5h`, `90s`, `1h30m`,
//! `300ms`) as well as the humantime forms (`2d`, `1w`), and values in surrounding quotes.

use std::time::Duration;

/// A value without the surrounding whitespace and one pair of matching quotes around it,
/// as a shell or Docker's `.env` reader would leave it (`"/data/db.sqlite"` -> `/data/db.sqlite`).
pub fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].trim();
        }
    }
    v
}

/// A boolean as Go reads it (`1 t T TRUE true True 0 f F FALSE false False`), and the
/// `yes`/`no`/`on`/`off` spellings, in any case.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match unquote(v).to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "on" => Ok(true),
        "0" | "f" | "false" | "no" | "off" => Ok(false),
        _ => Err("not a boolean: use true or false (1, t, 0, f also work)".into()),
    }
}

/// A duration: Go's grammar (`1.5h`, `1h30m`, `90s`, `300ms`, `0`) or humantime's
/// (`2d`, `1w`, `1h 30m`). Negative durations are refused.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = unquote(v);
    if v == "0" {
        return Ok(Duration::ZERO);
    }
    if let Some(d) = parse_go_duration(v) {
        return Ok(d);
    }
    humantime::parse_duration(v)
        .map_err(|_| "not a duration, e.g. 90s, 30m, 1h30m, 1.5h or 2d".to_string())
}

/// Go's `time.ParseDuration` for non-negative values: one or more `<number><unit>` pairs,
/// the number with an optional fraction, the unit one of ns, us, µs, ms, s, m, h.
fn parse_go_duration(v: &str) -> Option<Duration> {
    let mut rest = v.strip_prefix('+').unwrap_or(v);
    if rest.is_empty() {
        return None;
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, next) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        // Fractions beyond nanoseconds are dropped, as Go does.
        let frac = &frac[..frac.len().min(20)];
        let part: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        let frac_nanos = part.checked_mul(scale)? / 10u128.pow(frac.len() as u32);
        nanos = nanos.checked_add(whole.checked_mul(scale)?.checked_add(frac_nanos)?)?;
        rest = next;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Go's `Duration.String()` of whole seconds: `45s`, `1m30s`, `1h30m0s`.
pub fn go_duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_go_and_humantime_syntax() {
        let ms = Duration::from_millis;
        let cases: &[(&str, Option<Duration>)] = &[
            ("0", Some(Duration::ZERO)),
            ("1.5h", Some(ms(5_400_000))),
            ("90s", Some(ms(90_000))),
            ("1h30m", Some(ms(5_400_000))),
            ("300ms", Some(ms(300))),
            (".5m", Some(ms(30_000))),
            ("1.m", Some(ms(60_000))),
            ("2h45m30.5s", Some(ms(9_930_500))),
            ("1µs", Some(Duration::from_micros(1))),
            ("\"1h\"", Some(ms(3_600_000))),
            (" '30m' ", Some(ms(1_800_000))),
            ("2d", Some(ms(172_800_000))),
            ("1w", Some(ms(604_800_000))),
            ("1h 30m", Some(ms(5_400_000))),
            ("-1h", None),
            ("1", None),
            ("h", None),
            (".h", None),
            ("1x", None),
            ("", None),
            ("soon", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn booleans_as_go_reads_them() {
        for v in [
            "1", "t", "T", "TRUE", "true", "True", "\"true\"", "yes", "on",
        ] {
            assert_eq!(parse_bool(v), Ok(true), "{v}");
        }
        for v in ["0", "f", "F", "FALSE", "false", "False", "'f'", "no", "off"] {
            assert_eq!(parse_bool(v), Ok(false), "{v}");
        }
        for v in ["", "2", "maybe", "tru"] {
            assert!(parse_bool(v).is_err(), "{v}");
        }
    }

    #[test]
    fn quotes_are_removed_once_and_only_in_pairs() {
        let cases = [
            ("\"/data/db.sqlite\"", "/data/db.sqlite"),
            ("'x'", "x"),
            ("\"a'", "\"a'"),
            ("\"", "\""),
            ("plain", "plain"),
            ("\"\"", ""),
        ];
        for (input, want) in cases {
            assert_eq!(unquote(input), want, "{input}");
        }
    }

    #[test]
    fn go_duration_text_matches_go() {
        let cases = [
            (45, "45s"),
            (90, "1m30s"),
            (5400, "1h30m0s"),
            (3600, "1h0m0s"),
        ];
        for (secs, want) in cases {
            assert_eq!(go_duration_text(Duration::from_secs(secs)), want);
        }
    }
}
