//! Pacing of one endpoint's requests: GCRA (the algorithm `governor` implements) with a rate
//! that may change between two requests, which a `governor` limiter cannot (its quota is fixed
//! at construction, and a rebuilt limiter forgets its state and grants a fresh burst).
//!
//! At rate `r`: a burst of 5 % of `r` (at least 1) and a sustained rate of 90 % of it, so no
//! one-second window at the receiver exceeds `r` even with some network jitter
//! (burst + 0.9 × r ≤ 0.95 × r). When the rate changes, the theoretical arrival time carries
//! over: a lower rate spaces the next requests further apart without a new burst, and since
//! the rate never exceeds the endpoint's configured limit, no one-second window exceeds that
//! limit whatever the changes (every admission advances the arrival time by at least the
//! limit's period, and the tolerance is at most the limit's burst).

use std::time::{Duration, Instant};

/// One endpoint's GCRA state.
#[derive(Debug)]
pub struct Pacer {
    /// Times are nanoseconds since this instant (plain integers keep the arithmetic exact).
    base: Instant,
    /// Theoretical arrival time of the next request.
    tat_ns: u64,
}

impl Pacer {
    pub fn new(now: Instant) -> Self {
        Self { base: now, tat_ns: 0 }
    }

    /// Admits one request at `now` at `rate` per second, or says how long until one may be.
    pub fn check(&mut self, now: Instant, rate: u32) -> Result<(), Duration> {
        let (period, tolerance) = shape(rate);
        let now = self.ns(now);
        let next = self.tat_ns.max(now).saturating_add(period);
        if next - now > tolerance {
            // At least a millisecond: callers sleep this long and ask again.
            return Err(Duration::from_nanos(next - tolerance - now).max(Duration::from_millis(1)));
        }
        self.tat_ns = next;
        Ok(())
    }

    /// Admits nothing before `until`, and then no burst: the requests after a pause are
    /// spaced at `rate` from the first one on.
    pub fn pause_until(&mut self, until: Instant, rate: u32) {
        let (period, tolerance) = shape(rate);
        let tat = self.ns(until).saturating_add(tolerance - period);
        self.tat_ns = self.tat_ns.max(tat);
    }

    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64
    }
}

/// The period between two requests at 90 % of `rate` and the tolerance of a burst of 5 % of
/// `rate` (at least one request), in nanoseconds.
fn shape(rate: u32) -> (u64, u64) {
    let rate = rate.max(1);
    // Above ~10^9 requests per second (a subscription's rate comes from the config topic, any
    // u32) the period rounds to zero: 1 ns is the shortest there is.
    let period = ((1e9 / (f64::from(rate) * 0.9)) as u64).max(1);
    let burst = u64::from((rate / 20).max(1));
    (period, period * burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most requests admitted in any one-second window when `pacer` is asked every 200 µs
    /// for `secs` seconds at the rate `rate_at(elapsed)` gives.
    fn busiest_second(secs: u64, rate_at: impl Fn(Duration) -> u32) -> (usize, usize) {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        let mut admitted = vec![];
        let mut t = Duration::ZERO;
        while t < Duration::from_secs(secs) {
            if pacer.check(start + t, rate_at(t)).is_ok() {
                admitted.push(t);
            }
            t += Duration::from_micros(200);
        }
        let worst = (0..admitted.len())
            .map(|i| {
                admitted[i..]
                    .iter()
                    .take_while(|u| **u < admitted[i] + Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0);
        (worst, admitted.len())
    }

    #[test]
    fn pacing_never_exceeds_the_limit_in_a_second() {
        for rate in [1u32, 7, 50, 1000] {
            let (worst, total) = busiest_second(3, |_| rate);
            assert!(worst as u32 <= rate, "rate {rate}: {worst} admitted in one second");
            assert!(total as u32 * 100 >= 3 * rate * 85, "rate {rate}: only {total} in 3 s");
        }
    }

    /// The adaptive rate moves between the floor and the limit: whatever it does, no second
    /// exceeds the limit.
    #[test]
    fn a_changing_rate_never_exceeds_the_limit_in_a_second() {
        let limit = 1000;
        // Halved and raised again every 50 ms, a jump to the limit every 300 ms.
        let (worst, _) = busiest_second(5, |t| {
            let ms = t.as_millis() as u32;
            if ms % 300 < 20 {
                limit
            } else {
                (limit >> (ms / 50 % 5)).max(10)
            }
        });
        assert!(worst <= limit as usize, "{worst} admitted in one second");
    }

    #[test]
    fn a_pause_admits_nothing_before_its_end_then_no_burst() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        p.pause_until(start + Duration::from_secs(2), 100);
        let wait = p.check(start, 100).unwrap_err();
        assert!(
            wait <= Duration::from_secs(2) && wait > Duration::from_millis(1990),
            "{wait:?}"
        );
        assert!(p.check(start + Duration::from_millis(1999), 100).is_err());
        let at = start + Duration::from_secs(2);
        assert!(p.check(at, 100).is_ok());
        assert!(p.check(at, 100).is_err(), "no burst right after a pause");
        // A pause that ended long ago leaves the pacer as it was.
        p.pause_until(start, 100);
        assert!(p.check(at + Duration::from_millis(12), 100).is_ok());
    }

    #[test]
    fn any_rate_has_a_shape() {
        for rate in [0, 1, 555_555_555, 1_111_111_112, 2_000_000_000, u32::MAX] {
            let (period, tolerance) = shape(rate);
            assert!(period >= 1 && tolerance >= period);
        }
    }
}
