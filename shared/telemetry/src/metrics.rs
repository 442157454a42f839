//! Constructors that create and register a metric in one call; registration can only fail on
//! a duplicate name, which is a programming error, so they panic with the name.

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Buckets for request and end-to-end latencies, in seconds: 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let m = IntCounterVec::new(Opts::new(name, help), labels).expect(name);
    registry.register(Box::new(m.clone())).expect(name);
    m
}

pub fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let m = IntGaugeVec::new(Opts::new(name, help), labels).expect(name);
    registry.register(Box::new(m.clone())).expect(name);
    m
}

/// A gauge of a fractional value (seconds, a ratio), with no labels.
pub fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let m = Gauge::with_opts(Opts::new(name, help)).expect(name);
    registry.register(Box::new(m.clone())).expect(name);
    m
}

pub fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let m = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect(name);
    registry.register(Box::new(m.clone())).expect(name);
    m
}
