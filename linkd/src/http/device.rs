//! The watch page's device cookie: a random value a browser keeps for the watch pages
//! (`Path=/live/stream/`), so a reload or a second opening on the same device counts as the
//! same device, not a new one. It grants nothing and never reaches `/play`; the audit trail
//! keeps only a per-link hash of it (`audit::device_label`).

use super::session::cookie;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;

/// Name of the cookie.
pub const COOKIE: &str = "watch_device";
/// How long a browser keeps it: 30 days.
const MAX_AGE: i64 = 30 * 86400;
/// Length of a value: 16 random bytes in base64url.
const VALUE_LEN: usize = 22;

/// The device cookie of a request, when it has a well-formed one.
pub fn of_request(headers: &http::HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE).filter(|v| {
        v.len() == VALUE_LEN
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A new device value.
pub fn new_value() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    B64.encode(bytes)
}

/// The `Set-Cookie` value that keeps `value` on this device.
pub fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={value}; Path=/live/stream/; Max-Age={MAX_AGE}; HttpOnly; SameSite=Lax{secure}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_values_are_read() {
        let v = new_value();
        assert_eq!(v.len(), VALUE_LEN);
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            format!("a=b; {COOKIE}={v}").parse().unwrap(),
        );
        assert_eq!(of_request(&h), Some(v.as_str()));
        for bad in ["short", "AAAAAAAAAAAAAAAAAAAA!!", "AAAAAAAAAAAAAAAAAAAAAAA"] {
            h.insert(
                http::header::COOKIE,
                format!("{COOKIE}={bad}").parse().unwrap(),
            );
            assert_eq!(of_request(&h), None, "{bad}");
        }
        assert!(set_cookie(&v, true).ends_with("HttpOnly; SameSite=Lax; Secure"));
    }
}
