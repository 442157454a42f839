//! Per-endpoint admission: a bound on concurrent requests and a rate limit.
//!
//! One [`Gate`] per endpoint (subscription), in this process only. That is a global limit
//! because dispatch and retry-tier topics are keyed by endpoint and consumed by one group with
//! the range assignor: one consumer owns an endpoint, whatever the number of replicas.
//!
//! Pacing: `governor`'s GCRA with a burst of 5 % of the limit (at least 1) and a sustained rate
//! of 90 % of it, so no one-second window at the receiver exceeds the limit even with some
//! network jitter (burst + 0.9 × limit ≤ 0.95 × limit).

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Gates of every endpoint this process has seen.
pub struct Gates {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    concurrency: usize,
    queue: usize,
    default_rate: u32,
}

/// One endpoint's admission control.
pub struct Gate {
    rate: u32,
    concurrency: usize,
    limiter: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    /// Moving average of this endpoint's request duration, in ms.
    avg_request_ms: AtomicU64,
    /// Unix ms of the next free slot for a deferred record (see [`Gate::defer_until`]).
    next_deferred_slot_ms: Mutex<i64>,
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
            _ => {
                let g = Arc::new(Gate {
                    rate,
                    concurrency,
                    limiter: RateLimiter::direct(quota(rate)),
                    slots: Arc::new(Semaphore::new(concurrency)),
                    waiting: AtomicUsize::new(0),
                    avg_request_ms: AtomicU64::new(0),
                    next_deferred_slot_ms: Mutex::new(0),
                    queue: self.queue,
                });
                gates.insert(endpoint.to_string(), g.clone());
                g
            }
        }
    }
}

/// The pacing described in the module docs.
pub fn quota(rate: u32) -> Quota {
    let rate = rate.max(1);
    let burst = NonZeroU32::new((rate / 20).max(1)).expect("at least 1");
    // Above ~10^9 requests per second (a subscription's rate comes from the config topic, any
    // u32) the period rounds to zero, which governor refuses: 1 ns is the shortest there is.
    let period = Duration::from_secs_f64(1.0 / (f64::from(rate) * 0.9)).max(Duration::from_nanos(1));
    Quota::with_period(period).expect("non-zero period").allow_burst(burst)
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

    /// When a record refused as [`Saturated`] should be tried again (Unix ms): not before
    /// `min_wait`, and after the records deferred before it, one slot each, a slot being what
    /// the endpoint takes per request (average duration / concurrency). A saturated endpoint's
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
        self.limiter.check().map_err(|not_until| {
            not_until
                .wait_time_from(self.limiter.clock().now())
                .max(Duration::from_millis(1))
        })
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
        for rate in [1, 555_555_555, 1_111_111_112, 2_000_000_000, u32::MAX] {
            let _ = quota(rate);
        }
    }

    #[test]
    fn pacing_never_exceeds_the_limit_in_a_second() {
        // Count what GCRA admits in the first second when asked continuously.
        for rate in [1u32, 7, 50, 1000] {
            let limiter = RateLimiter::direct(quota(rate));
            let start = std::time::Instant::now();
            let mut admitted = 0u32;
            while start.elapsed() < Duration::from_millis(1000) {
                if limiter.check().is_ok() {
                    admitted += 1;
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            assert!(admitted <= rate, "rate {rate}: {admitted} admitted in one second");
            assert!(admitted * 100 >= rate * 80, "rate {rate}: only {admitted} admitted");
        }
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
