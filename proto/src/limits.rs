//! Sharing limits of a link, as callers set and see them: a cap on the devices watching at
//! once, and one-time links (bound to the first device that plays).

use crate::ApiError;
use serde::{Deserialize, Serialize};

/// The largest viewer cap a link may have.
pub const MAX_VIEWERS: u32 = 100;

/// How a link may be shared. The default is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// At most this many devices (playback sessions) watch at once; `None`: no cap.
    #[serde(default)]
    pub max_viewers: Option<u32>,
    /// One device only: the first session that receives video while the stream is live
    /// keeps the link; other devices are refused.
    #[serde(default)]
    pub once: bool,
}

impl Limits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.max_viewers.is_some() || self.once
    }
}

/// Checks a viewer cap: 1 to [`MAX_VIEWERS`].
pub fn check_max_viewers(cap: Option<u32>) -> Result<(), ApiError> {
    match cap {
        Some(given) if !(1..=MAX_VIEWERS).contains(&given) => Err(ApiError::InvalidMaxViewers {
            given,
            max: MAX_VIEWERS,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_from_one_to_the_maximum() {
        for (cap, ok) in [
            (None, true),
            (Some(0), false),
            (Some(1), true),
            (Some(MAX_VIEWERS), true),
            (Some(MAX_VIEWERS + 1), false),
        ] {
            assert_eq!(check_max_viewers(cap).is_ok(), ok, "{cap:?}");
        }
        let m = check_max_viewers(Some(0)).unwrap_err().to_string();
        assert_eq!(m, "invalid viewer cap 0: use 1 to 100 viewers at once");
    }

    /// A link of an older linkd, without the fields, reads as unlimited; the fields sit
    /// beside the link's others.
    #[test]
    fn links_carry_their_limits_flat() {
        let old = r#"{"id":1,"url":"u","note":"","created_at":1,"expires_at":null,
            "state":"active","disabled_at":null,"viewers":0}"#;
        let link: crate::Link = serde_json::from_str(old).unwrap();
        assert_eq!(link.limits, Limits::default());
        let mut v = serde_json::to_value(&link).unwrap();
        assert_eq!(v["max_viewers"], serde_json::Value::Null);
        assert_eq!(v["once"], false);
        v["max_viewers"] = 2.into();
        let back: crate::Link = serde_json::from_value(v).unwrap();
        assert_eq!(back.limits.max_viewers, Some(2));
    }
}
