//! Per-endpoint admission: an adaptive bound on concurrent requests and an adaptive rate
//! under a hard rate ceiling.
//!
//! One [`Gate`] per endpoint (subscription), in this process only. That is a global limit
//! because dispatch and retry-tier topics are keyed by endpoint and consumed by one group with
//! the range assignor: one consumer owns an endpoint, whatever the number of replicas.
//!
//! - Concurrency: [`Slots`] sized by the endpoint's adaptive limit ([`concurrency::Limit`]),
//!   which grows while the endpoint's latency stays near its minimum and shrinks when latency
//!   rises or the receiver refuses, within the subscription's `max_concurrency` (SMSEdge: 3)
//!   or the platform's `HOOKLINE_ENDPOINT_MAX_CONCURRENCY`.
//! - Pacing: [`Pacer`] (GCRA, no one-second window above the limit). The rate it paces at is
//!   the endpoint's adaptive rate ([`Aimd`]): the configured limit while the receiver copes,
//!   halved on 429, 503 and timeouts, raised again additively on successes. A `Retry-After`
//!   also pauses the endpoint's admissions until then (at most [`MAX_PAUSE`]).
//! - Ceiling: the configured limit itself, a `governor` quota ([`Ceiling`]) checked after the
//!   pacer, so no request exceeds it whatever the adaptive parts do.
//!
//! The adaptive rate (while below the limit) and concurrency limit are published to the store,
//! and a gate new to this process starts from them ([`SharedRates`]), so they survive the
//! endpoint's move to another replica.

use crate::aimd::Aimd;
use crate::ceiling::Ceiling;
use crate::concurrency::{Answer, Limit};
use crate::pacer::Pacer;
use crate::shared_rate::SharedRates;
use crate::slots::{Full, Slot, Slots};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest pause a `Retry-After` imposes on an endpoint's admissions; a longer one still
/// delays the record's own retry (see [`crate::retry`]).
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Gates of every endpoint this process has seen.
pub struct Gates {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    /// The concurrency limit a new endpoint starts at.
    start_concurrency: usize,
    /// The most requests in flight to one endpoint, whatever its subscription says.
    max_concurrency: usize,
    queue: usize,
    default_rate: u32,
}

/// One endpoint's admission control.
pub struct Gate {
    /// The configured limit (requests per second).
    rate: u32,
    /// The most requests in flight this endpoint may have (its adaptive limit's maximum).
    max_concurrency: usize,
    adaptive: Mutex<Adaptive>,
    ceiling: Ceiling,
    slots: Arc<Slots>,
    queue: usize,
    /// Moving average of this endpoint's request duration, in ms.
    avg_request_ms: AtomicU64,
    /// Unix ms of the next free slot for a deferred record (see [`Gate::defer_until`]).
    next_deferred_slot_ms: Mutex<i64>,
    /// The rate last published to the store ([`SharedRates`]).
    published: AtomicU32,
    /// The concurrency limit last published to the store.
    published_concurrency: AtomicUsize,
}

/// The pacer, the rate it paces at and the concurrency limit, changed together.
struct Adaptive {
    pacer: Pacer,
    aimd: Aimd,
    concurrency: Limit,
}

/// What an attempt said about the receiver's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A 2xx.
    Success,
    /// A 429 or 503, with the `Retry-After` it gave, if any.
    Throttled(Option<Duration>),
    /// No answer within the timeout: lowers the rate like a 429 (without a pause) and the
    /// concurrency limit more than a 429 does.
    TimedOut,
    /// Any other 5xx: lowers the concurrency limit a little, not the rate.
    ServerError,
    /// Anything else: says nothing about capacity.
    Neutral,
}

impl Signal {
    fn answer(self) -> Answer {
        match self {
            Signal::Success => Answer::Ok,
            Signal::TimedOut => Answer::TimedOut,
            Signal::Throttled(_) | Signal::ServerError => Answer::Refused,
            Signal::Neutral => Answer::Neutral,
        }
    }
}

/// The endpoint has its limit of requests in flight and `queue` more waiting.
#[derive(Debug, PartialEq, Eq)]
pub struct Saturated;

