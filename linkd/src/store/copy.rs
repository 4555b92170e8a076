//! Moving a SQLite database into PostgreSQL (`linkctl migrate`): every table copied with its
//! ids, the id sequences set past them, then every row read back and compared.
//!
//! The SQLite file is only read: a consistent snapshot of it (`VACUUM INTO`) is brought up
//! to date in a temporary directory, so a database of the Go service or of an earlier linkd
//! moves as well. The PostgreSQL database gets its schema from the migrations and must not
//! hold any of tempstream's rows yet. Everything happens in one transaction.

use super::limits::link_limits;
use super::schema::*;
use super::{postgres, Db, Store, StoreError};
use crate::config::Secret;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use std::path::{Path, PathBuf};

/// Rows per INSERT (PostgreSQL takes at most 65535 parameters in one statement).
const CHUNK: usize = 1000;

/// Why a move did not happen; nothing was written to PostgreSQL then.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The SQLite file could not be read.
    #[error("cannot read {path}: {reason}")]
    Source {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// PostgreSQL could not be reached or migrated.
    #[error(transparent)]
    Target(#[from] StoreError),
    /// The target holds rows already.
    #[error("{url} already holds tempstream's data ({held}): migrate into an empty database (linkd must not have run on it)")]
    NotEmpty {
        /// The URL, password masked.
        url: String,
        /// Which tables, with their row counts.
        held: String,
    },
    /// A copied table reads back differently; the transaction was rolled back.
    #[error(
        "the copy of {table} does not match the original ({why}); nothing was kept in PostgreSQL"
    )]
    Mismatch {
        /// The table.
        table: &'static str,
        /// How it differs (counts or the first differing row's position; never a value).
        why: String,
    },
    /// A query failed during the copy; the transaction was rolled back.
    #[error("copy failed: {0}; nothing was kept in PostgreSQL")]
    Query(String),
}

