//! Ends `/play` answers whose link ends while they are under way. A request still waiting
//! (a blocking playlist reload, a slow origin) is answered 403 the moment its link is switched
//! off or expires; a body being sent stops there: linkd hands the connection no further byte,
//! with a known length the client sees the answer cut short, and the connection ends with a
//! reset, so what the kernel still held for the client is dropped rather than delivered.
//!
//! An answer still awaited looks at its link in the link table (memory) every [`LOOK_EVERY`]
//! and exactly at the link's expiry; an answer ready at once costs no timer. Its body, in
//! memory, is handed out in [`PIECE`]s, and the link is looked at again before each, so not
//! one piece leaves after the link ended. The gate's own look counts for the first piece of
//! an answer ready at once (it was taken in the same poll), so a one-piece answer from the
//! cache is handed out as it is. Only this viewer's answer ends: a fetch shared with viewers
//! of other links goes on for them (see `cache`).

use super::conns::Reset;
use super::play::{self, Gate};
use super::{Answer, Body, Conn, Web};
use crate::cache::{self, Begun};
use crate::Shared;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use proto::LinkState;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Bodies are handed to the connection in pieces of at most this size, so that a cut takes
/// effect between pieces rather than after a whole large body. A typical segment (up to
/// 256 KiB) is one piece.
pub const PIECE: usize = 256 * 1024;

/// How often an answer under way looks at its link (a read of the in-memory table).
pub const LOOK_EVERY: Duration = Duration::from_millis(200);

/// Resolves once link `link_id` is no longer active: switched off, expired or deleted.
pub async fn link_ended(shared: &Shared, link_id: i64) {
    loop {
        let wait = match look(shared, link_id) {
            Some((LinkState::Active, Some(at))) => shared.config.clock.until(at).min(LOOK_EVERY),
            Some((LinkState::Active, None)) => LOOK_EVERY,
            _ => return,
        };
        // At least a millisecond, so a timer that fires a hair early cannot spin.
        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
    }
}

/// `GET|HEAD /play/{path}`: the gate's answer, ended early if the link ends before or while
/// it is sent. Nearly every answer comes from memory at once; only a request that waits for
/// the origin gets a (boxed) future of its answer, so the common path never builds, moves or
/// keeps a large future.
pub fn play(web: &Arc<Web>, shared: &Arc<Shared>, req: Request<Incoming>, conn: &Conn) -> Answer {
    let session = match play::gate(web, shared, req.headers(), &conn.memo) {
        (Gate::Open(s), _) => s,
        (g, _) => return Answer::Ready(Some(play::refuse(web, g))),
    };
    let Some(one) = play::Request::start(shared, session, &req) else {
        return Answer::Ready(Some(play::not_a_stream_file()));
    };
    match one.fetch(web) {
        // From memory: no watch on the link, and the gate's look a moment ago stands for the
        // first piece.
        Begun::Now(outcome) => {
            let answer = one.answer(web, shared, outcome, &req);
            Answer::Ready(Some(if answer.body().len() <= PIECE {
                answer.map(super::full)
            } else {
                cut(shared, one.link_id(), answer, conn.reset.clone())
            }))
        }
        Begun::Wait(waiting) => Answer::Later(Box::pin(awaited(
            web.clone(),
            shared.clone(),
            one,
            waiting,
            (req, conn.reset.clone()),
        ))),
    }
}

/// The answer of request `one` (`req` on a connection with `reset`) from the fetch it waits
/// for, or its link's 403 if the link ends first.
async fn awaited(
    web: Arc<Web>,
    shared: Arc<Shared>,
    one: play::Request,
    waiting: cache::Waiting,
    (req, reset): (Request<Incoming>, Reset),
) -> Response<Body> {
    let link_id = one.link_id();
    let outcome = tokio::select! {
        biased;
        outcome = waiting.outcome() => outcome,
        () = link_ended(&shared, link_id) => {
            tracing::debug!(link_id, "link ended while its answer was awaited");
            return play::refuse(&web, gate_now(&shared, link_id));
        }
    };
    let answer = one.answer(&web, &shared, outcome, &req);
    cut(&shared, link_id, answer, reset)
}

/// `answer` with a body that ends when link `link_id` does, asking for the connection's
/// `reset` then.
fn cut(
    shared: &Arc<Shared>,
    link_id: i64,
    answer: Response<Bytes>,
    reset: Reset,
) -> Response<Body> {
    let (parts, body) = answer.into_parts();
    let shared = shared.clone();
    let plays = move || matches!(look(&shared, link_id), Some((LinkState::Active, _)));
    Response::from_parts(parts, Cut::new(body, plays, link_id, reset).boxed())
}

/// Link `link_id`'s state now and its expiry; `None` once it is deleted.
fn look(shared: &Shared, link_id: i64) -> Option<(LinkState, Option<i64>)> {
    let now = shared.links.now();
    shared
        .links
        .with_entry(link_id, |e| (e.state(now), e.expires_at))
}

