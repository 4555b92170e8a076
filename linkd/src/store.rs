//! The database (diesel): SQLite, the embedded default, or PostgreSQL, the state several
//! gates share. One set of queries on [`Conn`], embedded migrations per backend, the rows.
//!
//! Only linkd's state modules call this module, and only to load and to write; reads on the
//! request path come from memory. Times are Unix seconds. On PostgreSQL a call that finds
//! the connection broken fails with [`StoreError::Unreachable`] and the next call dials again.

use crate::config::Secret;
use crate::sync::lock;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub mod audit;
pub mod copy;
pub mod greetings;
pub mod limits;
pub mod postgres;
pub mod presence;
mod queries;
mod schema;
pub mod signing_keys;
mod sqlite;
pub mod stream_key;
#[cfg(test)]
mod tests;

pub use queries::*;

/// A connection to either backend; every query function takes `&mut Conn`.
#[derive(diesel::MultiConnection)]
pub enum Conn {
    /// The embedded SQLite file.
    Sqlite(SqliteConnection),
    /// The shared PostgreSQL database.
    Pg(PgConnection),
}

/// Runs `$body` with `$c` bound to the inner connection of `$conn`, for the few queries
/// whose diesel form exists per backend only (upserts); the body is the same text.
macro_rules! on_each {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite($c) => $body,
            $crate::store::Conn::Pg($c) => $body,
        }
    };
}
pub(crate) use on_each;

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file (`DB_PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`DATABASE_URL`); its password is a secret.
    Postgres(Secret),
}

impl Db {
    /// The database as it may be shown: the path, or the URL with its password masked.
    pub fn shown(&self) -> String {
        match self {
            Db::Sqlite(path) => path.display().to_string(),
            Db::Postgres(url) => postgres::redact(url.expose()),
        }
    }
}

/// Which database a [`Store`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one gate.
    Sqlite,
    /// PostgreSQL: the state several gates share.
    Postgres,
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
    /// The PostgreSQL database holds another program's tables; it was left untouched.
    #[error("the PostgreSQL database {url} holds tables of another program (no watch_links table); it was left untouched: point DATABASE_URL at tempstream's database or an empty one")]
    ForeignPostgres {
        /// The URL, password masked.
        url: String,
    },
    /// A migration failed.
    #[error("cannot migrate database {path}: {reason}")]
    Migration {
        /// The file or the URL (password masked).
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// PostgreSQL cannot be reached (or the connection broke); the next call dials again.
    #[error("state store unreachable: PostgreSQL at {url}: {reason}")]
    Unreachable {
        /// The URL, password masked.
        url: String,
        /// What libpq said, password masked.
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
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// `None` on PostgreSQL after the connection broke, until the next call dials.
    conn: Mutex<Option<Conn>>,
    /// Since when the last call found PostgreSQL unreachable; `None` while it answers.
    down_since: Mutex<Option<SystemTime>>,
}

impl Store {
    /// Opens (or creates) the database and brings its schema up to date.
    pub fn open(db: &Db) -> Result<Store, StoreError> {
        let conn = match db {
            Db::Sqlite(path) => Conn::Sqlite(sqlite::open(path)?),
            Db::Postgres(url) => Conn::Pg(postgres::open(url)?),
        };
        Ok(Store {
            inner: Arc::new(Inner {
                db: db.clone(),
                conn: Mutex::new(Some(conn)),
                down_since: Mutex::new(None),
            }),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.inner.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The database this store opened.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Whether the last call reached the database (always on SQLite).
    pub fn reachable(&self) -> bool {
        lock(&self.inner.down_since).is_none()
    }

    /// Since when the database has been unreachable, if it is.
    pub fn unreachable_since(&self) -> Option<SystemTime> {
        *lock(&self.inner.down_since)
    }

    /// Asks the database a trivial question (`SELECT 1`); whether it answered.
    pub async fn probe(&self) -> bool {
        self.call(|c| diesel::select(1.into_sql::<diesel::sql_types::Integer>()).execute(c))
            .await
            .is_ok()
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Conn) -> Result<R, diesel::result::Error> + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.run(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with the connection on this thread (start-up only).
    pub fn call_now<R>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<R, diesel::result::Error>,
    ) -> Result<R, StoreError> {
        self.inner.run(f)
    }
}

impl Inner {
    /// Runs `f` on the connection, dialling PostgreSQL first when the last one broke.
    fn run<R>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<R, diesel::result::Error>,
    ) -> Result<R, StoreError> {
        let mut guard = lock(&self.conn);
        if let Some(Conn::Pg(pg)) = &mut *guard {
            // A connection left idle while PostgreSQL restarted is closed: dial again now
            // rather than fail this call (one round trip; SQLite needs none).
            if pg.batch_execute("SELECT 1").is_err() {
                *guard = None;
            }
        }
        let conn = match (&mut *guard, &self.db) {
            (Some(conn), _) => conn,
            (None, Db::Postgres(url)) => match postgres::dial(url) {
                Ok(c) => guard.insert(Conn::Pg(c)),
                Err(e) => {
                    self.went_down();
                    return Err(e);
                }
            },
            (None, Db::Sqlite(_)) => unreachable!("a SQLite connection is never dropped"),
        };
        let out = f(conn);
        if let (Err(e), Conn::Pg(pg), Db::Postgres(url)) = (&out, &mut *conn, &self.db) {
            if postgres::is_broken(pg, e) {
                let reason = postgres::scrub(&e.to_string(), url);
                *guard = None;
                self.went_down();
                return Err(StoreError::Unreachable {
                    url: postgres::redact(url.expose()),
                    reason,
                });
            }
        }
        *lock(&self.down_since) = None;
        out.map_err(StoreError::from)
    }

    fn went_down(&self) {
        lock(&self.down_since).get_or_insert_with(SystemTime::now);
    }
}

/// Runs `f` in a write transaction: on SQLite `BEGIN IMMEDIATE` (the write lock is taken at
/// once, as linkd always did), on PostgreSQL a plain transaction.
pub fn write_tx<R>(c: &mut Conn, f: impl FnOnce(&mut Conn) -> QueryResult<R>) -> QueryResult<R> {
    let Conn::Sqlite(s) = c else {
        return c.transaction(f);
    };
    AnsiTransactionManager::begin_transaction_sql(s, "BEGIN IMMEDIATE")?;
    match f(c) {
        Ok(value) => {
            <Conn as Connection>::TransactionManager::commit_transaction(c)?;
            Ok(value)
        }
        Err(e) => {
            <Conn as Connection>::TransactionManager::rollback_transaction(c)?;
            Err(e)
        }
    }
}