/// What was copied: each table with its number of rows, all verified.
#[derive(Debug, Default)]
pub struct Summary {
    /// (table, rows), in the order they were copied.
    pub tables: Vec<(&'static str, usize)>,
}

macro_rules! rows {
    ($($name:ident: $table:ident { $($col:ident: $ty:ty),* $(,)? })*) => {$(
        #[derive(Queryable, Insertable, PartialEq)]
        #[diesel(table_name = $table)]
        struct $name { $($col: $ty),* }
    )*};
}

rows! {
    Link: watch_links { id: i64, token: String, enabled: i32, created_at: i64,
        expires_at: Option<i64>, disabled_at: Option<i64>, note: String }
    Key: linkd_keys { name: String, value: Vec<u8>, created_at: i64 }
    SigningKey: linkd_signing_keys { id: i64, value: Vec<u8>, created_at: i64,
        retired_at: Option<i64> }
    Event: link_events { id: i64, at: i64, kind: String, link_id: Option<i64>, note: String,
        devices: i32 }
    Audit: link_audit { id: i64, at: i64, link_id: i64, kind: String, actor: Option<String>,
        expires_at: Option<i64>, client: Option<String>, browser: Option<String>,
        device: Option<String>, seconds: Option<i64>, bytes: Option<i64> }
    Cursor: event_cursors { consumer: String, last_id: i64 }
    Open: link_opens { link_id: i64, first_opened_at: i64 }
    StreamKey: linkd_stream_key { id: i64, value: String, created_at: i64, legacy_ok: i32 }
    Greeting: link_greetings { link_id: i64, greeting: String }
    Limits: link_limits { link_id: i64, max_viewers: Option<i32>, once: i32,
        bound_session: Option<i64>, generation: i32 }
}

/// Copies table `$t` (rows `$row`, ordered by `$key`) from `$src` to `$dst`, reads it back
/// and compares; pushes its row count on `$summary`.
macro_rules! copy_table {
    ($src:expr, $dst:expr, $summary:expr, $t:ident, $row:ty, $key:expr) => {{
        let rows: Vec<$row> = $t::table.select($t::all_columns).order($key).load($src)?;
        for chunk in rows.chunks(CHUNK) {
            diesel::insert_into($t::table).values(chunk).execute($dst)?;
        }
        let back: Vec<$row> = $t::table.select($t::all_columns).order($key).load($dst)?;
        compare(stringify!($t), &rows, &back)?;
        $summary.tables.push((stringify!($t), rows.len()));
    }};
}

/// Why two copies of a table differ, without showing any value.
fn compare<R: PartialEq>(table: &'static str, original: &[R], copy: &[R]) -> Result<(), Failed> {
    if original.len() != copy.len() {
        let why = format!("{} rows, {} in the copy", original.len(), copy.len());
        return Err(Failed::Mismatch(table, why));
    }
    match original.iter().zip(copy).position(|(a, b)| a != b) {
        Some(i) => Err(Failed::Mismatch(table, format!("row {} differs", i + 1))),
        None => Ok(()),
    }
}

/// What stops the copy's transaction.
enum Failed {
    Query(diesel::result::Error),
    Mismatch(&'static str, String),
    Held(String),
}

impl From<diesel::result::Error> for Failed {
    fn from(e: diesel::result::Error) -> Self {
        Failed::Query(e)
    }
}

/// Copies the SQLite database at `from` into the PostgreSQL database at `to`.
pub fn sqlite_to_postgres(from: &Path, to: &Secret) -> Result<Summary, CopyError> {
    let source_err = |reason: String| CopyError::Source {
        path: from.display().to_string(),
        reason,
    };
    let tmp = tempfile::tempdir().map_err(|e| source_err(e.to_string()))?;
    let snapshot = tmp.path().join("snapshot.sqlite");
    snapshot_of(from, &snapshot).map_err(source_err)?;
    let store = Store::open(&Db::Sqlite(snapshot)).map_err(|e| source_err(e.to_string()))?;
    let mut dst = postgres::dial(to)?;
    postgres::migrate(&mut dst, to)?;
    // A large table may take longer to copy than the statement timeout linkd runs with.
    dst.batch_execute("SET statement_timeout = 0")
        .map_err(|e| CopyError::Query(postgres::scrub(&e.to_string(), to)))?;
    let sequences = store
        .call_now(|c| match c {
            super::Conn::Sqlite(c) => autoincrement(c),
            super::Conn::Pg(_) => unreachable!("the snapshot is SQLite"),
        })
        .map_err(|e| source_err(e.to_string()))?;
    let mut outcome = Ok(Summary::default());
    store
        .call_now(|c| {
            let super::Conn::Sqlite(src) = c else {
                unreachable!("the snapshot is SQLite")
            };
            outcome = copy_all(src, &mut dst, to, &sequences);
            Ok(())
        })
        .map_err(|e| source_err(e.to_string()))?;
    outcome
}

/// A consistent copy of the database at `from` in the new file `to`; `from` is opened
/// read-only and never created.
fn snapshot_of(from: &Path, to: &Path) -> Result<(), String> {
    if !from.is_file() {
        return Err("no such file (--from PATH names the SQLite database)".into());
    }
    let path = from.to_str().ok_or("the path is not UTF-8")?;
    let uri = format!(
        "file:{}?mode=ro",
        path.replace('?', "%3f").replace('#', "%23")
    );
    let mut c = SqliteConnection::establish(&uri).map_err(|e| e.to_string())?;
    c.batch_execute("PRAGMA busy_timeout = 5000;")
        .map_err(|e| e.to_string())?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(to.to_str().ok_or("the temp path is not UTF-8")?)
        .execute(&mut c)
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[derive(QueryableByName)]
struct Sequence {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

/// The highest id SQLite ever gave out per table (it never gives one out twice).
fn autoincrement(c: &mut SqliteConnection) -> QueryResult<Vec<(String, i64)>> {
    let rows: Vec<Sequence> =
        diesel::sql_query("SELECT name, CAST(seq AS INTEGER) AS seq FROM sqlite_sequence")
            .load(c)?;
    Ok(rows.into_iter().map(|s| (s.name, s.seq)).collect())
}

/// Tables with a PostgreSQL id sequence.
const SERIAL: [&str; 4] = [
    "watch_links",
    "linkd_signing_keys",
    "link_events",
    "link_audit",
];

/// The whole copy, in one transaction on `dst`.
fn copy_all(
    src: &mut SqliteConnection,
    dst: &mut PgConnection,
    to: &Secret,
    sequences: &[(String, i64)],
) -> Result<Summary, CopyError> {
    let mut summary = Summary::default();
    let done = dst.transaction(|dst| {
        if let Some(held) = held(dst)? {
            return Err(Failed::Held(held));
        }
        copy_table!(src, dst, summary, watch_links, Link, watch_links::id);
        copy_table!(src, dst, summary, linkd_keys, Key, linkd_keys::name);
        copy_table!(
            src,
            dst,
            summary,
            linkd_signing_keys,
            SigningKey,
            linkd_signing_keys::id
        );
        copy_table!(src, dst, summary, link_events, Event, link_events::id);
        copy_table!(src, dst, summary, link_audit, Audit, link_audit::id);
        copy_table!(
            src,
            dst,
            summary,
            event_cursors,
            Cursor,
            event_cursors::consumer
        );
        copy_table!(src, dst, summary, link_opens, Open, link_opens::link_id);
        copy_table!(
            src,
            dst,
            summary,
            linkd_stream_key,
            StreamKey,
            linkd_stream_key::id
        );
        copy_table!(
            src,
            dst,
            summary,
            link_greetings,
            Greeting,
            link_greetings::link_id
        );
        copy_table!(src, dst, summary, link_limits, Limits, link_limits::link_id);
        for table in SERIAL {
            let ever = sequences
                .iter()
                .find(|(n, _)| n == table)
                .map_or(0, |s| s.1);
            dst.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 GREATEST(COALESCE((SELECT MAX(id) FROM {table}), 0), {ever}, 1), \
                 GREATEST(COALESCE((SELECT MAX(id) FROM {table}), 0), {ever}) > 0)"
            ))?;
        }
        Ok(())
    });
    match done {
        Ok(()) => Ok(summary),
        Err(Failed::Held(held)) => Err(CopyError::NotEmpty {
            url: postgres::redact(to.expose()),
            held,
        }),
        Err(Failed::Mismatch(table, why)) => Err(CopyError::Mismatch { table, why }),
        Err(Failed::Query(e)) => Err(CopyError::Query(postgres::scrub(&e.to_string(), to))),
    }
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = diesel::sql_types::Text)]
    held: String,
}

