//! The shared HTTP server against real clients on loopback: raw TCP sockets for what a
//! well-behaved client never does (half a header, a connection left idle), reqwest otherwise.
//! Every wait has a bound, and each test asserts the server's own account of what it did
//! (its metrics) besides what the client saw.

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use hookline_telemetry::{error_code_shape, serve_http, HttpLimits, HttpServer, Runtime};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

fn app() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|b: Bytes| async move { format!("{} bytes", b.len()) }))
        .route(
            "/slow",
            get(|| async {
                // A slow handler (the behaviour under test), not a wait.
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        )
        .route("/forever", get(std::future::pending::<&'static str>))
}

async fn start(limits: HttpLimits) -> (HttpServer, Runtime) {
    let rt = Runtime::new(CancellationToken::new(), Duration::from_secs(5)).with_http_limits(limits);
    let server = serve_http("test", "127.0.0.1:0".parse().unwrap(), app(), error_code_shape, &rt)
        .await
        .unwrap();
    (server, rt)
}

/// A metric's value from the runtime's registry (0 when the series does not exist yet).
fn metric(rt: &Runtime, name: &str, labels: &[(&str, &str)]) -> f64 {
    rt.registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().to_vec())
        .find(|m| {
            labels
                .iter()
                .all(|(k, v)| m.get_label().iter().any(|l| l.name() == *k && l.value() == *v))
        })
        // A gauge's counter part is 0 and the other way round.
        .map(|m| m.get_gauge().get_value() + m.get_counter().get_value())
        .unwrap_or(0.0)
}

/// Waits (at most 10 s) until the metric has `want`.
async fn wait_metric(rt: &Runtime, name: &str, labels: &[(&str, &str)], want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(rt, name, labels) != want {
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} stayed {} (want {want})",
            metric(rt, name, labels)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads until the server closes the connection (within `bound`, a correctness bound);
/// returns what was read and how long it took.
async fn read_to_eof(s: &mut TcpStream, bound: Duration) -> (Vec<u8>, Duration) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(bound, read)
        .await
        .expect("the server did not close the connection in time");
    (out, t0.elapsed())
}

/// Reads until `needle` has arrived (within 5 s).
async fn read_until(s: &mut TcpStream, needle: &str) -> String {
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&out).contains(needle) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before {needle:?}: {}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no response");
    String::from_utf8_lossy(&out).into_owned()
}

fn limits() -> HttpLimits {
    HttpLimits {
        header_read_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_connections: 64,
        max_connections_per_client: 0,
        max_body_bytes: 1024,
    }
}

/// A connection to `addr` from the loopback address `from` (all of 127.0.0.0/8 is loopback):
/// another client, as the server counts them.
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends `GET path` on `s` and, for `/ok`, reads its answer (then the connection idles).
async fn request(s: &mut TcpStream, path: &str) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    if path == "/ok" {
        let response = read_until(s, "\r\n\r\nok").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// Slow-loris: half a request head, then nothing. The server closes the connection at the
/// header-read timeout (and so does it a connection that never sends a byte).
#[tokio::test]
async fn a_partial_header_is_closed_at_the_header_read_timeout() {
    let (server, rt) = start(HttpLimits {
        header_read_timeout: Duration::from_secs(1),
        ..limits()
    })
    .await;
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    partial
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (got, took) = read_to_eof(&mut partial, Duration::from_secs(10)).await;
    assert!(
        got.is_empty(),
        "no response to half a head: {}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?}, before the timeout"
    );
    read_to_eof(&mut silent, Duration::from_secs(10)).await;
    wait_metric(
        &rt,
        "hookline_http_timeouts_total",
        &[("server", "test"), ("kind", "header")],
        2.0,
    )
    .await;
    wait_metric(&rt, "hookline_http_connections_open", &[("server", "test")], 0.0).await;
    // The server still serves.
    let r = reqwest::get(url(server.addr, "/ok")).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A keep-alive connection that has finished its request and sends nothing more is closed at
/// the idle timeout, which is longer than the header-read timeout (it does not cut idle
/// connections short).
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let (server, rt) = start(HttpLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
        ..limits()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let response = read_until(&mut s, "\r\n\r\nok").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (got, took) = read_to_eof(&mut s, Duration::from_secs(15)).await;
    assert!(got.is_empty());
    assert!(
        took >= Duration::from_millis(2800),
        "an idle connection was closed after {took:?}, before the 3 s idle timeout"
    );
    wait_metric(
        &rt,
        "hookline_http_timeouts_total",
        &[("server", "test"), ("kind", "idle")],
        1.0,
    )
    .await;
    assert_eq!(metric(&rt, "hookline_http_timeouts_total", &[("kind", "header")]), 0.0);
}

/// With the cap reached, a new connection is answered 503 and closed at once (counted); once
/// a slot frees, requests are served again.
#[tokio::test]
async fn connections_beyond_the_cap_are_refused_until_a_slot_frees() {
    let (server, rt) = start(HttpLimits {
        max_connections: 2,
        ..limits()
    })
    .await;
    let open = [("server", "test")];
    let a = TcpStream::connect(server.addr).await.unwrap();
    let _b = TcpStream::connect(server.addr).await.unwrap();
    wait_metric(&rt, "hookline_http_connections_open", &open, 2.0).await;
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    c.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (got, _) = read_to_eof(&mut c, Duration::from_secs(5)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 503"), "over the cap: {got:?}");
    assert!(!got.contains("ok"), "{got}");
    wait_metric(&rt, "hookline_http_connections_rejected_total", &open, 1.0).await;
    drop(a);
    wait_metric(&rt, "hookline_http_connections_open", &open, 1.0).await;
    let client = reqwest::Client::new();
    let r = client.get(url(server.addr, "/ok")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "ok".to_string()));
}

/// A handler that never finishes: the client gets 408 in the server's error shape.
#[tokio::test]
async fn a_request_over_the_request_timeout_gets_408() {
    let (server, rt) = start(HttpLimits {
        request_timeout: Duration::from_secs(1),
        ..limits()
    })
    .await;
    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), reqwest::get(url(server.addr, "/forever")))
        .await
        .expect("no answer")
        .unwrap();
    assert_eq!(r.status(), 408);
    assert!(t0.elapsed() >= Duration::from_millis(900));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "REQUEST_TIMEOUT");
    assert_eq!(metric(&rt, "hookline_http_timeouts_total", &[("kind", "request")]), 1.0);
}

