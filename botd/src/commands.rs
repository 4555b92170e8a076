//! What the operator typed or pressed, parsed into [`Command`] and [`Callback`] values.
//!
//! Pure functions only: no I/O, no Telegram types, so every input shape has a table test.

mod sharing;

use proto::Limits;

/// A command from a chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start` without a payload (or with one that means nothing to botd).
    Start,
    /// `/help`.
    Help,
    /// `/new [TTL] [max=N] [once] [note...]`: with a TTL or a limit, create at once;
    /// without, offer the choices.
    New {
        /// The lifetime as typed, when the first word looks like one.
        ttl: Option<String>,
        /// The rest of the text.
        note: Option<String>,
        /// `max=N` (a viewer cap) and `once` (one device only).
        limits: Limits,
    },
    /// `/newperm [note...]`.
    NewPerm {
        /// The text after the command.
        note: Option<String>,
    },
    /// `/active`.
    Active,
    /// `/status`.
    Status,
    /// `/off ID`, or the deep links `/start off_ID` and (from the Go service's messages)
    /// `/start disable_ID`.
    Off {
        /// The link's id.
        id: i64,
    },
    /// `/offlast`.
    OffLast,
    /// `/extend ID TTL`.
    Extend {
        /// The link's id.
        id: i64,
        /// The new lifetime, from now, as typed.
        ttl: String,
    },
    /// `/whoami`.
    WhoAmI,
    /// `/greet ID [text]`: what the link's viewers see (no text removes it).
    Greet {
        /// The link's id.
        id: i64,
        /// The greeting.
        text: Option<String>,
    },
    /// `/notify on|off` (`None`: just say which it is).
    Notify {
        /// Notifications in this chat wanted or not.
        on: Option<bool>,
    },
    /// `/kick ID`: end the link's current sessions; the link stays.
    Kick {
        /// The link's id.
        id: i64,
    },
    /// `/rotate ID`: a new URL for the link; the old one stops.
    Rotate {
        /// The link's id.
        id: i64,
    },
    /// `/offall`: asks to confirm switching off every active link.
    OffAll,
    /// `/log ID`: the link's story from linkd's audit trail.
    Log {
        /// The link's id.
        id: i64,
    },
    /// `/viewers`: who is watching now.
    Viewers,
    /// `/key`: the RTMP URL with the stream key, in a message that deletes itself.
    Key,
    /// `/rotatekey`: asks to confirm a new stream key.
    RotateKey,
}

/// Why a message is not a command botd can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Plain text, not starting with `/`.
    NotACommand,
    /// A `/word` botd does not know.
    Unknown(String),
    /// A known command with missing or malformed arguments; holds the command's usage line.
    Usage(&'static str),
}

/// The commands shown in Telegram's menu (`setMyCommands`) and in `/help`.
pub const MENU: &[(&str, &str)] = &[
    (
        "new",
        "new temporary link: /new [TTL] [max=N] [once] [note]",
    ),
    ("newperm", "new permanent link: /newperm [note]"),
    ("active", "list active links"),
    ("status", "stream status"),
    ("off", "disable a link: /off ID"),
    ("offlast", "disable the newest active link"),
    ("extend", "new expiry for a link: /extend ID TTL"),
    ("kick", "cut off a link's viewers now: /kick ID"),
    (
        "rotate",
        "new URL for a link, the old one stops: /rotate ID",
    ),
    ("offall", "switch off every active link"),
    ("greet", "what a link's viewers see: /greet ID text"),
    ("notify", "notifications in this chat: /notify on|off"),
    ("log", "who opened a link, for how long: /log ID"),
    ("viewers", "who is watching now"),
    ("key", "the RTMP URL and stream key for OBS"),
    ("rotatekey", "make a new stream key (the old one stops)"),
    ("whoami", "show this chat's id"),
    ("help", "what this bot does"),
];

const USAGE_OFF: &str = "/off ID, e.g. /off 7";
const USAGE_EXTEND: &str = "/extend ID TTL, e.g. /extend 7 2h";
const USAGE_LOG: &str = "/log ID, e.g. /log 7";
const USAGE_NOTIFY: &str = "/notify on or /notify off";
const USAGE_GREET: &str = "/greet ID text, e.g. /greet 7 Hello Grandma! (/greet 7 removes it)";

/// Whether a word is meant as a lifetime (`90m`, `1h30m`, `2d`, or a bare number that linkd
/// will explain): it starts with a digit.
fn looks_like_ttl(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
}

