//! The pipeline as one long-lived value: ingestion, correlation and work orders over one log, for `yujing run`
//! and for the HTTP server. Every step writes the log first; the stages in memory follow it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use yujing_correlate::Correlator;
use yujing_log::{Batch, Log, LogError, Offset, SourceMessage, UnitOfWork};
use yujing_model::{Actor, Clue, FeedId, OrderChange, OrderStatus, Warning, WorkOrderEvent};
use yujing_workorder::Command;

use crate::clock::Clock;
use crate::config::Built;
use crate::correlate::{CorrelateError, CorrelationStage};
use crate::ingest::{FileReport, IngestError, IngestReport, Ingestor, PreparedInput};
use crate::metrics::{card_name, Metrics, EXPORTED_TOPICS};
use crate::orders::{OrderError, OrderStage, WarningSummary};
use crate::read::ReadError;
use crate::route;
use crate::shard::Shard;
use crate::snapshot::{self, NoSnapshot, Positions, SnapshotWriteError, ToWrite};
use crate::sources::{self, SourceConfig};
use crate::topics::{CLUES, OUTBOX};

/// A failure of a pipeline step.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Ingestion failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Correlation failed.
    #[error(transparent)]
    Correlate(#[from] CorrelateError),
    /// The work-order stage failed or refused.
    #[error(transparent)]
    Orders(#[from] OrderError),
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Committing a step's writes failed: none of them since its last commit are on the log.
    #[error("committing the step to the log")]
    Commit(#[source] LogError),
    /// Deleting expired raw units (or routed messages already ingested) failed; what was deleted stays deleted,
    /// the rest is tried again next time.
    #[error("deleting raw units older than [store] raw_retention_days")]
    Expire(#[source] LogError),
    /// A message routed to this shard could not be read: the shard stops there and tries again, rather than
    /// skip what it carries.
    #[error("reading the message routed to this shard at offset {offset} of the repartition topic")]
    Routed {
        /// Its offset in the shard's partition.
        offset: Offset,
        /// Why.
        source: route::RouteError,
    },
}

/// Whether a step ingests what it reads or, on a shard of a sharded store, routes it to the shards that keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routing {
    /// Decode and route (inputs read from outside: upstream topics, the drop directory, HTTP pushes, files).
    Route,
    /// Ingest what belongs to this shard (routed parts; inputs given as bytes to [`Pipeline::ingest_inputs`]).
    Keep,
}

impl PipelineError {
    /// Whether the step may have changed the stages in memory before it failed (so they no longer follow the
    /// log): every failure but an operator's command refused before anything was decided.
    fn may_have_changed_stages(&self) -> bool {
        !matches!(
            self,
            PipelineError::Orders(OrderError::Unknown(_) | OrderError::Refused(_))
        )
    }
}

/// What one step (an ingest, or catching up) did downstream of the clues.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// Warnings raised.
    pub warnings: Vec<Warning>,
    /// Work-order events written.
    pub order_events: Vec<WorkOrderEvent>,
}

/// Ingestion, correlation and work orders over one log.
pub struct Pipeline {
    log: Arc<dyn Log>,
    /// What the step being run has written, read back by its stages and committed at its end.
    unit: UnitOfWork,
    /// Why the stages must be restored from the log before the next step (a step failed after changing them).
    must_restore: Option<String>,
    built: Built,
    clock: Arc<dyn Clock>,
    correlation: CorrelationStage,
    orders: OrderStage,
    metrics: Arc<Metrics>,
    shard: Shard,
    /// On a shard of a sharded store: splits and seals what it routes, opens what is routed to it.
    router: Option<route::Router>,
    /// When each feed last delivered (ms): the `feed_last_record` gauges, kept for snapshots.
    feed_last: std::sync::Mutex<HashMap<FeedId, i64>>,
    /// The `clues` end the newest snapshot covers (written, being written, or loaded).
    snapshot_at: Option<Offset>,
    /// A snapshot being written on a thread of its own (one at a time), so a live step does not wait for it.
    snapshot_writer: Option<std::thread::JoinHandle<()>>,
    /// When the newest report of each warning raised in the step being run arrived (ms), for its latency.
    arrivals: Vec<i64>,
    restart: Restart,
}

impl Drop for Pipeline {
    /// A snapshot being written is finished first: a stop does not leave it half done.
    fn drop(&mut self) {
        self.finish_snapshot();
    }
}

/// How a pipeline's stages were restored when it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// From a snapshot, then the log after it.
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// The `clues` end it covered.
        covered: Offset,
        /// Clue versions replayed after it.
        replayed: u64,
    },
    /// From the whole log.
    Rebuilt {
        /// Clue versions replayed.
        replayed: u64,
        /// Why no snapshot was used.
        because: NoSnapshot,
    },
}

/// Decodes and normalizes inputs for a [`Pipeline`] on any thread, so that the next input is prepared while the
/// pipeline writes, correlates and commits the one before ([`Pipeline::ingest_prepared`]).
#[derive(Clone)]
pub struct Preparer {
    normalizer: Arc<yujing_feeds::Normalizer>,
}

impl std::fmt::Debug for Preparer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preparer").finish_non_exhaustive()
    }
}

impl Preparer {
    /// The party hasher, keyed with the deployment's secret.
    pub fn hasher(&self) -> &yujing_feeds::pii::PartyHasher {
        self.normalizer.hasher()
    }

