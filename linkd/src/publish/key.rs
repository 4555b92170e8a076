//! The stream key: 24 random bytes (hex) from the OS, one row in the database, made at the
//! first start and replaced by a rotation. Never logged; shown only through the RPC.
//!
//! Upgrade: an earlier setup's static `MEDIAMTX_PUBLISH_USER/PASSWORD` pair is accepted as
//! well until the first rotation, so a working OBS keeps publishing after the upgrade.

use crate::clock::Clock;
use crate::config::Secret;
use crate::gates::{announce, Change};
use crate::store::stream_key::{self, StreamKeyRow};
use crate::store::{Store, StoreError};
use crate::sync::lock;
use proto::ApiError;
use std::sync::Mutex;

/// Random bytes in a key: 192 bits.
const KEY_BYTES: usize = 24;

fn new_key() -> String {
    let mut k = [0u8; KEY_BYTES];
    getrandom::fill(&mut k).expect("the operating system's random source failed");
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal bytes, in a time that depends on the length only.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The key in use.
#[derive(Clone)]
struct Current {
    value: Secret,
    created_at: i64,
    legacy_ok: bool,
}

impl From<StreamKeyRow> for Current {
    fn from(r: StreamKeyRow) -> Current {
        Current {
            value: Secret::new(r.value),
            created_at: r.created_at,
            legacy_ok: r.legacy_ok != 0,
        }
    }
}

/// The stream key and where OBS publishes with it.
pub struct StreamKeys {
    store: Store,
    clock: Clock,
    current: Mutex<Current>,
    /// `MEDIAMTX_PUBLISH_USER/PASSWORD`, when both are set.
    legacy: Option<(String, Secret)>,
    /// `rtmp://host:1935/live`
    server_url: String,
    /// `stream`, the last part of the stream path.
    name: String,
    writes: tokio::sync::Mutex<()>,
}

impl StreamKeys {
    /// Loads the key, making the first one when there is none.
    pub fn load(
        store: Store,
        clock: Clock,
        config: &crate::Config,
    ) -> Result<StreamKeys, StoreError> {
        let row = match store.call_now(stream_key::get)? {
            Some(r) => r,
            None => {
                let (value, now) = (new_key(), clock.now());
                store.call_now(|c| stream_key::create(c, &value, now))?
            }
        };
        let legacy = match (
            &config.mediamtx_publish_user,
            &config.mediamtx_publish_password,
        ) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        let path = crate::config::stream_path(&config.mediamtx_hls_base_url);
        let name = path.rsplit('/').next().unwrap_or("stream").to_string();
        Ok(StreamKeys {
            store,
            clock,
            current: Mutex::new(row.into()),
            legacy,
            server_url: config.rtmp_public_url.clone(),
            name,
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// The key and the URLs OBS needs.
    pub fn show(&self) -> proto::StreamKey {
        let c = lock(&self.current).clone();
        let key = c.value.expose().to_string();
        let stream_key = format!("{}?key={key}", self.name);
        proto::StreamKey {
            publish_url: format!("{}/{stream_key}", self.server_url),
            server_url: self.server_url.clone(),
            stream_key,
            key,
            created_at: c.created_at,
            static_pair_accepted: c.legacy_ok && self.legacy.is_some(),
        }
    }

    /// Replaces the key; the old one and the static pair are refused from now on.
    pub async fn rotate(&self) -> Result<proto::StreamKey, ApiError> {
        let _w = self.writes.lock().await;
        let (value, now) = (new_key(), self.clock.now());
        let row = self
            .store
            .call(move |c| stream_key::rotate(c, &value, now))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "database write failed");
                ApiError::Storage {
                    message: e.to_string(),
                }
            })?;
        *lock(&self.current) = row.into();
        announce(&self.store, Change::StreamKey).await;
        Ok(self.show())
    }

    /// Reloads the key (another gate may have rotated it); returns whether it changed.
    pub async fn reload(&self) -> Result<bool, StoreError> {
        let _w = self.writes.lock().await;
        let Some(row) = self.store.call(stream_key::get).await? else {
            return Ok(false);
        };
        let new: Current = row.into();
        let mut current = lock(&self.current);
        let changed = new.value != current.value || new.legacy_ok != current.legacy_ok;
        *current = new;
        Ok(changed)
    }

    /// Whether `key` is the current stream key.
    pub fn is_key(&self, key: &str) -> bool {
        same(key, lock(&self.current).value.expose())
    }

    /// Whether `user`/`password` is the static pair of an earlier setup, still accepted.
    pub fn is_static_pair(&self, user: &str, password: &str) -> bool {
        let Some((u, p)) = &self.legacy else {
            return false;
        };
        lock(&self.current).legacy_ok & same(user, u) & same(password, p.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, legacy: bool) -> crate::Config {
        let mut c = crate::Config::local(dir);
        if legacy {
            c.mediamtx_publish_user = Some("obs".into());
            c.mediamtx_publish_password = Some(Secret::new("old-secret"));
        }
        c
    }

    /// The first key is made once and kept across restarts; the static pair of an upgrade
    /// works until the first rotation, after which only the new key does.
    #[tokio::test]
    async fn the_key_survives_restarts_and_rotation_ends_the_old_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        let clock = Clock::manual(1_800_000_000);
        let cfg = config(dir.path(), true);
        let keys = StreamKeys::load(store.clone(), clock.clone(), &cfg).unwrap();
        let first = keys.show();
        assert_eq!(first.key.len(), 2 * KEY_BYTES);
        assert!(first.key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            first.publish_url,
            format!("rtmp://127.0.0.1:1935/live/stream?key={}", first.key)
        );
        assert!(first.static_pair_accepted);
        assert!(keys.is_key(&first.key) && keys.is_static_pair("obs", "old-secret"));
        assert!(!keys.is_static_pair("obs", "old-secreT") && !keys.is_key("x"));
        let again = StreamKeys::load(store.clone(), clock.clone(), &cfg).unwrap();
        assert_eq!(again.show(), first, "a restart keeps the key");
        let new = again.rotate().await.unwrap();
        assert_ne!(new.key, first.key);
        assert!(!new.static_pair_accepted);
        assert!(!again.is_key(&first.key) && again.is_key(&new.key));
        assert!(!again.is_static_pair("obs", "old-secret"));
        let after = StreamKeys::load(store, clock, &cfg).unwrap();
        assert_eq!(after.show(), new, "the rotation is stored");
        assert!(!after.is_static_pair("obs", "old-secret"));
        // A rotation on another gate reaches this one with a reload.
        assert!(keys.is_key(&first.key), "not reloaded yet");
        assert!(keys.reload().await.unwrap());
        assert!(keys.is_key(&new.key) && !keys.is_key(&first.key));
        assert!(!keys.is_static_pair("obs", "old-secret"));
        assert!(!keys.reload().await.unwrap(), "nothing changed since");
    }
}
