//! Per-event CPU cost of the delivery hot path without I/O: render the selected fields of a
//! delivery event to JSON and sign it. Prints events/s for one core.
//!
//! `cargo run --release -p hookline-benchmarks --bin hot-path [events]`

use hookline_model::render::telecom23;
use hookline_model::{fields, Event, EventKind};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let event = Event::sample(EventKind::Delivery, "acme");
    let selected = fields::defaults(EventKind::Delivery);
    let secret = b"your_webhook_signing_secret";
    let signer = hookline_security::Signer::new(secret);
    // Delivery keeps one signer per subscription secret (services/delivery/src/credentials.rs);
    // keying HMAC per event is what it did before, shown for comparison.
    run("render+sign, HMAC keyed per event", n, |i| {
        let body = telecom23::render(&event, &selected);
        let sig = hookline_security::sign(secret, &i.to_string(), &body);
        body.len() + sig.len()
    });
    run("render+sign, kept signer", n, |i| {
        let body = telecom23::render(&event, &selected);
        let sig = signer.sign(&i.to_string(), &body);
        body.len() + sig.len()
    });
}

fn run(name: &str, n: u64, mut one: impl FnMut(u64) -> usize) {
    let (mut bytes, start) = (0usize, Instant::now());
    for i in 0..n {
        bytes += one(i);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name}: {n} events in {secs:.3} s = {:.0} events/s on one core ({bytes} bytes)",
        n as f64 / secs
    );
}
