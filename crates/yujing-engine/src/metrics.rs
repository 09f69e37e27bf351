//! What operators watch: Prometheus metrics of the pipeline, the work orders and the command-centre feed.
//!
//! Counters count what happened since the process started; gauges that describe the log (lag, open orders,
//! warnings per town) are refreshed from the stages when scraped ([`crate::Pipeline::refresh_metrics`]), so they
//! are right after a restart too. Label values are feed names, reject kinds, levels, order states, card colours,
//! webhook names and town names: never personal data.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use prometheus::core::Collector;
use serde::Serialize;
use yujing_model::{Card, FeedId, RejectKind, WarningLevel};

/// What `/health` reports of the pipeline's consumers and the webhooks ([`Metrics::health_figures`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthFigures {
    /// Each consumer of the log and of the upstream topics (`correlate`, `orders`, `source:<name>/<partition>`).
    pub lag: BTreeMap<String, ConsumerLag>,
    /// Each webhook, by name.
    pub webhooks: BTreeMap<String, WebhookHealth>,
}

/// How far behind a consumer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ConsumerLag {
    /// Records not processed yet.
    pub records: i64,
    /// How long the oldest of them has waited, seconds, where it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// Where a webhook's delivery stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WebhookHealth {
    /// Outbox entries not delivered yet.
    pub behind: i64,
    /// Entries its receiver refused for good, kept to be sent again.
    pub refused: i64,
    /// When it last acknowledged an entry.
    pub last_success: Option<DateTime<Utc>>,
    /// When its current run of failed attempts began (`None` while attempts succeed).
    pub failing_since: Option<DateTime<Utc>>,
}

/// Each labelled value of a one-label gauge family, by its label.
fn values(family: &impl Collector) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for collected in family.collect() {
        for metric in collected.get_metric() {
            let label = metric
                .get_label()
                .first()
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            out.push((label, metric.get_gauge().get_value()));
        }
    }
    out
}

/// The metrics registry and its instruments.
pub struct Metrics {
    registry: Registry,
    /// Records read per feed (`yujing_records_read_total`).
    pub records_read: IntCounterVec,
    /// New clues and new versions per feed (`yujing_clues_ingested_total`).
    pub clues_ingested: IntCounterVec,
    /// Clues whose category word no table maps, their type inferred (`yujing_clues_category_inferred_total`).
    pub category_inferred: IntCounterVec,
    /// Records received again unchanged (`yujing_records_duplicate_total`).
    pub duplicates: IntCounterVec,
    /// Rejected records per feed and reason (`yujing_records_rejected_total`).
    pub rejected: IntCounterVec,
    /// When each feed last delivered a new clue or version, unix seconds
    /// (`yujing_feed_last_record_timestamp_seconds`).
    pub feed_last_record: GaugeVec,
    /// Records in each topic of the log (`yujing_log_end_offset`).
    pub log_end: IntGaugeVec,
    /// Records a consumer has not processed yet (`yujing_consumer_lag_records`): `correlate` (clues),
    /// `orders` (warnings), `webhook:<name>` (outbox), `source:<name>/<partition>` (each partition of an
    /// upstream topic).
    pub lag: IntGaugeVec,
    /// Clusters (disputes) the correlator holds (`yujing_clusters`).
    pub clusters: IntGauge,
    /// Clue versions correlated (`yujing_clues_correlated`).
    pub clues_correlated: IntGauge,
    /// Warnings raised since start, per level (`yujing_warnings_raised_total`).
    pub warnings_raised: IntCounterVec,
    /// Warnings on the log per level and town (`yujing_warnings`).
    pub warnings: IntGaugeVec,
    /// Work orders per state and town (`yujing_work_orders`).
    pub orders: IntGaugeVec,
    /// Open work orders past a deadline, per deadline and town (`yujing_work_orders_overdue`).
    pub overdue: IntGaugeVec,
    /// Work-order events written since start, per type (`yujing_work_order_events_total`).
    pub order_events: IntCounterVec,
    /// Supervision cards issued since start (`yujing_supervision_cards_total`).
    pub cards: IntCounterVec,
    /// Escalations since start, by trigger (`yujing_escalations_total{trigger="manual|automatic"}`).
    pub escalations: IntCounterVec,
    /// Webhook delivery attempts per receiver and outcome (`yujing_webhook_deliveries_total`):
    /// `delivered`, `failed` (will retry), `rejected` (a 4xx, skipped).
    pub webhook_deliveries: IntCounterVec,
    /// When each webhook last acknowledged an entry, unix seconds (`yujing_webhook_last_success_timestamp_seconds`).
    pub webhook_last_success: GaugeVec,
    /// Entries each webhook's receiver refused for good, kept to be sent again (`yujing_webhook_refused`).
    pub webhook_refused: IntGaugeVec,
    /// When the webhook's current run of failed attempts began, unix seconds; 0 once an attempt succeeds
    /// (`yujing_webhook_failing_since_timestamp_seconds`).
    pub webhook_failing_since: GaugeVec,
    /// From a report's arrival to the warning it completed, seconds (`yujing_warning_latency_seconds`): the sum
    /// of the two below.
    pub warning_latency: Histogram,
    /// From the arrival of the newest report a warning counted to the start of the step that raised it, seconds
    /// (`yujing_warning_recognition_seconds`): 0 when that report came in the same step; longer when the
    /// dispute was recognised only later (a report that bridged two clusters, a reconsideration).
    pub warning_recognition: Histogram,
    /// From the start of the step that raised a warning to its commit on the log, seconds
    /// (`yujing_warning_processing_seconds`): ingestion, correlation, work orders and the transaction.
    pub warning_processing: Histogram,
    /// How long the oldest record a consumer has not processed has waited, seconds
    /// (`yujing_consumer_lag_seconds`): `correlate` (clues), `orders` (warnings); 0 when caught up.
    pub lag_seconds: GaugeVec,
    /// Steps committed to the log, each one batch (one Kafka transaction) (`yujing_log_commits_total`).
    pub commits: prometheus::IntCounter,
    /// Processing time per stage and call, seconds (`yujing_stage_duration_seconds`).
    pub stage_duration: HistogramVec,
    /// When the process started, unix seconds (`yujing_start_time_seconds`).
    pub start_time: Gauge,
}