/// Where a new gate starts: what a previous owner of the endpoint left in the store.
#[derive(Debug, Clone, Copy, Default)]
pub struct Start {
    pub rate: Option<u32>,
    pub concurrency: Option<u32>,
}

impl Gates {
    /// `start_concurrency`: a new endpoint's concurrency limit; `max_concurrency`: the
    /// platform's ceiling of every endpoint's.
    pub fn new(start_concurrency: usize, max_concurrency: usize, queue: usize, default_rate: u32) -> Self {
        let max_concurrency = max_concurrency.max(1);
        Self {
            gates: Mutex::default(),
            start_concurrency: start_concurrency.clamp(1, max_concurrency),
            max_concurrency,
            queue,
            default_rate: default_rate.max(1),
        }
    }

    /// The gate of `endpoint` with `rate_per_sec` requests per second and at most
    /// `concurrency` requests in flight (0 = the defaults); rebuilt when the subscription
    /// changes either.
    pub fn get(&self, endpoint: &str, rate_per_sec: u32, concurrency: u32) -> Arc<Gate> {
        self.get_from(endpoint, rate_per_sec, concurrency, Start::default())
    }

    /// Like [`get`](Self::get); a gate this process does not have yet starts at the rate and
    /// concurrency limit a previous owner of the endpoint published ([`SharedRates`]).
    pub async fn get_shared(
        &self,
        endpoint: &str,
        rate_per_sec: u32,
        concurrency: u32,
        shared: &SharedRates,
    ) -> Arc<Gate> {
        let known = self.gates.lock().expect("gates lock").contains_key(endpoint);
        let start = if known {
            Start::default()
        } else {
            shared.recall(endpoint).await
        };
        self.get_from(endpoint, rate_per_sec, concurrency, start)
    }

    fn get_from(&self, endpoint: &str, rate_per_sec: u32, concurrency: u32, start: Start) -> Arc<Gate> {
        let rate = if rate_per_sec == 0 {
            self.default_rate
        } else {
            rate_per_sec
        };
        let max_concurrency = if concurrency == 0 {
            self.max_concurrency
        } else {
            (concurrency as usize).min(self.max_concurrency)
        };
        let mut gates = self.gates.lock().expect("gates lock");
        match gates.get(endpoint) {
            Some(g) if g.rate == rate && g.max_concurrency == max_concurrency => g.clone(),
            old => {
                // A changed subscription keeps what the receiver has shown it can take; a new
                // one starts where a previous owner left it.
                let start_rate = old.map_or(start.rate.unwrap_or(rate), |g| g.current_rate());
                let start_concurrency = old
                    .map_or(start.concurrency.map_or(self.start_concurrency, |c| c as usize), |g| {
                        g.concurrency_limit()
                    });
                let now = Instant::now();
                let limit = Limit::new(
                    u32::try_from(start_concurrency).unwrap_or(u32::MAX),
                    u32::try_from(max_concurrency).unwrap_or(u32::MAX),
                    now,
                )
                .with_error_floor(u32::try_from(self.start_concurrency).unwrap_or(u32::MAX));
                let g = Arc::new(Gate {
                    rate,
                    max_concurrency,
                    slots: Slots::new(limit.get()),
                    published_concurrency: AtomicUsize::new(start.concurrency.map_or(0, |c| c as usize)),
                    adaptive: Mutex::new(Adaptive {
                        pacer: Pacer::new(now),
                        aimd: Aimd::new(rate, start_rate, now),
                        concurrency: limit,
                    }),
                    ceiling: Ceiling::new(rate),
                    avg_request_ms: AtomicU64::new(0),
                    next_deferred_slot_ms: Mutex::new(0),
                    queue: self.queue,
                    // What the store holds: the start rate (below the limit only when it came
                    // from there).
                    published: AtomicU32::new(start_rate.min(rate)),
                });
                gates.insert(endpoint.to_string(), g.clone());
                g
            }
        }
    }
}

impl Gate {
    /// A request slot: at once if one is free, after waiting if fewer than `queue` requests
    /// already wait, or [`Saturated`] (the caller defers the record to a retry tier instead of
    /// holding its partition's window).
    pub async fn enter(&self) -> Result<Slot, Saturated> {
        self.slots.enter(self.queue).await.map_err(|Full| Saturated)
    }

