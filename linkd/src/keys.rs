//! The master keys that sign playback sessions: kept in the database by id, loaded into the
//! session signer at start, rotated by `linkctl signing-key rotate`.
//!
//! A rotation makes new sessions use a new key at once; sessions signed by older keys stay
//! valid until they end (at most [`MAX_SESSION_SECS`]), after which the old key is deleted,
//! or end at once with `--logout-all`. Key values never leave linkd and are never logged.

use crate::clock::Clock;
use crate::gates::{announce, Change};
use crate::http::session::{Sessions, MAX_SESSION_SECS};
use crate::store::signing_keys::{self, KeyRow};
use crate::store::{Store, StoreError};
use proto::{ApiError, SigningKeyRotation};
use std::sync::Arc;

/// The signing keys and the signer that uses them.
pub struct SigningKeys {
    store: Store,
    clock: Clock,
    sessions: Arc<Sessions>,
    writes: tokio::sync::Mutex<()>,
}

fn new_key() -> Vec<u8> {
    let mut k = vec![0u8; 32];
    getrandom::fill(&mut k).expect("the operating system's random source failed");
    k
}

/// The key ids and values of `rows` for the signer, and the id of the key in use.
fn ring(rows: &[KeyRow]) -> (Vec<(u32, Vec<u8>)>, u32) {
    let keys: Vec<(u32, Vec<u8>)> = rows
        .iter()
        .map(|r| (r.id as u32, r.value.clone()))
        .collect();
    let current = rows
        .iter()
        .filter(|r| r.retired_at.is_none())
        .map(|r| r.id)
        .max()
        .or_else(|| rows.iter().map(|r| r.id).max())
        .unwrap_or(0) as u32;
    (keys, current)
}

