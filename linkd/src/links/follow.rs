//! Following the shared state: the link table reloaded from the database, so that a change
//! another gate made (create, extend, off, kick, rotate, a one-time binding, cleanup) is in
//! force here too, with the same effect on live sessions as on the gate that made it.
//!
//! A reload replaces the whole table under the write lock, keeping what only this gate knows:
//! the token before a rotation (so that its sessions are told the link has a new URL) and a
//! one-time binding made here that the database does not hold yet.

use super::{sharing, Links, Table};
use crate::store::{self, limits::LimitsRow, LinkRow, StoreError};
use crate::sync::write;
use proto::LinkState;
use std::sync::atomic::Ordering;

impl Links {
    /// Reloads every link and its limits from the database and applies the difference to
    /// memory. Returns the ids of the links whose current sessions end: switched off, expired
    /// earlier, kicked, rotated or deleted since memory last saw them.
    pub async fn reload(&self) -> Result<Vec<i64>, StoreError> {
        let _w = self.writes.lock().await;
        let rows = self.store.call(store::all_links).await?;
        let limits = self.store.call(store::limits::all).await?;
        Ok(self.apply(rows, limits))
    }

    /// Puts `rows` with their `limits` in place of the table; see [`Links::reload`].
    fn apply(&self, rows: Vec<LinkRow>, limits: Vec<LimitsRow>) -> Vec<i64> {
        let now = self.clock.now();
        let mut fresh = Table::default();
        for r in rows {
            fresh.insert(r.into());
        }
        sharing::apply(&mut fresh, limits);
        let mut t = write(&self.table);
        let mut ended = Vec::new();
        for (id, old) in &t.by_id {
            let Some(new) = fresh.by_id.get_mut(id) else {
                ended.push(*id);
                continue;
            };
            let same_generation = new.rules.generation == old.rules.generation;
            if same_generation && new.token == old.token && new.rules.bound.is_none() {
                // Bound here a moment ago; the database gets it right after.
                new.rules.bound = old.rules.bound;
            }
            new.rules.previous = if new.token != old.token {
                Some(old.token.clone())
            } else {
                old.rules.previous.clone()
            };
            let stopped =
                old.state(now) == LinkState::Active && new.state(now) != LinkState::Active;
            if stopped || !same_generation || new.token != old.token {
                ended.push(*id);
            }
        }
        let unbound = fresh
            .by_id
            .values()
            .filter(|e| e.rules.limits.once && e.rules.bound.is_none())
            .count();
        self.unbound_once.store(unbound, Ordering::SeqCst);
        *t = fresh;
        ended.sort_unstable();
        ended
    }
}

#[cfg(test)]
mod tests {
    use crate::clock::Clock;
    use crate::links::{Links, Refusal};
    use crate::store::{self, Store};
    use proto::{Limits, LinkState};
    use std::time::Duration;

    /// Two link tables on one database: what one of them writes, the other one sees after
    /// a reload, with the links whose sessions end named.
    #[tokio::test]
    async fn a_reload_applies_what_another_table_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        let clock = Clock::manual(1_800_000_000);
        let open = || {
            Links::load(
                store.clone(),
                clock.clone(),
                "http://x".into(),
                Duration::from_secs(3600),
            )
            .unwrap()
        };
        let (a, b) = (open(), open());
        let once = Limits {
            max_viewers: Some(2),
            once: true,
        };
        let [l1, l2, l3, l4] = [
            a.create(Some("1h"), false, None, Limits::default())
                .await
                .unwrap(),
            a.create(Some("1h"), false, None, Limits::default())
                .await
                .unwrap(),
            a.create(Some("1h"), false, None, once).await.unwrap(),
            a.create(Some("1h"), false, None, Limits::default())
                .await
                .unwrap(),
        ];
        assert!(b.get(l1.id).is_none(), "b has not reloaded yet");
        assert_eq!(b.reload().await.unwrap(), Vec::<i64>::new());
        assert_eq!(b.get(l3.id).unwrap().rules.limits, once);
        assert!(b.by_token(&l1.token).is_some());
        // A one-time link bound on b before the database holds it stays bound on b.
        assert!(b.bind_once(l3.id, 42));
        assert_eq!(b.reload().await.unwrap(), Vec::<i64>::new());
        let bound = b.get(l3.id).unwrap().rules;
        assert_eq!(
            (bound.bound, bound.refusal(43)),
            (Some(42), Some(Refusal::Taken))
        );

        a.disable(l1.id).await.unwrap();
        a.extend(l2.id, "2h").await.unwrap();
        let rotated = a.rotate(l4.id).await.unwrap();
        a.kick(l3.id).await.unwrap();
        let ended = b.reload().await.unwrap();
        assert_eq!(ended, vec![l1.id, l3.id, l4.id]);
        let now = clock.now();
        assert_eq!(b.get(l1.id).unwrap().state(now), LinkState::Disabled);
        assert_eq!(b.get(l2.id).unwrap().expires_at, Some(now + 7200));
        assert!(b.by_token(&l4.token).is_none(), "the old URL is gone");
        let e4 = b.by_token(&rotated.token).unwrap();
        assert_eq!(e4.rules.previous.as_ref(), Some(&l4.token));
        assert_eq!(e4.rules.generation, rotated.rules.generation);
        let e3 = b.get(l3.id).unwrap();
        assert_eq!((e3.rules.bound, e3.rules.generation), (None, 1));
        let s7 = e3.rules.session_id(7);
        assert!(b.bind_once(l3.id, s7), "free again");
        assert_eq!(b.get(l3.id).unwrap().rules.bound, Some(s7));

        // Nothing changed: nothing ends. An expiry passing is not a change of the table.
        clock.advance(3600);
        assert_eq!(b.reload().await.unwrap(), Vec::<i64>::new());
        // Deleted by another gate's cleanup: gone here too, and its sessions end.
        store
            .call(move |c| store::delete_ended(c, now + 3601))
            .await
            .unwrap();
        let ended = b.reload().await.unwrap();
        assert!(ended.contains(&l1.id), "{ended:?}");
        assert!(b.get(l1.id).is_none());
    }
}