/// The topics whose ends are exported.
pub const EXPORTED_TOPICS: [&str; 6] = ["clues", "deadletter", "links", "warnings", "workorders", "outbox"];

/// The consumers whose lag is exported besides webhooks.
pub const CONSUMERS: [&str; 2] = ["correlate", "orders"];

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, collector: T) -> T {
    // Names are fixed and distinct: registering cannot fail.
    let _ = registry.register(Box::new(collector.clone()));
    collector
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("valid metric {name}"));
    register(registry, vec)
}

fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("valid metric {name}"));
    register(registry, vec)
}

/// Seconds, from 10 ms to 15 minutes: how long a warning took.
const LATENCY_BUCKETS: [f64; 13] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .unwrap_or_else(|_| unreachable!("valid metric {name}"));
    register(registry, histogram)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let vec =
        GaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable!("valid metric {name}"));
    register(registry, vec)
}

impl Metrics {
    /// A fresh registry with every instrument, the known label sets present at zero (so dashboards and alerts
    /// see a series before the first event).
    pub fn new() -> Metrics {
        Metrics::with_registry(Registry::new())
    }

    /// [`Metrics::new`] for one shard of a sharded store: every series carries the label `shard`, so the
    /// shards an instance runs can be exposed together ([`Metrics::encode_all`]) and summed across instances.
    pub fn for_shard(shard: crate::Shard) -> Metrics {
        if shard.is_whole() {
            return Metrics::new();
        }
        let labels = std::collections::HashMap::from([("shard".to_owned(), shard.index.to_string())]);
        match Registry::new_custom(None, Some(labels)) {
            Ok(registry) => Metrics::with_registry(registry),
            Err(_) => unreachable!("'shard' is a valid label name"),
        }
    }

