//! One connection's activity: the state its socket wrapper ([`Watched`]) and its service
//! report to, and the watchdog that closes it when a request head or an idle spell lasts too
//! long (see the module docs of `server`).

use super::HttpLimits;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Activity of one connection, shared by its socket wrapper, its service and its watchdog.
/// Times are microseconds since the connection was accepted: the pool orders connections of
/// one client by them, and connections a few hundred microseconds apart must not tie.
pub(super) struct ConnState {
    pub(super) start: Instant,
    pub(super) in_flight: AtomicUsize,
    pub(super) last_activity: AtomicU64,
    /// When the request head now being read started (accept, or the first byte read with no
    /// request running); [`NOT_READING`] while a request runs or the connection is idle.
    pub(super) head_started: AtomicU64,
    /// Set when the server answered before reading the whole body (413, 408): close with a
    /// linger (see [`Watched::poll_shutdown`]).
    pub(super) linger: AtomicBool,
    /// Cancelled when the pool took this connection's slot for a newcomer (see `pool`).
    pub(super) evicted: CancellationToken,
}

pub(super) const NOT_READING: u64 = u64::MAX;

impl ConnState {
    /// A connection accepted now: reading its first request head.
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_activity: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            linger: AtomicBool::new(false),
            evicted: CancellationToken::new(),
        }
    }

    pub(super) fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// The instant of a time read from this state.
    pub(super) fn at(&self, micros: u64) -> Instant {
        self.start + Duration::from_micros(micros)
    }

    pub(super) fn read_some(&self) {
        let now = self.now();
        self.last_activity.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self
                .head_started
                .compare_exchange(NOT_READING, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Called before a write is attempted, not after it succeeded: once the bytes are out, the
    /// client may act on them (open its next connection, whose admission reads this), so the
    /// store must come first. A thread descheduled between the write and a store after it
    /// once made an idle connection look newer than a dozen opened after it.
    pub(super) fn writing(&self) {
        self.last_activity.store(self.now(), Ordering::Relaxed);
    }

    pub(super) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NOT_READING, Ordering::Release);
    }

    pub(super) fn request_done(&self) {
        self.last_activity.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why the watchdog closed a connection (the `kind` label).
#[derive(Debug, Clone, Copy)]
pub(super) enum Expired {
    Header,
    Idle,
}

/// Resolves when the connection has been reading a head, or idle, for too long.
pub(super) async fn watchdog(state: &ConnState, limits: &HttpLimits) -> Expired {
    loop {
        let now = state.now();
        let started = state.head_started.load(Ordering::Acquire);
        let (deadline, kind) = if state.in_flight.load(Ordering::Acquire) > 0 {
            // The request timeout bounds a running request; look again later.
            (now + limits.idle_timeout.as_micros() as u64, None)
        } else if started != NOT_READING {
            (
                started + limits.header_read_timeout.as_micros() as u64,
                Some(Expired::Header),
            )
        } else {
            let last = state.last_activity.load(Ordering::Relaxed);
            (last + limits.idle_timeout.as_micros() as u64, Some(Expired::Idle))
        };
        match kind {
            Some(kind) if deadline <= now => return kind,
            _ => tokio::time::sleep_until(state.at(deadline).into()).await,
        }
    }
}

/// How long a connection answered before its body was read (413, 408) keeps reading and
/// discarding what the client still sends, after the answer and a FIN. Closing at once, with
/// unread bytes in the socket's receive buffer, makes the kernel send a reset, which can
/// destroy the answer before the client has read it (a client still uploading 50 MB then
/// sees "connection reset" instead of `413`). nginx calls this a lingering close.
pub(super) const LINGER: Duration = Duration::from_secs(2);

/// The socket, reporting reads and writes to the connection's watchdog.
pub(super) struct Watched {
    pub(super) inner: TcpStream,
    pub(super) state: Arc<ConnState>,
    /// While lingering: the deadline (the FIN has been sent).
    pub(super) linger_until: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_some();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if !buf.is_empty() {
            self.state.writing();
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().any(|b| !b.is_empty()) {
            self.state.writing();
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// hyper closes the connection through here. After a 413 or 408: FIN, then discard what
    /// arrives until EOF or [`LINGER`], then the socket is dropped.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.state.linger.load(Ordering::Acquire) {
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        }
        if this.linger_until.is_none() {
            std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.linger_until = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(deadline) = this.linger_until.as_mut() {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(()));
                }
            }
            let mut rb = ReadBuf::new(&mut buf);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => continue,
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
