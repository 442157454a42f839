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
//! A probe task sleeps [`PROBE`] again and again and keeps how late it woke, decaying, as
//! every other task of the process is about as late: the gauge
//! `hookline_delivery_scheduling_lag_seconds`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long the probe sleeps between two measurements.
pub const PROBE: Duration = Duration::from_millis(10);

/// What each probe keeps of the lag before it: a delay decays to a fifth within about 70 ms.
const DECAY: f64 = 0.8;

/// The process's recent scheduling delay; 0 until the probe runs.
#[derive(Debug, Default)]
pub struct Lag {
    /// Microseconds.
    recent_us: AtomicU64,
}

impl Lag {
    /// The recent delay: the latest probe's, or what is left of a larger earlier one.
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.recent_us.load(Ordering::Relaxed))
    }

    /// Counts a probe that woke `late`.
    pub fn record(&self, late: Duration) {
        let previous = self.recent_us.load(Ordering::Relaxed) as f64 * DECAY;
        let sample = late.as_micros() as f64;
        self.recent_us.store(sample.max(previous) as u64, Ordering::Relaxed);
    }

    /// Probes until `shutdown`, calling `report` with each new value.
    pub fn spawn_probe(
        self: &Arc<Self>,
        shutdown: CancellationToken,
        report: impl Fn(Duration) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let lag = self.clone();
        tokio::spawn(async move {
            loop {
                let asleep = Instant::now();
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(PROBE) => {}
                }
                // The timer rounds up to its millisecond tick: not a delay of the process.
                let late = asleep.elapsed().saturating_sub(PROBE + Duration::from_millis(1));
                lag.record(late);
                report(lag.get());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_is_kept_decaying_and_a_larger_one_replaces_it() {
        let lag = Lag::default();
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
        let lag = Arc::new(Lag::default());
        rt.block_on(async {
            let _probe = lag.spawn_probe(CancellationToken::new(), |_| {});
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Blocks the only thread for 100 ms, as a CPU-starved process is.
            std::thread::sleep(Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(15)).await;
            assert!(lag.get() >= Duration::from_millis(40), "busy: {:?}", lag.get());
        });
    }
}