    /// `bytes`, an input of `feed` named `file`, decoded and normalized.
    pub fn prepare(&self, feed: FeedId, file: &str, bytes: &[u8]) -> PreparedInput {
        PreparedInput::new(&self.normalizer, feed, file, bytes)
    }
}

fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

impl Pipeline {
    /// Opens the pipeline on `log`: rebuilds the stages from it, then catches up with anything not yet
    /// correlated or turned into work orders.
    pub fn open(log: Arc<dyn Log>, built: Built, clock: Arc<dyn Clock>) -> Result<Pipeline, PipelineError> {
        Ok(Pipeline::open_reporting(log, built, clock)?.0)
    }

    /// [`Pipeline::open`], also returning what catching up did.
    pub fn open_reporting(
        log: Arc<dyn Log>,
        built: Built,
        clock: Arc<dyn Clock>,
    ) -> Result<(Pipeline, StepReport), PipelineError> {
        Pipeline::open_shard(log, built, clock, Shard::WHOLE)
    }

    /// [`Pipeline::open_reporting`] for `shard` of a sharded store, `log` being that shard's: it ingests only
    /// what belongs to the shard ([`Ingestor::for_shard`]) and labels its metrics with it.
    pub fn open_shard(
        log: Arc<dyn Log>,
        built: Built,
        clock: Arc<dyn Clock>,
        shard: Shard,
    ) -> Result<(Pipeline, StepReport), PipelineError> {
        let (correlation, orders, mut last, scanned, restart) = Pipeline::restore(log.as_ref(), &built)?;
        let mut on_log = Vec::new();
        crate::read::for_each_decoded(
            log.as_ref(),
            crate::topics::WARNINGS,
            correlation.rederived_from(),
            |_, w: Warning| on_log.push(w),
        )?;
        if correlation.rederived_warnings() != on_log.as_slice() {
            // Not an error: the rules or weights were changed since these clues were correlated. The log keeps
            // what was raised; new clues are judged by the configuration now in force.
            tracing::warn!(
                on_log = on_log.len(),
                rederived = correlation.rederived_warnings().len(),
                "the history on the log, correlated again with the configuration in force, gives other warnings \
                 than those raised (rules or weights changed?); `yujing replay` shows history under the new rules"
            );
        }
        let metrics = Arc::new(Metrics::for_shard(shard));
        metrics.start_time.set(seconds(clock.now()));
        // When each feed last delivered, from the log (clue keys are `<feed>:<source id>`), after what the
        // snapshot knew.
        crate::read::for_each_entry(log.as_ref(), CLUES, scanned, |entry| {
            let feed = std::str::from_utf8(&entry.record.key)
                .ok()
                .and_then(|key| key.split(':').next())
                .and_then(|feed| feed.parse::<FeedId>().ok());
            if let Some(feed) = feed {
                let at = last.entry(feed).or_insert(entry.record.timestamp_ms);
                *at = (*at).max(entry.record.timestamp_ms);
            }
            Ok(())
        })?;
        for (feed, ms) in &last {
            metrics
                .feed_last_record
                .with_label_values(&[feed.as_str()])
                .set(*ms as f64 / 1000.0);
        }
        let snapshot_at = match &restart {
            Restart::Snapshot { covered, .. } => Some(*covered),
            Restart::Rebuilt { .. } => None,
        };
        let unit = UnitOfWork::new(log.clone(), built.transaction_max_bytes);
        let router = (!shard.is_whole()).then(|| route::Router::new(built.normalizer.hasher(), shard.count));
        let mut pipeline = Pipeline {
            log,
            unit,
            must_restore: None,
            built,
            clock,
            correlation,
            orders,
            metrics,
            shard,
            router,
            feed_last: std::sync::Mutex::new(last),
            snapshot_at,
            snapshot_writer: None,
            arrivals: Vec::new(),
            restart,
        };
        let report = pipeline.advance()?;
        Ok((pipeline, report))
    }

