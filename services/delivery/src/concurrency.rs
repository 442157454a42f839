//! An endpoint's adaptive concurrency limit: how many requests may be in flight to it at once.
//!
//! A fixed cap is wrong for almost every endpoint: 16 in flight to a receiver that answers in
//! 50 ms is 320 requests/s whatever the receiver could take, and still too many for one that
//! slows down as it gets busy. By Little's law the requests an endpoint can usefully hold are
//! its throughput times its latency, and only the endpoint knows either. So the limit is
//! found the way TCP Vegas finds a congestion window, as Netflix's concurrency-limits library
//! (`VegasLimit`) and Envoy's adaptive concurrency filter do for services:
//!
//! - the endpoint's latency with nothing queued (`min_rtt`) is the lowest seen recently;
//! - after each answer, the requests queued at the receiver are estimated as
//!   `limit × (rtt − min_rtt − slack) / rtt`: none while the latency stays within the slack
//!   of its minimum (the larger of [`SLACK`] and a quarter of the minimum, as Envoy's
//!   adaptive concurrency filter allows a buffer of 25 % of it);
//! - few queued (at most `log10(limit)`): grow fast (`+ 6·log10(limit)`); some (below
//!   `3·log10(limit)`): grow slowly (`+ log10(limit)`); many (above `6·log10(limit)`): shrink
//!   (`− log10(limit)`), at most once per `min_rtt` (TCP Vegas adjusts once per round trip);
//!   in between: hold;
//! - a timeout shrinks it by a tenth, once per round trip (answers to requests sent before
//!   the last decrease say nothing new): latency far beyond anything queueing explains;
//! - a 429 or any 5xx shrinks it by `log10(limit)`: a receiver's occasional error must not
//!   collapse it, and a 429 is mostly about the rate, which the adaptive rate
//!   ([`crate::aimd`]) halves. Measured: with a tenth per round trip on 429s too, a receiver
//!   taking 100 requests/s and answering at once (round trips of a millisecond) drove the
//!   limit to 1 within its first burst of 429s, the endpoint then ran at a third of its rate
//!   and the adaptive rate, long unrefused, came back to the limit and overshot
//!   (`tests/tests/adaptive_throttle.rs`);
//! - timeouts and refusals never take it below the limit a new endpoint starts at (16 by
//!   default; [`Limit::with_error_floor`]): only latency, measured on answers, may take it
//!   lower. An endpoint that answers nothing sends no latency and no success to grow on, so
//!   each error taking it further down left a dead endpoint at 1 request in flight: its
//!   records reached the dead-letter topic 16 times slower than before, and the receivers
//!   fault test (`tests/faults/tests/receivers.rs`) saw 1,087 of 3,000 dead-lettered in 300 s;
//! - it grows only while the endpoint uses at least half of it (an endpoint sent 3 requests at
//!   a time says nothing about whether it could take 300), and stays within `1..=max`: the
//!   subscription's `max_concurrency` (SMSEdge's documented 3), else the platform's ceiling.
//!
//! `min_rtt` is the minimum over the current and the previous [`RTT_WINDOW`], so a receiver
//! whose baseline latency rises for good (a deploy, a new region) is followed within two
//! windows instead of being read as a queue forever.
//!
//! The limit also remembers its **recent peak** ([`Limit::recent_peak`], held for
//! [`PEAK_HOLD`]): what the endpoint has shown it can take lately, which a dip of a few
//! seconds does not erase. The gate spaces deferred records by it (`Gate::defer_until`).

use std::time::{Duration, Instant};

/// Latency above the minimum that is never counted as queueing. A receiver on the same
/// network answers in well under a millisecond, and the delivery process's own scheduling
/// under load, network jitter and a receiver's pauses add milliseconds to tens of them. With
/// 2 ms, a receiver answering at once (minimum 0.3 ms) whose answers took 5–30 ms on a busy
/// 2-core machine drove its limit to 1, and the endpoint to a fraction of its rate
/// (`tests/tests/adaptive_throttle.rs`); with 20 ms the limit is left alone by that noise,
/// while a receiver whose latency doubles as it gets busy still brings it down.
pub const SLACK: Duration = Duration::from_millis(20);

/// Length of one window of the minimum latency.
pub const RTT_WINDOW: Duration = Duration::from_secs(30);

