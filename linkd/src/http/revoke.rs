//! Ends `/play` answers whose link ends while they are under way. A request still waiting
//! (a blocking playlist reload, a slow origin) is answered 403 the moment its link is switched
//! off or expires; a body being sent stops there: linkd hands the connection no further byte,
//! and with a known length the client sees the answer cut short.
//!
//! An answer still awaited looks at its link in the link table (memory) every [`LOOK_EVERY`]
//! and exactly at the link's expiry; an answer ready at once costs no timer. Its body, in
//! memory, is handed out in [`PIECE`]s, and the link is looked at again before each, so not
//! one piece leaves after the link ended. The gate's own look counts for the first piece of
//! an answer ready at once (it was taken in the same poll), so a one-piece answer from the
//! cache is handed out as it is. Only this viewer's answer ends: a fetch shared with viewers
//! of other links goes on for them (see `cache`).

use super::memo::Memo;
use super::play::{self, Gate};
use super::{Answer, Body, Web};
use crate::cache::{self, Begun};
use crate::Shared;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use proto::LinkState;
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
pub fn play(web: &Arc<Web>, shared: &Arc<Shared>, req: Request<Incoming>, memo: &Memo) -> Answer {
    let session = match play::gate(web, shared, req.headers(), memo) {
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
                cut(shared, one.link_id(), answer)
            }))
        }
        Begun::Wait(waiting) => Answer::Later(Box::pin(awaited(
            web.clone(),
            shared.clone(),
            one,
            waiting,
            req,
        ))),
    }
}

/// The answer of request `one` from the fetch it waits for, or its link's 403 if the link
/// ends first.
async fn awaited(
    web: Arc<Web>,
    shared: Arc<Shared>,
    one: play::Request,
    waiting: cache::Waiting,
    req: Request<Incoming>,
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
    cut(&shared, link_id, answer)
}

/// `answer` with a body that ends when link `link_id` does.
fn cut(shared: &Arc<Shared>, link_id: i64, answer: Response<Bytes>) -> Response<Body> {
    let (parts, body) = answer.into_parts();
    let shared = shared.clone();
    let plays = move || matches!(look(&shared, link_id), Some((LinkState::Active, _)));
    Response::from_parts(parts, Cut::new(body, plays, link_id).boxed())
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
/// whether the link still plays and is asked before each piece.
struct Cut<P> {
    rest: Bytes,
    plays: P,
    cut: bool,
    link_id: i64,
}

impl<P: Fn() -> bool> Cut<P> {
    fn new(body: Bytes, plays: P, link_id: i64) -> Cut<P> {
        Cut {
            rest: body,
            plays,
            cut: false,
            link_id,
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
            tracing::debug!(
                link_id = this.link_id,
                "link ended while its answer was sent"
            );
            return Poll::Ready(None);
        }
        let n = this.rest.len().min(PIECE);
        Poll::Ready(Some(Ok(Frame::data(this.rest.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    #[tokio::test]
    async fn bodies_keep_their_length_and_come_in_pieces() {
        let mut b = Cut::new(Bytes::from(vec![7u8; PIECE * 2 + 5]), || true, 1);
        assert_eq!(b.size_hint().exact(), Some((PIECE * 2 + 5) as u64));
        let mut sizes = Vec::new();
        while let Some(f) = b.frame().await {
            sizes.push(f.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [PIECE, PIECE, 5]);
        assert!(b.is_end_stream());
    }

    #[tokio::test]
    async fn each_piece_asks_whether_the_link_still_plays() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let playing = Arc::new(AtomicBool::new(true));
        let p = playing.clone();
        let mut b = Cut::new(
            Bytes::from(vec![7u8; PIECE * 4]),
            move || p.load(Ordering::SeqCst),
            1,
        );
        assert!(b.frame().await.is_some());
        playing.store(false, Ordering::SeqCst);
        assert!(b.frame().await.is_none(), "the next piece is not sent");
        assert!(b.is_end_stream());
        assert_eq!(b.size_hint().exact(), Some(0));
    }

    /// A body asks before its first piece too: an answer whose link ended between the
    /// fetch and the first write sends nothing.
    #[tokio::test]
    async fn a_link_ended_before_the_first_piece_sends_nothing() {
        let mut b = Cut::new(Bytes::from_static(b"segment"), || false, 1);
        assert!(b.frame().await.is_none());
    }
}