    /// The stages as of the log's end: from the newest valid snapshot and the log after it, or rebuilt from
    /// the whole log when there is none (saying why). Also when each feed last delivered, and from which
    /// `clues` offset the log still has to be scanned for that.
    #[allow(clippy::type_complexity)]
    fn restore(
        log: &dyn Log,
        built: &Built,
    ) -> Result<
        (
            CorrelationStage,
            OrderStage,
            HashMap<FeedId, i64>,
            Offset,
            Restart,
        ),
        PipelineError,
    > {
        let started = Instant::now();
        let restored = snapshot::restore_newest(log, &built.correlate.fingerprint(), |mut loaded| {
            let stage = std::mem::take(&mut loaded.stage);
            let loaded = &loaded;
            // The work orders first, then the correlator, both on this thread: what decoding the orders' JSON
            // leaves freed, the correlator's small allocations take up. Decoded on a second thread (as until
            // stop 36), the orders were off the restart's path (0.08 s of 0.43 s on the dense 60-day store), but
            // that thread's malloc arena kept their decoding's garbage resident: 33 bytes per clue of that store.
            // Decoded after the correlator, 17 bytes more.
            let orders = match loaded.orders() {
                Ok((orders, last)) => {
                    OrderStage::resume(log, built.policy.clone(), orders).map(|stage| Ok((stage, last)))
                }
                Err(reason) => Ok(Err(reason)),
            };
            let resumed = match loaded.correlator() {
                Ok(bytes) => {
                    CorrelationStage::resume(log, &built.correlate, bytes, stage, loaded.positions.warnings)
                }
                Err(reason) => Ok(Err(reason)),
            };
            Ok::<_, PipelineError>(match (resumed?, orders?) {
                (Ok((correlation, tail)), Ok((orders, feed_last))) => {
                    let last: HashMap<FeedId, i64> = feed_last
                        .iter()
                        .filter_map(|(feed, ms)| Some((feed.parse::<FeedId>().ok()?, *ms)))
                        .collect();
                    let restart = Restart::Snapshot {
                        path: loaded.path.clone(),
                        covered: loaded.positions.clues,
                        replayed: tail,
                    };
                    Ok((correlation, orders, last, loaded.positions.clues, restart))
                }
                (Err(reason), _) | (_, Err(reason)) => Err(reason),
            })
        })?;
        let refused = match restored {
            Ok(restored) => {
                if let Restart::Snapshot { path, replayed, .. } = &restored.4 {
                    tracing::info!(
                        snapshot = %path.display(),
                        replayed_clue_versions = replayed,
                        seconds = started.elapsed().as_secs_f64(),
                        "restored the projections from a snapshot and the log after it"
                    );
                }
                return Ok(restored);
            }
            Err(none) => none,
        };
        let (correlation, replayed) = CorrelationStage::open(log, &built.correlate)?;
        let orders = OrderStage::open(log, built.policy.clone())?;
        match &refused {
            NoSnapshot::Refused(reasons) => tracing::warn!(
                refused = reasons.join("; "),
                replayed_clue_versions = replayed,
                seconds = started.elapsed().as_secs_f64(),
                "no usable snapshot: rebuilt the projections from the whole log"
            ),
            NoSnapshot::None if replayed > 0 => tracing::info!(
                replayed_clue_versions = replayed,
                seconds = started.elapsed().as_secs_f64(),
                "no snapshot yet: rebuilt the projections from the whole log"
            ),
            NoSnapshot::None => {}
        }
        let restart = Restart::Rebuilt {
            replayed,
            because: refused,
        };
        Ok((correlation, orders, HashMap::new(), 0, restart))
    }

    /// How the stages were restored when the pipeline opened.
    pub fn restart(&self) -> &Restart {
        &self.restart
    }

    /// Writes a snapshot of the stages beside the log, so the next start replays only what comes after it.
    /// Returns its path. Nothing is written when the stages are behind the log or the work orders must be
    /// reopened; the pipeline is not affected by a failure. Waits for a snapshot being written in the
    /// background first.
    pub fn write_snapshot(&mut self) -> Result<Option<PathBuf>, SnapshotWriteError> {
        self.finish_snapshot();
        let Some(taken) = self.take_snapshot()? else {
            return Ok(None);
        };
        let clues = self.snapshot_at.unwrap_or(0);
        let started = Instant::now();
        let path = taken.write()?;
        tracing::info!(snapshot = %path.display(), clues, seconds = started.elapsed().as_secs_f64(), "snapshot written");
        Ok(Some(path))
    }

    /// Takes a snapshot of the stages (what needs them still: the correlator encoded, the rest copied, the log
    /// anchored) and the log's state checkpoint; `None` when the pipeline is not quiet. What is left to do,
    /// encoding the rest, checksumming and writing, needs neither the stages nor the log.
    fn take_snapshot(&mut self) -> Result<Option<snapshot::Taken>, SnapshotWriteError> {
        let log = self.log.as_ref();
        let positions = Positions::at_end(log)?;
        // Only a quiet pipeline is snapshotted: every clue correlated, every warning and link read.
        let quiet = !self.orders.is_stale()
            && crate::read::caught_up(log, CLUES, self.correlation.consumed())?
            && crate::read::caught_up(log, crate::topics::WARNINGS, self.orders.warnings_read())?
            && crate::read::caught_up(log, crate::topics::LINKS, self.orders.links_read())?;
        if !quiet {
            return Ok(None);
        }
        let mut feed_last: Vec<(String, i64)> = self
            .feed_last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(feed, ms)| (feed.as_str().to_owned(), *ms))
            .collect();
        feed_last.sort();
        let started = Instant::now();
        let taken = snapshot::take(
            log,
            ToWrite {
                positions,
                settings_fingerprint: self.built.correlate.fingerprint(),
                correlator: self
                    .correlation
                    .correlator()
                    .snapshot()
                    .map_err(|e| snapshot::SnapshotWriteError::Encode(e.to_string()))?,
                stage: self.correlation.snapshot(),
                orders: self.orders.snapshot(positions.workorders),
                feed_last,
                now_ms: self.clock.now().timestamp_millis(),
            },
        )?;
        tracing::debug!(
            clues = positions.clues,
            seconds = started.elapsed().as_secs_f64(),
            "snapshot taken"
        );
        // Beside it, what the log keeps in memory (on Kafka the state topic's fold), so the next open reads only
        // the state written after it. Without one the next open reads the whole state topic: slower, not wrong.
        match log.checkpoint_state() {
            Ok(Some(checkpoint)) => {
                tracing::info!(checkpoint = %checkpoint.display(), "state checkpoint written")
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(error = error_chain(&error), "cannot write the state checkpoint"),
        }
        self.snapshot_at = Some(positions.clues);
        Ok(Some(taken))
    }

    /// Waits for the snapshot being written in the background, if any.
    fn finish_snapshot(&mut self) {
        if let Some(writer) = self.snapshot_writer.take() {
            if writer.join().is_err() {
                tracing::error!("the thread writing a snapshot panicked; the next one is written in full");
            }
        }
    }

