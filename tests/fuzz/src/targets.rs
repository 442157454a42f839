//! The fuzz targets: one per parser that takes outside bytes, each a seed corpus, extra
//! dictionary tokens and a check, in one table ([`TARGETS`]) that both runners use: the
//! stable mutational [`Fuzzer`] (`tests/targets.rs`, one `#[test]` per target, CI) and the
//! coverage-guided libFuzzer project (`tests/fuzz/libfuzzer`, `scripts/fuzz.sh`, the
//! documented run), which calls [`check`] once per input.
//!
//! Each check calls the real parsing entry point the service calls, checks that nothing
//! panics (the runner catches it), that every refusal is the parser's typed error (for the
//! API: a `400` with a documented `error_code`, never a `500`), and, where cheap, that an
//! accepted value re-serialises and decodes to itself. It returns a label for the outcome
//! (the stable fuzzer keeps one input per label) or the violated property.
//!
//! A check is a plain `fn`: it keeps no state between inputs. What it needs besides the
//! input (a configured workspace, the live config state, sample records, a sealer, URL
//! policies) is built once, deterministically, in `Fixtures` and only read; everything a
//! check mutates (a `ConfigState`, delivery's gates) is created afresh for each input, so
//! calling a check once per input in any order gives the same outcome as in a run.
//!
//! API bodies go through the handlers' own validation functions (`telecom23::apply_put`,
//! `smsedge::apply_set`, `named::apply_create`/`apply_patch`, the admin bodies'
//! `generate`), which is everything a handler does with the body before writing the config
//! topic: the router itself cannot be built without Kafka. Those functions check webhook URLs
//! with the URL policy, which resolves host names; so that no run depends on DNS, a body whose
//! URL has a host *name* is passed with that host replaced by a public IP literal (the body
//! re-serialised); every other body is passed byte for byte. The URL policy's own parsing is
//! fuzzed on raw bytes by `url_policy`.

use crate::{label, ready, round_trips, seeds, Fuzzer, Outcome};
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, TimeZone, Utc};
use hookline_api::{admin, dead_letters, logs, named, smsedge, telecom23};
use hookline_delivery::gate::Gates;
use hookline_delivery::retry::{parse_retry_after, Next, Schedule};
use hookline_ingest::normalise::{self, InputError};
use hookline_ingest::smpp;
use hookline_model::event::RevokedClicks;
use hookline_model::{
    render, AcceptedMessage, ApiKeyRecord, AttemptOutcome, AttemptRecord, CarrierDlr, ClickInput, ConfigState,
    ConversionInput, DeadLetter, Dialect, Dispatch, Event, EventData, EventKind, InboundInput, IngestKeyRecord,
    IngestKind, Permission, RetryPolicy, RevokedClickInput, SealedSecret, Subscription, WorkspaceConfig,
};
use hookline_security::{Sealer, UrlPolicy};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;
use std::time::Duration;

/// One fuzz target.
pub struct Target {
    /// The name both runners know it by (the `#[test]`, the libFuzzer binary).
    pub name: &'static str,
    /// Its seed corpus.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Dictionary tokens beyond [`crate::COMMON_DICT`] and the seeds' quoted strings.
    pub dict: &'static [&'static [u8]],
    /// The check of one input.
    pub check: fn(&[u8]) -> Outcome,
}

impl Target {
    /// The stable mutational fuzzer set up for this target (seeds and dictionary).
    pub fn fuzzer(&self) -> Fuzzer {
        Fuzzer::new(self.name, (self.seeds)()).dict(self.dict)
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

macro_rules! target {
    ($name:ident, $seeds:expr, $dict:expr) => {
        Target {
            name: stringify!($name),
            seeds: $seeds,
            dict: $dict,
            check: $name,
        }
    };
}

/// Every target.
pub const TARGETS: &[Target] = &[
    target!(smpp_receipt, seeds::smpp, SMPP_DICT),
    target!(carrier_dlr, seeds::dlr, SMPP_DICT),
    target!(accepted_message, seeds::accepted_message, &[]),
    target!(click, seeds::click, &[]),
    target!(inbound, seeds::inbound, &[]),
    target!(conversion_json, seeds::conversion_json, &[]),
    target!(track_query, seeds::track_query, &[]),
    target!(revocation, seeds::revocation, &[]),
    target!(dispatch_record, dispatch_record_seeds, &[]),
    target!(attempt_record, attempt_record_seeds, &[]),
    target!(dead_letter, dead_letter_seeds, &[]),
    target!(event_topics, event_topics_seeds, &[]),
    target!(config_record, config_record_seeds, CONFIG_DICT),
    target!(api_telecom23_put, seeds::telecom23, &[]),
    target!(api_smsedge_set, seeds::smsedge, &[]),
    target!(api_named, seeds::named, &[]),
    target!(api_admin_bodies, seeds::admin, &[]),
    target!(api_query, seeds::api_query, &[]),
    target!(retry_after, seeds::retry_after, RETRY_AFTER_DICT),
    target!(url_policy, seeds::urls, URL_DICT),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Runs target `name`'s check on one input (the libFuzzer entry point). An unknown name is
/// an `Err`.
pub fn check(name: &str, input: &[u8]) -> Outcome {
    match target(name) {
        Some(t) => (t.check)(input),
        None => Err(format!("no fuzz target called {name}")),
    }
}

/// The fixed clock of every target (deterministic runs).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 13, 10, 30, 0).unwrap()
}

/// A fixed operator key, so sealed secrets in the seeds open.
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn sealer() -> Sealer {
    Sealer::new(Some(KEY_HEX)).unwrap()
}

/// A `v1:` sealed secret made deterministically (fixed nonce) with [`KEY_HEX`], in the
/// format `Sealer::seal` writes.
fn sealed(secret: &str) -> SealedSecret {
    use base64::Engine;
    use chacha20poly1305::aead::{Aead, KeyInit};
    let key: Vec<u8> = (0u8..32).collect();
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&key));
    let nonce = [7u8; 12];
    let ct = cipher
        .encrypt(chacha20poly1305::Nonce::from_slice(&nonce), secret.as_bytes())
        .unwrap();
    let raw = [nonce.to_vec(), ct].concat();
    SealedSecret(format!("v1:{}", base64::engine::general_purpose::STANDARD.encode(raw)))
}