/// How long a peak of the limit is remembered after it was last reached. A whale endpoint
/// (50 ms receiver, 1,900 records/s) on an overloaded machine went from 167 to 9 in two
/// seconds and back up within tens of seconds; spacing its deferred records by the 9 spread
/// them over minutes (130 deliveries/s while the receiver took 2,000). Longer than such a
/// dip; short enough that a receiver that really slowed down is believed soon.
pub const PEAK_HOLD: Duration = Duration::from_secs(15);

/// What an answer says about the receiver's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx: its latency is a sample.
    Ok,
    /// No answer within the subscription's timeout.
    TimedOut,
    /// A 429 or a 5xx.
    Refused,
    /// Anything else (a 4xx, a refused connection): says nothing about capacity.
    Neutral,
}

/// One endpoint's limit.
#[derive(Debug)]
pub struct Limit {
    limit: f64,
    max: f64,
    /// Minimum latency of the current window and of the previous one.
    min_rtt: [Option<Duration>; 2],
    window_start: Instant,
    /// When the limit last dropped on an overload.
    decreased_at: Option<Instant>,
    /// When the limit last dropped on latency (at most once per `min_rtt`: a pause of the
    /// receiver or of this process delays every request in flight at once, and 256 answers
    /// each taking a step off once took a whale endpoint from 256 to 8 within two seconds).
    queued_decrease_at: Option<Instant>,
    /// The lowest timeouts and refusals may take it.
    error_floor: f64,
    /// The highest limit reached, and when it was last reached (see [`PEAK_HOLD`]).
    peak: (f64, Instant),
}

impl Limit {
    /// Starting at `start` (clamped to `1..=max`), e.g. the limit a previous owner reached.
    pub fn new(start: u32, max: u32, now: Instant) -> Self {
        let max = f64::from(max.max(1));
        Self {
            limit: f64::from(start).clamp(1.0, max),
            max,
            min_rtt: [None, None],
            window_start: now,
            decreased_at: None,
            queued_decrease_at: None,
            error_floor: 1.0,
            peak: (f64::from(start).clamp(1.0, max), now),
        }
    }

    /// Timeouts and refusals take it no lower than `floor` (clamped to `1..=max`); latency
    /// still may.
    pub fn with_error_floor(mut self, floor: u32) -> Self {
        self.error_floor = f64::from(floor).clamp(1.0, self.max);
        self
    }

    /// Requests that may be in flight now.
    pub fn get(&self) -> usize {
        self.limit as usize
    }

    /// The highest limit of the last [`PEAK_HOLD`] (at least the limit now).
    pub fn recent_peak(&self, now: Instant) -> usize {
        let (peak, at) = self.peak;
        if now.saturating_duration_since(at) < PEAK_HOLD {
            peak.max(self.limit) as usize
        } else {
            self.get()
        }
    }

    /// An answer to a request sent at `sent` while `in_flight` requests (itself included)
    /// were in flight, after `rtt`. The new limit if its whole part changed.
    pub fn answered(
        &mut self,
        sent: Instant,
        rtt: Duration,
        in_flight: usize,
        answer: Answer,
        now: Instant,
    ) -> Option<usize> {
        let before = self.get();
        let step = self.limit.log10().max(1.0);
        match answer {
            Answer::Neutral => return None,
            Answer::TimedOut => {
                if self.decreased_at.is_some_and(|d| sent < d) {
                    return None;
                }
                self.decreased_at = Some(now);
                self.limit = (self.limit * 0.9).max(self.error_floor.min(self.limit));
            }
            Answer::Refused => self.limit = (self.limit - step).max(self.error_floor.min(self.limit)),
            Answer::Ok => {
                let min = self.observe(rtt, now);
                if (in_flight * 2) < before {
                    return None;
                }
                let slack = SLACK.max(min / 4);
                let queued = self.limit * (rtt.saturating_sub(min + slack)).as_secs_f64() / rtt.as_secs_f64().max(1e-9);
                if queued <= step {
                    self.limit += 6.0 * step;
                } else if queued < 3.0 * step {
                    self.limit += step;
                } else if queued > 6.0 * step
                    && self
                        .queued_decrease_at
                        .is_none_or(|d| now.saturating_duration_since(d) >= min)
                {
                    self.queued_decrease_at = Some(now);
                    self.limit -= step;
                }
            }
        }
        self.limit = self.limit.clamp(1.0, self.max);
        if self.limit >= self.peak.0 || now.saturating_duration_since(self.peak.1) >= PEAK_HOLD {
            self.peak = (self.limit, now);
        }
        (self.get() != before).then(|| self.get())
    }