fn note_of(rest: &str) -> Option<String> {
    let rest = rest.trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// Splits off the first whitespace-separated word.
fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn parse_id(s: &str) -> Option<i64> {
    let s = s.strip_prefix('#').unwrap_or(s);
    s.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The id when `rest` is exactly one link id.
fn only_id(rest: &str) -> Option<i64> {
    let (word, after) = first_word(rest);
    parse_id(word).filter(|_| after.trim().is_empty())
}

/// Parses a message text. Commands may carry the bot's name (`/new@tempstream_bot 1h`).
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let text = text.trim();
    let Some(body) = text.strip_prefix('/') else {
        return legacy_button(text).ok_or(ParseError::NotACommand);
    };
    let (head, rest) = first_word(body);
    let name = head.split('@').next().unwrap_or("").to_ascii_lowercase();
    match name.as_str() {
        "start" => {
            let (payload, _) = first_word(rest);
            let id = payload
                .strip_prefix("off_")
                .or(payload.strip_prefix("disable_"));
            match id.and_then(parse_id) {
                Some(id) => Ok(Command::Off { id }),
                None => Ok(Command::Start),
            }
        }
        "help" => Ok(Command::Help),
        "new" => sharing::parse_new(rest),
        "newperm" => Ok(Command::NewPerm {
            note: note_of(rest),
        }),
        "active" => Ok(Command::Active),
        "status" => Ok(Command::Status),
        "offlast" => Ok(Command::OffLast),
        "whoami" => Ok(Command::WhoAmI),
        "viewers" => Ok(Command::Viewers),
        "log" => only_id(rest)
            .map(|id| Command::Log { id })
            .ok_or(ParseError::Usage(USAGE_LOG)),
        "key" => Ok(Command::Key),
        "rotatekey" => Ok(Command::RotateKey),
        "greet" => {
            let (word, after) = first_word(rest);
            match parse_id(word) {
                Some(id) => Ok(Command::Greet {
                    id,
                    text: note_of(after),
                }),
                None => Err(ParseError::Usage(USAGE_GREET)),
            }
        }
        "notify" => match rest.trim().to_ascii_lowercase().as_str() {
            "" => Ok(Command::Notify { on: None }),
            "on" => Ok(Command::Notify { on: Some(true) }),
            "off" => Ok(Command::Notify { on: Some(false) }),
            _ => Err(ParseError::Usage(USAGE_NOTIFY)),
        },
        "off" => only_id(rest)
            .map(|id| Command::Off { id })
            .ok_or(ParseError::Usage(USAGE_OFF)),
        "extend" => {
            let (id, after) = first_word(rest);
            let (ttl, extra) = first_word(after);
            match parse_id(id) {
                Some(id) if !ttl.is_empty() && extra.trim().is_empty() => Ok(Command::Extend {
                    id,
                    ttl: ttl.to_string(),
                }),
                _ => Err(ParseError::Usage(USAGE_EXTEND)),
            }
        }
        "kick" => sharing::parse_one_id(rest, sharing::USAGE_KICK, |id| Command::Kick { id }),
        "rotate" => sharing::parse_one_id(rest, sharing::USAGE_ROTATE, |id| Command::Rotate { id }),
        "offall" => Ok(Command::OffAll),
        _ => Err(ParseError::Unknown(format!("/{name}"))),
    }
}

/// A press on the reply keyboard of the Go service, which phones keep showing until a new
/// keyboard replaces it: `🟢 1 hour`, `♾ Permanent`, `📋 Active`, `📡 Status`,
/// `⛔ Disable last`, `Menu`. They do what they did there.
pub fn legacy_button(text: &str) -> Option<Command> {
    // Phones may add or drop the emoji variation selector.
    let text: String = text.chars().filter(|c| *c != '\u{fe0f}').collect();
    let text = text.trim();
    match text {
        "Menu" => return Some(Command::Start),
        "📋 Active" => return Some(Command::Active),
        "📡 Status" => return Some(Command::Status),
        "⛔ Disable last" => return Some(Command::OffLast),
        "♾ Permanent" => return Some(Command::NewPerm { note: None }),
        _ => {}
    }
    let label = text.strip_prefix("🟢")?.trim();
    // `N hour(s)` and `N minute(s)`, else Go's duration text (`1h30m0s`).
    let ttl = match label.split_once(' ') {
        Some((n, "hour" | "hours")) => format!("{}h", n.parse::<u32>().ok()?),
        Some((n, "minute" | "minutes")) => format!("{}m", n.parse::<u32>().ok()?),
        Some(_) => return None,
        None if looks_like_ttl(label) => label.to_string(),
        None => return None,
    };
    Some(Command::New {
        ttl: Some(ttl),
        note: None,
        limits: Limits::default(),
    })
}

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
    /// `rotatekey:yes` or `rotatekey:no`: the answer to `/rotatekey`'s question.
    RotateKey(bool),
    /// `offall:yes` / `offall:no`: the answer to `/offall`'s question.
    OffAll(bool),
}

impl Callback {
    /// The callback data of the button.
    pub fn data(&self) -> String {
        match self {
            Callback::Off(id) => format!("off:{id}"),
            Callback::RotateKey(yes) => format!("rotatekey:{}", if *yes { "yes" } else { "no" }),
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
            ("rotatekey", Some("yes"), None, None) => Some(Callback::RotateKey(true)),
            ("rotatekey", Some("no"), None, None) => Some(Callback::RotateKey(false)),
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
mod tests;
