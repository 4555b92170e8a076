//! The link token: the secret in a watch URL, which keys the link table and the link's
//! session key. Its `Debug` and `Display` never show it, so no formatting of a token, an entry
//! or a row can put it in a log line, an error or a panic message; [`Token::expose`] is the
//! one way to its text (the watch URL, the database row, the session MAC).

use base64::Engine as _;
use std::fmt;

/// Length of a link token: 24 random bytes, base64url without padding.
pub const TOKEN_LEN: usize = 32;

/// A link token.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// A new random token.
    pub fn generate() -> Token {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Token(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// `text` if it has the shape of a token (so malformed ones cost no lookup).
    pub fn parse(text: &str) -> Option<Token> {
        let shape_ok = text.len() == TOKEN_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shape_ok.then(|| Token(text.to_string()))
    }

    /// A token as the database holds it (the Go service's rows are taken as they are).
    pub fn from_stored(text: String) -> Token {
        Token(text)
    }

    /// The secret itself: only for the watch URL, the database row and the session MAC.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Token {
    fn from(text: String) -> Token {
        Token::from_stored(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_url_safe_characters_and_differ() {
        let a = Token::generate();
        let b = Token::generate();
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert!(Token::parse(a.expose()).is_some() && Token::parse(b.expose()).is_some());
        assert_ne!(a, b);
    }

    #[test]
    fn token_shape_table() {
        let cases = [
            ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true),
            ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false),
            ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false),
            ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/A", false),
            ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=A", false),
            ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_", true),
            ("", false),
        ];
        for (t, ok) in cases {
            assert_eq!(Token::parse(t).is_some(), ok, "{t}");
        }
    }

    /// Formatting a token, or anything holding one, never shows it.
    #[test]
    fn formatting_never_shows_the_token() {
        let t = Token::generate();
        for shown in [format!("{t}"), format!("{t:?}"), format!("{:?}", Some(&t))] {
            assert!(!shown.contains(t.expose()), "{shown}");
        }
    }
}
