//! Large cached bodies sent without copying them into the socket.
//!
//! A body of [`MIN_LEN`] to [`MAX_LEN`] bytes is kept in a sealed memory file (`memfd`) mapped
//! read-only ([`file_backed`]); the `Bytes` hyper gets are slices of that mapping. The
//! connection's writer ([`ZeroCopy`]) recognises a buffer that lies in such a mapping and
//! hands it to the kernel with `sendfile(2)` from the memory file, so the kernel references
//! the file's pages instead of copying the body into socket buffers: what nginx does with
//! files on disk. Everything else is written as usual (`writev`).
//!
//! Safety of the pages: the file is sealed against writes, shrinking and growing before it is
//! mapped, so nothing can change bytes the kernel still holds for a send; the kernel keeps
//! its own reference to each page until the data left, whatever happens to the mapping. A
//! buffer is only looked up while hyper holds the `Bytes` it comes from, so its mapping
//! cannot be dropped during the lookup and the `sendfile` that follows.

use super::conns::Reset;
use crate::sync::{read, write};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, RwLock};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Bodies at least this long are kept in a memory file; smaller ones cost less to copy than
/// the extra system call.
pub const MIN_LEN: usize = 16 * 1024;

/// Bodies longer than this stay on the heap: a memory file per body of any size a stream
/// has (parts, segments of several seconds) is fine, while one far larger than a segment
/// would keep its descriptor and mapping for little gain (the cache's byte budget bounds
/// them all anyway).
pub const MAX_LEN: usize = 8 << 20;

/// Most memory files at once (each holds a file descriptor): past it, bodies stay on the
/// heap, so an origin with many large files cannot use up the descriptors connections need.
pub const MAX_FILES: usize = 1024;

/// Bytes sent with `sendfile` since start (the `/metrics` figure).
static SENT: AtomicU64 = AtomicU64::new(0);

/// Bytes sent from memory files without a copy since linkd started.
pub fn sent_bytes() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// The memory files' mappings by start address: (length, file).
static MAPPINGS: LazyLock<RwLock<BTreeMap<usize, (usize, RawFd)>>> =
    LazyLock::new(|| RwLock::new(BTreeMap::new()));

/// A sealed memory file mapped read-only; dropping it unmaps and closes it.
struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is read-only and never changes after it is made; its address is only
// read (as a slice) and unmapped once, in `drop`.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared references only ever read the mapped bytes.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `addr` is a live read-only mapping of exactly `len` bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        write(&MAPPINGS).remove(&(self.addr as usize));
        // SAFETY: unmaps the mapping made in `map`, once; no slice of it outlives `self`
        // (every `Bytes` of it holds `self`).
        unsafe {
            libc::munmap(self.addr, self.len);
        }
    }
}

/// `body` kept in a sealed memory file if it is [`MIN_LEN`] to [`MAX_LEN`] long (the same
/// bytes, sent with `sendfile` by [`ZeroCopy`]); `body` itself otherwise or if the system
/// refuses.
pub fn file_backed(body: Bytes) -> Bytes {
    file_backed_within(body, MAX_FILES)
}

/// [`file_backed`] with at most `max_files` memory files at once.
fn file_backed_within(body: Bytes, max_files: usize) -> Bytes {
    if body.len() < MIN_LEN || body.len() > MAX_LEN || read(&MAPPINGS).len() >= max_files {
        return body;
    }
    match map(&body) {
        Ok(m) => {
            let m = Bytes::from_owner(m);
            debug_assert_eq!(m, body);
            m
        }
        Err(e) => {
            tracing::debug!(error = %e, "body kept on the heap");
            body
        }
    }
}

fn map(body: &[u8]) -> io::Result<Mapping> {
    let name = c"linkd-body";
    // SAFETY: a plain system call with a valid C string; the result is checked.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    io::Write::write_all(&mut file, body)?;
    let fd = OwnedFd::from(file);
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on a file descriptor we own; the result is checked.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: maps `body.len()` bytes of our own sealed file read-only; checked below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            body.len(),
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let m = Mapping {
        addr,
        len: body.len(),
        fd,
    };
    write(&MAPPINGS).insert(addr as usize, (m.len, m.fd.as_raw_fd()));
    Ok(m)
}

