//! The pipeline as one long-lived value: ingestion, correlation and work orders over one log, for `yujing run`
//! and for the HTTP server. Every step writes the log first; the stages in memory follow it.

use std::path::PathBuf;
use std::sync::Arc;

use yujing_correlate::Correlator;
use yujing_log::{Log, Offset};
use yujing_model::{Actor, Clue, FeedId, Warning, WorkOrderEvent};
use yujing_workorder::Command;

use crate::clock::Clock;
use crate::config::Built;
use crate::correlate::{CorrelateError, CorrelationStage};
use crate::ingest::{FileReport, IngestError, IngestReport, Ingestor};
use crate::orders::{OrderError, OrderStage};
use crate::read::ReadError;
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
    built: Built,
    clock: Arc<dyn Clock>,
    correlation: CorrelationStage,
    orders: OrderStage,
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
        let (correlation, _) = CorrelationStage::open(log.as_ref(), &built.correlate)?;
        let mut on_log = Vec::new();
        crate::read::for_each_warning(log.as_ref(), |w| on_log.push(w))?;
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
        let orders = OrderStage::open(log.as_ref(), built.policy.clone())?;
        let mut pipeline = Pipeline {
            log,
            built,
            clock,
            correlation,
            orders,
        };
        let report = pipeline.advance()?;
        Ok((pipeline, report))
    }

    /// Correlates the new clues, then turns the new warnings into work-order events.
    pub fn advance(&mut self) -> Result<StepReport, PipelineError> {
        let correlation = self.correlation.advance(self.log.as_ref(), self.clock.as_ref())?;
        if self.orders.is_stale() {
            self.orders = OrderStage::open(self.log.as_ref(), self.built.policy.clone())?;
        }
        let order_events = self.orders.advance(self.log.as_ref(), self.clock.now())?;
        Ok(StepReport {
            warnings: correlation.warnings,
            order_events,
        })
    }

    /// Ingests one input of `feed` named `file` (an export file, or an HTTP body), then advances.
    pub fn ingest_bytes(
        &mut self,
        feed: FeedId,
        file: &str,
        bytes: &[u8],
    ) -> Result<(FileReport, StepReport), PipelineError> {
        let report = Ingestor::new(self.log.as_ref(), &self.built.normalizer, self.clock.as_ref())
            .ingest_bytes(feed, file, bytes)?;
        Ok((report, self.advance()?))
    }

    /// Ingests the export files under `paths` (already-logged files change nothing), then advances.
    pub fn ingest_paths(&mut self, paths: &[PathBuf]) -> Result<(IngestReport, StepReport), PipelineError> {
        let report = Ingestor::new(self.log.as_ref(), &self.built.normalizer, self.clock.as_ref())
            .ingest_paths(paths, None, &mut |_| {})?;
        Ok((report, self.advance()?))
    }

    /// Carries out an operator's command on a work order.
    pub fn command(
        &mut self,
        order_id: &str,
        command: &Command,
        actor: &Actor,
        reason: Option<&str>,
    ) -> Result<Vec<WorkOrderEvent>, PipelineError> {
        let now = self.clock.now();
        Ok(self
            .orders
            .execute(self.log.as_ref(), order_id, command, actor, reason, now)?)
    }

    /// Supervision at the clock's now.
    pub fn supervise(&mut self) -> Result<Vec<WorkOrderEvent>, PipelineError> {
        let now = self.clock.now();
        Ok(self.orders.supervise(self.log.as_ref(), now)?)
    }

    /// The work orders and warnings.
    pub fn orders(&self) -> &OrderStage {
        &self.orders
    }

    /// The correlator, for cluster queries.
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

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
