//! Per-endpoint admission: a bound on concurrent requests and an adaptive rate limit.
//!
//! One [`Gate`] per endpoint (subscription), in this process only. That is a global limit
//! because dispatch and retry-tier topics are keyed by endpoint and consumed by one group with
//! the range assignor: one consumer owns an endpoint, whatever the number of replicas.
//!
//! Pacing: [`Pacer`] (GCRA, no one-second window above the limit). The rate it paces at is
//! the endpoint's adaptive rate ([`Aimd`]): the configured limit while the receiver copes,
//! halved on 429, 503 and timeouts, raised again additively on successes. A `Retry-After`
//! also pauses the endpoint's admissions until then (at most [`MAX_PAUSE`]). The rate is
//! published to the store while it is below the limit, and a gate new to this process starts
//! from it ([`SharedRates`]), so it survives the endpoint's move to another replica.

use crate::aimd::Aimd;
use crate::pacer::Pacer;
use crate::shared_rate::SharedRates;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest pause a `Retry-After` imposes on an endpoint's admissions; a longer one still
/// delays the record's own retry (see [`crate::retry`]).
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Gates of every endpoint this process has seen.
pub struct Gates {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    concurrency: usize,
    queue: usize,
    default_rate: u32,
}

/// One endpoint's admission control.
pub struct Gate {
    /// The configured limit (requests per second).
    rate: u32,
    concurrency: usize,
    adaptive: Mutex<Adaptive>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    /// Moving average of this endpoint's request duration, in ms.
    avg_request_ms: AtomicU64,
    /// Unix ms of the next free slot for a deferred record (see [`Gate::defer_until`]).
    next_deferred_slot_ms: Mutex<i64>,
    /// The rate last published to the store ([`SharedRates`]).
    published: AtomicU32,
}

/// The pacer and the rate it paces at, changed together.
struct Adaptive {
    pacer: Pacer,
    aimd: Aimd,
}

/// What an attempt said about the receiver's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A 2xx.
    Success,
    /// A 429 or 503 (with the `Retry-After` it gave, if any), or a timeout.
    Throttled(Option<Duration>),
    /// Anything else: says nothing about the rate.
    Neutral,
}

/// The endpoint has `concurrency` requests in flight and `queue` more waiting.
#[derive(Debug, PartialEq, Eq)]
pub struct Saturated;

impl Gates {
    pub fn new(concurrency: usize, queue: usize, default_rate: u32) -> Self {
        Self {
            gates: Mutex::default(),
            concurrency: concurrency.max(1),
            queue,
            default_rate: default_rate.max(1),
        }
    }

    /// The gate of `endpoint` with `rate_per_sec` requests per second and `concurrency`
    /// requests in flight (0 = the defaults); rebuilt when the subscription changes either.
    pub fn get(&self, endpoint: &str, rate_per_sec: u32, concurrency: u32) -> Arc<Gate> {
        self.get_from(endpoint, rate_per_sec, concurrency, None)
    }

    /// Like [`get`](Self::get); a gate this process does not have yet starts at the rate a
    /// previous owner of the endpoint published ([`SharedRates`]).
    pub async fn get_shared(
        &self,
        endpoint: &str,
        rate_per_sec: u32,
        concurrency: u32,
        shared: &SharedRates,
    ) -> Arc<Gate> {
        let known = self.gates.lock().expect("gates lock").contains_key(endpoint);
        let start = if known { None } else { shared.recall(endpoint).await };
        self.get_from(endpoint, rate_per_sec, concurrency, start)
    }

