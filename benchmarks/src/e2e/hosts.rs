//! The realistic scenario's receivers: every endpoint its own `127.0.0.1:<port>`, so delivery
//! keeps a connection pool per endpoint as it does in production. Each answers after its own
//! latency (drawn once, `population.rs`), 0.5 % of answers are a 500, slow ones answer after
//! 2 s, and a down one is a bound port that does not listen (connections refused).
//!
//! Each webhook is recorded under `<tag>|<id>` (see [`crate::population::tag`]), the first
//! successful arrival only, timed when the request arrives (before the endpoint's own latency).
//! Every signed request's `X-Webhook-Signature` is verified, and SMSEdge's DLR webhook's Basic
//! credentials.

use crate::population::{Class, ERROR_SHARE};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Router;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SMSEdge's DLR webhook credentials (`user:pass`), and the header delivery sends for them.
pub const BASIC_CREDENTIALS: &str = "user:pass";
const BASIC_HEADER: &str = "Basic dXNlcjpwYXNz";

/// How an endpoint checks that a request is Hookline's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `X-Webhook-Signature` (23 Telecom, named).
    Signature,
    /// HTTP Basic with [`BASIC_CREDENTIALS`] (SMSEdge DLRs).
    Basic,
    /// Nothing to check (SMSEdge clicks and inbound).
    None,
}

#[derive(Debug, Clone, Copy)]
pub struct HostSpec {
    pub class: Class,
    pub latency: Duration,
    pub auth: Auth,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
}

struct Shared {
    secret: Vec<u8>,
    seed: u64,
    specs: Vec<HostSpec>,
    counters: Vec<Counters>,
    first: Mutex<HashMap<String, Instant>>,
    /// Webhooks that got a 500 before they arrived (they wait for a retry).
    failed: Mutex<HashSet<String>>,
    /// Client addresses seen (one per TCP connection the sender opened).
    peers: Mutex<HashSet<SocketAddr>>,
    bad: AtomicU64,
}

/// The running receivers.
pub struct Hosts {
    /// Endpoint `i`'s address.
    pub addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    /// Down endpoints' bound, never listening sockets (kept so their ports stay refused).
    _down: Vec<tokio::net::TcpSocket>,
}

/// One endpoint's request counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
}

