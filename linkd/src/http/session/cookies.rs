//! The session's cookies as text: the `watch_session` and `watch_state` values found in a
//! request's `Cookie` headers, and the `Set-Cookie` values linkd sends.

/// Name of the cookie.
pub const COOKIE: &str = "watch_session";
/// Path the cookie is limited to.
pub const COOKIE_PATH: &str = "/play/";

/// The value of cookie `name` in the `Cookie` headers, if present (the first one).
pub(in crate::http) fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .find_map(|v| cookie_in(v.as_bytes(), name.as_bytes()))
}

/// The value of cookie `name` in one `Cookie` header value: `name=value` pairs split by `;`,
/// blanks around each trimmed.
fn cookie_in<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a str> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let rest = pair.strip_prefix(name)?;
        let value = rest.strip_prefix(b"=")?;
        std::str::from_utf8(value.trim_ascii()).ok()
    })
}

/// The value of the `watch_session` cookie, if present.
pub fn from_cookie_header(headers: &http::HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// A `Set-Cookie` value for a cookie under `/play/` with linkd's attributes.
fn cookie_header(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    )
}

/// `Set-Cookie` value that stores `value` for `max_age` seconds.
pub fn set_cookie(value: &str, max_age: i64, secure: bool) -> String {
    cookie_header(COOKIE, value, max_age, secure)
}

/// `Set-Cookie` value that deletes the cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

/// Name of the cookie that remembers, after the session cookie is cleared, why the link
/// stopped (`expired` or `disabled`), so the page can say so. It grants nothing.
pub const STATE_COOKIE: &str = "watch_state";

/// `Set-Cookie` value of [`STATE_COOKIE`].
pub fn state_cookie(state: &str, secure: bool) -> String {
    cookie_header(STATE_COOKIE, state, 600, secure)
}

/// `Set-Cookie` value that forgets [`STATE_COOKIE`] (a newly opened link starts afresh).
pub fn clear_state_cookie(secure: bool) -> String {
    cookie_header(STATE_COOKIE, "", 0, secure)
}

/// The ended state remembered in [`STATE_COOKIE`], if any.
pub fn ended_state(headers: &http::HeaderMap) -> Option<&'static str> {
    match cookie(headers, STATE_COOKIE)? {
        "expired" => Some("expired"),
        "disabled" => Some("disabled"),
        "kicked" => Some("kicked"),
        "rotated" => Some("rotated"),
        "taken" => Some("taken"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_pairs_table() {
        let cases: [(&str, Option<&str>); 9] = [
            ("watch_session=abc", Some("abc")),
            ("a=1; watch_session=abc; b=2", Some("abc")),
            ("a=1;watch_session= abc ;b=2", Some("abc")),
            ("  watch_session=abc  ", Some("abc")),
            ("watch_session=", Some("")),
            ("watch_sessionx=abc", None),
            ("xwatch_session=abc", None),
            ("watch_session =abc", None),
            ("a=1; b=2", None),
        ];
        for (header, want) in cases {
            assert_eq!(
                cookie_in(header.as_bytes(), COOKIE.as_bytes()),
                want,
                "{header}"
            );
        }
        let mut h = http::HeaderMap::new();
        h.append(http::header::COOKIE, "a=1".parse().unwrap());
        h.append(
            http::header::COOKIE,
            "watch_session=second".parse().unwrap(),
        );
        assert_eq!(from_cookie_header(&h), Some("second"));
    }

    #[test]
    fn cookie_header_parsing() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=b; watch_session=xyz ; c=d".parse().unwrap(),
        );
        assert_eq!(from_cookie_header(&h), Some("xyz"));
        h.insert(http::header::COOKIE, "watch_sessionx=1".parse().unwrap());
        assert_eq!(from_cookie_header(&h), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("v", 60, true);
        assert_eq!(
            c,
            "watch_session=v; Path=/play/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie("v", 60, false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