/// A label for an ingest refusal (the corpus keeps one input per distinct label): the reason
/// code and the field or the kind of JSON error, never the refused value itself.
fn input_error(e: &InputError) -> String {
    match e {
        InputError::Json(j) => format!("invalid_json:{}", label(&j.to_string())),
        InputError::MissingField(f) => format!("missing_field:{f}"),
        InputError::InvalidField { field, .. } => format!("invalid_field:{field}"),
        InputError::Smpp(r) => smpp_error(r),
        other => other.reason().to_string(),
    }
}

fn smpp_error(e: &smpp::ReceiptError) -> String {
    match e {
        smpp::ReceiptError::Missing(k) => format!("smpp_missing:{k}"),
        smpp::ReceiptError::Empty(k) => format!("smpp_empty:{k}"),
        smpp::ReceiptError::BadDate { field, .. } => format!("smpp_bad_date:{field}"),
    }
}

// ---------------------------------------------------------------------------------------
// Ingest: SMPP receipt text, and the JSON of every input topic and HTTP input.
// ---------------------------------------------------------------------------------------

const SMPP_DICT: &[&[u8]] = &[
    b"id:",
    b"sub:",
    b"dlvrd:",
    b"submit date:",
    b"done date:",
    b"stat:",
    b"err:",
    b"text:",
    b"ID:",
    b"Stat:",
    b"DONE DATE:",
    b"DELIVRD",
    b"UNDELIV",
    b"REJECTD",
    b"ENROUTE",
    b"2602131030",
    b"260213103004",
    b"991231235959",
    b"0000000000",
    b"9913329999",
    b"000229000000",
    b" ",
    b"\n",
];

fn smpp_receipt(input: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(input);
    match smpp::parse(&text) {
        Ok(r) => {
            if r.id.is_empty() || r.stat.is_empty() || r.id != r.id.trim() || r.stat != r.stat.trim() {
                return Err(format!(
                    "accepted a receipt with an empty or untrimmed id or stat: {r:?}"
                ));
            }
            Ok("ok".into())
        }
        Err(e) => Ok(smpp_error(&e)),
    }
}

fn carrier_dlr(input: &[u8]) -> Outcome {
    match normalise::carrier_dlr(input, now()) {
        Ok(d) => {
            round_trips(&d)?;
            if d.carrier_message_id.trim().is_empty() || d.carrier_message_id != d.carrier_message_id.trim() {
                return Err(format!("accepted a DLR with a blank or untrimmed id: {d:?}"));
            }
            Ok(format!("ok:{}", d.status.as_str()))
        }
        Err(e) => Ok(input_error(&e)),
    }
}

fn accepted_message(input: &[u8]) -> Outcome {
    match normalise::accepted_message(input) {
        Ok(m) => {
            round_trips(&m)?;
            if m.num_parts == 0 || !(m.cost.is_finite() && m.cost >= 0.0) {
                return Err(format!("accepted num_parts {} / cost {}", m.num_parts, m.cost));
            }
            Ok("ok".into())
        }
        Err(e) => Ok(input_error(&e)),
    }
}

fn click(input: &[u8]) -> Outcome {
    match normalise::click(input, now()) {
        Ok(c) => {
            round_trips(&c)?;
            Ok("ok".into())
        }
        Err(e) => Ok(input_error(&e)),
    }
}

fn inbound(input: &[u8]) -> Outcome {
    match normalise::inbound(input, now()) {
        Ok(i) => {
            round_trips(&i)?;
            Ok("ok".into())
        }
        Err(e) => Ok(input_error(&e)),
    }
}

/// What ingest's `conversion()` does with the fields of any conversion input: `token` is the
/// credential, not a field; the rest is validated.
fn conversion_of(mut fields: Map<String, Value>) -> Outcome {
    fields.remove("token");
    match normalise::conversion(&fields, now()) {
        Ok(c) => {
            round_trips(&c)?;
            if c.click_id.is_none() && c.message_id.is_none() {
                return Err("accepted a conversion with neither click_id nor message_id".into());
            }
            Ok("ok".into())
        }
        Err(e) => Ok(input_error(&e)),
    }
}

/// `POST /v1/actions` and `POST /track` with a JSON body.
fn conversion_json(input: &[u8]) -> Outcome {
    match serde_json::from_slice::<Map<String, Value>>(input) {
        Ok(fields) => conversion_of(fields),
        Err(e) => Ok(format!("invalid_body:{}", label(&e.to_string()))),
    }
}

/// `GET /track?…` (axum's `Query` extractor on the request URI, as the handler gets it) and
/// `POST /track` with a form body (the same grammar, through `serde_urlencoded`).
fn track_query(input: &[u8]) -> Outcome {
    let get = match axum::http::Uri::try_from([&b"/track?"[..], input].concat()) {
        // hyper refuses the request line before any handler runs.
        Err(_) => "uri_refused".to_string(),
        Ok(uri) => match Query::<HashMap<String, String>>::try_from_uri(&uri) {
            Ok(Query(q)) => conversion_of(q.into_iter().map(|(k, v)| (k, Value::String(v))).collect())?,
            Err(rejection) => {
                if rejection.status() != axum::http::StatusCode::BAD_REQUEST {
                    return Err(format!("query rejected with {}", rejection.status()));
                }
                "query_rejected".to_string()
            }
        },
    };
    let form = match serde_urlencoded::from_bytes::<Vec<(String, String)>>(input) {
        Ok(pairs) => conversion_of(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())?,
        Err(e) => format!("invalid_body:{}", label(&e.to_string())),
    };
    Ok(format!("{get}|{form}"))
}

