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
//!
//! The first decrease after an increase also remembers the rate that was too much (the
//! *ceiling*, as TCP CUBIC keeps `W_max`): for [`CEILING_HOLD`] after it, increases stop at
//! 90 % of it, so the rate settles just under what the receiver refused instead of climbing
//! back past it every few seconds and costing a 429 each time. Further decreases before the
//! next increase (the rest of one burst of refusals) leave the ceiling where it is: they say
//! the receiver's window is still full, not that its rate is lower. After the hold, increases
//! go on to the limit again, probing for capacity the receiver may have gained.

use std::time::{Duration, Instant};

/// The factor of a decrease.
pub const BETA: f64 = 0.5;

/// Time between two increases (and from a decrease to the first increase).
pub const RAISE_EVERY: Duration = Duration::from_secs(1);

/// How long increases stop under the rate last refused.
pub const CEILING_HOLD: Duration = Duration::from_secs(30);

/// One endpoint's adaptive rate.
#[derive(Debug)]
pub struct Aimd {
    limit: u32,
    rate: u32,
    /// When the rate last dropped: signals about requests sent before are ignored.
    decreased_at: Option<Instant>,
    /// When the rate last changed (or was last checked at the limit).
    changed_at: Instant,
    /// The rate the last refusal after an increase came at, while increases stay under it
    /// (see the module docs).
    ceiling: Option<u32>,
    /// Whether the rate rose since it last dropped.
    raised: bool,
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
            ceiling: None,
            raised: true,
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
        if self.raised {
            self.ceiling = Some(self.rate);
            self.raised = false;
        }
        self.decreased_at = Some(now);
        self.changed_at = now;
        (lower < self.rate).then(|| {
            self.rate = lower;
            lower
        })
    }

    /// A 2xx: the new rate if it rose.
    pub fn succeeded(&mut self, now: Instant) -> Option<u32> {
        let held = self
            .decreased_at
            .is_some_and(|d| now.saturating_duration_since(d) < CEILING_HOLD);
        let cap = match self.ceiling {
            Some(c) if held => ((u64::from(c) * 9 / 10) as u32).clamp(floor(self.limit), self.limit),
            _ => self.limit,
        };
        if self.rate >= cap || now.saturating_duration_since(self.changed_at) < RAISE_EVERY {
            return None;
        }
        self.rate = self.rate.saturating_add(step(self.limit)).min(cap);
        self.changed_at = now;
        self.raised = true;
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
        assert_eq!(a.rate(), 900, "held under the refused rate (1000) for the hold");
        assert_eq!(a.succeeded(t + secs(5.0)), None);
        // After the hold, on to the limit.
        t = t0 + CEILING_HOLD;
        for _ in 0..3 {
            t += secs(1.0);
            a.succeeded(t);
        }
        assert_eq!(a.rate(), 1000, "capped at the configured limit");
        assert_eq!(a.succeeded(t + secs(5.0)), None);
    }

    #[test]
    fn settles_under_the_rate_the_receiver_refused() {
        let t0 = Instant::now();
        let mut a = Aimd::new(1000, 1000, t0);
        // A receiver taking 100/s, its window full after a burst: refused at 1000, then
        // again and again before any increase. One ceiling (1000) for the whole burst.
        let mut t = t0;
        for want in [500, 250, 125, 62, 31, 15, 10] {
            t += secs(0.01);
            assert_eq!(a.throttled(t, t), Some(want));
        }
        // Up by 50 a second (the ceiling of 1000 is far) until refused again, at 110: the first
        // refusal after an increase sets the ceiling there.
        for want in [60, 110] {
            t += secs(1.0);
            assert_eq!(a.succeeded(t), Some(want));
        }
        t += secs(0.01);
        assert_eq!(a.throttled(t, t), Some(55));
        // Now up to 90 % of 110 and no further, for the hold.
        for _ in 0..10 {
            t += secs(1.0);
            a.succeeded(t);
        }
        assert_eq!(a.rate(), 99);
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