    /// Counts `rtt` into the windows; the minimum latency now.
    fn observe(&mut self, rtt: Duration, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= 2 * RTT_WINDOW {
            self.min_rtt = [None, None];
            self.window_start = now;
        } else if elapsed >= RTT_WINDOW {
            self.min_rtt = [None, self.min_rtt[0]];
            self.window_start += RTT_WINDOW;
        }
        let current = &mut self.min_rtt[0];
        *current = Some(current.map_or(rtt, |m| m.min(rtt)));
        self.min_rtt.iter().flatten().copied().min().unwrap_or(rtt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Drives `limit` with a receiver whose latency is `latency(in_flight)`, always `in_flight`
    /// = the limit (a backlog), for `samples` answers spread over `secs`.
    fn drive(limit: &mut Limit, t0: Instant, samples: u32, secs: f64, latency: impl Fn(usize) -> Duration) -> Instant {
        let mut now = t0;
        for i in 0..samples {
            now = t0 + Duration::from_secs_f64(secs * f64::from(i) / f64::from(samples));
            let n = limit.get();
            let rtt = latency(n);
            limit.answered(now.checked_sub(rtt).unwrap_or(t0), rtt, n, Answer::Ok, now);
        }
        now
    }

    #[test]
    fn a_receiver_at_constant_latency_lets_it_grow_to_the_max() {
        let t0 = Instant::now();
        let mut l = Limit::new(16, 256, t0);
        drive(&mut l, t0, 2000, 2.0, |_| ms(50));
        assert_eq!(l.get(), 256);
        // The subscription's own maximum holds.
        let mut smsedge = Limit::new(3, 3, t0);
        drive(&mut smsedge, t0, 100, 1.0, |_| ms(50));
        assert_eq!(smsedge.get(), 3);
    }

    #[test]
    fn latency_that_grows_with_load_makes_it_fall() {
        let t0 = Instant::now();
        let mut l = Limit::new(16, 256, t0);
        // The receiver's latency doubles at 4 in flight: 20 ms alone, +5 ms per request.
        // One quiet sample first, as an endpoint's first request is.
        l.answered(t0, ms(20), 1, Answer::Ok, t0);
        drive(&mut l, t0, 500, 5.0, |n| {
            ms(20) + Duration::from_micros(5000 * n as u64)
        });
        assert!(l.get() < 16, "limit {}", l.get());
        assert!(l.get() >= 4, "limit {}", l.get());
    }

    #[test]
    fn an_idle_endpoint_does_not_grow() {
        let t0 = Instant::now();
        let mut l = Limit::new(16, 256, t0);
        for i in 0..1000 {
            let now = t0 + ms(i);
            assert_eq!(l.answered(now, ms(5), 3, Answer::Ok, now), None);
        }
        assert_eq!(l.get(), 16);
    }

    #[test]
    fn timeouts_shrink_it_once_per_round_trip_and_refusals_gently() {
        let t0 = Instant::now();
        let mut l = Limit::new(100, 256, t0);
        let now = t0 + ms(50);
        assert_eq!(l.answered(t0, ms(50), 100, Answer::TimedOut, now), Some(90));
        // The other requests of that round trip: no second decrease.
        for _ in 0..50 {
            assert_eq!(l.answered(t0, ms(50), 100, Answer::TimedOut, now + ms(1)), None);
        }
        // A request sent after the decrease, refused too: the next one.
        assert_eq!(
            l.answered(now + ms(1), ms(9), 90, Answer::TimedOut, now + ms(10)),
            Some(81)
        );
        // A 429 or a 500 takes off log10(limit) (about 2), a 4xx nothing.
        assert_eq!(l.answered(now, ms(5), 81, Answer::Refused, now + ms(11)), Some(79));
        assert_eq!(l.answered(now, ms(5), 81, Answer::Neutral, now + ms(12)), None);
        // Never below one.
        let mut one = Limit::new(1, 256, t0);
        assert_eq!(one.answered(t0, ms(1), 1, Answer::TimedOut, t0 + ms(1)), None);
        assert_eq!(one.get(), 1);
    }

    #[test]
    fn errors_stop_at_the_floor_latency_does_not() {
        let t0 = Instant::now();
        let mut l = Limit::new(64, 256, t0).with_error_floor(16);
        let mut t = t0;
        for _ in 0..100 {
            t += ms(10);
            l.answered(t, ms(5), 64, Answer::TimedOut, t + ms(5));
            l.answered(t, ms(5), 64, Answer::Refused, t + ms(5));
        }
        assert_eq!(l.get(), 16, "a dead endpoint keeps the start's 16");
        // Latency may take it lower, and errors then leave it there.
        l.answered(t, ms(20), 1, Answer::Ok, t);
        drive(&mut l, t, 500, 5.0, |n| ms(20) + Duration::from_micros(5000 * n as u64));
        let low = l.get();
        assert!(low < 16, "{low}");
        let later = t + Duration::from_secs(6);
        l.answered(later, ms(5), low, Answer::TimedOut, later + ms(5));
        assert_eq!(l.get(), low);
    }

    #[test]
    fn a_new_baseline_latency_is_followed_within_two_windows() {
        let t0 = Instant::now();
        let mut l = Limit::new(64, 64, t0);
        l.answered(t0, ms(10), 64, Answer::Ok, t0);
        // The receiver now answers in 40 ms whatever its load: read as a queue at first...
        let later = t0 + ms(100);
        l.answered(later, ms(40), 64, Answer::Ok, later);
        assert!(l.get() < 64);
        // ... and as its baseline once the 10 ms sample has left both windows.
        let t = drive(&mut l, t0 + 2 * RTT_WINDOW + ms(1), 400, 4.0, |_| ms(40));
        assert_eq!(l.get(), 64, "at {:?}", t - t0);
    }

    #[test]
    fn a_pause_that_delays_every_request_in_flight_costs_one_step() {
        let t0 = Instant::now();
        let mut l = Limit::new(16, 256, t0);
        let t = drive(&mut l, t0, 2000, 2.0, |_| ms(50));
        assert_eq!(l.get(), 256);
        // The receiver paused for 30 ms: the 256 answers in flight all come back 30 ms late,
        // within a millisecond of each other. One step off (log10(256)), not 256 of them.
        for i in 0..256u64 {
            let now = t + Duration::from_micros(4 * i);
            l.answered(now - ms(80), ms(80), 256, Answer::Ok, now);
        }
        assert_eq!(l.get(), 253);
        // Latency that stays high keeps taking steps off, one per minimum round trip (50 ms).
        let t = t + ms(2);
        drive(&mut l, t, 1200, 6.0, |_| ms(200));
        assert!(l.get() < 64, "limit {}", l.get());
    }

    #[test]
    fn a_dip_keeps_the_recent_peak_for_the_hold_then_the_limit_counts() {
        let t0 = Instant::now();
        let mut l = Limit::new(16, 256, t0);
        let t = drive(&mut l, t0, 2000, 2.0, |_| ms(50));
        assert_eq!(l.get(), 256);
        // The receiver looks queued for a moment: the limit falls, the peak stays.
        l.answered(t, ms(10), 256, Answer::Ok, t);
        let t = drive(&mut l, t, 300, 1.0, |_| ms(200));
        assert!(l.get() < 64, "limit {}", l.get());
        assert_eq!(l.recent_peak(t), 256);
        // Held no longer than the hold after it was last reached.
        let later = t + PEAK_HOLD;
        assert_eq!(l.recent_peak(later), l.get());
        l.answered(later, ms(200), l.get(), Answer::Ok, later);
        assert_eq!(l.recent_peak(later + ms(1)), l.get());
    }

    #[test]
    fn starts_clamped() {
        let t0 = Instant::now();
        assert_eq!(Limit::new(0, 256, t0).get(), 1);
        assert_eq!(Limit::new(500, 256, t0).get(), 256);
        assert_eq!(Limit::new(16, 0, t0).get(), 1);
        assert_eq!(Limit::new(u32::MAX, u32::MAX, t0).get(), u32::MAX as usize);
    }
}
