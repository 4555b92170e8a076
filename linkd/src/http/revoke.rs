//! Ends `/play` answers whose link ends while they are under way. A request still waiting
//! (a blocking playlist reload, a slow origin) is answered 403 the moment its link is switched
//! off or expires; a body being sent stops there: linkd hands the connection no further byte,
//! and with a known length the client sees the answer cut short.
//!
//! An answer still awaited looks at its link in the link table (memory) every [`LOOK_EVERY`]
//! and exactly at the link's expiry; a body being sent looks again before each [`PIECE`] it
//! hands out, so not one piece leaves after the link ended. Only this viewer's answer ends: a
//! fetch shared with viewers of other links goes on for them (see `cache`).

use super::play::{self, Gate};
use super::{Body, Web};
use crate::Shared;
use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use proto::LinkState;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Bodies are handed to the connection in pieces of at most this size, so that a cut takes
/// effect between pieces rather than after a whole large body. A typical segment (up to
/// 256 KiB) is one piece: smaller pieces cost a write each (BENCHMARKS.md).
pub const PIECE: usize = 256 * 1024;

/// How often an answer under way looks at its link (a read of the in-memory table).
pub const LOOK_EVERY: Duration = Duration::from_millis(200);

/// Resolves once link `link_id` is no longer active: switched off, expired or deleted.
pub async fn link_ended(shared: Arc<Shared>, link_id: i64) {
    loop {
        let wait = match look(&shared, link_id) {
            Some((LinkState::Active, Some(at))) => shared.config.clock.until(at).min(LOOK_EVERY),
            Some((LinkState::Active, None)) => LOOK_EVERY,
            _ => return,
        };
        // At least a millisecond, so a timer that fires a hair early cannot spin.
        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
    }
}

/// `GET|HEAD /play/{path}`: the gate's answer, ended early if the link ends before or while
/// it is sent.
pub async fn play(web: &Web, shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let session = match play::gate(web, shared, req.headers()) {
        (Gate::Open(s), _) => s,
        (g, _) => return play::refuse(web, g),
    };
    let link_id = session.link_id;
    let mut ended: Pin<Box<dyn Future<Output = ()> + Send>> =
        Box::pin(link_ended(shared.clone(), link_id));
    let answer = tokio::select! {
        biased;
        r = play::play(web, shared, session, req) => r,
        () = &mut ended => {
            tracing::debug!(link_id, "link ended while its answer was awaited");
            return play::refuse(web, gate_now(shared, link_id));
        }
    };
    let (parts, body) = answer.into_parts();
    let shared = shared.clone();
    let plays = Box::new(move || matches!(look(&shared, link_id), Some((LinkState::Active, _))));
    Response::from_parts(parts, Cut::new(body, ended, plays, link_id).boxed())
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

/// A response body that ends when its link does, handed out in [`PIECE`]s.
struct Cut {
    inner: Body,
    /// The rest of the inner body's current data frame.
    rest: Bytes,
    /// The link's end; a `Mutex` only to make the body `Sync` (it is never contended).
    ended: Mutex<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Whether the link still plays, asked before each piece.
    plays: Box<dyn Fn() -> bool + Send + Sync>,
    cut: bool,
    link_id: i64,
}

impl Cut {
    fn new(
        inner: Body,
        ended: Pin<Box<dyn Future<Output = ()> + Send>>,
        plays: Box<dyn Fn() -> bool + Send + Sync>,
        link_id: i64,
    ) -> Cut {
        Cut {
            inner,
            rest: Bytes::new(),
            ended: Mutex::new(ended),
            plays,
            cut: false,
            link_id,
        }
    }

    /// Ends the body here. Ending short of the announced length makes hyper close the
    /// connection, so the client sees a broken answer rather than a complete one.
    fn end(&mut self) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.cut = true;
        self.rest = Bytes::new();
        tracing::debug!(
            link_id = self.link_id,
            "link ended while its answer was sent"
        );
        Poll::Ready(None)
    }

    fn piece(&mut self) -> Frame<Bytes> {
        let n = self.rest.len().min(PIECE);
        Frame::data(self.rest.split_to(n))
    }
}

impl hyper::body::Body for Cut {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if this.cut {
            return Poll::Ready(None);
        }
        if !(this.plays)() {
            return this.end();
        }
        if this.rest.has_remaining() {
            return Poll::Ready(Some(Ok(this.piece())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    this.rest = data;
                    Poll::Ready(Some(Ok(this.piece())))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            // Waiting for more of the body: be woken if the link ends first. A body already
            // in memory never gets here, so it costs no timer.
            Poll::Pending => {
                let ended = this.ended.get_mut().unwrap_or_else(|p| p.into_inner());
                if ended.as_mut().poll(cx).is_ready() {
                    return this.end();
                }
                Poll::Pending
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.cut || (self.rest.is_empty() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.cut {
            return SizeHint::with_exact(0);
        }
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut h = SizeHint::new();
        h.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            h.set_upper(upper + rest);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Body as _;

    fn whole(n: usize) -> Body {
        Full::new(Bytes::from(vec![7u8; n]))
            .map_err(|never| match never {})
            .boxed()
    }

    #[tokio::test]
    async fn bodies_keep_their_length_and_come_in_pieces() {
        let never: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(std::future::pending());
        let mut b = Cut::new(whole(PIECE * 2 + 5), never, Box::new(|| true), 1);
        assert_eq!(b.size_hint().exact(), Some((PIECE * 2 + 5) as u64));
        let mut sizes = Vec::new();
        while let Some(f) = b.frame().await {
            sizes.push(f.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [PIECE, PIECE, 5]);
    }

    /// A body still waiting for its next piece (streamed from the origin) ends when its
    /// link does, without waiting for that piece.
    #[tokio::test]
    async fn a_waiting_body_ends_where_its_link_does() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let ended: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let _ = rx.await;
        });
        let first = futures::stream::iter([Ok::<_, hyper::Error>(Frame::data(Bytes::from(vec![
                7u8;
                10
            ])))]);
        let streamed = http_body_util::StreamBody::new(first.chain(futures::stream::pending()));
        let mut b = Cut::new(BodyExt::boxed(streamed), ended, Box::new(|| true), 1);
        assert!(b.frame().await.is_some());
        tx.send(()).unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), b.frame()).await;
        assert!(
            next.expect("the end wakes the body").is_none(),
            "no byte after the end"
        );
        assert!(b.is_end_stream());
    }

    #[tokio::test]
    async fn each_piece_asks_whether_the_link_still_plays() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let playing = Arc::new(AtomicBool::new(true));
        let p = playing.clone();
        let never: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(std::future::pending());
        let plays = Box::new(move || p.load(Ordering::SeqCst));
        let mut b = Cut::new(whole(PIECE * 4), never, plays, 1);
        assert!(b.frame().await.is_some());
        playing.store(false, Ordering::SeqCst);
        assert!(b.frame().await.is_none(), "the next piece is not sent");
    }
}
