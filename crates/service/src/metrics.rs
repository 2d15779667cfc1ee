//! Prometheus metrics for the people who run Tearline, in the OpenMetrics text format
//! (`prometheus-client`): deliveries by state and attempts by channel and result, how long
//! the oldest due delivery has waited, delivery latency from issue to the receiver, the
//! audit log's size and the age of its latest signed checkpoint, how far the search index
//! lags the store, and refused logins by reason.
//!
//! Counters and the latency histogram are this process's own; the gauges are read from the
//! database at each scrape, so every server on one database reports the same outbox.
//! Nothing here carries a name, an address or any text a person wrote: labels are fixed
//! vocabularies (channel, state, result, error code).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use tearline_warn::delivery::{Channel, DeliveryState};

use crate::error::ServiceError;
use crate::state::AppState;

type Labels = Vec<(&'static str, &'static str)>;

/// The registry and the metrics this process updates as it works.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    attempts: Family<Labels, Counter>,
    latency: Histogram,
    logins_refused: Family<Labels, Counter>,
    deliveries: Family<Labels, Gauge>,
    queue_age: Gauge<f64, AtomicU64>,
    audit_entries: Gauge,
    checkpoint_age: Gauge<f64, AtomicU64>,
    search_lag: Gauge,
    feed_builds: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            registry: Registry::with_prefix("tearline"),
            attempts: Family::default(),
            // 10 ms to about 45 minutes.
            latency: Histogram::new(exponential_buckets(0.01, 2.0, 18)),
            logins_refused: Family::default(),
            deliveries: Family::default(),
            queue_age: Gauge::default(),
            audit_entries: Gauge::default(),
            checkpoint_age: Gauge::default(),
            search_lag: Gauge::default(),
            feed_builds: Counter::default(),
        };
        let mut registry = metrics.registry;
        registry.register(
            "delivery_attempts",
            "Delivery attempts this process made, by channel and result (sent, failed, retry)",
            metrics.attempts.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From a warning's issue to its delivery reaching the receiver, per delivery this process sent",
            metrics.latency.clone(),
        );
        registry.register(
            "logins_refused",
            "Logins refused by this process, by reason (the error code answered)",
            metrics.logins_refused.clone(),
        );
        registry.register("deliveries", "Deliveries in the outbox, by state", metrics.deliveries.clone());
        registry.register(
            "delivery_queue_age_seconds",
            "How long the oldest delivery still due has waited (0 when none is due)",
            metrics.queue_age.clone(),
        );
        registry.register(
            "audit_entries",
            "Entries in the audit log, as of its latest checkpoint",
            metrics.audit_entries.clone(),
        );
        registry.register(
            "audit_checkpoint_age_seconds",
            "Age of the audit log's latest signed checkpoint",
            metrics.checkpoint_age.clone(),
        );
        registry.register(
            "search_index_lag_reports",
            "Released reports this server's search index does not hold yet",
            metrics.search_lag.clone(),
        );
        registry.register(
            "public_feed_builds",
            "Times this process built the public feed from the store (one build at a time)",
            metrics.feed_builds.clone(),
        );
        Metrics { registry, ..metrics }
    }
}

fn seconds(millis: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let seconds = millis.max(0) as f64 / 1000.0;
    seconds
}

impl Metrics {
    /// One delivery attempt ended: `state_after` is where the delivery went (queued again
    /// for a retry, sent, failed for good); a sent one `latency_millis` after its issue.
    pub fn delivery_attempted(
        &self,
        channel: Channel,
        state_after: DeliveryState,
        latency_millis: Option<i64>,
    ) {
        let result = match state_after {
            DeliveryState::Sent | DeliveryState::Acknowledged => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Queued | DeliveryState::Sending => "retry",
        };
        self.attempts.get_or_create(&vec![("channel", channel.as_str()), ("result", result)]).inc();
        if let Some(latency) = latency_millis {
            self.latency.observe(seconds(latency));
        }
    }

    /// The public feed was built from the store.
    pub fn public_feed_built(&self) {
        self.feed_builds.inc();
    }

    /// A login was refused with `code` (wrong password, locked, throttled, awaiting approval).
    pub fn login_refused(&self, code: &'static str) {
        self.logins_refused.get_or_create(&vec![("reason", code)]).inc();
    }
}

/// The metrics as OpenMetrics text, the gauges read from the store now.
pub async fn render(state: &AppState) -> Result<String, ServiceError> {
    let metrics = &state.metrics;
    let gauges = state.store.gauges().await?;
    let now = state.now();
    for delivery_state in DeliveryState::ALL {
        let count =
            gauges.deliveries_by_state.iter().find(|(s, _)| *s == delivery_state).map_or(0, |(_, n)| *n);
        metrics.deliveries.get_or_create(&vec![("state", delivery_state.as_str())]).set(count);
    }
    metrics.queue_age.set(gauges.oldest_due_at.map_or(0.0, |at| seconds(now.0 - at.0)));
    metrics.audit_entries.set(gauges.audit_entries);
    metrics.checkpoint_age.set(gauges.last_checkpoint_at.map_or(0.0, |at| seconds(now.0 - at.0)));
    let indexed = i64::try_from(state.search.len()).unwrap_or(i64::MAX);
    metrics.search_lag.set((gauges.released_reports - indexed).max(0));
    let mut text = String::new();
    encode(&mut text, &metrics.registry).map_err(|e| ServiceError::internal("metrics", &e))?;
    Ok(text)
}