/// The memory file and offset of `buf`, if it lies wholly in one mapping.
fn find(buf: &[u8]) -> Option<(RawFd, usize)> {
    let at = buf.as_ptr() as usize;
    let map = read(&MAPPINGS);
    let (&start, &(len, fd)) = map.range(..=at).next_back()?;
    (at + buf.len() <= start + len).then_some((fd, at - start))
}

/// A TCP connection whose writes of memory-file buffers go out with `sendfile`.
///
/// While an answer with such a buffer is written the socket is corked (`TCP_CORK`, nginx's
/// `tcp_nopush`), and uncorked when hyper flushes the answer: the head and the body leave in
/// full-sized packets. Without it each page run that `sendfile` moves is pushed as a packet
/// of its own (the socket is `TCP_NODELAY`), which costs more per byte than the copy it saves.
///
/// Dropped after [`Reset::ask`], it closes the socket with a reset.
pub struct ZeroCopy {
    io: TcpStream,
    corked: bool,
    reset: Reset,
}

impl ZeroCopy {
    /// Wraps `io`; `reset` is the connection's.
    pub fn new(io: TcpStream, reset: Reset) -> ZeroCopy {
        ZeroCopy {
            io,
            corked: false,
            reset,
        }
    }

    /// Corks or uncorks the socket (a failure only costs packet sizes).
    fn cork(&mut self, on: bool) {
        if self.corked == on {
            return;
        }
        let v: libc::c_int = on.into();
        set_option(&self.io, libc::IPPROTO_TCP, libc::TCP_CORK, &v);
        self.corked = on;
    }

    /// Sends up to `len` bytes of memory file `fd` from `offset`.
    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        fd: RawFd,
        offset: usize,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.io.poll_write_ready(cx))?;
            let sent = self.io.try_io(Interest::WRITABLE, || {
                let mut off = offset as libc::off_t;
                // SAFETY: both descriptors are open (the socket is ours, the file belongs to
                // a mapping that the caller's buffer keeps alive); `off` is a valid pointer.
                let n = unsafe { libc::sendfile(self.io.as_raw_fd(), fd, &mut off, len) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    SENT.fetch_add(n as u64, Ordering::Relaxed);
                    Ok(n as usize)
                }
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }
}

/// Reads go straight to the socket.
impl Drop for ZeroCopy {
    fn drop(&mut self) {
        if self.reset.asked() {
            // Linger on, for no time: the close that follows sends a reset and drops the
            // send queue (a failure leaves an ordinary close).
            let now = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            set_option(&self.io, libc::SOL_SOCKET, libc::SO_LINGER, &now);
        }
    }
}

/// Sets socket option `name` at `level` of `io` to `value` (best effort).
fn set_option<T>(io: &TcpStream, level: libc::c_int, name: libc::c_int, value: &T) {
    // SAFETY: setsockopt on a socket we own, with a pointer to a live value of its size.
    unsafe {
        libc::setsockopt(
            io.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        );
    }
}

impl AsyncRead for ZeroCopy {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        into: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let socket = &mut self.get_mut().io;
        Pin::new(socket).poll_read(cx, into)
    }
}