impl SigningKeys {
    /// Loads the keys (making the first one when there is none) at start.
    pub fn load(store: Store, clock: Clock) -> Result<SigningKeys, StoreError> {
        let now = clock.now();
        let rows = store.call_now(|c| signing_keys::all_or_first(c, &new_key(), now))?;
        let (keys, current) = ring(&rows);
        Ok(SigningKeys {
            store,
            clock,
            sessions: Arc::new(Sessions::new(&keys, current)),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// The signer, shared with the HTTP side.
    pub fn sessions(&self) -> Arc<Sessions> {
        self.sessions.clone()
    }

    /// Starts signing with a new key; with `logout_all`, every older key (and every session
    /// it signed) is dropped at once.
    pub async fn rotate(&self, logout_all: bool) -> Result<SigningKeyRotation, ApiError> {
        let _w = self.writes.lock().await;
        let now = self.clock.now();
        let value = new_key();
        let storage = |e: StoreError| {
            tracing::error!(error = %e, "database write failed");
            ApiError::Storage {
                message: e.to_string(),
            }
        };
        let row = self
            .store
            .call(move |c| signing_keys::rotate(c, &value, now, logout_all))
            .await
            .map_err(storage)?;
        let rows = self.store.call(signing_keys::all).await.map_err(storage)?;
        let (keys, current) = ring(&rows);
        self.sessions.install(&keys, current);
        announce(&self.store, Change::SigningKeys).await;
        Ok(SigningKeyRotation {
            key_id: row.id as u32,
            created_at: row.created_at,
            older_keys_accepted: (rows.len() - 1) as u32,
            logged_out_all: logout_all,
        })
    }

    /// Reloads the keys from the database (another gate rotated or pruned them) into the
    /// signer when they differ from the signer's; returns whether they did.
    pub async fn reload(&self) -> Result<bool, StoreError> {
        let _w = self.writes.lock().await;
        let rows = self.store.call(signing_keys::all).await?;
        if rows.is_empty() {
            return Ok(false);
        }
        let (keys, current) = ring(&rows);
        let ids: Vec<u32> = keys.iter().map(|(id, _)| *id).collect();
        if self.sessions.key_ids() == (ids, current) {
            // The same keys: the signer keeps the link keys it derived.
            return Ok(false);
        }
        self.sessions.install(&keys, current);
        Ok(true)
    }

    /// Deletes keys retired so long ago that every session they signed has ended.
    pub async fn prune(&self) -> Result<usize, StoreError> {
        let _w = self.writes.lock().await;
        let before = self.clock.now() - MAX_SESSION_SECS;
        let n = self
            .store
            .call(move |c| signing_keys::delete_retired_before(c, before))
            .await?;
        if n > 0 {
            let rows = self.store.call(signing_keys::all).await?;
            let (keys, current) = ring(&rows);
            self.sessions.install(&keys, current);
            announce(&self.store, Change::SigningKeys).await;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> crate::token::Token {
        crate::token::Token::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap()
    }

    /// A retired key signs nothing new, verifies its sessions until the longest session has
    /// passed, and is then deleted.
    #[tokio::test]
    async fn retired_keys_are_kept_until_their_sessions_have_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        let clock = Clock::manual(1_800_000_000);
        let keys = SigningKeys::load(store.clone(), clock.clone()).unwrap();
        let sessions = keys.sessions();
        let now = clock.now();
        let (_, old) = sessions.issue(1, &tok(), now + MAX_SESSION_SECS);
        let r = keys.rotate(false).await.unwrap();
        assert_eq!((r.older_keys_accepted, r.logged_out_all), (1, false));
        clock.advance(MAX_SESSION_SECS - 10);
        assert_eq!(keys.prune().await.unwrap(), 0);
        assert!(sessions.verify(&old, clock.now(), &tok(), None).is_some());
        clock.advance(20);
        assert_eq!(keys.prune().await.unwrap(), 1);
        // A restart loads what is left, the key in use, which signed nothing before.
        let again = SigningKeys::load(store.clone(), clock.clone()).unwrap();
        let (_, new) = again.sessions().issue(1, &tok(), clock.now() + 60);
        assert!(sessions.verify(&new, clock.now(), &tok(), None).is_some());
        let rows = store.call_now(signing_keys::all).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id as u32, r.key_id);
    }
}

#[cfg(test)]
mod follow {
    use super::*;

    /// A key rotated by another gate (another signer on the same database) signs sessions
    /// this gate verifies after a reload; a logout of all ends this gate's old sessions.
    #[tokio::test]
    async fn a_reload_takes_the_keys_another_gate_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        let clock = Clock::manual(1_800_000_000);
        let a = SigningKeys::load(store.clone(), clock.clone()).unwrap();
        let b = SigningKeys::load(store.clone(), clock.clone()).unwrap();
        let tok = crate::token::Token::generate();
        let now = clock.now();
        let (_, old) = b.sessions().issue(1, &tok, now + 60);
        assert!(!b.reload().await.unwrap(), "nothing changed");
        a.rotate(false).await.unwrap();
        let (_, new) = a.sessions().issue(1, &tok, now + 60);
        assert!(b.sessions().verify(&new, now, &tok, None).is_none());
        assert!(b.reload().await.unwrap());
        assert!(b.sessions().verify(&new, now, &tok, None).is_some());
        assert!(b.sessions().verify(&old, now, &tok, None).is_some());
        a.rotate(true).await.unwrap();
        assert!(b.reload().await.unwrap());
        assert!(b.sessions().verify(&old, now, &tok, None).is_none());
        assert!(b.sessions().verify(&new, now, &tok, None).is_none());
    }
}

#[cfg(test)]
mod carried_over {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    /// A database of the previous release (one `session` key in `linkd_keys`) keeps its key
    /// as key 1, so the upgrade changes the cookie format but not the key material.
    #[test]
    fn the_key_of_an_earlier_release_becomes_key_1() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.sqlite");
        let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite/");
        for m in [
            "2024-01-01-000001_watch_links",
            "2024-01-01-000002_linkd_state",
        ] {
            let sql = std::fs::read_to_string(format!("{root}{m}/up.sql")).unwrap();
            c.batch_execute(&sql).unwrap();
        }
        c.batch_execute(
            "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL,
                 run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
             INSERT INTO __diesel_schema_migrations (version) VALUES ('20240101000001'), ('20240101000002');
             INSERT INTO linkd_keys (name, value, created_at) VALUES ('session', x'0707070707070707070707070707070707070707070707070707070707070707', 5);",
        )
        .unwrap();
        drop(c);
        let store = Store::open(&crate::store::Db::Sqlite(db.clone())).unwrap();
        let rows = store.call_now(signing_keys::all).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].id, rows[0].created_at), (1, 5));
        assert_eq!(rows[0].value, vec![7u8; 32]);
        let keys = SigningKeys::load(store, Clock::manual(100)).unwrap();
        let (_, v) = Sessions::single(&[7u8; 32]).issue(
            1,
            &crate::token::Token::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap(),
            200,
        );
        assert!(keys
            .sessions()
            .verify(
                &v,
                100,
                &crate::token::Token::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap(),
                None
            )
            .is_some());
    }
}