    /// Writes a snapshot when the stages have correlated `[store] snapshot_every_clues` clue versions since
    /// the last one, on a thread of its own: the step that made it due does not wait for the file (a snapshot
    /// of a million clues is seconds of encoding and writing). `force` (whenever anything was correlated since
    /// the last one; an ingest's end, a stop) writes it before returning. A failure is logged, not returned.
    pub fn snapshot_if_due(&mut self, force: bool) {
        let consumed = self.correlation.consumed();
        let since = consumed - self.snapshot_at.unwrap_or(0).min(consumed);
        let every = self.built.snapshot_every_clues;
        let due = if force {
            since > 0 || (self.snapshot_at.is_none() && consumed > 0)
        } else {
            every > 0 && since >= every
        };
        if !due || self.log.snapshot_dir().is_none() {
            return;
        }
        if force {
            if let Err(error) = self.write_snapshot() {
                tracing::warn!(
                    error = error_chain(&error),
                    "cannot write a snapshot; the next start replays more of the log"
                );
            }
            return;
        }
        // One at a time: while the last is still being written, this one waits for a later step.
        if self.snapshot_writer.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        self.finish_snapshot();
        let taken = match self.take_snapshot() {
            Ok(Some(taken)) => taken,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(
                    error = error_chain(&error),
                    "cannot take a snapshot; the next start replays more of the log"
                );
                return;
            }
        };
        let clues = self.snapshot_at.unwrap_or(0);
        let spawned = std::thread::Builder::new()
            .name("yujing-snapshot".to_owned())
            .spawn(move || {
                let started = Instant::now();
                match taken.write() {
                    Ok(path) => tracing::info!(snapshot = %path.display(), clues,
                        seconds = started.elapsed().as_secs_f64(), "snapshot written"),
                    Err(error) => tracing::warn!(
                        error = error_chain(&error),
                        "cannot write a snapshot; the next start replays more of the log"
                    ),
                }
            });
        match spawned {
            Ok(writer) => self.snapshot_writer = Some(writer),
            Err(error) => tracing::warn!(%error, "cannot start the thread that writes a snapshot"),
        }
    }

    /// Correlates the new clues, then turns the new warnings into work-order events: one step, committed.
    pub fn advance(&mut self) -> Result<StepReport, PipelineError> {
        self.step(Pipeline::advance_stages)
    }

    /// Runs `work` as one step of the pipeline. The stages write through the step's [`UnitOfWork`] and read
    /// their own writes from it; everything is committed as one batch at the end (one Kafka transaction;
    /// earlier, between two stages' batches, only past `[store] transaction_max_bytes`). Once committed, the
    /// latency of the warnings raised is observed and a snapshot is written when due. When the step fails after
    /// the stages changed, nothing more of it reaches the log and the stages are restored from the log before
    /// the next step, so what is in memory never runs ahead of the log (a full disk, a broker away: the next
    /// step after the cause is gone succeeds, without a restart).
    fn step<T>(
        &mut self,
        work: impl FnOnce(&mut Pipeline) -> Result<T, PipelineError>,
    ) -> Result<T, PipelineError> {
        if let Some(reason) = self.must_restore.take() {
            if let Err(error) = self.restore_stages(&reason) {
                self.must_restore = Some(reason);
                return Err(error);
            }
        }
        let started_ms = self.clock.now().timestamp_millis();
        self.arrivals.clear();
        let result = work(self).and_then(|value| {
            let started = Instant::now();
            let committed = self.unit.commit().map_err(PipelineError::Commit)?;
            if committed.records + committed.state_keys > 0 {
                self.metrics.commits.inc();
                self.observe_stage("commit", started);
            }
            Ok(value)
        });
        match result {
            Ok(value) => {
                self.observe_warning_latencies(started_ms);
                self.snapshot_if_due(false);
                Ok(value)
            }
            Err(error) => {
                self.unit.discard();
                self.arrivals.clear();
                if error.may_have_changed_stages() {
                    tracing::warn!(error = %error_chain(&error),
                        "a step failed: what it had not committed is dropped, and the stages are restored from the \
                         log before the next step");
                    self.must_restore = Some(error_chain(&error));
                }
                Err(error)
            }
        }
    }

    /// The latency of each warning the step committed: recognition (the newest report it counted waited on the
    /// log for the step) and processing (the step, its commit included).
    fn observe_warning_latencies(&mut self, started_ms: i64) {
        let done_ms = self.clock.now().timestamp_millis();
        for arrived in std::mem::take(&mut self.arrivals) {
            let recognition = (started_ms - arrived).max(0);
            let processing = (done_ms - started_ms.max(arrived)).max(0);
            self.metrics
                .warning_recognition
                .observe(recognition as f64 / 1000.0);
            self.metrics
                .warning_processing
                .observe(processing as f64 / 1000.0);
            self.metrics
                .warning_latency
                .observe((recognition + processing) as f64 / 1000.0);
        }
    }

    /// The stages rebuilt from the log (a snapshot and the log after it), after a step failed with `reason`.
    fn restore_stages(&mut self, reason: &str) -> Result<(), PipelineError> {
        let started = Instant::now();
        let (correlation, orders, last, _, restart) = Pipeline::restore(self.log.as_ref(), &self.built)?;
        self.correlation = correlation;
        self.orders = orders;
        {
            let mut feed_last = self.feed_last.lock().unwrap_or_else(|e| e.into_inner());
            for (feed, ms) in last {
                let at = feed_last.entry(feed).or_insert(ms);
                *at = (*at).max(ms);
            }
        }
        self.snapshot_at = match &restart {
            Restart::Snapshot { covered, .. } => Some(*covered),
            Restart::Rebuilt { .. } => None,
        };
        self.restart = restart;
        tracing::info!(
            after = reason,
            seconds = started.elapsed().as_secs_f64(),
            "the stages were restored from the log after a failed step"
        );
        Ok(())
    }

    /// Correlation then work orders, written to the step's unit.
    fn advance_stages(&mut self) -> Result<StepReport, PipelineError> {
        let started = Instant::now();
        let correlation = {
            let _span = tracing::info_span!("correlate").entered();
            self.correlation.advance(&self.unit, self.clock.as_ref())?
        };
        if correlation.consumed > 0 {
            self.observe_stage("correlate", started);
        }
        for warning in &correlation.warnings {
            self.metrics
                .warnings_raised
                .with_label_values(&[warning.level.as_str()])
                .inc();
            tracing::info!(warning = %warning.warning_id, level = %warning.level, cluster = %warning.cluster_id,
                town = warning.subject.town_name.as_deref().unwrap_or(&warning.subject.town_code),
                occurrences = warning.occurrences, "warning raised");
        }
        self.arrivals.extend_from_slice(&correlation.arrivals);
        if self.orders.is_stale() {
            self.orders = OrderStage::open(&self.unit, self.built.policy.clone())?;
        }
        let started = Instant::now();
        let order_events = self.orders.advance(&self.unit, self.clock.now())?;
        if !order_events.is_empty() {
            self.observe_stage("orders", started);
        }
        self.count_order_events(&order_events);
        Ok(StepReport {
            warnings: correlation.warnings,
            order_events,
        })
    }

    fn observe_stage(&self, stage: &str, started: Instant) {
        self.metrics
            .stage_duration
            .with_label_values(&[stage])
            .observe(started.elapsed().as_secs_f64());
    }

    fn count_order_events(&self, events: &[WorkOrderEvent]) {
        for event in events {
            self.metrics
                .order_events
                .with_label_values(&[event.change.name()])
                .inc();
            match &event.change {
                OrderChange::Supervised { card, .. } => {
                    self.metrics.cards.with_label_values(&[card_name(*card)]).inc();
                }
                OrderChange::Escalated { automatic, .. } => {
                    let trigger = if *automatic { "automatic" } else { "manual" };
                    self.metrics.escalations.with_label_values(&[trigger]).inc();
                }
                _ => {}
            }
        }
    }

    /// Ingests one input, timed and counted in the metrics; does not advance.
    fn ingest_one(&self, feed: FeedId, file: &str, bytes: &[u8]) -> Result<FileReport, PipelineError> {
        let started = Instant::now();
        let prepared = self.preparer().prepare(feed, file, bytes);
        self.write_prepared(prepared, started, Routing::Keep)
    }

    /// An ingestor over the step's unit of work for this shard, routing what it reads when `routing` says so and
    /// the store is sharded.
    fn ingestor(&self, routing: Routing) -> Ingestor<'_, UnitOfWork> {
        let ingestor =
            Ingestor::new(&self.unit, &self.built.normalizer, self.clock.as_ref()).for_shard(self.shard);
        match (routing, &self.router) {
            (Routing::Route, Some(router)) => ingestor.routing(router.clone()),
            _ => ingestor,
        }
    }

    /// Writes one prepared input (`started`: when its preparation began, for the ingest stage's time); does not
    /// advance.
    fn write_prepared(
        &self,
        input: PreparedInput,
        started: Instant,
        routing: Routing,
    ) -> Result<FileReport, PipelineError> {
        let report = {
            let _span = tracing::info_span!("ingest", feed = %input.feed(), file = input.file()).entered();
            self.ingestor(routing).ingest_prepared(input)?
        };
        self.observe_stage("ingest", started);
        self.count_ingest(&report);
        Ok(report)
    }

    /// A handle that decodes and normalizes inputs for this pipeline on any thread.
    pub fn preparer(&self) -> Preparer {
        Preparer {
            normalizer: self.built.normalizer.clone(),
        }
    }

    fn count_ingest(&self, report: &FileReport) {
        let Some(feed) = report.feed else {
            return;
        };
        let f = feed.as_str();
        self.metrics
            .records_read
            .with_label_values(&[f])
            .inc_by(report.records);
        let new = report.new_clues + report.new_versions;
        self.metrics.clues_ingested.with_label_values(&[f]).inc_by(new);
        self.metrics
            .category_inferred
            .with_label_values(&[f])
            .inc_by(report.category_inferred);
        self.metrics
            .duplicates
            .with_label_values(&[f])
            .inc_by(report.duplicates);
        for (kind, n) in &report.rejected_by_kind {
            self.metrics.rejected.with_label_values(&[f, kind]).inc_by(*n);
        }
        if new > 0 {
            let now = self.clock.now();
            self.feed_last
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(feed, now.timestamp_millis());
            self.metrics
                .feed_last_record
                .with_label_values(&[f])
                .set(seconds(now));
        }
    }

    /// How long a live step gathers upstream records (`[store] commit_interval_ms`).
    pub fn commit_interval(&self) -> std::time::Duration {
        self.built.commit_interval
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Refreshes the gauges that describe the log and the stages (lags, clusters, orders per state and town,
    /// overdue orders, warnings per town), for a scrape.
    pub fn refresh_metrics(&self) -> Result<(), PipelineError> {
        let m = &self.metrics;
        let end = |topic: &str| {
            self.log
                .end_offset(topic)
                .map_err(|e| PipelineError::Read(ReadError::Log(e)))
        };
        for topic in EXPORTED_TOPICS {
            m.log_end.with_label_values(&[topic]).set(end(topic)? as i64);
        }
        let now_ms = self.clock.now().timestamp_millis();
        let mut consumers = vec![
            ("correlate", CLUES, self.correlation.consumed()),
            ("orders", crate::topics::WARNINGS, self.orders.warnings_read()),
        ];
        if !self.shard.is_whole() {
            // What the router handed this shard and it has not ingested yet.
            consumers.push(("route", route::REPARTITION, self.routed_position()?));
        }
        for (consumer, topic, read) in consumers {
            // The oldest record not processed: the first one past the consumer's position (none when it is
            // caught up, even if a Kafka commit marker sits there and the end is one further).
            let waiting = self
                .log
                .read(topic, read, 1)
                .map_err(|e| PipelineError::Read(ReadError::Log(e)))?;
            let behind = if waiting.is_empty() {
                0
            } else {
                end(topic)?.saturating_sub(read)
            };
            m.lag.with_label_values(&[consumer]).set(behind as i64);
            let seconds = waiting.first().map_or(0.0, |entry| {
                (now_ms - entry.record.timestamp_ms).max(0) as f64 / 1000.0
            });
            m.lag_seconds.with_label_values(&[consumer]).set(seconds);
        }
        let stats = self.correlation.correlator().stats();
        m.clusters.set(stats.clusters as i64);
        m.clues_correlated.set(stats.clues as i64);
        m.reset_order_gauges();
        let now = self.clock.now();
        let town_of = |code: &str, name: Option<&str>| name.unwrap_or(code).to_owned();
        for order in self.orders.orders() {
            let town = town_of(&order.subject.town_code, order.subject.town_name.as_deref());
            // Every state and deadline of a town with orders is present, at zero when none.
            // Every state, even one no order is in, so the series exist from the start.
            for status in yujing_model::OrderStatus::ALL {
                m.orders.with_label_values(&[status.as_str(), &town]);
            }
            for deadline in ["accept", "handle"] {
                m.overdue.with_label_values(&[deadline, &town]);
            }
            m.orders.with_label_values(&[order.status.as_str(), &town]).inc();
            let open = !order.status.is_final() && order.status != OrderStatus::Parked;
            if open && order.status == OrderStatus::Dispatched && order.accept_by.is_some_and(|d| now > d) {
                m.overdue.with_label_values(&["accept", &town]).inc();
            }
            let handling = matches!(
                order.status,
                OrderStatus::Dispatched | OrderStatus::Accepted | OrderStatus::InProgress
            );
            if handling && order.handle_by.is_some_and(|d| now > d) {
                m.overdue.with_label_values(&["handle", &town]).inc();
            }
        }
        for warning in self.orders.warnings() {
            let town = town_of(&warning.subject.town_code, warning.subject.town_name.as_deref());
            m.warnings
                .with_label_values(&[warning.level.as_str(), &town])
                .inc();
        }
        Ok(())
    }

    /// Ingests one input of `feed` named `file` (an export file, or an HTTP body), then advances: one step.
    pub fn ingest_bytes(
        &mut self,
        feed: FeedId,
        file: &str,
        bytes: &[u8],
    ) -> Result<(FileReport, StepReport), PipelineError> {
        self.step(|pipeline| {
            let report = pipeline.ingest_one(feed, file, bytes)?;
            Ok((report, pipeline.advance_stages()?))
        })
    }

    /// Ingests inputs that arrived together (`(feed, name, bytes)`: say one interval's records of several
    /// feeds), then advances: one step, one commit for all of them.
    pub fn ingest_inputs(
        &mut self,
        inputs: &[(FeedId, &str, &[u8])],
    ) -> Result<(Vec<FileReport>, StepReport), PipelineError> {
        self.step(|pipeline| {
            let mut reports = Vec::with_capacity(inputs.len());
            for (feed, name, bytes) in inputs {
                reports.push(pipeline.ingest_one(*feed, name, bytes)?);
            }
            Ok((reports, pipeline.advance_stages()?))
        })
    }

    /// Ingests inputs decoded and normalized beforehand by this pipeline's [`Preparer`] (on another thread,
    /// while the pipeline was busy), then advances: one step, one commit for all of them. On a shard of a
    /// sharded store they are routed to the shards that keep their records ([`crate::route`]).
    pub fn ingest_prepared(
        &mut self,
        inputs: Vec<PreparedInput>,
    ) -> Result<(Vec<FileReport>, StepReport), PipelineError> {
        self.step(|pipeline| {
            let mut reports = Vec::with_capacity(inputs.len());
            for input in inputs {
                reports.push(pipeline.write_prepared(input, Instant::now(), Routing::Route)?);
            }
            Ok((reports, pipeline.advance_stages()?))
        })
    }

    /// Ingests the export files under `paths` (already-logged files change nothing), then advances: one step,
    /// committed in transactions of `[store] transaction_max_bytes`. On a shard of a sharded store the files are
    /// routed: decoded here once, each record handed to its shard ([`crate::route`]).
    pub fn ingest_paths(&mut self, paths: &[PathBuf]) -> Result<(IngestReport, StepReport), PipelineError> {
        self.step(|pipeline| {
            let started = Instant::now();
            // Decoding and normalizing on this thread, writing on a second (`on_two_threads`): the same log.
            let report =
                pipeline
                    .ingestor(Routing::Route)
                    .on_two_threads()
                    .ingest_paths(paths, None, &mut |_| {})?;
            if !report.files.is_empty() {
                pipeline.observe_stage("ingest", started);
            }
            for file in &report.files {
                pipeline.count_ingest(file);
            }
            Ok((report, pipeline.advance_stages()?))
        })
    }

    /// Ingests a batch of messages of the upstream topic of `source` (see [`crate::sources`]), records where
    /// the source now stands, then advances: one step, so the records, what they caused and the source's new
    /// position are committed together.
    pub fn ingest_messages(
        &mut self,
        source: &SourceConfig,
        messages: &[SourceMessage],
    ) -> Result<(FileReport, StepReport), PipelineError> {
        let mut positions = self.source_positions(source)?;
        let inputs = sources::inputs_of(source, messages, &mut positions);
        let preparer = self.preparer();
        let prepared = inputs
            .iter()
            .map(|(name, bytes)| preparer.prepare(source.feed, name, bytes))
            .collect();
        self.ingest_source_batch(source, prepared, &positions)
    }

    /// [`Pipeline::ingest_messages`] for messages already turned into inputs ([`sources::inputs_of`]) and
    /// prepared by this pipeline's [`Preparer`] off its thread; `positions` is where the source stands after
    /// them. On a shard of a sharded store they are routed to their shards ([`crate::route`]), in the same
    /// transaction as the source's new position.
    pub fn ingest_source_batch(
        &mut self,
        source: &SourceConfig,
        inputs: Vec<PreparedInput>,
        positions: &HashMap<i32, i64>,
    ) -> Result<(FileReport, StepReport), PipelineError> {
        self.step(|pipeline| {
            let mut total = FileReport {
                feed: Some(source.feed),
                ..FileReport::default()
            };
            for input in inputs {
                let report = pipeline.write_prepared(input, Instant::now(), Routing::Route)?;
                total.add(&report);
            }
            sources::record_positions(&pipeline.unit, &pipeline.source_position_name(source), positions)?;
            Ok((total, pipeline.advance_stages()?))
        })
    }

    /// Where `source` stands: the next offset to read per partition of its topic.
    pub fn source_positions(&self, source: &SourceConfig) -> Result<HashMap<i32, i64>, PipelineError> {
        Ok(sources::positions(
            self.log.as_ref(),
            &self.source_position_name(source),
        )?)
    }

    /// The name `source`'s position is kept under. A shard of a sharded store routes what it reads, and keeps
    /// that position apart from the one it had when every shard read every input: those positions differed
    /// between shards, so the router starts once from the beginning (the ingest adds nothing for what a shard
    /// already has) rather than skip what another shard had not read yet.
    fn source_position_name(&self, source: &SourceConfig) -> String {
        if self.shard.is_whole() {
            source.name.clone()
        } else {
            format!("routed/{}", source.name)
        }
    }

    /// Ingests up to `max` messages routed to this shard ([`crate::route`]) from where it stands in its partition
    /// of the repartition topic, records the position after them, then advances: one step, so what they brought,
    /// what it caused and the position are committed together. `None` when nothing waits (or the store is not
    /// sharded).
    pub fn ingest_routed(&mut self, max: usize) -> Result<Option<(FileReport, StepReport)>, PipelineError> {
        let Some(router) = self.router.clone() else {
            return Ok(None);
        };
        let from = self.routed_position()?;
        let entries = self
            .log
            .read(route::REPARTITION, from, max)
            .map_err(ReadError::from)?;
        let Some(last) = entries.last().map(|e| e.offset) else {
            return Ok(None);
        };
        let mut inputs = Vec::with_capacity(entries.len());
        for entry in &entries {
            let input = router
                .open(self.shard.index, &entry.record.value)
                .map_err(|source| PipelineError::Routed {
                    offset: entry.offset,
                    source,
                })?;
            inputs.push(input);
        }
        let done = self.step(|pipeline| {
            let mut total = FileReport::default();
            for input in inputs {
                let report = pipeline.write_prepared(input, Instant::now(), Routing::Keep)?;
                if total.feed.is_none() {
                    total.feed = report.feed;
                }
                total.add(&report);
            }
            let mut position = Batch::new();
            position.put_state(route::POSITION_KEY, (last + 1).to_be_bytes().to_vec());
            pipeline.unit.write(position).map_err(PipelineError::Commit)?;
            Ok((total, pipeline.advance_stages()?))
        })?;
        Ok(Some(done))
    }

    /// The next offset this shard reads in its partition of the repartition topic: after the last routed
    /// message it ingested, and never below what is still kept.
    fn routed_position(&self) -> Result<Offset, PipelineError> {
        let recorded = self
            .log
            .state(route::POSITION_KEY)
            .map_err(ReadError::from)?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        let kept_from = self
            .log
            .start_offset(route::REPARTITION)
            .map_err(ReadError::from)?;
        Ok(recorded.max(kept_from))
    }

    /// Deletes the routed messages this shard has ingested from its partition of the repartition topic: their
    /// sealed copies of raw units live on the broker only until the shard logged them (as Kafka Streams purges
    /// a repartition topic). Runs on the log itself, beside the steps.
    pub fn purge_routed(&self) -> Result<(), PipelineError> {
        if self.shard.is_whole() {
            return Ok(());
        }
        let position = self.routed_position()?;
        self.log
            .delete_before(route::REPARTITION, position)
            .map_err(PipelineError::Expire)?;
        Ok(())
    }

    /// Carries out an operator's command on a work order: one step.
    pub fn command(
        &mut self,
        order_id: &str,
        command: &Command,
        actor: &Actor,
        reason: Option<&str>,
    ) -> Result<Vec<WorkOrderEvent>, PipelineError> {
        // An operator's words go on the log and out to every subscriber: a phone or ID number typed into a
        // reason or a summary is redacted like one in a report.
        let command = redacted(command);
        let reason = reason.map(yujing_feeds::pii::redact);
        self.step(|pipeline| {
            let now = pipeline.clock.now();
            Ok(pipeline
                .orders
                .execute(&pipeline.unit, order_id, &command, actor, reason.as_deref(), now)?)
        })
    }

    /// Supervision at the clock's now: one step.
    /// Then deletes the raw units past their retention ([`Pipeline::expire_raw`]); a failure there is logged and
    /// tried again at the next supervision, and does not undo the supervision's events.
    pub fn supervise(&mut self) -> Result<Vec<WorkOrderEvent>, PipelineError> {
        let events = self.step(|pipeline| {
            let now = pipeline.clock.now();
            let started = Instant::now();
            let events = pipeline.orders.supervise(&pipeline.unit, now)?;
            pipeline.observe_stage("supervise", started);
            pipeline.count_order_events(&events);
            Ok(events)
        })?;
        if let Err(error) = self.expire_raw() {
            tracing::warn!(error = %error_chain(&error), "raw units past their retention were not all deleted");
        }
        if let Err(error) = self.purge_routed() {
            tracing::warn!(error = %error_chain(&error), "routed messages already ingested were not deleted");
        }
        Ok(events)
    }

    /// Deletes the raw units logged more than `[store] raw_retention_days` ago (nothing when it is 0); see
    /// [`crate::retention`]. Runs on the log itself, beside the steps: no projection reads raw units.
    pub fn expire_raw(&self) -> Result<Vec<crate::retention::Expired>, PipelineError> {
        let Some(retention) = self.built.raw_retention else {
            return Ok(Vec::new());
        };
        crate::retention::expire_raw(self.log.as_ref(), retention, self.clock.now())
            .map_err(PipelineError::Expire)
    }

    /// The work orders and warnings.
    pub fn orders(&self) -> &OrderStage {
        &self.orders
    }

    /// A warning by id with its evidence, read back from the log (the stage keeps its summary).
    pub fn warning(&self, warning_id: &str) -> Result<Option<Warning>, PipelineError> {
        Ok(self.orders.warning(self.log.as_ref(), warning_id)?)
    }

    /// The warnings `summaries` describe, with their evidence, read back from the log, in the order given.
    pub fn warnings_in_full<'a>(
        &self,
        summaries: impl IntoIterator<Item = &'a WarningSummary>,
    ) -> Result<Vec<Warning>, PipelineError> {
        Ok(crate::orders::read_warnings(self.log.as_ref(), summaries)?)
    }

    /// An order's events, in order (its audit trail), read back from the log; empty for an unknown order.
    pub fn history(&self, order_id: &str) -> Result<Vec<WorkOrderEvent>, PipelineError> {
        Ok(self.orders.history(self.log.as_ref(), order_id)?)
    }

    /// The correlator, for cluster queries.
    pub fn correlator(&self) -> &Correlator {
        self.correlation.correlator()
    }

    /// The correlator, mutably (for queries that compress its cluster sets).
    pub fn correlator_mut(&mut self) -> &mut Correlator {
        self.correlation.correlator_mut()
    }

    /// The latest version of each of `clue_ids` consumed so far, as logged (masked and redacted), in the order
    /// given; ids not consumed are left out.
    pub fn clues(&self, clue_ids: &[String]) -> Result<Vec<Clue>, PipelineError> {
        let mut clues = Vec::with_capacity(clue_ids.len());
        for id in clue_ids {
            let Some(offset) = self.correlation.latest_offset(id) else {
                continue;
            };
            let entries = self.log.read(CLUES, offset, 1).map_err(ReadError::Log)?;
            for entry in entries {
                let clue: Clue =
                    serde_json::from_slice(&entry.record.value).map_err(|e| ReadError::Decode {
                        topic: CLUES.to_owned(),
                        offset: entry.offset,
                        reason: e.to_string(),
                    })?;
                clues.push(clue);
            }
        }
        Ok(clues)
    }

    /// The offset the next command-centre feed entry will get.
    pub fn outbox_end(&self) -> Result<Offset, PipelineError> {
        self.log
            .end_offset(OUTBOX)
            .map_err(|e| PipelineError::Read(ReadError::Log(e)))
    }

    /// The log.
    pub fn log(&self) -> &Arc<dyn Log> {
        &self.log
    }

    /// The shard of the store this pipeline runs ([`Shard::WHOLE`] unless the store is sharded).
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The county's towns, as the configured divisions file lists them.
    pub fn towns(&self) -> &[yujing_feeds::gazetteer::Town] {
        self.built.normalizer.gazetteer().towns()
    }

    /// The county's outline (`[gazetteer] outline`).
    pub fn outline(&self) -> &Arc<yujing_feeds::CountyOutline> {
        &self.built.outline
    }
}

/// An error and its causes, `: `-joined: the cause is where a full disk or a corrupt record shows.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// `command` with its free text redacted (see [`yujing_feeds::pii::redact`]).
fn redacted(command: &Command) -> Command {
    use yujing_feeds::pii::redact;
    match command {
        Command::Resolve { summary } => Command::Resolve {
            summary: redact(summary),
        },
        Command::Dispatch { unit } => Command::Dispatch {
            unit: unit.as_deref().map(redact),
        },
        other => other.clone(),
    }
}
