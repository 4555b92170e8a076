//! The inline buttons' callback data: what a press asks for, in at most 64 bytes.

use super::{looks_like_ttl, parse_id};

/// The lifetime picked on the `/new` keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// A temporary link with this lifetime (one of `LINK_TTL_OPTIONS`).
    Ttl(String),
    /// A permanent link.
    Permanent,
}

/// What an inline button press asks for. The wire form fits the 64-byte callback data limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// `off:ID`: disable this link.
    Off(i64),
    /// `new:TTL[:NOTE_ID]` or `new:perm[:NOTE_ID]`: create a link; the note, if any, was kept
    /// by botd under `NOTE_ID` when the keyboard was sent.
    New {
        /// Lifetime.
        choice: Choice,
        /// Key of the remembered note.
        note_id: Option<u64>,
    },
    /// `offall:yes` / `offall:no`: the answer to `/offall`'s question.
    OffAll(bool),
}

impl Callback {
    /// The callback data of the button.
    pub fn data(&self) -> String {
        match self {
            Callback::Off(id) => format!("off:{id}"),
            Callback::OffAll(yes) => format!("offall:{}", if *yes { "yes" } else { "no" }),
            Callback::New { choice, note_id } => {
                let what = match choice {
                    Choice::Ttl(t) => t.as_str(),
                    Choice::Permanent => "perm",
                };
                match note_id {
                    Some(n) => format!("new:{what}:{n}"),
                    None => format!("new:{what}"),
                }
            }
        }
    }

    /// Parses callback data; `None` for anything botd did not send.
    pub fn parse(data: &str) -> Option<Callback> {
        let mut parts = data.split(':');
        match (parts.next()?, parts.next(), parts.next(), parts.next()) {
            ("off", Some(id), None, None) => parse_id(id).map(Callback::Off),
            ("offall", Some("yes"), None, None) => Some(Callback::OffAll(true)),
            ("offall", Some("no"), None, None) => Some(Callback::OffAll(false)),
            ("new", Some(what), note, None) if !what.is_empty() => {
                let note_id = match note {
                    Some(n) => Some(n.parse().ok()?),
                    None => None,
                };
                let choice = match what {
                    "perm" => Choice::Permanent,
                    t if looks_like_ttl(t) => Choice::Ttl(t.to_string()),
                    _ => return None,
                };
                Some(Callback::New { choice, note_id })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_round_trip() {
        let cases = [
            (Callback::Off(42), "off:42"),
            (Callback::OffAll(true), "offall:yes"),
            (Callback::OffAll(false), "offall:no"),
            (
                Callback::New {
                    choice: Choice::Ttl("30m".into()),
                    note_id: None,
                },
                "new:30m",
            ),
            (
                Callback::New {
                    choice: Choice::Permanent,
                    note_id: Some(3),
                },
                "new:perm:3",
            ),
        ];
        for (cb, data) in cases {
            assert_eq!(cb.data(), data);
            assert_eq!(Callback::parse(data), Some(cb));
        }
    }

    #[test]
    fn foreign_callback_data_is_refused() {
        for data in [
            "",
            "off",
            "off:",
            "off:x",
            "off:-1",
            "off:1:2",
            "new",
            "new:",
            "new:soon",
            "new:1h:x",
            "x:1",
            "offall",
            "offall:",
            "offall:maybe",
            "offall:yes:1",
        ] {
            assert_eq!(Callback::parse(data), None, "{data:?}");
        }
    }
}
