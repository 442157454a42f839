//! Fan-out: one dispatch record per subscription that wants the event, keyed by the
//! subscription's endpoint so that one delivery consumer owns each endpoint.

use crate::Enricher;
use futures::future::try_join_all;
use hookline_kafka::{headers, Handled};
use hookline_model::{ids, Dispatch, Event, Subscription};

pub(crate) async fn fan_out(e: &Enricher, event: &Event) -> Handled {
    let (config_version, subs) = e.config.read(|c| c.matching(event));
    fan_out_to(e, event, config_version, subs).await
}

/// Fans `event` out to `subs` (a subset of the subscriptions matching it at `config_version`).
pub(crate) async fn fan_out_to(e: &Enricher, event: &Event, config_version: u64, subs: Vec<Subscription>) -> Handled {
    let kind = event.kind().as_str();
    if subs.is_empty() {
        e.metrics.events.with_label_values(&[kind, "no_subscription"]).inc();
        return Handled::Done;
    }
    let records: Vec<(String, Vec<u8>)> = match subs
        .iter()
        .map(|sub| {
            let d = Dispatch {
                dispatch_id: ids::dispatch_id(&event.id, &sub.id),
                workspace_id: sub.workspace_id.clone(),
                subscription_id: sub.id.clone(),
                event: event.clone(),
                test: false,
                subscription: sub.clone(),
                config_version,
            };
            serde_json::to_vec(&d).map(|v| (sub.endpoint_key(), v))
        })
        .collect::<Result<_, _>>()
    {
        Ok(r) => r,
        Err(err) => return Handled::Abort(err.to_string()),
    };
    let sends = records.iter().map(|(key, value)| {
        e.producer.send(
            &e.dispatch_topic,
            Some(key.as_bytes()),
            Some(value),
            &[(headers::ATTEMPT, b"1")],
        )
    });
    match try_join_all(sends).await {
        Ok(_) => {
            e.metrics.events.with_label_values(&[kind, "dispatched"]).inc();
            e.metrics
                .dispatched
                .with_label_values(&[kind])
                .inc_by(records.len() as u64);
            Handled::Done
        }
        Err(err) => Handled::Abort(err.to_string()),
    }
}
