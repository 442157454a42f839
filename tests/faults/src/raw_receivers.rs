//! Receivers that misbehave at the TCP level (fault 5 of the reliability campaign), each a raw
//! server on loopback that counts what it got and what it managed to send: one that accepts
//! and never answers, one that answers a byte a second, one that sends a 1 GiB body, one that
//! redirects to a private address, and a trap that only counts the connections made to it.
//!
//! `services/delivery/tests/misbehaving_receivers.rs` has the same behaviours for single
//! attempts made in-process; it cannot use this module (this crate depends on every service
//! through `hookline-tests`, a dev-dependency back would build delivery twice). This one also
//! serves keep-alive connections (a 301 leaves its connection reusable), releases a silent
//! connection as soon as the client closes it, and keeps per-connection counts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The body size of [`Behaviour::Huge`]: 1 GiB.
pub const HUGE_BODY: u64 = 1 << 30;

/// `SO_SNDBUF` of the 1 GiB receiver (Linux doubles it for its bookkeeping).
pub const HUGE_SEND_BUFFER: u32 = 64 * 1024;

/// The longest a connection is held by a receiver that waits for the client (a silent one, a
/// drip): far beyond any subscription timeout, so only a client that never gives up meets it.
const HOLD_MAX: Duration = Duration::from_secs(60);

/// How a raw receiver answers each request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Never answers; holds the connection until the client closes it.
    Silent,
    /// A byte a second: on even connections the status line itself, on odd ones the headers at
    /// once and then a 100-byte body.
    Drip,
    /// A 1 GiB body as fast as the client takes it.
    Huge,
    /// `301 Moved Permanently` to each of these locations in turn, one per request.
    Redirect(Vec<String>),
    /// Counts connections and requests and closes them (a redirect's target).
    Trap,
}

/// What a receiver saw and sent.
#[derive(Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests whose headers (and body) were read.
    pub requests: AtomicU64,
    /// Response body bytes handed to the socket, over every connection.
    pub body_written: AtomicU64,
    /// The most body bytes handed to the socket on one connection.
    pub max_body_per_connection: AtomicU64,
    /// Connections still being served.
    pub open: AtomicU64,
}

/// A running raw receiver (it stops with the test's runtime).
pub struct RawReceiver {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
}

impl RawReceiver {
    /// Starts a receiver on `ip` (any loopback address) behaving as `behaviour`.
    ///
    /// The 1 GiB receiver's send buffer is fixed at [`HUGE_SEND_BUFFER`] (accepted sockets
    /// inherit it from the listener): what it counts as written has then left it for the
    /// client, instead of filling the up to 4 MiB that Linux's autotuning would let its own
    /// kernel queue hold, and drop, when the client closes.
    pub async fn start(ip: &str, behaviour: Behaviour) -> Self {
        let addr: SocketAddr = format!("{ip}:0").parse().expect("an IP address");
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        if matches!(behaviour, Behaviour::Huge) {
            socket.set_send_buffer_size(HUGE_SEND_BUFFER).expect("set SO_SNDBUF");
        }
        socket.bind(addr).expect("bind a raw receiver");
        let listener = socket.listen(1024).expect("listen");
        let addr = listener.local_addr().expect("local address");
        let stats = Arc::new(Stats::default());
        let s = stats.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let n = s.connections.fetch_add(1, Ordering::SeqCst);
                s.open.fetch_add(1, Ordering::SeqCst);
                let (s, behaviour) = (s.clone(), behaviour.clone());
                tokio::spawn(async move {
                    let written = serve(socket, &behaviour, n, &s).await;
                    s.body_written.fetch_add(written, Ordering::SeqCst);
                    s.max_body_per_connection.fetch_max(written, Ordering::SeqCst);
                    s.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { addr, stats }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::SeqCst)
    }

    pub fn body_written(&self) -> u64 {
        self.stats.body_written.load(Ordering::SeqCst)
    }

    pub fn max_body_per_connection(&self) -> u64 {
        self.stats.max_body_per_connection.load(Ordering::SeqCst)
    }

    pub fn open(&self) -> u64 {
        self.stats.open.load(Ordering::SeqCst)
    }
}

/// Serves connection number `n`; returns the response body bytes it handed to the socket.
async fn serve(mut socket: TcpStream, behaviour: &Behaviour, n: u64, stats: &Stats) -> u64 {
    let mut buf = Vec::new();
    let mut written = 0u64;
    // One request after another while the client keeps the connection (only a 301 leaves it
    // reusable; every other answer ends it).
    loop {
        if !read_request(&mut socket, &mut buf).await {
            return written;
        }
        let r = stats.requests.fetch_add(1, Ordering::SeqCst);
        match behaviour {
            Behaviour::Trap => return written,
            Behaviour::Silent => {
                wait_closed(&mut socket).await;
                return written;
            }
            Behaviour::Drip if n.is_multiple_of(2) => {
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
                    if !drip(&mut socket, *b).await {
                        return written;
                    }
                }
                return written;
            }
            Behaviour::Drip => {
                if socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                    .await
                    .is_err()
                {
                    return written;
                }
                for _ in 0..100 {
                    if !drip(&mut socket, b'x').await {
                        return written;
                    }
                    written += 1;
                }
                return written;
            }
            Behaviour::Huge => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {HUGE_BODY}\r\n\r\n");
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return written;
                }
                let chunk = vec![b'a'; 64 * 1024];
                while written < HUGE_BODY {
                    let left = (HUGE_BODY - written).min(chunk.len() as u64) as usize;
                    match socket.write(&chunk[..left]).await {
                        Ok(0) | Err(_) => return written,
                        Ok(k) => written += k as u64,
                    }
                }
                return written;
            }
            Behaviour::Redirect(locations) => {
                let to = &locations[r as usize % locations.len()];
                let answer = format!("HTTP/1.1 301 Moved Permanently\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
                if socket.write_all(answer.as_bytes()).await.is_err() {
                    return written;
                }
            }
        }
    }
}

/// Reads one request (headers, then a `Content-Length` body) from `socket`, keeping what
/// follows it in `buf`; false when the connection ends first.
async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let body_len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + body_len {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    buf.drain(..head_end + body_len);
    true
}

/// Waits until the client closes the connection (or [`HOLD_MAX`]), answering nothing.
async fn wait_closed(socket: &mut TcpStream) {
    let mut chunk = [0u8; 1024];
    let _ = tokio::time::timeout(HOLD_MAX, async {
        loop {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Writes one byte, then waits a second; false once the client is gone.
async fn drip(socket: &mut TcpStream, b: u8) -> bool {
    if socket.write_all(&[b]).await.is_err() {
        return false;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    true
}