/// `POST /v1/revocations` and the `link.clicks.revoked` topic (ingest's and enrich's decode).
fn revocation(input: &[u8]) -> Outcome {
    match serde_json::from_slice::<RevokedClickInput>(input) {
        Ok(r) => {
            round_trips(&r)?;
            let blank = r.workspace_id.trim().is_empty() || r.message_id.trim().is_empty();
            Ok(if blank { "missing_field" } else { "ok" }.into())
        }
        Err(e) => Ok(format!("invalid_json:{}", label(&e.to_string()))),
    }
}

// ---------------------------------------------------------------------------------------
// Internal topic records: what enrich, delivery and the api decode, and what they do next.
// ---------------------------------------------------------------------------------------

/// Valid records of every input type, normalised from the ingest seeds as ingest would.
struct Samples {
    msg: AcceptedMessage,
    dlr: CarrierDlr,
    click: ClickInput,
    conversion: ConversionInput,
    inbound: InboundInput,
}

fn samples() -> Samples {
    let first_ok = |seeds: Vec<Vec<u8>>, f: &dyn Fn(&[u8]) -> bool| seeds.into_iter().find(|s| f(s)).unwrap();
    let msg_raw = first_ok(seeds::accepted_message(), &|s| normalise::accepted_message(s).is_ok());
    let dlr_raw = first_ok(seeds::dlr(), &|s| normalise::carrier_dlr(s, now()).is_ok());
    let click_raw = first_ok(seeds::click(), &|s| normalise::click(s, now()).is_ok());
    let inbound_raw = first_ok(seeds::inbound(), &|s| normalise::inbound(s, now()).is_ok());
    let conv: Map<String, Value> = seeds::conversion_json()
        .iter()
        .filter_map(|s| serde_json::from_slice(s).ok())
        .find(|m| normalise::conversion(m, now()).is_ok())
        .unwrap();
    Samples {
        msg: normalise::accepted_message(&msg_raw).unwrap(),
        dlr: normalise::carrier_dlr(&dlr_raw, now()).unwrap(),
        click: normalise::click(&click_raw, now()).unwrap(),
        conversion: normalise::conversion(&conv, now()).unwrap(),
        inbound: normalise::inbound(&inbound_raw, now()).unwrap(),
    }
}

/// One event of every kind, built the way enrich builds them.
fn events(s: &Samples) -> Vec<Event> {
    let mut v = vec![
        Event::delivery(&s.dlr, &s.msg),
        Event::dlr_status(&s.dlr, &s.msg),
        Event::impression(&s.msg, now()),
        Event::sent(&s.msg, now()),
        Event::click(&s.click, &s.msg),
        Event::link_opt_out(&s.click, &s.msg),
        Event::conversion(&s.conversion, &s.msg, Some(s.click.click_id.as_str())),
        Event::inbound(&s.inbound, Some(&s.msg)),
        Event::keyword_opt_out(&s.inbound, "STOP", Some(&s.msg)),
    ];
    v.push(Event {
        id: "rev_1".into(),
        workspace_id: s.msg.workspace_id.clone(),
        occurred_at: now(),
        received_at: now(),
        data: EventData::ClicksRevoked(RevokedClicks {
            api_sms_ids: vec!["api_42_1".into()],
            campaign_sms_ids: vec!["m-9".into()],
        }),
    });
    v
}

/// A workspace configured through every dialect's own validation: 23 Telecom URLs with a
/// secret and chosen fields, SMSEdge URLs with Basic auth, a named subscription with filters
/// (ids and secrets made deterministic afterwards).
fn configured_workspace(id: &str) -> WorkspaceConfig {
    let policy = UrlPolicy::new(false, vec![]);
    let plain = Sealer::new(None).unwrap();
    let ws = WorkspaceConfig::new(id);
    let ws = ready(telecom23::apply_put(
        &ws,
        br#"{"delivery_url":"https://93.184.215.14/dlr","click_url":"https://93.184.215.14/click","conversion_url":"https://93.184.215.14/conv","impression_url":"https://93.184.215.14/imp","signing_secret":"s3cret","delivery_fields":["message_id","status","workspace_id"]}"#,
        &policy,
        &plain,
    ))
    .unwrap()
    .unwrap();
    let mut form = HeaderMap::new();
    form.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let ws = ready(smsedge::apply_set(
        &ws,
        &form,
        b"dlr_url=https%3A%2F%2F93.184.215.14%2Fse-dlr&click_url=https%3A%2F%2F93.184.215.14%2Fse-click&inbound_url=https%3A%2F%2F93.184.215.14%2Fse-in&revoke_click_url=https%3A%2F%2F93.184.215.14%2Fse-rev&auth=u%3Ap",
        &policy,
        &plain,
    ))
    .unwrap()
    .unwrap();
    let (mut ws, _) = ready(named::apply_create(
        &ws,
        br#"{"name":"All of it","url":"https://93.184.215.14/named","event_types":["SMS_STATUS","SMS_INBOUND","LINK_HIT","OPT_OUT"],"filter":{"sender":["MyApp"],"status":["delivered","sent"]},"rate_limit":50}"#,
        &policy,
        &plain,
    ))
    .unwrap()
    .unwrap();
    for (i, s) in ws.subscriptions.iter_mut().enumerate() {
        if s.id.starts_with("wh_") {
            s.id = format!("wh_{i:024x}");
        }
        if s.signing_secret.is_some() {
            s.signing_secret = Some(sealed("whsec_fuzz"));
        }
        if s.basic_auth.is_some() {
            s.basic_auth = Some(SealedSecret("plain:u:p".into()));
        }
    }
    ws.telecom23.signing_secret = Some(sealed("s3cret"));
    ws
}

/// Delivery's schedule with the default tiers.
fn schedule() -> Schedule {
    Schedule {
        tiers_secs: hookline_model::retry::default_tiers_secs(),
        scale: 1.0,
    }
}

const NOW_MS: i64 = 1_770_978_600_000;

