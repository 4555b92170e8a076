//! Connection limits: at most `HTTP_MAX_CONNECTIONS` open connections in all and
//! `HTTP_MAX_CONNECTIONS_PER_CLIENT` per client (an IPv4 address or an IPv6 /64; trusted
//! proxies are exempt, since all their clients arrive through them). A connection over a
//! limit gets a 503 and is closed. [`SendTimeout`] cuts a client that stops reading its
//! answers (`HTTP_SEND_TIMEOUT`, at most 60 s without progress). A connection whose answer
//! was cut short ends with a reset ([`Reset`]).

use super::peers::{client_key, TrustedProxies};
use super::revoke::Cutoff;
use crate::sync::lock;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `HTTP_MAX_CONNECTIONS` are open.
    Total,
    /// This client has `HTTP_MAX_CONNECTIONS_PER_CLIENT` open.
    Client,
}

/// What a connection's answers tell its task and its socket: the link whose answer is being
/// sent in pieces, and whether the connection must close with a reset (`SO_LINGER` 0, see
/// `zerocopy::ZeroCopy`) so that the kernel drops what it still holds for the client (up to a
/// send buffer, megabytes on a fast path) instead of delivering it after the link ended.
#[derive(Clone, Default)]
pub struct Reset(Arc<ResetState>);

#[derive(Default)]
struct ResetState {
    asked: AtomicBool,
    /// The link whose answer is being sent in pieces; 0 for none (link ids start at 1).
    sending: AtomicI64,
}

impl Reset {
    /// Asks for the reset.
    pub fn ask(&self) {
        self.0.asked.store(true, Ordering::Relaxed);
    }

    /// Whether the reset was asked for.
    pub fn asked(&self) -> bool {
        self.0.asked.load(Ordering::Relaxed)
    }

    /// An answer of link `link_id` is being sent in pieces (`None`: no longer).
    pub fn sending(&self, link_id: Option<i64>) {
        self.0
            .sending
            .store(link_id.unwrap_or(0), Ordering::Relaxed);
    }

    /// The link whose answer is being sent in pieces, if any.
    pub fn sent_for(&self) -> Option<i64> {
        match self.0.sending.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }
}

/// Open connections, in all and per client.
pub struct Conns {
    open: AtomicUsize,
    refused: [AtomicU64; 2],
    max: usize,
    max_per_client: u32,
    per_client: Mutex<HashMap<u128, u32>>,
    proxies: TrustedProxies,
}

/// One admitted connection; dropping it frees its place.
pub struct Permit {
    conns: Arc<Conns>,
    key: Option<u128>,
}

impl Conns {
    /// Limits of `max` connections in all and `max_per_client` per client not in `proxies`.
    pub fn new(max: usize, max_per_client: u32, proxies: TrustedProxies) -> Arc<Conns> {
        Arc::new(Conns {
            open: AtomicUsize::new(0),
            refused: [AtomicU64::new(0), AtomicU64::new(0)],
            max,
            max_per_client,
            per_client: Mutex::new(HashMap::new()),
            proxies,
        })
    }

    /// The limits of `config`.
    pub fn from_config(config: &crate::Config) -> Arc<Conns> {
        Conns::new(
            config.http_max_connections,
            config.http_max_connections_per_client,
            config.http_trusted_proxies.clone(),
        )
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused so far, over the total cap and over a client's cap.
    pub fn refused(&self) -> (u64, u64) {
        let [t, c] = &self.refused;
        (t.load(Ordering::Relaxed), c.load(Ordering::Relaxed))
    }

    /// A place for a new connection from `peer`, or why there is none.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, Refusal> {
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.refused[0].fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Total);
        }
        let mut permit = Permit {
            conns: self.clone(),
            key: None,
        };
        if !self.proxies.contains(peer) {
            let key = client_key(peer);
            let mut per = lock(&self.per_client);
            let n = per.entry(key).or_insert(0);
            if *n >= self.max_per_client {
                self.refused[1].fetch_add(1, Ordering::Relaxed);
                return Err(Refusal::Client);
            }
            *n += 1;
            permit.key = Some(key);
        }
        Ok(permit)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.conns.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.key {
            let mut per = lock(&self.conns.per_client);
            if let Some(n) = per.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    per.remove(&key);
                }
            }
        }
    }
}

/// Answers a refused connection with a 503 that says why, then closes it.
pub async fn refuse(mut stream: tokio::net::TcpStream, why: Refusal) {
    let body = match why {
        Refusal::Total => "linkd has as many connections open as it may; try again in a moment\n",
        Refusal::Client => "too many connections from your address; close some and try again\n",
    };
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         retry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let limit = Duration::from_secs(2);
    let send = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that closing does not reset the connection before
        // it has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(limit, send).await;
}

/// A connection whose writes fail once they have made no progress for `limit`: a client
/// that stops reading (or pipelines requests and never reads the answers) is cut. With a
/// [`Cutoff`], a write that waits also fails once the link of the answer under way ended.
pub struct SendTimeout<S> {
    io: S,
    limit: Duration,
    stall: Option<Pin<Box<Sleep>>>,
    stalled: bool,
    cutoff: Option<Cutoff>,
}

impl<S> SendTimeout<S> {
    /// Wraps `io`.
    pub fn new(io: S, limit: Duration, cutoff: Option<Cutoff>) -> Self {
        SendTimeout {
            io,
            limit,
            stall: None,
            stalled: false,
            cutoff,
        }
    }

    /// After a write made progress (`Ready`), forgets the stall; while it is `Pending`,
    /// fails it once `limit` has passed since it stopped, or once the link of the answer
    /// under way ended.
    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stalled = false;
            return r;
        }
        if self.cutoff.as_mut().is_some_and(|c| c.poll_ended(cx)) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the link of the answer under way ended",
            )));
        }
        let deadline = Instant::now() + self.limit;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.stalled {
            stall.as_mut().reset(deadline);
            self.stalled = true;
        }
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SendTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SendTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_shutdown(cx);
        self.watch(cx, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_client_with_proxies_exempt() {
        let conns = Conns::new(4, 2, TrustedProxies::parse("127.0.0.0/8").unwrap());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        let p1 = conns.admit(a).unwrap();
        let _p2 = conns.admit(same_64).unwrap();
        assert_eq!(conns.admit(a).err(), Some(Refusal::Client));
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let _p3 = conns.admit(proxy).unwrap();
        let _p4 = conns.admit(proxy).unwrap();
        assert_eq!(conns.admit(proxy).err(), Some(Refusal::Total));
        assert_eq!(conns.open(), 4);
        assert_eq!(conns.refused(), (1, 1));
        drop(p1);
        assert_eq!(conns.open(), 3);
        let _p5 = conns.admit(a).unwrap();
        assert_eq!(conns.open(), 4);
    }
}