    /// Records a finished request's duration (timeouts included).
    pub fn observe(&self, duration: Duration) {
        let ms = duration.as_millis().min(u128::from(u32::MAX)) as u64;
        let old = self.avg_request_ms.load(Ordering::Relaxed);
        // Exponential moving average, weight 1/8 for the newest request.
        let new = if old == 0 { ms } else { (old * 7 + ms) / 8 };
        self.avg_request_ms.store(new, Ordering::Relaxed);
    }

    /// When a record refused as [`Saturated`] (or throttled) should be tried again (Unix ms):
    /// not before `min_wait`, and after the records deferred before it, one slot each, a slot
    /// being what the endpoint takes per request (average duration / concurrency limit, the
    /// limit's recent peak: a dip of a few seconds must not space a backlog for minutes, see
    /// [`crate::concurrency::PEAK_HOLD`]). Not the
    /// period of its adaptive rate: that rate is at its lowest right after the receiver
    /// refused a burst, just when most records are deferred, and a backlog spread at it came
    /// back at a quarter of the rate the endpoint recovered to within seconds. A saturated endpoint's
    /// deferred records are thus spread over the time it needs to serve them, and each comes
    /// back about once, instead of all of them cycling through the retry tier every
    /// `min_wait` — a churn that, for a dead endpoint under load, took the delivery consumer's
    /// and the broker's capacity from every other endpoint.
    ///
    /// A slot is at least a millisecond: an endpoint's deferred records come back at most
    /// 1,000 a second (tried in microseconds for a whale endpoint taking 2,000/s: no difference
    /// measurable on the benchmark machine, whose noise was larger).
    pub fn defer_until(&self, now_ms: i64, min_wait: Duration) -> i64 {
        let peak = self
            .adaptive
            .lock()
            .expect("adaptive lock")
            .concurrency
            .recent_peak(Instant::now());
        let slot_ms = (self.avg_request_ms.load(Ordering::Relaxed) / peak.max(1) as u64).max(1) as i64;
        let mut next = self.next_deferred_slot_ms.lock().expect("slot lock");
        let due = (now_ms + min_wait.as_millis() as i64).max(*next);
        *next = due + slot_ms;
        due
    }

    /// `Ok` if a request may be sent now, else how long until one may: the adaptive pacing,
    /// then the configured limit's hard ceiling.
    pub fn check_rate(&self) -> Result<(), Duration> {
        {
            let mut a = self.adaptive.lock().expect("adaptive lock");
            let rate = a.aimd.rate();
            a.pacer.check(Instant::now(), rate)?;
        }
        self.ceiling.check()
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.rate
    }

    /// The rate requests are paced at now (at most [`limit`](Self::limit)).
    pub fn current_rate(&self) -> u32 {
        self.adaptive.lock().expect("adaptive lock").aimd.rate()
    }

    /// Requests that may be in flight now.
    pub fn concurrency_limit(&self) -> usize {
        self.slots.limit()
    }

    /// The current rate, if it is not the one last published (and marks it published).
    pub fn unpublished_rate(&self) -> Option<u32> {
        let rate = self.current_rate();
        (self.published.swap(rate, Ordering::AcqRel) != rate).then_some(rate)
    }

    /// The concurrency limit, if it moved by at least a tenth (or to or from 1..=3, where a
    /// step matters) since last published (and marks it published). Not every change: the
    /// limit moves with almost every answer of a busy endpoint.
    pub fn unpublished_concurrency(&self) -> Option<usize> {
        let limit = self.concurrency_limit();
        let last = self.published_concurrency.load(Ordering::Acquire);
        let moved = limit.abs_diff(last) * 10 >= last.max(1) || (limit.min(last) <= 3 && limit != last);
        (moved && self.published_concurrency.swap(limit, Ordering::AcqRel) != limit).then_some(limit)
    }

