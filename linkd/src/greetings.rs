//! Greetings: a line a link's viewers see on the watch page, set only on request
//! (`linkctl greet`, the bot's `/greet`). A link's note stays the operator's private label.
//!
//! Kept in memory for the page and in the table `link_greetings`, written database first.

use crate::gates::{announce, Change};
use crate::store::{self, Store, StoreError};
use crate::sync::{read, write};
use proto::ApiError;
use std::collections::HashMap;
use std::sync::RwLock;

/// The greetings of all links.
pub struct Greetings {
    store: Store,
    by_link: RwLock<HashMap<i64, String>>,
}

/// Every greeting by link.
fn all(c: &mut store::Conn) -> diesel::QueryResult<HashMap<i64, String>> {
    Ok(store::greetings::all(c)?.into_iter().collect())
}

impl Greetings {
    /// Loads every greeting.
    pub fn load(store: Store) -> Result<Greetings, StoreError> {
        let by_link = store.call_now(all)?;
        Ok(Greetings {
            store,
            by_link: RwLock::new(by_link),
        })
    }

    /// Reloads every greeting (another gate may have set one).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let by_link = self.store.call(all).await?;
        *write(&self.by_link) = by_link;
        Ok(())
    }

    /// The greeting of a link, if it has one.
    pub fn get(&self, link_id: i64) -> Option<String> {
        let map = read(&self.by_link);
        map.get(&link_id).cloned()
    }

    /// Sets (or, with `None` or an empty text, removes) a link's greeting; checked like a note.
    pub async fn set(&self, link_id: i64, greeting: Option<String>) -> Result<(), ApiError> {
        let greeting = greeting
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty());
        if let Some(g) = &greeting {
            crate::links::check_note(g)?;
        }
        let g = greeting.clone();
        self.store
            .call(move |c| match g {
                Some(text) => store::greetings::set(c, link_id, &text),
                None => store::greetings::remove(c, link_id),
            })
            .await
            .map_err(|e| ApiError::Storage {
                message: e.to_string(),
            })?;
        {
            let mut map = write(&self.by_link);
            match greeting {
                Some(g) => map.insert(link_id, g),
                None => map.remove(&link_id),
            };
        }
        announce(&self.store, Change::Greeting(link_id)).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A greeting another gate set (or removed) is shown here after a reload.
    #[tokio::test]
    async fn a_reload_shows_what_another_gate_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite"))).unwrap();
        let (a, b) = (
            Greetings::load(store.clone()).unwrap(),
            Greetings::load(store).unwrap(),
        );
        a.set(3, Some("hello".into())).await.unwrap();
        assert_eq!(b.get(3), None);
        b.reload().await.unwrap();
        assert_eq!(b.get(3).as_deref(), Some("hello"));
        a.set(3, None).await.unwrap();
        b.reload().await.unwrap();
        assert_eq!(b.get(3), None);
    }
}
