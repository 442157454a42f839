//! Security issue 13, finding 3 and part of 11, against the real services: every HTTP port
//! runs on the one shared server (so its settings reach all of them), bodies over the limit
//! get `413` in each dialect's own error shape, and ingest refuses oversized fields with `400
//! invalid_field` (HTTP) or quarantines them (Kafka) instead of failing on Kafka's size limit.

use hookline::Service;
use hookline_model::Permission;
use hookline_tests::{unique, TestPipeline};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(30);

/// A connection to `addr` from the loopback address `from` (all of 127.0.0.0/8 is loopback):
/// another client, as the server counts them.
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// One request on `s` (to an unrouted path: an empty `404`, the connection kept alive); the
/// response head, or `None` when the server had closed the connection (within 10 s, a
/// correctness bound).
async fn one_request(s: &mut TcpStream) -> Option<String> {
    let exchange = async {
        s.write_all(b"GET /api/v1/not-a-route HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .ok()?;
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        while !out.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("neither an answer nor a close")
}

/// The API's, ingest's and the admin port's servers all close a half-sent request head at
/// `HOOKLINE_HTTP_HEADER_READ_TIMEOUT_SECS` (here 1 s): none of them is served by a server
/// of its own without the limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_port_closes_a_partial_header_at_the_configured_timeout() {
    let mut p = TestPipeline::start_with(
        &unique("hdr"),
        &[Service::Ingest, Service::Api],
        &["--http-header-read-timeout-secs=1"],
    )
    .await
    .unwrap();
    let pipeline = p.pipeline.as_ref().unwrap();
    let ports = [
        ("api", pipeline.api_addr.unwrap()),
        ("ingest", pipeline.ingest_addr.unwrap()),
        ("admin", pipeline.admin_addr),
    ];
    for (name, addr) in ports {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-")
            .await
            .unwrap();
        let t0 = Instant::now();
        let mut buf = [0u8; 1024];
        // The bound is a correctness bound: without the timeout the read never returns.
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{name}: a partial header kept its connection"))
            .unwrap_or(0);
        assert_eq!(n, 0, "{name}: {}", String::from_utf8_lossy(&buf[..n]));
        assert!(t0.elapsed() >= Duration::from_millis(800), "{name}: closed early");
    }
    let metrics = p.metrics().await.unwrap();
    for name in ["api", "ingest", "admin"] {
        let series = format!("hookline_http_timeouts_total{{kind=\"header\",server=\"{name}\"}} 1");
        assert!(metrics.contains(&series), "no {series} in\n{metrics}");
    }
    p.stop().await.unwrap();
}

/// A 50 MB body gets `413` in the shape of the API it was sent to (the limit is 1 MiB by
/// default), before any of it is read; a normal request on the same server still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_body_gets_413_in_each_dialects_shape() {
    let mut p = TestPipeline::start_with(&unique("big"), &[Service::Ingest, Service::Api], &[])
        .await
        .unwrap();
    let ws = unique("ws");
    let key = p
        .create_key(&ws, &[Permission::WebhooksRead, Permission::WebhooksWrite])
        .await
        .unwrap();
    let big = vec![b' '; 50 * 1024 * 1024];
    let cases = [
        ("PUT", p.api("/api/v1/user/webhooks"), "23 Telecom"),
        ("POST", p.api("/api/v1/webhooks"), "named"),
        ("POST", p.api("/v1/user/set-webhook"), "SMSEdge"),
        ("POST", p.ingest("/v1/messages"), "ingest"),
    ];
    for (method, url, dialect) in cases {
        let r = p
            .http
            .request(method.parse().unwrap(), &url)
            .header("X-API-Key", &key)
            .header("Content-Type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        assert_eq!(r.status(), 413, "{dialect}");
        let body: Value = r.json().await.unwrap();
        let (code, description) = if dialect == "SMSEdge" {
            assert_eq!(body["success"], false, "{body}");
            (&body["error"]["code"], &body["error"]["message"])
        } else {
            (&body["error_code"], &body["description"])
        };
        assert_eq!(code, "PAYLOAD_TOO_LARGE", "{dialect}: {body}");
        assert!(
            description.as_str().unwrap().contains("1048576 bytes"),
            "{dialect}: {body}"
        );
    }
    let (status, _) = p.put_webhooks(&key, json!({"unique_clicks_only": true})).await.unwrap();
    assert_eq!(status, 200);
    p.stop().await.unwrap();
}

/// A 1 MB `workspace_id` (a body under the 1 MiB limit) is refused `400 invalid_field` naming
/// the field and its rule, and nothing reaches the messages topic; over Kafka, an oversized
/// field is quarantined as `invalid_field` with the same description.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_ingest_fields_are_refused_and_never_produced() {
    let mut p = TestPipeline::start_with(&unique("fld"), &[Service::Ingest], &[])
        .await
        .unwrap();
    let mut huge = TestPipeline::accepted("w", "m-huge", "c-huge");
    huge["workspace_id"] = json!("w".repeat(1_000_000));
    let r = p.ingest_post("/v1/messages").json(&huge).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["error_code"].as_str(), body["reason"].as_str()),
        (Some("INVALID_RECORD"), Some("invalid_field"))
    );
    let description = body["description"].as_str().unwrap();
    assert!(
        description.contains("workspace_id") && description.contains("1-64"),
        "{description}"
    );

    let mut long_text = TestPipeline::accepted("w", "m-text", "c-text");
    long_text["details"] = json!({"text": "x".repeat(4097)});
    let r = p.ingest_post("/v1/messages").json(&long_text).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "invalid_field", "{body}");
    assert!(body["description"].as_str().unwrap().contains("details.text"), "{body}");

    // Over Kafka: a 300-character message id is quarantined, the valid record after it goes on.
    let mut long_id = TestPipeline::accepted("w", &"m".repeat(300), "c-long");
    long_id["carrier_message_id"] = json!("c-long");
    p.produce(
        &p.kafka.topics.accepted(),
        "c-long",
        &serde_json::to_vec(&long_id).unwrap(),
    )
    .await
    .unwrap();
    let r = p
        .ingest_post("/v1/messages")
        .json(&TestPipeline::accepted("w", "m-ok", "c-ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let q = p
        .read_topic(&p.kafka.topics.quarantine(), WAIT, |rs| !rs.is_empty())
        .await
        .unwrap();
    assert_eq!(q.len(), 1, "one record quarantined");
    assert_eq!(q[0].header("hookline-quarantine-reason"), Some("invalid_field"));
    assert!(
        q[0].header("hookline-quarantine-detail")
            .unwrap()
            .contains("message_id"),
        "{:?}",
        q[0].headers
    );

    let produced = p
        .read_topic(&p.kafka.topics.messages(), WAIT, |rs| {
            rs.iter().any(|r| String::from_utf8_lossy(&r.payload).contains("m-ok"))
        })
        .await
        .unwrap();
    let ids: Vec<String> = produced
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.payload).unwrap()["message_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["m-ok"], "only the valid record is produced");
    p.stop().await.unwrap();
}

/// `POST /v1/revocations` applies the limits every other input has: an oversized or malformed
/// `workspace_id` and an oversized `message_id` are `400 invalid_field` naming the field (a
/// 1 MB id once got `503` "try again" from Kafka's size limit, retried forever; a 1,000-character
/// or `a:b/../c d` workspace id got `202`), and nothing reaches the revoked-clicks topic but the
/// valid record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_get_the_field_limits_of_every_input() {
    let mut p = TestPipeline::start_with(&unique("rev"), &[Service::Ingest], &[])
        .await
        .unwrap();
    let revocation = |ws: &str, m: &str| json!({"workspace_id": ws, "message_id": m, "source": "api"});
    let cases = [
        (revocation(&"w".repeat(1_000_000), "m-1"), "workspace_id"),
        (revocation(&"w".repeat(1_000), "m-1"), "workspace_id"),
        (revocation("a:b/../c d", "m-1"), "workspace_id"),
        (revocation("w", &"m".repeat(1_000_000)), "message_id"),
        (revocation("w", &"m".repeat(257)), "message_id"),
    ];
    for (body, field) in &cases {
        let r = p.ingest_post("/v1/revocations").json(body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{field}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["error_code"].as_str(), body["reason"].as_str()),
            (Some("INVALID_RECORD"), Some("invalid_field")),
            "{body}"
        );
        assert!(body["description"].as_str().unwrap().contains(field), "{body}");
    }
    let r = p
        .ingest_post("/v1/revocations")
        .json(&revocation("w", "m-ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let produced = p
        .read_topic(&p.kafka.topics.clicks_revoked(), WAIT, |rs| !rs.is_empty())
        .await
        .unwrap();
    let ids: Vec<Value> = produced
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.payload).unwrap()["message_id"].clone())
        .collect();
    assert_eq!(ids, [json!("m-ok")], "only the valid revocation is produced");
    p.stop().await.unwrap();
}

