//! The client half of the contract (feature `client`), shared by linkctl and botd: how a
//! TTL is read and what is said when it is wrong, where linkd's socket is looked for, and
//! one call with a deadline and the error a caller can act on.

use crate::{ApiError, LinkApiClient, MAX_TTL_SECS, MIN_TTL_SECS};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tarpc::client::RpcError;
use tarpc::context;

/// The socket's default (`RPC_SOCKET`): beside the working directory.
pub const DEFAULT_SOCKET: &str = "./linkd.sock";

/// The socket of the systemd units (`RuntimeDirectory=tempstream`).
pub const UNIT_SOCKET: &str = "/run/tempstream/linkd.sock";

/// Parses and checks a TTL the way every client gets it checked: a duration in Go's or
/// humantime's syntax, from [`MIN_TTL_SECS`] to [`MAX_TTL_SECS`], whole seconds.
pub fn parse_ttl(given: &str) -> Result<Duration, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidTtl {
        given: given.to_string(),
        reason: reason.to_string(),
        min_secs: MIN_TTL_SECS,
        max_secs: MAX_TTL_SECS,
    };
    if given.len() > 64 {
        return Err(invalid("too long"));
    }
    let d = kit::env::parse_duration(given).map_err(|_| invalid("not a duration"))?;
    if d.as_secs() < MIN_TTL_SECS {
        return Err(invalid("too short"));
    }
    if d > Duration::from_secs(MAX_TTL_SECS) {
        return Err(invalid("too long"));
    }
    Ok(Duration::from_secs(d.as_secs()))
}

/// The sockets to try, in order: `flag` alone when given, else `env` (`$RPC_SOCKET`), the
/// units' socket and [`DEFAULT_SOCKET`].
pub fn socket_candidates(flag: Option<&Path>, env: Option<std::ffi::OsString>) -> Vec<PathBuf> {
    if let Some(path) = flag {
        return vec![path.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = env
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    for p in [UNIT_SOCKET, DEFAULT_SOCKET] {
        if !out.iter().any(|o| o == Path::new(p)) {
            out.push(PathBuf::from(p));
        }
    }
    out
}

/// Why a call did not give an answer from linkd's API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The socket could not be reached or the connection broke; the connection is not to
    /// be used again.
    #[error("linkd is not reachable: {0}")]
    Unreachable(String),
    /// linkd answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Runs one API call on `client` that may take up to `timeout`.
pub async fn call_with_deadline<T, F, Fut>(
    client: LinkApiClient,
    timeout: Duration,
    f: F,
) -> Result<T, CallError>
where
    F: FnOnce(LinkApiClient, context::Context) -> Fut,
    Fut: Future<Output = Result<Result<T, ApiError>, RpcError>>,
{
    let mut ctx = context::current();
    ctx.deadline = Instant::now() + timeout;
    match f(client, ctx).await {
        Ok(answer) => Ok(answer?),
        Err(e) => Err(CallError::Unreachable(format!(
            "linkd stopped answering: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_tried_in_the_documented_order() {
        let flag = socket_candidates(Some(Path::new("/tmp/x.sock")), Some("/env.sock".into()));
        assert_eq!(flag, [PathBuf::from("/tmp/x.sock")]);
        let env = socket_candidates(None, Some("/env.sock".into()));
        assert_eq!(
            env,
            ["/env.sock", UNIT_SOCKET, DEFAULT_SOCKET].map(PathBuf::from)
        );
        let dup = socket_candidates(None, Some(UNIT_SOCKET.into()));
        assert_eq!(dup, [UNIT_SOCKET, DEFAULT_SOCKET].map(PathBuf::from));
        let none = socket_candidates(None, Some("".into()));
        assert_eq!(none, [UNIT_SOCKET, DEFAULT_SOCKET].map(PathBuf::from));
    }

    #[test]
    fn ttl_table() {
        let cases = [
            ("90m", Some(5400)),
            ("1h30m", Some(5400)),
            ("2d", Some(172800)),
            ("1.5h", Some(5400)),
            ("90s", Some(90)),
            ("2s", Some(2)),
            ("30days", Some(2592000)),
            ("31d", None),
            ("0s", None),
            ("100000d", None),
            ("500ms", None),
            ("bogus", None),
            ("", None),
            ("-1h", None),
        ];
        for (given, want) in cases {
            let got = parse_ttl(given).ok().map(|d| d.as_secs());
            assert_eq!(got, want, "{given}");
        }
        match parse_ttl("0s") {
            Err(ApiError::InvalidTtl {
                min_secs, max_secs, ..
            }) => {
                assert_eq!((min_secs, max_secs), (1, 30 * 86400))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_ttl_says_why_and_what_would_do() {
        for (given, reason) in [
            ("0s", "too short"),
            ("31d", "too long"),
            ("soon", "not a duration"),
        ] {
            match parse_ttl(given) {
                Err(ApiError::InvalidTtl { reason: r, .. }) => assert_eq!(r, reason, "{given}"),
                other => panic!("{given}: {other:?}"),
            }
        }
        let text = parse_ttl("soon").unwrap_err().to_string();
        assert!(
            text.contains("\"soon\": not a duration; use a duration from 1s"),
            "{text}"
        );
    }
}