/// What delivery does with a subscription before its requests: the endpoint's gate (rate
/// limit and concurrency from the record), one admission check.
fn gate(sub: &Subscription) {
    let gates = Gates::new(16, 256, 256, 1000);
    let g = gates.get(&sub.endpoint_key(), sub.rate_limit_per_sec, sub.max_concurrency);
    let _ = g.check_rate();
}

/// What delivery does with a resolved subscription and an event: render the payload, open
/// the sealed credentials, and schedule the next attempt after a failure (with and without a
/// `Retry-After`).
fn deliver(event: &Event, sub: &Subscription, sealer: &Sealer) {
    let _ = render::render(event, sub);
    let _ = sub.wants(event);
    for secret in [&sub.signing_secret, &sub.basic_auth].into_iter().flatten() {
        let _ = sealer.open(&secret.0);
    }
    for attempt in 1..=sub.retry.delays_secs.len() as u32 + 1 {
        for ra in [None, Some(Duration::from_secs(u64::MAX))] {
            let _ = schedule().after_failure(&sub.retry, attempt, ra, NOW_MS);
        }
    }
}

/// The config state every internal-record target resolves against.
fn live_config(ws: &WorkspaceConfig) -> ConfigState {
    let mut st = ConfigState::default();
    st.apply(
        &format!("workspace:{}", ws.workspace_id),
        Some(&serde_json::to_vec(ws).unwrap()),
    )
    .unwrap();
    st
}

fn dispatch_seeds(events: &[Event], ws: &WorkspaceConfig) -> Vec<Dispatch> {
    let mut out = vec![];
    for e in events {
        for sub in &ws.subscriptions {
            if sub.wants(e) || sub.event_kinds.contains(&e.kind()) {
                out.push(Dispatch::new(e.clone(), sub, ws.version));
            }
        }
    }
    let mut test = out[0].clone();
    test.test = true;
    out.push(test);
    out
}

/// What the checks read besides their input, built once (deterministically) and never
/// changed: sample records, a workspace configured through every dialect, the config state
/// holding it, a sealer, the URL policies.
struct Fixtures {
    samples: Samples,
    /// One event of every kind for [`Fixtures::ws`].
    events: Vec<Event>,
    /// The samples' workspace, configured through every dialect.
    ws: WorkspaceConfig,
    /// The config state every internal-record target resolves against (holds `ws`).
    live: ConfigState,
    /// Workspace `acme`, configured, as the API targets find it.
    acme: WorkspaceConfig,
    /// The id of `acme`'s named subscription.
    named_id: String,
    /// A dead letter of `acme` (the re-send filter's input).
    acme_dead: DeadLetter,
    /// The re-send filter of the admin seeds.
    resend: dead_letters::ResendFilter,
    sealer: Sealer,
    /// The URL policy of a production deployment.
    strict: UrlPolicy,
    /// http allowed and loopback allowed.
    lax: UrlPolicy,
    form: HeaderMap,
    json: HeaderMap,
    retry_policies: [RetryPolicy; 3],
}

impl Fixtures {
    fn new() -> Self {
        let samples = samples();
        let events = events(&samples);
        let ws = configured_workspace(&samples.msg.workspace_id);
        let live = live_config(&ws);
        let acme = configured_workspace("acme");
        let named_id = acme
            .subscriptions
            .iter()
            .find(|s| s.dialect == Dialect::Named)
            .unwrap()
            .id
            .clone();
        let acme_dead = DeadLetter {
            dispatch: dispatch_seeds(&events, &acme).remove(0),
            url: String::new(),
            attempts: 3,
            last_error: "HTTP 500".into(),
            dead_at: now(),
            reason: Default::default(),
        };
        let resend = serde_json::from_slice(&seeds::admin()[4]).unwrap();
        let mut form = HeaderMap::new();
        form.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let mut json = HeaderMap::new();
        json.insert("content-type", HeaderValue::from_static("application/json"));
        Self {
            samples,
            events,
            ws,
            live,
            acme,
            named_id,
            acme_dead,
            resend,
            sealer: sealer(),
            strict: UrlPolicy::new(false, vec![]),
            lax: UrlPolicy::new(true, vec!["127.0.0.0/8".parse().unwrap()]),
            form,
            json,
            retry_policies: [RetryPolicy::telecom23(), RetryPolicy::smsedge(), RetryPolicy::none()],
        }
    }
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: LazyLock<Fixtures> = LazyLock::new(Fixtures::new);
    &FIXTURES
}

/// Dispatches of every event to every subscription that takes it (and a test send).
fn dispatch_record_seeds() -> Vec<Vec<u8>> {
    let f = fixtures();
    dispatch_seeds(&f.events, &f.ws)
        .iter()
        .map(|d| serde_json::to_vec(d).unwrap())
        .collect()
}

/// The dispatch topic and the retry tiers (delivery's decode), then what delivery does with
/// the record: resolve its subscription, render, open credentials, schedule a retry.
fn dispatch_record(input: &[u8]) -> Outcome {
    let f = fixtures();
    match serde_json::from_slice::<Dispatch>(input) {
        Ok(d) => {
            round_trips(&d)?;
            let _ = d.endpoint_key();
            let resolved = d.resolve(&f.live);
            if let hookline_model::Resolved::Found(sub) = &resolved {
                gate(sub);
                deliver(&d.event, sub, &f.sealer);
            }
            for sub in &f.ws.subscriptions {
                let _ = render::render(&d.event, sub);
            }
            Ok(format!(
                "ok:{}:{}",
                d.event.kind(),
                matches!(resolved, hookline_model::Resolved::Found(_))
            ))
        }
        Err(e) => Ok(label(&e.to_string())),
    }
}

