//! Who is watching now: the registry of live playback sessions, with what the audit trail
//! keeps of each (link, since when, last request, truncated address, browser family, device
//! label, bytes sent).
//!
//! The watch page registers the session it issues ([`Viewers::issued`]); the session's
//! first `/play` request starts it ([`Viewers::touch`], recorded as `session_started`), and a
//! session with no request for [`IDLE`] is ended by [`Viewers::sweep`] (`session_ended`, with
//! seconds watched and bytes sent). `touch` runs on every `/play` request: for a known
//! session it is a read lock and two atomic stores, no allocation.

use crate::audit::{Audit, Ended, Facts};
use crate::clock::Clock;
use crate::sync::{lock, read, write};
use proto::AuditKind;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// A session with no request for this long has ended (its page closed or stopped playing).
pub const IDLE: i64 = 20;
/// An issued session that never played is forgotten this long after its page last polled.
const ISSUED_KEEP: i64 = 120;
/// Issued sessions remembered at most (each page opening adds one).
const ISSUED_MAX: usize = 16_384;

/// A live session.
pub struct Live {
    link_id: i64,
    since: i64,
    facts: Facts,
    last_seen: AtomicI64,
    bytes: AtomicU64,
}

impl Live {
    /// Counts `n` bytes of the stream sent to this session.
    pub fn sent(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// A session the watch page issued that has not played yet.
struct Issued {
    link_id: i64,
    polled: i64,
    facts: Facts,
}

#[derive(Default)]
struct Table {
    /// By session id: ids are random and signed by linkd, so a fast hash is safe here.
    sessions: FxHashMap<u64, Arc<Live>>,
    per_link: HashMap<i64, u32>,
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Arc<Live>> {
        let live = self.sessions.remove(&id)?;
        if let Some(n) = self.per_link.get_mut(&live.link_id) {
            *n -= 1;
            if *n == 0 {
                self.per_link.remove(&live.link_id);
            }
        }
        Some(live)
    }
}

/// The registry.
pub struct Viewers {
    clock: Clock,
    audit: Audit,
    table: RwLock<Table>,
    issued: Mutex<HashMap<u64, Issued>>,
}

impl Viewers {
    /// An empty registry recording into `audit`.
    pub fn new(clock: Clock, audit: Audit) -> Viewers {
        Viewers {
            clock,
            audit,
            table: RwLock::default(),
            issued: Mutex::default(),
        }
    }

    /// The watch page issued session `session` of link `link_id` to a viewer with `facts`.
    pub fn issued(&self, session: u64, link_id: i64, facts: Facts) {
        let polled = self.clock.now();
        let mut issued = lock(&self.issued);
        if issued.len() >= ISSUED_MAX {
            issued.retain(|_, i| polled - i.polled < ISSUED_KEEP);
        }
        if issued.len() < ISSUED_MAX {
            issued.insert(
                session,
                Issued {
                    link_id,
                    polled,
                    facts,
                },
            );
        }
    }

    /// The page of session `session` polled its state: an issued session waiting for the
    /// stream is remembered a while longer. Does not count as watching.
    pub fn polled(&self, session: u64) {
        if let Some(i) = lock(&self.issued).get_mut(&session) {
            i.polled = self.clock.now();
        }
    }

    /// A `/play` request of session `session` of link `link_id`: it is watching. The first
    /// one starts the session.
    pub fn touch(&self, session: u64, link_id: i64) -> Arc<Live> {
        let now = self.clock.now();
        {
            let t = read(&self.table);
            if let Some(live) = t.sessions.get(&session).filter(|l| l.link_id == link_id) {
                live.last_seen.store(now, Ordering::Relaxed);
                return live.clone();
            }
        }
        self.start(session, link_id, now)
    }

    fn start(&self, session: u64, link_id: i64, now: i64) -> Arc<Live> {
        // A session issued before linkd restarted is not known: it resumes without facts.
        let facts = lock(&self.issued)
            .remove(&session)
            .filter(|i| i.link_id == link_id)
            .map(|i| i.facts)
            .unwrap_or_default();
        let mut t = write(&self.table);
        if let Some(live) = t.sessions.get(&session).filter(|l| l.link_id == link_id) {
            return live.clone();
        }
        t.remove(session);
        let live = Arc::new(Live {
            link_id,
            since: now,
            facts,
            last_seen: AtomicI64::new(now),
            bytes: AtomicU64::new(0),
        });
        t.sessions.insert(session, live.clone());
        *t.per_link.entry(link_id).or_insert(0) += 1;
        drop(t);
        tracing::info!(link_id, "playback session started");
        self.audit
            .viewer(link_id, AuditKind::SessionStarted, &live.facts, None);
        live
    }

    /// Sessions of link `link_id` watching now, or issued and still polled, within [`IDLE`],
    /// for which `counts(session id)` holds: a viewer cap's count when a page opens.
    pub fn count_of(&self, link_id: i64, counts: impl Fn(u64) -> bool) -> u32 {
        let now = self.clock.now();
        let t = read(&self.table);
        let live = t.sessions.iter().filter(|(s, l)| {
            l.link_id == link_id && now - l.last_seen.load(Ordering::Relaxed) < IDLE && counts(**s)
        });
        let issued = lock(&self.issued);
        let waiting = issued.iter().filter(|(s, i)| {
            i.link_id == link_id
                && now - i.polled < IDLE
                && !t.sessions.contains_key(s)
                && counts(**s)
        });
        (live.count() + waiting.count()) as u32
    }

    /// Live sessions of link `link_id`.
    pub fn live_on(&self, link_id: i64) -> u32 {
        let t = read(&self.table);
        t.per_link.get(&link_id).copied().unwrap_or(0)
    }

    /// Live sessions per link.
    pub fn per_link(&self) -> HashMap<i64, u32> {
        let t = read(&self.table);
        t.per_link.clone()
    }

    /// Every live session, oldest first; `note` names each link's note.
    pub fn list(&self, note: impl Fn(i64) -> String) -> Vec<proto::Viewer> {
        let t = read(&self.table);
        let mut v: Vec<proto::Viewer> = t
            .sessions
            .values()
            .map(|l| proto::Viewer {
                link_id: l.link_id,
                note: note(l.link_id),
                device: l.facts.device.clone(),
                browser: l.facts.browser.map(String::from),
                client: l.facts.client.clone(),
                since: l.since,
                last_seen: l.last_seen.load(Ordering::Relaxed),
                bytes: l.bytes.load(Ordering::Relaxed),
            })
            .collect();
        v.sort_by_key(|v| (v.link_id, v.since));
        v
    }

    /// Ends the sessions idle for [`IDLE`] (all of them with `all`: linkd stops), recording
    /// each end; forgets issued sessions that stopped polling. Returns how many ended.
    pub fn sweep(&self, all: bool) -> usize {
        let now = self.clock.now();
        lock(&self.issued).retain(|_, i| now - i.polled < ISSUED_KEEP);
        self.end_where(|l| all || now - l.last_seen.load(Ordering::Relaxed) >= IDLE)
    }

    /// Ends every live session of link `link_id` now (kicked, rotated or switched off),
    /// recording each end, so its slots are free at once. Returns how many ended.
    pub fn end_link(&self, link_id: i64) -> usize {
        self.end_where(|l| l.link_id == link_id)
    }

    /// Ends the live sessions for which `ends` holds.
    fn end_where(&self, ends: impl Fn(&Live) -> bool) -> usize {
        let ended: Vec<u64> = {
            let t = read(&self.table);
            t.sessions
                .iter()
                .filter(|(_, l)| ends(l))
                .map(|(id, _)| *id)
                .collect()
        };
        if ended.is_empty() {
            return 0;
        }
        let mut t = write(&self.table);
        let mut n = 0;
        for id in ended {
            let Some(live) = t.sessions.get(&id).filter(|l| ends(l)).cloned() else {
                continue;
            };
            t.remove(id);
            let last_seen = live.last_seen.load(Ordering::Relaxed);
            let ended = Ended {
                last_seen,
                seconds: (last_seen - live.since).max(0) as u64,
                bytes: live.bytes.load(Ordering::Relaxed),
            };
            self.audit.viewer(
                live.link_id,
                AuditKind::SessionEnded,
                &live.facts,
                Some(ended),
            );
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (tempfile::TempDir, Clock, Viewers, crate::audit::Inbox) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::open(&crate::store::Db::Sqlite(dir.path().join("db.sqlite")))
                .unwrap();
        let clock = Clock::manual(1_000);
        let (audit, inbox) = Audit::new(store, clock.clone(), std::time::Duration::from_secs(60));
        (dir, clock.clone(), Viewers::new(clock, audit), inbox)
    }

    fn facts(device: &str) -> Facts {
        Facts {
            client: Some("203.0.113.0/24".into()),
            browser: Some("Firefox"),
            device: Some(device.into()),
        }
    }

    #[test]
    fn a_session_starts_at_its_first_request_and_ends_after_idle() {
        let (_d, clock, v, mut inbox) = registry();
        v.issued(7, 1, facts("aa"));
        v.issued(8, 1, facts("bb"));
        assert_eq!(v.live_on(1), 0, "a page is not a viewer");
        let live = v.touch(7, 1);
        live.sent(1000);
        let started = inbox.next_row().expect("session_started");
        assert_eq!(
            (
                started.kind.as_str(),
                started.device.as_deref(),
                started.browser.as_deref()
            ),
            ("session_started", Some("aa"), Some("Firefox"))
        );
        clock.advance(30);
        v.touch(7, 1).sent(500);
        assert!(inbox.next_row().is_none(), "a known session starts once");
        assert_eq!((v.live_on(1), v.live_on(2)), (1, 0));
        clock.advance(IDLE - 1);
        assert_eq!(v.sweep(false), 0);
        clock.advance(1);
        assert_eq!(v.sweep(false), 1);
        assert_eq!(v.live_on(1), 0);
        let ended = inbox.next_row().expect("session_ended");
        assert_eq!(
            (ended.kind.as_str(), ended.at, ended.seconds, ended.bytes),
            ("session_ended", 1_030, Some(30), Some(1500))
        );
    }

    #[test]
    fn unknown_sessions_resume_without_facts_and_shutdown_ends_all() {
        let (_d, _clock, v, mut inbox) = registry();
        v.touch(9, 3);
        v.touch(10, 3);
        let r = inbox.next_row().unwrap();
        assert_eq!((r.device, r.browser, r.client), (None, None, None));
        assert_eq!(v.per_link().get(&3), Some(&2));
        v.touch(11, 4);
        assert_eq!(v.list(|_| "note".into()).len(), 3);
        assert_eq!(v.end_link(3), 2, "a link's sessions end at once");
        assert_eq!((v.live_on(3), v.live_on(4)), (0, 1));
        assert_eq!(v.sweep(true), 1);
        assert!(v.per_link().is_empty());
    }
}
