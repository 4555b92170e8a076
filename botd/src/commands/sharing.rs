//! Parsing of the sharing-limit commands: the options of `/new` (`max=N`, `once`), `/kick`,
//! `/rotate` and `/offall`, and the `/offall` confirmation buttons.

use super::{first_word, looks_like_ttl, note_of, parse_id, Command, ParseError};
use proto::Limits;

pub(super) const USAGE_NEW: &str =
    "/new [TTL] [max=N] [once] [note], e.g. /new 2h max=2 Grandma or /new 1h once";
pub(super) const USAGE_KICK: &str = "/kick ID, e.g. /kick 7";
pub(super) const USAGE_ROTATE: &str = "/rotate ID, e.g. /rotate 7";

/// `/new [TTL] [max=N] [once] [note...]`: the options may come in any order before the note.
pub(super) fn parse_new(rest: &str) -> Result<Command, ParseError> {
    let (word, after) = first_word(rest);
    let (ttl, mut rest) = match looks_like_ttl(word) {
        true => (Some(word.to_string()), after),
        false => (None, rest),
    };
    let mut limits = Limits::default();
    loop {
        let (word, after) = first_word(rest);
        let lower = word.to_ascii_lowercase();
        if lower == "once" {
            limits.once = true;
        } else if let Some(n) = lower.strip_prefix("max=") {
            let n = n.parse().map_err(|_| ParseError::Usage(USAGE_NEW))?;
            limits.max_viewers = Some(n);
        } else {
            break;
        }
        rest = after;
    }
    Ok(Command::New {
        ttl,
        note: note_of(rest),
        limits,
    })
}

/// `/kick ID` and `/rotate ID`: one link id and nothing else.
pub(super) fn parse_one_id(
    rest: &str,
    usage: &'static str,
    make: fn(i64) -> Command,
) -> Result<Command, ParseError> {
    let (word, after) = first_word(rest);
    match parse_id(word) {
        Some(id) if after.trim().is_empty() => Ok(make(id)),
        _ => Err(ParseError::Usage(usage)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn new(ttl: Option<&str>, max: Option<u32>, once: bool, note: Option<&str>) -> Command {
        Command::New {
            ttl: ttl.map(Into::into),
            note: note.map(Into::into),
            limits: Limits {
                max_viewers: max,
                once,
            },
        }
    }

    #[test]
    fn sharing_commands_table() {
        use Command::*;
        let cases: Vec<(&str, Result<Command, ParseError>)> = vec![
            (
                "/new 2h max=2 Grandma",
                Ok(new(Some("2h"), Some(2), false, Some("Grandma"))),
            ),
            ("/new 1h once", Ok(new(Some("1h"), None, true, None))),
            (
                "/new 1h ONCE max=3 the kids",
                Ok(new(Some("1h"), Some(3), true, Some("the kids"))),
            ),
            (
                "/new once Grandma",
                Ok(new(None, None, true, Some("Grandma"))),
            ),
            (
                "/new 1h Grandma once",
                Ok(new(Some("1h"), None, false, Some("Grandma once"))),
            ),
            // linkd explains a cap out of range; a cap that is no number is a usage error.
            ("/new 1h max=0", Ok(new(Some("1h"), Some(0), false, None))),
            ("/new 1h max=two", Err(ParseError::Usage(USAGE_NEW))),
            ("/new 1h max=", Err(ParseError::Usage(USAGE_NEW))),
            ("/kick 7", Ok(Kick { id: 7 })),
            ("/kick #7", Ok(Kick { id: 7 })),
            ("/kick", Err(ParseError::Usage(USAGE_KICK))),
            ("/kick 7 8", Err(ParseError::Usage(USAGE_KICK))),
            ("/rotate 3", Ok(Rotate { id: 3 })),
            ("/rotate x", Err(ParseError::Usage(USAGE_ROTATE))),
            ("/offall", Ok(OffAll)),
            ("/OFFALL@tempstream_bot", Ok(OffAll)),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), want, "{input:?}");
        }
    }
}
