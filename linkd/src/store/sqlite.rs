//! Opening the SQLite file: its directory must exist, a database of another program is
//! left untouched, the schema is brought up to date and linkd must be able to write.

use super::StoreError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::{Path, PathBuf};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// What to do about a file linkd may not write.
const WRITE: &str =
    "linkd's user must be able to read and write the file, its -wal and -shm files and its directory";

/// What to do about a file SQLite cannot read.
const DAMAGED: &str =
    "the file is damaged or not a SQLite database: restore a backup or point DB_PATH at a new file";

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

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Opens (or creates) the database at `path` and brings its schema up to date.
pub(super) fn open(path: &Path) -> Result<SqliteConnection, StoreError> {
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
    let mut conn = SqliteConnection::establish(url).map_err(|e| open_err(e.to_string(), WRITE))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000;")
        .map_err(|e| open_err(e.to_string(), "check the file's permissions"))?;
    refuse_foreign(&mut conn, path).map_err(|e| match e {
        Ok(foreign) => foreign,
        Err(reason) => open_err(reason, DAMAGED),
    })?;
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
    Ok(conn)
}

/// `Err(Ok(Foreign))` when the file holds tables but neither tempstream's links nor
/// diesel's migrations; `Err(Err(reason))` when its tables cannot be listed.
fn refuse_foreign(
    conn: &mut SqliteConnection,
    path: &Path,
) -> Result<(), Result<StoreError, String>> {
    let tables: Vec<TableName> =
        diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .load(conn)
            .map_err(|e| Err(e.to_string()))?;
    let known = tables
        .iter()
        .any(|t| t.name == "watch_links" || t.name == "__diesel_schema_migrations");
    let user_tables = tables
        .iter()
        .filter(|t| !t.name.starts_with("sqlite_"))
        .count();
    if user_tables > 0 && !known {
        return Err(Ok(StoreError::Foreign {
            path: path.to_path_buf(),
        }));
    }
    Ok(())
}
