//! The master keys that sign playback sessions: kept in the database by id, loaded into the
//! session signer at start, rotated by `linkctl signing-key rotate`.
//!
//! A rotation makes new sessions use a new key at once; sessions signed by older keys stay
//! valid until they end (at most [`MAX_SESSION_SECS`]), after which the old key is deleted,
//! or end at once with `--logout-all`. Key values never leave linkd and are never logged.

use crate::clock::Clock;
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
        let mut rows = store.call_now(signing_keys::all)?;
        if rows.is_empty() {
            let now = clock.now();
            rows = vec![store.call_now(|c| signing_keys::rotate(c, &new_key(), now, false))?];
        }
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
        Ok(SigningKeyRotation {
            key_id: row.id as u32,
            created_at: row.created_at,
            older_keys_accepted: (rows.len() - 1) as u32,
            logged_out_all: logout_all,
        })
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
        }
        Ok(n)
    }
}
