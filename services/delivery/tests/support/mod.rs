//! Shared by the delivery test binaries: a bare HTTP/1.1 server on loopback that records the
//! head of every request it gets (so it can stand in for a forward proxy as well as for a
//! receiver), the loopback URL policy, and a dispatch record.

use hookline_model::*;
use hookline_security::UrlPolicy;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The policy of tests with loopback receivers: http allowed, `127.0.0.0/8` opened.
pub fn loopback_policy() -> UrlPolicy {
    UrlPolicy::new(true, vec!["127.0.0.0/8".parse().unwrap()])
}

/// A delivery event for `sub`, attempt 1.
pub fn dispatch(sub: &Subscription) -> Dispatch {
    let event = Event::sample(EventKind::Delivery, "w");
    Dispatch::new(event, sub, 1)
}

/// An HTTP server on 127.0.0.1 that records the head (request line and headers) of every
/// request, answers `200` with body `answer` and closes the connection. As a forward proxy it
/// sees `POST http://host/path` (plain http) or `CONNECT host:443` (https) request lines.
pub struct Recorder {
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub async fn start(answer: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, seen.clone(), answer));
            }
        });
        Self { addr, heads }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The request lines received so far.
    pub fn request_lines(&self) -> Vec<String> {
        let heads = self.heads.lock().unwrap();
        heads
            .iter()
            .map(|h| h.lines().next().unwrap_or_default().to_string())
            .collect()
    }
}

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<String>>>, answer: &str) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    // Read the body before answering, so closing does not reset an unread request.
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    seen.lock().unwrap().push(head);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
