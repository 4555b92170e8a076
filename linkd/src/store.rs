//! The SQLite database (diesel): embedded migrations, the rows, and every query linkd makes.
//!
//! Only [`crate::links`] calls this module, and only to load at start and to write; reads on
//! the request path come from memory. Times are Unix seconds.

use crate::sync::lock;
use crate::token::Token;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub mod audit;
pub mod limits;
pub mod signing_keys;
pub mod stream_key;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// What to do about a file linkd may not write.
const WRITE: &str =
    "linkd's user must be able to read and write the file, its -wal and -shm files and its directory";

/// The fix for what SQLite said, when the message tells.
fn hint_for(reason: &str) -> Option<&'static str> {
    if reason.contains("malformed") || reason.contains("not a database") {
        Some(DAMAGED)
    } else if reason.contains("unable to open")
        || reason.contains("readonly")
        || reason.contains("read-only")
    {
        Some(WRITE)
    } else {
        None
    }
}

/// What to do about a file SQLite cannot read.
const DAMAGED: &str =
    "the file is damaged or not a SQLite database: restore a backup or point DB_PATH at a new file";

mod schema {
    diesel::table! {
        watch_links (id) {
            id -> BigInt,
            token -> Text,
            enabled -> Integer,
            created_at -> BigInt,
            expires_at -> Nullable<BigInt>,
            disabled_at -> Nullable<BigInt>,
            note -> Text,
        }
    }
    diesel::table! {
        linkd_keys (name) {
            name -> Text,
            value -> Binary,
            created_at -> BigInt,
        }
    }
    diesel::table! {
        linkd_signing_keys (id) {
            id -> BigInt,
            value -> Binary,
            created_at -> BigInt,
            retired_at -> Nullable<BigInt>,
        }
    }
    diesel::table! {
        link_events (id) {
            id -> BigInt,
            at -> BigInt,
            kind -> Text,
            link_id -> Nullable<BigInt>,
            note -> Text,
            devices -> Integer,
        }
    }
    diesel::table! {
        link_audit (id) {
            id -> BigInt,
            at -> BigInt,
            link_id -> BigInt,
            kind -> Text,
            actor -> Nullable<Text>,
            expires_at -> Nullable<BigInt>,
            client -> Nullable<Text>,
            browser -> Nullable<Text>,
            device -> Nullable<Text>,
            seconds -> Nullable<BigInt>,
            bytes -> Nullable<BigInt>,
        }
    }
    diesel::table! {
        event_cursors (consumer) {
            consumer -> Text,
            last_id -> BigInt,
        }
    }
    diesel::table! {
        link_opens (link_id) {
            link_id -> BigInt,
            first_opened_at -> BigInt,
        }
    }
    diesel::table! {
        linkd_stream_key (id) {
            id -> BigInt,
            value -> Text,
            created_at -> BigInt,
            legacy_ok -> Integer,
        }
    }
}

use schema::{event_cursors, link_events, link_opens, watch_links};

