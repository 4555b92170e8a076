//! The typed values of botd's settings: the bot token (never shown), a link lifetime as
//! written and the notification kinds.

use std::{fmt, time::Duration};

/// The bot token. Its `Debug` and `Display` never show the secret part.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// Checks the `digits:chars` shape Telegram uses.
    pub fn parse(s: &str) -> Option<BotToken> {
        let (id, secret) = s.split_once(':')?;
        let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        (id_ok && secret_ok).then(|| BotToken(s.to_string()))
    }

    /// The full token, for the Telegram client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.0.split_once(':').map_or("", |(id, _)| id);
        write!(f, "{id}:********")
    }
}

/// A link lifetime as written by the operator (`90m`) and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ttl {
    /// As written, trimmed; this is what is sent to linkd.
    pub text: String,
    /// Its length.
    pub duration: Duration,
}

impl Ttl {
    /// Parses a lifetime as linkd would ([`proto::client::parse_ttl`]), quotes removed; the
    /// error is linkd's wording.
    pub fn parse(s: &str) -> Result<Ttl, String> {
        let text = kit::env::unquote(s);
        let duration = proto::client::parse_ttl(text).map_err(|e| e.to_string())?;
        Ok(Ttl {
            text: text.to_string(),
            duration,
        })
    }
}

/// Which events are announced in the allowed chats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// The stream went live.
    pub live: bool,
    /// The stream went offline.
    pub offline: bool,
    /// A link was opened for the first time.
    pub opened: bool,
}

impl Notify {
    pub(crate) fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.live {
            v.push("live");
        }
        if self.offline {
            v.push("offline");
        }
        if self.opened {
            v.push("opened");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes() {
        for (input, ok) in [
            ("123:abc", true),
            ("123456789:AAH-x_y", true),
            ("abc:def", false),
            (":def", false),
            ("123:", false),
            ("123", false),
            ("123:a b", false),
        ] {
            assert_eq!(BotToken::parse(input).is_some(), ok, "{input}");
        }
    }
}
