//! The correlation stage: the `clues` topic through the [`Correlator`] onto the `links` and `warnings` topics.
//!
//! The correlator's state is a projection of the log. The stage records in the store how far into `clues` it
//! has consumed (and in which order it consumed them), in the same atomic batch as the events it wrote; on the
//! next run it rebuilds the correlator by observing the consumed clues again (writing nothing), then carries on
//! with the new ones. So a crash at any moment resumes with nothing lost and nothing applied twice, and the same
//! log always gives the same clusters and warnings.

use yujing_correlate::{Correlator, Output, Settings};
use yujing_log::{Batch, Log, LogError, Offset, Record};
use yujing_model::{Clue, CorrelationEvent, Warning};

use crate::clock::Clock;
use crate::read::{for_each_entry, ReadError};
use crate::topics::{CLUES, LINKS, WARNINGS};

const CONSUMED_KEY: &[u8] = b"correlate/clues_consumed";
const EVENT_TIME_UPTO_KEY: &[u8] = b"correlate/event_time_upto";

/// Clues per atomic batch of correlation events.
const BATCH_CLUES: usize = 1000;

/// The order in which the stage consumes clues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Log order: the order clues were ingested (live operation).
    Log,
    /// Event-time order (`occurred_at`, then clue id, then version): a replay of history, where a late
    /// screening ledger lands where it happened.
    EventTime,
}


/// A failure of the correlation stage.
#[derive(Debug, thiserror::Error)]
pub enum CorrelateError {
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Writing the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// An event could not be encoded (a bug).
    #[error("encoding a correlation event: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What a run of the stage did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorrelationReport {
    /// Clue versions read from the log that were already consumed (replayed into state, no output).
    pub rebuilt: u64,
    /// Clue versions consumed in this run.
    pub consumed: u64,
    /// Links written.
    pub links: u64,
    /// Merges written.
    pub merges: u64,
    /// Warnings raised in this run, in the order raised.
    pub warnings: Vec<Warning>,
}

fn read_clues<L: Log>(log: &L, from: Offset, to: Offset) -> Result<Vec<(Offset, Clue)>, ReadError> {
    let mut clues = Vec::new();
    for_each_entry(log, CLUES, from, |entry| {
        if entry.offset >= to {
            return Ok(());
        }
        let clue: Clue = serde_json::from_slice(&entry.record.value).map_err(|e| ReadError::Decode {
            topic: CLUES.to_owned(),
            offset: entry.offset,
            reason: e.to_string(),
        })?;
        clues.push((entry.offset, clue));
        Ok(())
    })?;
    Ok(clues)
}

fn sort_by_event_time(clues: &mut [(Offset, Clue)]) {
    clues.sort_by(|a, b| {
        a.1.occurred_at
            .cmp(&b.1.occurred_at)
            .then_with(|| a.1.clue_id.cmp(&b.1.clue_id))
            .then_with(|| a.1.version.cmp(&b.1.version))
    });
}

/// Bring the correlation projection up to date with the `clues` topic.
///
/// `order` applies to the clues not consumed yet. [`Order::EventTime`] is honoured only on a store whose
/// `clues` nothing has consumed yet (a replay into a fresh store); later runs consume in log order. The store
/// records how far the event-time run went, so a rebuild observes the clues in exactly the order they were
/// first consumed. Returns the correlator (its state after every clue) and what this run did.
pub fn correlate<L: Log>(
    log: &L,
    settings: &Settings,
    clock: &dyn Clock,
    order: Order,
) -> Result<(Correlator, CorrelationReport), CorrelateError> {
    let mut correlator = Correlator::new(settings.clone());
    let mut report = CorrelationReport::default();
    let read_offset = |key: &[u8]| -> Result<Offset, LogError> {
        Ok(log
            .state(key)?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    };
    let consumed = read_offset(CONSUMED_KEY)?;
    let event_time_upto = read_offset(EVENT_TIME_UPTO_KEY)?;

    // Rebuild: the event-time segment sorted as it was consumed, then the rest in log order.
    let mut done = read_clues(log, 0, consumed)?;
    let split = done.partition_point(|(offset, _)| *offset < event_time_upto);
    sort_by_event_time(&mut done[..split]);
    for (_, clue) in &done {
        correlator.observe(clue);
    }
    report.rebuilt = done.len() as u64;
    drop(done);

    let end = log.end_offset(CLUES)?;
    let mut fresh = read_clues(log, consumed, end)?;
    let event_time = order == Order::EventTime && consumed == 0;
    if event_time {
        sort_by_event_time(&mut fresh);
    }
    // In event-time order the consumed offset can only be recorded once every clue of the run is observed, so
    // the run is one atomic batch; in log order each chunk records how far it got.
    let chunk_size = if event_time { fresh.len().max(1) } else { BATCH_CLUES };
    let now = clock.now().timestamp_millis();
    for chunk in fresh.chunks(chunk_size) {
        let mut batch = Batch::new();
        for (_, clue) in chunk {
            for output in correlator.observe(clue) {
                append_output(&mut batch, output, now, &mut report)?;
            }
            report.consumed += 1;
        }
        let upto = if event_time {
            batch.put_state(EVENT_TIME_UPTO_KEY, end.to_be_bytes().to_vec());
            end
        } else {
            chunk.last().map(|(o, _)| o + 1).unwrap_or(consumed)
        };
        batch.put_state(CONSUMED_KEY, upto.to_be_bytes().to_vec());
        log.write(batch)?;
    }
    Ok((correlator, report))
}

fn append_output(
    batch: &mut Batch,
    output: Output,
    now: i64,
    report: &mut CorrelationReport,
) -> Result<(), CorrelateError> {
    match output {
        Output::Event(event) => {
            let key = match &event {
                CorrelationEvent::Linked { cluster_id, .. } => {
                    report.links += 1;
                    cluster_id.clone()
                }
                CorrelationEvent::Merged { cluster_id, .. } => {
                    report.merges += 1;
                    cluster_id.clone()
                }
            };
            batch.append(
                LINKS,
                Record {
                    key: key.into_bytes(),
                    value: serde_json::to_vec(&event)?,
                    timestamp_ms: now,
                },
            );
        }
        Output::Warning(warning) => {
            batch.append(
                WARNINGS,
                Record {
                    key: warning.warning_id.clone().into_bytes(),
                    value: serde_json::to_vec(&warning)?,
                    timestamp_ms: now,
                },
            );
            report.warnings.push(*warning);
        }
    }
    Ok(())
}
