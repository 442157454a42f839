//! Adaptive rate of one endpoint: additive increase, multiplicative decrease (AIMD).
//!
//! A receiver that answers 429 or 503, or does not answer in time, is past what it can take:
//! its rate halves ([`BETA`]), down to a floor of 1 % of the configured limit (at least 1 per
//! second). Only a signal about a request sent *after* the last decrease counts: the requests
//! in flight when the rate dropped were paced at the old rate and say nothing about the new
//! one, so a burst of them (16 in flight, a receiver's whole window of 429s) lowers the rate
//! once per round trip, as in TCP congestion control, instead of collapsing it at once.
//! Successes (2xx) raise it by 5 % of the limit (at least 1) per second, from one second after
//! the last change, up to the configured limit; other failures (4xx, 5xx but 503, connection
//! errors) leave it as it is.

use std::time::{Duration, Instant};

/// The factor of a decrease.
pub const BETA: f64 = 0.5;

/// Time between two increases (and from a decrease to the first increase).
pub const RAISE_EVERY: Duration = Duration::from_secs(1);

/// One endpoint's adaptive rate.
#[derive(Debug)]
pub struct Aimd {
    limit: u32,
    rate: u32,
    /// When the rate last dropped: signals about requests sent before are ignored.
    decreased_at: Option<Instant>,
    /// When the rate last changed (or was last checked at the limit).
    changed_at: Instant,
}

impl Aimd {
    /// At `start` (clamped to floor..=limit), e.g. the rate a previous owner of the endpoint
    /// had reached.
    pub fn new(limit: u32, start: u32, now: Instant) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            rate: start.clamp(floor(limit), limit),
            decreased_at: None,
            changed_at: now,
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// A 429, 503 or timeout of a request sent at `sent`: the new rate if it dropped.
    pub fn throttled(&mut self, sent: Instant, now: Instant) -> Option<u32> {
        if self.decreased_at.is_some_and(|d| sent < d) {
            return None;
        }
        let lower = ((f64::from(self.rate) * BETA) as u32).max(floor(self.limit));
        self.decreased_at = Some(now);
        self.changed_at = now;
        (lower < self.rate).then(|| {
            self.rate = lower;
            lower
        })
    }

    /// A 2xx: the new rate if it rose.
    pub fn succeeded(&mut self, now: Instant) -> Option<u32> {
        if self.rate >= self.limit || now.saturating_duration_since(self.changed_at) < RAISE_EVERY {
            return None;
        }
        self.rate = self.rate.saturating_add(step(self.limit)).min(self.limit);
        self.changed_at = now;
        Some(self.rate)
    }
}

/// The lowest adaptive rate: 1 % of the limit, at least 1 per second.
pub fn floor(limit: u32) -> u32 {
    (limit / 100).max(1)
}

/// One increase: 5 % of the limit, at least 1 per second (from the floor back to the limit
/// in about 20 s).
pub fn step(limit: u32) -> u32 {
    (limit / 20).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn halves_once_per_round_trip_down_to_the_floor() {
        let t0 = Instant::now();
        let mut a = Aimd::new(1000, 1000, t0);
        // 16 requests in flight at the old rate all come back 429: one decrease.
        let now = t0 + secs(0.01);
        assert_eq!(a.throttled(t0, now), Some(500));
        for _ in 0..15 {
            assert_eq!(a.throttled(t0, now + secs(0.001)), None);
        }
        assert_eq!(a.rate(), 500);
        // A request sent after the decrease is throttled too: the next halving.
        assert_eq!(a.throttled(now + secs(0.002), now + secs(0.003)), Some(250));
        let mut t = now + secs(0.01);
        for _ in 0..10 {
            a.throttled(t, t);
            t += secs(0.001);
        }
        assert_eq!(a.rate(), floor(1000));
        assert_eq!(a.rate(), 10);
        assert_eq!(a.throttled(t, t), None, "at the floor already");
    }

    #[test]
    fn recovers_additively_to_the_limit_once_a_second() {
        let t0 = Instant::now();
        let mut a = Aimd::new(1000, 1000, t0);
        assert_eq!(a.throttled(t0, t0), Some(500));
        // Not within a second of the decrease, however many successes.
        for i in 0..100 {
            assert_eq!(a.succeeded(t0 + secs(0.009 * f64::from(i))), None);
        }
        assert_eq!(a.succeeded(t0 + secs(1.0)), Some(550));
        assert_eq!(a.succeeded(t0 + secs(1.5)), None);
        assert_eq!(a.succeeded(t0 + secs(2.0)), Some(600));
        let mut t = t0 + secs(2.0);
        for _ in 0..20 {
            t += secs(1.0);
            a.succeeded(t);
        }
        assert_eq!(a.rate(), 1000, "capped at the configured limit");
        assert_eq!(a.succeeded(t + secs(5.0)), None);
    }

    #[test]
    fn a_start_rate_is_clamped_and_tiny_limits_work() {
        let t0 = Instant::now();
        assert_eq!(Aimd::new(1000, 5000, t0).rate(), 1000);
        assert_eq!(Aimd::new(1000, 0, t0).rate(), 10);
        let mut one = Aimd::new(1, 1, t0);
        assert_eq!(one.throttled(t0, t0), None, "1/s is its own floor");
        let mut seven = Aimd::new(7, 7, t0);
        assert_eq!(seven.throttled(t0, t0), Some(3));
        assert_eq!(seven.succeeded(t0 + secs(1.0)), Some(4));
        let mut max = Aimd::new(u32::MAX, u32::MAX, t0);
        assert_eq!(max.throttled(t0, t0), Some(u32::MAX / 2));
        assert!(max.succeeded(t0 + secs(1.0)).is_some());
    }
}