/// A row of `watch_links`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = watch_links)]
pub struct LinkRow {
    /// Primary key.
    pub id: i64,
    /// The secret in the watch URL.
    #[diesel(deserialize_as = String)]
    pub token: Token,
    /// 1 until disabled.
    pub enabled: i32,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` = permanent.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub disabled_at: Option<i64>,
    /// Free text.
    pub note: String,
}

/// A row of `link_events`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = link_events)]
pub struct EventRow {
    /// Increasing id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `stream_live`, `stream_offline` or `link_opened`.
    pub kind: String,
    /// The link, for link events.
    pub link_id: Option<i64>,
    /// The link's note, for link events.
    pub note: String,
    /// For `link_opened`: on how many devices the link has been opened.
    pub devices: i32,
}

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory of `DB_PATH` does not exist; linkd does not create it.
    #[error(
        "database directory {dir} does not exist: create it (owned by linkd's user) or set DB_PATH"
    )]
    MissingDirectory {
        /// The directory.
        dir: PathBuf,
    },
    /// The file could not be opened or is not a usable SQLite database.
    #[error("cannot open database {path}: {reason}; {hint}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
        /// What to do.
        hint: &'static str,
    },
    /// The file is a SQLite database of something else; it was left untouched.
    #[error("{path} is a SQLite database of another program (no watch_links table); it was left untouched: point DB_PATH at tempstream's database or a new file")]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// A migration failed.
    #[error("cannot migrate database {path}: {reason}")]
    Migration {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    /// The blocking task running the query was lost (linkd is shutting down).
    #[error("database task failed: {0}")]
    Task(String),
}

/// The database connection, shared by the tasks that write it.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<SqliteConnection>>,
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(StoreError::MissingDirectory { dir });
        }
        let open_err = |reason: String, hint: &'static str| StoreError::Open {
            path: path.to_path_buf(),
            hint: hint_for(&reason).unwrap_or(hint),
            reason,
        };
        let url = path
            .to_str()
            .ok_or_else(|| open_err("path is not UTF-8".into(), "use a UTF-8 path in DB_PATH"))?;
        let mut conn =
            SqliteConnection::establish(url).map_err(|e| open_err(e.to_string(), WRITE))?;
        conn.batch_execute("PRAGMA busy_timeout = 5000;")
            .map_err(|e| open_err(e.to_string(), "check the file's permissions"))?;
        let tables: Vec<TableName> =
            diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
                .load(&mut conn)
                .map_err(|e| open_err(e.to_string(), DAMAGED))?;
        let known = tables
            .iter()
            .any(|t| t.name == "watch_links" || t.name == "__diesel_schema_migrations");
        let user_tables = tables
            .iter()
            .filter(|t| !t.name.starts_with("sqlite_"))
            .count();
        if user_tables > 0 && !known {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
            });
        }
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| open_err(e.to_string(), WRITE))?;
        conn.run_pending_migrations(MIGRATIONS).map_err(|e| {
            let reason = e.to_string();
            match hint_for(&reason) {
                Some(hint) => open_err(reason, hint),
                None => StoreError::Migration {
                    path: path.to_path_buf(),
                    reason,
                },
            }
        })?;
        // SQLite quietly opens a file it may not write read-only; linkd must be able to write.
        conn.immediate_transaction(|c| {
            diesel::sql_query(
                "INSERT INTO linkd_keys (name, value, created_at) VALUES ('write-check', x'', 0)",
            )
            .execute(c)?;
            diesel::sql_query("DELETE FROM linkd_keys WHERE name = 'write-check'").execute(c)
        })
        .map_err(|e| open_err(e.to_string(), WRITE))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<R, diesel::result::Error> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&conn);
            f(&mut guard).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with the connection on this thread (start-up only).
    pub fn call_now<R>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<R, diesel::result::Error>,
    ) -> Result<R, StoreError> {
        let mut guard = lock(&self.conn);
        f(&mut guard).map_err(StoreError::from)
    }
}

/// Every link.
pub fn all_links(c: &mut SqliteConnection) -> QueryResult<Vec<LinkRow>> {
    watch_links::table
        .select(LinkRow::as_select())
        .order(watch_links::id)
        .load(c)
}

/// Inserts a link and returns its row.
pub fn insert_link(
    c: &mut SqliteConnection,
    token: &Token,
    created_at: i64,
    expires_at: Option<i64>,
    note: &str,
) -> QueryResult<LinkRow> {
    // In an explicit transaction: with RETURNING the row comes back before SQLite commits,
    // and only the transaction's COMMIT reports a write that storage refused.
    c.immediate_transaction(|c| insert_link_row(c, token, created_at, expires_at, note))
}

/// Inserts a link within the caller's transaction.
fn insert_link_row(
    c: &mut SqliteConnection,
    token: &Token,
    created_at: i64,
    expires_at: Option<i64>,
    note: &str,
) -> QueryResult<LinkRow> {
    diesel::insert_into(watch_links::table)
        .values((
            watch_links::token.eq(token.expose()),
            watch_links::enabled.eq(1),
            watch_links::created_at.eq(created_at),
            watch_links::expires_at.eq(expires_at),
            watch_links::note.eq(note),
        ))
        .returning(LinkRow::as_returning())
        .get_result(c)
}

/// Marks a link disabled at `at`.
pub fn disable_link(c: &mut SqliteConnection, id: i64, at: i64) -> QueryResult<usize> {
    diesel::update(watch_links::table.find(id))
        .set((
            watch_links::enabled.eq(0),
            watch_links::disabled_at.eq(Some(at)),
        ))
        .execute(c)
}

/// Gives a link a new expiry.
pub fn set_expiry(c: &mut SqliteConnection, id: i64, expires_at: i64) -> QueryResult<usize> {
    diesel::update(watch_links::table.find(id))
        .set(watch_links::expires_at.eq(Some(expires_at)))
        .execute(c)
}

/// Deletes links that ended (expired or disabled) before `before`; returns their ids.
pub fn delete_ended(c: &mut SqliteConnection, before: i64) -> QueryResult<Vec<i64>> {
    c.transaction(|c| {
        let ended = watch_links::enabled
            .eq(0)
            .and(watch_links::disabled_at.lt(before))
            .or(watch_links::expires_at.lt(before));
        let ids: Vec<i64> = watch_links::table
            .filter(ended)
            .select(watch_links::id)
            .load(c)?;
        if !ids.is_empty() {
            diesel::delete(watch_links::table.filter(watch_links::id.eq_any(&ids))).execute(c)?;
            diesel::delete(link_opens::table.filter(link_opens::link_id.eq_any(&ids)))
                .execute(c)?;
        }
        Ok(ids)
    })
}

/// A row of `link_events` to append.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub link_id: Option<i64>,
    pub note: &'a str,
}

/// Appends an event and returns its id.
pub fn insert_event(c: &mut SqliteConnection, event: NewEvent<'_>) -> QueryResult<i64> {
    c.immediate_transaction(|c| insert_event_row(c, event))
}

fn insert_event_row(c: &mut SqliteConnection, e: NewEvent<'_>) -> QueryResult<i64> {
    diesel::insert_into(link_events::table)
        .values((
            link_events::at.eq(e.at),
            link_events::kind.eq(e.kind),
            link_events::link_id.eq(e.link_id),
            link_events::note.eq(e.note),
        ))
        .returning(link_events::id)
        .get_result(c)
}

/// Up to `limit` events after the read position of `consumer`.
pub fn pending_events(
    c: &mut SqliteConnection,
    consumer: &str,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let cursor: i64 = event_cursors::table
        .find(consumer)
        .select(event_cursors::last_id)
        .first(c)
        .optional()?
        .unwrap_or(0);
    link_events::table
        .filter(link_events::id.gt(cursor))
        .order(link_events::id)
        .limit(limit)
        .select(EventRow::as_select())
        .load(c)
}

/// Moves the read position of `consumer` forward to `last_id` (never back).
pub fn ack_events(c: &mut SqliteConnection, consumer: &str, last_id: i64) -> QueryResult<()> {
    diesel::insert_into(event_cursors::table)
        .values((
            event_cursors::consumer.eq(consumer),
            event_cursors::last_id.eq(last_id),
        ))
        .on_conflict(event_cursors::consumer)
        .do_update()
        .set(
            event_cursors::last_id.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "max(last_id, excluded.last_id)",
            )),
        )
        .execute(c)?;
    Ok(())
}

/// Deletes events older than `before` (kept as long as ended links are).
pub fn delete_events_before(c: &mut SqliteConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(link_events::table.filter(link_events::at.lt(before))).execute(c)
}
