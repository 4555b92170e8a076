//! How linkctl reports a failure: a sentence on stderr, or with `--json` a JSON object
//! with a stable code for scripts.

use proto::client::CallError as Failure;
use proto::ApiError;

/// The stable code of a refusal, for scripts (`--json`).
pub fn code_of(e: &ApiError) -> &'static str {
    match e {
        ApiError::NotFound { .. } => "not_found",
        ApiError::AlreadyDisabled { .. } => "already_disabled",
        ApiError::AlreadyExpired { .. } => "expired",
        ApiError::NoActiveLinks => "no_active_links",
        ApiError::InvalidTtl { .. } => "bad_ttl",
        ApiError::InvalidNote { .. } => "bad_note",
        ApiError::InvalidConsumer => "bad_request",
        ApiError::Storage { .. } => "storage",
        ApiError::ShuttingDown => "shutting_down",
        ApiError::InvalidMaxViewers { .. } => "bad_max_viewers",
    }
}

/// Prints a failure on stderr, as a sentence or (with `--json`) as a JSON object.
pub fn report(json: bool, failure: &Failure) {
    let (code, message) = match failure {
        Failure::Api(e) => (code_of(e), e.to_string()),
        Failure::Unreachable(why) => ("unreachable", why.clone()),
    };
    if json {
        let mut error = serde_json::json!({ "code": code, "message": message });
        if let Failure::Api(e) = failure {
            if let Ok(serde_json::Value::Object(details)) = serde_json::to_value(e) {
                for fields in details.values().filter_map(|v| v.as_object()) {
                    for (k, v) in fields {
                        error[k] = v.clone();
                    }
                }
            }
        }
        eprintln!("{}", serde_json::json!({ "error": error }));
    } else {
        eprintln!("linkctl: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_stable_code() {
        let cases = [
            (ApiError::NotFound { id: 1 }, "not_found"),
            (
                ApiError::AlreadyDisabled {
                    id: 1,
                    disabled_at: None,
                },
                "already_disabled",
            ),
            (
                ApiError::AlreadyExpired {
                    id: 1,
                    expires_at: 1,
                },
                "expired",
            ),
            (ApiError::NoActiveLinks, "no_active_links"),
            (
                ApiError::InvalidTtl {
                    given: "x".into(),
                    reason: "r".into(),
                    min_secs: 1,
                    max_secs: 2,
                },
                "bad_ttl",
            ),
            (
                ApiError::InvalidNote {
                    problem: proto::NoteProblem::TooLong,
                    max_chars: 200,
                },
                "bad_note",
            ),
            (
                ApiError::Storage {
                    message: "disk".into(),
                },
                "storage",
            ),
            (ApiError::ShuttingDown, "shutting_down"),
            (
                ApiError::InvalidMaxViewers { given: 0, max: 100 },
                "bad_max_viewers",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(code_of(&e), code, "{e:?}");
        }
    }
}
