//! The change feed's receiving end. A thread of its own holds a PostgreSQL connection that
//! `LISTEN`s on [`CHANNEL`] and hands what it hears to a task that reloads the shared state
//! (notifications that come within a few ms make one reload), after every (re)connect, which
//! covers whatever was missed meanwhile, and every [`SAFETY_RELOAD_EVERY`].
//!
//! diesel's `notifications_iter` does not wait, so the thread asks every [`POLL`] (a read of
//! its socket) and checks the connection with `SELECT 1` every [`CHECK_EVERY`]; a lost
//! connection is dialled again with a back-off.

use super::{reload, Change, SAFETY_RELOAD_EVERY};
use crate::config::Secret;
use crate::store::postgres;
use crate::Shared;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The channel every gate notifies and listens on.
pub const CHANNEL: &str = "tempstream_changes";
/// How often the thread reads what arrived.
const POLL: Duration = Duration::from_millis(20);
/// How often the thread checks that its connection still answers.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long the task waits for more notifications before it reloads.
const COALESCE: Duration = Duration::from_millis(5);
/// Longest wait between two attempts to dial again.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What the thread tells the task.
enum Heard {
    /// Listening (again): whatever happened meanwhile is unknown, so everything is reloaded.
    Connected,
    /// Notifications.
    Changes(Vec<Change>),
}

/// Follows the other gates' changes through PostgreSQL at `url` until `shutdown`.
pub async fn follow(shared: Arc<Shared>, url: Secret, shutdown: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("linkd-listen".into())
        .spawn(move || listen(&url, &tx, &thread_stop));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the change feed's listener; reloading every 30 s only");
    }
    let mut safety = tokio::time::Instant::now() + SAFETY_RELOAD_EVERY;
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            h = rx.recv(), if !rx.is_closed() => match h {
                Some(h) => h,
                None => continue,
            },
            _ = tokio::time::sleep_until(safety) => Heard::Connected,
        };
        let (mut full, mut event) = (false, None);
        absorb(first, &mut full, &mut event);
        tokio::time::sleep(COALESCE).await;
        while let Ok(h) = rx.try_recv() {
            absorb(h, &mut full, &mut event);
        }
        if let Some(id) = event {
            shared.events.appended(id);
        }
        if full {
            let result = reload(&shared).await;
            shared.gates.store_used(result.is_ok(), shared.links.now());
            match result {
                Ok(()) => safety = tokio::time::Instant::now() + SAFETY_RELOAD_EVERY,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reload the shared state; trying again");
                    safety = tokio::time::Instant::now() + Duration::from_secs(1);
                }
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
}

/// Adds what `h` says to what the task will do: a full reload, or only waking botd's
/// readers for the newest event.
fn absorb(h: Heard, full: &mut bool, event: &mut Option<i64>) {
    match h {
        Heard::Connected => *full = true,
        Heard::Changes(changes) => {
            for c in changes {
                match c {
                    Change::Event(id) => *event = Some(event.map_or(id, |e| e.max(id))),
                    _ => *full = true,
                }
            }
        }
    }
}

/// The listener thread: dials, listens, reports, dials again when the connection is lost,
/// until `stop`.
fn listen(url: &Secret, tx: &mpsc::UnboundedSender<Heard>, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(50);
    let mut down = false;
    while !stop.load(Ordering::SeqCst) {
        let mut c = match connect(url) {
            Ok(c) => c,
            Err(e) => {
                if !down {
                    tracing::warn!(error = %e, "change feed: cannot listen; dialling again");
                    down = true;
                }
                nap(backoff, stop);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if down {
            tracing::info!("change feed: listening again; reloading what was missed");
        }
        backoff = Duration::from_millis(50);
        if tx.send(Heard::Connected).is_err() {
            return;
        }
        match hear(&mut c, tx, stop) {
            Ok(()) => return,
            Err(why) => {
                tracing::warn!(error = %postgres::scrub(&why, url), "change feed: connection lost; dialling again");
                down = true;
            }
        }
    }
}

/// A connection listening on [`CHANNEL`].
fn connect(url: &Secret) -> Result<PgConnection, String> {
    let mut c = postgres::dial(url).map_err(|e| e.to_string())?;
    c.batch_execute(&format!("LISTEN {CHANNEL}"))
        .map_err(|e| postgres::scrub(&e.to_string(), url))?;
    Ok(c)
}

/// Reports notifications until `stop` (`Ok`) or the connection fails (why).
fn hear(
    c: &mut PgConnection,
    tx: &mpsc::UnboundedSender<Heard>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut checked = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let mut changes = Vec::new();
        for n in c.notifications_iter() {
            let n = n.map_err(|e| e.to_string())?;
            // A payload of another version: reload everything.
            changes.push(Change::parse(&n.payload).unwrap_or(Change::Links));
        }
        if !changes.is_empty() && tx.send(Heard::Changes(changes)).is_err() {
            return Ok(());
        }
        if checked.elapsed() >= CHECK_EVERY {
            c.batch_execute("SELECT 1").map_err(|e| e.to_string())?;
            checked = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// Sleeps `d`, waking early when `stop` is set.
fn nap(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(POLL);
    }
}