fn attempt_seed(d: &Dispatch) -> AttemptRecord {
    AttemptRecord {
        attempt_id: format!("{}-1", d.dispatch_id),
        webhook_id: d.dispatch_id.clone(),
        event_id: d.event.id.clone(),
        event_type: d.event.kind(),
        workspace_id: d.workspace_id.clone(),
        subscription_id: d.subscription_id.clone(),
        url: "https://93.184.215.14/dlr".into(),
        attempt: 2,
        test: false,
        outcome: AttemptOutcome::Failed,
        request_headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Webhook-Attempt".into(), "2".into()),
        ],
        payload: r#"{"message_id":"api_42_1","status":"DELIVRD"}"#.into(),
        response_code: Some(503),
        response_time_ms: 84,
        response_body: Some("busy".into()),
        error: Some("HTTP 503".into()),
        attempted_at: now(),
        next_attempt_at: Some(now() + chrono::Duration::seconds(30)),
        dead_lettered: false,
        throttled_rate_per_sec: None,
        url_kind: None,
        batch_id: None,
        batch_size: None,
    }
}

/// An attempt record of every dispatch.
fn attempt_record_seeds() -> Vec<Vec<u8>> {
    let f = fixtures();
    dispatch_seeds(&f.events, &f.ws)
        .iter()
        .map(|d| serde_json::to_vec(&attempt_seed(d)).unwrap())
        .collect()
}

/// The attempts topic (the api's attempt-log consumer), then the log entry it serves.
fn attempt_record(input: &[u8]) -> Outcome {
    match serde_json::from_slice::<AttemptRecord>(input) {
        Ok(r) => {
            round_trips(&r)?;
            let _ = logs::entry(&r);
            Ok(format!("ok:{}", r.outcome.as_str()))
        }
        Err(e) => Ok(label(&e.to_string())),
    }
}

/// A dead letter of every dispatch.
fn dead_letter_seeds() -> Vec<Vec<u8>> {
    let f = fixtures();
    dispatch_seeds(&f.events, &f.ws)
        .into_iter()
        .map(|d| {
            serde_json::to_vec(&DeadLetter {
                dispatch: d,
                url: "https://93.184.215.14/dlr".into(),
                attempts: 3,
                last_error: "HTTP 500".into(),
                dead_at: now(),
                reason: Default::default(),
            })
            .unwrap()
        })
        .collect()
}

/// The dead-letter topic (the api's consumer, the Redis list, re-sends).
fn dead_letter(input: &[u8]) -> Outcome {
    let f = fixtures();
    match serde_json::from_slice::<DeadLetter>(input) {
        Ok(d) => {
            round_trips(&d)?;
            let _ = f.resend.matches(&d);
            for sub in &f.ws.subscriptions {
                let _ = render::render(&d.dispatch.event, sub);
            }
            Ok("ok".into())
        }
        Err(e) => Ok(label(&e.to_string())),
    }
}

/// A record of every input type.
fn event_topics_seeds() -> Vec<Vec<u8>> {
    let s = &fixtures().samples;
    vec![
        serde_json::to_vec(&s.msg).unwrap(),
        serde_json::to_vec(&s.dlr).unwrap(),
        serde_json::to_vec(&s.click).unwrap(),
        serde_json::to_vec(&s.conversion).unwrap(),
        serde_json::to_vec(&s.inbound).unwrap(),
    ]
}

/// The event topics between ingest and enrich (`hookline.events.*`, the DLR wait topic):
/// every record type enrich decodes, then the events enrich builds from it, matched against
/// the live config and rendered for every subscription.
fn event_topics(input: &[u8]) -> Outcome {
    let f = fixtures();
    let s = &f.samples;
    let fan_out = |events: Vec<Event>| {
        for e in &events {
            let (_, subs) = f.live.matching(e);
            for sub in &subs {
                deliver(e, sub, &f.sealer);
            }
        }
    };
    let mut decoded = vec![];
    if let Ok(m) = serde_json::from_slice::<AcceptedMessage>(input) {
        round_trips(&m)?;
        fan_out(vec![
            Event::impression(&m, now()),
            Event::sent(&m, now()),
            Event::delivery(&s.dlr, &m),
            Event::click(&s.click, &m),
            Event::inbound(&s.inbound, Some(&m)),
        ]);
        decoded.push("message");
    }
    if let Ok(d) = serde_json::from_slice::<CarrierDlr>(input) {
        round_trips(&d)?;
        fan_out(vec![Event::delivery(&d, &s.msg), Event::dlr_status(&d, &s.msg)]);
        decoded.push("dlr");
    }
    if let Ok(c) = serde_json::from_slice::<ClickInput>(input) {
        round_trips(&c)?;
        fan_out(vec![Event::click(&c, &s.msg), Event::link_opt_out(&c, &s.msg)]);
        decoded.push("click");
    }
    if let Ok(c) = serde_json::from_slice::<ConversionInput>(input) {
        round_trips(&c)?;
        fan_out(vec![Event::conversion(&c, &s.msg, c.click_id.as_deref())]);
        decoded.push("conversion");
    }
    if let Ok(i) = serde_json::from_slice::<InboundInput>(input) {
        round_trips(&i)?;
        fan_out(vec![
            Event::inbound(&i, Some(&s.msg)),
            Event::keyword_opt_out(&i, &i.text, Some(&s.msg)),
        ]);
        decoded.push("inbound");
    }
    Ok(if decoded.is_empty() {
        serde_json::from_slice::<Value>(input)
            .map(|_| "not_a_record".to_string())
            .unwrap_or_else(|e| label(&e.to_string()))
    } else {
        decoded.join(",")
    })
}

const CONFIG_DICT: &[&[u8]] = &[
    b"workspace:",
    b"api_key:",
    b"ingest_key:",
    b"\n",
    b"v1:",
    b"plain:",
    b"\"delays_secs\":[18446744073709551615]",
    b"\"enabled\":false",
];

