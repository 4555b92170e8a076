//! The link rules and the in-memory link table: the only writer of `watch_links`.
//!
//! Every change goes to the database first and to memory right after, under one write lock, so
//! once a call returns, every reader (the watch page, `/play`) sees it. Readers never touch the
//! database. Expiry is computed from the clock at each check.

use crate::clock::Clock;
use crate::gates::{announce, Change};
use crate::store::{self, LinkRow, Store, StoreError};
use crate::sync::{read, write};
use crate::token::Token;
use proto::{ApiError, Limits, Link, LinkState, NoteProblem};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

mod follow;
mod sharing;
pub use sharing::{Refusal, Rules};

/// A link as linkd holds it in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Database id.
    pub id: i64,
    /// The secret in the watch URL.
    pub token: Token,
    /// False once disabled.
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` = permanent.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub disabled_at: Option<i64>,
    /// Free text.
    pub note: String,
    /// Sharing limits and the state they keep.
    pub rules: Rules,
}

impl Entry {
    /// The state at Unix time `now`.
    pub fn state(&self, now: i64) -> LinkState {
        if !self.enabled {
            LinkState::Disabled
        } else if self.expires_at.is_some_and(|e| now >= e) {
            LinkState::Expired
        } else {
            LinkState::Active
        }
    }
}

impl From<LinkRow> for Entry {
    fn from(r: LinkRow) -> Self {
        Entry {
            id: r.id,
            token: r.token,
            enabled: r.enabled != 0,
            created_at: r.created_at,
            expires_at: r.expires_at,
            disabled_at: r.disabled_at,
            note: r.note,
            rules: Rules::default(),
        }
    }
}

#[derive(Default)]
struct Table {
    /// By link id (linkd's own numbers: a fast hash is safe).
    by_id: FxHashMap<i64, Entry>,
    by_token: HashMap<Token, i64>,
}

impl Table {
    fn insert(&mut self, e: Entry) {
        self.by_token.insert(e.token.clone(), e.id);
        self.by_id.insert(e.id, e);
    }

    fn remove(&mut self, id: i64) {
        if let Some(e) = self.by_id.remove(&id) {
            self.by_token.remove(&e.token);
        }
    }
}

/// The link table and its rules.
pub struct Links {
    store: Store,
    clock: Clock,
    base_url: String,
    default_ttl: Duration,
    table: RwLock<Table>,
    writes: tokio::sync::Mutex<()>,
    /// One-time links that may still be unbound (never fewer than there are), so that
    /// `/play` asks nothing more while there is none (`sharing`).
    unbound_once: std::sync::atomic::AtomicUsize,
}

pub use proto::client::parse_ttl;

/// Checks a note: at most 200 characters, no control characters. Stored exactly as given.
pub fn check_note(note: &str) -> Result<(), ApiError> {
    let bad = |problem| ApiError::InvalidNote {
        problem,
        max_chars: proto::MAX_NOTE_CHARS,
    };
    if note.chars().count() > proto::MAX_NOTE_CHARS {
        return Err(bad(NoteProblem::TooLong));
    }
    if note.chars().any(char::is_control) {
        return Err(bad(NoteProblem::ControlCharacter));
    }
    Ok(())
}

fn storage(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "database write failed");
    ApiError::Storage {
        message: e.to_string(),
    }
}

impl Links {
    /// Loads every link from the store.
    pub fn load(
        store: Store,
        clock: Clock,
        base_url: String,
        default_ttl: Duration,
    ) -> Result<Links, StoreError> {
        let rows = store.call_now(store::all_links)?;
        let limits = store.call_now(store::limits::all)?;
        let mut table = Table::default();
        for r in rows {
            table.insert(r.into());
        }
        let unbound_once = sharing::apply(&mut table, limits);
        Ok(Links {
            store,
            clock,
            base_url,
            default_ttl,
            table: RwLock::new(table),
            writes: tokio::sync::Mutex::new(()),
            unbound_once: unbound_once.into(),
        })
    }

    /// Unix seconds now, by linkd's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The caller's view of an entry; `viewers` is filled in by the caller.
    pub fn to_wire(&self, e: &Entry, now: i64, viewers: u32) -> Link {
        Link {
            id: e.id,
            url: format!("{}/live/stream/{}", self.base_url, e.token.expose()),
            note: e.note.clone(),
            created_at: e.created_at,
            expires_at: e.expires_at,
            state: e.state(now),
            disabled_at: e.disabled_at,
            viewers,
            limits: e.rules.limits,
        }
    }

    /// The link with this token, if any (whatever its state).
    pub fn by_token(&self, token: &Token) -> Option<Entry> {
        let t = read(&self.table);
        t.by_token
            .get(token)
            .and_then(|id| t.by_id.get(id))
            .cloned()
    }

    /// `f` of link `id` under the table's read lock (no copy); `None` when it does not exist.
    /// This is the per-request check of `/play`: memory only.
    pub fn with_entry<R>(&self, id: i64, f: impl FnOnce(&Entry) -> R) -> Option<R> {
        let t = read(&self.table);
        t.by_id.get(&id).map(f)
    }

    /// One link by id.
    pub fn get(&self, id: i64) -> Option<Entry> {
        read(&self.table).by_id.get(&id).cloned()
    }

    /// Active links, newest first.
    pub fn active(&self) -> Vec<Entry> {
        let now = self.clock.now();
        let t = read(&self.table);
        let mut v: Vec<Entry> = t
            .by_id
            .values()
            .filter(|e| e.state(now) == LinkState::Active)
            .cloned()
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
        v
    }

    /// Creates a link with `limits`; `ttl` `None` with `permanent` false means the default
    /// TTL.
    pub async fn create(
        &self,
        ttl: Option<&str>,
        permanent: bool,
        note: Option<String>,
        limits: Limits,
    ) -> Result<Entry, ApiError> {
        let ttl = match (permanent, ttl) {
            (true, _) => None,
            (false, Some(t)) => Some(parse_ttl(t)?),
            // A zero DEFAULT_LINK_TTL makes such links permanent, as in the Go service.
            (false, None) => (!self.default_ttl.is_zero()).then_some(self.default_ttl),
        };
        let note = note.unwrap_or_default();
        check_note(&note)?;
        proto::check_max_viewers(limits.max_viewers)?;
        let _w = self.writes.lock().await;
        let now = self.clock.now();
        let expires_at = ttl.map(|d| now + d.as_secs() as i64);
        let (_, row) = self
            .with_new_token(move |c, t| {
                store::limits::insert_limited(c, t, now, expires_at, &note, limits)
            })
            .await?;
        let mut entry = Entry::from(row);
        entry.rules.limits = limits;
        if limits.once {
            sharing::one_more_unbound(self);
        }
        write(&self.table).insert(entry.clone());
        announce(&self.store, Change::Link(entry.id)).await;
        Ok(entry)
    }

    /// Runs `write` with a new random token, again with another one when the database holds
    /// it already (a unique-constraint hit, at most 3 times more).
    async fn with_new_token<R: Send + 'static>(
        &self,
        write: impl Fn(&mut store::Conn, &Token) -> diesel::QueryResult<R> + Clone + Send + 'static,
    ) -> Result<(Token, R), ApiError> {
        let mut attempt = 0;
        loop {
            let token = Token::generate();
            let (t, w) = (token.clone(), write.clone());
            match self.store.call(move |c| w(c, &t)).await {
                Ok(r) => return Ok((token, r)),
                Err(StoreError::Query(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ))) if attempt < 3 => attempt += 1,
                Err(e) => return Err(storage(e)),
            }
        }
    }

    /// Link `id` if it is active at `now`, else why not.
    fn require_active(&self, id: i64, now: i64) -> Result<Entry, ApiError> {
        let e = self.get(id).ok_or(ApiError::NotFound { id })?;
        match e.state(now) {
            LinkState::Active => Ok(e),
            LinkState::Disabled => Err(ApiError::AlreadyDisabled {
                id,
                disabled_at: e.disabled_at,
            }),
            LinkState::Expired => Err(ApiError::AlreadyExpired {
                id,
                expires_at: e.expires_at.unwrap_or(now),
            }),
        }
    }

    /// Applies a change that the database already holds to the in-memory entry.
    fn update(&self, id: i64, change: impl FnOnce(&mut Entry)) -> Result<Entry, ApiError> {
        let mut t = write(&self.table);
        let entry = t.by_id.get_mut(&id).ok_or(ApiError::NotFound { id })?;
        change(entry);
        Ok(entry.clone())
    }

    /// Switches link `id` off.
    pub async fn disable(&self, id: i64) -> Result<Entry, ApiError> {
        let _w = self.writes.lock().await;
        let now = self.clock.now();
        self.require_active(id, now)?;
        self.store
            .call(move |c| store::disable_link(c, id, now))
            .await
            .map_err(storage)?;
        let e = self.update(id, |e| {
            e.enabled = false;
            e.disabled_at = Some(now);
        });
        announce(&self.store, Change::Link(id)).await;
        e
    }

    /// Switches off the newest active link.
    pub async fn disable_last(&self) -> Result<Entry, ApiError> {
        let newest = self
            .active()
            .into_iter()
            .next()
            .ok_or(ApiError::NoActiveLinks)?;
        self.disable(newest.id).await
    }

    /// Gives active link `id` the expiry now + `ttl`.
    pub async fn extend(&self, id: i64, ttl: &str) -> Result<Entry, ApiError> {
        let ttl = parse_ttl(ttl)?;
        let _w = self.writes.lock().await;
        let now = self.clock.now();
        self.require_active(id, now)?;
        let expires_at = now + ttl.as_secs() as i64;
        self.store
            .call(move |c| store::set_expiry(c, id, expires_at))
            .await
            .map_err(storage)?;
        let e = self.update(id, |e| e.expires_at = Some(expires_at));
        announce(&self.store, Change::Link(id)).await;
        e
    }

    /// Deletes links that ended more than `retention` ago; returns how many.
    pub async fn cleanup(&self, retention: Duration) -> Result<usize, StoreError> {
        if retention.is_zero() {
            return Ok(0);
        }
        let _w = self.writes.lock().await;
        let before = self.clock.now() - retention.as_secs() as i64;
        let ids = self
            .store
            .call(move |c| store::delete_ended(c, before))
            .await?;
        self.store
            .call(move |c| store::delete_events_before(c, before))
            .await?;
        let gone = ids.clone();
        self.store
            .call(move |c| store::limits::delete(c, &gone))
            .await?;
        {
            let mut t = write(&self.table);
            for id in &ids {
                t.remove(*id);
            }
        }
        if !ids.is_empty() {
            announce(&self.store, Change::Links).await;
        }
        Ok(ids.len())
    }

    /// The number of links active now.
    pub fn active_count(&self) -> u32 {
        let now = self.clock.now();
        let t = read(&self.table);
        t.by_id
            .values()
            .filter(|e| e.state(now) == LinkState::Active)
            .count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_table() {
        let long: String = "é".repeat(200);
        let too_long: String = "é".repeat(201);
        let cases: [(&str, Option<NoteProblem>); 6] = [
            ("", None),
            ("Grandma 👵", None),
            (&long, None),
            (&too_long, Some(NoteProblem::TooLong)),
            ("a\nb", Some(NoteProblem::ControlCharacter)),
            ("a\u{1b}[31m", Some(NoteProblem::ControlCharacter)),
        ];
        for (note, want) in cases {
            let got = match check_note(note) {
                Ok(()) => None,
                Err(ApiError::InvalidNote { problem, .. }) => Some(problem),
                Err(e) => panic!("{e:?}"),
            };
            assert_eq!(got, want, "{note:?}");
        }
    }

    #[test]
    fn state_follows_enabled_and_expiry() {
        let mut e = Entry {
            id: 1,
            token: Token::generate(),
            enabled: true,
            created_at: 100,
            expires_at: Some(200),
            disabled_at: None,
            note: String::new(),
            rules: Rules::default(),
        };
        assert_eq!(e.state(199), LinkState::Active);
        assert_eq!(e.state(200), LinkState::Expired);
        e.expires_at = None;
        assert_eq!(e.state(1 << 40), LinkState::Active);
        e.enabled = false;
        assert_eq!(e.state(150), LinkState::Disabled);
    }
}
