//! The delivery process's own scheduling delay: how late a task wakes.
//!
//! A ready task waits for a worker thread, and a process short of CPU waits for the CPU (on
//! Kubernetes a pod at its CPU limit is throttled for the rest of each 100 ms CFS period), so
//! every request in flight then looks slower at once. That is a saturated delivery process's
//! first sign, before its consumer lag grows.
//!
//! It is shown, not acted on. Taking it off each latency sample of the adaptive concurrency
//! limit ([`crate::concurrency`]), and holding limits while it was above 10 ms, was tried: on
//! the benchmark machine it engaged in about 1 % of samples (`benchmarks/run.sh real` at
//! 4,800 events/s: p50 0.3 ms, p90 2.7 ms, at most 16 ms), so it fixed nothing measured
//! there, while on a fresh CI machine, with it in place, the debug-built test pipeline kept a
//! slowing receiver's limit at 17 for 60 s (`tests/tests/adaptive_concurrency.rs`): a
//! process that is always a little late would never lower a limit on latency. Removed rather
//! than tuned.
//!
//! A probe task ([`spawn_probe`]) sleeps [`PROBE`] again and again and keeps how late it
//! woke, decaying ([`Lag`]), as every other task of the process is about as late, in the
//! gauge `hookline_delivery_scheduling_lag_seconds`: the gauge is where the value lives.

use prometheus::Gauge;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long the probe sleeps between two measurements.
pub const PROBE: Duration = Duration::from_millis(10);

/// What each probe keeps of the lag before it: a delay decays to a fifth within about 70 ms.
const DECAY: f64 = 0.8;

/// The recent scheduling delay: the latest probe's, or what is left of a larger earlier one.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lag(Duration);

impl Lag {
    /// Counts a probe that woke `late`.
    pub fn record(&mut self, late: Duration) {
        self.0 = late.max(self.0.mul_f64(DECAY));
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

/// Probes until `shutdown`, setting `gauge` (seconds) after each probe.
pub fn spawn_probe(shutdown: CancellationToken, gauge: Gauge) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lag = Lag::default();
        loop {
            let asleep = Instant::now();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(PROBE) => {}
            }
            // The timer rounds up to its millisecond tick: not a delay of the process.
            lag.record(asleep.elapsed().saturating_sub(PROBE + Duration::from_millis(1)));
            gauge.set(lag.get().as_secs_f64());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_is_kept_decaying_and_a_larger_one_replaces_it() {
        let mut lag = Lag::default();
        assert_eq!(lag.get(), Duration::ZERO);
        lag.record(Duration::from_millis(100));
        assert_eq!(lag.get(), Duration::from_millis(100));
        lag.record(Duration::ZERO);
        assert_eq!(lag.get(), Duration::from_millis(80));
        for _ in 0..10 {
            lag.record(Duration::ZERO);
        }
        assert!(lag.get() < Duration::from_millis(10), "{:?}", lag.get());
        lag.record(Duration::from_millis(50));
        assert_eq!(lag.get(), Duration::from_millis(50));
    }

    /// A runtime whose only worker is kept busy: the probe sees it.
    #[test]
    fn the_probe_sees_a_blocked_worker() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let gauge = Gauge::new("lag", "test").unwrap();
        rt.block_on(async {
            let _probe = spawn_probe(CancellationToken::new(), gauge.clone());
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Blocks the only thread for 100 ms, as a CPU-starved process is.
            std::thread::sleep(Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(15)).await;
            assert!(gauge.get() >= 0.040, "busy: {} s", gauge.get());
        });
    }
}