/// Every config record type; the first byte picks the key (see `config_record`).
fn config_record_seeds() -> Vec<Vec<u8>> {
    let ws = &fixtures().ws;
    let api_key = ApiKeyRecord {
        key_id: "key_0123456789ab".into(),
        key_hash: "ab".repeat(32),
        workspace_id: ws.workspace_id.clone(),
        permissions: vec![Permission::WebhooksRead, Permission::WebhooksWrite],
        created_at: now(),
    };
    let ingest_key = IngestKeyRecord {
        key_id: "ing_0123456789ab".into(),
        key_hash: "cd".repeat(32),
        name: Some("acme-telco DLR callbacks".into()),
        kinds: vec![IngestKind::Dlr, IngestKind::Conversions],
        workspace_id: Some(ws.workspace_id.clone()),
        carrier_connection: Some("acme-telco".into()),
        created_at: now(),
    };
    let with = |kind: u8, v: Vec<u8>| [vec![kind], v].concat();
    let mut bare = WorkspaceConfig::new("w");
    bare.version = 3;
    let mut one = WorkspaceConfig::new("acme");
    one.subscriptions = ws
        .subscriptions
        .iter()
        .filter(|s| s.dialect == Dialect::Named)
        .cloned()
        .collect();
    vec![
        with(0, serde_json::to_vec(&ws).unwrap()),
        with(0, serde_json::to_vec(&bare).unwrap()),
        with(0, serde_json::to_vec(&one).unwrap()),
        with(1, serde_json::to_vec(&api_key).unwrap()),
        with(2, serde_json::to_vec(&ingest_key).unwrap()),
        with(
            3,
            [b"workspace:acme\n".to_vec(), serde_json::to_vec(&ws).unwrap()].concat(),
        ),
        with(3, b"ingest_key:abc\n".to_vec()),
    ]
}

