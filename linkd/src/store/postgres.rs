//! PostgreSQL, the state several gates share: dialling with short timeouts, the schema
//! brought up to date under an advisory lock (gates may start together), and the URL shown
//! only with its password masked.

use super::StoreError;
use crate::config::Secret;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::Text;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// The advisory lock the gates take while migrating ("tempstre" in ASCII).
const MIGRATION_LOCK: i64 = 0x7465_6d70_7374_7265;

/// How long a connection attempt (s) and a statement (ms) may take at most, so no call
/// hangs on a database that is gone.
const CONNECT_TIMEOUT_SECS: &str = "5";
const STATEMENT_TIMEOUT_MS: u32 = 5000;

/// Connection parameters added unless the URL sets them: give up dialling after a few
/// seconds, and notice a peer that vanished.
const DEFAULT_PARAMS: &[(&str, &str)] = &[
    ("connect_timeout", CONNECT_TIMEOUT_SECS),
    ("keepalives_idle", "10"),
    ("keepalives_interval", "5"),
    ("keepalives_count", "3"),
];

/// `url` with the password (in the user info or a `password=` parameter) replaced by `***`.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    // The user info ends at the last '@' before the query (a password may hold a '/').
    let before_query = rest.find('?').unwrap_or(rest.len());
    let host_at = rest[..before_query].rfind('@').map_or(0, |i| i + 1);
    let (authority, tail) = rest.split_at(host_at + find_end(&rest[host_at..]));
    let authority = match authority.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    match scheme {
        "" => format!("{authority}{tail}"),
        s => format!("{s}://{authority}{tail}"),
    }
}

fn find_end(s: &str) -> usize {
    s.find(['/', '?']).unwrap_or(s.len())
}

/// The password of `url`, if it has one, as written in the URL.
fn password(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let mut found = Vec::new();
    let before_query = rest.find('?').unwrap_or(rest.len());
    if let Some((info, _)) = rest[..before_query].rsplit_once('@') {
        if let Some((_, p)) = info.split_once(':') {
            found.push(p.to_string());
        }
    }
    if let Some((_, query)) = rest.split_once('?') {
        for p in query.split('&') {
            if let Some((k, v)) = p.split_once('=') {
                if k.eq_ignore_ascii_case("password") {
                    found.push(v.to_string());
                }
            }
        }
    }
    found.retain(|p| !p.is_empty());
    found
}

/// `message` on one line (libpq writes several), with every appearance of `url` and its
/// password masked.
pub fn scrub(message: &str, url: &Secret) -> String {
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = one_line.replace(url.expose(), &redact(url.expose()));
    for p in password(url.expose()) {
        out = out.replace(&p, "***");
    }
    out
}

/// `url` with [`DEFAULT_PARAMS`] that it does not set itself.
fn with_defaults(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let set: Vec<&str> = query
        .split('&')
        .filter_map(|p| p.split_once('=').map(|(k, _)| k))
        .collect();
    let mut out = url.to_string();
    for (k, v) in DEFAULT_PARAMS {
        if !set.contains(k) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{k}={v}"));
        }
    }
    out
}

fn unreachable(url: &Secret, reason: &str) -> StoreError {
    StoreError::Unreachable {
        url: redact(url.expose()),
        reason: scrub(reason.trim(), url),
    }
}

/// A new connection to `url`, with the statement timeout set.
pub fn dial(url: &Secret) -> Result<PgConnection, StoreError> {
    let mut c = PgConnection::establish(&with_defaults(url.expose()))
        .map_err(|e| unreachable(url, &e.to_string()))?;
    c.batch_execute(&format!(
        "SET statement_timeout = {STATEMENT_TIMEOUT_MS}; SET lock_timeout = {STATEMENT_TIMEOUT_MS};"
    ))
    .map_err(|e| unreachable(url, &e.to_string()))?;
    Ok(c)
}

/// Whether the connection is unusable after `e`: closed, or not answering `SELECT 1`.
pub(super) fn is_broken(c: &mut PgConnection, e: &Error) -> bool {
    match e {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | Error::BrokenTransactionManager => true,
        _ => c.batch_execute("SELECT 1").is_err(),
    }
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    table_name: String,
}

/// Dials `url`, refuses a database of another program and runs the pending migrations.
pub(super) fn open(url: &Secret) -> Result<PgConnection, StoreError> {
    let mut c = dial(url)?;
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.tables \
         WHERE table_schema = current_schema()",
    )
    .load(&mut c)
    .map_err(|e| unreachable(url, &e.to_string()))?;
    let known = tables
        .iter()
        .any(|t| t.table_name == "watch_links" || t.table_name == "__diesel_schema_migrations");
    if !tables.is_empty() && !known {
        return Err(StoreError::ForeignPostgres {
            url: redact(url.expose()),
        });
    }
    migrate(&mut c, url)?;
    Ok(c)
}

/// Runs the pending migrations while holding the migration lock.
pub fn migrate(c: &mut PgConnection, url: &Secret) -> Result<(), StoreError> {
    let failed = |reason: String| StoreError::Migration {
        path: redact(url.expose()).into(),
        reason: scrub(&reason, url),
    };
    c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .map_err(|e| failed(e.to_string()))?;
    let ran = c.run_pending_migrations(MIGRATIONS).map(|_| ());
    let unlocked = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    ran.map_err(|e| failed(e.to_string()))?;
    unlocked.map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked_wherever_it_is() {
        for (url, shown) in [
            (
                "postgres://ts:s3cret@127.0.0.1:5432/ts",
                "postgres://ts:***@127.0.0.1:5432/ts",
            ),
            ("postgresql://ts@db/ts", "postgresql://ts@db/ts"),
            (
                "postgres://db/ts?user=ts&password=s3cret&sslmode=disable",
                "postgres://db/ts?user=ts&password=***&sslmode=disable",
            ),
            ("postgres://ts:p/a:ss@db:1/ts", "postgres://ts:***@db:1/ts"),
        ] {
            assert_eq!(redact(url), shown);
        }
        let url = Secret::new("postgres://ts:s3cret@127.0.0.1/ts");
        let said = scrub(
            "password s3cret rejected for postgres://ts:s3cret@127.0.0.1/ts",
            &url,
        );
        assert!(!said.contains("s3cret"), "{said}");
    }

    #[test]
    fn timeouts_are_added_unless_set() {
        let u = with_defaults("postgres://a@b/c?connect_timeout=2");
        assert_eq!(u.matches("connect_timeout").count(), 1);
        assert!(u.contains("keepalives_idle=10"));
        assert!(
            with_defaults("postgres://a@b/c").starts_with("postgres://a@b/c?connect_timeout=5&")
        );
    }
}