/// The tables of the target that hold rows already ("watch_links: 3 rows, ..."), if any.
/// Takes the link table's lock first, so no linkd writes while the copy runs.
fn held(dst: &mut PgConnection) -> Result<Option<String>, Failed> {
    dst.batch_execute("LOCK TABLE watch_links IN EXCLUSIVE MODE")?;
    let tables = [
        "watch_links",
        "linkd_keys",
        "linkd_signing_keys",
        "link_events",
        "link_audit",
        "event_cursors",
        "link_opens",
        "linkd_stream_key",
        "link_greetings",
        "link_limits",
    ];
    let counts: Vec<String> = tables
        .iter()
        .map(|t| {
            format!("SELECT '{t}: ' || COUNT(*) || ' rows' AS held FROM {t} HAVING COUNT(*) > 0")
        })
        .collect();
    let held: Vec<Held> = diesel::sql_query(counts.join(" UNION ALL ")).load(dst)?;
    Ok((!held.is_empty()).then(|| {
        held.into_iter()
            .map(|h| h.held)
            .collect::<Vec<_>>()
            .join(", ")
    }))
}

/// `DB_PATH` and `DATABASE_URL` as linkd reads them: the TOML file `file` if given, the
/// environment over it.
pub fn configured(file: Option<&Path>) -> kit::config::Load<(PathBuf, Option<Secret>)> {
    use crate::config::vars::{DATABASE_URL, DB_PATH};
    let fig = kit::config::figment(file, &[&DB_PATH, &DATABASE_URL])?;
    let mut l = kit::config::Loader::new(&fig)?;
    let path = l.get(&DB_PATH);
    let url = l.get(&DATABASE_URL);
    l.finish(path.zip(url))
}

/// `url` if it is a PostgreSQL URL (as `DATABASE_URL` takes it), else why not.
pub fn postgres_url(url: &str) -> Result<Secret, String> {
    match (crate::config::vars::DATABASE_URL.parse)(url)? {
        Some(url) => Ok(url),
        None => Err("empty: give --to postgres://... or set DATABASE_URL".into()),
    }
}
