//! The correlation stage: the `clues` topic through the [`Correlator`] onto the `links` and `warnings` topics.
//!
//! The correlator's state is a projection of the log. The stage records in the store how far into `clues` it
//! has consumed, in the same atomic batch as the events it wrote; on the next run it rebuilds the correlator by
//! observing the consumed clues again in the same order (writing nothing), then carries on with the new ones. So a crash at any moment resumes with nothing lost and nothing applied twice, and the same
//! log always gives the same clusters and warnings.

use yujing_correlate::{Correlator, Settings};
use yujing_log::{Batch, Log, LogError, Offset, Record};
use yujing_model::{Clue, CorrelationEvent, Warning};

use crate::clock::Clock;
use crate::read::{for_each_entry, ReadError};
use crate::topics::{CLUES, LINKS, WARNINGS};

/// The ends (exclusive `clues` offsets) of the segments consumed so far, as a JSON array.
const SEGMENTS_KEY: &[u8] = b"correlate/segments";

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
/// The clues not consumed yet form one *segment*, correlated in event-time order (a late screening ledger lands
/// where it happened) and written as one atomic batch together with the segment's end. A rebuild observes each
/// recorded segment in the same order, so the correlator comes back exactly as it was. A replay into a fresh
/// store is one segment: the whole history in event-time order. Returns the correlator (its state after every
/// clue) and what this run did.
pub fn correlate<L: Log>(
    log: &L,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(Correlator, CorrelationReport), CorrelateError> {
    let mut correlator = Correlator::new(settings.clone());
    let mut report = CorrelationReport::default();
    let mut segments: Vec<Offset> = match log.state(SEGMENTS_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes)?,
        None => Vec::new(),
    };
    let consumed = segments.last().copied().unwrap_or(0);

    // Rebuild, segment by segment, writing nothing.
    let mut done = read_clues(log, 0, consumed)?;
    let mut from = 0;
    for &end in &segments {
        // Offsets of earlier segments are all below `end`, sorted or not: the partition holds.
        let to = done.partition_point(|(offset, _)| *offset < end);
        sort_by_event_time(&mut done[from..to]);
        for (_, clue) in &done[from..to] {
            correlator.observe(clue);
        }
        correlator.reconsider();
        correlator.flush();
        from = to;
    }
    report.rebuilt = done.len() as u64;
    drop(done);

    let end = log.end_offset(CLUES)?;
    if end <= consumed {
        return Ok((correlator, report));
    }
    let mut fresh = read_clues(log, consumed, end)?;
    sort_by_event_time(&mut fresh);
    let now = clock.now().timestamp_millis();
    let mut batch = Batch::new();
    for (_, clue) in &fresh {
        for event in correlator.observe(clue) {
            append_event(&mut batch, event, now, &mut report)?;
        }
        report.consumed += 1;
    }
    for event in correlator.reconsider() {
        append_event(&mut batch, event, now, &mut report)?;
    }
    for warning in correlator.flush() {
        batch.append(
            WARNINGS,
            Record {
                key: warning.warning_id.clone().into_bytes(),
                value: serde_json::to_vec(&warning)?,
                timestamp_ms: now,
            },
        );
        report.warnings.push(warning);
    }
    segments.push(end);
    batch.put_state(SEGMENTS_KEY, serde_json::to_vec(&segments)?);
    log.write(batch)?;
    Ok((correlator, report))
}

fn append_event(
    batch: &mut Batch,
    event: CorrelationEvent,
    now: i64,
    report: &mut CorrelationReport,
) -> Result<(), CorrelateError> {
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
    Ok(())
}

/// Every clue version on the log, in event-time order (as a replay correlates them).
pub fn clues_in_event_time<L: Log>(log: &L) -> Result<Vec<Clue>, CorrelateError> {
    let end = log.end_offset(CLUES)?;
    let mut clues = read_clues(log, 0, end)?;
    sort_by_event_time(&mut clues);
    Ok(clues.into_iter().map(|(_, clue)| clue).collect())
}
