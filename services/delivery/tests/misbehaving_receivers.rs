//! Receivers that misbehave at the TCP level, each a raw server on loopback (fault 5 of the
//! reliability campaign): one that accepts and never answers, one that answers a byte per
//! second (in its status line, and in its body), one that sends a 1 GiB body, and one that
//! redirects to a private address. Each attempt ends by the subscription's timeout or at once,
//! reads at most the logged 1 KiB of a body, and follows nothing.

#[allow(dead_code)] // the shared support module has helpers this binary does not use
mod support;

use hookline_delivery::attempt::Attempter;
use hookline_delivery::client;
use hookline_model::*;
use hookline_security::Sealer;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{dispatch, loopback_policy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT_MS: u64 = 300;

/// How a raw receiver answers once it has read a request's headers.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Never answers; holds the connection open.
    Silent,
    /// Sends its status line one byte a second.
    DripStatus,
    /// Sends its headers at once, then its body one byte a second.
    DripBody,
    /// Sends a 1 GiB body as fast as the client takes it.
    Huge,
    /// 301 to a private address.
    RedirectPrivate,
}

/// What a receiver did: body bytes it managed to write, and whether its answer is over
/// (finished, or stopped by a closed connection).
#[derive(Clone, Default)]
struct Sent {
    written: Arc<AtomicU64>,
    over: Arc<AtomicBool>,
}

/// Starts a receiver; returns its URL and what it sends.
async fn receiver(behaviour: Behaviour) -> (String, Sent) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Sent::default();
    let s = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                answer(socket, behaviour, s.written.clone()).await;
                s.over.store(true, Ordering::SeqCst);
            });
        }
    });
    (format!("http://{addr}/hook"), sent)
}

async fn answer(mut socket: TcpStream, behaviour: Behaviour, written: Arc<AtomicU64>) {
    // Read until the end of the request's headers (the body is small; it may stay unread).
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    // The sleeps below are the misbehaviour under test (silence, a drip), not waits.
    match behaviour {
        Behaviour::Silent => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Behaviour::DripStatus => {
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
                if socket.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Behaviour::DripBody => {
            if socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            for _ in 0..100 {
                if socket.write_all(b"x").await.is_err() {
                    return;
                }
                written.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Behaviour::Huge => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 1u64 << 30);
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 * 1024];
            while written.load(Ordering::SeqCst) < 1 << 30 {
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
        Behaviour::RedirectPrivate => {
            let _ = socket
                .write_all(
                    b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://10.0.0.1/hook\r\nContent-Length: 0\r\n\r\n",
                )
                .await;
        }
    }
}

fn setup() -> (Attempter, Sealer) {
    let sealer = Sealer::new(Some(&Sealer::random_key_hex())).unwrap();
    let policy = loopback_policy();
    let attempter = Attempter::new(
        client::build(&policy, None, 64).unwrap(),
        policy,
        sealer.clone(),
        "Hookline-Webhooks/test".into(),
    );
    (attempter, sealer)
}

fn subscription(url: String, sealer: &Sealer) -> Subscription {
    Subscription {
        event_kinds: vec![EventKind::Delivery],
        signing_secret: Some(SealedSecret(sealer.seal("k"))),
        timeout_ms: TIMEOUT_MS,
        ..Subscription::new(Dialect::Telecom23, "w", "s", url)
    }
}

/// One attempt to a receiver behaving as `behaviour`: its record and how long it took.
async fn attempt(behaviour: Behaviour) -> (AttemptRecord, Duration, Sent) {
    let (a, sealer) = setup();
    let (url, sent) = receiver(behaviour).await;
    let sub = subscription(url, &sealer);
    let started = Instant::now();
    let rec = a.attempt(&dispatch(&sub), &sub, 1).await.record;
    (rec, started.elapsed(), sent)
}

fn assert_timed_out(rec: &AttemptRecord, took: Duration, what: &str) {
    assert_eq!(rec.outcome, AttemptOutcome::Failed, "{what}");
    assert_eq!(
        rec.error.as_deref(),
        Some(format!("timeout after {TIMEOUT_MS} ms").as_str()),
        "{what}"
    );
    assert!(
        took >= Duration::from_millis(TIMEOUT_MS) && took < Duration::from_secs(3),
        "{what}: the attempt ends at its timeout, took {took:?}"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_ends_at_the_timeout() {
    let (rec, took, _) = attempt(Behaviour::Silent).await;
    assert_timed_out(&rec, took, "silent receiver");
    assert_eq!(rec.response_code, None);
}

#[tokio::test]
async fn a_receiver_answering_a_byte_a_second_ends_at_the_timeout() {
    let (rec, took, _) = attempt(Behaviour::DripStatus).await;
    assert_timed_out(&rec, took, "status line a byte a second");
    // Headers at once, then the body a byte a second: the timeout covers the body too.
    let (rec, took, sent) = attempt(Behaviour::DripBody).await;
    assert_timed_out(&rec, took, "body a byte a second");
    assert!(sent.written.load(Ordering::SeqCst) <= 3, "the client stopped reading");
}

#[tokio::test]
async fn a_one_gib_body_is_read_only_as_far_as_the_log_keeps() {
    let (rec, took, sent) = attempt(Behaviour::Huge).await;
    assert_eq!((rec.outcome, rec.response_code), (AttemptOutcome::Delivered, Some(200)));
    let body = rec.response_body.unwrap_or_default();
    assert_eq!(body.len(), 1024, "the logged body is the first 1 KiB");
    assert!(body.bytes().all(|b| b == b'a'));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // Once the server's writes fail on the closed connection, what it wrote is what the
    // socket buffers took after the client's first 1 KiB: far from the whole body.
    let waited = Instant::now();
    while !sent.over.load(Ordering::SeqCst) {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the server never saw the connection close"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // poll interval
    }
    let written = sent.written.load(Ordering::SeqCst);
    assert!(
        written < 64 << 20,
        "the client stopped reading: {written} bytes written of 1 GiB"
    );
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_not_followed() {
    let (rec, took, _) = attempt(Behaviour::RedirectPrivate).await;
    assert_eq!((rec.outcome, rec.response_code), (AttemptOutcome::Failed, Some(301)));
    assert_eq!(rec.error.as_deref(), Some("HTTP 301: redirects are not followed"));
    assert!(took < Duration::from_secs(3), "took {took:?}");
}