    /// Feeds back what a request sent at `sent` showed, `in_flight` requests (itself
    /// included) being in flight when it was sent; the new rate if it dropped. A
    /// `Retry-After` pauses admissions until then (at most [`MAX_PAUSE`]).
    pub fn feedback(&self, sent: Instant, in_flight: usize, signal: Signal) -> Option<u32> {
        let now = Instant::now();
        let mut a = self.adaptive.lock().expect("adaptive lock");
        let rtt = now.saturating_duration_since(sent);
        if let Some(limit) = a.concurrency.answered(sent, rtt, in_flight, signal.answer(), now) {
            self.slots.set_limit(limit);
        }
        match signal {
            Signal::Success => {
                a.aimd.succeeded(now);
                None
            }
            Signal::TimedOut => a.aimd.throttled(sent, now),
            Signal::Throttled(retry_after) => {
                let lower = a.aimd.throttled(sent, now);
                if let Some(after) = retry_after {
                    let rate = a.aimd.rate();
                    a.pacer.pause_until(now + after.min(MAX_PAUSE), rate);
                }
                lower
            }
            Signal::ServerError | Signal::Neutral => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz target `config_record` (tests/fuzz): a subscription of the config
    /// topic with `"rate_limit_per_sec": 4294967295` made delivery panic building its gate
    /// (the pacing period rounded to zero, `non-zero period`).
    #[test]
    fn any_rate_from_a_config_record_builds_a_gate() {
        let record = br#"{"workspace_id":"w","subscriptions":[{"id":"s","workspace_id":"w","dialect":"named","url":"","event_kinds":["click"],"schema":"named","format":"json","rate_limit_per_sec":4294967295,"max_concurrency":4294967295,"retry":{"delays_secs":[]},"timeout_ms":0,"enabled":true}]}"#;
        let mut st = hookline_model::ConfigState::default();
        st.apply("workspace:w", Some(record)).unwrap();
        let sub = st.subscription("w", "s").unwrap();
        let gates = Gates::new(16, 256, 256, 1000);
        let g = gates.get(&sub.endpoint_key(), sub.rate_limit_per_sec, sub.max_concurrency);
        assert!(g.check_rate().is_ok());
        g.feedback(Instant::now(), 1, Signal::Throttled(None));
        assert!(g.check_rate().is_ok());
    }

    /// 429s halve the endpoint's rate (once per round trip), successes bring it back; another
    /// endpoint's gate is untouched; a changed subscription keeps the reduced rate.
    #[test]
    fn throttling_lowers_one_endpoints_rate_only() {
        let gates = Gates::new(16, 256, 256, 1000);
        let (a, b) = (gates.get("w/a", 0, 0), gates.get("w/b", 0, 0));
        let sent = Instant::now();
        assert_eq!(a.feedback(sent, 1, Signal::Throttled(None)), Some(500));
        // Another request sent before the decrease: no second halving.
        assert_eq!(a.feedback(sent, 1, Signal::Throttled(None)), None);
        assert_eq!(a.feedback(Instant::now(), 1, Signal::Neutral), None);
        assert_eq!((a.current_rate(), a.limit()), (500, 1000));
        assert_eq!(b.current_rate(), 1000, "other endpoints are never affected");
        // The subscription's concurrency changes: a new gate, at the reduced rate.
        let a2 = gates.get("w/a", 0, 8);
        assert!(!Arc::ptr_eq(&a, &a2));
        assert_eq!(a2.current_rate(), 500);
        // A lower configured limit caps it.
        assert_eq!(gates.get("w/a", 200, 8).current_rate(), 200);
    }

    #[test]
    fn retry_after_pauses_the_endpoint() {
        let gates = Gates::new(16, 256, 256, 1000);
        let g = gates.get("w/p", 100, 0);
        assert!(g.check_rate().is_ok());
        g.feedback(Instant::now(), 1, Signal::Throttled(Some(Duration::from_secs(3))));
        let wait = g.check_rate().unwrap_err();
        assert!(wait > Duration::from_millis(2900), "{wait:?}");
        // An absurd Retry-After pauses at most MAX_PAUSE.
        let h = gates.get("w/q", 100, 0);
        h.feedback(Instant::now(), 1, Signal::Throttled(Some(Duration::from_secs(86_400))));
        assert!(h.check_rate().unwrap_err() <= MAX_PAUSE);
        assert!(gates.get("w/r", 100, 0).check_rate().is_ok());
    }

    #[tokio::test]
    async fn saturation_after_concurrency_plus_queue() {
        let gates = Gates::new(2, 8, 1, 100);
        let g = gates.get("w/s", 0, 0);
        let a = g.enter().await.unwrap();
        let _b = g.enter().await.unwrap();
        let g2 = g.clone();
        let waiter = tokio::spawn(async move { g2.enter().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(g.enter().await.unwrap_err(), Saturated);
        drop(a);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        // A changed rate or concurrency gives a new gate.
        assert!(!Arc::ptr_eq(&gates.get("w/s", 0, 0), &gates.get("w/s", 5, 0)));
        assert!(!Arc::ptr_eq(&gates.get("w/s", 5, 0), &gates.get("w/s", 5, 3)));
    }

    #[test]
    fn deferred_records_are_spread_over_the_time_the_endpoint_needs() {
        // A dead endpoint: every request times out after 5 s, 16 at a time: one slot per
        // 312 ms. 100 refused records come back over ~31 s, not all after the minimum wait.
        let gates = Gates::new(16, 16, 0, 100);
        let g = gates.get("w/dead", 0, 0);
        for _ in 0..20 {
            g.observe(Duration::from_secs(5));
        }
        let dues: Vec<i64> = (0..100).map(|_| g.defer_until(0, Duration::from_secs(1))).collect();
        assert_eq!(dues[0], 1000, "not before the minimum wait");
        assert!(dues.windows(2).all(|w| w[1] - w[0] == 312), "{:?}", &dues[..3]);
        assert_eq!(dues[99], 1000 + 99 * 312);
        // Once the backlog is in the past, the minimum wait applies again.
        assert_eq!(g.defer_until(100_000, Duration::from_secs(1)), 101_000);
        // A fast endpoint's slot is still a millisecond: at most 1,000 deferred records a second.
        let gates = Gates::new(100, 100, 0, 10_000);
        let fast = gates.get("w/fast", 0, 0);
        fast.observe(Duration::from_millis(50));
        let dues: Vec<i64> = (0..2000).map(|_| fast.defer_until(0, Duration::from_secs(1))).collect();
        assert_eq!((dues[0], dues[1999]), (1000, 2999));
    }

    /// The whale collapse of issue 29: an endpoint at 256 in flight whose answers look queued
    /// for a moment falls to a few; its deferred records are still spaced by the 256 it has
    /// shown it takes (1 ms each), not by the dip (here 10 ms each, 100 records a second).
    #[test]
    fn a_dip_of_the_limit_does_not_spread_deferred_records() {
        let gates = Gates::new(16, 256, 0, 10_000);
        let g = gates.get("w/whale", 0, 0);
        let answered = |rtt_ms: u64| {
            let sent = Instant::now() - Duration::from_millis(rtt_ms);
            g.feedback(sent, g.concurrency_limit(), Signal::Success);
        };
        while g.concurrency_limit() < 256 {
            answered(1);
        }
        // A step off at most once per minimum round trip (1 ms): a few hundred milliseconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        while g.concurrency_limit() > 10 && Instant::now() < deadline {
            answered(400);
        }
        let dipped = g.concurrency_limit();
        assert!(dipped <= 10, "limit {dipped}");
        for _ in 0..50 {
            g.observe(Duration::from_millis(50));
        }
        let dues: Vec<i64> = (0..1000).map(|_| g.defer_until(0, Duration::from_secs(1))).collect();
        assert_eq!((dues[0], dues[999]), (1000, 1999), "limit {dipped}");
    }

    #[tokio::test]
    async fn a_subscription_concurrency_overrides_the_default() {
        // SMSEdge: 3 requests in flight per endpoint, whatever the system default.
        let gates = Gates::new(16, 16, 0, 100);
        let g = gates.get("w/se-dlr", 0, 3);
        let _held: Vec<_> = futures::future::join_all((0..3).map(|_| g.enter())).await;
        assert_eq!(g.enter().await.unwrap_err(), Saturated);
    }
}
