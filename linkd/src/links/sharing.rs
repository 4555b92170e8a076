//! Sharing limits: the rules of a link beside its expiry, checked on every `/play` request
//! from memory (a few comparisons, no lookup of their own).
//!
//! - **Viewer cap**: at most `max_viewers` devices watch at once. It is checked when a page
//!   opens (`http::sharing`), counting the link's sessions seen in the last seconds.
//! - **One-time link**: bound to the first session that receives video while the stream is
//!   live ([`Links::bind_once`]); any other session is refused ([`Refusal::Taken`]).
//! - **Kick** and **rotate** start a new *generation* of the link's sessions. A session id
//!   carries its generation in its top 16 bits (the id is inside the signed cookie, so it
//!   cannot be changed), and a session of another generation is refused
//!   ([`Refusal::Kicked`]). Generation 0 (never kicked) accepts every id, so sessions made
//!   before this rule existed play on. A rotation also changes the token, which keys the
//!   session MAC: the old sessions no longer verify at all.
//!
//! Everything is written to `link_limits` first, then to memory, like the rest of the table.

use super::{storage, Entry, Links, Table};
use crate::gates::{announce, Change};
use crate::store::{self, limits::LimitsRow};
use crate::sync::write;
use crate::token::Token;
use proto::{ApiError, Limits, LinkState};
use std::sync::atomic::Ordering;

/// Bits of a session id below its generation.
const GENERATION_SHIFT: u32 = 48;

/// A link's sharing limits and the state they keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// What the operator set.
    pub limits: Limits,
    /// The session a one-time link is bound to.
    pub bound: Option<u64>,
    /// Generation of the link's sessions: raised by each kick and rotation.
    pub generation: u16,
    /// The token before the last rotation while linkd runs, so that its sessions can be
    /// told that the link has a new URL (it admits nothing).
    pub previous: Option<Token>,
}

/// Why a session whose link plays is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its session was ended by a kick (or a rotation).
    Kicked,
    /// A one-time link that another session has.
    Taken,
}

impl Rules {
    /// A session id of the current generation from 64 random bits.
    pub fn session_id(&self, random: u64) -> u64 {
        (random & ((1 << GENERATION_SHIFT) - 1)) | (u64::from(self.generation) << GENERATION_SHIFT)
    }

    /// Why session `session` may not play, if it may not.
    pub fn refusal(&self, session: u64) -> Option<Refusal> {
        if self.generation != 0 && (session >> GENERATION_SHIFT) as u16 != self.generation {
            return Some(Refusal::Kicked);
        }
        match self.bound {
            Some(b) if self.limits.once && b != session => Some(Refusal::Taken),
            _ => None,
        }
    }

    /// The generation after this one (0, "never kicked", is never used again).
    fn next_generation(&self) -> u16 {
        self.generation.checked_add(1).unwrap_or(1)
    }
}

/// Counts one more one-time link that is not bound (made, or unbound by a kick or a
/// rotation), before the table shows it.
pub(super) fn one_more_unbound(links: &Links) {
    links.unbound_once.fetch_add(1, Ordering::SeqCst);
}

/// Puts the stored rules on the links they belong to; returns how many one-time links are
/// not bound.
pub(super) fn apply(table: &mut Table, rows: Vec<LimitsRow>) -> usize {
    let mut unbound = 0;
    for r in rows {
        if let Some(e) = table.by_id.get_mut(&r.link_id) {
            e.rules = Rules {
                limits: Limits {
                    max_viewers: r.max_viewers.and_then(|m| u32::try_from(m).ok()),
                    once: r.once != 0,
                },
                bound: r.bound_session.map(|b| b as u64),
                generation: u16::try_from(r.generation).unwrap_or(1),
                previous: None,
            };
            unbound += usize::from(e.rules.limits.once && e.rules.bound.is_none());
        }
    }
    unbound
}

impl Links {
    /// Ends active link `id`'s current sessions: a new generation starts, and a one-time
    /// link is free to bind again.
    pub async fn kick(&self, id: i64) -> Result<Entry, ApiError> {
        let _w = self.writes.lock().await;
        let e = self.require_active(id, self.clock.now())?;
        let generation = e.rules.next_generation();
        self.store
            .call(move |c| store::limits::kick(c, id, generation))
            .await
            .map_err(storage)?;
        if e.rules.limits.once && e.rules.bound.is_some() {
            one_more_unbound(self);
        }
        let e = self.update(id, |e| {
            e.rules.generation = generation;
            e.rules.bound = None;
        });
        announce(&self.store, Change::Link(id)).await;
        e
    }