/// Why link `link_id` no longer plays.
fn gate_now(shared: &Shared, link_id: i64) -> Gate {
    match look(shared, link_id) {
        Some((LinkState::Expired, _)) => Gate::Expired,
        Some((LinkState::Disabled, _)) => Gate::Disabled,
        _ => Gate::Invalid,
    }
}

/// A body in memory that ends when its link does, handed out in [`PIECE`]s; `plays` tells
/// whether the link still plays and is asked before each piece. While pieces are left it
/// tells the connection's `reset` which link it is sent for ([`Cutoff`] looks at that link
/// while the connection waits to write); a cut asks for the reset.
struct Cut<P> {
    rest: Bytes,
    plays: P,
    cut: bool,
    link_id: i64,
    reset: Reset,
}

impl<P: Fn() -> bool> Cut<P> {
    fn new(body: Bytes, plays: P, link_id: i64, reset: Reset) -> Cut<P> {
        Cut {
            rest: body,
            plays,
            cut: false,
            link_id,
            reset,
        }
    }
}

impl<P: Fn() -> bool + Unpin> hyper::body::Body for Cut<P> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if this.cut || this.rest.is_empty() {
            return Poll::Ready(None);
        }
        if !(this.plays)() {
            // Ending short of the announced length makes hyper close the connection, so the
            // client sees a broken answer rather than a complete one.
            this.cut = true;
            this.rest = Bytes::new();
            this.reset.ask();
            this.reset.sending(None);
            tracing::debug!(
                link_id = this.link_id,
                "link ended while its answer was sent"
            );
            return Poll::Ready(None);
        }
        let n = this.rest.len().min(PIECE);
        let piece = this.rest.split_to(n);
        if !this.rest.is_empty() {
            this.reset.sending(Some(this.link_id));
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

impl<P> Drop for Cut<P> {
    fn drop(&mut self) {
        if self.reset.sent_for() == Some(self.link_id) {
            self.reset.sending(None);
        }
    }
}

/// Watches, for a connection whose writes wait for the client, the link of the answer it is
/// sending in pieces: hyper asks a [`Cut`] body for its next piece only once the last one is
/// written, and a slow viewer's socket buffers hold megabytes, so without this a viewer that
/// reads slowly would be sent what was queued long after its link ended. The connection's
/// writer (`conns::SendTimeout`) asks while a write waits, never otherwise.
pub struct Cutoff {
    reset: Reset,
    shared: Arc<Shared>,
    every: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Cutoff {
    /// The watch of a connection with `reset` (its [`Cut`] bodies' too).
    pub fn new(reset: Reset, shared: Arc<Shared>) -> Cutoff {
        Cutoff {
            reset,
            shared,
            every: None,
        }
    }

    /// Whether the link of the answer under way has ended (looked at every [`LOOK_EVERY`] while
    /// there is one); then the connection must end, and the reset is asked for.
    pub fn poll_ended(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(link_id) = self.reset.sent_for() else {
            self.every = None;
            return false;
        };
        let timer = self
            .every
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(LOOK_EVERY)));
        while timer.as_mut().poll(cx).is_ready() {
            if !matches!(look(&self.shared, link_id), Some((LinkState::Active, _))) {
                tracing::debug!(link_id, "link ended while its answer waited for the client");
                self.reset.ask();
                return true;
            }
            timer
                .as_mut()
                .reset(tokio::time::Instant::now() + LOOK_EVERY);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    #[tokio::test]
    async fn bodies_keep_their_length_and_come_in_pieces() {
        let reset = Reset::default();
        let mut b = Cut::new(
            Bytes::from(vec![7u8; PIECE * 2 + 5]),
            || true,
            1,
            reset.clone(),
        );
        assert_eq!(b.size_hint().exact(), Some((PIECE * 2 + 5) as u64));
        let mut sizes = Vec::new();
        while let Some(f) = b.frame().await {
            sizes.push(f.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [PIECE, PIECE, 5]);
        assert!(b.is_end_stream());
        assert!(!reset.asked(), "a whole answer keeps its connection");
    }

    #[tokio::test]
    async fn each_piece_asks_whether_the_link_still_plays() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let playing = Arc::new(AtomicBool::new(true));
        let p = playing.clone();
        let reset = Reset::default();
        let mut b = Cut::new(
            Bytes::from(vec![7u8; PIECE * 4]),
            move || p.load(Ordering::SeqCst),
            1,
            reset.clone(),
        );
        assert!(b.frame().await.is_some());
        assert!(!reset.asked());
        playing.store(false, Ordering::SeqCst);
        assert!(b.frame().await.is_none(), "the next piece is not sent");
        assert!(reset.asked(), "a cut answer's connection ends with a reset");
        assert!(b.is_end_stream());
        assert_eq!(b.size_hint().exact(), Some(0));
    }

    /// A body asks before its first piece too: an answer whose link ended between the
    /// fetch and the first write sends nothing.
    #[tokio::test]
    async fn a_link_ended_before_the_first_piece_sends_nothing() {
        let mut b = Cut::new(
            Bytes::from_static(b"segment"),
            || false,
            1,
            Reset::default(),
        );
        assert!(b.frame().await.is_none());
    }
}