    /// `start`: the adaptive rate a new gate starts at (its limit when `None`).
    fn get_from(&self, endpoint: &str, rate_per_sec: u32, concurrency: u32, start: Option<u32>) -> Arc<Gate> {
        let rate = if rate_per_sec == 0 {
            self.default_rate
        } else {
            rate_per_sec
        };
        let concurrency = if concurrency == 0 {
            self.concurrency
        } else {
            concurrency as usize
        };
        let mut gates = self.gates.lock().expect("gates lock");
        match gates.get(endpoint) {
            Some(g) if g.rate == rate && g.concurrency == concurrency => g.clone(),
            old => {
                // A changed subscription keeps what the receiver has shown it can take; a new
                // one starts where a previous owner left it.
                let start = old.map_or(start.unwrap_or(rate), |g| g.current_rate());
                let now = Instant::now();
                let g = Arc::new(Gate {
                    rate,
                    concurrency,
                    adaptive: Mutex::new(Adaptive {
                        pacer: Pacer::new(now),
                        aimd: Aimd::new(rate, start, now),
                    }),
                    slots: Arc::new(Semaphore::new(concurrency)),
                    waiting: AtomicUsize::new(0),
                    avg_request_ms: AtomicU64::new(0),
                    next_deferred_slot_ms: Mutex::new(0),
                    queue: self.queue,
                    // What the store holds: the start rate (below the limit only when it came
                    // from there).
                    published: AtomicU32::new(start.min(rate)),
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
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Saturated> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Saturated);
        }
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        Ok(permit)
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
    /// being what the endpoint takes per request (average duration / concurrency). Not the
    /// period of its adaptive rate: that rate is at its lowest right after the receiver
    /// refused a burst, just when most records are deferred, and a backlog spread at it came
    /// back at a quarter of the rate the endpoint recovered to within seconds. A saturated endpoint's
    /// deferred records are thus spread over the time it needs to serve them, and each comes
    /// back about once, instead of all of them cycling through the retry tier every
    /// `min_wait` — a churn that, for a dead endpoint under load, took the delivery consumer's
    /// and the broker's capacity from every other endpoint.
    pub fn defer_until(&self, now_ms: i64, min_wait: Duration) -> i64 {
        let slot_ms = (self.avg_request_ms.load(Ordering::Relaxed) / self.concurrency as u64).max(1) as i64;
        let mut next = self.next_deferred_slot_ms.lock().expect("slot lock");
        let due = (now_ms + min_wait.as_millis() as i64).max(*next);
        *next = due + slot_ms;
        due
    }

    /// `Ok` if a request may be sent now, else how long until one may.
    pub fn check_rate(&self) -> Result<(), Duration> {
        let mut a = self.adaptive.lock().expect("adaptive lock");
        let rate = a.aimd.rate();
        a.pacer.check(Instant::now(), rate)
    }

    /// The configured limit.
    pub fn limit(&self) -> u32 {
        self.rate
    }

    /// The rate requests are paced at now (at most [`limit`](Self::limit)).
    pub fn current_rate(&self) -> u32 {
        self.adaptive.lock().expect("adaptive lock").aimd.rate()
    }

    /// The current rate, if it is not the one last published (and marks it published).
    pub fn unpublished_rate(&self) -> Option<u32> {
        let rate = self.current_rate();
        (self.published.swap(rate, Ordering::AcqRel) != rate).then_some(rate)
    }

    /// Feeds back what a request sent at `sent` showed; the new rate if it dropped. A
    /// `Retry-After` pauses admissions until then (at most [`MAX_PAUSE`]).
    pub fn feedback(&self, sent: Instant, signal: Signal) -> Option<u32> {
        let now = Instant::now();
        let mut a = self.adaptive.lock().expect("adaptive lock");
        match signal {
            Signal::Success => {
                a.aimd.succeeded(now);
                None
            }
            Signal::Throttled(retry_after) => {
                let lower = a.aimd.throttled(sent, now);
                if let Some(after) = retry_after {
                    let rate = a.aimd.rate();
                    a.pacer.pause_until(now + after.min(MAX_PAUSE), rate);
                }
                lower
            }
            Signal::Neutral => None,
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
        let gates = Gates::new(16, 256, 1000);
        let g = gates.get(&sub.endpoint_key(), sub.rate_limit_per_sec, sub.max_concurrency);
        assert!(g.check_rate().is_ok());
        g.feedback(Instant::now(), Signal::Throttled(None));
        assert!(g.check_rate().is_ok());
    }

    /// 429s halve the endpoint's rate (once per round trip), successes bring it back; another
    /// endpoint's gate is untouched; a changed subscription keeps the reduced rate.
    #[test]
    fn throttling_lowers_one_endpoints_rate_only() {
        let gates = Gates::new(16, 256, 1000);
        let (a, b) = (gates.get("w/a", 0, 0), gates.get("w/b", 0, 0));
        let sent = Instant::now();
        assert_eq!(a.feedback(sent, Signal::Throttled(None)), Some(500));
        // Another request sent before the decrease: no second halving.
        assert_eq!(a.feedback(sent, Signal::Throttled(None)), None);
        assert_eq!(a.feedback(Instant::now(), Signal::Neutral), None);
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
        let gates = Gates::new(16, 256, 1000);
        let g = gates.get("w/p", 100, 0);
        assert!(g.check_rate().is_ok());
        g.feedback(Instant::now(), Signal::Throttled(Some(Duration::from_secs(3))));
        let wait = g.check_rate().unwrap_err();
        assert!(wait > Duration::from_millis(2900), "{wait:?}");
        // An absurd Retry-After pauses at most MAX_PAUSE.
        let h = gates.get("w/q", 100, 0);
        h.feedback(Instant::now(), Signal::Throttled(Some(Duration::from_secs(86_400))));
        assert!(h.check_rate().unwrap_err() <= MAX_PAUSE);
        assert!(gates.get("w/r", 100, 0).check_rate().is_ok());
    }

    #[tokio::test]
    async fn saturation_after_concurrency_plus_queue() {
        let gates = Gates::new(2, 1, 100);
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
        let gates = Gates::new(16, 0, 100);
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
    }

    #[tokio::test]
    async fn a_subscription_concurrency_overrides_the_default() {
        // SMSEdge: 3 requests in flight per endpoint, whatever the system default.
        let gates = Gates::new(16, 0, 100);
        let g = gates.get("w/se-dlr", 0, 3);
        let _held: Vec<_> = futures::future::join_all((0..3).map(|_| g.enter())).await;
        assert_eq!(g.enter().await.unwrap_err(), Saturated);
    }
}