    /// Gives active link `id` a new token; its sessions end (a new generation too).
    pub async fn rotate(&self, id: i64) -> Result<Entry, ApiError> {
        let _w = self.writes.lock().await;
        let e = self.require_active(id, self.clock.now())?;
        let generation = e.rules.next_generation();
        let (token, _) = self
            .with_new_token(move |c, t| store::limits::rotate(c, id, t, generation))
            .await?;
        if e.rules.limits.once && e.rules.bound.is_some() {
            one_more_unbound(self);
        }
        let entry = {
            let mut t = write(&self.table);
            let entry = t.by_id.get_mut(&id).ok_or(ApiError::NotFound { id })?;
            let old = std::mem::replace(&mut entry.token, token.clone());
            entry.rules.generation = generation;
            entry.rules.bound = None;
            entry.rules.previous = Some(old.clone());
            let entry = entry.clone();
            t.by_token.remove(&old);
            t.by_token.insert(token, id);
            entry
        };
        announce(&self.store, Change::Link(id)).await;
        Ok(entry)
    }

    /// Switches off every active link; `NoActiveLinks` when there is none.
    pub async fn disable_all(&self) -> Result<Vec<Entry>, ApiError> {
        let active = self.active();
        if active.is_empty() {
            return Err(ApiError::NoActiveLinks);
        }
        let mut off = Vec::with_capacity(active.len());
        for e in active {
            match self.disable(e.id).await {
                Ok(e) => off.push(e),
                // Switched off or expired since the list was taken: nothing left to do.
                Err(ApiError::AlreadyDisabled { .. } | ApiError::AlreadyExpired { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(off)
    }

    /// Whether session `session` may go on receiving video of link `id`: true unless it is
    /// a one-time link that another session has. The first session asking binds it (memory
    /// at once, the database right after, once per link). Memory only when nothing changes.
    pub fn bind_once(&self, id: i64, session: u64) -> bool {
        // No unbound one-time link: nothing to ask (a bound one refuses others at the gate).
        if self.unbound_once.load(Ordering::SeqCst) == 0 {
            return true;
        }
        // Under the read lock: not one-time, or bound already.
        match self.with_entry(id, |e| (e.rules.limits.once, e.rules.bound)) {
            Some((false, _)) => return true,
            Some((true, Some(b))) => return b == session,
            Some((true, None)) => {}
            None => return false,
        }
        let generation = {
            let mut t = write(&self.table);
            let Some(e) = t.by_id.get_mut(&id) else {
                return false;
            };
            if e.state(self.clock.now()) != LinkState::Active {
                return false;
            }
            match e.rules.bound {
                Some(b) => return b == session,
                None => e.rules.bound = Some(session),
            }
            let _ = self
                .unbound_once
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            e.rules.generation
        };
        tracing::info!(link_id = id, "one-time link bound to its first viewer");
        let store = self.store.clone();
        tokio::spawn(async move {
            match store
                .call(move |c| store::limits::bind(c, id, session, generation))
                .await
            {
                Ok(_) => announce(&store, Change::Link(id)).await,
                Err(e) => {
                    tracing::warn!(error = %e, link_id = id, "cannot store a one-time link's viewer")
                }
            }
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(once: bool, bound: Option<u64>, generation: u16) -> Rules {
        Rules {
            limits: Limits {
                max_viewers: None,
                once,
            },
            bound,
            generation,
            previous: None,
        }
    }

    #[test]
    fn session_ids_carry_their_generation() {
        let r = rules(false, None, 7);
        let id = r.session_id(u64::MAX);
        assert_eq!(id >> GENERATION_SHIFT, 7);
        assert_eq!(id & 0xffff_ffff_ffff, 0xffff_ffff_ffff);
        assert_eq!(r.refusal(id), None);
    }

    /// (rules, session, refusal)
    #[test]
    fn refusal_table() {
        let g0 = rules(false, None, 0).session_id(12345);
        let g1 = rules(false, None, 1).session_id(12345);
        let other_g1 = rules(false, None, 1).session_id(999);
        let cases = [
            // Never kicked: every id plays, also one made before generations existed.
            (rules(false, None, 0), u64::MAX, None),
            (rules(false, None, 0), g1, None),
            // Kicked once: sessions of generation 0 end, new ones play.
            (rules(false, None, 1), g0, Some(Refusal::Kicked)),
            (rules(false, None, 1), g1, None),
            // One-time: unbound plays; bound plays only for its session.
            (rules(true, None, 1), g1, None),
            (rules(true, Some(g1), 1), g1, None),
            (rules(true, Some(g1), 1), other_g1, Some(Refusal::Taken)),
            // A binding of a link that is no longer one-time binds nothing.
            (rules(false, Some(g1), 1), other_g1, None),
            // Kicked wins over taken.
            (rules(true, Some(g1), 2), g1, Some(Refusal::Kicked)),
        ];
        for (r, session, want) in cases {
            assert_eq!(r.refusal(session), want, "{r:?} {session:x}");
        }
    }

    #[test]
    fn generations_skip_zero_when_they_wrap() {
        assert_eq!(rules(false, None, 0).next_generation(), 1);
        assert_eq!(rules(false, None, 41).next_generation(), 42);
        assert_eq!(rules(false, None, u16::MAX).next_generation(), 1);
    }
}
