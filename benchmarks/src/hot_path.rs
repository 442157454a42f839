//! Per-event CPU cost of the delivery hot path without I/O: render the selected fields of a
//! delivery event to JSON and sign it. Prints events/s for one core.
//!
//! `cargo run --release -p hookline-benchmarks --bin hot-path [events]`

use chrono::Utc;
use hookline_model::event::DeliveryEvent;
use hookline_model::{fields, payload, DlrStatus, Event, EventData, EventKind};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let event = Event {
        id: "dlr_0123456789abcdef01234567".into(),
        workspace_id: "acme".into(),
        occurred_at: Utc::now(),
        received_at: Utc::now(),
        data: EventData::Delivery(DeliveryEvent {
            message_id: "api_42_1743667200123456789_a3f8b2c1d9e45f67".into(),
            telecom_message_id: "0123456789".into(),
            recipient: "+14155551234".into(),
            sender_id: "MyApp".into(),
            status: DlrStatus::Delivered,
            status_code: "000".into(),
            num_parts: 1,
            cost: 0.0085,
            broadcast_id: None,
            message: None,
        }),
    };
    let selected = fields::defaults(EventKind::Delivery);
    let secret = b"your_webhook_signing_secret";
    let signer = hookline_security::Signer::new(secret);
    // Delivery keeps one signer per subscription secret (services/delivery/src/credentials.rs);
    // keying HMAC per event is what it did before, shown for comparison.
    run("render+sign, HMAC keyed per event", n, |i| {
        let body = payload::render_json(&event, selected);
        let sig = hookline_security::sign(secret, &i.to_string(), &body);
        body.len() + sig.len()
    });
    run("render+sign, kept signer", n, |i| {
        let body = payload::render_json(&event, selected);
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