/// The config topic (every service's replay, `ConfigState::apply`). The first byte picks
/// the key (`workspace:`, `api_key:`, `ingest_key:`, or a raw key up to the first newline);
/// the rest is the value. Then what the services read from the state: the dialects' views,
/// matching, rendering, opening sealed credentials, retry schedules of the decoded policies.
fn config_record(input: &[u8]) -> Outcome {
    let f = fixtures();
    let Some((&sel, rest)) = input.split_first() else {
        return Ok("empty".into());
    };
    let (key, value): (String, Option<&[u8]>) = match sel % 4 {
        0 => ("workspace:acme".into(), Some(rest)),
        1 => (format!("api_key:{}", "ab".repeat(32)), Some(rest)),
        2 => (format!("ingest_key:{}", "cd".repeat(32)), Some(rest)),
        _ => match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (String::from_utf8_lossy(&rest[..n]).into_owned(), Some(&rest[n + 1..])),
            None => (String::from_utf8_lossy(rest).into_owned(), None),
        },
    };
    let mut st = ConfigState::default();
    match st.apply(&key, value) {
        Err(hookline_model::config_log::ConfigRecordError::BadKey(_)) => Ok("bad_key".into()),
        Err(hookline_model::config_log::ConfigRecordError::BadValue { source, .. }) => {
            Ok(format!("bad_value:{}", label(&source.to_string())))
        }
        Ok(_) => {
            if let (Some(hookline_model::ConfigKey::Workspace(id)), Some(v)) =
                (hookline_model::ConfigKey::parse(&key), value)
            {
                let decoded: WorkspaceConfig = serde_json::from_slice(v).map_err(|e| e.to_string())?;
                round_trips(&decoded)?;
                let w = st.workspace(&id).ok_or("applied workspace missing")?;
                let _ = (
                    telecom23::view(&w),
                    smsedge::view(&w),
                    named::paging::page_view(&w, &Default::default()),
                );
                for sub in &w.subscriptions {
                    gate(sub);
                }
                for e in &f.events {
                    let mut e = e.clone();
                    e.workspace_id = id.clone();
                    let (_, subs) = st.matching(&e);
                    for sub in subs.iter().chain(&w.subscriptions) {
                        deliver(&e, sub, &f.sealer);
                    }
                }
            }
            for k in st.api_keys() {
                round_trips(k)?;
            }
            for k in st.ingest_keys() {
                round_trips(k)?;
            }
            Ok(format!("ok:{}", key.split(':').next().unwrap_or_default()))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The API's request bodies and query strings.
// ---------------------------------------------------------------------------------------

/// A public address standing in for a host name (see the module docs).
const STAND_IN: IpAddr = IpAddr::V4(Ipv4Addr::new(93, 184, 215, 14));

/// `s` with its host name replaced by [`STAND_IN`] when the policy would resolve it, else
/// `None`.
fn without_name(policy: &UrlPolicy, s: &str) -> Option<String> {
    let mut url = policy.check_syntax(s).ok()?;
    if !matches!(url.host(), Some(url::Host::Domain(_))) {
        return None;
    }
    url.set_ip_host(STAND_IN).ok()?;
    Some(url.into())
}

/// The body as the handler will see it, without host names to resolve: unchanged unless
/// the value of one of its top-level keys ending in `url` (the only ones the dialects check
/// as URLs: `*_url`, `url`) is a URL with a host name.
fn dns_free(policy: &UrlPolicy, body: &[u8], json: bool) -> Vec<u8> {
    if json {
        if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(body) {
            let mut changed = false;
            for (_, v) in obj.iter_mut().filter(|(k, _)| k.ends_with("url")) {
                if let Some(u) = v.as_str().and_then(|s| without_name(policy, s)) {
                    *v = Value::String(u);
                    changed = true;
                }
            }
            if changed {
                return serde_json::to_vec(&obj).unwrap();
            }
        }
    } else if let Ok(mut pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        let mut changed = false;
        for (_, v) in pairs.iter_mut().filter(|(k, _)| k.ends_with("url")) {
            if let Some(u) = without_name(policy, v) {
                *v = u;
                changed = true;
            }
        }
        if changed {
            return serde_urlencoded::to_string(&pairs).unwrap().into_bytes();
        }
    }
    body.to_vec()
}

/// An API error must be a `400` with one of the codes the endpoint documents.
fn api_error(e: &hookline_api::error::ApiError, documented: &[&str]) -> Outcome {
    if e.status != axum::http::StatusCode::BAD_REQUEST || !documented.contains(&e.code) {
        return Err(format!(
            "answered {} {} ({}), not a documented 400",
            e.status, e.code, e.description
        ));
    }
    Ok(format!("{}:{}", e.code, label(&e.description)))
}

/// A written workspace config must decode as the config topic's record.
fn config_round_trips(ws: &WorkspaceConfig) -> Result<(), String> {
    round_trips(ws)?;
    let mut st = ConfigState::default();
    st.apply(
        "workspace:acme",
        Some(&serde_json::to_vec(ws).map_err(|e| e.to_string())?),
    )
    .map(|_| ())
    .map_err(|e| format!("the written config does not replay: {e}"))
}

/// `PUT /api/v1/user/webhooks` (23 Telecom).
fn api_telecom23_put(input: &[u8]) -> Outcome {
    let f = fixtures();
    const CODES: &[&str] = &[
        "INVALID_BODY",
        "CONFLICTING_FIELDS",
        "INVALID_URL",
        "INVALID_SECRET",
        "INVALID_FIELDS",
        "INVALID_TOGGLE",
    ];
    let body = dns_free(&f.strict, input, true);
    match ready(telecom23::apply_put(&f.acme, &body, &f.strict, &f.sealer))? {
        Ok(ws) => {
            config_round_trips(&ws)?;
            let _ = telecom23::view(&ws);
            Ok("ok".into())
        }
        Err(e) => api_error(&e, CODES),
    }
}

/// `POST /v1/user/set-webhook` (SMSEdge), each input as a form and as a JSON body.
fn api_smsedge_set(input: &[u8]) -> Outcome {
    let f = fixtures();
    const CODES: &[&str] = &["INVALID_BODY", "INVALID_URL", "INVALID_AUTH"];
    let mut labels = vec![];
    for (headers, is_json) in [(&f.form, false), (&f.json, true)] {
        let body = dns_free(&f.strict, input, is_json);
        labels.push(
            match ready(smsedge::apply_set(&f.acme, headers, &body, &f.strict, &f.sealer))? {
                Ok(ws) => {
                    config_round_trips(&ws)?;
                    let _ = smsedge::view(&ws);
                    "ok".to_string()
                }
                Err(e) => api_error(&e, CODES)?,
            },
        );
    }
    Ok(labels.join("|"))
}

/// `POST /api/v1/webhooks` and `PATCH /api/v1/webhooks/{id}` (named subscriptions).
fn api_named(input: &[u8]) -> Outcome {
    let f = fixtures();
    const CODES: &[&str] = &[
        "INVALID_BODY",
        "INVALID_NAME",
        "INVALID_URL",
        "INVALID_EVENT_TYPE",
        "INVALID_FILTER",
        "INVALID_RATE_LIMIT",
        "INVALID_ENABLED",
        "INVALID_FAILOVER_URL",
        "INVALID_FAILOVER_AFTER",
        "INVALID_BATCH",
    ];
    let body = dns_free(&f.strict, input, true);
    let create = match ready(named::apply_create(&f.acme, &body, &f.strict, &f.sealer))? {
        Ok((ws, view)) => {
            config_round_trips(&ws)?;
            if view.get("signing_secret").is_none() {
                return Err("create answered without the signing secret".into());
            }
            "ok".to_string()
        }
        Err(e) => api_error(&e, CODES)?,
    };
    let patch = match ready(named::apply_patch(&f.acme, &f.named_id, &body, &f.strict))? {
        Ok((ws, _)) => {
            config_round_trips(&ws)?;
            let _ = named::get_view(&ws, &f.named_id).map_err(|e| format!("patched subscription gone: {e:?}"))?;
            "ok".to_string()
        }
        Err(e) => api_error(&e, CODES)?,
    };
    Ok(format!("{create}|{patch}"))
}

/// The operator bodies (`POST /admin/v1/api-keys`, `/admin/v1/ingest-keys`,
/// `/admin/v1/dead-letters/resend`) and the test-send body, each input through all four.
fn api_admin_bodies(input: &[u8]) -> Outcome {
    let f = fixtures();
    // The handlers answer a body that does not decode INVALID_BODY.
    let api_key = match serde_json::from_slice::<admin::NewApiKey>(input) {
        Err(_) => "INVALID_BODY".to_string(),
        Ok(req) => match req.generate() {
            Ok((key, rec)) => {
                round_trips(&rec)?;
                if !key.starts_with("hk_") {
                    return Err(format!("API key {key} without its prefix"));
                }
                let mut st = ConfigState::default();
                st.apply(
                    &format!("api_key:{}", rec.key_hash),
                    Some(&serde_json::to_vec(&rec).unwrap()),
                )
                .map_err(|e| e.to_string())?;
                "ok".to_string()
            }
            Err(e) => api_error(&e, &["INVALID_WORKSPACE", "INVALID_PERMISSIONS"])?,
        },
    };
    let ingest_key = match serde_json::from_slice::<admin::NewIngestKey>(input) {
        Err(_) => "INVALID_BODY".to_string(),
        Ok(req) => match req.generate() {
            Ok((_, rec)) => {
                round_trips(&rec)?;
                let mut st = ConfigState::default();
                st.apply(
                    &format!("ingest_key:{}", rec.key_hash),
                    Some(&serde_json::to_vec(&rec).unwrap()),
                )
                .map_err(|e| e.to_string())?;
                "ok".to_string()
            }
            Err(e) => api_error(
                &e,
                &[
                    "INVALID_KINDS",
                    "INVALID_WORKSPACE",
                    "INVALID_CARRIER_CONNECTION",
                    "INVALID_NAME",
                ],
            )?,
        },
    };
    let resend = match serde_json::from_slice::<dead_letters::ResendFilter>(input) {
        Err(_) => "INVALID_BODY".to_string(),
        Ok(filter) => filter.matches(&f.acme_dead).to_string(),
    };
    // test_send::handle: a JSON body whose `type` is a 23 Telecom kind.
    let test_send = match serde_json::from_slice::<Value>(input) {
        Err(_) => "INVALID_BODY".to_string(),
        Ok(v) => v
            .get("type")
            .and_then(Value::as_str)
            .and_then(EventKind::parse)
            .filter(|k| EventKind::TELECOM23.contains(k))
            .map_or("INVALID_TYPE".to_string(), |k| k.to_string()),
    };
    Ok(format!("{api_key}|{ingest_key}|{resend}|{test_send}"))
}

/// The query of `GET /api/v1/user/webhooks/logs`, `/dead-letters` (`?limit=`) and
/// `/admin/v1/api-keys` (`?workspace_id=`): axum's `Query` with the handlers' own type
/// (`logs::QueryPairs`), then the limit rule they share (`logs::limit_param`).
fn api_query(input: &[u8]) -> Outcome {
    let Ok(uri) = axum::http::Uri::try_from([&b"/api/v1/user/webhooks/logs?"[..], input].concat()) else {
        return Ok("uri_refused".into());
    };
    let Query(pairs) = match logs::QueryPairs::try_from_uri(&uri) {
        Ok(q) => q,
        Err(rejection) => {
            if rejection.status() != axum::http::StatusCode::BAD_REQUEST {
                return Err(format!("query rejected with {}", rejection.status()));
            }
            return Ok("query_rejected".into());
        }
    };
    match logs::limit_param(&pairs) {
        Ok(n) if (1..=logs::MAX_LIMIT).contains(&n) => Ok("ok".into()),
        Ok(n) => Err(format!("limit {n} outside 1..={}", logs::MAX_LIMIT)),
        Err(e) => api_error(&e, &["INVALID_LIMIT"]),
    }
}

// ---------------------------------------------------------------------------------------
// Delivery's Retry-After, and the URL policy.
// ---------------------------------------------------------------------------------------

const RETRY_AFTER_DICT: &[&[u8]] = &[
    b"GMT",
    b"Mon, ",
    b" Jan ",
    b" Dec ",
    b"+0000",
    b"-2359",
    b"9999",
    b"0000",
    b"23:59:60",
    b":",
    b",",
];

/// `Retry-After` of a 429/503 as delivery reads it (a header value, as text), then the next
/// attempt it schedules under the dialects' policies.
fn retry_after(input: &[u8]) -> Outcome {
    let f = fixtures();
    let at = DateTime::from_timestamp_millis(NOW_MS).unwrap();
    let as_header = HeaderValue::from_bytes(input).ok();
    let text = as_header.as_ref().and_then(|v| v.to_str().ok());
    let lossy = String::from_utf8_lossy(input);
    let mut out = "none";
    for v in text.into_iter().chain([&*lossy]) {
        let parsed = parse_retry_after(v, at);
        if let Ok(n) = v.trim().parse::<u64>() {
            if parsed != Some(Duration::from_secs(n)) {
                return Err(format!("delay-seconds {n} read as {parsed:?}"));
            }
        }
        if parsed.is_some() {
            out = "some";
        }
        for p in &f.retry_policies {
            for attempt in 1..=3 {
                if let Next::Retry { due_ms, .. } = schedule().after_failure(p, attempt, parsed, NOW_MS) {
                    if due_ms < NOW_MS {
                        return Err(format!("next attempt due before now: {due_ms}"));
                    }
                }
            }
        }
    }
    Ok(out.into())
}

const URL_DICT: &[&[u8]] = &[
    b"https://",
    b"http://",
    b"://",
    b"@",
    b"[",
    b"]",
    b"::ffff:",
    b"64:ff9b::",
    b"2002:",
    b"0x",
    b"%2e",
    b"..",
    b"/./",
    b"xn--",
    b":443",
    b":0",
    b"#",
    b"?",
];

/// The webhook URL policy on raw text: `check_syntax` (everything but DNS), strict and with
/// http and an allowed CIDR. An accepted URL is accepted again as it is stored, unchanged,
/// with no control character; its IP literal is allowed. And for any 4 bytes, an IPv4
/// address and the IPv6 forms that embed it are judged alike.
fn url_policy(input: &[u8]) -> Outcome {
    let f = fixtures();
    let s = String::from_utf8_lossy(input);
    let mut out = vec![];
    for p in [&f.strict, &f.lax] {
        match p.check_syntax(&s) {
            Ok(url) => {
                let again = p
                    .check_syntax(url.as_str())
                    .map_err(|e| format!("stored URL {url} refused when checked again: {e}"))?;
                if again.as_str() != url.as_str() {
                    return Err(format!("stored URL {url} normalises again to {again}"));
                }
                if url.as_str().chars().any(char::is_control)
                    || url.as_str().len() > hookline_security::url_policy::MAX_URL_LEN
                {
                    return Err(format!("accepted URL {url:?} has a control character or is too long"));
                }
                let ip = match url.host() {
                    Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                    Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                    _ => None,
                };
                if ip.is_some_and(|ip| !p.ip_allowed(ip)) {
                    return Err(format!("accepted URL {url} targets a forbidden address"));
                }
                out.push("ok".to_string());
            }
            // The variant, without the refused scheme or address.
            Err(e) => out.push(format!("{e:?}").split('(').next().unwrap_or_default().to_string()),
        }
    }
    if let Some(b) = input.get(..4) {
        let v4 = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        let [o0, o1, o2, o3] = v4.octets();
        let (hi, lo) = (u16::from_be_bytes([o0, o1]), u16::from_be_bytes([o2, o3]));
        let forms = [
            Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, hi, lo),
            Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, hi, lo),
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
            Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
        ];
        for p in [&f.strict, &f.lax] {
            let plain = p.ip_allowed(IpAddr::V4(v4));
            for v6 in forms {
                if p.ip_allowed(IpAddr::V6(v6)) != plain {
                    return Err(format!("{v4} allowed: {plain}, but {v6} the other way"));
                }
            }
        }
    }
    Ok(out.join("|"))
}