impl Hosts {
    /// Starts one listener per spec; every signed request must be signed with `secret`.
    pub async fn start(specs: Vec<HostSpec>, secret: &str, seed: u64) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            secret: secret.as_bytes().to_vec(),
            seed,
            counters: specs.iter().map(|_| Counters::default()).collect(),
            specs: specs.clone(),
            first: Mutex::default(),
            failed: Mutex::default(),
            peers: Mutex::default(),
            bad: AtomicU64::new(0),
        });
        let mut addrs = Vec::with_capacity(specs.len());
        let mut down = vec![];
        for (i, spec) in specs.iter().enumerate() {
            if spec.class == Class::Down {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind("127.0.0.1:0".parse().unwrap())?;
                addrs.push(socket.local_addr()?);
                down.push(socket);
                continue;
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addrs.push(listener.local_addr()?);
            let app = Router::new().fallback(receive).with_state((shared.clone(), i));
            tokio::spawn(async move {
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
            });
        }
        Ok(Self {
            addrs,
            shared,
            _down: down,
        })
    }

    /// How many of `keys` have arrived.
    pub fn arrived<'a>(&self, keys: impl IntoIterator<Item = &'a String>) -> usize {
        let first = self.shared.first.lock().unwrap();
        keys.into_iter().filter(|k| first.contains_key(*k)).count()
    }

    /// The first successful arrival of each webhook so far.
    pub fn first(&self) -> HashMap<String, Instant> {
        self.shared.first.lock().unwrap().clone()
    }

    /// The webhooks whose first answer was a 500 (before any successful arrival).
    pub fn failed(&self) -> HashSet<String> {
        self.shared.failed.lock().unwrap().clone()
    }

    /// Requests (and 5xx answers) per endpoint so far.
    pub fn counts(&self) -> Vec<Counts> {
        self.shared
            .counters
            .iter()
            .map(|c| Counts {
                requests: c.requests.load(Ordering::Relaxed),
                errors: c.errors.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// TCP connections opened to every endpoint so far.
    pub fn connections(&self) -> usize {
        self.shared.peers.lock().unwrap().len()
    }

    pub fn bad_signatures(&self) -> u64 {
        self.shared.bad.load(Ordering::Relaxed)
    }
}

/// The key a webhook is recorded under.
pub fn key(tag: &str, id: &str) -> String {
    format!("{tag}|{id}")
}

async fn receive(
    State((s, i)): State<(Arc<Shared>, usize)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = Instant::now();
    let spec = s.specs[i];
    let n = s.counters[i].requests.fetch_add(1, Ordering::Relaxed);
    s.peers.lock().unwrap().insert(peer);
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let authentic = match spec.auth {
        Auth::Signature => {
            get("x-webhook-signature") == hookline_security::sign(&s.secret, get("x-webhook-timestamp"), &body)
        }
        Auth::Basic => get(header::AUTHORIZATION.as_str()) == BASIC_HEADER,
        Auth::None => true,
    };
    if !authentic {
        s.bad.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    let fail = fails(s.seed, i as u64, n);
    let keys = keys(get("x-webhook-event"), get(header::CONTENT_TYPE.as_str()), &body);
    {
        let mut first = s.first.lock().unwrap();
        if fail {
            let mut failed = s.failed.lock().unwrap();
            failed.extend(keys.into_iter().filter(|k| !first.contains_key(k)));
        } else {
            for k in keys {
                first.entry(k).or_insert(now);
            }
        }
    }
    tokio::time::sleep(spec.latency).await;
    if fail {
        s.counters[i].errors.fetch_add(1, Ordering::Relaxed);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Whether request `n` of endpoint `i` is answered with a 500: [`ERROR_SHARE`] of them, the
/// same ones in every run with the same seed.
fn fails(seed: u64, i: u64, n: u64) -> bool {
    let h = splitmix64(seed ^ i.wrapping_mul(0x1000_0000_01b3) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (h % 1_000_000) < (ERROR_SHARE * 1_000_000.0) as u64
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The keys of the webhooks a request carries: a named envelope's (or each of a batch's)
/// `type` (a status's with its `status`) and message or inbound id; otherwise the
/// `X-Webhook-Event` header and the flat payload's `message_id` or `inbound_id` (23 Telecom),
/// or the SMSEdge record's `id` (its form field `sms`).
pub fn keys(event: &str, content_type: &str, body: &[u8]) -> Vec<String> {
    let json: Option<Value> = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "sms"))
            .and_then(|(_, v)| serde_json::from_str(&v).ok())
    } else {
        serde_json::from_slice(body).ok()
    };
    let Some(v) = json else { return vec![] };
    if let Some(events) = v["events"].as_array() {
        return events.iter().filter_map(envelope_key).collect();
    }
    if v.get("type").is_some() && v.get("data").is_some() {
        return envelope_key(&v).into_iter().collect();
    }
    let id = [&v["message_id"], &v["inbound_id"], &v["id"]]
        .into_iter()
        .find_map(text);
    id.map(|id| vec![key(event, &id)]).unwrap_or_default()
}

fn envelope_key(v: &Value) -> Option<String> {
    let kind = v["type"].as_str()?;
    let d = &v["data"];
    let tag = match d["status"].as_str() {
        Some(status) if kind.ends_with("_STATUS") => format!("{kind}:{status}"),
        _ => kind.to_string(),
    };
    let id = [&d["message_ref"], &d["source_message"]["message_ref"], &d["inbound_id"]]
        .into_iter()
        .find_map(text)?;
    Some(key(&tag, &id))
}

/// A string, or a number as SMSEdge sends numeric ids.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_each_dialect() {
        let flat = br#"{"message_id":"m1","status":"DELIVRD"}"#;
        assert_eq!(keys("delivery", "application/json", flat), ["delivery|m1"]);
        let form = serde_urlencoded::to_string([("sms", r#"{"id":"m2","status":"sent"}"#)]).unwrap();
        assert_eq!(
            keys("click", "application/x-www-form-urlencoded", form.as_bytes()),
            ["click|m2"]
        );
        let status = br#"{"id":"e","type":"SMS_STATUS","data":{"message_ref":"m3","status":"sent"}}"#;
        assert_eq!(keys("SMS_STATUS", "application/json", status), ["SMS_STATUS:sent|m3"]);
        let batch = br#"{"events":[{"id":"e","type":"LINK_HIT","data":{"source_message":{"message_ref":"m4"}}},
            {"id":"f","type":"SMS_INBOUND","data":{"inbound_id":"i5","status":null}}]}"#;
        assert_eq!(keys("", "application/json", batch), ["LINK_HIT|m4", "SMS_INBOUND|i5"]);
    }

    #[test]
    fn about_half_a_percent_fail() {
        let failed = (0..200_000).filter(|n| fails(29, 3, *n)).count();
        assert!((800..=1200).contains(&failed), "{failed}");
    }
}
