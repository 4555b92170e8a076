//! hyper's timer for one connection: the header read timeout (slowloris bound, and the end of
//! an idle keep-alive connection) on one tokio timer entry that the connection keeps.
//!
//! hyper asks for a new sleep at the start of every request head and drops it once the head
//! is read. With tokio's timer behind each, every request put an entry into the timer wheel
//! and took it out again: a measurable part of a small answer's cost. Here every sleep of a
//! connection waits on the connection's one entry, which is moved only when a deadline falls
//! outside the [`GRAIN`] after it: a busy connection moves it about once per [`GRAIN`], not
//! once per request. A deadline is met within [`GRAIN`] (late, never early).

use crate::sync::lock;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How late a deadline may be met (plus the timer wheel's millisecond); the shared entry
/// moves at most once per this much time.
pub const GRAIN: Duration = Duration::from_secs(1);

/// The timer of one connection (see the module docs).
#[derive(Clone)]
pub struct ConnTimer(Arc<Mutex<Entry>>);

/// The connection's tokio timer entry and the instant it is set to.
struct Entry {
    sleep: Pin<Box<tokio::time::Sleep>>,
    at: Instant,
}

impl ConnTimer {
    /// A timer for a new connection; its entry is set when a sleep is first polled.
    pub fn new() -> ConnTimer {
        let at = now() + GRAIN;
        let sleep = Box::pin(tokio::time::sleep_until(at.into()));
        ConnTimer(Arc::new(Mutex::new(Entry { sleep, at })))
    }
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(now() + duration)
    }

    fn now(&self) -> Instant {
        now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Wait {
            deadline,
            entry: self.0.clone(),
        })
    }
}

/// Now on tokio's clock (the system's monotonic clock; a paused clock in tests).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One sleep of a connection: done once its deadline has passed.
struct Wait {
    deadline: Instant,
    entry: Arc<Mutex<Entry>>,
}

impl Future for Wait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let mut e = lock(&self.entry);
        // Keep the entry within [deadline, deadline + GRAIN]: it then fires after the
        // deadline and not long after it.
        if e.at < deadline || e.at > deadline + GRAIN {
            let at = deadline + GRAIN;
            e.sleep.as_mut().reset(at.into());
            e.at = at;
        }
        match e.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl hyper::rt::Sleep for Wait {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer as _;

    /// The latest a sleep of `d` may end: [`GRAIN`] late, and the wheel rounds up to its
    /// next millisecond.
    fn latest(d: Duration) -> Duration {
        d + GRAIN + Duration::from_millis(5)
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_after_its_deadline_within_the_grain() {
        let t = ConnTimer::new();
        let start = tokio::time::Instant::now();
        t.sleep(Duration::from_secs(30)).await;
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(30) && took <= latest(Duration::from_secs(30)),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_of_one_connection_share_the_entry_and_keep_their_own_deadlines() {
        let t = ConnTimer::new();
        let start = tokio::time::Instant::now();
        // A later sleep moves the entry: an earlier one dropped before it does not matter.
        drop(t.sleep(Duration::from_secs(5)));
        t.sleep(Duration::from_secs(10)).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_secs(10), "{took:?}");
        assert!(took <= latest(Duration::from_secs(10)), "{took:?}");
        // A sleep polled and given up leaves the entry far ahead: a nearer deadline brings it
        // back.
        let long = tokio::time::timeout(Duration::from_millis(1), t.sleep(Duration::from_secs(30)));
        assert!(long.await.is_err());
        let near = tokio::time::Instant::now();
        t.sleep(Duration::from_secs(5)).await;
        assert!(
            near.elapsed() <= latest(Duration::from_secs(5)),
            "{:?}",
            near.elapsed()
        );
        // After it fired, a new deadline sets it again.
        let again = tokio::time::Instant::now();
        t.sleep(Duration::from_secs(3)).await;
        let took = again.elapsed();
        assert!(took >= Duration::from_secs(3) && took <= latest(Duration::from_secs(3)));
    }
}