/// Bodies over the limit get 413 in the error shape: declared by Content-Length (50 MB,
/// refused before it is read), or chunked (cut off at the limit); one at the limit passes.
#[tokio::test]
async fn bodies_over_the_limit_get_413_in_the_error_shape() {
    let (server, _rt) = start(limits()).await;
    let client = reqwest::Client::new();
    let ok = client
        .post(url(server.addr, "/echo"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.text().await.unwrap(), "1024 bytes");
    for size in [1025, 50 * 1024 * 1024] {
        let r = client
            .post(url(server.addr, "/echo"))
            .body(vec![b'x'; size])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{size} bytes");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE", "{body}");
        assert!(body["description"].as_str().unwrap().contains("1024 bytes"), "{body}");
    }
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n".to_vec();
    req.extend(vec![b'x'; 0x800]);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let (got, _) = read_to_eof(&mut s, Duration::from_secs(5)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert!(got.contains("PAYLOAD_TOO_LARGE"), "{got}");
}

/// Shutdown lets the request in flight finish, closes idle connections, and ends the server.
#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    let (server, rt) = start(limits()).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let in_flight = tokio::spawn(reqwest::get(url(server.addr, "/slow")));
    wait_metric(&rt, "hookline_http_connections_open", &[("server", "test")], 2.0).await;
    rt.shutdown.cancel();
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "done".to_string())
    );
    read_to_eof(&mut idle, Duration::from_secs(5)).await;
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("the server did not stop")
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// One client (a source address) holds at most its share of the slots: at its cap, a new
/// connection of its own displaces its own connection idle longest; when all of its
/// connections are running requests it gets 503 (reason `per_client`), while another
/// client is still served.
#[tokio::test]
async fn one_client_holds_at_most_its_share_of_the_connections() {
    let (server, rt) = start(HttpLimits {
        max_connections: 8,
        max_connections_per_client: 3,
        ..limits()
    })
    .await;
    let open = [("server", "test")];
    let mut idle = vec![];
    for _ in 0..5 {
        let mut s = connect_from("127.0.0.1", server.addr).await;
        request(&mut s, "/ok").await;
        idle.push(s);
    }
    // The two oldest were closed for the newer ones; the three newest still serve.
    for s in &mut idle[..2] {
        let (got, _) = read_to_eof(s, Duration::from_secs(5)).await;
        assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    }
    for s in &mut idle[2..] {
        request(s, "/ok").await;
    }
    wait_metric(&rt, "hookline_http_connections_open", &open, 3.0).await;
    let evicted = [("server", "test"), ("state", "idle")];
    assert_eq!(metric(&rt, "hookline_http_connections_evicted_total", &evicted), 2.0);

    // All three busy: the client's fourth is refused, another client's is served.
    let mut busy = vec![];
    for _ in 0..3 {
        let mut s = connect_from("127.0.0.1", server.addr).await;
        request(&mut s, "/forever").await;
        busy.push(s);
    }
    wait_metric(&rt, "hookline_http_connections_open", &open, 3.0).await;
    let mut refused = connect_from("127.0.0.1", server.addr).await;
    refused.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (got, _) = read_to_eof(&mut refused, Duration::from_secs(5)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    let reason = [("server", "test"), ("reason", "per_client")];
    wait_metric(&rt, "hookline_http_connections_rejected_total", &reason, 1.0).await;
    let mut other = connect_from("127.0.0.2", server.addr).await;
    request(&mut other, "/ok").await;
}

/// A full server makes room for a newcomer by closing the connection idle longest, never
/// one running a request; only when every slot runs a request is the newcomer refused.
#[tokio::test]
async fn a_full_server_closes_the_connection_idle_longest_never_a_busy_one() {
    let (server, rt) = start(HttpLimits {
        max_connections: 3,
        ..limits()
    })
    .await;
    let mut busy = connect_from("127.0.0.1", server.addr).await;
    request(&mut busy, "/forever").await;
    let mut oldest = connect_from("127.0.0.1", server.addr).await;
    request(&mut oldest, "/ok").await;
    let mut newer = connect_from("127.0.0.1", server.addr).await;
    request(&mut newer, "/ok").await;

    let mut newcomer = connect_from("127.0.0.2", server.addr).await;
    request(&mut newcomer, "/ok").await;
    let (got, _) = read_to_eof(&mut oldest, Duration::from_secs(5)).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    request(&mut newer, "/ok").await;
    let evicted = [("server", "test"), ("state", "idle")];
    assert_eq!(metric(&rt, "hookline_http_connections_evicted_total", &evicted), 1.0);

    // Fill every slot with a running request: the next newcomer is refused.
    let mut more = vec![];
    for from in ["127.0.0.3", "127.0.0.4"] {
        let mut s = connect_from(from, server.addr).await;
        request(&mut s, "/forever").await;
        more.push(s);
    }
    wait_metric(&rt, "hookline_http_connections_evicted_total", &evicted, 3.0).await;
    let mut refused = connect_from("127.0.0.5", server.addr).await;
    refused.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (got, _) = read_to_eof(&mut refused, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 503"));
    let full = [("server", "test"), ("reason", "full")];
    wait_metric(&rt, "hookline_http_connections_rejected_total", &full, 1.0).await;
    drop(busy);
}

/// Connections that never finish a request head hold a full server's slots for at most about
/// a second against a newcomer (not the header-read timeout): then the one reading longest
/// gives way.
#[tokio::test]
async fn connections_stuck_in_a_request_head_give_way_to_a_newcomer() {
    let (server, rt) = start(HttpLimits {
        max_connections: 2,
        ..limits()
    })
    .await;
    let mut loris = vec![];
    for _ in 0..2 {
        let mut s = connect_from("127.0.0.1", server.addr).await;
        s.write_all(b"GET /ok HTTP/1.1\r\nX-Slow: ").await.unwrap();
        loris.push(s);
    }
    wait_metric(&rt, "hookline_http_connections_open", &[("server", "test")], 2.0).await;
    let t0 = Instant::now();
    // Retried until served (bounded): refused while the two have read for under a second.
    let served = loop {
        assert!(t0.elapsed() < Duration::from_secs(10), "never served");
        let mut s = connect_from("127.0.0.2", server.addr).await;
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let response = read_until_close_or(&mut s, "\r\n\r\nok").await;
        if response.starts_with("HTTP/1.1 200") {
            break t0.elapsed();
        }
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    };
    assert!(served < Duration::from_secs(5), "served after {served:?}");
    let header = [("server", "test"), ("state", "header")];
    assert_eq!(metric(&rt, "hookline_http_connections_evicted_total", &header), 1.0);
    let (got, _) = read_to_eof(&mut loris[0], Duration::from_secs(5)).await;
    assert!(got.is_empty());
}

/// Reads until `needle` arrived or the server closed (within 5 s).
async fn read_until_close_or(s: &mut TcpStream, needle: &str) -> String {
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&out).contains(needle) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("no response");
    String::from_utf8_lossy(&out).into_owned()
}
