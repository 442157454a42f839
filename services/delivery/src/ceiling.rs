//! The hard ceiling of an endpoint's rate: its configured limit, enforced with `governor`.
//!
//! Requests are paced below the limit by the endpoint's [`crate::pacer::Pacer`], at the
//! adaptive rate ([`crate::aimd`]); that pacer is GCRA with a rate that changes between two
//! requests, which a `governor` limiter cannot have (its quota is fixed). The configured limit
//! does not change while a gate lives (a new limit builds a new gate), so it is a `governor`
//! quota, checked after the pacer: whatever the adaptive pacing does, no request passes that
//! the limit does not allow.
//!
//! The quota is shaped so that no one-second window exceeds the limit `r`: a burst of
//! `b = max(1, r / 20)` and a sustained rate of `r − b + 1` per second. In GCRA, requests in a
//! window of length `W` number fewer than `b + W × sustained`, so at most `r` in any second.
//! The pacer admits less (a burst of 5 % of the adaptive rate, 90 % of it sustained), so the
//! ceiling refuses nothing the pacer admits while both work as designed.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

/// One endpoint's ceiling.
pub struct Ceiling<C: Clock = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
}

impl Ceiling {
    /// At most `limit` requests in any one second (`limit` 0 counts as 1).
    pub fn new(limit: u32) -> Self {
        Self::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock> Ceiling<C> {
    pub fn with_clock(limit: u32, clock: C) -> Self {
        Self {
            limiter: RateLimiter::direct_with_clock(quota(limit), clock),
        }
    }

    /// `Ok` if a request may go now, else how long until one may.
    pub fn check(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// A burst of 5 % of `limit` (at least one) and `limit − burst + 1` per second sustained.
fn quota(limit: u32) -> Quota {
    let limit = limit.max(1);
    let burst = (limit / 20).max(1);
    let sustained = u64::from(limit - burst + 1);
    // Above ~10^9 per second the period rounds to zero: 1 ns is the shortest there is.
    let period = Duration::from_nanos((1_000_000_000 / sustained).max(1));
    Quota::with_period(period)
        .expect("a period of at least 1 ns")
        .allow_burst(NonZeroU32::new(burst).expect("burst of at least 1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Asks `limit`'s ceiling every `every` for `secs` seconds, in bursts of `burst` asks;
    /// the most admitted in any one-second window and the total.
    fn busiest_second(limit: u32, every: Duration, burst: usize, secs: u64) -> (usize, usize) {
        let clock = FakeRelativeClock::default();
        let ceiling = Ceiling::with_clock(limit, clock.clone());
        let mut admitted = vec![];
        let mut t = Duration::ZERO;
        while t < Duration::from_secs(secs) {
            for _ in 0..burst {
                if ceiling.check().is_ok() {
                    admitted.push(t);
                }
            }
            clock.advance(every);
            t += every;
        }
        // Two pointers: `end` is the first admission a second or more after admission `i`.
        let (mut end, mut worst) = (0, 0);
        for i in 0..admitted.len() {
            while end < admitted.len() && admitted[end] < admitted[i] + Duration::from_secs(1) {
                end += 1;
            }
            worst = worst.max(end - i);
        }
        (worst, admitted.len())
    }

    /// Whatever asks it (a steady stream, bursts far above the limit), no second exceeds the
    /// limit, and a caller that asks again when told gets most of it (GCRA keeps no credit
    /// beyond its burst, so one asking every 100 ms gets a burst per ask, by design).
    #[test]
    fn no_second_exceeds_the_limit() {
        for limit in [1u32, 3, 50, 1000, 10_000] {
            let (worst, total) = busiest_second(limit, Duration::from_micros(50), 1, 3);
            assert!(worst as u32 <= limit, "limit {limit}: {worst} in one second");
            assert!(
                total as u32 * 100 >= 3 * limit * 90,
                "limit {limit}: only {total} in 3 s"
            );
            // 200,000 asks a second, every millisecond or in bursts every 100 ms.
            for (every, burst) in [(Duration::from_millis(1), 200), (Duration::from_millis(100), 20_000)] {
                let (worst, _) = busiest_second(limit, every, burst, 3);
                assert!(
                    worst as u32 <= limit,
                    "limit {limit}: {worst} in one second ({every:?})"
                );
            }
        }
    }

    #[test]
    fn a_refusal_says_how_long_to_wait() {
        let clock = FakeRelativeClock::default();
        let ceiling = Ceiling::with_clock(10, clock.clone());
        assert!(ceiling.check().is_ok());
        let wait = ceiling.check().unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        clock.advance(wait);
        assert!(ceiling.check().is_ok());
    }

    #[test]
    fn any_limit_has_a_quota() {
        for limit in [0, 1, 20, 21, 1_000_000_000, 2_000_000_000, u32::MAX] {
            let c = Ceiling::new(limit);
            assert!(c.check().is_ok());
        }
    }
}