    fn with_registry(registry: Registry) -> Metrics {
        let r = &registry.clone();
        let metrics = Metrics {
            registry,
            records_read: counter_vec(r, "yujing_records_read_total", "Upstream records read, per feed.", &["feed"]),
            clues_ingested: counter_vec(
                r,
                "yujing_clues_ingested_total",
                "New clues and new versions written to the log, per feed.",
                &["feed"],
            ),
            category_inferred: counter_vec(
                r,
                "yujing_clues_category_inferred_total",
                "Clues written whose category word no table maps (type inferred from the word and text; see yujing vocab), per feed.",
                &["feed"],
            ),
            duplicates: counter_vec(
                r,
                "yujing_records_duplicate_total",
                "Records received again unchanged (re-deliveries, files read twice), per feed.",
                &["feed"],
            ),
            rejected: counter_vec(
                r,
                "yujing_records_rejected_total",
                "Records rejected to the dead-letter store, per feed and reason.",
                &["feed", "reason"],
            ),
            feed_last_record: gauge_vec(
                r,
                "yujing_feed_last_record_timestamp_seconds",
                "When the feed last delivered a new clue or version (unix seconds).",
                &["feed"],
            ),
            log_end: int_gauge_vec(r, "yujing_log_end_offset", "Records in each topic of the log.", &["topic"]),
            lag: int_gauge_vec(
                r,
                "yujing_consumer_lag_records",
                "Records a consumer has not processed yet.",
                &["consumer"],
            ),
            clusters: register(
                r,
                IntGauge::new("yujing_clusters", "Clusters (disputes) the correlator holds.")
                    .unwrap_or_else(|_| unreachable!("valid metric")),
            ),
            clues_correlated: register(
                r,
                IntGauge::new("yujing_clues_correlated", "Clue versions the correlator has observed.")
                    .unwrap_or_else(|_| unreachable!("valid metric")),
            ),
            warnings_raised: counter_vec(
                r,
                "yujing_warnings_raised_total",
                "Warnings raised since the process started, per level.",
                &["level"],
            ),
            warnings: int_gauge_vec(r, "yujing_warnings", "Warnings on the log, per level and town.", &["level", "town"]),
            orders: int_gauge_vec(r, "yujing_work_orders", "Work orders per state and town.", &["status", "town"]),
            overdue: int_gauge_vec(
                r,
                "yujing_work_orders_overdue",
                "Open work orders past their acceptance or handling deadline, per town.",
                &["deadline", "town"],
            ),
            order_events: counter_vec(
                r,
                "yujing_work_order_events_total",
                "Work-order events written since the process started, per type.",
                &["type"],
            ),
            cards: counter_vec(
                r,
                "yujing_supervision_cards_total",
                "Supervision cards (督办) issued since the process started.",
                &["card"],
            ),
            escalations: counter_vec(
                r,
                "yujing_escalations_total",
                "Escalations (提级) since the process started, by trigger.",
                &["trigger"],
            ),
            webhook_deliveries: counter_vec(
                r,
                "yujing_webhook_deliveries_total",
                "Webhook delivery attempts per receiver and outcome (delivered, failed and retried, rejected).",
                &["webhook", "outcome"],
            ),
            webhook_last_success: gauge_vec(
                r,
                "yujing_webhook_last_success_timestamp_seconds",
                "When the webhook last acknowledged an entry (unix seconds).",
                &["webhook"],
            ),
            webhook_failing_since: gauge_vec(
                r,
                "yujing_webhook_failing_since_timestamp_seconds",
                "When the webhook's current run of failed attempts began (unix seconds); 0 once one succeeds.",
                &["webhook"],
            ),
            webhook_refused: int_gauge_vec(
                r,
                "yujing_webhook_refused",
                "Entries the webhook's receiver refused for good, kept to be sent again (yujing webhook retry).",
                &["webhook"],
            ),
            warning_latency: histogram(
                r,
                "yujing_warning_latency_seconds",
                "From the arrival of the report that completed a warning to the warning on the log.",
                &LATENCY_BUCKETS,
            ),
            warning_recognition: histogram(
                r,
                "yujing_warning_recognition_seconds",
                "From the arrival of the newest report a warning counted to the start of the step that raised it \
                 (0 when it came in that step).",
                &LATENCY_BUCKETS,
            ),
            warning_processing: histogram(
                r,
                "yujing_warning_processing_seconds",
                "From the start of the step that raised a warning to its commit on the log.",
                &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            lag_seconds: gauge_vec(
                r,
                "yujing_consumer_lag_seconds",
                "How long the oldest record a consumer has not processed has waited (0 when caught up).",
                &["consumer"],
            ),
            commits: register(
                r,
                prometheus::IntCounter::new(
                    "yujing_log_commits_total",
                    "Pipeline steps committed to the log, each one batch (one Kafka transaction).",
                )
                .unwrap_or_else(|_| unreachable!("valid metric")),
            ),
            stage_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new("yujing_stage_duration_seconds", "Processing time per stage and call.")
                        .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                    &["stage"],
                )
                .unwrap_or_else(|_| unreachable!("valid metric")),
            ),
            start_time: register(
                r,
                Gauge::new("yujing_start_time_seconds", "When the process started (unix seconds).")
                    .unwrap_or_else(|_| unreachable!("valid metric")),
            ),
        };
        for feed in FeedId::ALL {
            let f = feed.as_str();
            metrics.records_read.with_label_values(&[f]);
            metrics.clues_ingested.with_label_values(&[f]);
            metrics.duplicates.with_label_values(&[f]);
            for kind in RejectKind::ALL {
                metrics.rejected.with_label_values(&[f, kind.as_str()]);
            }
        }
        for topic in EXPORTED_TOPICS {
            metrics.log_end.with_label_values(&[topic]);
        }
        for consumer in CONSUMERS {
            metrics.lag.with_label_values(&[consumer]);
            metrics.lag_seconds.with_label_values(&[consumer]);
        }
        for level in [WarningLevel::Orange, WarningLevel::Red] {
            metrics.warnings_raised.with_label_values(&[level.as_str()]);
        }
        for card in [Card::Yellow, Card::Red] {
            metrics.cards.with_label_values(&[card_name(card)]);
        }
        for trigger in ["manual", "automatic"] {
            metrics.escalations.with_label_values(&[trigger]);
        }
        metrics.warning_latency.observe(0.0);
        metrics.start_time.set(0.0);
        metrics
    }

    /// Adds the series of webhook `name`, at zero.
    pub fn add_webhook(&self, name: &str) {
        for outcome in ["delivered", "failed", "rejected"] {
            self.webhook_deliveries.with_label_values(&[name, outcome]);
        }
        self.lag.with_label_values(&[&format!("webhook:{name}")]);
        self.webhook_refused.with_label_values(&[name]);
        self.webhook_failing_since.with_label_values(&[name]);
    }

    /// What `/health` reports from the instruments, read without the pipeline: each consumer's lag and each
    /// webhook's state, as the last refresh and the deliverers left them.
    pub fn health_figures(&self) -> HealthFigures {
        let mut figures = HealthFigures::default();
        for (label, records) in values(&self.lag) {
            match label.strip_prefix("webhook:") {
                Some(name) => figures.webhooks.entry(name.to_owned()).or_default().behind = records as i64,
                None => figures.lag.entry(label).or_default().records = records as i64,
            }
        }
        for (label, seconds) in values(&self.lag_seconds) {
            figures.lag.entry(label).or_default().seconds = Some(seconds);
        }
        let at = |seconds: f64| {
            (seconds > 0.0)
                .then(|| DateTime::from_timestamp_millis((seconds * 1000.0) as i64))
                .flatten()
        };
        for (name, refused) in values(&self.webhook_refused) {
            figures.webhooks.entry(name).or_default().refused = refused as i64;
        }
        for (name, seconds) in values(&self.webhook_last_success) {
            figures.webhooks.entry(name).or_default().last_success = at(seconds);
        }
        for (name, seconds) in values(&self.webhook_failing_since) {
            figures.webhooks.entry(name).or_default().failing_since = at(seconds);
        }
        figures
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// The text exposition of the metrics of several shards: the series of each metric together, told apart by
    /// their `shard` label.
    pub fn encode_all(all: &[&Metrics]) -> String {
        let mut families: Vec<prometheus::proto::MetricFamily> = Vec::new();
        for metrics in all {
            for family in metrics.registry.gather() {
                match families.iter_mut().find(|f| f.name() == family.name()) {
                    Some(known) => known.mut_metric().extend(family.get_metric().iter().cloned()),
                    None => families.push(family),
                }
            }
        }
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::error!(%error, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Sets every order gauge from scratch (states and towns come and go).
    pub fn reset_order_gauges(&self) {
        self.orders.reset();
        self.overdue.reset();
        self.warnings.reset();
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// `yellow` or `red`.
pub fn card_name(card: Card) -> &'static str {
    match card {
        Card::Yellow => "yellow",
        Card::Red => "red",
    }
}