/// Issue 28, finding 2: connections that each send one request and then idle once held every
/// slot of the API port for the keep-alive timeout (new clients got `503`). Here the cap is 64
/// and the per-client share 16: one address opening 80 such connections keeps only 16 (each
/// new one displaces its own connection idle longest), five addresses together filling the
/// cap with idle connections still leave a newcomer from a sixth address served, and nothing
/// was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_connect_and_idle_cannot_keep_the_api_port_from_others() {
    let mut p = TestPipeline::start_with(
        &unique("cap"),
        &[Service::Api],
        &["--http-max-connections=64", "--http-max-connections-per-client=16"],
    )
    .await
    .unwrap();
    let api = p.pipeline.as_ref().unwrap().api_addr.unwrap();
    let mut first = vec![];
    for _ in 0..80 {
        let mut s = connect_from("127.0.0.1", api).await;
        let head = one_request(&mut s).await.expect("every connection is served once");
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        first.push(s);
    }
    // A second request on each: only the 16 newest are still open.
    let mut open = vec![];
    for (i, s) in first.iter_mut().enumerate() {
        if one_request(s).await.is_some() {
            open.push(i);
        }
    }
    assert_eq!(
        open,
        (64..80).collect::<Vec<_>>(),
        "the newest 16 of one address stay open"
    );

    // Four more addresses fill the rest of the cap with idle connections (and more).
    let mut others = vec![];
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        for _ in 0..16 {
            let mut s = connect_from(from, api).await;
            assert!(one_request(&mut s).await.is_some(), "{from}");
            others.push(s);
        }
    }
    let newcomer = reqwest::Client::builder()
        .local_address(Some("127.0.0.9".parse().unwrap()))
        .build()
        .unwrap();
    let r = newcomer.get(p.api("/openapi.json")).send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "a newcomer is served while the port is full of idle connections"
    );

    let api_server = [("server", "api")];
    assert_eq!(
        p.metric("hookline_http_connections_rejected_total", &api_server)
            .await
            .unwrap(),
        0.0
    );
    let evicted = p
        .metric(
            "hookline_http_connections_evicted_total",
            &[("server", "api"), ("state", "idle")],
        )
        .await
        .unwrap();
    assert!(evicted >= 65.0, "{evicted} idle connections evicted");
    p.wait_metric(
        "hookline_http_connections_open",
        &api_server,
        |n| n <= 64.0,
        WAIT,
        "the API's open connections within its cap",
    )
    .await
    .unwrap();
    p.stop().await.unwrap();
}
