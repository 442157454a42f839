//! Fan-out: one dispatch record per subscription that wants the event, keyed by the
//! subscription's endpoint so that one delivery consumer owns each endpoint.

use crate::metrics::Metrics;
use crate::Enricher;
use futures::future::try_join_all;
use hookline_kafka::{headers, Handled, Producer};
use hookline_model::{Dispatch, Event, Subscription};

/// Where dispatch records go: the enricher's producer, or the revoke-click batcher's
/// transactional one.
pub(crate) struct Out<'a> {
    pub producer: &'a Producer,
    pub dispatch_topic: &'a str,
    pub metrics: &'a Metrics,
    /// At most this many dispatch records per event (`HOOKLINE_MAX_DELIVERIES_PER_EVENT`): the
    /// API already caps subscriptions per workspace, this bounds what one input can make
    /// Hookline send even if the config topic holds more (written around the API).
    pub max_deliveries: usize,
}

impl Enricher {
    pub(crate) fn out(&self) -> Out<'_> {
        Out {
            producer: &self.producer,
            dispatch_topic: &self.dispatch_topic,
            metrics: &self.metrics,
            max_deliveries: self.cfg.max_deliveries_per_event,
        }
    }
}

/// Fans `event` out to every subscription that wants it.
pub(crate) async fn fan_out(e: &Enricher, event: &Event) -> Handled {
    let (config_version, subs) = e.config.read(|c| c.matching(event));
    fan_out_to(&e.out(), event, config_version, subs).await
}

/// Fans `event` out to `subs` (a subset of the subscriptions matching it at `config_version`).
pub(crate) async fn fan_out_to(
    out: &Out<'_>,
    event: &Event,
    config_version: u64,
    mut subs: Vec<Subscription>,
) -> Handled {
    let kind = event.kind().as_str();
    if subs.is_empty() {
        out.metrics.events.with_label_values(&[kind, "no_subscription"]).inc();
        return Handled::Done;
    }
    if subs.len() > out.max_deliveries {
        // The first ones in config order (creation order) are kept; the rest are counted.
        tracing::warn!(
            workspace = %event.workspace_id,
            matching = subs.len(),
            max = out.max_deliveries,
            "event matches more subscriptions than HOOKLINE_MAX_DELIVERIES_PER_EVENT; the rest get nothing"
        );
        out.metrics
            .capped
            .with_label_values(&[kind])
            .inc_by((subs.len() - out.max_deliveries) as u64);
        subs.truncate(out.max_deliveries);
    }
    let records: Vec<(String, Vec<u8>)> = match subs
        .iter()
        .map(|sub| {
            let d = Dispatch::new(event.clone(), sub, config_version);
            serde_json::to_vec(&d).map(|v| (sub.endpoint_key(), v))
        })
        .collect::<Result<_, _>>()
    {
        Ok(r) => r,
        Err(err) => return Handled::Abort(err.to_string()),
    };
    let sends = records.iter().map(|(key, value)| {
        out.producer.send(
            out.dispatch_topic,
            Some(key.as_bytes()),
            Some(value),
            &[(headers::ATTEMPT, b"1")],
        )
    });
    match try_join_all(sends).await {
        Ok(_) => {
            out.metrics.events.with_label_values(&[kind, "dispatched"]).inc();
            out.metrics
                .dispatched
                .with_label_values(&[kind])
                .inc_by(records.len() as u64);
            Handled::Done
        }
        Err(err) => Handled::Abort(err.to_string()),
    }
}