impl AsyncWrite for ZeroCopy {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match (buf.len() >= MIN_LEN).then(|| find(buf)).flatten() {
            Some((fd, offset)) => {
                self.cork(true);
                self.poll_sendfile(cx, fd, offset, buf.len())
            }
            None => Pin::new(&mut self.io).poll_write(cx, buf),
        }
    }

    /// Writes the buffers before the first memory-file buffer with `writev`, or that buffer
    /// with `sendfile`; hyper calls again for the rest.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .position(|b| b.len() >= MIN_LEN && find(b).is_some());
        if first.is_some() {
            self.cork(true);
        }
        match first {
            Some(0) => {
                let (fd, offset) = find(&bufs[0]).expect("found above");
                self.poll_sendfile(cx, fd, offset, bufs[0].len())
            }
            Some(i) => Pin::new(&mut self.io).poll_write_vectored(cx, &bufs[..i]),
            None => Pin::new(&mut self.io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// hyper flushes once an answer's buffers are all written: the corked tail leaves now.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.cork(false);
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pattern(n: usize) -> Bytes {
        (0..n)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>()
            .into()
    }

    fn corked(s: &TcpStream) -> bool {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt on a live socket into a live int of the given size.
        let r = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        v != 0
    }

    /// A connection closed after [`Reset::ask`] drops what the kernel still holds for the
    /// client; closed without it, everything written arrives.
    #[tokio::test]
    async fn an_asked_reset_drops_what_is_still_queued() {
        for ask in [false, true] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = tokio::net::TcpSocket::new_v4().unwrap();
            client.set_recv_buffer_size(64 * 1024).unwrap();
            let mut c = client
                .connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (s, _) = listener.accept().await.unwrap();
            let reset = Reset::default();
            let io = ZeroCopy::new(s, reset.clone());
            // The client reads nothing yet: fill its buffer and the sender's.
            let mut written = 0;
            while let Ok(n) = io.io.try_write(&[b'x'; 64 * 1024]) {
                written += n;
            }
            if ask {
                reset.ask();
            }
            drop(io);
            let mut got = 0;
            let mut buf = vec![0u8; 64 * 1024];
            let ended = loop {
                match c.read(&mut buf).await {
                    Ok(0) => break Ok(()),
                    Ok(n) => got += n,
                    Err(e) => break Err(e.kind()),
                }
            };
            if ask {
                assert!(
                    got < written,
                    "{got} of {written} bytes arrived after a reset"
                );
                assert_eq!(ended, Err(io::ErrorKind::ConnectionReset));
            } else {
                assert_eq!((got, ended), (written, Ok(())));
            }
        }
    }

    /// An answer with a memory-file body is written corked and leaves when hyper flushes;
    /// an answer without one is never corked (no extra system calls for it).
    #[tokio::test]
    async fn memory_file_answers_are_corked_until_flushed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).await.unwrap();
            got
        });
        let (s, _) = listener.accept().await.unwrap();
        let mut io = ZeroCopy::new(s, Reset::default());
        io.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert!(!corked(&io.io), "a heap buffer does not cork");
        let body = Bytes::from_owner(map(&pattern(MIN_LEN * 2)).unwrap());
        let slices = [IoSlice::new(b"head"), IoSlice::new(&body)];
        let n = io.write_vectored(&slices).await.unwrap();
        assert!(n > 0);
        assert!(corked(&io.io), "a memory-file answer is written corked");
        io.flush().await.unwrap();
        assert!(!corked(&io.io), "flushing uncorks");
        drop(io);
        assert!(!client.await.unwrap().is_empty());
    }

    #[test]
    fn large_bodies_live_in_a_memory_file_small_ones_stay() {
        let small = pattern(MIN_LEN - 1);
        assert!(find(&file_backed(small.clone())).is_none());
        assert!(find(&file_backed(pattern(MAX_LEN + 1))).is_none());
        let big = pattern(MIN_LEN * 3 + 5);
        let mapped = file_backed(big.clone());
        assert_eq!(mapped, big);
        let part = mapped.slice(100..MIN_LEN * 2);
        let (_, offset) = find(&part).expect("a slice of the mapping is found");
        assert_eq!(offset, 100);
        let start = mapped.as_ptr() as usize;
        drop((mapped, part));
        assert!(
            !read(&MAPPINGS).contains_key(&start),
            "dropped mappings are forgotten"
        );
    }

    /// Headers from the heap and bodies from memory files, over a real loopback connection
    /// whose socket buffer fills (so `sendfile` sends in several calls and waits).
    #[tokio::test]
    async fn mixed_buffers_arrive_whole_and_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = Bytes::from_owner(map(&pattern(4 << 20)).unwrap());
        let head = Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n");
        let expected = [head.clone(), body.clone(), head.clone()].concat();
        let sender = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut io = ZeroCopy::new(s, Reset::default());
            let mut parts = vec![head.clone(), body.slice(..), head];
            while !parts.is_empty() {
                let slices: Vec<IoSlice<'_>> = parts.iter().map(|b| IoSlice::new(b)).collect();
                let mut n = io.write_vectored(&slices).await.unwrap();
                while n > 0 {
                    let take = n.min(parts[0].len());
                    let _ = parts[0].split_to(take);
                    n -= take;
                    if parts[0].is_empty() {
                        parts.remove(0);
                    }
                }
            }
            io.shutdown().await.unwrap();
        });
        let before = sent_bytes();
        let mut got = Vec::new();
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.read_to_end(&mut got).await.unwrap();
        sender.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes arrive as they were");
        assert!(
            sent_bytes() - before >= 4 << 20,
            "the body went out with sendfile"
        );
    }
}
